"""The world-switch example on hypdbg: the same UART transcript as qemu-system-arm, and
a deterministic exit log.

``worldswitch.expected`` is the transcript QEMU prints (tests/test_worldswitch_qemu.py
checks that against QEMU itself); here hypdbg must print it byte for byte.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "worldswitch"


def _run(elf: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hypdbg.cli", "run", str(EXAMPLE / elf), *extra],
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", ["worldswitch", "worldswitch-broken"])
def test_transcript_matches_qemu(name):
    res = _run(f"{name}.elf")
    assert res.returncode == 0, res.stderr.decode()
    got = res.stdout.decode().replace("\r\n", "\n")
    assert got == (EXAMPLE / f"{name}.expected").read_text()


def test_exit_log_is_deterministic():
    first, second = (_run("worldswitch.elf", "--exits") for _ in range(2))
    assert first.returncode == second.returncode == 0
    log1, log2 = first.stderr.decode().splitlines(), second.stderr.decode().splitlines()
    # every entry to Hyp and every ERET, each with its instruction count
    assert any("IRQ from guest vmid 1" in line for line in log1), log1
    assert any("WFI from guest vmid 1" in line for line in log1), log1
    assert log1 == log2
