"""The translation test images (tests/images/mmu_*.S): building them, and reading the
table layout their sources declare."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

from imagebuild import IMAGES_DIR, build_image


def build_mmu_image(name: str) -> Path:
    """tests/images/<name>.S built like every test image (mmu.inc is among the shared
    inputs of imagebuild's cache key)."""
    return build_image(name)


_EQU = re.compile(r"^\s*\.equ\s+(\w+),\s*(0x[0-9a-fA-F]+|\d+)\s*(@.*)?$")


def layout_of(name: str) -> Dict[str, int]:
    """The numeric ``.equ`` constants of tests/images/<name>.S: the addresses its tables
    are laid out at, read from the source so that tests and image cannot drift apart."""
    out: Dict[str, int] = {}
    for line in (IMAGES_DIR / f"{name}.S").read_text().splitlines():
        m = _EQU.match(line)
        if m:
            out[m.group(1)] = int(m.group(2), 0)
    return out
