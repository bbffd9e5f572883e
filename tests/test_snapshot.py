"""Machine snapshots (core/snapshot.py): restoring one and running again repeats the run.

The requirement is the determinism DESIGN.md states for virtual time: the
same machine state and the same inputs give the same execution, instruction
for instruction. So a snapshot is right when a run from a restored snapshot
is indistinguishable from the run that followed the snapshot the first time:
CPU context, every byte of RAM, UART output, instruction count and virtual
time (timers and the GIC included, through the interrupts the images take).
"""
from __future__ import annotations

import hashlib
import io
from typing import Dict, List, Tuple

import pytest

from hypdbg.core import snapshot as S
from hypdbg.core.board import Board, build_board
from hypdbg.core.machine import RAM_BASE
from hypdbg.core.record import post_uart

from imagebuild import build_image, missing_tools, symbols

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}")

RAM_MB = 16


def make_board(name: str, ram_mb: int = RAM_MB) -> Tuple[Board, io.BytesIO]:
    out = io.BytesIO()
    return build_board(str(build_image(name)), ram_mb=ram_mb, serial="none", uart_out=out), out


def ram_hash(board: Board, size: int = RAM_MB << 20) -> str:
    """Hash of the first ``size`` bytes of RAM (all the images here touch)."""
    m = board.machine
    return hashlib.sha256(m.uc.mem_read(RAM_BASE, min(size, m.ram_size))).hexdigest()


def machine_state(board: Board) -> Dict[str, object]:
    m = board.machine
    cpu = m.cpu
    return {"regs": [cpu.reg(n) for n in range(16)], "cpsr": cpu.cpsr, "elr_hyp": cpu.elr_hyp,
            "context": S.context_data(m.uc.context_save()), "ram": ram_hash(board),
            "icount": m.icount, "vtime": m.vtime, "exits": m.worlds.total}


def run_with_inputs(board: Board, insns: int, inputs: List[Tuple[int, bytes]]) -> None:
    """Run ``insns`` instructions, posting each input once the count reaches its offset."""
    m = board.machine
    start = m.icount
    for at, data in inputs:
        m.run(max_insns=start + at - m.icount)
        post_uart(m, "uart", board.uart, data)
    m.run(max_insns=start + insns - m.icount)


@pytest.mark.parametrize("name, n, m_insns, inputs", [
    # UART input consumed, HVC exits to Hyp, 64 table pages written after the snapshot
    ("tt_echo", 3000, 12000, [(500, b"ab"), (6000, b"c")]),
    # the physical timer's PPI taken as IRQs, WFI idling to the next deadline
    ("timer_tick", 2500, 9000, []),
])
def test_restore_then_run_repeats_the_run(name: str, n: int, m_insns: int,
                                          inputs: List[Tuple[int, bytes]]) -> None:
    board, out = make_board(name)
    m = board.machine
    m.run(max_insns=n)
    snap = S.take(m)
    before = machine_state(board)
    mark = len(out.getvalue())
    run_with_inputs(board, m_insns, inputs)
    first = machine_state(board)
    first_out = out.getvalue()[mark:]
    assert first["icount"] > before["icount"] and first["ram"] != before["ram"]

    S.restore(m, snap)
    assert machine_state(board) == before
    mark = len(out.getvalue())
    run_with_inputs(board, m_insns, inputs)
    assert machine_state(board) == first
    assert out.getvalue()[mark:] == first_out and first_out


def test_snapshots_keep_only_changed_pages() -> None:
    # 256 MiB of RAM: a snapshot stores the 1 KiB pages written since the one before
    # (tt_echo's wait loop stores into 64 pages of its table), never all of RAM.
    board, _ = make_board("tt_echo", ram_mb=256)
    m = board.machine
    snaps = S.snapshotter(m)
    first = S.take(m)
    m.run(max_insns=4000)
    second = S.take(m)
    m.run(max_insns=4000)
    third = S.take(m)
    assert 64 <= second.pages <= 128
    assert third.pages <= 128
    assert snaps.nbytes < 1 << 20
    hashes = {}
    for snap in (third, first, second, third):
        S.restore(m, snap)
        hashes.setdefault(snap.label, ram_hash(board))
        assert ram_hash(board) == hashes[snap.label]
    assert len(set(hashes.values())) == 3


def test_debugger_write_is_undone_by_restore() -> None:
    # A write through Machine.write_phys (the debugger's path) is tracked like a CPU store.
    board, _ = make_board("tt_echo")
    m = board.machine
    addr = symbols(build_image("tt_echo"))["hyp_sum"]
    m.run(max_insns=1000)
    snap = S.take(m)
    old = m.read_phys(addr, 4)
    m.write_phys(addr, b"\x5a\x5a\x5a\x5a")
    assert m.read_phys(addr, 4) == b"\x5a\x5a\x5a\x5a"
    S.restore(m, snap)
    assert m.read_phys(addr, 4) == old


def test_uart_fifo_comes_back() -> None:
    # PL011 receive FIFO (DDI 0183 3.3.3): bytes received but not yet read by the guest
    # are device state; after restore the guest reads them again, in order.
    board, out = make_board("tt_echo")
    m = board.machine
    m.run(max_insns=2000)
    board.uart.feed(b"xy")
    snap = S.take(m)
    m.run(max_insns=4000)
    first = out.getvalue()
    assert b"x:" in first and b"y:" in first
    S.restore(m, snap)
    assert list(board.uart.fifo) + list(board.uart.backlog) == list(b"xy")
    mark = len(out.getvalue())
    m.run(max_insns=4000)
    assert out.getvalue()[mark:] == first[len(first) - len(out.getvalue()[mark:]):]


def test_inserted_snapshot_between_two() -> None:
    # A snapshot taken between two others (after replaying from the first) must not
    # disturb the later one: every label restores the RAM it had.
    board, _ = make_board("tt_echo")
    m = board.machine
    snaps = S.Snapshotter(m)
    snaps.take(0)
    m.run(max_insns=3000)
    mid_count = m.icount
    mid_ram = ram_hash(board)
    m.run(max_insns=3000)
    snaps.take(20)
    late_ram = ram_hash(board)
    snaps.restore(snaps.snaps[0])
    m.run(max_insns=mid_count)
    assert m.icount == mid_count
    snaps.take(10)
    for label, want in ((20, late_ram), (0, None), (10, mid_ram), (20, late_ram), (10, mid_ram)):
        snaps.restore(snaps.snaps[label])
        if want is not None:
            assert ram_hash(board) == want
    snaps.detach()


def test_every_machine_field_is_classified() -> None:
    # A plain-data attribute of Machine is either state (restored) or control (left alone);
    # a new one must be put in one of the two lists of core/snapshot.py.
    board, _ = make_board("tt_echo")
    m = board.machine
    unknown = [name for name, value in vars(m).items()
               if not callable(value) and S.is_data(value)
               and name not in S.MACHINE_STATE and name not in S.MACHINE_CONTROL]
    assert unknown == []
    assert all(hasattr(m, name) for name in S.MACHINE_STATE)
