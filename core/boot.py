"""Boot planning with QEMU's meanings of -kernel, -initrd, -append, -dtb, -m and
``-device guest-loader`` on ``-M virt`` (QEMU 7.2, hw/arm/boot.c and
hw/core/guest-loader.c).

A plan says what to put where in RAM and how the CPU starts; the machine does
the rest (see ``BootPlan``). The rules, all QEMU 7.2's:

- An ELF is loaded by its program headers and entered at its entry point with
  nothing in the registers. The device tree goes to the start of RAM if the
  image leaves room below itself (QEMU: only if the blob fits below the image),
  otherwise QEMU puts it in flash at address 0, which hypdbg does not have.
  An initrd is not loaded for an ELF.
- Anything else is a Linux image (QEMU assumes raw images are kernels): it is
  loaded at RAM + 0x10000 and entered with r0 = 0, r1 = 0xFFFFFFFF (virt has no
  machine number), r2 = the device tree's address, MMU off, in Hyp mode (the ARM
  Linux boot protocol, Documentation/arm/booting.rst). QEMU runs a four-word stub
  at RAM + 0 that loads those registers; the plan sets them directly.
- The initrd goes at RAM + min(RAM / 2, 128 MiB), or past the kernel's end if
  that is higher, aligned up to a 4 KiB page.
- The device tree goes after the initrd, aligned up to 4 KiB.
- A guest-loader blob is loaded raw at its ``addr`` and described by a
  /chosen/module@ node. QEMU drops those nodes when ``-dtb`` names a file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import dtb as dtbmod
from .loader import Image, ImageError, load_elf

RAM_BASE = 0x40000000
KERNEL_OFFSET = 0x10000            # KERNEL_LOAD_ADDR: the zImage's place above the RAM base
INITRD_MAX_OFFSET = 128 << 20      # initrd at RAM / 2, at most 128 MiB in
PAGE = 4096                        # TARGET_PAGE_ALIGN for a Cortex-A15 (4 KiB pages)
DTB_ALIGN = 4096                   # "some 32bit kernels trash the 4K page the initrd ends in"
VIRT_FDT_SIZE = 1 << 20            # virt's own blob is 1 MiB (free space included)
BOARD_ID_NONE = 0xFFFFFFFF         # virt's board_id: -1, "no machine number"
ZIMAGE_MAGIC = 0x016F2818          # at offset 0x24 of an ARM zImage
ZIMAGE_MAGIC_OFFSET = 0x24
UIMAGE_MAGIC = 0x27051956          # U-Boot legacy header, big-endian at offset 0
GUEST_LOADER_KEYS = ("addr", "kernel", "initrd", "bootargs")


class BootError(ValueError):
    """The boot cannot be planned; the message is one line for the user."""


@dataclass(frozen=True)
class GuestLoader:
    """One ``-device guest-loader,...``: a blob loaded raw at ``addr``."""

    addr: int
    path: str
    kind: str                      # "kernel" or "ramdisk"
    bootargs: Optional[str] = None


@dataclass(frozen=True)
class Segment:
    """Bytes to write into RAM before the CPU starts."""

    name: str
    addr: int
    data: bytes

    @property
    def end(self) -> int:
        return self.addr + len(self.data)


@dataclass
class BootPlan:
    """Everything the machine needs to start as QEMU would.

    The machine must, at every reset: write each segment's bytes at its address
    (after clearing RAM), reset the CPU as for any image (non-secure Hyp mode,
    CPSR 0x1DA, MMU and caches off), then set the registers in ``registers``
    and PC = ``entry`` (Thumb if ``thumb``). ``image()`` packs the segments,
    entry and symbols into a ``loader.Image`` for ``Machine``.
    """

    kernel: str
    kind: str                      # "elf", "zimage" or "raw" (the latter two booted as Linux)
    entry: int
    thumb: bool
    registers: Dict[int, int]
    segments: List[Segment]
    dtb: bytes
    dtb_addr: Optional[int]
    initrd: Optional[Tuple[int, int]]         # (start, end) as /chosen says
    modules: List[dtbmod.Module]
    ram_size: int
    symbols: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def is_linux(self) -> bool:
        return self.kind != "elf"

    def image(self) -> Image:
        """The plan as the machine's image type: all segments, the entry, the symbols."""
        return Image(self.kernel, self.entry, self.thumb, [(s.addr, s.data) for s in self.segments],
                     dict(self.symbols), is_elf=self.kind == "elf", registers=dict(self.registers))

    def describe(self) -> str:
        """One line per segment and the start state, for the user."""
        lines = [f"{s.name:<24} {s.addr:#010x}-{s.end:#010x} ({len(s.data)} bytes)"
                 for s in sorted(self.segments, key=lambda s: s.addr)]
        regs = " ".join(f"r{n}={v:#010x}" for n, v in sorted(self.registers.items()))
        lines.append(f"entry {self.entry:#010x}{' (Thumb)' if self.thumb else ''}"
                     + (f", {regs}" if regs else ""))
        return "\n".join(lines + self.notes)


