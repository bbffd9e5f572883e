"""PL1&0 stage-1 translation, VA to IPA, then stage 2 when HCR.VM is set (ARM ARM B3.5, B3.6).

TTBCR.EAE picks the short-descriptor format (sections, supersections, large
and small pages, domains) or the long-descriptor format (LPAE). With stage 2
on, every stage-1 descriptor address is an IPA and is translated by stage 2
before it is read; a stage-2 fault there is reported with S1PTW set.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Tuple, Union

from .fault_status import FaultKind
from .lpae import (AF, AP_TABLE0, AP_TABLE1, NG, PXN, PXN_TABLE, XN, XN_TABLE, Fetch, Leaf,
                   mair_memtype, stage1_start, table_base, walk)
from .stage2.walk import HCR_VM, Stage2Regs, lookup
from .translation import (PL, R, RW, RWX, W, X, Access, Fault, MemType, ReadPhys,
                          Translation, WalkStep)

SCTLR_M = 1 << 0
SCTLR_WXN = 1 << 19
SCTLR_UWXN = 1 << 20
SCTLR_TRE = 1 << 28
SCTLR_AFE = 1 << 29

TTBCR_PD0 = 1 << 4
TTBCR_PD1 = 1 << 5
TTBCR_EPD0 = 1 << 7
TTBCR_A1 = 1 << 22
TTBCR_EPD1 = 1 << 23
TTBCR_EAE = 1 << 31

HCR_DC = 1 << 12
HCR_TGE = 1 << 27

_SO = MemType.STRONGLY_ORDERED
_DEV = MemType.DEVICE
_NORM = MemType.NORMAL

# (PL1, PL0) read/write permissions of AP[2:0] with SCTLR.AFE=0 (B3.7.1, Table B3-8);
# 0b100 is reserved and grants nothing.
_AP_FULL = ((0, 0), (RW, 0), (RW, R), (RW, RW), (0, 0), (R, 0), (R, R), (R, R))
# (PL1, PL0) read/write permissions of AP[2:1], the simplified model (B3.7.1, Table B3-9).
_AP_SIMPLE = ((RW, 0), (RW, RW), (R, 0), (R, R))
# Memory type of PRRR.TRn and of TEX=000 C:B (B3.8).
_TYPE_OF_CODE = (_SO, _DEV, _NORM, _NORM)


@dataclass(frozen=True)
class Stage1Regs:
    """The PL1&0 registers stage 1 reads (Non-secure banks).

    ``mair0``/``mair1`` are PRRR/NMRR when TTBCR.EAE=0; ``ttbr0``/``ttbr1`` are
    the 64-bit registers (only bits [31:0] count in the short format).
    """

    sctlr: int
    ttbcr: int = 0
    ttbr0: int = 0
    ttbr1: int = 0
    dacr: int = 0
    mair0: int = 0
    mair1: int = 0
    contextidr: int = 0


class Stage1Out(NamedTuple):
    """A successful stage-1 lookup."""

    ipa: int
    base: int   # IPA of the section, block or page holding ``ipa``
    size: int
    perms: int
    memtype: MemType
    ng: bool
    asid: int


def grant(pl1_rw: int, pl0_rw: int, pl: int, xn: bool, pxn: bool, sctlr: int) -> int:
    """Permissions at ``pl`` including execute (B3.7.2).

    A region is executable only if readable at that level, not XN, not (for
    PL1) PXN, not writable when SCTLR.WXN, and (for PL1) not PL0-writable
    when SCTLR.UWXN.
    """
    if pl:
        rw = pl1_rw
        no_exec = xn or pxn or (sctlr & SCTLR_UWXN and pl0_rw & W)
    else:
        rw = pl0_rw
        no_exec = xn
    if not no_exec and rw & R and not (sctlr & SCTLR_WXN and rw & W):
        return rw | X
    return rw


def short_memtype(tex: int, cb: int, sctlr: int, prrr: int) -> MemType:
    """Memory type of a short descriptor's TEX[2:0], C, B, through PRRR when SCTLR.TRE (B3.8)."""
    if sctlr & SCTLR_TRE:
        return _TYPE_OF_CODE[(prrr >> (2 * (((tex & 1) << 2) | cb))) & 3]
    if tex & 4:
        return _NORM
    if tex == 0:
        return _TYPE_OF_CODE[cb]
    if tex == 2 and cb == 0:
        return _DEV
    return _NORM


