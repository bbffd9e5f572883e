"""Generic Timer against the ARM ARM (DDI 0406C) chapter B8 and the CNT* register descriptions in B4.1."""
from __future__ import annotations

from typing import List, Tuple

import pytest

from hypdbg.core.timer import (COUNTER_HZ, INSNS_PER_TICK, PPI_HYP, PPI_PHYS, PPI_VIRT, Access,
                               GenericTimer, timer_access)

ENABLE, IMASK, ISTATUS = 1, 2, 4


class Clock:
    """Deterministic virtual time for the counter."""

    def __init__(self, ticks: int = 1000) -> None:
        self.ticks = ticks

    def __call__(self) -> int:
        return self.ticks


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pushes() -> List[Tuple[int, bool]]:
    return []


@pytest.fixture
def timer(clock: Clock, pushes: List[Tuple[int, bool]]) -> GenericTimer:
    t = GenericTimer(clock, lambda ppi, level: pushes.append((ppi, level)))
    t.update()
    pushes.clear()
    return t


# -- counters (B8.1.1 system counter, B8.1.2 virtual counter) -------------------------

def test_cntpct_is_the_clock(timer: GenericTimer, clock: Clock) -> None:
    assert timer.read("CNTPCT") == 1000
    clock.ticks = 12345
    assert timer.read("CNTPCT") == 12345


def test_cntvct_is_cntpct_minus_cntvoff(timer: GenericTimer) -> None:
    timer.write("CNTVOFF", 300)
    assert timer.read("CNTVCT") == 700
    timer.write("CNTVOFF", 1001)
    assert timer.read("CNTVCT") == (1000 - 1001) % 2**64


def test_cntfrq_reports_the_counter_frequency(timer: GenericTimer) -> None:
    # B4.1.21 CNTFRQ: software-visible frequency, not used by the counter itself.
    assert timer.read("CNTFRQ") == COUNTER_HZ == 62_500_000


def test_cnthctl_resets_with_pl1_access_enabled(timer: GenericTimer) -> None:
    # B4.1.26 CNTHCTL: PL1PCEN and PL1PCTEN reset to 1 in ARMv7.
    assert timer.read("CNTHCTL") & 3 == 3


# -- timer condition and output (B8.1.5 timers) --------------------------------------

@pytest.mark.parametrize("name", ["CNTP", "CNTV", "CNTHP"])
def test_istatus_is_count_reaching_cval(timer: GenericTimer, clock: Clock, name: str) -> None:
    timer.write(f"{name}_CVAL", 1500)
    timer.write(f"{name}_CTL", ENABLE)
    assert not timer.read(f"{name}_CTL") & ISTATUS
    clock.ticks = 1499
    assert not timer.read(f"{name}_CTL") & ISTATUS
    clock.ticks = 1500
    assert timer.read(f"{name}_CTL") & ISTATUS


def test_istatus_compares_64_bit_unsigned(timer: GenericTimer) -> None:
    # CompareValue is 64-bit unsigned: a CVAL with bit 63 set is far in the future,
    # not a negative number already passed.
    timer.write("CNTP_CVAL", 1 << 63)
    timer.write("CNTP_CTL", ENABLE)
    assert not timer.read("CNTP_CTL") & ISTATUS


def test_istatus_is_read_only(timer: GenericTimer) -> None:
    timer.write("CNTP_CVAL", 5000)
    timer.write("CNTP_CTL", ENABLE | ISTATUS)
    assert timer.read("CNTP_CTL") == ENABLE


def test_virtual_timer_counts_the_virtual_counter(timer: GenericTimer, clock: Clock) -> None:
    timer.write("CNTVOFF", 400)
    timer.write("CNTV_CVAL", 700)
    timer.write("CNTV_CTL", ENABLE)
    clock.ticks = 1099
    assert not timer.read("CNTV_CTL") & ISTATUS
    clock.ticks = 1100
    assert timer.read("CNTV_CTL") & ISTATUS


