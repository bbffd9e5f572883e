"""GICv2 virtualization extensions (GICH, GICV) against ARM IHI 0048B chapter 5."""
from __future__ import annotations

import pytest

from hypdbg.core.gic import SPURIOUS, GicCpuInterface, GicDistributor, GicState
from hypdbg.core.vgic import (MAINTENANCE_PPI, GicHypInterface, GicVirtualCpuInterface,
                              VirtualInterface)

# GICH offsets
HCR, VTR, VMCR, MISR, EISR0, EISR1, ELRSR0, ELRSR1, APR, LR0 = (
    0x00, 0x04, 0x08, 0x10, 0x20, 0x24, 0x30, 0x34, 0xF0, 0x100)
HCR_EN, HCR_UIE, HCR_LRENPIE, HCR_NPIE = 1, 2, 4, 8
MISR_EOI, MISR_U, MISR_LRENP, MISR_NP = 1, 2, 4, 8
# GICV offsets (GICC layout)
V_CTLR, V_PMR, V_IAR, V_EOIR, V_RPR, V_HPPIR, V_APR0, V_DIR = (
    0x00, 0x04, 0x0C, 0x10, 0x14, 0x18, 0xD0, 0x1000)

PENDING, ACTIVE = 1, 2
SPI = 40


def lr(vid: int, prio5: int = 0x10, state: int = PENDING, eoi: bool = False,
       hw: bool = False, pid: int = 0, cpuid: int = 0, grp1: bool = False) -> int:
    """A list register value (IHI 0048B 5.3.8, GICH_LRn)."""
    value = vid | prio5 << 23 | state << 28 | int(grp1) << 30 | int(hw) << 31
    if hw:
        return value | pid << 10
    return value | cpuid << 10 | int(eoi) << 19


def lr_state(value: int) -> int:
    return value >> 28 & 3


class VGic:
    """Test harness: a GIC with its virtual interface and the GICH/GICV frames."""

    def __init__(self) -> None:
        self.gic = GicState()
        self.d = GicDistributor(self.gic)
        self.c = GicCpuInterface(self.gic)
        self.vif = VirtualInterface(self.gic)
        self.h = GicHypInterface(self.vif)
        self.v = GicVirtualCpuInterface(self.vif)

    def hr(self, off: int) -> int:
        return self.h.read(off, 4)

    def hw(self, off: int, val: int) -> None:
        self.h.write(off, 4, val)

    def vr(self, off: int) -> int:
        return self.v.read(off, 4)

    def vw(self, off: int, val: int) -> None:
        self.v.write(off, 4, val)

    def maintenance_level(self) -> bool:
        return bool(self.gic.level >> MAINTENANCE_PPI & 1)


@pytest.fixture
def vg() -> VGic:
    """Virtual interface enabled; guest has Group 0 enabled and PMR at its lowest priority."""
    t = VGic()
    t.hw(HCR, HCR_EN)
    t.vw(V_CTLR, 1)
    t.vw(V_PMR, 0xF8)
    return t


# -- identification and reset -----------------------------------------------------

def test_vtr_reports_four_list_registers_and_five_priority_bits(vg: VGic) -> None:
    # 5.3.2: ListRegs [5:0] = #LR - 1, PREbits [28:26] and PRIbits [31:29] = bits - 1.
    vtr = vg.hr(VTR)
    assert vtr & 0x3F == 3
    assert vtr >> 26 & 7 == 4 and vtr >> 29 & 7 == 4


def test_all_list_registers_start_empty(vg: VGic) -> None:
    # 5.3.6: GICH_ELRSRn has a 1 for each list register holding no valid interrupt.
    assert vg.hr(ELRSR0) == 0xF and vg.hr(ELRSR1) == 0


def test_unimplemented_list_registers_are_raz_wi(vg: VGic) -> None:
    # 5.3.8 / 4.1: only GICH_LR0..LR(ListRegs) exist; LR4 onwards is reserved.
    vg.hw(LR0 + 4 * 4, lr(1))
    assert vg.hr(LR0 + 4 * 4) == 0
    vg.hw(LR0 + 4 * 63, lr(1))
    assert vg.hr(LR0 + 4 * 63) == 0


def test_list_register_reads_back(vg: VGic) -> None:
    value = lr(33, prio5=0x1F, state=PENDING | ACTIVE, eoi=True, cpuid=0, grp1=True)
    vg.hw(LR0 + 8, value)
    assert vg.hr(LR0 + 8) == value


