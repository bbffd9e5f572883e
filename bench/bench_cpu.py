"""CPU speed of hypdbg's execution modes against qemu-system-arm, in the same run.

Builds the compute-bound images in bench/images (GNU as/ld, linked at
0x40000000, entered in Hyp mode, ended by PSCI SYSTEM_OFF) and runs each one

* on QEMU: ``-M virt,virtualization=on -cpu cortex-a15``, plain and with
  ``-icount shift=0,sleep=off`` (QEMU's deterministic mode); the wall time
  of the empty image is subtracted (start-up and exit);
* on unicorn through a minimal harness here: free-running (no hook), counted
  with the C block hook of ``hypdbg.core.fastcount`` in deadline slices,
  counted with ``emu_start(count=...)`` slices, and optionally (``--python``)
  with the Python block hook, whose count is checked too;
* with ``--hypdbg``: through ``python -m hypdbg.cli run`` (deterministic) and
  ``run --fast``, wall time minus that of the empty image.

Instruction counts come from the formulas in the image sources, so
MIPS = instructions / seconds; the counted modes must reproduce them exactly.
Command-line runs are sized up (one calibration run) to last about 1.5 s
(0.3 s with ``--quick``) beyond start-up. Times are CPU times (of the child
process for commands, of the emulating thread here), which other work on the
machine disturbs far less than wall time; ``--wall`` measures wall time.
Each figure is the best of ``--repeat`` interleaved rounds.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
BUILD = HERE / "build"
RAM_BASE = 0x40000000
RAM_MB = 64
PSCI_SYSTEM_OFF = 0x84000008
UNTIL = 0xFFFFFFFE
SLICE = 1 << 22          # instructions per slice, as the machine's run loop uses
MAX_SCALE = 40           # at most this many times the default size for command-line runs
QEMU = ["qemu-system-arm", "-M", "virt,virtualization=on", "-cpu", "cortex-a15",
        "-nographic", "-m", "128", "-monitor", "none", "-serial", "null"]
QEMU_ICOUNT = ["-icount", "shift=0,sleep=off"]


@dataclass(frozen=True)
class Workload:
    """An image, the symbol that sizes it, and its retired-instruction count from the source."""

    name: str
    source: str
    param: str
    full: int
    quick: int
    insns: Callable[[int], int]
    defs: Tuple[Tuple[str, int], ...] = ()


def _mem_insns(bufsz: int) -> Callable[[int], int]:
    return lambda n: 1 + n * (2 + 5 * (bufsz // 64) + 2) + 2


WORKLOADS: List[Workload] = [
    Workload("intloop", "intloop", "ITERS", 60_000_000, 12_000_000, lambda n: 1 + 5 * n + 2),
    Workload("memloop", "memloop", "PASSES", 900, 180, _mem_insns(0x400000)),
    Workload("memsmall", "memloop", "PASSES", 60_000, 12_000, _mem_insns(0x10000), (("BUFSZ", 0x10000),)),
    Workload("branchy", "branchy", "ITERS", 24_000_000, 5_000_000, lambda n: 3 + 13 * n + 2),
    Workload("thumbloop", "thumbloop", "ITERS", 50_000_000, 10_000_000, lambda n: 3 + 6 * n + 1 + 2),
]
EMPTY = Workload("empty", "empty", "ITERS", 0, 0, lambda n: 2)


def build_image(w: Workload, n: int) -> Tuple[Path, Path]:
    """Assemble and link ``w`` with its size symbol; return (ELF, raw binary)."""
    BUILD.mkdir(exist_ok=True)
    stem = BUILD / f"{w.name}-{n}"
    obj, elf, raw = stem.with_suffix(".o"), stem.with_suffix(".elf"), stem.with_suffix(".bin")
    src = IMAGES / f"{w.source}.S"
    newest = max(src.stat().st_mtime, (IMAGES / "common.inc").stat().st_mtime)
    if not raw.exists() or raw.stat().st_mtime < newest:
        defs = [a for k, v in ((w.param, n),) + w.defs for a in ("--defsym", f"{k}={v}")]
        subprocess.run(["arm-none-eabi-as", "-I", str(IMAGES)] + defs + ["-o", str(obj), str(src)],
                       check=True)
        subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-e", "_start", "-o", str(elf),
                        str(obj)], check=True)
        subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(raw)], check=True)
    return elf, raw


# -- QEMU -------------------------------------------------------------------------
CLOCK = {"cpu": True}    # True: CPU time (robust when other work shares the cores); False: wall time


def now() -> float:
    """This process's clock: CPU time of the calling thread, or wall time."""
    return time.thread_time() if CLOCK["cpu"] else time.perf_counter()


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_cmd(cmd: List[str], timeout: float = 600) -> float:
    """Seconds ``cmd`` took: CPU time of the child (all its threads) or wall time."""
    c0, t0 = children_cpu(), time.perf_counter()
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, timeout=timeout)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.decode()[-300:]}")
    return cpu if CLOCK["cpu"] else wall


