"""What time travel costs: run speed with checkpoints on, and the time to step back.

For each workload (the compute-bound images of bench/images, built by
bench_cpu's builder, and the world-switch example when it is there):

* MIPS of a plain ``Machine.run`` and of ``TimeTravel.run`` (checkpoints at
  the default period), best of ``--repeat`` runs, CPU time of this thread;
* the checkpoints kept at the end and the RAM their page copies hold;
* reverse-stepi with one million instructions of history (the run stopped at
  1,000,000 instructions, or at its end if shorter): the first step back,
  which replays from the nearest checkpoint, and the median of the next ten,
  which replay from the checkpoint the first one left close by;
* the same at the end of the whole run.

Instruction counts are the machine's own (the run ends at PSCI SYSTEM_OFF).
Targets: checkpoints cost under 10% of run speed; a reverse-stepi answers in
under a second. ``--quick`` runs smaller sizes.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_cpu import WORKLOADS, build_image  # noqa: E402

from hypdbg.core.board import Board, build_board  # noqa: E402
from hypdbg.core.timetravel import TimeTravel  # noqa: E402

WORLDSWITCH = HERE.parent / "examples" / "worldswitch" / "worldswitch.elf"
HISTORY = 1_000_000
NEXT_STEPS = 10
#: workload -> (full size, quick size) of its size symbol
SIZES = {"intloop": (12_000_000, 2_400_000), "branchy": (5_000_000, 1_000_000),
         "thumbloop": (10_000_000, 2_000_000), "memsmall": (2_000, 400), "memloop": (4, 4)}


@dataclass
class Result:
    name: str
    insns: int
    plain: float
    travel: float
    checkpoints: int
    kept_kib: int
    back_1m: Tuple[float, float]
    back_end: Tuple[float, float]


def clock() -> float:
    return time.thread_time()


def board_for(path: str) -> Board:
    return build_board(path, ram_mb=64, serial="none", uart_out=io.BytesIO())


def timed(fn: Callable[[], object]) -> float:
    t0 = clock()
    fn()
    return clock() - t0


def steps_back(tt: TimeTravel) -> Tuple[float, float]:
    """(first reverse-stepi, median of the next ones), in seconds."""
    first = timed(tt.reverse_step)
    rest = [timed(tt.reverse_step) for _ in range(NEXT_STEPS)]
    return first, statistics.median(rest)


def measure(name: str, path: str, repeat: int) -> Result:
    plain, travel, insns = [], [], 0
    tt: Optional[TimeTravel] = None
    for _ in range(repeat):
        board = board_for(path)
        plain.append(timed(board.machine.run))
        insns = board.machine.icount
        board = board_for(path)
        tt = TimeTravel(board.machine)
        travel.append(timed(tt.run))
        assert board.machine.icount == insns, f"{name}: {board.machine.icount} != {insns}"
    assert tt is not None
    kept = (len(tt.checkpoints), tt.snaps.nbytes // 1024)
    back_end = steps_back(tt)
    board = board_for(path)
    short = TimeTravel(board.machine)
    short.run(max_insns=min(HISTORY, insns))
    back_1m = steps_back(short)
    return Result(name, insns, insns / min(plain) / 1e6, insns / min(travel) / 1e6,
                  kept[0], kept[1], back_1m, back_end)


def ms(t: float) -> str:
    return f"{t * 1e3:.1f}"


def table(results: List[Result]) -> str:
    head = ["workload", "instructions", "plain MIPS", "checkpointed MIPS", "speed ratio",
            "checkpoints", "pages kept KiB", "reverse-stepi @1M first / next ms",
            "reverse-stepi @end first / next ms"]
    rows = [[r.name, f"{r.insns:,}", f"{r.plain:.1f}", f"{r.travel:.1f}", f"{r.travel / r.plain:.2f}",
             str(r.checkpoints), str(r.kept_kib), f"{ms(r.back_1m[0])} / {ms(r.back_1m[1])}",
             f"{ms(r.back_end[0])} / {ms(r.back_end[1])}"] for r in results]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    worst_ratio = min(r.travel / r.plain for r in results)
    worst_back = max(max(r.back_1m[0], r.back_end[0]) for r in results)
    lines.append("")
    lines.append(f"slowest speed ratio {worst_ratio:.2f} (target >= 0.90); "
                 f"slowest reverse-stepi {ms(worst_back)} ms (target < 1000 ms)")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--scale", type=int, default=1,
                    help="multiply the sizes (longer runs: several checkpoint periods)")
    args = ap.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    results: List[Result] = []
    for w in WORKLOADS:
        if w.name not in SIZES or (wanted and w.name not in wanted):
            continue
        n = SIZES[w.name][1 if args.quick else 0] * args.scale
        elf, _ = build_image(w, n)
        results.append(measure(w.name, str(elf), args.repeat))
        print(f"# {w.name}: done", file=sys.stderr, flush=True)
    if WORLDSWITCH.exists() and (not wanted or "worldswitch" in wanted):
        results.append(measure("worldswitch", str(WORLDSWITCH), args.repeat))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
