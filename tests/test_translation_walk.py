"""Translation walkers against hand-built tables (ARM DDI 0406C, chapter B3).

Each test writes descriptors into a small fake RAM and checks the walk's
result against what the ARM ARM section cited beside it requires.
"""
from __future__ import annotations

from typing import List, Optional

import pytest

from hypdbg.core.fault_status import FaultKind
from hypdbg.core.hyp.hyp_mmu import HypRegs, translate_hyp
from hypdbg.core.stage1 import Stage1Regs, translate_pl10
from hypdbg.core.stage2.walk import Stage2Regs, stage2_params, walk_stage2
from hypdbg.core.translation import PL, R, W, X, Access, MemType

RAM = 0x40000000
RAM_SIZE = 0x400000

SCTLR_M = 1
SCTLR_WXN = 1 << 19
SCTLR_UWXN = 1 << 20
SCTLR_TRE = 1 << 28
SCTLR_AFE = 1 << 29
TTBCR_EAE = 1 << 31
HCR_VM = 1
HCR_PTW = 1 << 2
HCR_DC = 1 << 12
HCR_TGE = 1 << 27

ALL_CLIENT = 0x55555555
GB = 1 << 30
MB2 = 1 << 21


class Mem:
    """Little-endian RAM at [RAM, RAM + RAM_SIZE); other addresses read as None (nothing there)."""

    def __init__(self) -> None:
        self.buf = bytearray(RAM_SIZE)
        self.reads: List[int] = []

    def read(self, pa: int, size: int) -> Optional[int]:
        off = pa - RAM
        if off < 0 or off + size > RAM_SIZE:
            return None
        self.reads.append(pa)
        return int.from_bytes(self.buf[off:off + size], "little")

    def w32(self, pa: int, value: int) -> None:
        self.buf[pa - RAM:pa - RAM + 4] = value.to_bytes(4, "little")

    def w64(self, pa: int, value: int) -> None:
        self.buf[pa - RAM:pa - RAM + 8] = value.to_bytes(8, "little")


# ---------------------------------------------------------------- short descriptors (B3.5.1)

def section(pa: int, ap: int = 0b011, domain: int = 0, xn: int = 0, pxn: int = 0,
            tex: int = 0, cb: int = 0b11, ng: int = 0) -> int:
    return (0b10 | pxn | (cb << 2) | (xn << 4) | (domain << 5) | ((ap & 3) << 10)
            | (tex << 12) | ((ap >> 2) << 15) | (ng << 17) | (pa & 0xFFF00000))


def supersection(pa: int, ap: int = 0b011, xn: int = 0) -> int:
    return (0b10 | (1 << 18) | (0b11 << 2) | (xn << 4) | ((ap & 3) << 10) | ((ap >> 2) << 15)
            | (pa & 0xFF000000) | (((pa >> 32) & 0xF) << 20) | (((pa >> 36) & 0xF) << 5))


def page_table(base: int, domain: int = 0, pxn: int = 0) -> int:
    return 0b01 | (pxn << 2) | (domain << 5) | (base & 0xFFFFFC00)


def small_page(pa: int, ap: int = 0b011, xn: int = 0, ng: int = 0) -> int:
    return (0b10 | xn | (0b11 << 2) | ((ap & 3) << 4) | ((ap >> 2) << 9) | (ng << 11)
            | (pa & 0xFFFFF000))


def large_page(pa: int, ap: int = 0b011, xn: int = 0) -> int:
    return 0b01 | (0b11 << 2) | ((ap & 3) << 4) | ((ap >> 2) << 9) | (xn << 15) | (pa & 0xFFFF0000)


L1 = RAM + 0x10000
L2 = RAM + 0x20000


def short_regs(**kw: int) -> Stage1Regs:
    args = dict(sctlr=SCTLR_M, ttbcr=0, ttbr0=L1, ttbr1=0, dacr=ALL_CLIENT)
    args.update(kw)
    return Stage1Regs(**args)


def l1_entry(va: int, table: int = L1) -> int:
    return table + (va >> 20) * 4


def l2_entry(va: int, table: int = L2) -> int:
    return table + ((va >> 12) & 0xFF) * 4


def pl10(mem: Mem, va: int, regs: Stage1Regs, access: Access = Access.READ, pl: PL = PL.PL1,
         s2: Optional[Stage2Regs] = None):
    return translate_pl10(va, access, pl, regs, s2, mem.read)


def test_short_section_maps_va_bits_19_0():
    # B3.5.1: a section maps VA[19:0] under PA[31:20]; the L1 index is VA[31:20] (B3.5.5).
    mem = Mem()
    mem.w32(l1_entry(0x00300000), section(0x12300000))
    t = pl10(mem, 0x00345678, short_regs())
    assert t.fault is None
    assert t.pa == 0x12345678
    assert (t.va_base, t.pa_base, t.map_size) == (0x00300000, 0x12300000, 1 << 20)
    assert [s.kind for s in t.steps] == ["section"]
    assert t.steps[0].addr == L1 + 3 * 4


def test_short_supersection_40bit_pa():
    # B3.5.1: supersection PA[31:24] at [31:24], PA[35:32] at [23:20], PA[39:36] at [8:5].
    mem = Mem()
    desc = supersection(0xA5_12000000)
    for i in range(16):
        mem.w32(l1_entry(0x01000000) + 4 * i, desc)
    t = pl10(mem, 0x01ABCDEF, short_regs())
    assert t.fault is None
    assert t.pa == 0xA5_12ABCDEF
    assert t.map_size == 1 << 24
    assert [s.kind for s in t.steps] == ["supersection"]


def test_short_supersection_is_in_domain_0():
    # B3.5.1: a supersection has no Domain field (bits [8:5] hold PA[39:36]); it is in domain 0.
    mem = Mem()
    desc = supersection(0xF_0000_0000)  # PA[39:36] = 0xF, where a section's domain would be
    for i in range(16):
        mem.w32(l1_entry(0x01000000) + 4 * i, desc)
    only_d0 = pl10(mem, 0x01000000, short_regs(dacr=0b01))
    assert only_d0.fault is None
    no_d0 = pl10(mem, 0x01000000, short_regs(dacr=ALL_CLIENT & ~0b11))
    assert no_d0.fault.kind == FaultKind.DOMAIN and no_d0.fault.domain == 0


def test_short_small_page_through_l2():
    # B3.5.1: page table descriptor base [31:10], L2 index VA[19:12]; small page PA[31:12].
    mem = Mem()
    mem.w32(l1_entry(0x00400000), page_table(L2))
    mem.w32(l2_entry(0x00405000), small_page(0x87654000))
    t = pl10(mem, 0x00405ABC, short_regs())
    assert t.fault is None
    assert t.pa == 0x87654ABC
    assert t.map_size == 0x1000
    assert [s.kind for s in t.steps] == ["table", "page"]
    assert t.steps[1].addr == L2 + 5 * 4


