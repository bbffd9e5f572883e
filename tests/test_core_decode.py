"""cp15 instruction decoding and HSR building, checked against GNU as encodings and ARM ARM B3.13.6."""
import struct

import pytest

from hypdbg.core import cp15
from hypdbg.core.coproc import condition_passed, decode, thumb_word
from hypdbg.core.hyp import syndrome as S
from tests.asmutil import AS, assemble

pytestmark = pytest.mark.skipif(AS is None, reason="arm-none-eabi-as missing")


@pytest.mark.parametrize("text,fields", [
    ("mrc p15, 4, r3, c1, c1, 0", dict(read=True, crn=1, opc1=4, crm=1, opc2=0, rt=3)),      # HCR
    ("mcr p15, 0, r7, c2, c0, 2", dict(read=False, crn=2, opc1=0, crm=0, opc2=2, rt=7)),     # TTBCR
    ("mcrne p15, 0, r1, c7, c5, 0", dict(read=False, crn=7, opc1=0, crm=5, opc2=0, rt=1, cond=1)),
])
def test_decode_mcr_mrc_arm(text, fields):
    word = struct.unpack("<I", assemble([text]))[0]
    insn = decode(word)
    assert insn is not None and insn.coproc == 15 and not insn.is64
    for k, v in fields.items():
        assert getattr(insn, k) == v, k


def test_decode_mcrr_and_thumb():
    word = struct.unpack("<I", assemble(["mcrr p15, 6, r2, r3, c2"]))[0]  # VTTBR write
    insn = decode(word)
    assert insn.is64 and not insn.read and insn.opc1 == 6 and insn.crm == 2
    assert (insn.rt, insn.rt2) == (2, 3)
    assert cp15.lookup(True, 0, 6, 2, 0).name == "VTTBR"
    hw1, hw2 = struct.unpack("<HH", assemble(["mrrc p15, 1, r4, r5, c14"], thumb=True))  # CNTVCT
    t = decode(thumb_word(hw1, hw2))
    assert t.is64 and t.read and t.opc1 == 1 and t.crm == 14 and (t.rt, t.rt2) == (4, 5)


def test_not_coprocessor():
    assert decode(struct.unpack("<I", assemble(["add r0, r1, r2"]))[0]) is None


def test_condition_passed_a8_3():
    z = 1 << 30
    assert condition_passed(0x0, z) and not condition_passed(0x1, z)      # EQ / NE
    assert condition_passed(0xA, 0) and not condition_passed(0xB, 0)      # GE / LT with N==V
    assert condition_passed(0xE, 0)


def test_hsr_layouts_b3_13_6():
    # HVC #0x12: EC 0x12, IL 1, imm16 (the value unicorn-exceptions.md measured: 0x4a000012)
    assert S.hsr(S.EC_HVC, 0x12) == 0x4A000012
    # trapped WFI, AL: EC 1, CV 1, COND 0xE, TI 0 (measured 0x07e00000)
    assert S.hsr(S.EC_WFX, S.wfx_iss(0xE, False)) == 0x07E00000
    # MCR SCTLR (c1,0,c0,0) from r1, AL: the value measured under HCR.TVM, 0x0fe00420
    assert S.hsr(S.EC_CP15_32, S.cp15_32_iss(0xE, 0, 0, 1, 1, 0, False)) == 0x0FE00420
    # MRC CTR (c0,0,c0,1) into r1: measured 0x0fe20021 under TID2
    assert S.hsr(S.EC_CP15_32, S.cp15_32_iss(0xE, 1, 0, 0, 1, 0, True)) == 0x0FE20021
