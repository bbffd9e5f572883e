"""Reverse execution (core/timetravel.py): goto, reverse step, reverse continue.

What the tests hold the machine to:

* Determinism (DESIGN.md: same image and inputs, same execution): a state
  reached by going back in time equals the state a fresh machine reaches by
  running forward to the same instruction count.
* ARM ARM B1.8.3 (exception return addresses and the link-register offsets of
  Table B1-7): one step back from a vector just entered lands on the
  instruction the exception came from. SVC and HVC have completed (their
  preferred return is the next instruction: one instruction fewer retired);
  an Undefined Instruction, a Prefetch or Data Abort and an interrupted
  instruction have not (the same count).
* GDB's reverse execution (GDB manual, "Running Programs Backward"):
  reverse-stepi undoes one instruction; reverse-continue runs backward to the
  previous breakpoint, watchpoint or catchpoint hit, or to the start of the
  recorded history, which the remote protocol reports as ``replaylog`` (our
  HISTORY_END).
* The images' own UART output: tt_echo prints the count and the sum the
  hypervisor computed for each character, so a stop found going backward
  must show those very values in the registers.
"""
from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from hypdbg.core.board import Board, build_board
from hypdbg.core.catch import Catchpoints
from hypdbg.core.cpu import ABT, HYP, IRQ, SVC, UND
from hypdbg.core.debug import StopKind
from hypdbg.core.machine import RAM_BASE
from hypdbg.core.record import post_uart
from hypdbg.core.snapshot import context_data
from hypdbg.core.timetravel import Position, TimeTravel

from imagebuild import build_image, missing_tools, symbols

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}")

RAM_MB = 16
WORLDSWITCH = Path(__file__).resolve().parent.parent / "examples" / "worldswitch" / "worldswitch.elf"
ECHO_LINE = re.compile(rb"^(.):([0-9a-f]{8}):([0-9a-f]{8})$", re.M)
#: tt_echo's input: (instruction count at which it is posted, bytes)
ECHO_INPUT = [(4000, b"a"), (9000, b"bc"), (15000, b"d")]


def image_path(name: str) -> str:
    return str(WORLDSWITCH) if name == "worldswitch" else str(build_image(name))


def make_board(name: str) -> Tuple[Board, io.BytesIO]:
    out = io.BytesIO()
    return build_board(image_path(name), ram_mb=RAM_MB, serial="none", uart_out=out), out


def state(board: Board) -> Dict[str, object]:
    m = board.machine
    return {"context": context_data(m.uc.context_save()), "icount": m.icount, "vtime": m.vtime,
            "ram": hashlib.sha256(m.uc.mem_read(RAM_BASE, m.ram_size)).hexdigest()}


def echo_history(until: int = 25000, inputs=ECHO_INPUT) -> Tuple[Board, io.BytesIO, TimeTravel]:
    """tt_echo run under time travel, its input posted at fixed counts."""
    board, out = make_board("tt_echo")
    tt = TimeTravel(board.machine, interval=2000)
    for at, data in inputs:
        tt.run(max_insns=at - board.machine.icount)
        post_uart(board.machine, "uart", board.uart, data)
    tt.run(max_insns=until - board.machine.icount)
    return board, out, tt


def echo_lines(out: bytes) -> List[Tuple[int, int, int]]:
    return [(m.group(1)[0], int(m.group(2), 16), int(m.group(3), 16)) for m in ECHO_LINE.finditer(out)]


# -- goto -------------------------------------------------------------------------

@pytest.mark.parametrize("name, stops", [
    ("tt_echo", [1700, 5200, 8800, 12500, 16000, 21000]),
    ("timer_tick", [1700, 5200, 8800, 12500, 14000]),       # powers off at 14752
    ("pl1_exceptions", [2000, 3300, 3480, 5000, 9220, 9900]),  # Thumb code, powers off at 10129
    pytest.param("worldswitch", [9000, 30000, 47000, 70000, 101000, 118000],
                 marks=pytest.mark.skipif(not WORLDSWITCH.exists(), reason="no worldswitch example"))])
def test_goto_equals_a_fresh_run(name: str, stops: List[int]) -> None:
    # tt_echo: UART input and HVC exits; timer_tick: timer IRQs and WFI idling;
    # pl1_exceptions: PL1 exceptions in ARM and Thumb state;
    # worldswitch: a guest under stage 2, world switches, a virtual interrupt.
    inputs = ECHO_INPUT if name == "tt_echo" else []
    board, _ = make_board(name)
    tt = TimeTravel(board.machine, interval=3000)
    ref_board, _ = make_board(name)
    ref = ref_board.machine
    points: List[Tuple[int, Dict[str, object]]] = []
    pending = list(inputs)
    for at in stops:
        while pending and pending[0][0] <= at:
            when, data = pending.pop(0)
            for machine, run, uart in ((board.machine, tt.run, board.uart), (ref, ref.run, ref_board.uart)):
                run(max_insns=when - machine.icount)
                post_uart(machine, "uart", uart, data)
        ref.run(max_insns=at - ref.icount)
        points.append((ref.icount, state(ref_board)))
    tt.run(max_insns=stops[-1] + 500 - board.machine.icount)
    for count, want in reversed(points):
        tt.goto(count)
        assert state(board) == want, f"state at instruction {count}"
    for count, want in points[::2]:
        tt.goto(count)
        assert state(board) == want
    assert tt.warnings == []


