"""Breakpoints as GDB uses them: removed at every stop and inserted again before resuming.

A removed breakpoint keeps its hook until the next run (so that inserting it again
costs nothing), but it must never stop the machine while it is removed, in a step or
in a run, and one inserted again must stop it as before.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asmutil import link_flat
from imagebuild import symbols
from hypdbg.core.board import build_board

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None,
                                reason="no ARM assembler")

SOURCE = r"""
    .global _start
_start:
    mov r1, #3
loop:
    subs r1, r1, #1
    bne loop
    ldr r0, =0x84000008          @ PSCI SYSTEM_OFF
    smc #0
    .ltorg
"""


@pytest.fixture()
def machine(tmp_path: Path):
    elf = link_flat(tmp_path, "bp", SOURCE)
    m = build_board(str(elf), serial="none").machine
    m.loop = symbols(elf)["loop"]          # type: ignore[attr-defined]
    return m


def test_stop_remove_insert_cycle(machine) -> None:
    m = machine
    m.add_breakpoint(m.loop)
    for r1 in (3, 2, 1):
        stop = m.run()
        assert (stop.kind, m.cpu.pc, m.cpu.reg(1)) == ("breakpoint", m.loop, r1)
        m.remove_breakpoint(m.loop)            # GDB at the stop
        assert m.step().kind == "step"         # stepping off the breakpoint's address
        m.add_breakpoint(m.loop)               # and in again before continuing
    m.remove_breakpoint(m.loop)
    assert m.run().kind == "poweroff"


def test_removed_breakpoint_never_stops(machine) -> None:
    m = machine
    m.add_breakpoint(m.loop)
    assert m.run().kind == "breakpoint"
    m.remove_breakpoint(m.loop)
    assert m.run().kind == "poweroff"
    assert m.cpu.reg(1) == 0


def test_removed_breakpoint_does_not_stop_a_step(machine) -> None:
    m = machine
    m.add_breakpoint(m.loop)
    m.remove_breakpoint(m.loop)
    assert m.step().kind == "step" and m.cpu.pc == m.loop
    assert m.step().kind == "step" and m.cpu.pc == m.loop + 4
