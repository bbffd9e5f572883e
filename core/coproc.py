"""Decoding of cp15 register-transfer instructions (MCR/MRC/MCRR/MRRC), ARM and Thumb.

The Thumb-2 encodings (T1) are the ARM ones with the condition field fixed at
0b1110 once the two halfwords are joined first-halfword-high (ARM ARM A8.8.98ff),
so one decoder serves both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class CpInsn:
    """A decoded coprocessor register transfer."""

    coproc: int
    is64: bool
    read: bool       # MRC/MRRC: the register is read into Rt (and Rt2)
    crn: int
    opc1: int
    crm: int
    opc2: int
    rt: int
    rt2: int
    cond: int


def decode(word: int) -> Optional[CpInsn]:
    """Decode an ARM word (or joined Thumb-2 halfwords) as MCR/MRC/MCRR/MRRC, else None."""
    cond = word >> 28
    if cond == 0xF:
        return None
    if (word >> 24) & 0xF == 0xE and word & 0x10:
        return CpInsn(coproc=(word >> 8) & 0xF, is64=False, read=bool(word & (1 << 20)),
                      crn=(word >> 16) & 0xF, opc1=(word >> 21) & 7, crm=word & 0xF,
                      opc2=(word >> 5) & 7, rt=(word >> 12) & 0xF, rt2=0, cond=cond)
    if (word >> 21) & 0x7F == 0b1100010:
        return CpInsn(coproc=(word >> 8) & 0xF, is64=True, read=bool(word & (1 << 20)),
                      crn=0, opc1=(word >> 4) & 0xF, crm=word & 0xF, opc2=0,
                      rt=(word >> 12) & 0xF, rt2=(word >> 16) & 0xF, cond=cond)
    return None


def thumb_word(hw1: int, hw2: int) -> int:
    return (hw1 << 16) | hw2


def is_thumb32(hw1: int) -> bool:
    """A halfword that starts a 32-bit Thumb instruction (A6.1)."""
    return (hw1 >> 11) in (0b11101, 0b11110, 0b11111)


def condition_passed(cond: int, cpsr: int) -> bool:
    """ARM ARM A8.3 ConditionPassed() on the CPSR flags."""
    n, z, c, v = (cpsr >> 31) & 1, (cpsr >> 30) & 1, (cpsr >> 29) & 1, (cpsr >> 28) & 1
    base = cond >> 1
    if base == 0:
        r = z == 1
    elif base == 1:
        r = c == 1
    elif base == 2:
        r = n == 1
    elif base == 3:
        r = v == 1
    elif base == 4:
        r = c == 1 and z == 0
    elif base == 5:
        r = n == v
    elif base == 6:
        r = n == v and z == 0
    else:
        return True
    return not r if (cond & 1) else r


def it_state(cpsr: int) -> int:
    """ITSTATE[7:0] from CPSR bits 15:10 and 26:25."""
    return ((cpsr >> 8) & 0xFC) | ((cpsr >> 25) & 0x3)
