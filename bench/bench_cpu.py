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
Times are the best of ``--repeat`` runs. ``--quick`` uses small sizes.
"""
from __future__ import annotations

import argparse
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
QEMU = ["qemu-system-arm", "-M", "virt,virtualization=on", "-cpu", "cortex-a15",
        "-nographic", "-m", "128", "-monitor", "none", "-serial", "null"]
QEMU_ICOUNT = ["-icount", "shift=0,sleep=off"]


@dataclass(frozen=True)
class Workload:
    """An image, the symbol that sizes it, and its retired-instruction count from the source."""

    name: str
    param: str
    full: int
    quick: int
    insns: Callable[[int], int]


WORKLOADS: List[Workload] = [
    Workload("intloop", "ITERS", 60_000_000, 12_000_000, lambda n: 1 + 5 * n + 2),
    Workload("memloop", "PASSES", 900, 180, lambda n: 1 + n * (2 + 5 * 65536 + 2) + 2),
    Workload("branchy", "ITERS", 24_000_000, 5_000_000, lambda n: 3 + 13 * n + 2),
    Workload("thumbloop", "ITERS", 50_000_000, 10_000_000, lambda n: 3 + 6 * n + 1 + 2),
]
EMPTY = Workload("empty", "ITERS", 0, 0, lambda n: 2)


def build_image(w: Workload, n: int) -> Tuple[Path, Path]:
    """Assemble and link ``w`` with its size symbol; return (ELF, raw binary)."""
    BUILD.mkdir(exist_ok=True)
    stem = BUILD / f"{w.name}-{n}"
    obj, elf, raw = stem.with_suffix(".o"), stem.with_suffix(".elf"), stem.with_suffix(".bin")
    src = IMAGES / f"{w.name}.S"
    if not elf.exists() or elf.stat().st_mtime < max(src.stat().st_mtime,
                                                     (IMAGES / "common.inc").stat().st_mtime):
        subprocess.run(["arm-none-eabi-as", "-I", str(IMAGES), "--defsym", f"{w.param}={n}",
                        "-o", str(obj), str(src)], check=True)
        subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-e", "_start", "-o", str(elf),
                        str(obj)], check=True)
        subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(raw)], check=True)
    return elf, raw


# -- QEMU -------------------------------------------------------------------------
def time_cmd(cmd: List[str], timeout: float = 600) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, timeout=timeout)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.decode()[-300:]}")
    return dt


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


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
    t0 = time.perf_counter()
    h.uc.emu_start(RAM_BASE, UNTIL)
    dt = time.perf_counter() - t0
    h.check()
    assert h.done
    return dt, None


def run_counted(raw: bytes, native: bool) -> Tuple[float, Optional[int]]:
    from hypdbg.core.fastcount import BlockCounter
    h = Harness(raw)
    bc = BlockCounter(h.uc, native=native)
    begin = RAM_BASE
    t0 = time.perf_counter()
    while not h.done:
        bc.deadline = bc.count + SLICE
        h.uc.emu_start(begin, UNTIL)
        h.check()
        begin = h.begin()
    dt = time.perf_counter() - t0
    return dt, bc.count


def run_count_slices(raw: bytes) -> Tuple[float, Optional[int]]:
    h = Harness(raw)
    begin = RAM_BASE
    t0 = time.perf_counter()
    while not h.done:
        h.uc.emu_start(begin, UNTIL, count=SLICE)
        h.check()
        begin = h.begin()
    dt = time.perf_counter() - t0
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
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"
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
    ap.add_argument("--no-qemu", action="store_true")
    args = ap.parse_args(argv)

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
    empty_elf, _ = build_image(EMPTY, 0)
    q0 = best(lambda: time_cmd(QEMU + ["-kernel", str(empty_elf)]), rep + 1) if qemu else None
    qi0 = best(lambda: time_cmd(QEMU + QEMU_ICOUNT + ["-kernel", str(empty_elf)]), rep + 1) if qemu else None
    hyp_cmd = [sys.executable, "-m", "hypdbg.cli", "run"]
    h0 = best(lambda: time_cmd(hyp_cmd + [str(empty_elf)]), rep) if args.hypdbg else None
    hf0 = best(lambda: time_cmd(hyp_cmd + ["--fast", str(empty_elf)]), rep) if args.hypdbg else None

    res: Dict[str, Dict[str, Optional[float]]] = {}
    bad: List[str] = []
    for w in chosen:
        n = w.quick if args.quick else w.full
        elf, rawp = build_image(w, n)
        raw = rawp.read_bytes()
        insns = w.insns(n)
        r: Dict[str, Optional[float]] = {"insns": float(insns)}
        print(f"bench: {w.name} ({insns:,} instructions) ...", file=sys.stderr, flush=True)
        if qemu:
            r["qemu"] = mips(insns, best(lambda: time_cmd(QEMU + ["-kernel", str(elf)]), rep) - q0)
            r["qemu_icount"] = mips(insns, best(lambda: time_cmd(QEMU + QEMU_ICOUNT + ["-kernel", str(elf)]),
                                                rep) - qi0)

        def measure(key: str, fn: Callable[[], Tuple[float, Optional[int]]], size: int) -> None:
            want = w.insns(size)
            times = []
            for _ in range(rep):
                dt, count = fn()
                times.append(dt)
                if count is not None and count != want:
                    bad.append(f"{w.name} {key}: counted {count:,}, the source says {want:,}")
            r[key] = mips(want, min(times))

        measure("free", lambda: run_free(raw), n)
        measure("counted_c", lambda: run_counted(raw, True), n)
        measure("count_slices", lambda: run_count_slices(raw), n)
        if args.python:
            small = max(1, n // 20)
            _, raw_small = build_image(w, small)
            rs = raw_small.read_bytes()
            measure("counted_py", lambda: run_counted(rs, False), small)
        if args.hypdbg:
            r["hypdbg"] = mips(insns, best(lambda: time_cmd(hyp_cmd + [str(elf)]), rep) - h0)
            r["hypdbg_fast"] = mips(insns, best(lambda: time_cmd(hyp_cmd + ["--fast", str(elf)]), rep) - hf0)
        res[w.name] = r

    def col(key: str) -> List[Optional[float]]:
        return [res[w][key] if key in res[w] else None for w in res]

    def geo(vals: List[Optional[float]]) -> Optional[float]:
        v = [x for x in vals if x]
        return statistics.geometric_mean(v) if v else None

    names = list(res)
    print()
    print(f"sizes: {'quick' if args.quick else 'full'}; slices of {SLICE:,} instructions; best of {rep}; "
          f"QEMU start-up subtracted: {fmt(q0 and q0 * 1e3)} ms plain, {fmt(qi0 and qi0 * 1e3)} ms -icount")
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
        print(table(f"hypdbg run (start-up subtracted: {fmt(h0 and h0 * 1e3)} ms, "
                    f"--fast {fmt(hf0 and hf0 * 1e3)} ms), MIPS:",
                    ["workload", "qemu -icount", "hypdbg run", "ratio", "qemu", "hypdbg run --fast", "ratio"],
                    rows))
    if bad:
        print("\nCOUNT MISMATCH:\n  " + "\n  ".join(bad))
        return 1
    print("\nCounted modes reproduced every instruction count from the sources.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
