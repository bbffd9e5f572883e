"""TLB invalidate by address must drop the translation of the whole page (ARM ARM DDI 0406C
B4.2.2, "TLB maintenance operations": an invalidate by MVA removes any entry whose page or
block holds the address, whatever its size). Linux depends on it when it patches its text
through a fixmap slot it remaps for every patch (ftrace, jump labels), and does not boot
to a shell without it.

The image maps VA 0x80000000 to one 4 KiB page, writes through it, remaps the VA to
another page, runs one TLB operation, writes again at offset 0x800 and prints what the
second page holds there: the second value if the stale translation is gone.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest

from asmutil import ENTER_SVC, PUTHEX, link_flat
from imagebuild import run_hypdbg, run_qemu

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None,
                                reason="no ARM assembler")

# (name, instruction) for each TLB operation tried; r0 holds the VA (page-aligned).
OPS = [("TLBIMVA", "mcr p15, 0, r0, c8, c7, 1"), ("TLBIMVAIS", "mcr p15, 0, r0, c8, c3, 1"),
       ("TLBIMVAA", "mcr p15, 0, r0, c8, c7, 3"), ("TLBIMVAAIS", "mcr p15, 0, r0, c8, c3, 3"),
       ("TLBIALL", "mcr p15, 0, r0, c8, c7, 0"), ("TLBIALLIS", "mcr p15, 0, r0, c8, c3, 0")]

SOURCE = ENTER_SVC + r"""
    .equ UART, 0x09000000
    .equ L1, 0x40200000
    .equ L2, 0x40204000
    .equ PA_A, 0x40100000
    .equ PA_B, 0x40101000
    .equ VA, 0x80000000
    .equ OFF, 0x800
svc:
    ldr r0, =L1                  @ short-descriptor L1: all faults, then sections
    mov r1, #0
    mov r2, #4096
1:  str r1, [r0], #4
    subs r2, r2, #1
    bne 1b
    ldr r0, =L1
    ldr r1, =0x40000000          @ RAM 0x40000000-0x40ffffff flat, normal memory
    mov r3, #16
2:  orr r2, r1, #0xC00
    orr r2, r2, #0xE
    str r2, [r0, r1, lsr #18]
    add r1, r1, #0x100000
    subs r3, r3, #1
    bne 2b
    ldr r1, =UART                @ the UART flat, device
    orr r2, r1, #0xC00
    orr r2, r2, #0x2
    str r2, [r0, r1, lsr #18]
    ldr r1, =VA                  @ VA 0x80000000 through an L2 table
    ldr r2, =L2 + 1
    str r2, [r0, r1, lsr #18]
    ldr r1, =PA_A
    bl map
    ldr r0, =L1
    mcr p15, 0, r0, c2, c0, 0    @ TTBR0
    mov r0, #0
    mcr p15, 0, r0, c2, c0, 2    @ TTBCR
    mvn r0, #0
    mcr p15, 0, r0, c3, c0, 0    @ DACR: all manager
    mcr p15, 0, r0, c8, c7, 0
    mrc p15, 0, r0, c1, c0, 0
    orr r0, r0, #1
    mcr p15, 0, r0, c1, c0, 0    @ MMU on
    isb
    mov r4, #0
{tests}
    ldr r0, =0x84000008          @ PSCI SYSTEM_OFF
    smc #0
    b .
map:                             @ L2 entry 0 -> small page at r1, AP=11
    ldr r0, =L2
    orr r1, r1, #0x3E
    str r1, [r0]
    dsb
    bx lr
""" + PUTHEX

ONE_TEST = """
    ldr r1, =PA_A
    bl map
    mov r0, #0
    mcr p15, 0, r0, c8, c7, 0    @ start from an empty TLB
    dsb
    isb
    ldr r1, =VA + OFF
    str r4, [r1]                 @ fills the TLB with VA -> PA_A
    ldr r1, =PA_B
    bl map
    ldr r0, =VA
    {op}
    dsb
    isb
    ldr r1, =VA + OFF
    ldr r2, =0x22220000
    orr r2, r2, r4
    str r2, [r1]
    ldr r0, =PA_B + OFF
    ldr r0, [r0]
    bl puthex
    add r4, r4, #1
"""


def build(tmp_path: Path) -> Path:
    return link_flat(tmp_path, "tlbi", SOURCE.replace("{tests}", "".join(ONE_TEST.replace("{op}", op)
                                                                          for _, op in OPS)))


def expected() -> List[str]:
    return [f"2222{i:04X}" for i in range(len(OPS))]


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_qemu_invalidates_whole_pages(tmp_path: Path) -> None:
    assert run_qemu(build(tmp_path)).split() == expected()


def test_hypdbg_invalidates_whole_pages(tmp_path: Path) -> None:
    assert run_hypdbg(build(tmp_path)).stdout.split() == expected()
