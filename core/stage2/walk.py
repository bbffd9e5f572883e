"""Stage-2 translation, IPA to PA, for the Non-secure PL1&0 regime (ARM ARM B3.6).

Configured by VTCR (signed T0SZ, SL0) and VTTBR (BADDR, VMID); the root table
may be a concatenation of up to 16 tables (B3.6.5). Hyp accesses never come
here; guest accesses and the guest's own stage-1 descriptor fetches do.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Tuple, Union

from ..fault_status import FaultKind
from ..lpae import AF, XN, Leaf, s2_memtype, table_base, walk
from ..translation import (R, W, X, Access, Fault, MemType, ReadPhys, Translation,
                           WalkStep)

HCR_VM = 1 << 0   # stage 2 on for NS PL1&0
HCR_PTW = 1 << 2  # stage-1 walks into stage-2 Device memory fault


@dataclass(frozen=True)
class Stage2Regs:
    """The registers stage 2 reads; ``hcr`` also tells stage 1 about DC and TGE."""

    vtcr: int
    vttbr: int
    hcr: int = HCR_VM


class Stage2Params(NamedTuple):
    """Geometry of the stage-2 tables that VTCR selects."""

    inputsize: int  # IPA bits, 32 - T0SZ
    level: int      # start level
    x: int          # VTTBR.BADDR alignment: BADDR is VTTBR[39:x]


class Stage2Out(NamedTuple):
    """A successful stage-2 lookup."""

    pa: int
    base: int       # PA of the block or page holding ``pa``
    size: int       # block or page size
    perms: int      # R|W|X granted by stage 2
    memtype: MemType


def stage2_params(vtcr: int) -> Optional[Stage2Params]:
    """Decode VTCR.T0SZ (signed, 4 bits) and SL0; None for a combination the walk cannot start.

    SL0=01 starts at level 1, SL0=00 at level 2; the start level may hold at
    most 16 concatenated tables and at least 2 entries, so level 1 takes
    T0SZ -8..1 and level 2 takes T0SZ -2..7 (B3.6.5, stage-2 start level).
    """
    t0sz = vtcr & 0xF
    if t0sz & 0x8:
        t0sz -= 16
    sl0 = (vtcr >> 6) & 3
    if sl0 == 1 and t0sz <= 1:
        return Stage2Params(32 - t0sz, 1, 5 - t0sz)
    if sl0 == 0 and t0sz >= -2:
        return Stage2Params(32 - t0sz, 2, 14 - t0sz)
    return None


def lookup(ipa: int, access: Access, regs: Stage2Regs, read_phys: ReadPhys,
           s1ptw: bool, steps: List[WalkStep]) -> Union[Stage2Out, Fault]:
    """Translate ``ipa`` and check ``access`` against stage 2, appending the walk to ``steps``.

    A VTCR the walk cannot use and an IPA above 2^(32-T0SZ) give a translation
    fault reported at level 1 (QEMU reports these at level 1 too). A stage-1
    descriptor fetch (``s1ptw``) needs stage-2 read access and, with HCR.PTW,
    Normal memory.
    """
    params = stage2_params(regs.vtcr)
    if params is None or ipa >> params.inputsize:
        return Fault(2, FaultKind.TRANSLATION, 1, s1ptw=s1ptw, ipa=ipa)

    def fetch(addr: int, level: int) -> Union[Tuple[int, int], Fault]:
        value = read_phys(addr, 8)
        if value is None:
            return Fault(2, FaultKind.EXTERNAL, level, s1ptw=s1ptw, ipa=ipa)
        return value, addr

    leaf = walk(ipa, table_base(regs.vttbr, params.x), params.level, params.inputsize,
                2, fetch, steps)
    if not isinstance(leaf, Leaf):
        if leaf.ipa is None:
            return dataclasses.replace(leaf, s1ptw=s1ptw, ipa=ipa)
        return leaf
    desc = leaf.desc
    if not desc & AF:
        return Fault(2, FaultKind.ACCESS_FLAG, leaf.level, s1ptw=s1ptw, ipa=ipa)
    hap = (desc >> 6) & 3
    perms = (R if hap & 1 else 0) | (W if hap & 2 else 0)
    if perms & R and not desc & XN:
        perms |= X
    memtype = s2_memtype(desc)
    if not perms & access or (s1ptw and regs.hcr & HCR_PTW and memtype is not MemType.NORMAL):
        return Fault(2, FaultKind.PERMISSION, leaf.level, s1ptw=s1ptw, ipa=ipa)
    return Stage2Out(leaf.base | (ipa & (leaf.size - 1)), leaf.base, leaf.size, perms, memtype)


def walk_stage2(ipa: int, access: Access, regs: Stage2Regs, read_phys: ReadPhys,
                s1ptw: bool = False) -> Translation:
    """Translate an IPA through stage 2 alone (the debugger's IPA view, and walk tests)."""
    steps: List[WalkStep] = []
    vmid = (regs.vttbr >> 48) & 0xFF
    out = lookup(ipa, access, regs, read_phys, s1ptw, steps)
    if isinstance(out, Fault):
        return Translation(ipa, access, ipa=ipa, vmid=vmid, steps=steps, fault=out)
    return Translation(ipa, access, ipa=ipa, pa=out.pa, va_base=ipa & ~(out.size - 1),
                       pa_base=out.base, map_size=out.size, perms=out.perms,
                       memtype=out.memtype, s2_memtype=out.memtype, vmid=vmid, steps=steps)