def best(fn: Callable[[], float], repeat: int) -> float:
    """Shortest of ``repeat`` timings: the least disturbed by other load."""
    return min(fn() for _ in range(repeat))


def scaled_size(w: Workload, n: int, cmd: List[str], startup: float, target: float,
                timeout: float) -> int:
    """Size at which ``cmd`` runs ``w`` for about ``target`` seconds beyond start-up, so that
    start-up jitter stays small against the run (calibrated with one run at size ``n``)."""
    try:
        dt = time_cmd(cmd + [str(build_image(w, n)[0])], timeout) - startup
    except subprocess.TimeoutExpired:
        return n
    if dt >= target:
        return n
    return n * min(MAX_SCALE, math.ceil(target / max(dt, 0.01)))


# -- unicorn harness ------------------------------------------------------------------
class Harness:
    """A Cortex-A15 in Non-secure Hyp mode with RAM at 0x40000000 and PSCI SYSTEM_OFF."""

    def __init__(self, raw: bytes) -> None:
        from unicorn import UC_ARCH_ARM, UC_HOOK_INTR, UC_MODE_ARM, Uc
        from unicorn import arm_const as A
        self.A = A
        uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
        uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_A15)
        uc.mem_map(RAM_BASE, RAM_MB << 20)
        uc.mem_write(RAM_BASE, raw)
        uc.reg_write(A.UC_ARM_REG_CP_REG, (15, 0, 0, 1, 1, 0, 0, 0x101))   # SCR: NS, HCE
        uc.reg_write(A.UC_ARM_REG_CPSR, 0x1D0)                              # via User ...
        uc.reg_write(A.UC_ARM_REG_CPSR, 0x1DA)                              # ... into Hyp
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        self.uc = uc
        self.done = False
        self.error: Optional[str] = None

    def _on_intr(self, uc: object, intno: int, _d: object) -> None:
        r0 = self.uc.reg_read(self.A.UC_ARM_REG_R0)
        if intno == 13 and r0 == PSCI_SYSTEM_OFF:
            self.done = True
        else:
            self.error = f"unexpected exception {intno} at {self.pc:#x}"
        self.uc.emu_stop()

    @property
    def pc(self) -> int:
        return self.uc.reg_read(self.A.UC_ARM_REG_PC)

    def begin(self) -> int:
        thumb = self.uc.reg_read(self.A.UC_ARM_REG_CPSR) & 0x20
        return self.pc | (1 if thumb else 0)

    def check(self) -> None:
        if self.error:
            raise RuntimeError(self.error)


def run_free(raw: bytes) -> Tuple[float, Optional[int]]:
    h = Harness(raw)
    t0 = now()
    h.uc.emu_start(RAM_BASE, UNTIL)
    dt = now() - t0
    h.check()
    assert h.done
    return dt, None


