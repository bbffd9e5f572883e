"""Deterministic virtual time agrees with QEMU's deterministic mode (``-icount shift=0``).

With ``-icount shift=0`` QEMU's virtual clock advances one nanosecond per
instruction and the generic timer's counter is that clock divided by the
counter period, 16 ns at 62.5 MHz. hypdbg's deterministic time is defined the
same way (core/timer.py), so an image that reads CNTPCT (ARM ARM B8.1.2),
retires a known number of instructions, and reads it again must see the same
difference on both: instructions // 16, give or take the one tick that the
position of the first read within a tick decides.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asmutil import ENTER_SVC, PUTHEX, link_flat
from imagebuild import run_hypdbg, run_qemu

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None
                                or shutil.which("qemu-system-arm") is None,
                                reason="no ARM assembler or qemu-system-arm")

ITERS = 100_000
#: instructions from the first CNTPCT read (excluded) to the second (included):
#: ldr, 2 per iteration, isb, mrrc
BETWEEN = 1 + 2 * ITERS + 1 + 1
INSNS_PER_TICK = 16

SOURCE = ENTER_SVC + r"""
svc:
    isb
    mrrc p15, 0, r6, r7, c14     @ CNTPCT
    ldr r4, =ITERS
1:  subs r4, r4, #1
    bne 1b
    isb
    mrrc p15, 0, r8, r9, c14
    sub r0, r8, r6
    bl puthex
    ldr r0, =0x84000008          @ PSCI SYSTEM_OFF
    smc #0
""" + PUTHEX


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return link_flat(tmp_path_factory.mktemp("vtime"), "vtime", SOURCE, [f"ITERS={ITERS}"])


def _delta(text: str) -> int:
    return int(text.strip().splitlines()[-1], 16)


def test_counter_delta_matches_qemu_icount(image: Path) -> None:
    qemu = _delta(run_qemu(image, timeout=30, extra_args=["-icount", "shift=0,sleep=off"]))
    res = run_hypdbg(image, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    ours = _delta(res.stdout)
    want = BETWEEN // INSNS_PER_TICK
    assert want <= qemu <= want + 1, f"QEMU -icount: {qemu} ticks for {BETWEEN} instructions"
    assert want <= ours <= want + 1, f"hypdbg: {ours} ticks for {BETWEEN} instructions"
    assert abs(ours - qemu) <= 1
