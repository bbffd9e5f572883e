"""Where this unicorn build keeps things in its saved CPU context, found by experiment.

unicorn gives no register id for ELR_hyp, and the layout of the context that
``uc_context_save`` copies is QEMU's ``CPUARMState``, which changes between
builds. So the offsets the machine relies on are measured once per process,
in one scratch CPU (each new CPU costs about 1.5 ms to initialise, and the
launch of ``hypdbg serve`` waits for this):

- ELR_hyp: the one word that follows two ``msr ELR_hyp, rN`` with two markers;
- the current mode: the words whose low five bits follow a switch through
  every mode (an exception entry checks there that its mode switch took);
- the unstable words: those two runs to the same state may leave different
  (QEMU's PMU cycle-counter baseline, refreshed from the host clock at every
  exception-level change; the AArch64 PC, which unicorn sets to where
  ``emu_start`` began; QEMU's report of the last exception raised, 24 bytes
  from the syndrome), which snapshot comparison must ignore.
"""
from __future__ import annotations

import struct
import time
from functools import lru_cache
from typing import NamedTuple, Optional, Set, Tuple

from unicorn import Uc, UC_ARCH_ARM, UC_MODE_ARM
from unicorn import arm_const as A

from .modes import ABT, FIQ, HYP, IRQ, MODE_MASK, SVC, SYS, UND, USR

# Every mode the CPU can be in, ending where the probe began.
_MODES = (SVC, IRQ, ABT, UND, FIQ, SYS, USR, HYP, SVC)
SCR_NS_HCE = 0x101  # SCR.NS | SCR.HCE: Non-secure, HVC enabled (DESIGN.md)
_SCR = (15, 0, 0, 1, 1, 0, 0, SCR_NS_HCE)

_BASE = 0x1000
# msr ELR_hyp, r0 ; eret ; nop ; nop      (the unstable-word runs: Hyp -> Hyp)
_ERET_CODE = struct.pack("<IIII", 0xE12EF300, 0xE160006E, 0xE320F000, 0xE320F000)
_ELR_AT = _BASE + 0x100
# msr ELR_hyp, r0 ; msr ELR_hyp, r1
_ELR_CODE = struct.pack("<II", 0xE12EF300, 0xE12EF301)
_MARKERS = (0x5A17C0DE, 0x0BADF00D)
_CLOCK_RETRIES = 5


class ContextLayout(NamedTuple):
    """Byte offsets into the CPU state of a saved context."""

    elr_hyp: int                   # from the start of the whole context (header included)
    mode_words: Tuple[int, ...]    # likewise
    unstable_words: Tuple[int, ...]  # from the start of the state, after unicorn's header


def new_uc() -> Uc:
    """A CPU of the model the machine emulates."""
    uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_A15)
    return uc


def state_of(raw: bytes) -> bytes:
    """The CPU state in a saved context, without unicorn's header (which holds host
    pointers); the header's first word is the size of that state."""
    size = int.from_bytes(raw[:8], "little")
    return raw[len(raw) - size:]


def _enter(uc: Uc, mode: int) -> None:
    uc.reg_write(A.UC_ARM_REG_CPSR, 0x1D0)          # any mode from User (DESIGN.md)
    uc.reg_write(A.UC_ARM_REG_CPSR, 0x1C0 | mode)


def _mode_words(uc: Uc) -> Tuple[int, ...]:
    found: Optional[Set[int]] = None
    for mode in _MODES:
        _enter(uc, mode)
        if uc.reg_read(A.UC_ARM_REG_CPSR) & MODE_MASK != mode:
            raise RuntimeError(f"unicorn: cannot switch a scratch CPU to mode {mode:#x}")
        raw = bytes(uc.context_save())
        words = struct.unpack(f"<{len(raw) // 4}I", raw[:len(raw) // 4 * 4])
        here = {i * 4 for i, w in enumerate(words) if w & MODE_MASK == mode}
        found = here if found is None else found & here
    if not found:
        raise RuntimeError("unicorn: the mode is not found in the CPU context")
    return tuple(sorted(found))


def _elr_hyp(uc: Uc) -> int:
    _enter(uc, HYP)
    uc.reg_write(A.UC_ARM_REG_R0, _MARKERS[0])
    uc.reg_write(A.UC_ARM_REG_R1, _MARKERS[1])
    uc.emu_start(_ELR_AT, 0, count=1)
    first = bytes(uc.context_save())
    uc.emu_start(_ELR_AT + 4, 0, count=1)
    second = bytes(uc.context_save())
    m0, m1 = (struct.pack("<I", m) for m in _MARKERS)
    for off in range(0, len(first) - 3, 4):
        if first[off:off + 4] == m0 and second[off:off + 4] == m1:
            return off
    raise RuntimeError("unicorn: ELR_hyp not found in the CPU context")


def _differing(states: list) -> Set[int]:
    return {off for off in range(0, len(states[0]), 4)
            if len({st[off:off + 4] for st in states}) > 1}


def _unstable_words(uc: Uc) -> Tuple[int, ...]:
    _enter(uc, HYP)
    uc.reg_write(A.UC_ARM_REG_SPSR, 0x1DA)
    uc.reg_write(A.UC_ARM_REG_R0, _BASE + 8)
    start = uc.context_save()
    def run() -> bytes:
        uc.context_restore(start)
        uc.emu_start(_BASE, 0, count=3)
        return state_of(bytes(uc.context_save()))

    # Runs from one state: the clock-derived words differ, the host clock having moved
    # on by microseconds; should it not have, wait and run again.
    states = [run() for _ in range(3)]
    for attempt in range(_CLOCK_RETRIES):
        if _differing(states):
            break
        time.sleep(0.001 * (attempt + 1))
        states.append(run())
    uc.context_restore(start)
    uc.emu_start(_BASE, 0, count=2)
    uc.emu_start(_BASE + 8, 0, count=1)
    states.append(state_of(bytes(uc.context_save())))
    words = _differing(states)
    words |= {off ^ 4 for off in words}      # 64-bit fields: the high word changes too
    before = state_of(bytes(uc.context_save()))
    uc.reg_write(A.UC_ARM_REG_ESR, 0x5A5A5A5A)
    after = state_of(bytes(uc.context_save()))
    for off in range(0, len(before), 4):
        if before[off:off + 4] != after[off:off + 4]:
            words |= set(range(off, off + 24, 4))
    return tuple(sorted(words))


@lru_cache(maxsize=None)
def layout() -> ContextLayout:
    """The offsets, measured in one scratch CPU the first time they are asked for."""
    uc = new_uc()
    uc.mem_map(_BASE, 0x1000)
    uc.mem_write(_BASE, _ERET_CODE)
    uc.mem_write(_ELR_AT, _ELR_CODE)
    uc.reg_write(A.UC_ARM_REG_CP_REG, _SCR)
    modes = _mode_words(uc)
    elr = _elr_hyp(uc)
    unstable = _unstable_words(uc)
    return ContextLayout(elr, modes, unstable)
