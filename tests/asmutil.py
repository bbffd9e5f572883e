"""Assemble snippets with GNU as for tests (the reference encoder)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Sequence

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


#: The start of a small image entered in Hyp mode at reset: ERET to SVC (A, I, F masked)
#: at the label ``svc``, which the rest of the source defines.
ENTER_SVC = r"""
    .syntax unified
    .arm
    .global _start
_start:
    ldr r0, =svc
    msr elr_hyp, r0
    mov r0, #0x1d3
    msr spsr_cxsf, r0
    eret
"""

#: ``puthex``: print r0 as eight hex digits and a newline on the PL011 at 0x09000000
#: (clobbers r1-r3); for small images that run with the UART mapped flat.
PUTHEX = r"""
puthex:
    ldr r3, =0x09000000
    mov r2, #28
4:  lsr r1, r0, r2
    and r1, r1, #15
    cmp r1, #10
    addlt r1, r1, #48
    addge r1, r1, #55
    str r1, [r3]
    subs r2, r2, #4
    bpl 4b
    mov r1, #10
    str r1, [r3]
    bx lr
    .ltorg
"""


def link_flat(tmp_path: Path, name: str, source: str, defsyms: Sequence[str] = ()) -> Path:
    """Assemble ``source`` and link it at 0x40000000 (QEMU virt's RAM): the ELF's path."""
    src, obj, elf = tmp_path / f"{name}.S", tmp_path / f"{name}.o", tmp_path / f"{name}.elf"
    src.write_text(source)
    subprocess.run([AS, "-march=armv7ve", *[f"--defsym={d}" for d in defsyms], "-o", str(obj), str(src)],
                   check=True)
    subprocess.run([shutil.which("arm-none-eabi-ld") or "arm-none-eabi-ld", "-Ttext=0x40000000",
                    "-o", str(elf), str(obj)], check=True)
    return elf
