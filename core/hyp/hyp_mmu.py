"""Hyp (PL2) stage-1 translation, VA to PA (ARM ARM B3.6, B3.7).

Always the long-descriptor format, one region from VA 0 sized by HTCR.T0SZ,
no ASIDs. Only AP[2] (read-only) and XN count; Hyp accesses are never
translated by stage 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple, Union

from ..fault_status import FaultKind
from ..lpae import (AF, AP2, AP_TABLE1, XN, XN_TABLE, Leaf, mair_memtype, stage1_start,
                    table_base, walk)
from ..translation import (R, RW, RWX, W, X, Access, Fault, MemType, ReadPhys, Translation,
                           WalkStep)

HSCTLR_M = 1 << 0
HSCTLR_WXN = 1 << 19


@dataclass(frozen=True)
class HypRegs:
    """The registers the Hyp stage 1 reads."""

    hsctlr: int
    htcr: int = 0
    httbr: int = 0
    hmair0: int = 0
    hmair1: int = 0


def translate_hyp(va: int, access: Access, regs: HypRegs, read_phys: ReadPhys) -> Translation:
    """Translate a Hyp-mode access.

    HSCTLR.M=0 is flat, with data Strongly-ordered and fetches Normal (B3.2.1).
    A VA at or above 2^(32-T0SZ) is a translation fault, reported at level 1
    as QEMU does. APTable[1] and XNTable of the table descriptors apply;
    HSCTLR.WXN makes writable regions execute-never (B3.7.2). The result has
    no IPA: the Hyp stage 1 outputs physical addresses.
    """
    va &= 0xFFFFFFFF
    if not regs.hsctlr & HSCTLR_M:
        memtype = MemType.NORMAL if access is Access.FETCH else MemType.STRONGLY_ORDERED
        return Translation(va, access, pa=va, map_size=1 << 32, perms=RWX,
                           memtype=memtype, s1_memtype=memtype)
    steps: List[WalkStep] = []
    tsz = regs.htcr & 7
    if tsz and va >> (32 - tsz):
        return Translation(va, access, steps=steps, fault=Fault(1, FaultKind.TRANSLATION, 1))

    def fetch(addr: int, level: int) -> Union[Tuple[int, int], Fault]:
        value = read_phys(addr, 8)
        if value is None:
            return Fault(1, FaultKind.EXTERNAL, level)
        return value, addr

    level, x = stage1_start(tsz)
    leaf = walk(va, table_base(regs.httbr, x), level, 32 - tsz, 1, fetch, steps)
    if not isinstance(leaf, Leaf):
        return Translation(va, access, steps=steps, fault=leaf)
    desc = leaf.desc
    if not desc & AF:
        return Translation(va, access, steps=steps,
                           fault=Fault(1, FaultKind.ACCESS_FLAG, leaf.level))
    perms = R if desc & AP2 or leaf.table_attrs & AP_TABLE1 else RW
    if not (desc & XN or leaf.table_attrs & XN_TABLE
            or (regs.hsctlr & HSCTLR_WXN and perms & W)):
        perms |= X
    if not perms & access:
        return Translation(va, access, steps=steps,
                           fault=Fault(1, FaultKind.PERMISSION, leaf.level))
    memtype = mair_memtype(regs.hmair0, regs.hmair1, (desc >> 2) & 7)
    pa = leaf.base | (va & (leaf.size - 1))
    return Translation(va, access, pa=pa, va_base=va & ~(leaf.size - 1),
                       pa_base=leaf.base, map_size=leaf.size, perms=perms, memtype=memtype,
                       s1_memtype=memtype, steps=steps)
