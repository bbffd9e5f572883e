"""Translations of several address spaces kept apart by ASID (ARM ARM DDI 0406C B3.9.3,
"Global and process-specific translation table entries"; B3.10.4, changing the ASID and
TTBR0 without TLB maintenance).

The image maps VA 0x80000000 through non-global small pages to page A in one set of
tables (ASID 1) and to page B in another (ASID 2), then switches between them several
times without TLB maintenance, touching 4096 other 1 KiB pages after each switch so that
unicorn's own TLB no longer holds the VA and the translation comes from hypdbg's
translation cache or a walk. Each address space must keep reaching its own page.
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

ROUNDS = 3

SOURCE = ENTER_SVC + r"""
    .equ UART, 0x09000000
    .equ L1_A, 0x40200000
    .equ L1_B, 0x40204000
    .equ L2_A, 0x40208000
    .equ L2_B, 0x40208400
    .equ PA_A, 0x40100000
    .equ PA_B, 0x40101000
    .equ VA, 0x80000000
    .equ OFF, 0x800
    .equ TOUCH, 0x40400000
svc:
    ldr sp, =0x40300000
    ldr r0, =L1_A
    ldr r1, =L2_A
    ldr r2, =PA_A
    bl tables
    ldr r0, =L1_B
    ldr r1, =L2_B
    ldr r2, =PA_B
    bl tables
    mov r0, #0
    mcr p15, 0, r0, c2, c0, 2    @ TTBCR: short descriptors, TTBR0 only
    mvn r0, #0
    mcr p15, 0, r0, c3, c0, 0    @ DACR: all manager
    ldr r0, =L1_A
    mcr p15, 0, r0, c2, c0, 0
    mov r0, #1
    mcr p15, 0, r0, c13, c0, 1   @ CONTEXTIDR: ASID 1
    mcr p15, 0, r0, c8, c7, 0    @ TLBIALL
    mrc p15, 0, r0, c1, c0, 0
    orr r0, r0, #1
    mcr p15, 0, r0, c1, c0, 0    @ MMU on
    isb
    mov r4, #0
round:
    ldr r0, =L1_A                @ address space A
    mov r1, #1
    bl switch
    ldr r0, =0xAAAA0000
    orr r0, r0, r4
    ldr r1, =VA + OFF
    str r0, [r1]
    bl touch
    ldr r0, =L1_B                @ address space B
    mov r1, #2
    bl switch
    ldr r0, =0xBBBB0000
    orr r0, r0, r4
    ldr r1, =VA + OFF
    str r0, [r1]
    bl touch
    ldr r1, =VA + OFF
    ldr r0, [r1]
    bl puthex                    @ B's value, read through B
    ldr r0, =L1_A
    mov r1, #1
    bl switch
    ldr r1, =VA + OFF
    ldr r0, [r1]
    bl puthex                    @ A's value, read through A
    add r4, r4, #1
    cmp r4, #ROUNDS
    bne round
    ldr r0, =PA_A + OFF
    ldr r0, [r0]
    bl puthex
    ldr r0, =PA_B + OFF
    ldr r0, [r0]
    bl puthex
    ldr r0, =0x84000008          @ PSCI SYSTEM_OFF
    smc #0
    b .

@ tables(r0 = L1, r1 = L2, r2 = page): RAM and the UART flat through global sections,
@ VA through the L2 table to a non-global small page.
tables:
    push {r4, r5, lr}
    mov r4, r0
    mov r3, #0
    mov r5, #4096
1:  str r3, [r0], #4
    subs r5, r5, #1
    bne 1b
    ldr r3, =0x40000000          @ RAM 0x40000000-0x40ffffff, normal memory
    mov r5, #16
2:  orr r0, r3, #0xC00
    orr r0, r0, #0xE
    str r0, [r4, r3, lsr #18]
    add r3, r3, #0x100000
    subs r5, r5, #1
    bne 2b
    ldr r3, =UART
    orr r0, r3, #0xC00
    orr r0, r0, #0x2
    str r0, [r4, r3, lsr #18]
    ldr r3, =VA
    orr r0, r1, #1
    str r0, [r4, r3, lsr #18]
    mov r0, #0
    mov r5, #256
3:  str r0, [r1, r5, lsl #2]
    subs r5, r5, #1
    bpl 3b
    ldr r0, =0x83E               @ small page, nG, AP=11, C, B
    orr r0, r0, r2
    str r0, [r1]
    dsb
    pop {r4, r5, pc}

@ switch(r0 = L1, r1 = ASID): the ASID and TTBR0 change, no TLB maintenance
switch:
    mcr p15, 0, r1, c13, c0, 1
    isb
    mcr p15, 0, r0, c2, c0, 0
    isb
    bx lr

@ touch: read one word of each 1 KiB page of TOUCH .. TOUCH + 4 MiB
touch:
    ldr r0, =TOUCH
    mov r1, #4096
5:  ldr r2, [r0], #1024
    subs r1, r1, #1
    bne 5b
    bx lr

""" + PUTHEX


def build(tmp_path: Path) -> Path:
    return link_flat(tmp_path, "asid", SOURCE, [f"ROUNDS={ROUNDS}"])


def expected() -> List[str]:
    lines = []
    for i in range(ROUNDS):
        lines += [f"BBBB{i:04X}", f"AAAA{i:04X}"]
    return lines + [f"AAAA{ROUNDS - 1:04X}", f"BBBB{ROUNDS - 1:04X}"]


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_qemu_keeps_address_spaces_apart(tmp_path: Path) -> None:
    assert run_qemu(build(tmp_path)).split() == expected()


def test_hypdbg_keeps_address_spaces_apart(tmp_path: Path) -> None:
    assert run_hypdbg(build(tmp_path)).stdout.split() == expected()
