"""Alignment checking follows the translation regime across world switches (ARM ARM B3.12.8).

The image switches Hyp's HSCTLR.A on and off around a host running in SVC with
SCTLR.A clear, as a hypervisor that checks alignment for itself and not for its
guests does (Xen). In each of two rounds, with a load routine used for the first
time in that round:

* Hyp with HSCTLR.A = 0: an unaligned LDR loads the bytes (A3.2.1, unaligned
  access support with SCTLR.U = 1);
* SVC with SCTLR.A = 0: the same;
* Hyp with HSCTLR.A = 1: the same LDR is an alignment fault, a Data Abort taken to
  Hyp mode: HSR.EC = 0x25, DFSC = 0b100001, WnR = 0, HDFAR = the address (B3.13.6).

The second round's routine is first run while nothing checks alignment, so its
translated code must be made to check once HSCTLR.A is set again. QEMU runs the
same image as the reference.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest

from asmutil import PUTHEX, link_flat
from imagebuild import run_hypdbg, run_qemu, symbols

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None
                                or shutil.which("qemu-system-arm") is None,
                                reason="no ARM assembler or qemu-system-arm")

SOURCE = r"""
    .syntax unified
    .arm
    .global _start
_start:
    ldr sp, =0x40100000
    ldr r0, =hyp_vectors
    mcr p15, 4, r0, c12, c0, 0       @ HVBAR
    ldr r0, =0x40200000
    msr sp_svc, r0
    ldr r4, =routines
round:
    ldr r5, [r4], #4
    cmp r5, #0
    beq done
    mrc p15, 4, r0, c1, c0, 0        @ HSCTLR.A = 0
    bic r0, r0, #2
    mcr p15, 4, r0, c1, c0, 0
    isb
    blx r5
    bl puthex
    adr r0, svc_code                 @ SVC, A, I, F masked
    msr elr_hyp, r0
    mov r0, #0x1d3
    msr spsr_cxsf, r0
    eret
back:
    mrc p15, 4, r0, c1, c0, 0        @ HSCTLR.A = 1
    orr r0, r0, #2
    mcr p15, 4, r0, c1, c0, 0
    isb
    ldr r0, =data                    @ an aligned access first: the page is in the TLB again
    ldr r0, [r0]
    blx r5
    b round
done:
    ldr r0, =0x84000008              @ PSCI SYSTEM_OFF
    smc #0

svc_code:
    blx r5
    bl puthex
    hvc #1

load0:
    ldr r1, =data
    ldr r0, [r1, #1]
    bx lr
load1:
    ldr r1, =data
    ldr r0, [r1, #1]
    bx lr

dabt_entry:
    push {r0-r3, lr}
    mrc p15, 4, r0, c5, c2, 0        @ HSR
    bl puthex
    mrc p15, 4, r0, c6, c0, 0        @ HDFAR
    bl puthex
    mrs r0, elr_hyp                  @ on past the load
    add r0, r0, #4
    msr elr_hyp, r0
    pop {r0-r3, lr}
    eret

    .align 5
hyp_vectors:
    b .
    b .
    b .
    b .
    b dabt_entry                     @ 0x10: Data Abort taken to Hyp
    b back                           @ 0x14: Hyp Trap, the HVC from SVC (B1.14.1)
    b .
    b .
    .ltorg
routines:
    .word load0, load1, 0
    .align 3
data:
    .word 0x44332211, 0x88776655
""" + PUTHEX

LOADED = 0x55443322        # bytes 1-4 of data, little-endian
EC_DABT_HYP = 0x25
DFSC_ALIGNMENT = 0x21


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return link_flat(tmp_path_factory.mktemp("align"), "align_worlds", SOURCE)


def _values(text: str) -> List[int]:
    return [int(line, 16) for line in text.split() if len(line) == 8]


def _check(values: List[int], data: int, who: str) -> None:
    assert len(values) == 8, f"{who}: {[hex(v) for v in values]}"
    for k in range(2):
        hyp_off, svc, hsr, hdfar = values[4 * k:4 * k + 4]
        assert (hyp_off, svc) == (LOADED, LOADED), f"{who} round {k}"
        assert hsr >> 26 == EC_DABT_HYP, f"{who} round {k}: HSR {hsr:#x}"
        assert hsr & 0x3F == DFSC_ALIGNMENT and not hsr & (1 << 6), f"{who} round {k}: HSR {hsr:#x}"
        assert hdfar == data + 1, f"{who} round {k}: HDFAR {hdfar:#x}"


def test_alignment_follows_the_regime(image: Path) -> None:
    data = symbols(image)["data"]
    _check(_values(run_qemu(image, timeout=30)), data, "QEMU")
    res = run_hypdbg(image, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    _check(_values(res.stdout), data, "hypdbg")