def _align(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise BootError(f"could not load {what} '{path}': {e.strerror or e}") from None


def _parse_int(key: str, text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise BootError(f"guest-loader: parameter '{key}' expects an integer, not {text!r}") from None
    if not 0 <= value < 1 << 64:
        raise BootError(f"guest-loader: parameter '{key}' out of range: {text}")
    return value


def _split_options(text: str) -> List[str]:
    """Split a QEMU option string at commas; ",," stands for a literal comma."""
    parts, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "," and text[i + 1:i + 2] == ",":
            cur += ","
            i += 2
            continue
        if ch == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def parse_device(text: str) -> GuestLoader:
    """Parse the argument of ``-device guest-loader,addr=A,kernel=F[,bootargs=S]`` or
    ``...,initrd=F``, with QEMU's checks and messages."""
    parts = _split_options(text)
    driver = parts[0][len("driver="):] if parts[0].startswith("driver=") else parts[0]
    if driver != "guest-loader":
        raise BootError(f"-device {driver or text!r}: only guest-loader is supported")
    opts: Dict[str, str] = {}
    for part in parts[1:]:
        if "=" not in part:
            raise BootError(f"-device {text}: expected key=value, got {part!r}")
        key, value = part.split("=", 1)
        if key not in GUEST_LOADER_KEYS:
            raise BootError(f"-device {text}: Property 'guest-loader.{key}' not found")
        if key in opts:
            raise BootError(f"-device {text}: '{key}' given twice")
        opts[key] = value
    kernel, initrd = opts.get("kernel"), opts.get("initrd")
    if kernel is not None and initrd is not None:
        raise BootError(f"-device {text}: Cannot specify a kernel and initrd in same stanza")
    if kernel is None and initrd is None:
        raise BootError(f"-device {text}: Need to specify a kernel or initrd image")
    if initrd is not None and "bootargs" in opts:
        raise BootError(f"-device {text}: Boot args only relevant to kernel blobs")
    if "addr" not in opts:
        raise BootError(f"-device {text}: Need to specify the address of guest blob")
    addr = _parse_int("addr", opts["addr"])
    path = kernel if kernel is not None else initrd
    if not path:
        raise BootError(f"-device {text}: empty file name")
    return GuestLoader(addr, path, "kernel" if kernel is not None else "ramdisk", opts.get("bootargs"))


def _check_layout(segments: Sequence[Segment], ram_end: int) -> None:
    for seg in segments:
        if seg.addr < RAM_BASE or seg.end > ram_end:
            raise BootError(f"{seg.name} at {seg.addr:#010x}-{seg.end:#010x} lies outside RAM "
                            f"{RAM_BASE:#010x}-{ram_end:#010x}")
    ordered = sorted(segments, key=lambda s: s.addr)
    for a, b in zip(ordered, ordered[1:]):
        if b.addr < a.end:
            raise BootError(f"{a.name} ({a.addr:#010x}-{a.end:#010x}) and {b.name} "
                            f"({b.addr:#010x}-{b.end:#010x}) overlap")


def _kernel_kind(data: bytes, path: str) -> str:
    if data[:4] == b"\x7fELF":
        return "elf"
    if len(data) >= 4 and struct.unpack_from(">I", data)[0] == UIMAGE_MAGIC:
        raise BootError(f"{path}: U-Boot uImage files are not supported; give the zImage")
    if len(data) >= ZIMAGE_MAGIC_OFFSET + 4 and \
            struct.unpack_from("<I", data, ZIMAGE_MAGIC_OFFSET)[0] == ZIMAGE_MAGIC:
        return "zimage"
    return "raw"


@dataclass
class _Kernel:
    kind: str
    entry: int
    thumb: bool
    segments: List[Segment]
    symbols: Dict[str, int]

    @property
    def low(self) -> int:
        return min(s.addr for s in self.segments)

    @property
    def high(self) -> int:
        return max(s.end for s in self.segments)


def _load_kernel(path: str, ram_size: int) -> _Kernel:
    """An ELF by its program headers; anything else as a Linux image at RAM + 0x10000."""
    data = _read(path, "kernel")
    if not data:
        raise BootError(f"could not load kernel '{path}': empty file")
    kind = _kernel_kind(data, path)
    if kind == "elf":
        try:
            image = load_elf(path)
        except ImageError as e:
            raise BootError(str(e)) from None
        segments = [Segment(f"kernel segment {i}", addr, seg) for i, (addr, seg) in enumerate(image.segments)]
        return _Kernel(kind, image.entry, image.thumb, segments, image.symbols)
    if len(data) > ram_size:
        raise BootError(f"kernel '{path}' is too large to fit in RAM (kernel size {len(data)}, "
                        f"RAM size {ram_size})")
    entry = RAM_BASE + KERNEL_OFFSET
    return _Kernel(kind, entry, False, [Segment("kernel", entry, data)], {})


def _elf_dtb_addr(kernel: _Kernel, fit_size: int) -> Optional[int]:
    """QEMU puts an ELF's device tree at the RAM base when the image leaves ``fit_size``
    bytes free below itself (or lies wholly below RAM); otherwise in flash at 0."""
    low, high = kernel.low, kernel.high
    if not (low > RAM_BASE or high < RAM_BASE):
        return None
    if low >= RAM_BASE and fit_size > low - RAM_BASE:
        return None
    return RAM_BASE


def plan_boot(kernel: str, initrd: Optional[str] = None, append: Optional[str] = None,
              dtb: Optional[str] = None, ram_mb: int = 256,
              guest_loaders: Sequence[GuestLoader] = (), seed: int = 0) -> BootPlan:
    """Plan a boot as ``qemu-system-arm -M virt,virtualization=on -cpu cortex-a15`` would
    for the same options. ``seed`` fixes /chosen rng-seed and kaslr-seed."""
    if ram_mb <= 0:
        raise BootError(f"-m {ram_mb}: RAM size must be positive")
    ram_size = ram_mb << 20
    ram_end = RAM_BASE + ram_size
    k = _load_kernel(kernel, ram_size)
    notes: List[str] = []
    segments = list(k.segments)

    loaded = [(gl, _read(gl.path, "image")) for gl in guest_loaders]
    modules = [dtbmod.Module(gl.addr, len(data), gl.kind, gl.bootargs) for gl, data in loaded]
    segments += [Segment(f"guest-loader {gl.kind} {Path(gl.path).name}", gl.addr, data)
                 for gl, data in loaded]

    initrd_range: Optional[Tuple[int, int]] = None
    initrd_start = _align(max(RAM_BASE + min(ram_size // 2, INITRD_MAX_OFFSET), k.high), PAGE)
    initrd_size = 0
    if k.kind != "elf" and initrd is not None:
        rd = _read(initrd, "initrd")
        if initrd_start >= ram_end:
            raise BootError("not enough space after kernel to load initrd")
        if initrd_start + len(rd) > ram_end:
            raise BootError(f"could not load initrd '{initrd}': too big to fit into RAM after the kernel")
        initrd_size = len(rd)
        if rd:
            segments.append(Segment("initrd", initrd_start, rd))
            initrd_range = (initrd_start, initrd_start + initrd_size)
    elif initrd is not None:
        notes.append("note: -initrd is ignored for an ELF kernel, as QEMU does")

    try:
        if dtb is not None:
            user_dtb = _read(dtb, "dtb")
            tree = dtbmod.update_dtb(user_dtb, ram_size, append, initrd_range)
            fit_size = (len(user_dtb) + 10000) * 2   # the size QEMU gives a -dtb blob
            if modules:
                notes.append("note: guest-loader modules are not added to a -dtb file, as in QEMU")
                modules = []
        else:
            tree = dtbmod.virt_dtb(ram_size, append, initrd_range, modules, seed)
            fit_size = VIRT_FDT_SIZE
    except dtbmod.DtbError as e:
        raise BootError(f"dtb: {e}") from None

    registers: Dict[int, int] = {}
    dtb_addr: Optional[int]
    if k.kind == "elf":
        dtb_addr = _elf_dtb_addr(k, fit_size)
        if dtb_addr is None:
            notes.append("note: no room for the device tree below the image; QEMU puts it in "
                         "flash at 0, which hypdbg does not have")
    else:
        dtb_addr = _align(initrd_start + initrd_size, DTB_ALIGN)
        if dtb_addr >= ram_end:
            raise BootError("Not enough space for DTB after kernel/initrd")
        registers = {0: 0, 1: BOARD_ID_NONE, 2: dtb_addr}
    if dtb_addr is not None:
        segments.append(Segment("dtb", dtb_addr, tree))
    _check_layout(segments, ram_end)
    return BootPlan(kernel, k.kind, k.entry, k.thumb, registers, segments,
                    tree if dtb_addr is not None else b"", dtb_addr, initrd_range, modules,
                    ram_size, dict(k.symbols), notes)