def _fetcher(s2: Optional[Stage2Regs], read_phys: ReadPhys, steps: List[WalkStep],
             size: int) -> Fetch:
    """Descriptor reads for a stage-1 walk: straight from memory, or IPA through stage 2 first."""
    if s2 is None:
        def fetch_pa(addr: int, level: int) -> Union[Tuple[int, int], Fault]:
            value = read_phys(addr, size)
            if value is None:
                return Fault(1, FaultKind.EXTERNAL, level)
            return value, addr
        return fetch_pa

    def fetch_ipa(addr: int, level: int) -> Union[Tuple[int, int], Fault]:
        out = lookup(addr, Access.READ, s2, read_phys, True, steps)
        if isinstance(out, Fault):
            return out
        value = read_phys(out.pa, size)
        if value is None:
            return Fault(1, FaultKind.EXTERNAL, level)
        return value, out.pa
    return fetch_ipa


def _walk_short(va: int, access: Access, pl: int, s1: Stage1Regs, fetch: Fetch,
                steps: List[WalkStep]) -> Union[Stage1Out, Fault]:
    """Short-descriptor walk and checks (B3.5); fault levels are 1 = section, 2 = page.

    Checks run in the order of the fault-checking sequence (B3.12):
    translation, access flag (SCTLR.AFE), domain, permission. A Manager
    domain skips the permission and execute-never checks (B3.7.3).
    """
    ttbcr = s1.ttbcr
    n = ttbcr & 7
    if n and va >> (32 - n):
        if ttbcr & TTBCR_PD1:
            return Fault(1, FaultKind.TRANSLATION, 1)
        table = s1.ttbr1 & 0xFFFFC000
    else:
        if ttbcr & TTBCR_PD0:
            return Fault(1, FaultKind.TRANSLATION, 1)
        table = s1.ttbr0 & (0xFFFFFFFF << (14 - n)) & 0xFFFFFFFF
    addr = table | ((va >> 18) & 0x3FFC)
    got = fetch(addr, 1)
    if isinstance(got, Fault):
        steps.append(WalkStep(1, 1, table, addr, None, None, "fault"))
        return got
    desc, pa = got
    kind = desc & 3
    if kind == 0:
        steps.append(WalkStep(1, 1, table, addr, pa, desc, "fault"))
        return Fault(1, FaultKind.TRANSLATION, 1)
    if kind == 1:
        steps.append(WalkStep(1, 1, table, addr, pa, desc, "table"))
        domain = (desc >> 5) & 0xF
        pxn = bool(desc & 4)
        table = desc & 0xFFFFFC00
        addr = table | ((va >> 10) & 0x3FC)
        got = fetch(addr, 2)
        if isinstance(got, Fault):
            steps.append(WalkStep(1, 2, table, addr, None, None, "fault"))
            return dataclasses.replace(got, domain=domain) if got.stage == 1 else got
        desc, pa = got
        kind = desc & 3
        if kind == 0:
            steps.append(WalkStep(1, 2, table, addr, pa, desc, "fault"))
            return Fault(1, FaultKind.TRANSLATION, 2, domain)
        steps.append(WalkStep(1, 2, table, addr, pa, desc, "page"))
        level = 2
        if kind == 1:
            base, size, xn, tex = desc & 0xFFFF0000, 0x10000, bool(desc & 0x8000), (desc >> 12) & 7
        else:
            base, size, xn, tex = desc & 0xFFFFF000, 0x1000, bool(desc & 1), (desc >> 6) & 7
        ap = ((desc >> 4) & 3) | ((desc >> 7) & 4)
        ng = bool(desc & 0x800)
    else:
        level = 1
        pxn = bool(desc & 1)
        if desc & (1 << 18):
            steps.append(WalkStep(1, 1, table, addr, pa, desc, "supersection"))
            domain = 0
            base = ((desc & 0xFF000000) | (((desc >> 20) & 0xF) << 32)
                    | (((desc >> 5) & 0xF) << 36))
            size = 0x1000000
        else:
            steps.append(WalkStep(1, 1, table, addr, pa, desc, "section"))
            domain = (desc >> 5) & 0xF
            base = desc & 0xFFF00000
            size = 0x100000
        xn = bool(desc & 0x10)
        ap = ((desc >> 10) & 3) | ((desc >> 13) & 4)
        tex = (desc >> 12) & 7
        ng = bool(desc & (1 << 17))
    sctlr = s1.sctlr
    afe = sctlr & SCTLR_AFE
    if afe and not ap & 1:
        return Fault(1, FaultKind.ACCESS_FLAG, level, domain)
    dom = (s1.dacr >> (2 * domain)) & 3
    if dom == 3:
        perms = RWX
    elif dom == 1:
        pl1_rw, pl0_rw = _AP_SIMPLE[ap >> 1] if afe else _AP_FULL[ap]
        perms = grant(pl1_rw, pl0_rw, pl, xn, pxn, sctlr)
        if not perms & access:
            return Fault(1, FaultKind.PERMISSION, level, domain)
    else:
        return Fault(1, FaultKind.DOMAIN, level, domain)
    memtype = short_memtype(tex, (desc >> 2) & 3, sctlr, s1.mair0)
    return Stage1Out(base | (va & (size - 1)), base, size, perms, memtype, ng,
                     s1.contextidr & 0xFF)


