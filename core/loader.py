"""Loading images into the machine: ELF files (through pyelftools) and raw binaries.

ELF segments are placed at their physical addresses (p_paddr), as QEMU's
``-kernel`` does for an ELF; every check that can fail says so in one line.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

EM_ARM = 40


class ImageError(Exception):
    """The image cannot be loaded; the message is one line for the user."""


@dataclass
class Image:
    """What a loaded image puts in memory and where it starts."""

    path: str
    entry: int
    thumb: bool
    segments: List[Tuple[int, bytes]]  # (physical address, bytes incl. zero fill)
    symbols: Dict[str, int] = field(default_factory=dict)
    is_elf: bool = True
    registers: Dict[int, int] = field(default_factory=dict)  # set at every reset (Linux: r0-r2)

    def symbol_at(self, addr: int) -> Optional[str]:
        """Name of the symbol at ``addr`` exactly, if any."""
        for name, value in self.symbols.items():
            if value & ~1 == addr:
                return name
        return None


def load_elf(path: str) -> Image:
    """Parse an ARM ELF executable; raise ImageError with a one-line reason on any problem."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ImageError(f"{path}: cannot read: {e.strerror or e}") from None
    if data[:4] != b"\x7fELF":
        raise ImageError(f"{path}: not an ELF file")
    if len(data) >= 0x34 and data[4] == 1 and data[5] == 1:
        # ELF32 little-endian: the program headers must lie inside the file
        phoff = int.from_bytes(data[0x1C:0x20], "little")
        phentsize = int.from_bytes(data[0x2A:0x2C], "little")
        phnum = int.from_bytes(data[0x2C:0x2E], "little")
        if phoff + phentsize * phnum > len(data):
            raise ImageError(f"{path}: truncated ELF (program headers end at byte "
                             f"{phoff + phentsize * phnum}, the file has {len(data)})")
    elif len(data) < 0x34:
        raise ImageError(f"{path}: truncated ELF ({len(data)} bytes, shorter than an ELF header)")
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf.elfclass != 32 or elf["e_machine"] not in ("EM_ARM", EM_ARM):
            raise ImageError(f"{path}: not a 32-bit ARM ELF (machine {elf['e_machine']}, "
                             f"{elf.elfclass}-bit)")
        if not elf.little_endian:
            raise ImageError(f"{path}: big-endian images are not supported")
        segments: List[Tuple[int, bytes]] = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            off, filesz, memsz = seg["p_offset"], seg["p_filesz"], seg["p_memsz"]
            if off + filesz > len(data):
                raise ImageError(f"{path}: truncated (segment at {seg['p_paddr']:#x} "
                                 f"ends past the end of the file)")
            segments.append((seg["p_paddr"], data[off:off + filesz] + bytes(memsz - filesz)))
        if not segments:
            raise ImageError(f"{path}: no loadable segments")
        symbols: Dict[str, int] = {}
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            for sym in symtab.iter_symbols():
                if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_NOTYPE", "STT_OBJECT") \
                        and sym["st_shndx"] != "SHN_UNDEF" and not sym.name.startswith("$"):
                    symbols.setdefault(sym.name, sym["st_value"])
        entry = elf["e_entry"]
    except ImageError:
        raise
    except (ELFError, ValueError, KeyError, TypeError, AssertionError, IndexError) as e:
        raise ImageError(f"{path}: malformed ELF ({e})") from None
    except Exception as e:  # pyelftools raises assorted errors on garbage input
        raise ImageError(f"{path}: malformed ELF ({type(e).__name__}: {e})") from None
    return Image(path, entry & ~1, bool(entry & 1), segments, symbols)


def load_raw(path: str, addr: int, entry: Optional[int] = None) -> Image:
    """A raw binary placed at ``addr`` (entered at ``entry``, default ``addr``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ImageError(f"{path}: cannot read: {e.strerror or e}") from None
    if not data:
        raise ImageError(f"{path}: empty image")
    start = addr if entry is None else entry
    return Image(path, start & ~1, bool(start & 1), [(addr, data)], is_elf=False)


def load_image(path: str, addr: Optional[int] = None) -> Image:
    """An ELF by its contents, anything else as a raw binary at ``addr``."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ImageError(f"{path}: cannot read: {e.strerror or e}") from None
    if magic == b"\x7fELF":
        return load_elf(path)
    if addr is None:
        raise ImageError(f"{path}: not an ELF file; give a load address for a raw binary")
    return load_raw(path, addr)