def test_short_large_page_keeps_va_bits_15_0():
    # B3.5.1: a large page maps VA[15:0] under PA[31:16]; its descriptor repeats 16 times.
    mem = Mem()
    mem.w32(l1_entry(0x00400000), page_table(L2))
    for i in range(16):
        mem.w32(l2_entry(0x00410000) + 4 * i, large_page(0x99990000))
    t = pl10(mem, 0x0041F123, short_regs())
    assert t.fault is None
    assert t.pa == 0x9999F123
    assert t.map_size == 0x10000


def test_short_invalid_l1_is_section_translation_fault():
    # B3.5.1: bits[1:0]=00 is a fault entry; Table B3-23: section translation fault FS 0b00101.
    mem = Mem()
    t = pl10(mem, 0x00100000, short_regs())
    assert t.fault.kind == FaultKind.TRANSLATION and t.fault.stage == 1
    assert t.fault.short_fs() == 0x05
    assert t.pa is None


def test_short_invalid_l2_is_page_translation_fault_with_domain():
    # Table B3-23: page translation fault FS 0b00111; the domain comes from the L1 descriptor.
    mem = Mem()
    mem.w32(l1_entry(0x00400000), page_table(L2, domain=7))
    t = pl10(mem, 0x00400000, short_regs())
    assert t.fault.kind == FaultKind.TRANSLATION
    assert t.fault.short_fs() == 0x07
    assert t.fault.domain == 7


def test_short_ttbcr_n_splits_between_ttbr0_and_ttbr1():
    # B3.5.4: with N=1, VA[31]=0 uses TTBR0 (table base TTBR0[31:13], 8 KiB), VA[31]=1 uses TTBR1.
    mem = Mem()
    ttbr0 = RAM + 0x12000  # 8 KiB aligned, not 16 KiB aligned
    ttbr1 = RAM + 0x18000
    mem.w32(l1_entry(0x7FF00000, ttbr0), section(0x11100000))
    mem.w32(l1_entry(0x80000000, ttbr1), section(0x22200000))
    regs = short_regs(ttbcr=1, ttbr0=ttbr0, ttbr1=ttbr1)
    assert pl10(mem, 0x7FF00004, regs).pa == 0x11100004
    assert pl10(mem, 0x80000004, regs).pa == 0x22200004


@pytest.mark.parametrize("pd_bit,va", [(1 << 4, 0x00100000), (1 << 5, 0x80100000)])
def test_short_pd0_pd1_disable_walks(pd_bit: int, va: int):
    # B4.1 TTBCR.PD0/PD1: a TLB miss in that region is a section translation fault, no walk.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000))
    mem.w32(l1_entry(0x80100000, RAM + 0x18000), section(0x80100000))
    t = pl10(mem, va, short_regs(ttbcr=1 | pd_bit, ttbr1=RAM + 0x18000))
    assert t.fault.kind == FaultKind.TRANSLATION and t.fault.short_fs() == 0x05
    assert mem.reads == []


@pytest.mark.parametrize("dacr_value", [0b00, 0b10])
def test_short_domain_no_access_and_reserved_fault(dacr_value: int):
    # B3.7.3: domain access 00 (no access) and 10 (reserved) give a domain fault;
    # Table B3-23: section domain fault 0b01001, page domain fault 0b01011.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, domain=3))
    mem.w32(l1_entry(0x00400000), page_table(L2, domain=3))
    mem.w32(l2_entry(0x00400000), small_page(0x00400000))
    regs = short_regs(dacr=ALL_CLIENT & ~(3 << 6) | (dacr_value << 6))
    sect = pl10(mem, 0x00100000, regs)
    page = pl10(mem, 0x00400000, regs)
    assert sect.fault.kind == FaultKind.DOMAIN and sect.fault.short_fs() == 0x09
    assert page.fault.kind == FaultKind.DOMAIN and page.fault.short_fs() == 0x0B
    assert sect.fault.domain == page.fault.domain == 3


def test_short_manager_domain_skips_ap_and_xn():
    # B3.7.3: Manager accesses are not checked against the AP bits; B3.7.2: nor against XN.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, ap=0b000, xn=1, domain=2))
    regs = short_regs(dacr=ALL_CLIENT | (3 << 4))
    for access in Access:
        t = pl10(mem, 0x00100000, regs, access, PL.PL0)
        assert t.fault is None
        assert t.perms == R | W | X


# Table B3-8 (B3.7.1), SCTLR.AFE=0: AP[2:0] -> (PL1 allowed, PL0 allowed) as (read, write).
AP_TABLE = {
    0b000: ((0, 0), (0, 0)),
    0b001: ((1, 1), (0, 0)),
    0b010: ((1, 1), (1, 0)),
    0b011: ((1, 1), (1, 1)),
    0b101: ((1, 0), (0, 0)),
    0b110: ((1, 0), (1, 0)),
    0b111: ((1, 0), (1, 0)),
}


@pytest.mark.parametrize("ap", sorted(AP_TABLE))
@pytest.mark.parametrize("pl", [PL.PL0, PL.PL1])
@pytest.mark.parametrize("access", [Access.READ, Access.WRITE])
def test_short_ap_permissions(ap: int, pl: PL, access: Access):
    # B3.7.1 Table B3-8; a denied access is a section permission fault, FS 0b01101 (Table B3-23).
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, ap=ap, domain=1))
    t = pl10(mem, 0x00100000, short_regs(), access, pl)
    pl1, pl0 = AP_TABLE[ap]
    allowed = (pl1 if pl == PL.PL1 else pl0)[0 if access == Access.READ else 1]
    if allowed:
        assert t.fault is None
    else:
        assert t.fault.kind == FaultKind.PERMISSION
        assert t.fault.short_fs() == 0x0D and t.fault.domain == 1


def test_short_page_permission_fault_code():
    # Table B3-23: page permission fault FS 0b01111.
    mem = Mem()
    mem.w32(l1_entry(0x00400000), page_table(L2))
    mem.w32(l2_entry(0x00400000), small_page(0x00400000, ap=0b111))
    t = pl10(mem, 0x00400000, short_regs(), Access.WRITE)
    assert t.fault.kind == FaultKind.PERMISSION and t.fault.short_fs() == 0x0F


@pytest.mark.parametrize("ap21,pl1,pl0", [
    (0b00, (1, 1), (0, 0)), (0b01, (1, 1), (1, 1)), (0b10, (1, 0), (0, 0)), (0b11, (1, 0), (1, 0)),
])
def test_short_afe_simplified_model(ap21: int, pl1, pl0):
    # B3.7.1 Table B3-9: with SCTLR.AFE=1, AP[2:1] alone gives the permissions.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, ap=(ap21 << 1) | 1))
    regs = short_regs(sctlr=SCTLR_M | SCTLR_AFE)
    for pl, expect in ((PL.PL1, pl1), (PL.PL0, pl0)):
        for access, allowed in ((Access.READ, expect[0]), (Access.WRITE, expect[1])):
            t = pl10(mem, 0x00100000, regs, access, pl)
            assert (t.fault is None) == bool(allowed), (pl, access)


