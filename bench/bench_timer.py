"""What a periodic timer interrupt costs hypdbg: compute-bound speed with and without a 1 kHz tick.

Builds bench/images/timerloop.S twice, with and without the timer (GNU
as/ld, linked at 0x40000000), and runs each on a hypdbg board in this
process (deterministic virtual time: one instruction per virtual nanosecond,
as QEMU's -icount shift=0, and the 62.5 MHz counter one tick per 16
instructions, so the 1 kHz tick, every 62,500 ticks, fires every 1,000,000
instructions and is taken in Non-secure SVC mode through the GIC). Only
``Board.run`` is timed. The instruction count comes from the machine and is
checked against the image's formula; the tick count is read from the
image's ``ticks`` word and checked against the instruction count. Times
are CPU seconds of this process, best of ``--repeat`` runs.
Prints a markdown table with the ratio; the target is a ratio of at least
2/3 (the timer costs no more than a third of the speed).
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
BUILD = HERE / "build"
PERIOD = 62_500                 # counter ticks per timer interrupt (timerloop.S)
HANDLER_INSNS = 16              # vector branch + IRQ handler, per tick (timerloop.S)
TARGET_RATIO = 2 / 3
DEFAULT_ITERS = 40_000_000      # 200 M loop instructions, 200 ticks
QUICK_ITERS = 8_000_000


@dataclass
class Result:
    """One run: CPU time of ``Board.run``, instructions retired, ticks the image counted."""

    seconds: float
    insns: int
    ticks: int


def build(iters: int, timer: bool) -> Path:
    """Assemble and link timerloop.S with its ITERS and TIMER symbols; return the ELF."""
    BUILD.mkdir(exist_ok=True)
    stem = BUILD / f"timerloop-{iters}-{int(timer)}"
    obj, elf = stem.with_suffix(".o"), stem.with_suffix(".elf")
    srcs = [IMAGES / "timerloop.S", IMAGES / "common.inc"]
    if not elf.exists() or elf.stat().st_mtime < max(s.stat().st_mtime for s in srcs):
        subprocess.run(["arm-none-eabi-as", "-I", str(IMAGES), "--defsym", f"ITERS={iters}",
                        "--defsym", f"TIMER={int(timer)}", "-o", str(obj), str(srcs[0])], check=True)
        subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-e", "_start", "-o", str(elf),
                        str(obj)], check=True)
    return elf


def ticks_address(elf: Path) -> int:
    """Address of the image's ``ticks`` word."""
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return symtab.get_symbol_by_name("ticks")[0]["st_value"]


def run_once(elf: Path) -> Result:
    """Build a board for the image, run it to power-off, time only the run.

    CPU time of this process, not wall time: the figure then holds on a
    machine that is busy with other work.
    """
    from hypdbg.core.board import build_board
    board = build_board(str(elf), serial="none", uart_out=io.BytesIO())
    t0 = time.process_time()
    stop = board.run()
    dt = time.process_time() - t0
    if stop.kind != "poweroff":
        raise RuntimeError(f"{elf.name}: stopped with {stop.kind}: {stop.message}")
    ticks = int.from_bytes(board.machine.read_phys(ticks_address(elf), 4), "little")
    return Result(dt, board.machine.icount, ticks)


def best(elf: Path, repeat: int) -> Result:
    """The fastest of ``repeat`` runs (the counts are the same in every run)."""
    runs = [run_once(elf) for _ in range(repeat)]
    counts = {(r.insns, r.ticks) for r in runs}
    if len(counts) != 1:
        raise RuntimeError(f"{elf.name}: runs differ in (instructions, ticks): {sorted(counts)}")
    return min(runs, key=lambda r: r.seconds)


def check(iters: int, plain: Result, timed: Result) -> List[str]:
    """Consistency of the counts with the image: the loop ran, the ticks came on time."""
    problems = []
    loop = 5 * iters
    if not loop <= plain.insns < loop + 100:
        problems.append(f"without the timer: {plain.insns:,} instructions, the loop alone is {loop:,}")
    if plain.ticks:
        problems.append(f"without the timer the image counted {plain.ticks} ticks")
    extra = timed.insns - plain.insns
    setup = 20                                   # GIC and timer programming, < 20 instructions
    if not 0 <= extra - HANDLER_INSNS * timed.ticks <= setup:
        problems.append(f"with the timer: {extra:,} more instructions for {timed.ticks} ticks "
                        f"(handler {HANDLER_INSNS} each)")
    # A tick every PERIOD counter ticks: the count at power-off says how many were due.
    from hypdbg.core.timer import INSNS_PER_TICK
    due = timed.insns // (PERIOD * INSNS_PER_TICK)
    if abs(timed.ticks - due) > 1:
        problems.append(f"{timed.ticks} ticks taken, {due} due in {timed.insns:,} instructions")
    return problems


def table(rows: List[List[str]]) -> str:
    head = ["configuration", "instructions", "ticks", "CPU seconds", "MIPS", "relative speed"]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(r: List[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, help=f"loop iterations (default {DEFAULT_ITERS:,})")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_ITERS:,} iterations")
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration, best kept (default 3)")
    args = ap.parse_args(argv)
    for tool in ("arm-none-eabi-as", "arm-none-eabi-ld"):
        if shutil.which(tool) is None:
            print(f"bench_timer: {tool} not found", file=sys.stderr)
            return 1
    iters = args.iters or (QUICK_ITERS if args.quick else DEFAULT_ITERS)
    rep = max(1, args.repeat)
    results: List[Tuple[str, Result]] = []
    for label, timer in (("no timer", False), ("1 kHz timer", True)):
        print(f"bench_timer: {label}, {5 * iters:,} loop instructions ...", file=sys.stderr, flush=True)
        results.append((label, best(build(iters, timer), rep)))
    (_, plain), (_, timed) = results
    base = plain.insns / plain.seconds
    rows = [[label, f"{r.insns:,}", str(r.ticks), f"{r.seconds:.3f}",
             f"{r.insns / r.seconds / 1e6:.1f}", f"{r.insns / r.seconds / base:.2f}"]
            for label, r in results]
    ratio = timed.insns / timed.seconds / base
    from hypdbg.core.timer import INSNS_PER_TICK
    print(f"hypdbg, deterministic time, 1 kHz = one tick per {PERIOD * INSNS_PER_TICK:,} instructions; "
          f"best of {rep}\n")
    print(table(rows))
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"\nWith the timer: {ratio:.2f} of the speed without it ({verdict} the target of "
          f"{TARGET_RATIO:.2f}); {timed.seconds / max(timed.ticks, 1) * 1e6:.0f} us per tick in all, "
          f"{(timed.seconds - plain.seconds * timed.insns / plain.insns) / max(timed.ticks, 1) * 1e6:.0f} "
          f"us more than the instructions alone.")
    problems = check(iters, plain, timed)
    if problems:
        print("\nCOUNT PROBLEMS:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
