"""Linux boot to the BusyBox shell: hypdbg against qemu-system-arm, in the same run.

Boots Debian's armmp-lpae kernel with the busybox initramfs that
examples/boot/make-images.sh builds, until the initramfs prints its marker, and
prints wall times and ratios: ``hypdbg run --fast`` against plain QEMU, and the
deterministic default against QEMU with ``-icount shift=0,sleep=off``. QEMU gets
hypdbg's device tree (``-dtb``) so both boot the same machine description.

    .venv/bin/python bench/bench_boot.py
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HYPDBG_BOOT_CACHE", Path.home() / ".cache" / "hypdbg" / "boot"))
MARKER = b"hypdbg-initramfs: shell ready"


def boot_time(cmd: List[str], timeout: float = 900) -> float:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = bytearray()
    try:
        while MARKER not in out:
            if time.perf_counter() - t > timeout:
                raise TimeoutError(" ".join(cmd[:3]))
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"{cmd[0]} ended before the shell: {out[-500:]!r}")
                out += chunk
        return time.perf_counter() - t
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    if not (CACHE / "vmlinuz").exists():
        subprocess.run(["sh", str(REPO / "examples" / "boot" / "make-images.sh")], check=True)
    from hypdbg.core.boot import plan_boot
    kernel, initrd = str(CACHE / "vmlinuz"), str(CACHE / "initrd.gz")
    boot = ["-kernel", kernel, "-initrd", initrd, "-append", "console=ttyAMA0", "-m", "512"]
    with tempfile.TemporaryDirectory() as tmp:
        dtb = Path(tmp) / "virt.dtb"
        dtb.write_bytes(plan_boot(kernel, initrd=initrd, append="console=ttyAMA0", ram_mb=512).dtb)
        qemu = ["qemu-system-arm", "-M", "virt,virtualization=on", "-cpu", "cortex-a15", "-nographic",
                "-monitor", "none", "-serial", "stdio", "-dtb", str(dtb)] + boot
        hyp = [sys.executable, "-m", "hypdbg.cli", "run"] + boot
        q_plain = boot_time(qemu)
        q_icount = boot_time(qemu[:1] + ["-icount", "shift=0,sleep=off"] + qemu[1:])
        h_fast = boot_time(hyp + ["--fast"])
        h_det = boot_time(hyp)
    print("| pairing | QEMU (s) | hypdbg (s) | hypdbg / QEMU time |")
    print("|---|---|---|---|")
    print(f"| --fast vs plain QEMU | {q_plain:.1f} | {h_fast:.1f} | {h_fast / q_plain:.1f}x |")
    print(f"| default vs -icount shift=0,sleep=off | {q_icount:.1f} | {h_det:.1f} | {h_det / q_icount:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
