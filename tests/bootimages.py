"""The Debian boot images of examples/boot/make-images.sh (fetched once into
~/.cache/hypdbg/boot, or $HYPDBG_BOOT_CACHE) and reading a console until a line appears."""
from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HYPDBG_BOOT_CACHE", Path.home() / ".cache" / "hypdbg" / "boot"))
#: What the initramfs prints once its shell is about to start.
MARKER = b"hypdbg-initramfs: shell ready"


def boot_images(*names: str) -> Path:
    """The cache directory, after fetching the images if one of ``names`` is missing
    (the test is skipped if they cannot be fetched)."""
    if not all((CACHE / name).exists() for name in names or ("vmlinuz", "initrd.gz")):
        res = subprocess.run(["sh", str(REPO / "examples" / "boot" / "make-images.sh")],
                             capture_output=True, timeout=600)
        if res.returncode != 0:
            pytest.skip("boot images could not be fetched: " + res.stderr.decode()[-300:])
    return CACHE


def read_until(stream: IO[bytes], out: bytearray, needle: bytes, timeout: float) -> bool:
    """Append what ``stream`` gives to ``out`` until ``needle`` is in it (False on timeout or EOF)."""
    deadline = time.time() + timeout
    fd = stream.fileno()
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return needle in out
            out += chunk
            if needle in out:
                return True
    return needle in out
