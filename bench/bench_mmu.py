"""Cost of translation: a page-touching guest under stage 1 and stage 2, hypdbg against QEMU.

Builds bench/images/mmu_touch.S (GNU as/ld, linked at 0x40000000, entered in
Hyp mode): Hyp code sets up a stage-2 map and a short-descriptor guest stage 1,
both with 4 KiB pages over the buffer, and the guest touches PAGES distinct
pages PASSES times (a load and a store each). Each workload runs, in the same
invocation,

* on QEMU (``-M virt,virtualization=on -cpu cortex-a15``) with
  ``-icount shift=0,sleep=off`` (deterministic) and plain;
* on hypdbg with ``python -m hypdbg.cli run`` (deterministic) and
  ``run --fast``;

and the table gives wall times with the start-up of an image that powers off
at once subtracted, the cost per page touch, and hypdbg/QEMU ratios of that
cost (above 1: hypdbg is slower). QEMU runs several times as many passes
as hypdbg (``qemu_scale``), so that its time stands clear of start-up noise. With ``--fills`` a
column counts the TLB fills hypdbg walked in Python (stage 1 and stage 2) in one
more, in-process, run; unicorn's later misses on the same pages are answered by the
C translation cache (core/tlbcache.c). Times are the best of ``--repeat``
runs. ``--quick`` uses small sizes (seconds); the full sizes take about a
minute on a 2-core machine.
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
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "images" / "mmu_touch.S"
BUILD = HERE / "build"
QEMU = ["qemu-system-arm", "-M", "virt,virtualization=on", "-cpu", "cortex-a15",
        "-nographic", "-m", "128", "-monitor", "none", "-serial", "null"]
QEMU_ICOUNT = ["-icount", "shift=0,sleep=off"]
HYPDBG = [sys.executable, "-m", "hypdbg.cli", "run"]


@dataclass(frozen=True)
class Workload:
    """PAGES distinct pages touched PASSES times (full and --quick sizes) on hypdbg,
    ``qemu_scale`` times as often on QEMU."""

    pages: int
    passes: int
    quick_passes: int
    qemu_scale: int

    @property
    def name(self) -> str:
        return f"{self.pages} pages"


WORKLOADS: List[Workload] = [
    Workload(64, 40000, 4000, 10),  # fits in unicorn's TLB: one fill per page
    Workload(1024, 3000, 300, 1),   # more pages than unicorn's TLB holds: a fill per touch,
    Workload(4096, 800, 80, 1),     # answered by the C translation cache after the first pass
]


def build(defs: Dict[str, int], tag: str) -> Path:
    """Assemble and link the workload with ``defs`` as --defsym; cached by name and source time."""
    BUILD.mkdir(exist_ok=True)
    elf = BUILD / f"mmu_touch-{tag}.elf"
    if elf.exists() and elf.stat().st_mtime >= SOURCE.stat().st_mtime:
        return elf
    obj = elf.with_suffix(".o")
    syms = [a for k, v in defs.items() for a in ("--defsym", f"{k}={v}")]
    subprocess.run(["arm-none-eabi-as", *syms, "-o", str(obj), str(SOURCE)], check=True)
    subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-e", "_start", "-o", str(elf), str(obj)],
                   check=True)
    return elf


def time_cmd(cmd: List[str], timeout: float = 600) -> float:
    """Wall time of a command that must exit with status 0."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, timeout=timeout, check=False)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.decode()[-300:]}")
    return dt


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def hypdbg_fills(elf: Path) -> int:
    """TLB fills of one deterministic hypdbg run of ``elf`` (in-process)."""
    from hypdbg.core.board import build_board
    machine = build_board(str(elf), serial="none", uart_out=io.BytesIO()).machine
    stop = machine.run(max_insns=1 << 34)
    if stop.kind != "poweroff":
        raise RuntimeError(f"{elf.name}: hypdbg stopped: {stop.kind} {stop.message}")
    return machine.mmu.fills


def table(head: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(r: List[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows])


def fmt_s(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def per(seconds: Optional[float], touches: int) -> Optional[float]:
    return None if seconds is None else seconds / touches


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return "-" if a is None or b is None or b <= 0 else f"{a / b:.2f}x"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few seconds in all)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement, best kept (default 1)")
    ap.add_argument("--no-fast", action="store_true", help="skip QEMU plain and hypdbg --fast")
    ap.add_argument("--fills", action="store_true", help="also count hypdbg's TLB fills (one more run)")
    args = ap.parse_args(argv)
    for tool in ("arm-none-eabi-as", "arm-none-eabi-ld", QEMU[0]):
        if shutil.which(tool) is None:
            print(f"bench_mmu: {tool} not found", file=sys.stderr)
            return 1
    rep = max(1, args.repeat)
    fast = not args.no_fast

    empty = build({"EMPTY": 1}, "empty")
    q0 = best(lambda: time_cmd(QEMU + QEMU_ICOUNT + ["-kernel", str(empty)]), rep + 1)
    h0 = best(lambda: time_cmd(HYPDBG + [str(empty)]), rep + 1)
    qf0 = best(lambda: time_cmd(QEMU + ["-kernel", str(empty)]), rep + 1) if fast else None
    hf0 = best(lambda: time_cmd(HYPDBG + ["--fast", str(empty)]), rep + 1) if fast else None

    rows = []
    for w in WORKLOADS:
        passes = w.quick_passes if args.quick else w.passes
        elf = build({"PAGES": w.pages, "PASSES": passes}, f"{w.pages}-{passes}")
        qpasses = passes * w.qemu_scale
        qelf = build({"PAGES": w.pages, "PASSES": qpasses}, f"{w.pages}-{qpasses}")
        touches, qtouches = w.pages * passes, w.pages * qpasses
        print(f"bench_mmu: {w.name}: hypdbg x {passes} passes, QEMU x {qpasses} ...",
              file=sys.stderr, flush=True)
        q = best(lambda: time_cmd(QEMU + QEMU_ICOUNT + ["-kernel", str(qelf)]), rep) - q0
        h = best(lambda: time_cmd(HYPDBG + [str(elf)]), rep) - h0
        row = [w.name, f"{touches:,}", f"{qtouches:,}",
               f"{hypdbg_fills(elf):,}" if args.fills else "-",
               fmt_s(q), fmt_s(h), ratio(per(h, touches), per(q, qtouches))]
        if fast:
            qf = best(lambda: time_cmd(QEMU + ["-kernel", str(qelf)]), rep) - (qf0 or 0)
            hf = best(lambda: time_cmd(HYPDBG + ["--fast", str(elf)]), rep) - (hf0 or 0)
            row += [fmt_s(qf), fmt_s(hf), ratio(per(hf, touches), per(qf, qtouches))]
        rows.append(row)

    print()
    print(f"sizes: {'quick' if args.quick else 'full'}; best of {rep}; start-up subtracted: "
          f"QEMU -icount {q0 * 1e3:.0f} ms, hypdbg {h0 * 1e3:.0f} ms"
          + (f", QEMU {qf0 * 1e3:.0f} ms, hypdbg --fast {hf0 * 1e3:.0f} ms" if fast else ""))
    print()
    head = ["workload", "hypdbg touches", "QEMU touches", "hypdbg TLB fills", "qemu -icount s",
            "hypdbg run s", "per-touch ratio"]
    if fast:
        head += ["qemu s", "hypdbg --fast s", "per-touch ratio"]
    print(table(head, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
