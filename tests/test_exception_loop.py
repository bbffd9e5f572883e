"""A guest that loops on an exception is stopped and explained, in both time modes
(deterministic and ``--fast``).

A data abort whose handler returns to the aborting instruction (ARM ARM B1.9.8:
SUBS PC, LR, #8 returns to the aborted instruction) aborts again for ever; the
run must end with an explanation that names the vector and the instruction,
not spin until the user kills it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asmutil import ENTER_SVC, link_flat
from imagebuild import run_hypdbg, symbols

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None,
                                reason="no ARM assembler")

ABORT_LOOP = ENTER_SVC + r"""
svc:
    ldr r0, =vectors
    mcr p15, 0, r0, c12, c0, 0   @ VBAR
    isb
    ldr r1, =0x30000000          @ a hole in the physical map: synchronous external abort
aborted:
    ldr r2, [r1]
    ldr r0, =0x84000008
    smc #0
    .align 5
vectors:
    b .                          @ reset
    b .                          @ undefined
    b .                          @ SVC
    b .                          @ prefetch abort
    subs pc, lr, #8              @ data abort: return to the aborted load
    b .
    b .                          @ IRQ
    b .                          @ FIQ
    .ltorg
"""


@pytest.mark.parametrize("mode", [[], ["--fast"]], ids=["deterministic", "fast"])
def test_abort_loop_is_reported(tmp_path: Path, mode: list) -> None:
    elf = link_flat(tmp_path, "abort_loop", ABORT_LOOP)
    res = run_hypdbg(elf, timeout=60, extra_args=mode)
    sym = symbols(elf)
    assert res.returncode != 0
    assert (f"exception loop: aborts keep entering the vector at {sym['vectors'] + 0x10:#010x} "
            f"(last at {sym['aborted']:#010x})") in res.stderr, res.stderr[-2000:]
