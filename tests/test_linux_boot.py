"""Debian's armmp-lpae Linux boots on hypdbg to a BusyBox shell that takes commands over the
UART (examples/boot/make-images.sh fetches the images once, into ~/.cache/hypdbg/boot).

Expectations: the kernel's own console lines ("CPU: All CPU(s) started in HYP mode." is what
Linux prints when booted in Hyp mode, arch/arm/kernel/setup.c; QEMU prints the same), and a
shell command's output read back through the PL011.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HYPDBG_BOOT_CACHE", Path.home() / ".cache" / "hypdbg" / "boot"))
MARKER = b"hypdbg-initramfs: shell ready"


def _images() -> Path:
    if not (CACHE / "vmlinuz").exists() or not (CACHE / "initrd.gz").exists():
        res = subprocess.run(["sh", str(REPO / "examples" / "boot" / "make-images.sh")],
                             capture_output=True, timeout=600)
        if res.returncode != 0:
            pytest.skip("boot images could not be fetched: " + res.stderr.decode()[-300:])
    return CACHE


def _read_until(proc: subprocess.Popen, out: bytearray, needle: bytes, timeout: float) -> bool:
    deadline = time.time() + timeout
    fd = proc.stdout.fileno()
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return needle in out
            out += chunk
            if needle in out:
                return True
    return False


def test_linux_boots_to_a_shell_that_runs_commands():
    cache = _images()
    proc = subprocess.Popen([sys.executable, "-m", "hypdbg.cli", "run", "-kernel", str(cache / "vmlinuz"),
                             "-initrd", str(cache / "initrd.gz"), "-append", "console=ttyAMA0",
                             "-m", "512", "-nographic"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = bytearray()
    try:
        assert _read_until(proc, out, MARKER, 400), out[-2000:].decode(errors="replace")
        assert _read_until(proc, out, b"/ # ", 60)
        assert b"CPU: All CPU(s) started in HYP mode." in out
        assert b"arch_timer: cp15 timer(s) running at 62.50MHz" in out
        proc.stdin.write(b"echo hello-$((6*7)); uname -m\n")
        proc.stdin.flush()
        assert _read_until(proc, out, b"armv7l", 120), out[-1000:].decode(errors="replace")
        assert b"hello-42" in out
    finally:
        proc.kill()
        proc.wait()