def test_short_afe_access_flag_faults():
    # B3.7.4 with SCTLR.AFE=1, AP[0] is the access flag; Table B3-23: 0b00011 section, 0b00110 page.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, ap=0b010))
    mem.w32(l1_entry(0x00400000), page_table(L2))
    mem.w32(l2_entry(0x00400000), small_page(0x00400000, ap=0b010))
    regs = short_regs(sctlr=SCTLR_M | SCTLR_AFE)
    sect = pl10(mem, 0x00100000, regs)
    page = pl10(mem, 0x00400000, regs)
    assert sect.fault.kind == FaultKind.ACCESS_FLAG and sect.fault.short_fs() == 0x03
    assert page.fault.kind == FaultKind.ACCESS_FLAG and page.fault.short_fs() == 0x06


def test_short_xn_section_blocks_fetch_only():
    # B3.7.2: XN forbids instruction fetches; data accesses are unaffected.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, xn=1))
    assert pl10(mem, 0x00100000, short_regs(), Access.READ).fault is None
    t = pl10(mem, 0x00100000, short_regs(), Access.FETCH)
    assert t.fault.kind == FaultKind.PERMISSION


def test_short_xn_small_page():
    # B3.5.1: small page XN is bit 0; B3.7.2: XN forbids fetches at every level.
    mem = Mem()
    mem.w32(l1_entry(0x00400000), page_table(L2))
    mem.w32(l2_entry(0x00400000), small_page(0x00400000, xn=1))
    t = pl10(mem, 0x00400000, short_regs(), Access.FETCH, PL.PL0)
    assert t.fault.kind == FaultKind.PERMISSION and t.fault.short_fs() == 0x0F


def test_short_pxn_section_blocks_pl1_fetch_only():
    # B3.5.1: L1 bits[1:0]=0b11 is a section with PXN=1; B3.7.2: PXN forbids PL1 fetches only.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, pxn=1))
    pl1 = pl10(mem, 0x00100000, short_regs(), Access.FETCH, PL.PL1)
    assert pl1.fault.kind == FaultKind.PERMISSION
    assert pl10(mem, 0x00100000, short_regs(), Access.FETCH, PL.PL0).fault is None


def test_short_page_table_pxn_applies_to_its_pages():
    # B3.5.1: the page table descriptor's PXN (bit 2) applies to every page it maps.
    mem = Mem()
    mem.w32(l1_entry(0x00400000), page_table(L2, pxn=1))
    mem.w32(l2_entry(0x00400000), small_page(0x00400000))
    pl1 = pl10(mem, 0x00400000, short_regs(), Access.FETCH, PL.PL1)
    assert pl1.fault.kind == FaultKind.PERMISSION
    assert pl10(mem, 0x00400000, short_regs(), Access.FETCH, PL.PL0).fault is None


def test_short_wxn_and_uwxn():
    # B3.7.2: SCTLR.WXN makes writable regions XN; SCTLR.UWXN makes PL0-writable regions PXN.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, ap=0b011))  # RW at PL1 and PL0
    mem.w32(l1_entry(0x00200000), section(0x00200000, ap=0b111))  # read-only
    wxn = short_regs(sctlr=SCTLR_M | SCTLR_WXN)
    assert pl10(mem, 0x00100000, wxn, Access.FETCH).fault.kind == FaultKind.PERMISSION
    assert pl10(mem, 0x00200000, wxn, Access.FETCH).fault is None
    uwxn = short_regs(sctlr=SCTLR_M | SCTLR_UWXN)
    assert pl10(mem, 0x00100000, uwxn, Access.FETCH, PL.PL1).fault.kind == FaultKind.PERMISSION
    assert pl10(mem, 0x00100000, uwxn, Access.FETCH, PL.PL0).fault is None


def test_short_walk_outside_memory_is_external_abort_on_walk():
    # Table B3-23: synchronous external abort on translation table walk, 0b01100 L1 / 0b01110 L2.
    mem = Mem()
    t = pl10(mem, 0x00100000, short_regs(ttbr0=0x10000000))
    assert t.fault.kind == FaultKind.EXTERNAL and t.fault.short_fs() == 0x0C
    mem.w32(l1_entry(0x00400000), page_table(0x10000000, domain=5))
    t = pl10(mem, 0x00400000, short_regs())
    assert t.fault.kind == FaultKind.EXTERNAL and t.fault.short_fs() == 0x0E
    assert t.fault.domain == 5


def test_short_ng_and_asid():
    # B3.9 (global and process-specific entries): nG entries carry CONTEXTIDR.ASID, bits [7:0].
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, ng=1))
    mem.w32(l1_entry(0x00200000), section(0x00200000))
    regs = short_regs(contextidr=0x1234_5642)
    t = pl10(mem, 0x00100000, regs)
    assert t.ng and t.asid == 0x42
    assert not pl10(mem, 0x00200000, regs).ng


@pytest.mark.parametrize("tex,cb,memtype", [
    (0b000, 0b00, MemType.STRONGLY_ORDERED), (0b000, 0b01, MemType.DEVICE),
    (0b000, 0b11, MemType.NORMAL), (0b001, 0b00, MemType.NORMAL), (0b010, 0b00, MemType.DEVICE),
    (0b101, 0b01, MemType.NORMAL),
])
def test_short_tex_c_b_memory_type(tex: int, cb: int, memtype: MemType):
    # B3.8 (short descriptor, no TEX remap): TEX[2:0], C, B encodings.
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, tex=tex, cb=cb))
    assert pl10(mem, 0x00100000, short_regs()).memtype == memtype


def test_short_tex_remap_reads_prrr():
    # B3.8 (TEX remap): with SCTLR.TRE=1, TEX[0]:C:B indexes PRRR.TRn (00 SO, 01 Device, 10 Normal).
    mem = Mem()
    mem.w32(l1_entry(0x00100000), section(0x00100000, tex=0b001, cb=0b10))  # n = 6
    prrr = 0b01 << 12
    regs = short_regs(sctlr=SCTLR_M | SCTLR_TRE, mair0=prrr)
    assert pl10(mem, 0x00100000, regs).memtype == MemType.DEVICE


def test_stage1_off_is_flat():
    # B3.2.1: with SCTLR.M=0 VA=PA; data accesses are Strongly-ordered, fetches Normal.
    mem = Mem()
    regs = Stage1Regs(sctlr=0)
    t = pl10(mem, 0x12345678, regs, Access.WRITE, PL.PL0)
    assert t.fault is None and t.pa == 0x12345678
    assert t.memtype == MemType.STRONGLY_ORDERED
    assert pl10(mem, 0x12345678, regs, Access.FETCH).memtype == MemType.NORMAL
    assert mem.reads == []


