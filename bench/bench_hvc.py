"""HVC round trips per second: hypdbg against qemu-system-arm, in the same run.

The host (SVC) calls ``hvc #0`` in a loop and the Hyp handler ERETs at once, so
each iteration is one entry to Hyp and one ERET back: the cheapest world
switch. On hypdbg every entry to Hyp passes through Python (exception entry,
exit log, catchpoint checks) and every ERET through an address hook, so this
measures that path; a second table shows what catchpoints that never fire cost on it.
QEMU runs the same ELF plainly (no -icount) and with
``-icount shift=0,sleep=off``; start-up is removed by also timing ITERS=0.

    .venv/bin/python bench/bench_hvc.py [--quick] [--iters N] [--qemu-iters N] [--repeat R]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
QEMU = ["qemu-system-arm", "-M", "virt,virtualization=on", "-cpu", "cortex-a15", "-m", "256",
        "-nographic", "-monitor", "none", "-serial", "none", "-kernel"]


def build(iters: int) -> Path:
    BUILD.mkdir(exist_ok=True)
    obj, elf = BUILD / f"hvcloop-{iters}.o", BUILD / f"hvcloop-{iters}.elf"
    subprocess.run(["arm-none-eabi-as", "-march=armv7ve", f"--defsym=ITERS={iters}",
                    "-I", str(HERE / "images"), "-o", str(obj), str(HERE / "images" / "hvcloop.S")],
                   check=True)
    subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-o", str(elf), str(obj)], check=True)
    return elf


def wall(cmd: List[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=600)
        best = min(best, time.perf_counter() - t)
    return best


def rate(cmd_of, iters: int, repeat: int) -> float:
    """Round trips per second, with the empty run's time subtracted."""
    base = wall(cmd_of(build(0)), repeat)
    full = wall(cmd_of(build(iters)), repeat)
    return iters / max(full - base, 1e-6)


def catch_cost(iters: int, repeat: int) -> List[float]:
    """Round trips/s in process, without catchpoints and with three that never fire."""
    import io

    from hypdbg.core.board import build_board
    from hypdbg.core.target import MachineTarget

    elf = build(iters)
    rates = []
    for catches in ((), ("hvc 0x999", "trap smc", "eret guest:9")):
        best = 0.0
        for _ in range(repeat):
            board = build_board(str(elf), serial="none", uart_out=io.BytesIO())
            target = MachineTarget(board.machine)
            for c in catches:
                target.monitor("catch " + c)
            t = time.perf_counter()
            board.run()
            best = max(best, iters / (time.perf_counter() - t))
        rates.append(best)
    return rates


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=20000, help="round trips on hypdbg")
    ap.add_argument("--qemu-iters", type=int, default=2000000, help="round trips on QEMU")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="a few seconds: 5,000 round trips on hypdbg, 500,000 on QEMU, one run each")
    args = ap.parse_args(argv)
    if args.quick:
        args.iters, args.qemu_iters, args.repeat = 5000, 500000, 1
    if not shutil.which("qemu-system-arm") or not shutil.which("arm-none-eabi-as"):
        print("needs qemu-system-arm and arm-none-eabi-as", file=sys.stderr)
        return 2
    hyp = [sys.executable, "-m", "hypdbg.cli", "run"]
    rows = [
        ("hypdbg (deterministic)", rate(lambda e: hyp + [str(e)], args.iters, args.repeat)),
        ("hypdbg --fast", rate(lambda e: hyp + ["--fast", str(e)], args.iters, args.repeat)),
    ]
    qemu = rate(lambda e: QEMU + [str(e)], args.qemu_iters, args.repeat)
    qemu_ic = rate(lambda e: QEMU[:1] + ["-icount", "shift=0,sleep=off"] + QEMU[1:] + [str(e)],
                   args.qemu_iters, args.repeat)
    print("| HVC round trips | per second | ratio to QEMU | ratio to QEMU -icount |")
    print("|---|---|---|---|")
    print(f"| qemu-system-arm | {qemu:,.0f} | 1.00 | |")
    print(f"| qemu-system-arm -icount shift=0 | {qemu_ic:,.0f} | | 1.00 |")
    for name, r in rows:
        print(f"| {name} | {r:,.0f} | {r / qemu:.4f} | {r / qemu_ic:.4f} |")
    plain, caught = catch_cost(args.iters, args.repeat)
    print()
    print("| in process | round trips/s | ratio |")
    print("|---|---|---|")
    print(f"| no catchpoints | {plain:,.0f} | 1.00 |")
    print(f"| three catchpoints that never fire | {caught:,.0f} | {caught / plain:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
