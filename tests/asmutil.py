"""Assemble snippets with GNU as for tests (the reference encoder)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List

AS = shutil.which("arm-none-eabi-as")
OBJCOPY = shutil.which("arm-none-eabi-objcopy")


def assemble(lines: List[str], thumb: bool = False) -> bytes:
    """Raw bytes of the given instructions (ARM or Thumb-2), armv7ve with virtualization."""
    src = ".syntax unified\n" + (".thumb\n" if thumb else ".arm\n") + "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        s, o, b = Path(tmp, "a.S"), Path(tmp, "a.o"), Path(tmp, "a.bin")
        s.write_text(src)
        subprocess.run([AS, "-march=armv7ve", "-o", str(o), str(s)], check=True)
        subprocess.run([OBJCOPY, "-O", "binary", str(o), str(b)], check=True)
        return b.read_bytes()
