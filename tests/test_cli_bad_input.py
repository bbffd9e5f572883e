"""Bad images and wild guests: one clear line on stderr and a non-zero exit, never a
traceback (the images come from tests/imagebuild.build_bad_image)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.imagebuild import build_bad_image, missing_tools

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="toolchain missing")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hypdbg.cli", "run", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hypdbg: "), res.stderr
    return lines[0]


@pytest.mark.parametrize("kind,words", [
    ("truncated", "truncated ELF ("),
    ("x86_64", "not a 32-bit ARM ELF"),
    ("outside_ram", "outside RAM"),
])
def test_bad_images_are_refused_in_one_line(kind, words):
    assert words in _one_error_line(_run(str(build_bad_image(kind))))


def test_missing_image():
    assert "No such file" in _one_error_line(_run("/nonexistent/image.elf"))


def test_jump_to_unmapped_memory_is_explained_with_the_console_tail():
    res = _run(str(build_bad_image("jump_unmapped")), "--max-insns", "1000000")
    line = _one_error_line(res)
    assert "JUMPING" in res.stdout
    assert "last console lines: JUMPING" in line              # where it was when it went wild
    assert "stopped:" in line


HANG = r"""
    .global _start
_start:
    ldr r1, =0x09000000          @ PL011 UARTDR
    adr r2, msg
1:  ldrb r0, [r2], #1
    cmp r0, #0
    strne r0, [r1]
    bne 1b
hang:
    b hang
msg:
    .asciz "HANGING NOW\n"
"""


def test_hung_guest_interrupted_with_ctrl_c_is_explained(tmp_path):
    """Ctrl-C on ``hypdbg run`` ends a guest that spins for ever with the same report as any
    other stop: the PC it spins at and the console's last lines; status 130 (128 + SIGINT)."""
    import signal
    import time

    from tests.asmutil import link_flat
    from tests.imagebuild import symbols
    elf = link_flat(tmp_path, "hang", HANG)
    proc = subprocess.Popen([sys.executable, "-m", "hypdbg.cli", "run", str(elf)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline() == "HANGING NOW\n"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = _one_error_line(res)
    assert res.returncode == 130
    assert line.startswith("hypdbg: interrupted (PC ")
    assert f"PC {symbols(elf)['hang']:#010x}" in line
    assert "last console lines: HANGING NOW" in line