@pytest.mark.parametrize("hcr_bit", [HCR_DC, HCR_TGE])
def test_hcr_dc_and_tge_disable_stage1(hcr_bit: int):
    # B4.1 HCR (DC, TGE): the NS PL1&0 stage 1 MMU behaves as disabled.
    mem = Mem()
    s2 = Stage2Regs(vtcr=0, vttbr=0, hcr=hcr_bit)
    t = pl10(mem, 0x00100000, short_regs(), s2=s2)
    assert t.fault is None and t.pa == 0x00100000
    assert mem.reads == []


def test_hcr_dc_memory_is_normal():
    # B4.1 HCR.DC: stage 1 is treated as off with Normal memory for data.
    t = pl10(Mem(), 0x1000, short_regs(), s2=Stage2Regs(vtcr=0, vttbr=0, hcr=HCR_DC))
    assert t.memtype == MemType.NORMAL


# ---------------------------------------------------------------- long descriptors (B3.6.1)

def lpae_table(base: int, ap_table: int = 0, xn_table: int = 0, pxn_table: int = 0) -> int:
    return 0b11 | (base & 0xFF_FFFF_F000) | (pxn_table << 59) | (xn_table << 60) | (ap_table << 61)


def lpae_block(pa: int, ap: int = 0b00, af: int = 1, xn: int = 0, pxn: int = 0, attr: int = 0,
               ng: int = 0) -> int:
    return (0b01 | (attr << 2) | (ap << 6) | (af << 10) | (ng << 11) | (pa & 0xFF_FFFF_F000)
            | (pxn << 53) | (xn << 54))


def lpae_page(pa: int, **kw: int) -> int:
    return lpae_block(pa, **kw) | 0b10


LL1 = RAM + 0x10000
LL2 = RAM + 0x20000
LL3 = RAM + 0x21000


def long_regs(**kw: int) -> Stage1Regs:
    args = dict(sctlr=SCTLR_M, ttbcr=TTBCR_EAE, ttbr0=LL1, mair0=0xFF)
    args.update(kw)
    return Stage1Regs(**args)


def test_long_1g_block_at_level1():
    # B3.6.1: a level-1 block maps 1 GiB, OA[39:30]; T0SZ=0 starts at level 1, index VA[31:30].
    mem = Mem()
    mem.w64(LL1 + 2 * 8, lpae_block(0x01_4000_0000))
    t = pl10(mem, 0x9234_5678, long_regs())
    assert t.fault is None
    assert t.pa == 0x01_5234_5678
    assert t.map_size == GB
    assert [s.kind for s in t.steps] == ["block"]


def test_long_2m_block_and_4k_page():
    # B3.6.1: level-2 blocks map 2 MiB (OA[39:21]); level-3 pages 4 KiB (OA[39:12]).
    mem = Mem()
    mem.w64(LL1 + 0 * 8, lpae_table(LL2))
    mem.w64(LL2 + 3 * 8, lpae_block(0x8000_0000))           # VA 0x00600000
    mem.w64(LL2 + 4 * 8, lpae_table(LL3))                   # VA 0x00800000
    mem.w64(LL3 + 5 * 8, lpae_page(0x7_1234_5000))
    block = pl10(mem, 0x0061_2345, long_regs())
    assert block.pa == 0x8001_2345 and block.map_size == MB2
    assert [s.kind for s in block.steps] == ["table", "block"]
    page = pl10(mem, 0x0080_5ABC, long_regs())
    assert page.pa == 0x7_1234_5ABC and page.map_size == 0x1000
    assert [s.kind for s in page.steps] == ["table", "table", "page"]
    assert [s.level for s in page.steps] == [1, 2, 3]


def test_long_invalid_descriptor_translation_fault_level():
    # B3.6.1: bit 0 = 0 is invalid; Table B3-24: translation fault 0b0001LL.
    mem = Mem()
    mem.w64(LL1, lpae_table(LL2))
    t1 = pl10(mem, 0x4000_0000, long_regs())
    t2 = pl10(mem, 0x0000_0000, long_regs())
    assert t1.fault.kind == FaultKind.TRANSLATION and t1.fault.long_fsc() == 0x05
    assert t2.fault.kind == FaultKind.TRANSLATION and t2.fault.long_fsc() == 0x06


def test_long_level3_reserved_encoding_is_translation_fault():
    # B3.6.1: at level 3, bits[1:0]=0b01 is reserved and gives a translation fault.
    mem = Mem()
    mem.w64(LL1, lpae_table(LL2))
    mem.w64(LL2, lpae_table(LL3))
    mem.w64(LL3, lpae_block(0x1000))
    t = pl10(mem, 0x0000_0000, long_regs())
    assert t.fault.kind == FaultKind.TRANSLATION and t.fault.level == 3
    assert t.fault.long_fsc() == 0x07


def test_long_ttbr0_ttbr1_split():
    # B3.6.4: TTBR0 covers [0, 2^(32-T0SZ)), TTBR1 [2^32 - 2^(32-T1SZ), 2^32); between is a fault.
    # T0SZ=T1SZ=2: each region is 1 GiB and starts at level 2 (B3.6.5), index VA[29:21].
    mem = Mem()
    ttbr0, ttbr1 = RAM + 0x30000, RAM + 0x31000
    mem.w64(ttbr0 + 1 * 8, lpae_block(0x1000_0000))
    mem.w64(ttbr1 + 511 * 8, lpae_block(0x2000_0000))
    regs = long_regs(ttbcr=TTBCR_EAE | 2 | (2 << 16), ttbr0=ttbr0, ttbr1=ttbr1)
    assert pl10(mem, 0x0020_0010, regs).pa == 0x1000_0010
    assert pl10(mem, 0xFFE0_0010, regs).pa == 0x2000_0010
    gap = pl10(mem, 0x8000_0000, regs)
    assert gap.fault.kind == FaultKind.TRANSLATION and gap.steps == []


def test_long_t1sz_zero_gives_ttbr1_the_rest():
    # B3.6.4: with T0SZ>0 and T1SZ=0, TTBR1 translates every address above the TTBR0 region.
    mem = Mem()
    ttbr1 = RAM + 0x30000
    mem.w64(ttbr1 + 2 * 8, lpae_block(0x3_0000_0000))
    regs = long_regs(ttbcr=TTBCR_EAE | 1, ttbr1=ttbr1)
    assert pl10(mem, 0x8000_1000, regs).pa == 0x3_0000_1000


@pytest.mark.parametrize("epd,va", [(1 << 7, 0x0000_1000), (1 << 23, 0xC000_1000)])
def test_long_epd_disables_walk(epd: int, va: int):
    # B4.1 TTBCR.EPD0/EPD1: a TLB miss in that region is a translation fault, no walk.
    mem = Mem()
    mem.w64(LL1, lpae_block(0))
    mem.w64(RAM + 0x30000 + 8, lpae_block(0))
    regs = long_regs(ttbcr=TTBCR_EAE | 1 | (1 << 16) | epd, ttbr1=RAM + 0x30000)
    t = pl10(mem, va, regs)
    assert t.fault.kind == FaultKind.TRANSLATION
    assert mem.reads == []