def test_elrsr_tracks_list_register_occupancy(vg: VGic) -> None:
    vg.hw(LR0, lr(33))
    vg.hw(LR0 + 8, lr(34, state=ACTIVE))
    assert vg.hr(ELRSR0) == 0b1010


def test_odd_sizes_never_raise(vg: VGic) -> None:
    for dev in (vg.h, vg.v):
        for off in (0, 1, 2, 0x101, 0xC):
            for size in (1, 2, 4, 8):
                dev.write(off, size, 0xFFFFFFFF)
                assert isinstance(dev.read(off, size), int)


# -- guest acknowledge / EOI through GICV (5.4) -------------------------------------

def test_virq_signalled_only_while_interface_enabled(vg: VGic) -> None:
    # 5.3.1: GICH_HCR.En = 0 -> the virtual CPU interface signals no interrupts.
    vg.hw(LR0, lr(33))
    assert vg.gic.virq_line() and not vg.gic.irq_line()
    vg.hw(HCR, 0)
    assert not vg.gic.virq_line()


def test_gicv_iar_moves_list_register_pending_to_active(vg: VGic) -> None:
    vg.hw(LR0, lr(33))
    assert vg.vr(V_IAR) == 33
    assert lr_state(vg.hr(LR0)) == ACTIVE
    assert not vg.gic.virq_line()
    assert vg.vr(V_IAR) == SPURIOUS


def test_gicv_iar_returns_sgi_source_cpu(vg: VGic) -> None:
    # 5.3.8: for a software interrupt with HW=0, LR[12:10] is the requesting CPUID,
    # which the guest sees in GICV_IAR[12:10].
    vg.hw(LR0, lr(3, cpuid=2))
    assert vg.vr(V_IAR) == 3 | 2 << 10


def test_highest_priority_list_register_wins(vg: VGic) -> None:
    vg.hw(LR0, lr(33, prio5=0x10))
    vg.hw(LR0 + 4, lr(34, prio5=0x08))
    assert vg.vr(V_HPPIR) == 34
    assert vg.vr(V_IAR) == 34


def test_gicv_pmr_masks_virtual_interrupts(vg: VGic) -> None:
    # 5.4 / 4.4.2: a priority value not below GICV_PMR is not signalled.
    vg.hw(LR0, lr(33, prio5=0x10))           # priority 0x80
    vg.vw(V_PMR, 0x80)
    assert not vg.gic.virq_line() and vg.vr(V_IAR) == SPURIOUS
    vg.vw(V_PMR, 0x88)
    assert vg.gic.virq_line() and vg.vr(V_IAR) == 33


def test_active_and_pending_list_register_is_not_signalled(vg: VGic) -> None:
    vg.hw(LR0, lr(33, state=PENDING | ACTIVE))
    assert not vg.gic.virq_line()
    assert vg.vr(V_IAR) == SPURIOUS


def test_gicv_eoi_drops_priority_and_deactivates(vg: VGic) -> None:
    vg.hw(LR0, lr(33, prio5=0x10))
    vg.vr(V_IAR)
    assert vg.vr(V_RPR) == 0x80
    assert vg.hr(APR) == 1 << (0x80 >> 3) and vg.vr(V_APR0) == vg.hr(APR)
    vg.vw(V_EOIR, 33)
    assert vg.vr(V_RPR) == 0xFF and vg.hr(APR) == 0
    assert lr_state(vg.hr(LR0)) == 0
    assert vg.hr(ELRSR0) & 1


def test_eoi_bit_raises_maintenance_interrupt(vg: VGic) -> None:
    # 5.3.4 / 5.3.5: an invalid HW=0 list register with EOI=1 sets its GICH_EISR bit and
    # GICH_MISR.EOI; the maintenance interrupt is asserted while En=1 and MISR != 0.
    vg.hw(LR0 + 4, lr(33, eoi=True))
    vg.vr(V_IAR)
    assert vg.hr(MISR) == 0 and not vg.maintenance_level()
    vg.vw(V_EOIR, 33)
    assert vg.hr(EISR0) == 0b10 and vg.hr(EISR1) == 0
    assert vg.hr(MISR) & MISR_EOI
    assert not vg.hr(ELRSR0) & 0b10          # not free until the hypervisor rewrites it
    assert vg.maintenance_level()
    vg.hw(LR0 + 4, 0)
    assert vg.hr(MISR) == 0 and not vg.maintenance_level()


