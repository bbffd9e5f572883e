"""Builds the translation test images (tests/images/mmu_*.S), which include mmu.inc.

imagebuild.build_image keys its cache on lib.S, lib.inc and image.ld only; these
images also depend on mmu.inc, so they are built here with that file in the key.
The tools, flags and linker script are imagebuild's, so the result is the same
kind of image.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Dict

from imagebuild import (AS, ASFLAGS, BUILD_DIR, IMAGES_DIR, LD, LIB_SOURCES, RAM_BASE,
                        SHARED_INPUTS, BuildError)

MMU_INPUTS = (*SHARED_INPUTS, "mmu.inc")


def _tool_line(tool: str) -> bytes:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr or tool).splitlines()[0].encode()


def _run(cmd: list) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")


def build_mmu_image(name: str) -> Path:
    """Assemble tests/images/<name>.S with lib.S, link it at RAM_BASE; return the cached ELF."""
    src = IMAGES_DIR / f"{name}.S"
    if not src.is_file():
        raise BuildError(f"no image source {src}")
    h = hashlib.sha256()
    for part in [src.read_bytes(), " ".join(ASFLAGS).encode(), _tool_line(AS), _tool_line(LD)] + \
            [(IMAGES_DIR / f).read_bytes() for f in MMU_INPUTS]:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    dest = BUILD_DIR / f"{name}-{h.hexdigest()[:16]}.elf"
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory(dir=BUILD_DIR) as tmpdir:
        tmp = Path(tmpdir)
        objs = []
        for source in (src, *(IMAGES_DIR / s for s in LIB_SOURCES)):
            obj = tmp / f"{source.stem}.o"
            _run([AS, *ASFLAGS, "-I", str(IMAGES_DIR), "-o", str(obj), str(source)])
            objs.append(str(obj))
        elf = tmp / "image.elf"
        _run([LD, "-T", str(IMAGES_DIR / "image.ld"), "--defsym", f"IMAGE_BASE={RAM_BASE:#x}",
              "-z", "max-page-size=0x1000", "--no-warn-rwx-segments", "-o", str(elf), *objs])
        os.replace(elf, dest)
    return dest


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