@pytest.mark.parametrize("name, ppi", [("CNTP", PPI_PHYS), ("CNTV", PPI_VIRT),
                                       ("CNTHP", PPI_HYP)])
def test_output_is_enable_and_istatus_and_not_imask(timer: GenericTimer, clock: Clock,
                                                    pushes: List[Tuple[int, bool]],
                                                    name: str, ppi: int) -> None:
    timer.write(f"{name}_CVAL", 900)          # condition already met
    timer.write(f"{name}_CTL", ENABLE | IMASK)
    assert pushes == []
    timer.write(f"{name}_CTL", ENABLE)
    assert pushes == [(ppi, True)]
    timer.write(f"{name}_CTL", 0)
    assert pushes == [(ppi, True), (ppi, False)]


def test_update_raises_the_line_when_time_reaches_cval(timer: GenericTimer, clock: Clock,
                                                       pushes: List[Tuple[int, bool]]) -> None:
    timer.write("CNTV_CVAL", 2000)
    timer.write("CNTV_CTL", ENABLE)
    clock.ticks = 2000
    timer.update()
    assert pushes == [(PPI_VIRT, True)]
    timer.update()
    assert pushes == [(PPI_VIRT, True)]       # levels are pushed on change only


# -- TVAL (B8.1.5: TimerValue view) ---------------------------------------------------

def test_tval_read_is_cval_minus_count_low_32_bits(timer: GenericTimer, clock: Clock) -> None:
    timer.write("CNTP_CVAL", 1250)
    assert timer.read("CNTP_TVAL") == 250
    clock.ticks = 1260
    assert timer.read("CNTP_TVAL") == (-10) & 0xFFFFFFFF


def test_tval_write_sets_cval_to_count_plus_signed_value(timer: GenericTimer) -> None:
    timer.write("CNTP_TVAL", 500)
    assert timer.read("CNTP_CVAL") == 1500
    timer.write("CNTP_TVAL", 0xFFFFFFFF)      # -1: already expired
    assert timer.read("CNTP_CVAL") == 999
    timer.write("CNTP_CTL", ENABLE)
    assert timer.read("CNTP_CTL") & ISTATUS


def test_virtual_tval_uses_the_virtual_count(timer: GenericTimer) -> None:
    timer.write("CNTVOFF", 100)
    timer.write("CNTV_TVAL", 50)
    assert timer.read("CNTV_CVAL") == 950


# -- next deadline ---------------------------------------------------------------------

def test_no_deadline_without_an_enabled_unmasked_timer(timer: GenericTimer) -> None:
    timer.write("CNTP_CVAL", 5000)
    assert timer.next_deadline() is None
    timer.write("CNTP_CTL", ENABLE | IMASK)
    assert timer.next_deadline() is None


def test_deadline_is_the_earliest_rise_in_physical_ticks(timer: GenericTimer) -> None:
    timer.write("CNTP_CVAL", 5000)
    timer.write("CNTP_CTL", ENABLE)
    assert timer.next_deadline() == 5000
    timer.write("CNTVOFF", 600)
    timer.write("CNTV_CVAL", 3000)             # CNTVCT reaches 3000 at CNTPCT 3600
    timer.write("CNTV_CTL", ENABLE)
    assert timer.next_deadline() == 3600


def test_risen_output_no_longer_has_a_deadline(timer: GenericTimer, clock: Clock) -> None:
    timer.write("CNTHP_CVAL", 1200)
    timer.write("CNTHP_CTL", ENABLE)
    clock.ticks = 1300
    assert timer.next_deadline() == 1300       # condition met, rise not yet pushed
    timer.update()
    assert timer.next_deadline() is None


def test_deadline_in_instructions_follows_insns_per_tick(timer: GenericTimer) -> None:
    timer.write("CNTP_CVAL", 5000)
    timer.write("CNTP_CTL", ENABLE)
    assert timer.next_deadline_insns() == 5000 * INSNS_PER_TICK
    timer.write("CNTP_CTL", 0)
    assert timer.next_deadline_insns() is None