def test_long_access_flag_fault():
    # B3.7.4 / B3.6.1: AF=0 gives an access flag fault; Table B3-24: 0b0010LL.
    mem = Mem()
    mem.w64(LL1, lpae_table(LL2))
    mem.w64(LL2, lpae_block(0x1000_0000, af=0))
    t = pl10(mem, 0x10, long_regs())
    assert t.fault.kind == FaultKind.ACCESS_FLAG and t.fault.long_fsc() == 0x0A


# B3.7.1 Table B3-9: AP[2:1] -> (PL1 read, PL1 write), (PL0 read, PL0 write).
AP21_TABLE = {
    0b00: ((1, 1), (0, 0)),
    0b01: ((1, 1), (1, 1)),
    0b10: ((1, 0), (0, 0)),
    0b11: ((1, 0), (1, 0)),
}


@pytest.mark.parametrize("ap", sorted(AP21_TABLE))
@pytest.mark.parametrize("pl", [PL.PL0, PL.PL1])
@pytest.mark.parametrize("access", [Access.READ, Access.WRITE])
def test_long_ap_permissions(ap: int, pl: PL, access: Access):
    # B3.7.1 Table B3-9; a denied access is a permission fault, 0b0011LL (Table B3-24).
    mem = Mem()
    mem.w64(LL1, lpae_block(0, ap=ap))
    t = pl10(mem, 0x1000, long_regs(), access, pl)
    pl1, pl0 = AP21_TABLE[ap]
    allowed = (pl1 if pl == PL.PL1 else pl0)[0 if access == Access.READ else 1]
    if allowed:
        assert t.fault is None
    else:
        assert t.fault.kind == FaultKind.PERMISSION and t.fault.long_fsc() == 0x0D


def test_long_aptable_limits_lower_levels():
    # B3.6.2 hierarchical permissions: APTable 01 forbids PL0, 10 forbids writes, below the table.
    mem = Mem()
    mem.w64(LL1 + 0 * 8, lpae_table(LL2, ap_table=0b01))
    mem.w64(LL1 + 1 * 8, lpae_table(LL3, ap_table=0b10))
    mem.w64(LL2, lpae_block(0, ap=0b01))
    mem.w64(LL3, lpae_block(0, ap=0b01))
    regs = long_regs()
    assert pl10(mem, 0x0, regs, Access.WRITE, PL.PL1).fault is None
    assert pl10(mem, 0x0, regs, Access.READ, PL.PL0).fault.kind == FaultKind.PERMISSION
    assert pl10(mem, 0x4000_0000, regs, Access.READ, PL.PL0).fault is None
    assert pl10(mem, 0x4000_0000, regs, Access.WRITE, PL.PL1).fault.kind == FaultKind.PERMISSION
    assert pl10(mem, 0x4000_0000, regs, Access.WRITE, PL.PL0).fault.kind == FaultKind.PERMISSION


def test_long_xn_pxn_and_table_variants():
    # B3.6.1/B3.6.2: XN and XNTable forbid all fetches; PXN and PXNTable forbid PL1 fetches.
    mem = Mem()
    mem.w64(LL1 + 0 * 8, lpae_block(0x0000_0000, ap=0b01, xn=1))
    mem.w64(LL1 + 1 * 8, lpae_block(0x4000_0000, ap=0b01, pxn=1))
    mem.w64(LL1 + 2 * 8, lpae_table(LL2, xn_table=1))
    mem.w64(LL1 + 3 * 8, lpae_table(LL3, pxn_table=1))
    mem.w64(LL2, lpae_block(0, ap=0b01))
    mem.w64(LL3, lpae_block(0, ap=0b01))
    regs = long_regs()

    def fetch_ok(va: int, pl: PL) -> bool:
        return pl10(mem, va, regs, Access.FETCH, pl).fault is None

    assert (fetch_ok(0x0000_0000, PL.PL1), fetch_ok(0x0000_0000, PL.PL0)) == (False, False)
    assert (fetch_ok(0x4000_0000, PL.PL1), fetch_ok(0x4000_0000, PL.PL0)) == (False, True)
    assert (fetch_ok(0x8000_0000, PL.PL1), fetch_ok(0x8000_0000, PL.PL0)) == (False, False)
    assert (fetch_ok(0xC000_0000, PL.PL1), fetch_ok(0xC000_0000, PL.PL0)) == (False, True)


def test_long_perms_report_rwx_for_one_fill():
    # B3.7.1/B3.7.2: AP[2:1]=01 without XN grants read, write and execute at PL1 and PL0.
    mem = Mem()
    mem.w64(LL1, lpae_block(0, ap=0b01))
    assert pl10(mem, 0x10, long_regs(), Access.READ, PL.PL0).perms == R | W | X
    mem.w64(LL1, lpae_block(0, ap=0b11))
    assert pl10(mem, 0x10, long_regs(), Access.READ, PL.PL0).perms == R | X


def test_long_asid_from_ttbr_selected_by_a1():
    # B4.1 TTBCR.A1 selects whether TTBR0 or TTBR1 holds the current ASID (bits [55:48]).
    mem = Mem()
    mem.w64(LL1, lpae_block(0, ng=1))
    ttbr0 = LL1 | (0x11 << 48)
    ttbr1 = RAM + 0x30000 | (0x22 << 48)
    t = pl10(mem, 0x10, long_regs(ttbr0=ttbr0, ttbr1=ttbr1))
    assert t.ng and t.asid == 0x11
    t = pl10(mem, 0x10, long_regs(ttbcr=TTBCR_EAE | (1 << 22), ttbr0=ttbr0, ttbr1=ttbr1))
    assert t.asid == 0x22


@pytest.mark.parametrize("attr,memtype", [
    (0x00, MemType.STRONGLY_ORDERED), (0x04, MemType.DEVICE), (0x44, MemType.NORMAL),
    (0xFF, MemType.NORMAL),
])
def test_long_mair_memory_type(attr: int, memtype: MemType):
    # B4.1 MAIR0/MAIR1: Attr 0x00 Strongly-ordered, 0x04 Device, else Normal; AttrIndx 5 in MAIR1.
    mem = Mem()
    mem.w64(LL1, lpae_block(0, attr=5))
    assert pl10(mem, 0, long_regs(mair1=attr << 8)).memtype == memtype


def test_long_walk_outside_memory_is_external_abort_level():
    # Table B3-24: synchronous external abort on translation table walk, 0b0101LL.
    mem = Mem()
    mem.w64(LL1, lpae_table(0x1000_0000))
    t = pl10(mem, 0x0, long_regs())
    assert t.fault.kind == FaultKind.EXTERNAL and t.fault.level == 2
    assert t.fault.long_fsc() == 0x16


