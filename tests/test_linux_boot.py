"""Debian's armmp-lpae Linux boots on hypdbg to a BusyBox shell that takes commands over the
UART (examples/boot/make-images.sh fetches the images once, into ~/.cache/hypdbg/boot).

Expectations: the kernel's own console lines ("CPU: All CPU(s) started in HYP mode." is what
Linux prints when booted in Hyp mode, arch/arm/kernel/setup.c; QEMU prints the same), and a
shell command's output read back through the PL011.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import List

import pytest

from bootimages import MARKER, boot_images, read_until

#: Console lines that differ between hypdbg and QEMU for a known reason (stripped of
#: timestamps; matched by prefix).
KNOWN_DIFFERENCES = {
    "hw-breakpoint: ": "unicorn models no debug registers (DBGDIDR reads 0): Linux finds the "
                      "debug logic powered down",
    "Memory: ": "the reserved size follows where the device tree and initrd sit",
    "hypdbg-initramfs: shell ready": "the uptime differs (hypdbg's counts retired instructions)",
    "/ # ": "the prompt line carries whatever the console printed last",
}


def _lines(text: bytes) -> List[str]:
    out = []
    for line in text.decode(errors="replace").replace("\r", "").splitlines():
        line = re.sub(r"^\[ *[0-9.]+\] ", "", line)              # printk timestamps
        out.append(re.sub(r"audit\([0-9.]+:", "audit(T:", line))   # audit's own timestamp
    return out


def _qemu_console(cache: Path, tmp: Path) -> bytes:
    """QEMU 7.2 booting the same kernel and initramfs with hypdbg's device tree (so both
    machines describe the same devices), up to the shell marker."""
    from hypdbg.core.boot import plan_boot
    dtb = tmp / "hypdbg.dtb"
    dtb.write_bytes(plan_boot(str(cache / "vmlinuz"), initrd=str(cache / "initrd.gz"),
                              append="console=ttyAMA0", ram_mb=512).dtb)
    proc = subprocess.Popen(["qemu-system-arm", "-M", "virt,virtualization=on", "-cpu", "cortex-a15",
                             "-m", "512", "-nographic", "-monitor", "none", "-serial", "stdio",
                             "-kernel", str(cache / "vmlinuz"), "-initrd", str(cache / "initrd.gz"),
                             "-append", "console=ttyAMA0", "-dtb", str(dtb)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = bytearray()
    try:
        read_until(proc.stdout, out, MARKER, 120)
        return bytes(out)
    finally:
        proc.kill()
        proc.wait()


def test_linux_boots_to_a_shell_that_runs_commands(tmp_path):
    cache = boot_images()
    proc = subprocess.Popen([sys.executable, "-m", "hypdbg.cli", "run", "-kernel", str(cache / "vmlinuz"),
                             "-initrd", str(cache / "initrd.gz"), "-append", "console=ttyAMA0",
                             "-m", "512", "-nographic"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = bytearray()
    try:
        assert read_until(proc.stdout, out, MARKER, 400), out[-2000:].decode(errors="replace")
        assert read_until(proc.stdout, out, b"/ # ", 60)
        assert b"CPU: All CPU(s) started in HYP mode." in out
        assert b"arch_timer: cp15 timer(s) running at 62.50MHz" in out
        proc.stdin.write(b"echo hello-$((6*7)); uname -m\n")
        proc.stdin.flush()
        assert read_until(proc.stdout, out, b"armv7l", 120), out[-1000:].decode(errors="replace")
        assert b"hello-42" in out
    finally:
        proc.kill()
        proc.wait()
    if shutil.which("qemu-system-arm") is None:
        return
    ours = _lines(bytes(out[:out.index(MARKER) + len(MARKER)]))
    ref = _lines(_qemu_console(cache, tmp_path))
    assert any(MARKER.decode() in line for line in ref), "QEMU did not reach the shell"

    def known(line: str) -> bool:
        return any(line.startswith(prefix) for prefix in KNOWN_DIFFERENCES)

    only_qemu = sorted((Counter(ref) - Counter(ours)).elements())
    only_ours = sorted((Counter(ours) - Counter(ref)).elements())
    unexplained = [f"QEMU only:   {line}" for line in only_qemu if not known(line)]
    unexplained += [f"hypdbg only: {line}" for line in only_ours if not known(line)]
    assert not unexplained, "console lines differ from QEMU's:\n" + "\n".join(unexplained)