def test_maintenance_interrupt_reaches_the_physical_cpu_interface(vg: VGic) -> None:
    vg.d.write(0x000, 4, 1)
    vg.c.write(0x000, 4, 1)
    vg.c.write(0x004, 4, 0xF0)
    vg.d.write(0x100, 4, 1 << MAINTENANCE_PPI)
    vg.hw(LR0, lr(33, eoi=True))
    vg.vr(V_IAR)
    vg.vw(V_EOIR, 33)
    assert vg.gic.irq_line()
    assert vg.c.read(0x0C, 4) == MAINTENANCE_PPI


def test_hw_list_register_eoi_deactivates_physical_interrupt(vg: VGic) -> None:
    # 5.3.8: HW=1 -> a guest EOI deactivates PhysicalID in the Distributor.
    vg.d.write(0x000, 4, 1)
    vg.c.write(0x000, 4, 1 | 1 << 9)               # EOImode=1, as a hypervisor runs it
    vg.c.write(0x004, 4, 0xF0)
    vg.d.write(0x100 + 4, 4, 1 << (SPI - 32))
    vg.gic.set_level(SPI, True)
    assert vg.c.read(0x0C, 4) == SPI
    vg.c.write(0x10, 4, SPI)                       # priority drop only
    vg.gic.set_level(SPI, False)
    assert vg.d.read(0x300 + 4, 4) >> (SPI - 32) & 1
    vg.hw(LR0, lr(SPI, hw=True, pid=SPI))
    assert vg.vr(V_IAR) == SPI
    vg.vw(V_EOIR, SPI)
    assert not vg.d.read(0x300 + 4, 4) >> (SPI - 32) & 1
    assert vg.hr(MISR) == 0


def test_gicv_eoimode_separates_drop_and_deactivate(vg: VGic) -> None:
    # 5.4 GICV_CTLR.EOImode / GICV_DIR.
    vg.vw(V_CTLR, 1 | 1 << 9)
    vg.hw(LR0, lr(33))
    vg.vr(V_IAR)
    vg.vw(V_EOIR, 33)
    assert vg.vr(V_RPR) == 0xFF
    assert lr_state(vg.hr(LR0)) == ACTIVE
    vg.vw(V_DIR, 33)
    assert lr_state(vg.hr(LR0)) == 0


def test_unmatched_eoi_counts_and_lrenp(vg: VGic) -> None:
    # 5.3.1 EOICount: EOIs that drop a priority but match no list register are counted;
    # 5.3.4 LRENP is set while LRENPIE=1 and EOICount != 0.
    vg.hw(HCR, HCR_EN | HCR_LRENPIE)
    vg.hw(LR0, lr(33))
    vg.vr(V_IAR)
    vg.hw(LR0, 0)                                   # hypervisor took the LR back
    vg.vw(V_EOIR, 33)
    assert vg.hr(HCR) >> 27 == 1
    assert vg.hr(MISR) & MISR_LRENP and vg.maintenance_level()


def test_underflow_maintenance(vg: VGic) -> None:
    # 5.3.4: MISR.U is set when UIE=1 and no more than one list register is valid.
    vg.hw(HCR, HCR_EN | HCR_UIE)
    vg.hw(LR0, lr(33))
    vg.hw(LR0 + 4, lr(34))
    assert not vg.hr(MISR) & MISR_U
    assert vg.vr(V_IAR) == 33
    vg.vw(V_EOIR, 33)
    assert vg.hr(MISR) & MISR_U
    assert vg.maintenance_level()


def test_no_pending_maintenance(vg: VGic) -> None:
    # 5.3.4: MISR.NP is set when NPIE=1 and no list register is in the pending state.
    vg.hw(HCR, HCR_EN | HCR_NPIE)
    vg.hw(LR0, lr(33))
    assert not vg.hr(MISR) & MISR_NP
    vg.vr(V_IAR)
    assert vg.hr(MISR) & MISR_NP


def test_maintenance_needs_interface_enabled(vg: VGic) -> None:
    vg.hw(HCR, HCR_UIE)                              # En = 0
    assert vg.hr(MISR) & MISR_U
    assert not vg.maintenance_level()


def test_vmcr_is_the_guest_interface_state(vg: VGic) -> None:
    # 5.3.3: VMCR holds GICV_CTLR [9:0], the binary points and VMPriMask [31:27].
    vg.vw(V_CTLR, 0x201)
    vg.vw(V_PMR, 0xA8)
    vmcr = vg.hr(VMCR)
    assert vmcr & 0x3FF == 0x201
    assert vmcr >> 27 == 0xA8 >> 3
    vg.hw(VMCR, 0x3 | 0x10 << 27)
    assert vg.vr(V_CTLR) == 3 and vg.vr(V_PMR) == 0x80
