"""Recordings (core/record.py): a recorded run replays to the same output and count.

DESIGN.md: virtual time counts retired instructions so that the same image and
inputs give the same stop at the same instruction count. A recording is the
inputs, so replaying it on a freshly built board must reproduce the UART output
byte for byte and stop where the recorded run stopped. tt_echo prints, for each
character, the instruction-dependent count of its wait loop, so an input
applied one instruction off would show in the output.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import List, Tuple

import pytest

from hypdbg.core import record as R
from hypdbg.core.board import Board, build_board
from hypdbg.core.debug import StopKind
from hypdbg.core.machine import Stop

from imagebuild import build_image, missing_tools, symbols

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}")

RAM_MB = 16
INPUT: List[Tuple[int, bytes]] = [(3000, b"h"), (7300, b"ey"), (7301, b"!"), (16000, b"q")]


def make_board(path: str, **options: object) -> Tuple[Board, io.BytesIO]:
    out = io.BytesIO()
    options.setdefault("ram_mb", RAM_MB)
    return build_board(path, serial="none", uart_out=out, **options), out  # type: ignore[arg-type]


def record_echo(path: Path) -> Tuple[R.Recording, bytes, Stop, int]:
    """Run tt_echo, feeding INPUT through post_input at fixed counts, and record it."""
    elf = build_image("tt_echo")
    board, out = make_board(str(elf))
    m = board.machine
    rec = R.Recorder(m, elf, {"ram_mb": RAM_MB}, uart=board.uart)
    for at, data in INPUT:
        rec.run(max_insns=at - m.icount)
        R.post_uart(m, "uart", board.uart, data)
    stop = rec.run(max_insns=100_000)
    recording = rec.finish(path, stop)
    return recording, out.getvalue(), stop, m.icount


def test_recorded_run_replays_identically(tmp_path: Path) -> None:
    path = tmp_path / "echo.json"
    _, output, stop, count = record_echo(path)
    assert stop.kind == "poweroff" and output.endswith(b"END\n")
    loaded = R.Recording.load(path)
    board, out = make_board(loaded.check_image(), **R.board_options(loaded))
    tt = R.replay_history(board.machine, loaded, {"uart": board.uart})
    replayed = tt.run()
    assert replayed.kind == "poweroff" and replayed.exit_code == stop.exit_code
    assert out.getvalue() == output
    assert board.machine.icount == count
    assert loaded.end is not None and tt.position == loaded.end.pos
    assert loaded.end.output_bytes == len(output)


def test_replay_in_pieces_and_without_checkpoints(tmp_path: Path) -> None:
    # Where the replay stops along the way does not move the input.
    path = tmp_path / "echo.json"
    _, output, _, count = record_echo(path)
    loaded = R.Recording.load(path)
    board, out = make_board(loaded.check_image(), **R.board_options(loaded))
    tt = R.replay_history(board.machine, loaded, {"uart": board.uart}, checkpoints=False)
    stop = tt.run(max_insns=2999)
    while stop.kind == "limit":
        stop = tt.run(max_insns=1234)
    assert out.getvalue() == output and board.machine.icount == count


def test_recording_file(tmp_path: Path) -> None:
    path = tmp_path / "echo.json"
    recording, _, _, _ = record_echo(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == R.FORMAT and doc["version"] == R.VERSION
    assert doc["image"]["sha256"] == R.file_sha256(build_image("tt_echo"))
    inputs = [ev for ev in doc["events"] if ev["kind"] == "input"]
    assert [bytes.fromhex(ev["data"]) for ev in inputs] == [data for _, data in INPUT]
    assert all(ev["device"] == "uart" for ev in inputs)
    counts = [ev["icount"] for ev in inputs]
    assert counts == sorted(counts) and counts[0] >= INPUT[0][0]
    assert doc["end"]["stop"] == "poweroff" and doc["end"]["icount"] == recording.end.pos.icount


def test_replay_refuses_another_image(tmp_path: Path) -> None:
    path = tmp_path / "echo.json"
    record_echo(path)
    loaded = R.Recording.load(path)
    with pytest.raises(R.RecordError, match="SHA-256"):
        loaded.check_image(build_image("timer_tick"))
    path.write_text("{}")
    with pytest.raises(R.RecordError, match="not a hypdbg recording"):
        R.Recording.load(path)


def test_an_unrecordable_input_is_refused(tmp_path: Path) -> None:
    elf = build_image("tt_echo")
    board, _ = make_board(str(elf))
    m = board.machine
    rec = R.Recorder(m, elf, {"ram_mb": RAM_MB})
    rec.run(max_insns=2000)
    m.post_input(lambda: board.uart.feed(b"z"))
    rec.run(max_insns=2000)
    with pytest.raises(R.RecordError, match="cannot be recorded"):
        rec.finish(tmp_path / "x.json")


def test_reverse_debugging_a_replayed_run(tmp_path: Path) -> None:
    # The replayed history is a history like any other: going back finds the HVC
    # exits of the recorded run, each with the character it carried in r0.
    path = tmp_path / "echo.json"
    _, output, _, _ = record_echo(path)
    loaded = R.Recording.load(path)
    board, out = make_board(loaded.check_image(), **R.board_options(loaded))
    m = board.machine
    tt = R.replay_history(m, loaded, {"uart": board.uart})
    tt.run()
    sy = symbols(build_image("tt_echo"))
    m.add_breakpoint(sy["echo_hvc"])
    seen = []
    while True:
        ev = tt.reverse_continue()
        if ev.kind is StopKind.HISTORY_END:
            break
        assert ev.kind is StopKind.BREAKPOINT and m.cpu.pc == sy["echo_hvc"]
        seen.append(m.cpu.reg(0))
    assert bytes(reversed(seen)) == b"".join(data for _, data in INPUT)
    assert out.getvalue() == output
