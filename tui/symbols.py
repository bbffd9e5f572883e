"""Symbols of the debugged ELF, for labels and ``<sym+off>`` in the disassembly.

The TUI reads them itself (pyelftools) rather than asking GDB per address:
the disassembly pane is redrawn at every stop and must not cost a round trip
per line.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

#: Symbols the toolchain and linker scripts define that never name code.
_NOISE_PREFIXES = ("$", "__", "_bss", "_edata", "_end", "_stack")


@dataclass
class SymbolTable:
    """Address -> name, and the nearest symbol at or below an address."""

    by_addr: Dict[int, str] = field(default_factory=dict)
    by_name: Dict[str, int] = field(default_factory=dict)
    _sorted: List[int] = field(default_factory=list)

    def add(self, name: str, addr: int) -> None:
        """Add one symbol; a later name at the same address does not replace the first."""
        self.by_name.setdefault(name, addr)
        if addr not in self.by_addr:
            self.by_addr[addr] = name
            bisect.insort(self._sorted, addr)

    def at(self, addr: int) -> Optional[str]:
        """The symbol starting exactly at ``addr``."""
        return self.by_addr.get(addr)

    def describe(self, addr: int, max_offset: int = 0x1000) -> str:
        """``name`` or ``name+0xoff`` for the nearest symbol below, or '' if none is close."""
        i = bisect.bisect_right(self._sorted, addr) - 1
        if i < 0:
            return ""
        base = self._sorted[i]
        off = addr - base
        if off > max_offset:
            return ""
        name = self.by_addr[base]
        return name if off == 0 else f"{name}+{off:#x}"

    def names(self) -> List[str]:
        """All names, sorted (for command-line completion)."""
        return sorted(self.by_name)


def load_symbols(path: Optional[str]) -> SymbolTable:
    """Function and label symbols of an ELF file; an empty table if it is not one."""
    table = SymbolTable()
    if not path:
        return table
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            for section in elf.iter_sections():
                if not isinstance(section, SymbolTableSection):
                    continue
                for sym in section.iter_symbols():
                    kind = sym["st_info"]["type"]
                    if not sym.name or sym.name.startswith(_NOISE_PREFIXES):
                        continue
                    if kind not in ("STT_FUNC", "STT_NOTYPE") or sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
                        continue
                    # Thumb functions have bit 0 set in their value (ARM ELF ABI 5.5.3).
                    addr = sym["st_value"] & ~1 if kind == "STT_FUNC" else sym["st_value"]
                    table.add(sym.name, addr)
    except (OSError, ELFError):
        return SymbolTable()
    return table