# -- reverse step -------------------------------------------------------------------

def test_reverse_step_retraces_forward_steps() -> None:
    # Going back one step at a time visits exactly the states stepping forward visits.
    fwd_board, _ = make_board("tt_echo")
    fwd = TimeTravel(fwd_board.machine)
    forward = [(fwd.position, fwd_board.machine.cpu.pc)]
    for _ in range(260):
        fwd.step()
        forward.append((fwd.position, fwd_board.machine.cpu.pc))

    board, _ = make_board("tt_echo")
    tt = TimeTravel(board.machine, interval=100)
    tt.run(max_insns=forward[-1][0].icount)
    assert tt.position == forward[-1][0]
    backward = [(tt.position, board.machine.cpu.pc)]
    while True:
        ev = tt.reverse_step()
        if ev.kind is StopKind.HISTORY_END:
            break
        assert ev.kind is StopKind.STEP and ev.pc == board.machine.cpu.pc
        backward.append((tt.position, board.machine.cpu.pc))
    assert backward[::-1] == forward
    assert tt.position == tt.start


def _came_from(board: Board) -> Tuple[int, int]:
    """At a vector just entered: (address of the instruction the exception came from,
    instructions it retired), from the mode's link register (ARM ARM B1.8.3, Table B1-7)."""
    cpu = board.machine.cpu
    mode = cpu.mode
    if mode == HYP:
        elr = cpu.elr_hyp
        ec = cpu.sysreg("HSR") >> 26
        return (elr - 4, 1) if ec == 0x12 else (elr, 0)     # HVC: return is the next insn
    lr = cpu.reg(14)
    thumb = bool(cpu.spsr & 0x20)
    vector = cpu.pc - (cpu.sysreg("VBAR") & ~0x1F)
    if mode == UND:
        return lr - (2 if thumb else 4), 0
    if mode == SVC:
        return lr - (2 if thumb else 4), 1
    if mode == ABT:
        return lr - (4 if vector == 0x0C else 8), 0               # prefetch abort / data abort
    if mode == IRQ:
        return lr - 4, 0
    raise AssertionError(f"unexpected mode {mode:#x}")


@pytest.mark.parametrize("name, insns", [("pl1_exceptions", 30000), ("tt_echo", 12000),
                                         ("timer_tick", 15000)])
def test_reverse_step_from_a_vector(name: str, insns: int) -> None:
    board, _ = make_board(name)
    m = board.machine
    tt = TimeTravel(m, interval=4000)
    entries: List[Tuple[Position, int]] = []
    m.entry.listeners.append(lambda e: entries.append((tt.position, e.vector)))
    inputs = ECHO_INPUT[:2] if name == "tt_echo" else []
    for at, data in inputs:
        tt.run(max_insns=at - m.icount)
        post_uart(m, "uart", board.uart, data)
    tt.run(max_insns=insns - m.icount)
    m.entry.listeners.pop()
    kinds = set()
    assert len(entries) >= 3
    for pos, vector in entries[-12:]:
        assert tt.goto(pos) == pos
        assert m.cpu.pc == vector
        insn, retired = _came_from(board)
        kinds.add((m.cpu.mode, retired))
        assert tt.reverse_step().kind is StopKind.STEP
        assert m.cpu.pc == insn
        assert tt.position.icount == pos.icount - retired
        assert tt.position.entries == pos.entries - 1
    if name == "pl1_exceptions":
        assert {(UND, 0), (SVC, 1), (ABT, 0)} <= kinds


def test_reverse_step_at_the_start() -> None:
    board, _ = make_board("tt_echo")
    tt = TimeTravel(board.machine)
    ev = tt.reverse_step()
    assert ev.kind is StopKind.HISTORY_END and tt.position == tt.start


# -- reverse continue ------------------------------------------------------------------

def test_reverse_continue_to_breakpoints() -> None:
    board, out, tt = echo_history()
    m = board.machine
    sy = symbols(build_image("tt_echo"))
    printed = echo_lines(out.getvalue())
    assert [chr(c) for c, _, _ in printed] == ["a", "b", "c", "d"]
    shown = out.getvalue()
    m.add_breakpoint(sy["echo_after_hvc"])
    for char, count, total in reversed(printed):
        ev = tt.reverse_continue()
        assert ev.kind is StopKind.BREAKPOINT and ev.pc == sy["echo_after_hvc"] == m.cpu.pc
        assert (m.cpu.reg(4), m.cpu.reg(5), m.cpu.reg(0)) == (char, count, total)
    ev = tt.reverse_continue()
    assert ev.kind is StopKind.HISTORY_END and tt.position == tt.start
    assert m.cpu.pc == sy["_start"]
    assert out.getvalue() == shown


