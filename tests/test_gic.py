"""GICv2 distributor and CPU interface against ARM IHI 0048B (GIC architecture v2)."""
from __future__ import annotations

from typing import List, Tuple

import pytest

from hypdbg.core.gic import (SPURIOUS, SPURIOUS_OTHER_GROUP, GicCpuInterface, GicDistributor,
                             GicState)

SPI = 40   # an SPI on the virt GIC (virt SPI 8)

# Distributor offsets
CTLR, TYPER, IIDR = 0x000, 0x004, 0x008
IGROUPR, ISENABLER, ICENABLER = 0x080, 0x100, 0x180
ISPENDR, ICPENDR, ISACTIVER, ICACTIVER = 0x200, 0x280, 0x300, 0x380
IPRIORITYR, ITARGETSR, ICFGR, SGIR = 0x400, 0x800, 0xC00, 0xF00
CPENDSGIR, SPENDSGIR, ICPIDR2 = 0xF10, 0xF20, 0xFE8
# CPU interface offsets
C_CTLR, PMR, BPR, IAR, EOIR, RPR, HPPIR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18
AIAR, C_IIDR, DIR = 0x20, 0xFC, 0x1000


class Gic:
    """Test harness: one GIC state and its two frames, with word accessors."""

    def __init__(self) -> None:
        self.state = GicState()
        self.d = GicDistributor(self.state)
        self.c = GicCpuInterface(self.state)
        self.changes: List[Tuple[bool, bool]] = []
        self.state.on_change = lambda: self.changes.append(
            (self.state.irq_line(), self.state.fiq_line()))

    def dr(self, off: int) -> int:
        return self.d.read(off, 4)

    def dw(self, off: int, val: int) -> None:
        self.d.write(off, 4, val)

    def cr(self, off: int) -> int:
        return self.c.read(off, 4)

    def cw(self, off: int, val: int) -> None:
        self.c.write(off, 4, val)

    def bit(self, base: int, intid: int) -> bool:
        return bool(self.dr(base + 4 * (intid // 32)) >> (intid % 32) & 1)

    def setup_irq(self, intid: int, prio: int, edge: bool = False, group1: bool = False) -> None:
        """Enable ``intid`` with ``prio``, and both groups at distributor and CPU interface."""
        self.dw(CTLR, 3)
        self.cw(C_CTLR, self.cr(C_CTLR) | 3)
        self.cw(PMR, 0xF0)
        self.d.write(IPRIORITYR + intid, 1, prio)
        if intid >= 32:
            reg = ICFGR + 4 * (intid // 16)
            shift = 2 * (intid % 16) + 1
            self.dw(reg, (self.dr(reg) & ~(1 << shift)) | (int(edge) << shift))
        if group1:
            reg = IGROUPR + 4 * (intid // 32)
            self.dw(reg, self.dr(reg) | 1 << (intid % 32))
        self.dw(ISENABLER + 4 * (intid // 32), 1 << (intid % 32))


@pytest.fixture
def gic() -> Gic:
    return Gic()


# -- identification (4.3.2, 4.3.3, 4.3.18 Identification registers, 4.4.14) ---------

def test_typer_describes_288_interrupts_one_cpu_no_security(gic: Gic) -> None:
    # 4.3.2: ITLinesNumber = N/32 - 1, CPUNumber = #CPUs - 1, SecurityExtn bit 10.
    assert gic.dr(TYPER) == 8


def test_iidr_implementer_is_arm(gic: Gic) -> None:
    # 4.3.3 / 4.4.14: Implementer [11:0] is the JEP106 code of ARM, 0x43B;
    # GICC_IIDR.ArchitectureVersion [19:16] is 2 for GICv2.
    assert gic.dr(IIDR) & 0xFFF == 0x43B
    assert gic.cr(C_IIDR) & 0xFFF == 0x43B
    assert gic.cr(C_IIDR) >> 16 & 0xF == 2


def test_icpidr2_archrev_is_gicv2(gic: Gic) -> None:
    # 4.3.18: ICPIDR2.ArchRev [7:4] = 0x2 for GICv2.
    assert gic.dr(ICPIDR2) >> 4 & 0xF == 2


# -- reserved and unimplemented locations (4.1: reserved addresses are RAZ/WI) -------

@pytest.mark.parametrize("off", [0x00C, 0x040, 0x07C, 0x0A4, 0xF04, 0xF30, 0xE00])
def test_reserved_distributor_offsets_are_raz_wi(gic: Gic, off: int) -> None:
    gic.dw(off, 0xFFFFFFFF)
    assert gic.dr(off) == 0


@pytest.mark.parametrize("off", [0x2C, 0x40, 0xCC, 0xF8, 0x1004, 0x1FFC])
def test_reserved_cpu_interface_offsets_are_raz_wi(gic: Gic, off: int) -> None:
    gic.cw(off, 0xFFFFFFFF)
    assert gic.cr(off) == 0


def test_registers_beyond_itlinesnumber_are_raz_wi(gic: Gic) -> None:
    # 4.3.5: registers for interrupt IDs beyond 32*(ITLinesNumber+1) are RAZ/WI.
    gic.dw(ISENABLER + 4 * 9, 0xFFFFFFFF)
    assert gic.dr(ISENABLER + 4 * 9) == 0


def test_odd_sizes_and_alignment_never_raise(gic: Gic) -> None:
    for dev in (gic.d, gic.c):
        for off in (0, 1, 2, 3, 0x401, 0xC):
            for size in (1, 2, 4, 8):
                dev.write(off, size, 0xFFFFFFFF)
                assert isinstance(dev.read(off, size), int)
                assert isinstance(dev.peek(off, size), int)


# -- distributor configuration -------------------------------------------------

def test_ipriorityr_is_byte_accessible(gic: Gic) -> None:
    # 4.3.11: byte-accessible; all 8 bits are implemented in this model.
    gic.d.write(IPRIORITYR + SPI, 1, 0xA8)
    gic.d.write(IPRIORITYR + SPI + 1, 1, 0x31)
    assert gic.dr(IPRIORITYR + SPI) == 0x31A8
    assert gic.d.read(IPRIORITYR + SPI + 1, 1) == 0x31


def test_itargetsr_is_raz_wi_on_a_uniprocessor(gic: Gic) -> None:
    # 4.3.12: "In a uniprocessor implementation, all interrupts target the one
    # processor, and the GICD_ITARGETSRs are RAZ/WI."
    assert gic.dr(ITARGETSR) == 0          # SGIs
    assert gic.dr(ITARGETSR + 28) == 0     # PPIs 28-31
    gic.dw(ITARGETSR + SPI, 0x01010101)
    gic.d.write(ITARGETSR + SPI, 1, 1)
    assert gic.dr(ITARGETSR + SPI) == 0


def test_icfgr0_sgis_are_edge_and_read_only(gic: Gic) -> None:
    # 4.3.13: SGIs are always edge-triggered; GICD_ICFGR0 is read-only.
    assert gic.dr(ICFGR) == 0xAAAAAAAA
    gic.dw(ICFGR, 0)
    assert gic.dr(ICFGR) == 0xAAAAAAAA


def test_icfgr_spi_trigger_mode_is_programmable(gic: Gic) -> None:
    # 4.3.13: Int_config[1] of each SPI field: 0 level-sensitive, 1 edge-triggered;
    # Int_config[0] is reserved in GICv2.
    reg = ICFGR + 4 * (SPI // 16)
    gic.dw(reg, 0xFFFFFFFF)
    assert gic.dr(reg) == 0xAAAAAAAA
    gic.dw(reg, 0)
    assert gic.dr(reg) == 0


def test_igroupr_is_read_write_without_security_extensions(gic: Gic) -> None:
    # 4.3.4: GICv2 without the Security Extensions implements interrupt grouping.
    gic.dw(IGROUPR + 4, 0x12345678)
    assert gic.dr(IGROUPR + 4) == 0x12345678


def test_set_and_clear_enable(gic: Gic) -> None:
    # 4.3.5 / 4.3.6: write 1 to set / clear; both read the enable state.
    gic.dw(ISENABLER + 4, 1 << (SPI - 32))
    assert gic.bit(ISENABLER, SPI) and gic.bit(ICENABLER, SPI)
    gic.dw(ICENABLER + 4, 1 << (SPI - 32))
    assert not gic.bit(ISENABLER, SPI)


def test_sgi_enables_read_as_one(gic: Gic) -> None:
    # 4.3.5: whether SGI enables are fixed is IMPLEMENTATION DEFINED; here they are RAO/WI.
    gic.dw(ICENABLER, 0xFFFF)
    assert gic.dr(ISENABLER) & 0xFFFF == 0xFFFF


def test_software_pending_and_clear(gic: Gic) -> None:
    # 4.3.7 / 4.3.8: ISPENDR sets, ICPENDR clears the pending state of an SPI.
    gic.dw(ISPENDR + 4, 1 << (SPI - 32))
    assert gic.bit(ISPENDR, SPI)
    gic.dw(ICPENDR + 4, 1 << (SPI - 32))
    assert not gic.bit(ISPENDR, SPI)


def test_icpendr_does_not_clear_asserted_level_interrupt(gic: Gic) -> None:
    # 3.2.4 / 4.3.8: a level-sensitive interrupt whose line is asserted stays pending.
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    gic.dw(ICPENDR + 4, 1 << (SPI - 32))
    assert gic.bit(ISPENDR, SPI)


def test_set_and_clear_active(gic: Gic) -> None:
    # 4.3.9 / 4.3.10.
    gic.dw(ISACTIVER + 4, 1 << (SPI - 32))
    assert gic.bit(ISACTIVER, SPI) and gic.bit(ICACTIVER, SPI)
    gic.dw(ICACTIVER + 4, 1 << (SPI - 32))
    assert not gic.bit(ISACTIVER, SPI)


# -- acknowledge / end of interrupt (3.2.4 state machine, 4.4.4, 4.4.5) ---------

def test_iar_spurious_when_nothing_pending(gic: Gic) -> None:
    # 4.4.4 / 3.2.5 special interrupt numbers: no pending interrupt -> 1023.
    gic.setup_irq(SPI, 0x80)
    assert gic.cr(IAR) == SPURIOUS
    assert not gic.state.irq_line()


def test_iar_moves_edge_interrupt_from_pending_to_active(gic: Gic) -> None:
    gic.setup_irq(SPI, 0x80, edge=True)
    gic.state.set_level(SPI, True)
    gic.state.set_level(SPI, False)       # the edge is latched
    assert gic.bit(ISPENDR, SPI) and gic.state.irq_line()
    assert gic.cr(IAR) == SPI
    assert gic.bit(ISACTIVER, SPI) and not gic.bit(ISPENDR, SPI)
    assert not gic.state.irq_line()
    assert gic.cr(IAR) == SPURIOUS


def test_level_interrupt_is_active_and_pending_while_asserted(gic: Gic) -> None:
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    assert gic.cr(IAR) == SPI
    assert gic.bit(ISACTIVER, SPI) and gic.bit(ISPENDR, SPI)
    assert not gic.state.irq_line()       # active and pending is not signalled again


def test_level_interrupt_repends_after_eoi_while_line_high(gic: Gic) -> None:
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    assert gic.cr(IAR) == SPI
    gic.cw(EOIR, SPI)
    assert not gic.bit(ISACTIVER, SPI)
    assert gic.state.irq_line()
    assert gic.cr(IAR) == SPI


def test_level_interrupt_not_repended_after_line_drops(gic: Gic) -> None:
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    assert gic.cr(IAR) == SPI
    gic.state.set_level(SPI, False)
    gic.cw(EOIR, SPI)
    assert not gic.state.irq_line()
    assert gic.cr(IAR) == SPURIOUS


def test_disabled_interrupt_is_not_forwarded(gic: Gic) -> None:
    # 4.3.5: only enabled interrupts are forwarded to the CPU interface.
    gic.setup_irq(SPI, 0x80)
    gic.dw(ICENABLER + 4, 1 << (SPI - 32))
    gic.state.set_level(SPI, True)
    assert not gic.state.irq_line() and gic.cr(IAR) == SPURIOUS


def test_distributor_disabled_forwards_nothing(gic: Gic) -> None:
    # 4.3.1: GICD_CTLR.EnableGrp0 = 0 -> Group 0 interrupts are not forwarded.
    gic.setup_irq(SPI, 0x80)
    gic.dw(CTLR, 0)
    gic.state.set_level(SPI, True)
    assert not gic.state.irq_line() and gic.cr(IAR) == SPURIOUS
    gic.dw(CTLR, 1)
    assert gic.state.irq_line()


def test_cpu_interface_disabled_signals_nothing(gic: Gic) -> None:
    # 4.4.1: GICC_CTLR.EnableGrp0 = 0 -> no Group 0 interrupt is signalled.
    gic.setup_irq(SPI, 0x80)
    gic.cw(C_CTLR, 0)
    gic.state.set_level(SPI, True)
    assert not gic.state.irq_line() and gic.cr(IAR) == SPURIOUS


def test_priority_mask_blocks_equal_or_lower_priority(gic: Gic) -> None:
    # 4.4.2 / 3.3.2: only priority values strictly below GICC_PMR are signalled.
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    gic.cw(PMR, 0x80)
    assert not gic.state.irq_line() and gic.cr(IAR) == SPURIOUS
    gic.cw(PMR, 0x81)
    assert gic.state.irq_line() and gic.cr(IAR) == SPI


def test_pmr_reset_masks_everything(gic: Gic) -> None:
    # 4.4.2: GICC_PMR resets to 0, masking all interrupts.
    assert gic.cr(PMR) == 0


def test_highest_priority_wins(gic: Gic) -> None:
    gic.setup_irq(SPI, 0x80)
    gic.setup_irq(SPI + 1, 0x40)
    gic.state.set_level(SPI, True)
    gic.state.set_level(SPI + 1, True)
    assert gic.cr(HPPIR) == SPI + 1
    assert gic.cr(IAR) == SPI + 1


def test_hppir_does_not_acknowledge(gic: Gic) -> None:
    # 4.4.7: reading GICC_HPPIR has no effect on the interrupt state.
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    assert gic.cr(HPPIR) == SPI
    assert not gic.bit(ISACTIVER, SPI)
    assert gic.c.peek(IAR, 4) == SPI and not gic.bit(ISACTIVER, SPI)


def test_running_priority(gic: Gic) -> None:
    # 4.4.6: idle priority reads 0xFF; after an acknowledge, the active priority.
    gic.setup_irq(SPI, 0x80)
    assert gic.cr(RPR) == 0xFF
    gic.state.set_level(SPI, True)
    gic.cr(IAR)
    assert gic.cr(RPR) == 0x80


def test_same_priority_does_not_preempt(gic: Gic) -> None:
    # 3.3.3: preemption needs a group priority higher than the running priority.
    gic.setup_irq(SPI, 0x80)
    gic.setup_irq(SPI + 1, 0x80)
    gic.state.set_level(SPI, True)
    assert gic.cr(IAR) == SPI
    gic.state.set_level(SPI + 1, True)
    assert not gic.state.irq_line() and gic.cr(IAR) == SPURIOUS


def test_higher_priority_preempts_and_eoi_drops_priority_in_order(gic: Gic) -> None:
    # 3.3.3 preemption; 4.4.5: EOIR drops the running priority to the next active one.
    gic.setup_irq(SPI, 0x80)
    gic.setup_irq(SPI + 1, 0x40)
    gic.state.set_level(SPI, True)
    assert gic.cr(IAR) == SPI
    gic.state.set_level(SPI + 1, True)
    assert gic.state.irq_line()
    assert gic.cr(IAR) == SPI + 1
    assert gic.cr(RPR) == 0x40
    gic.state.set_level(SPI + 1, False)
    gic.cw(EOIR, SPI + 1)
    assert gic.cr(RPR) == 0x80
    gic.state.set_level(SPI, False)
    gic.cw(EOIR, SPI)
    assert gic.cr(RPR) == 0xFF


@pytest.mark.parametrize("bpr, preempts", [(0, True), (3, False)])
def test_binary_point_limits_preemption_to_group_priority(gic: Gic, bpr: int,
                                                          preempts: bool) -> None:
    # 3.3.3 / 4.4.3: BPR=3 makes bits [7:4] the group priority, so 0x80 and 0x88 are
    # the same group priority and 0x80 cannot preempt 0x88; with BPR=0 it can.
    gic.setup_irq(SPI, 0x88)
    gic.setup_irq(SPI + 1, 0x80)
    gic.cw(BPR, bpr)
    gic.state.set_level(SPI, True)
    assert gic.cr(IAR) == SPI
    gic.state.set_level(SPI + 1, True)
    assert gic.state.irq_line() is preempts
    assert gic.cr(IAR) == (SPI + 1 if preempts else SPURIOUS)


def test_eoimode_separates_priority_drop_from_deactivation(gic: Gic) -> None:
    # 4.4.1 EOImode, 4.4.5, 4.4.15: with EOImode=1 EOIR only drops priority; DIR deactivates.
    gic.setup_irq(SPI, 0x80, edge=True)
    gic.cw(C_CTLR, gic.cr(C_CTLR) | 1 << 9)
    gic.state.set_level(SPI, True)
    assert gic.cr(IAR) == SPI
    gic.cw(EOIR, SPI)
    assert gic.cr(RPR) == 0xFF
    assert gic.bit(ISACTIVER, SPI)
    gic.cw(DIR, SPI)
    assert not gic.bit(ISACTIVER, SPI)


def test_eoir_of_spurious_id_is_ignored(gic: Gic) -> None:
    # 4.4.5: writing 1023 to GICC_EOIR has no effect.
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    gic.cr(IAR)
    gic.cw(EOIR, SPURIOUS)
    assert gic.cr(RPR) == 0x80 and gic.bit(ISACTIVER, SPI)


# -- SGIs (4.3.15 - 4.3.17) ---------------------------------------------------------

@pytest.mark.parametrize("sgir, pending", [
    (2 << 24 | 5, True),               # TargetListFilter 0b10: this processor only
    (0 << 24 | 1 << 16 | 5, True),     # 0b00 with CPUTargetList = CPU 0
    (0 << 24 | 2 << 16 | 5, False),    # 0b00 naming only a CPU that does not exist
    (1 << 24 | 5, False),              # 0b01: all but the requester - nobody here
])
def test_sgir_target_filter(gic: Gic, sgir: int, pending: bool) -> None:
    gic.dw(SGIR, sgir)
    assert gic.bit(ISPENDR, 5) is pending


def test_sgi_acknowledge_reports_source_cpu(gic: Gic) -> None:
    # 4.4.4: for SGIs IAR[12:10] is the CPUID of the requesting processor (0 here).
    gic.setup_irq(5, 0x80)
    gic.dw(SGIR, 2 << 24 | 5)
    assert gic.d.read(SPENDSGIR + 4 + 1, 1) == 1   # SGI 5, source CPU 0
    assert gic.cr(IAR) == 5
    assert not gic.bit(ISPENDR, 5) and gic.bit(ISACTIVER, 5)
    gic.cw(EOIR, 5)
    assert not gic.bit(ISACTIVER, 5)


def test_cpendsgir_and_spendsgir(gic: Gic) -> None:
    # 4.3.16 / 4.3.17: one byte per SGI, one bit per source processor; write 1 to act.
    gic.d.write(SPENDSGIR + 4 + 1, 1, 1)
    assert gic.bit(ISPENDR, 5)
    gic.d.write(CPENDSGIR + 4 + 1, 1, 1)
    assert not gic.bit(ISPENDR, 5)


def test_ispendr_does_not_set_sgis(gic: Gic) -> None:
    # 4.3.7: in GICv2 the SGI bits of GICD_ISPENDR0 are read-only.
    gic.dw(ISPENDR, 0xFFFF)
    assert gic.dr(ISPENDR) & 0xFFFF == 0


# -- interrupt grouping and FIQ (3.5, 4.4.1, 4.4.4, 4.4.9) ---------------------------

def test_group1_iar_needs_ackctl(gic: Gic) -> None:
    # 4.4.4: without the Security Extensions every read is Secure; a Group 1 highest
    # pending interrupt reads as 1022 unless GICC_CTLR.AckCtl is set.
    gic.setup_irq(SPI, 0x80, group1=True)
    gic.state.set_level(SPI, True)
    assert gic.state.irq_line()
    assert gic.cr(IAR) == SPURIOUS_OTHER_GROUP
    assert not gic.bit(ISACTIVER, SPI)
    gic.cw(C_CTLR, gic.cr(C_CTLR) | 1 << 2)
    assert gic.cr(IAR) == SPI


def test_aiar_acknowledges_group1_only(gic: Gic) -> None:
    # 4.4.9: GICC_AIAR returns Group 1 interrupts; a Group 0 one gives 1023.
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    assert gic.cr(AIAR) == SPURIOUS
    gic.dw(IGROUPR + 4, 1 << (SPI - 32))
    assert gic.cr(AIAR) == SPI


def test_group0_signals_fiq_when_fiqen(gic: Gic) -> None:
    # 4.4.1 FIQEn: Group 0 interrupts use FIQ when set, IRQ otherwise; Group 1 uses IRQ.
    gic.setup_irq(SPI, 0x80)
    gic.cw(C_CTLR, gic.cr(C_CTLR) | 1 << 3)
    gic.state.set_level(SPI, True)
    assert gic.state.fiq_line() and not gic.state.irq_line()
    gic.dw(IGROUPR + 4, 1 << (SPI - 32))
    assert gic.state.irq_line() and not gic.state.fiq_line()


# -- change notification --------------------------------------------------------

def test_on_change_reports_line_transitions(gic: Gic) -> None:
    gic.setup_irq(SPI, 0x80)
    gic.state.set_level(SPI, True)
    assert gic.changes == [(True, False)]
    gic.cr(IAR)
    assert gic.changes == [(True, False), (False, False)]