# ---------------------------------------------------------------- Hyp stage 1 (B3.6)

HL1 = RAM + 0x40000
HL2 = RAM + 0x41000


def hyp_regs(**kw: int) -> HypRegs:
    args = dict(hsctlr=SCTLR_M, htcr=0, httbr=HL1, hmair0=0xFF)
    args.update(kw)
    return HypRegs(**args)


def test_hyp_mmu_off_is_flat():
    # B3.2.1: with HSCTLR.M=0 the Hyp VA is the PA.
    mem = Mem()
    t = translate_hyp(0xC001_0000, Access.WRITE, HypRegs(hsctlr=0), mem.read)
    assert t.fault is None and t.pa == 0xC001_0000 and t.perms == R | W | X
    assert mem.reads == []


def test_hyp_block_and_page():
    # B3.6.1 through HTTBR with HTCR.T0SZ=0: level-1 start, 1 GiB blocks, tables below.
    mem = Mem()
    mem.w64(HL1 + 1 * 8, lpae_block(0x4000_0000))
    mem.w64(HL1 + 3 * 8, lpae_table(HL2))
    mem.w64(HL2 + 511 * 8, lpae_block(0x1_0000_0000))
    t = translate_hyp(0x4123_4567, Access.READ, hyp_regs(), mem.read)
    assert t.pa == 0x4123_4567 and t.map_size == GB
    t = translate_hyp(0xFFF0_0004, Access.READ, hyp_regs(), mem.read)
    assert t.pa == 0x1_0010_0004 and t.map_size == MB2


def test_hyp_t0sz_limits_input_range():
    # B4.1 HTCR.T0SZ: the Hyp region is [0, 2^(32-T0SZ)); beyond it is a translation fault.
    mem = Mem()
    regs = hyp_regs(htcr=1)
    mem.w64(HL1 + 8, lpae_block(0x4000_0000))
    assert translate_hyp(0x7FFF_FFFC, Access.READ, regs, mem.read).fault is None
    t = translate_hyp(0x8000_0000, Access.READ, regs, mem.read)
    assert t.fault.kind == FaultKind.TRANSLATION and t.fault.stage == 1


def test_hyp_ap2_read_only():
    # B3.7.1: in Hyp only AP[2] counts: 1 is read-only, 0 read/write.
    mem = Mem()
    mem.w64(HL1, lpae_block(0, ap=0b11))
    mem.w64(HL1 + 8, lpae_block(0x4000_0000, ap=0b01))
    ro = translate_hyp(0x10, Access.WRITE, hyp_regs(), mem.read)
    assert ro.fault.kind == FaultKind.PERMISSION and ro.fault.long_fsc() == 0x0D
    assert translate_hyp(0x10, Access.READ, hyp_regs(), mem.read).fault is None
    assert translate_hyp(0x4000_0010, Access.WRITE, hyp_regs(), mem.read).fault is None


def test_hyp_xn_and_wxn():
    # B3.7.2: XN forbids Hyp fetches; HSCTLR.WXN makes writable regions execute-never.
    mem = Mem()
    mem.w64(HL1, lpae_block(0, ap=0b01, xn=1))
    mem.w64(HL1 + 8, lpae_block(0x4000_0000, ap=0b01))
    mem.w64(HL1 + 16, lpae_block(0x8000_0000, ap=0b11))
    assert translate_hyp(0x0, Access.FETCH, hyp_regs(), mem.read).fault.kind == FaultKind.PERMISSION
    assert translate_hyp(0x4000_0000, Access.FETCH, hyp_regs(), mem.read).fault is None
    wxn = hyp_regs(hsctlr=SCTLR_M | SCTLR_WXN)
    wxn_rw = translate_hyp(0x4000_0000, Access.FETCH, wxn, mem.read)
    assert wxn_rw.fault.kind == FaultKind.PERMISSION
    assert translate_hyp(0x8000_0000, Access.FETCH, wxn, mem.read).fault is None


def test_hyp_table_attributes():
    # B3.6.2: APTable[1] makes the region below read-only; XNTable makes it execute-never.
    mem = Mem()
    mem.w64(HL1, lpae_table(HL2, ap_table=0b10, xn_table=1))
    mem.w64(HL2, lpae_block(0, ap=0b01))
    t = translate_hyp(0x10, Access.READ, hyp_regs(), mem.read)
    assert t.fault is None and t.perms == R
    w = translate_hyp(0x10, Access.WRITE, hyp_regs(), mem.read)
    assert w.fault.kind == FaultKind.PERMISSION


def test_hyp_access_flag():
    # B3.6.1: AF=0 gives an access flag fault at the block's level.
    mem = Mem()
    mem.w64(HL1, lpae_block(0, af=0))
    t = translate_hyp(0x10, Access.READ, hyp_regs(), mem.read)
    assert t.fault.kind == FaultKind.ACCESS_FLAG and t.fault.level == 1


# ---------------------------------------------------------------- stage 2 (B3.6)

def s2_block(pa: int, hap: int = 0b11, af: int = 1, xn: int = 0, memattr: int = 0xF) -> int:
    return 0b01 | (memattr << 2) | (hap << 6) | (af << 10) | (pa & 0xFF_FFFF_F000) | (xn << 54)


def s2_page(pa: int, **kw: int) -> int:
    return s2_block(pa, **kw) | 0b10


S2ROOT = RAM + 0x200000       # 16 KiB aligned (room for a 4-table concatenation)
S2L2 = RAM + 0x210000
S2L3 = RAM + 0x211000
VTCR_L1_32 = 0b01 << 6        # T0SZ=0, SL0=01: 32-bit IPA, start level 1
VTCR_L2_32 = 0b00 << 6        # T0SZ=0, SL0=00: 32-bit IPA, start level 2


def s2_regs(vtcr: int = VTCR_L1_32, vttbr: int = S2ROOT, hcr: int = HCR_VM) -> Stage2Regs:
    return Stage2Regs(vtcr=vtcr, vttbr=vttbr, hcr=hcr)


def test_s2_params_root_geometry():
    # B3.6.5: start level 1 aligns VTTBR to x = 5 - T0SZ, start level 2 to x = 14 - T0SZ.
    assert stage2_params(VTCR_L1_32) == (32, 1, 5)
    assert stage2_params(VTCR_L2_32) == (32, 2, 14)
    assert stage2_params(0b01 << 6 | 0b1_1000) == (40, 1, 13)


def test_s2_level1_start_four_entries():
    # B3.6.5: T0SZ=0, SL0=01: the level-1 root has 4 entries indexed by IPA[31:30].
    mem = Mem()
    mem.w64(S2ROOT + 3 * 8, s2_block(0x2_0000_0000))
    t = walk_stage2(0xC123_4567, Access.READ, s2_regs(), mem.read)
    assert t.fault is None and t.pa == 0x2_0123_4567 and t.map_size == GB
    assert t.steps[0].addr == S2ROOT + 24 and t.steps[0].stage == 2