def test_reverse_continue_to_watchpoints() -> None:
    # GDB on ARM reports a watchpoint before the access has changed memory.
    board, out, tt = echo_history()
    m = board.machine
    sy = symbols(build_image("tt_echo"))
    sums = [0] + [total for _, _, total in echo_lines(out.getvalue())]
    m.add_watchpoint(sy["hyp_sum"], 4, "watch")
    for i in range(len(sums) - 1, 0, -1):
        ev = tt.reverse_continue()
        assert ev.kind is StopKind.WATCHPOINT and ev.data_addr == sy["hyp_sum"]
        assert ev.pc == m.cpu.pc == sy["echo_sum_store"]
        assert int.from_bytes(m.read_phys(sy["hyp_sum"], 4), "little") == sums[i - 1]
        assert m.cpu.reg(3) == sums[i]
    assert tt.reverse_continue().kind is StopKind.HISTORY_END


def test_reverse_continue_to_catchpoints() -> None:
    # HVC #1 taken to Hyp: the Hyp Trap vector, HVBAR + 0x14 (ARM ARM B1.8.1); HSR EC 0x12,
    # IL 1, ISS the immediate (B3.13.6); ELR_hyp the next instruction (B1.8.3).
    board, out, tt = echo_history()
    m = board.machine
    sy = symbols(build_image("tt_echo"))
    catch = Catchpoints(m)
    catch.command(["hvc", "1"])
    chars = [c for c, _, _ in echo_lines(out.getvalue())]
    for char in reversed(chars):
        ev = tt.reverse_continue()
        assert ev.kind is StopKind.CATCH and "HVC #0x1" in ev.message
        assert m.cpu.pc == sy["echo_hyp_vectors"] + 0x14
        assert m.cpu.sysreg("HSR") == 0x4A000001
        assert m.cpu.elr_hyp == sy["echo_after_hvc"]
        assert m.cpu.reg(0) == char
    assert catch.points[0].hits == 0
    assert tt.reverse_continue().kind is StopKind.HISTORY_END


# -- forward again ---------------------------------------------------------------------

def test_forward_from_the_past_follows_the_history() -> None:
    board, out, tt = echo_history(until=30000, inputs=ECHO_INPUT + [(24000, b"q")])
    m = board.machine
    sy = symbols(build_image("tt_echo"))
    end, final, shown = tt.position, state(board), out.getvalue()
    assert shown.endswith(b"END\n")
    tt.goto(6000)
    m.add_breakpoint(sy["echo_after_hvc"])
    stop = tt.run()
    assert stop.kind == "breakpoint" and m.cpu.reg(4) == ord("b")
    m.remove_breakpoint(sy["echo_after_hvc"])
    stop = tt.run()
    assert stop.kind == "poweroff" and tt.position == end
    assert state(board) == final
    assert out.getvalue() == shown


def test_live_input_in_the_past_waits_for_the_present() -> None:
    board, out, tt = echo_history(until=20000)
    m = board.machine
    end = tt.position
    shown = out.getvalue()
    tt.goto(7000)
    post_uart(m, "uart", board.uart, b"e")
    tt.run(max_insns=end.icount - m.icount)
    assert tt.position >= end and out.getvalue() == shown
    tt.run(max_insns=3000)
    lines = echo_lines(out.getvalue())
    assert [chr(c) for c, _, _ in lines] == ["a", "b", "c", "d", "e"]
    assert lines[-1][1] > lines[-2][1]


def test_branching_drops_the_recorded_future() -> None:
    # A debugger write in the past makes a new future: the recorded one (its checkpoints,
    # its input) is dropped and execution goes on live from there.
    board, out, tt = echo_history()
    m = board.machine
    (_, _, sum_a), *_ = echo_lines(out.getvalue())
    tt.goto(8000)
    assert tt.in_past
    m.cpu.set_reg(5, 0x100000)
    tt.branch()
    assert not tt.in_past and all(ck.pos <= tt.position for ck in tt.checkpoints)
    mark = len(out.getvalue())
    post_uart(m, "uart", board.uart, b"x")
    tt.run(max_insns=4000)
    new = echo_lines(out.getvalue()[mark:])
    assert len(new) == 1 and new[0][0] == ord("x")
    char, count, total = new[0]
    assert count >= 0x100000
    assert total == (sum_a * 33 + char + count) & 0xFFFFFFFF    # tt_echo's running sum
    assert tt.reverse_step().kind is StopKind.STEP


def test_interrupting_reverse_continue() -> None:
    # GDB's Ctrl-C (request_stop) during a reverse-continue ends it: INTERRUPTED, and the
    # machine back where the search started.
    board, _, tt = echo_history()
    m = board.machine
    m.add_breakpoint(symbols(build_image("tt_echo"))["echo_after_hvc"])
    here, state_here = tt.position, state(board)
    m.request_stop()
    ev = tt.reverse_continue()
    assert ev.kind is StopKind.INTERRUPTED
    assert tt.position == here and state(board) == state_here
    assert tt.reverse_continue().kind is StopKind.BREAKPOINT