# -- access permissions (B8.1.3/B8.1.4 with CNTKCTL, CNTHCTL; B4.1) -------------------

@pytest.mark.parametrize("name, pl, write, cntkctl, cnthctl, expected", [
    ("CNTPCT", 1, False, 0, 0b00, Access.HYP_TRAP),     # CNTHCTL.PL1PCTEN = 0
    ("CNTPCT", 1, False, 0, 0b01, Access.ALLOWED),
    ("CNTP_CTL", 1, True, 0, 0b01, Access.HYP_TRAP),    # CNTHCTL.PL1PCEN = 0
    ("CNTP_CVAL", 1, False, 0, 0b10, Access.ALLOWED),
    ("CNTV_CTL", 1, True, 0, 0b00, Access.ALLOWED),     # virtual timer never trapped
    ("CNTVCT", 1, False, 0, 0b00, Access.ALLOWED),
    ("CNTVCT", 0, False, 0b00, 3, Access.UNDEFINED),    # CNTKCTL.PL0VCTEN = 0
    ("CNTVCT", 0, False, 0b10, 3, Access.ALLOWED),
    ("CNTPCT", 0, False, 0b01, 0, Access.HYP_TRAP),     # PL0 allowed by CNTKCTL, trapped by Hyp
    ("CNTP_TVAL", 0, False, 0, 3, Access.UNDEFINED),    # CNTKCTL.PL0PTEN = 0
    ("CNTP_TVAL", 0, False, 1 << 9, 3, Access.ALLOWED),
    ("CNTV_TVAL", 0, False, 1 << 9, 3, Access.UNDEFINED),  # needs PL0VTEN, not PL0PTEN
    ("CNTV_TVAL", 0, False, 1 << 8, 3, Access.ALLOWED),
    ("CNTKCTL", 0, False, 0x3FF, 3, Access.UNDEFINED),  # PL1 register
    ("CNTKCTL", 1, True, 0, 3, Access.ALLOWED),
    ("CNTFRQ", 0, False, 0b01, 3, Access.ALLOWED),
    ("CNTFRQ", 0, False, 0, 3, Access.UNDEFINED),
    ("CNTFRQ", 1, True, 0, 3, Access.UNDEFINED),        # writable only at the highest PL
    ("CNTFRQ", 2, True, 0, 3, Access.ALLOWED),
    ("CNTVOFF", 1, True, 0, 3, Access.UNDEFINED),       # Hyp-only registers
    ("CNTHCTL", 1, False, 0, 3, Access.UNDEFINED),
    ("CNTHP_CTL", 1, False, 0, 3, Access.UNDEFINED),
    ("CNTHP_CTL", 2, True, 0, 0, Access.ALLOWED),
    ("CNTPCT", 2, False, 0, 0, Access.ALLOWED),         # Hyp is not trapped by CNTHCTL
    ("CNTVCT", 2, True, 0, 0, Access.UNDEFINED),        # counters are read-only
])
def test_access_permissions(name: str, pl: int, write: bool, cntkctl: int, cnthctl: int,
                            expected: Access) -> None:
    assert timer_access(name, pl, write, cntkctl, cnthctl) is expected


def test_access_uses_current_control_registers(timer: GenericTimer) -> None:
    assert timer.access("CNTP_CTL", 1, False) is Access.ALLOWED
    timer.write("CNTHCTL", 0)
    assert timer.access("CNTP_CTL", 1, False) is Access.HYP_TRAP


def test_unknown_register_name_is_an_error(timer: GenericTimer) -> None:
    with pytest.raises(KeyError):
        timer.read("CNTX_CTL")
    with pytest.raises(KeyError):
        timer_access("CNTX_CTL", 1, False, 0, 0)
