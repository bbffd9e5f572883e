"""``--fast`` slices: how long the machine runs before it looks at the host clock again.

Without ``-icount`` QEMU fires a timer when the host clock reaches its deadline
(a host timer kicks the vCPU); hypdbg's ``--fast`` looks at the host clock at
slice boundaries instead. With no timer armed there is nothing to look for, so a
slice is as long as in the deterministic mode; with one armed, the slices shrink
towards the deadline (half the time left at the last slice's speed, never under
FAST_SLICE), so the interrupt comes at most a fraction of the time left late.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asmutil import link_flat
from hypdbg.core.board import build_board
from hypdbg.core.machine import FAST_SLICE, SLICE, Machine

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None, reason="no ARM assembler")

LOOP = r"""
    .global _start
_start:
    b _start
"""


@pytest.fixture
def fast_machine(tmp_path: Path) -> Machine:
    board = build_board(str(link_flat(tmp_path, "loop", LOOP)), ram_mb=16, deterministic=False,
                        serial="none")
    return board.machine


def _timer_in(m: Machine, ns: int) -> None:
    due = m.vtime + ns
    m._next_timer_insns = lambda: due          # type: ignore[method-assign]


def test_no_timer_no_looking_at_the_clock(fast_machine: Machine) -> None:
    assert fast_machine.timer is not None and fast_machine.timer.next_deadline() is None
    assert fast_machine._fast_slice() == SLICE


def test_slices_shrink_towards_the_deadline(fast_machine: Machine) -> None:
    m = fast_machine
    m._fast_rate = 1.0                          # 1,000 MIPS
    _timer_in(m, 1_000_000_000)                 # 1 s away: as long as a deterministic slice
    assert m._fast_slice() == SLICE
    _timer_in(m, 2_000_000)                     # 2 ms away: half of it, 1 M instructions
    assert FAST_SLICE < m._fast_slice() <= 1_000_000
    _timer_in(m, 100_000)                       # 0.1 ms: the floor
    assert m._fast_slice() == FAST_SLICE
    _timer_in(m, -1_000)                        # due already (masked, say): the floor
    assert m._fast_slice() == FAST_SLICE


def test_unknown_speed_starts_at_the_floor(fast_machine: Machine) -> None:
    m = fast_machine
    assert m._fast_rate == 0.0
    _timer_in(m, 1_000_000_000)
    assert m._fast_slice() == FAST_SLICE


def test_a_run_measures_its_speed(fast_machine: Machine) -> None:
    m = fast_machine
    stop = m.run(max_insns=2 * SLICE)
    assert stop.kind == "limit"
    assert m._fast_rate > 0.0


def test_arming_a_timer_shortens_the_running_slice(fast_machine: Machine) -> None:
    """An intercepted timer write in the middle of a SLICE-long slice ends it within
    what the new deadline allows."""
    m = fast_machine
    m._fast_rate = 1.0
    m.counter.deadline = m.counter.count + SLICE
    _timer_in(m, 100_000)
    m.timer_moved()
    assert m.counter.deadline == m.counter.count + FAST_SLICE
