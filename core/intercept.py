"""Per-instruction interception of cp15 accesses that unicorn executes natively.

unicorn runs MRC/MCR and ERET itself and gives no hook for them, yet some must
reach our code: the generic-timer registers (so time is the machine's virtual
time, not the host clock), writes that change translation (so our TLB is
flushed), and the HCR traps unicorn leaves out (TID3, TSW, TPC, TPU, TIDCP).
Each time a code page is filled into the TLB we scan it for such instructions
and bind a code hook to each one's address; a bound hook costs nothing
elsewhere (DESIGN.md). The hook re-checks the instruction at run time, so a
stale site (the page was remapped or rewritten) falls through to native
execution.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Set, Tuple

from unicorn import UC_HOOK_CODE, Uc

from .coproc import CpInsn, decode, is_thumb32, thumb_word
from .cpu import CPSR_T
from .uchook import hook_add


@dataclass(frozen=True)
class Site:
    """One intercepted instruction: where it is and what it does."""

    va: int
    pa: int
    thumb: bool
    word: int
    insn: Optional[CpInsn]  # None for ERET

    @property
    def is_eret(self) -> bool:
        return self.insn is None


ARM_ERET = 0x0160006E            # ERET A1 without its condition (B9.3.3)
THUMB_ERET = (0xF3DE, 0x8F00)    # ERET T1 = SUBS PC, LR, #0

#: Decides whether an instruction is worth intercepting (given: the HCR trap bits that
#: apply to the page, 0 for a page filled for Hyp mode).
Filter = Callable[[CpInsn, int], bool]
#: Called before the instruction runs; returns True if it handled (emulated or trapped) it.
Handler = Callable[[Site], bool]


class CpIntercept:
    """Finds interesting cp15 instructions in code pages and hooks their addresses."""

    def __init__(self, uc: Uc, wanted: Filter, handler: Handler,
                 read_cpsr: Callable[[], int], read_phys: Callable[[int, int], bytes]) -> None:
        self.uc = uc
        self.read_cpsr = read_cpsr
        self.read_phys = read_phys
        self.wanted = wanted
        self.handler = handler
        self.sites: Dict[Tuple[int, bool], Site] = {}
        self._hooked: Set[int] = set()
        self.hits = 0

    def scan(self, va: int, pa: int, data: bytes, traps: int = 0) -> None:
        """Record the interesting instructions of a code page mapped at ``va`` -> ``pa``
        (``traps``: the HCR trap bits that apply to it; none for Hyp mode)."""
        found = []
        n = len(data) // 4
        for i, word in enumerate(struct.unpack_from(f"<{n}I", data)):
            if (word & 0x0FFFFFFF) == ARM_ERET and word >> 28 != 0xF:
                found.append(Site(va + 4 * i, pa + 4 * i, False, word, None))
            elif _maybe_cp15(word):
                insn = decode(word)
                if insn is not None and insn.coproc == 15 and self.wanted(insn, traps):
                    found.append(Site(va + 4 * i, pa + 4 * i, False, word, insn))
        halves = struct.unpack_from(f"<{len(data) // 2}H", data)
        for i in range(len(halves) - 1):
            hw1 = halves[i]
            if hw1 == THUMB_ERET[0] and halves[i + 1] == THUMB_ERET[1]:
                found.append(Site(va + 2 * i, pa + 2 * i, True, thumb_word(*THUMB_ERET), None))
            elif (hw1 & 0xEE00) == 0xEC00 and is_thumb32(hw1):
                word = thumb_word(hw1, halves[i + 1])
                insn = decode(word)
                if insn is not None and insn.coproc == 15 and self.wanted(insn, traps):
                    found.append(Site(va + 2 * i, pa + 2 * i, True, word, insn))
        for site in found:
            self.sites[(site.va, site.thumb)] = site
            if site.va not in self._hooked:
                self._hooked.add(site.va)
                hook_add(self.uc, UC_HOOK_CODE, self._on_code, begin=site.va, end=site.va)
                self.uc.ctl_remove_cache(site.va, site.va + 4)

    def _on_code(self, uc: Uc, address: int, size: int, _data: object) -> None:
        thumb = bool(self.read_cpsr() & CPSR_T)
        site = self.sites.get((address, thumb))
        if site is None:
            return
        raw = self.read_phys(site.pa, 4)
        if thumb:
            lo, hi = struct.unpack("<HH", raw)
            word = thumb_word(lo, hi)
        else:
            word = struct.unpack("<I", raw)[0]
        if word != site.word:
            return
        self.hits += 1
        self.handler(site)

    def forget(self) -> None:
        """Drop every recorded site (hooks stay bound but fall through)."""
        self.sites.clear()


def _maybe_cp15(word: int) -> bool:
    """Cheap prefilter: coprocessor field 15 and an MCR/MRC or MCRR/MRRC pattern."""
    if (word >> 8) & 0xF != 0xF:
        return False
    top = (word >> 24) & 0xF
    return (top == 0xE and bool(word & 0x10)) or (word >> 21) & 0x7F == 0b1100010