def _walk_long(va: int, access: Access, pl: int, s1: Stage1Regs, fetch: Fetch,
               steps: List[WalkStep]) -> Union[Stage1Out, Fault]:
    """Long-descriptor walk and checks (B3.6).

    TTBR0 covers [0, 2^(32-T0SZ)), TTBR1 the top 2^(32-T1SZ) bytes; a size
    field of 0 makes that TTBR take everything the other does not (B3.6.4).
    An address in neither region, or in a region whose EPDx is set, is a
    translation fault, reported at level 1 as QEMU does.
    """
    ttbcr = s1.ttbcr
    t0sz = ttbcr & 7
    t1sz = (ttbcr >> 16) & 7
    if t0sz and not va >> (32 - t0sz):
        use_ttbr1 = False
    elif t1sz and va >> (32 - t1sz) == (1 << t1sz) - 1:
        use_ttbr1 = True
    elif not t0sz:
        use_ttbr1 = False
    elif not t1sz:
        use_ttbr1 = True
    else:
        return Fault(1, FaultKind.TRANSLATION, 1)
    if use_ttbr1:
        if ttbcr & TTBCR_EPD1:
            return Fault(1, FaultKind.TRANSLATION, 1)
        ttbr, tsz = s1.ttbr1, t1sz
    else:
        if ttbcr & TTBCR_EPD0:
            return Fault(1, FaultKind.TRANSLATION, 1)
        ttbr, tsz = s1.ttbr0, t0sz
    level, x = stage1_start(tsz)
    leaf = walk(va, table_base(ttbr, x), level, 32 - tsz, 1, fetch, steps)
    if not isinstance(leaf, Leaf):
        return leaf
    desc = leaf.desc
    if not desc & AF:
        return Fault(1, FaultKind.ACCESS_FLAG, leaf.level)
    pl1_rw, pl0_rw = _AP_SIMPLE[(desc >> 6) & 3]
    tattrs = leaf.table_attrs
    if tattrs & AP_TABLE0:
        pl0_rw = 0
    if tattrs & AP_TABLE1:
        pl1_rw &= ~W
        pl0_rw &= ~W
    perms = grant(pl1_rw, pl0_rw, pl, bool(desc & XN or tattrs & XN_TABLE),
                  bool(desc & PXN or tattrs & PXN_TABLE), s1.sctlr)
    if not perms & access:
        return Fault(1, FaultKind.PERMISSION, leaf.level)
    memtype = mair_memtype(s1.mair0, s1.mair1, (desc >> 2) & 7)
    asid = ((s1.ttbr1 if ttbcr & TTBCR_A1 else s1.ttbr0) >> 48) & 0xFF
    return Stage1Out(leaf.base | (va & (leaf.size - 1)), leaf.base, leaf.size, perms,
                     memtype, bool(desc & NG), asid)


