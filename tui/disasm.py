"""Capstone disassembly of the code around PC, in ARM or Thumb state.

Lines before PC need care in Thumb state, where instructions are 2 or 4
bytes: the start is chosen so that decoding lands exactly on PC.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import List

import capstone


@dataclass(frozen=True)
class Insn:
    """One decoded instruction (or an undecodable word, shown as ``.word``/``.short``)."""

    addr: int
    raw: bytes
    mnemonic: str
    op_str: str


@lru_cache(maxsize=2)
def _cs(thumb: bool) -> capstone.Cs:
    mode = capstone.CS_MODE_THUMB if thumb else capstone.CS_MODE_ARM
    return capstone.Cs(capstone.CS_ARCH_ARM, mode | capstone.CS_MODE_LITTLE_ENDIAN)


def decode(code: bytes, base: int, thumb: bool, start: int, count: int) -> List[Insn]:
    """Up to ``count`` instructions from address ``start`` inside ``code`` (loaded at ``base``)."""
    cs = _cs(thumb)
    out: List[Insn] = []
    addr = start
    while len(out) < count and base <= addr < base + len(code):
        off = addr - base
        insn = next(cs.disasm(code[off:off + 4], addr, 1), None)
        if insn is None:
            size = 2 if thumb else 4
            chunk = code[off:off + size]
            if len(chunk) < size:
                break
            word = int.from_bytes(chunk, "little")
            out.append(Insn(addr, chunk, ".short" if thumb else ".word", f"{word:#0{size * 2 + 2}x}"))
            addr += size
            continue
        out.append(Insn(addr, bytes(insn.bytes), insn.mnemonic, insn.op_str))
        addr += insn.size
    return out


def around(code: bytes, base: int, pc: int, thumb: bool, before: int, after: int) -> List[Insn]:
    """Up to ``before`` instructions before ``pc``, the one at ``pc`` and ``after`` more."""
    if not base <= pc < base + len(code):
        return []
    if thumb:
        start = _thumb_start(code, base, pc, before)
    else:
        start = pc - 4 * min(before, (pc - base) // 4)
    insns = decode(code, base, thumb, start, 2 * before + after + 1)
    at = next((i for i, x in enumerate(insns) if x.addr >= pc), len(insns))
    return insns[max(0, at - before):at + after + 1]


def _thumb_start(code: bytes, base: int, pc: int, before: int) -> int:
    """The earliest start, at most ``before`` instructions back, whose decoding lands on ``pc``."""
    for back in range(2 * before, 0, -1):
        start = pc - 2 * back
        if start < base:
            continue
        addrs = [i.addr for i in decode(code, base, True, start, back + 1)]
        if pc in addrs and addrs.index(pc) <= before:
            return start
    return pc