def test_s2_concatenated_level2_root():
    # B3.6.5: T0SZ=0, SL0=00 starts at level 2 with 2048 entries: 4 concatenated tables,
    # indexed by IPA[31:21]; VTTBR.BADDR is aligned to 16 KiB.
    mem = Mem()
    mem.w64(S2ROOT + 0x601 * 8, s2_block(0x1_2340_0000))
    t = walk_stage2(0xC020_1234, Access.READ, s2_regs(vtcr=VTCR_L2_32), mem.read)
    assert t.fault is None and t.pa == 0x1_2340_1234 and t.map_size == MB2
    assert t.steps[0].addr == S2ROOT + 0x601 * 8


def test_s2_40bit_ipa():
    # B3.6.5: T0SZ=-8 (0b1000), SL0=01: 40-bit IPA, 1024 level-1 entries indexed by IPA[39:30].
    mem = Mem()
    mem.w64(S2ROOT + 1020 * 8, s2_block(0x4000_0000))
    regs = s2_regs(vtcr=0b01 << 6 | 0b1_1000)
    t = walk_stage2(0xFF_0000_0ABC, Access.READ, regs, mem.read)
    assert t.fault is None and t.pa == 0x4000_0ABC


def test_s2_level3_page():
    # B3.6.1: table at level 1 and 2, 4 KiB page at level 3.
    mem = Mem()
    mem.w64(S2ROOT + 1 * 8, lpae_table(S2L2))
    mem.w64(S2L2 + 2 * 8, lpae_table(S2L3))
    mem.w64(S2L3 + 3 * 8, s2_page(0x5555_5000))
    t = walk_stage2(0x4040_3123, Access.READ, s2_regs(), mem.read)
    assert t.pa == 0x5555_5123 and t.map_size == 0x1000
    assert [(s.level, s.kind) for s in t.steps] == [(1, "table"), (2, "table"), (3, "page")]


# B3.7.1 (stage 2 access permissions): HAP[2:1] 00 none, 01 read-only, 10 write-only, 11 read/write.
@pytest.mark.parametrize("hap,read_ok,write_ok", [
    (0b00, False, False), (0b01, True, False), (0b10, False, True), (0b11, True, True),
])
def test_s2_hap(hap: int, read_ok: bool, write_ok: bool):
    mem = Mem()
    mem.w64(S2ROOT, s2_block(0, hap=hap))
    for access, ok in ((Access.READ, read_ok), (Access.WRITE, write_ok)):
        t = walk_stage2(0x1000, access, s2_regs(), mem.read)
        if ok:
            assert t.fault is None
        else:
            assert t.fault.kind == FaultKind.PERMISSION and t.fault.stage == 2
            assert t.fault.long_fsc() == 0x0D and t.fault.ipa == 0x1000


def test_s2_xn():
    # B3.6.1 stage-2 XN (bit 54): instruction fetches from the region fault at stage 2.
    mem = Mem()
    mem.w64(S2ROOT, s2_block(0, hap=0b01, xn=1))
    mem.w64(S2ROOT + 8, s2_block(0x4000_0000, hap=0b01))
    assert walk_stage2(0x0, Access.FETCH, s2_regs(), mem.read).fault.kind == FaultKind.PERMISSION
    assert walk_stage2(0x4000_0000, Access.FETCH, s2_regs(), mem.read).fault is None


def test_s2_access_flag():
    # B3.6.1: AF=0 gives a stage-2 access flag fault; Table B3-24: 0b0010LL.
    mem = Mem()
    mem.w64(S2ROOT + 8, lpae_table(S2L2))
    mem.w64(S2L2, s2_block(0, af=0))
    t = walk_stage2(0x4000_0000, Access.READ, s2_regs(), mem.read)
    assert t.fault.kind == FaultKind.ACCESS_FLAG and t.fault.long_fsc() == 0x0A


def test_s2_ipa_beyond_range_faults():
    # B3.6.5: an IPA above 2^(32-T0SZ) is a stage-2 translation fault (T0SZ=7: 25-bit IPA).
    mem = Mem()
    for i in range(16):
        mem.w64(S2ROOT + 8 * i, s2_block(i << 21))
    regs = s2_regs(vtcr=7)
    assert walk_stage2(0x01FF_FFFF, Access.READ, regs, mem.read).fault is None
    t = walk_stage2(0x0200_0000, Access.READ, regs, mem.read)
    assert t.fault.kind == FaultKind.TRANSLATION and t.fault.stage == 2


@pytest.mark.parametrize("vtcr", [0b01 << 6 | 2, 0b00 << 6 | 0b1_1101, 0b10 << 6, 0b11 << 6])
def test_s2_illegal_start_level_faults(vtcr: int):
    # B3.6.5: SL0=01 needs T0SZ <= 1, SL0=00 needs T0SZ >= -2 (at most 16 concatenated tables);
    # SL0=1x is reserved. Any other combination gives a stage-2 translation fault.
    mem = Mem()
    mem.w64(S2ROOT, s2_block(0))
    t = walk_stage2(0x0, Access.READ, s2_regs(vtcr=vtcr), mem.read)
    assert t.fault.kind == FaultKind.TRANSLATION and t.fault.stage == 2


def test_s2_walk_outside_memory():
    # Table B3-24: stage-2 synchronous external abort on the walk, 0b0101LL.
    t = walk_stage2(0x0, Access.READ, s2_regs(vttbr=0x1000_0000), Mem().read)
    assert t.fault.kind == FaultKind.EXTERNAL and t.fault.stage == 2
    assert t.fault.long_fsc() == 0x15


def test_s2_vmid():
    # B4.1 VTTBR.VMID is bits [55:48].
    mem = Mem()
    mem.w64(S2ROOT, s2_block(0))
    assert walk_stage2(0, Access.READ, s2_regs(vttbr=S2ROOT | (0x7 << 48)), mem.read).vmid == 7


# ---------------------------------------------------------------- stage 1 under stage 2

def guest_with_s2(mem: Mem) -> None:
    """Stage 2 maps IPA [0, 1 GiB) to PA [RAM, RAM + 1 GiB); the rest faults."""
    mem.w64(S2ROOT + 0 * 8, s2_block(RAM))


GL1 = 0x10000  # IPA of the guest's short-format L1 table (PA RAM + 0x10000)


def test_stage1_descriptors_are_read_through_stage2():
    # B3.6 (two stages): stage-1 table addresses are IPAs, translated by stage 2 before the read.
    mem = Mem()
    guest_with_s2(mem)
    mem.w32(RAM + GL1 + 1 * 4, section(0x00300000))
    t = pl10(mem, 0x0010_0044, short_regs(ttbr0=GL1), s2=s2_regs())
    assert t.fault is None
    assert t.ipa == 0x0030_0044 and t.pa == RAM + 0x0030_0044
    s1_step = next(s for s in t.steps if s.stage == 1)
    assert (s1_step.addr, s1_step.pa) == (GL1 + 4, RAM + GL1 + 4)
    assert [s.stage for s in t.steps] == [2, 1, 2]