def translate_pl10(va: int, access: Access, pl: PL, s1: Stage1Regs,
                   s2: Optional[Stage2Regs], read_phys: ReadPhys) -> Translation:
    """Translate a Non-secure PL0/PL1 access: stage 1, then stage 2 when HCR.VM is set.

    SCTLR.M=0, HCR.DC=1 or HCR.TGE=1 make stage 1 flat (VA = IPA); data is
    then Strongly-ordered and fetches Normal, or all Normal with HCR.DC
    (B3.2.1). A stage-1 fault, permission faults included, wins over
    stage 2 (B3.12, prioritization of aborts).
    """
    va &= 0xFFFFFFFF
    hcr = s2.hcr if s2 is not None else 0
    stage2 = s2 if hcr & HCR_VM else None
    steps: List[WalkStep] = []
    if not s1.sctlr & SCTLR_M or hcr & (HCR_DC | HCR_TGE):
        s1_memtype = _NORM if (hcr & HCR_DC or access is Access.FETCH) else _SO
        s1_out = Stage1Out(va, 0, 1 << 32, RWX, s1_memtype, False, 0)
        asid: Optional[int] = None
    else:
        if s1.ttbcr & TTBCR_EAE:
            got = _walk_long(va, access, pl, s1, _fetcher(stage2, read_phys, steps, 8), steps)
        else:
            got = _walk_short(va, access, pl, s1, _fetcher(stage2, read_phys, steps, 4), steps)
        if isinstance(got, Fault):
            return Translation(va, access, steps=steps, fault=got)
        s1_out = got
        asid = got.asid
    ipa = s1_out.ipa
    if stage2 is None:
        size = s1_out.size
        return Translation(va, access, ipa=ipa, pa=ipa, va_base=va & ~(size - 1),
                           pa_base=s1_out.base, map_size=size, perms=s1_out.perms,
                           memtype=s1_out.memtype, s1_memtype=s1_out.memtype,
                           ng=s1_out.ng, asid=asid, steps=steps)
    vmid = (stage2.vttbr >> 48) & 0xFF
    s2_out = lookup(ipa, access, stage2, read_phys, False, steps)
    if isinstance(s2_out, Fault):
        return Translation(va, access, ipa=ipa, s1_memtype=s1_out.memtype,
                           ng=s1_out.ng, asid=asid, vmid=vmid, steps=steps, fault=s2_out)
    size = min(s1_out.size, s2_out.size)
    pa = s2_out.pa
    return Translation(va, access, ipa=ipa, pa=pa, va_base=va & ~(size - 1),
                       pa_base=pa & ~(size - 1), map_size=size,
                       perms=s1_out.perms & s2_out.perms,
                       memtype=max(s1_out.memtype, s2_out.memtype),
                       s1_memtype=s1_out.memtype, s2_memtype=s2_out.memtype,
                       ng=s1_out.ng, asid=asid, vmid=vmid, steps=steps)