def run_counted(raw: bytes, native: bool) -> Tuple[float, Optional[int]]:
    from hypdbg.core.fastcount import BlockCounter
    h = Harness(raw)
    bc = BlockCounter(h.uc, native=native)
    begin = RAM_BASE
    t0 = now()
    while not h.done:
        bc.deadline = bc.count + SLICE
        h.uc.emu_start(begin, UNTIL)
        h.check()
        begin = h.begin()
    dt = now() - t0
    return dt, bc.count


def run_count_slices(raw: bytes) -> Tuple[float, Optional[int]]:
    h = Harness(raw)
    begin = RAM_BASE
    t0 = now()
    while not h.done:
        h.uc.emu_start(begin, UNTIL, count=SLICE)
        h.check()
        begin = h.begin()
    dt = now() - t0
    return dt, None


# -- the table ------------------------------------------------------------------------
def mips(insns: int, seconds: float) -> float:
    return insns / seconds / 1e6 if seconds > 0 else float("inf")


def fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def table(title: str, head: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(r: List[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([title, "", line(head), sep] + [line(r) for r in rows])


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few seconds in all)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement, best kept (default 2)")
    ap.add_argument("--only", help="comma-separated workloads: " + ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--python", action="store_true",
                    help="also the Python block hook (at 1/20 of the size: it is slow)")
    ap.add_argument("--hypdbg", action="store_true", help="also `python -m hypdbg.cli run` (and --fast)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds allowed per hypdbg run (default 60)")
    ap.add_argument("--wall", action="store_true",
                    help="time with the wall clock instead of CPU time (only on an idle machine)")
    ap.add_argument("--no-qemu", action="store_true")
    args = ap.parse_args(argv)
    CLOCK["cpu"] = not args.wall

    for tool in ("arm-none-eabi-as", "arm-none-eabi-ld", "arm-none-eabi-objcopy"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} not found", file=sys.stderr)
            return 1
    qemu = not args.no_qemu and shutil.which(QEMU[0]) is not None
    from hypdbg.core import fastcount
    if fastcount.load_native() is None:
        print(f"bench: C block hook unavailable: {fastcount.native_error()}", file=sys.stderr)
        return 1

    chosen = WORKLOADS if not args.only else [w for w in WORKLOADS if w.name in args.only.split(",")]
    rep = max(1, args.repeat)
    target = 0.3 if args.quick else 1.5
    empty_elf, _ = build_image(EMPTY, 0)
    hyp_cmd = [sys.executable, "-m", "hypdbg.cli", "run"]
    base: Dict[str, List[str]] = {}
    if qemu:
        base["qemu"] = QEMU + ["-kernel"]
        base["qemu_icount"] = QEMU + QEMU_ICOUNT + ["-kernel"]
    if args.hypdbg:
        base["hypdbg"] = hyp_cmd
        base["hypdbg_fast"] = hyp_cmd + ["--fast"]
    startup = {key: best(lambda: time_cmd(cmd + [str(empty_elf)]), rep + 1) for key, cmd in base.items()}

    res: Dict[str, Dict[str, Optional[float]]] = {}
    bad: List[str] = []
    notes: List[str] = []
    for w in chosen:
        n = w.quick if args.quick else w.full
        small = max(1, n // 20)
        elf, rawp = build_image(w, n)
        raw = rawp.read_bytes()
        raw_small = build_image(w, small)[1].read_bytes() if args.python else b""
        print(f"bench: {w.name} ({w.insns(n):,} instructions) ...", file=sys.stderr, flush=True)

        # (key, run, size): run() gives (seconds, count or None); commands have start-up subtracted.
        modes: List[Tuple[str, Callable[[], Tuple[float, Optional[int]]], int]] = []
        for key, cmd in base.items():
            size = scaled_size(w, n, cmd, startup[key], target, args.timeout)
            img = str(build_image(w, size)[0])
            modes.append((key, lambda cmd=cmd, key=key, img=img: (time_cmd(cmd + [img], args.timeout)
                                                                  - startup[key], None), size))
        modes += [("free", lambda: run_free(raw), n),
                  ("counted_c", lambda: run_counted(raw, True), n),
                  ("count_slices", lambda: run_count_slices(raw), n)]
        if args.python:
            modes.append(("counted_py", lambda: run_counted(raw_small, False), small))
        times: Dict[str, List[float]] = {key: [] for key, _, _ in modes}
        timed_out = set()
        for _ in range(rep):                       # rounds interleave the modes against load changes
            for key, run, size in modes:
                if key in timed_out:
                    continue
                try:
                    dt, count = run()
                except subprocess.TimeoutExpired:
                    timed_out.add(key)
                    notes.append(f"{w.name}: {key} timed out after {args.timeout:.0f} s "
                                 f"(figure shown is an upper bound)")
                    times[key].append(args.timeout)
                    continue
                times[key].append(dt)
                if count is not None and count != w.insns(size):
                    bad.append(f"{w.name} {key}: counted {count:,}, the source says {w.insns(size):,}")
        res[w.name] = {key: mips(w.insns(size), min(times[key])) for key, _, size in modes}

    def col(key: str) -> List[Optional[float]]:
        return [res[w][key] if key in res[w] else None for w in res]

    def geo(vals: List[Optional[float]]) -> Optional[float]:
        v = [x for x in vals if x]
        return statistics.geometric_mean(v) if v else None

    names = list(res)
    print()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"sizes: {'quick' if args.quick else 'full'}; slices of {SLICE:,} instructions; best of {rep} "
          f"interleaved rounds; {'wall' if args.wall else 'CPU'} time; load average {load:.2f} "
          f"on {os.cpu_count()} CPUs")
    print("start-up subtracted: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in startup.items()))
    print()
    rows = []
    for w in names + ["geomean"]:
        get = (lambda k: res[w].get(k)) if w != "geomean" else (lambda k: geo(col(k)))
        rows.append([w, fmt(get("qemu_icount")), fmt(get("counted_c")), fmt(get("count_slices")),
                     fmt(get("counted_py")), ratio(get("counted_c"), get("qemu_icount")),
                     ratio(get("counted_c"), get("count_slices"))])
    print(table("Deterministic (instruction-counted) execution, MIPS:",
                ["workload", "qemu -icount", "C block hook", "count= slices", "Python hook",
                 "C hook / qemu -icount", "C hook / count="], rows))
    print()
    rows = []
    for w in names + ["geomean"]:
        get = (lambda k: res[w].get(k)) if w != "geomean" else (lambda k: geo(col(k)))
        rows.append([w, fmt(get("qemu")), fmt(get("free")), ratio(get("free"), get("qemu")),
                     ratio(get("counted_c"), get("free"))])
    print(table("Free-running execution, MIPS:",
                ["workload", "qemu", "unicorn, no hook", "unicorn / qemu", "C hook cost (counted / free)"],
                rows))
    if args.hypdbg:
        print()
        rows = []
        for w in names + ["geomean"]:
            get = (lambda k: res[w].get(k)) if w != "geomean" else (lambda k: geo(col(k)))
            rows.append([w, fmt(get("qemu_icount")), fmt(get("hypdbg")), ratio(get("hypdbg"), get("qemu_icount")),
                         fmt(get("qemu")), fmt(get("hypdbg_fast")), ratio(get("hypdbg_fast"), get("qemu"))])
        print(table("hypdbg run (python -m hypdbg.cli run ELF), MIPS:",
                    ["workload", "qemu -icount", "hypdbg run", "ratio", "qemu", "hypdbg run --fast", "ratio"],
                    rows))
    for note in notes:
        print(f"note: {note}")
    if bad:
        print("\nCOUNT MISMATCH:\n  " + "\n  ".join(bad))
        return 1
    print("\nCounted modes reproduced every instruction count from the sources.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