def test_s1ptw_fault_reports_descriptor_ipa():
    # B3.13.5: a stage-2 fault on a stage-1 table walk sets S1PTW and reports the descriptor IPA.
    mem = Mem()
    guest_with_s2(mem)
    t = pl10(mem, 0x0020_0000, short_regs(ttbr0=0x8000_4000), s2=s2_regs())
    assert t.fault.stage == 2 and t.fault.s1ptw
    assert t.fault.kind == FaultKind.TRANSLATION and t.fault.level == 1
    assert t.fault.ipa == 0x8000_4000 + 2 * 4


def test_final_ipa_stage2_fault():
    # B3.12: an IPA with no stage-2 mapping is a stage-2 translation fault, S1PTW=0.
    mem = Mem()
    guest_with_s2(mem)
    mem.w32(RAM + GL1 + 1 * 4, section(0x8010_0000))
    t = pl10(mem, 0x0012_3456, short_regs(ttbr0=GL1), Access.WRITE, s2=s2_regs())
    assert t.fault.stage == 2 and not t.fault.s1ptw
    assert t.fault.ipa == 0x8012_3456 and t.ipa == 0x8012_3456


def test_stage1_fault_wins_over_stage2():
    # B3.12 (prioritization of aborts): stage 1 faults before its output IPA reaches stage 2.
    mem = Mem()
    guest_with_s2(mem)
    mem.w32(RAM + GL1 + 1 * 4, section(0x8010_0000, ap=0b111))
    t = pl10(mem, 0x0010_0000, short_regs(ttbr0=GL1), Access.WRITE, s2=s2_regs())
    assert t.fault.stage == 1 and t.fault.kind == FaultKind.PERMISSION


def test_both_stages_must_permit():
    # B3.7.1: an access must be permitted by stage 1 and stage 2; perms are the intersection.
    mem = Mem()
    mem.w64(S2ROOT, s2_block(RAM, hap=0b01))
    mem.w32(RAM + GL1 + 1 * 4, section(0x00100000, ap=0b011))
    regs = short_regs(ttbr0=GL1)
    t = pl10(mem, 0x0010_0000, regs, s2=s2_regs())
    assert t.fault is None and t.perms == R | X
    w = pl10(mem, 0x0010_0000, regs, Access.WRITE, s2=s2_regs())
    assert w.fault.stage == 2 and w.fault.kind == FaultKind.PERMISSION and not w.fault.s1ptw


def test_combined_mapping_is_smallest_block():
    # B3.6: the combined translation is linear over the smaller of the two stages' blocks.
    mem = Mem()
    mem.w64(S2ROOT, lpae_table(S2L2))
    mem.w64(S2L2, s2_block(RAM))                        # IPA [0, 2 MiB) -> RAM, 2 MiB block
    mem.w64(S2L2 + 8, lpae_table(S2L3))                 # IPA [2 MiB, 4 MiB) by pages
    mem.w64(S2L3 + 0x10 * 8, s2_page(RAM + 0x7000))     # IPA 0x210000 -> RAM + 0x7000
    mem.w32(RAM + GL1 + 1 * 4, section(0x00100000))     # VA 1 MiB section -> IPA 1 MiB
    mem.w32(RAM + GL1 + 2 * 4, section(0x00200000))     # VA 2 MiB section -> IPA 2 MiB
    regs = short_regs(ttbr0=GL1)
    a = pl10(mem, 0x0012_3456, regs, s2=s2_regs())
    assert a.pa == RAM + 0x12_3456 and a.map_size == 1 << 20 and a.pa_base == RAM + 0x10_0000
    b = pl10(mem, 0x0021_0ABC, regs, s2=s2_regs())
    assert b.pa == RAM + 0x7ABC and b.map_size == 0x1000 and b.va_base == 0x0021_0000


def test_memory_type_stricter_stage_wins():
    # B3.8 combining stages: Normal at stage 1 with Device at stage 2 is Device.
    mem = Mem()
    mem.w64(S2ROOT, s2_block(RAM, memattr=0b0001))
    mem.w32(RAM + GL1 + 1 * 4, section(0x00100000))
    t = pl10(mem, 0x0010_0000, short_regs(ttbr0=GL1), s2=s2_regs())
    assert t.s1_memtype == MemType.NORMAL and t.s2_memtype == MemType.DEVICE
    assert t.memtype == MemType.DEVICE


def test_hcr_ptw_device_table_is_stage2_permission_fault():
    # B4.1 HCR.PTW: a stage-1 walk into stage-2 Device memory is a stage-2 permission fault.
    mem = Mem()
    mem.w64(S2ROOT, s2_block(RAM, memattr=0b0001))
    mem.w32(RAM + GL1 + 1 * 4, section(0x00100000))
    t = pl10(mem, 0x0010_0000, short_regs(ttbr0=GL1), s2=s2_regs(hcr=HCR_VM | HCR_PTW))
    assert t.fault.stage == 2 and t.fault.s1ptw and t.fault.kind == FaultKind.PERMISSION
    assert pl10(mem, 0x0010_0000, short_regs(ttbr0=GL1), s2=s2_regs()).fault is None


def test_stage2_off_when_hcr_vm_clear():
    # B4.1 HCR.VM=0: stage 2 is off, the IPA is the PA.
    mem = Mem()
    mem.w32(L1 + 4, section(0x00100000))
    t = pl10(mem, 0x0010_0000, short_regs(), s2=s2_regs(hcr=0))
    assert t.fault is None and t.pa == 0x0010_0000 and t.vmid is None


def test_stage1_off_under_stage2():
    # B3.2.1 / B3.6: with stage 1 off the VA is the IPA, still translated by stage 2.
    mem = Mem()
    guest_with_s2(mem)
    t = pl10(mem, 0x0000_1234, Stage1Regs(sctlr=0), s2=s2_regs())
    assert t.ipa == 0x1234 and t.pa == RAM + 0x1234
    assert pl10(mem, 0x8000_0000, Stage1Regs(sctlr=0), s2=s2_regs()).fault.stage == 2


def test_lpae_stage1_under_stage2_walks_each_level_through_stage2():
    # B3.6: every stage-1 descriptor fetch is an IPA access translated by stage 2.
    mem = Mem()
    guest_with_s2(mem)
    gl1, gl2 = 0x10000, 0x20000
    mem.w64(RAM + gl1, lpae_table(gl2))
    mem.w64(RAM + gl2 + 1 * 8, lpae_block(0x0040_0000))
    regs = long_regs(ttbr0=gl1)
    t = pl10(mem, 0x0020_0010, regs, s2=s2_regs())
    assert t.pa == RAM + 0x40_0010
    assert [(s.stage, s.kind) for s in t.steps] == [
        (2, "block"), (1, "table"), (2, "block"), (1, "block"), (2, "block")]
