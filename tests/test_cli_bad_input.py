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
