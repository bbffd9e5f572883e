"""Long-descriptor (LPAE) table walk and descriptor fields (ARM ARM B3.6).

One walk loop serves the PL1&0 stage 1 with TTBCR.EAE=1, the Hyp stage 1
and stage 2: they share the descriptor format (4 KiB granule, 8-byte
descriptors, 512 entries a table) and differ only in where the walk starts,
how descriptors are fetched and how the leaf's attributes are read.
"""
from __future__ import annotations

from typing import Callable, List, NamedTuple, Tuple, Union

from .fault_status import FaultKind
from .translation import Fault, MemType, WalkStep

OA_MASK = 0xFF_FFFF_F000          # output address bits [39:12] of a descriptor
_BLOCK_MASK = (0, 0xFF_C000_0000, 0xFF_FFE0_0000, OA_MASK)  # by level
_SHIFT = (0, 30, 21, 12)          # input address bit where each level's index starts

# Block and page descriptor fields (B3.6.1).
AP1 = 1 << 6                      # stage 1 AP[1]: PL0 access
AP2 = 1 << 7                      # stage 1 AP[2]: read-only
AF = 1 << 10
NG = 1 << 11
PXN = 1 << 53
XN = 1 << 54
# Table descriptor fields (B3.6.1); all read "no effect" when 0, so they accumulate by OR.
PXN_TABLE = 1 << 59
XN_TABLE = 1 << 60
AP_TABLE0 = 1 << 61               # no PL0 access below this table
AP_TABLE1 = 1 << 62               # no write access below this table
TABLE_ATTRS = PXN_TABLE | XN_TABLE | AP_TABLE0 | AP_TABLE1

Fetch = Callable[[int, int], Union[Tuple[int, int], Fault]]
"""``fetch(desc_addr, level)`` -> ``(descriptor, pa_read)`` or the Fault of the fetch."""


class Leaf(NamedTuple):
    """The block or page descriptor a walk ended on."""

    desc: int
    level: int
    table_attrs: int  # OR of the table descriptors on the path, masked to TABLE_ATTRS
    base: int         # output address of the block or page
    size: int         # 1 GiB, 2 MiB or 4 KiB


def stage1_start(tsz: int) -> Tuple[int, int]:
    """Start level and TTBR base alignment x for a stage-1 region of 2^(32-tsz) bytes (B3.6.5)."""
    if tsz <= 1:
        return 1, 5 - tsz
    return 2, 14 - tsz


def table_base(ttbr: int, x: int) -> int:
    """BADDR[39:x] of a TTBR/HTTBR/VTTBR; bits below x are taken as zero."""
    return ttbr & 0xFF_FFFF_FFFF & ~((1 << x) - 1)


def walk(addr: int, table: int, level: int, inputsize: int, stage: int,
         fetch: Fetch, steps: List[WalkStep]) -> Union[Leaf, Fault]:
    """Walk from ``table`` at ``level`` for an input address of ``inputsize`` bits.

    The start-level index takes every input bit above the level's block size,
    which is how concatenated stage-2 root tables are indexed (B3.6.5).
    Invalid descriptors and the reserved level-3 encoding give a translation
    fault at that level (B3.6.1).
    """
    shift = _SHIFT[level]
    index = (addr >> shift) & ((1 << (inputsize - shift)) - 1)
    attrs = 0
    while True:
        desc_addr = table | (index << 3)
        got = fetch(desc_addr, level)
        if isinstance(got, Fault):
            steps.append(WalkStep(stage, level, table, desc_addr, None, None, "fault"))
            return got
        desc, pa = got
        kind = desc & 3
        if kind == 3 and level < 3:
            steps.append(WalkStep(stage, level, table, desc_addr, pa, desc, "table"))
            attrs |= desc
            table = desc & OA_MASK
            level += 1
            shift = _SHIFT[level]
            index = (addr >> shift) & 0x1FF
            continue
        if (kind == 1 and level < 3) or (kind == 3 and level == 3):
            steps.append(WalkStep(stage, level, table, desc_addr, pa, desc,
                                  "page" if level == 3 else "block"))
            return Leaf(desc, level, attrs & TABLE_ATTRS, desc & _BLOCK_MASK[level], 1 << shift)
        steps.append(WalkStep(stage, level, table, desc_addr, pa, desc, "fault"))
        return Fault(stage, FaultKind.TRANSLATION, level)


def mair_memtype(mair0: int, mair1: int, attr_index: int) -> MemType:
    """Memory type of a MAIR attribute byte (B4.1 MAIR0/MAIR1).

    0x00 is Strongly-ordered, other 0x0X values Device, anything else Normal.
    """
    mair = mair0 if attr_index < 4 else mair1
    attr = (mair >> ((attr_index & 3) * 8)) & 0xFF
    if attr == 0:
        return MemType.STRONGLY_ORDERED
    if attr < 0x10:
        return MemType.DEVICE
    return MemType.NORMAL


def s2_memtype(desc: int) -> MemType:
    """Memory type from a stage-2 MemAttr[3:0] (B3.6.2): [3:2]=00 is the Device class."""
    mem_attr = (desc >> 2) & 0xF
    if mem_attr == 0:
        return MemType.STRONGLY_ORDERED
    if mem_attr < 4:
        return MemType.DEVICE
    return MemType.NORMAL
