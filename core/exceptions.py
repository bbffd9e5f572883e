"""Architectural exception entry: the one routine every exception, trap and interrupt takes.

unicorn reports exceptions but never enters them (unicorn-exceptions.md); this
module performs the entry as ARM ARM B1.8/B1.9 describe it, to a PL1 mode or to
Hyp, and tells its listeners (the exit log, the hyp catchpoints) about each one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

from unicorn import arm_const as A

from .cpu import (CPSR_A, CPSR_E, CPSR_F, CPSR_I, CPSR_IT_MASK, CPSR_J, CPSR_T, HYP,
                  MODE_MASK, Cpu, RegBatch)
from .hyp import routing

SCTLR_V = 1 << 13
SCTLR_EE = 1 << 25
SCTLR_TE = 1 << 30


@dataclass
class Exc:
    """An exception about to be taken.

    ``ret`` is the preferred return address (ARM ARM B1.8.3): the next
    instruction for SVC/HVC/IRQ/FIQ, the faulting or trapped one otherwise.
    ``thumb`` is the instruction set the exception was taken from.
    """

    kind: str                      # undef svc pabt dabt irq fiq hvc trap
    ret: int
    thumb: bool = False
    hsr: int = 0                   # syndrome, when the exception goes to Hyp
    stage2: bool = False           # an abort from stage-2 translation
    tge_abort: bool = False        # alignment / external abort (HCR.TGE routes these from User)
    fault_regs: Dict[str, int] = field(default_factory=dict)  # PL1: DFSR/DFAR/IFSR/IFAR
    hyp_fault_regs: Dict[str, int] = field(default_factory=dict)  # Hyp: HDFAR/HIFAR/HPFAR
    physical: bool = True          # False for virtual IRQ/FIQ/abort taken by a guest


class Entry(NamedTuple):
    """What an exception entry did: the record listeners receive.

    ``ctl`` is the system control register of the regime entered (HSCTLR for Hyp,
    SCTLR for PL1) as the entry read it, for listeners that follow its bits.
    """

    exc: Exc
    from_mode: int
    from_cpsr: int
    to_hyp: bool
    mode: int
    vector: int
    hsr: int
    ctl: int = 0


Listener = Callable[[Entry], None]
Before = Callable[[Exc, int], None]

_PC, _CPSR, _SPSR, _LR = A.UC_ARM_REG_PC, A.UC_ARM_REG_CPSR, A.UC_ARM_REG_SPSR, A.UC_ARM_REG_LR
_MASKED = CPSR_A | CPSR_I | CPSR_F
_CLEARED = MODE_MASK | CPSR_T | CPSR_E | CPSR_IT_MASK | CPSR_J
_INTERRUPTS = ("irq", "fiq")

#: What an entry reads before it writes anything, in this order (the ``state`` of ``take``):
#: CPSR and HCR decide the route, VTTBR the world left, the control and vector base
#: registers of both regimes the new CPSR and the vector, HSR the syndrome an interrupt keeps.
STATE_REGS = (_CPSR, "HCR", "VTTBR", "HSCTLR", "HVBAR", "SCTLR", "VBAR", "HSR")


class ExceptionEntry:
    """Performs entries on one CPU and notifies listeners after each.

    ``hcr`` and ``vttbr`` hold HCR and VTTBR as the exception being taken found them
    (they decide the world it leaves) and ``to_hyp`` where it goes, for the ``before``
    hooks and the listeners. An entry reads and writes the CPU in a few batch calls: it
    runs at every exit.
    """

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu
        self.listeners: List[Listener] = []
        self.before: List[Before] = []
        self.hcr = 0
        self.vttbr = 0
        self.to_hyp = False
        self._state = RegBatch(cpu, STATE_REGS)
        self._hyp_sync = RegBatch(cpu, (_CPSR, _CPSR, _SPSR, "HSR"))
        self._hyp_async = RegBatch(cpu, (_CPSR, _CPSR, _SPSR))
        self._pl1 = RegBatch(cpu, (_CPSR, _CPSR, _SPSR, _LR))

    def take(self, exc: Exc, state: Optional[Sequence[int]] = None) -> Entry:
        """Take ``exc``; ``state``: the ``STATE_REGS`` if the caller has just read them."""
        if state is None:
            state = self._state.read()
        cpsr, hcr, vttbr = state[0], state[1], state[2]
        self.hcr, self.vttbr = hcr, vttbr
        from_mode = cpsr & MODE_MASK
        to_hyp = self.to_hyp = routing.routes_to_hyp(exc.kind, from_mode, hcr, exc.stage2,
                                                     exc.tge_abort)
        for hook in self.before:
            hook(exc, cpsr)
        if to_hyp:
            entry = self._enter_hyp(exc, cpsr, from_mode, state)
        else:
            entry = self._enter_pl1(exc, cpsr, from_mode, state)
        for listener in self.listeners:
            listener(entry)
        return entry

    def _enter_hyp(self, exc: Exc, cpsr: int, from_mode: int, state: Sequence[int]) -> Entry:
        """B1.9.11 'Exception entry to Hyp mode': SPSR_hyp, ELR_hyp, HSR, masks A/I/F."""
        cpu = self.cpu
        off = routing.hyp_offset(exc.kind, from_mode)
        hsctlr, hvbar = state[3], state[4]
        new = (cpsr & ~_CLEARED) | HYP | _MASKED
        if hsctlr & SCTLR_TE:
            new |= CPSR_T
        if hsctlr & SCTLR_EE:
            new |= CPSR_E
        vector = (hvbar & ~0x1F) + off
        pc = (vector & ~1) | int(bool(new & CPSR_T))
        if exc.kind in _INTERRUPTS:
            hsr = state[7]  # UNKNOWN for interrupts: left as it was, as QEMU does
            cpu.enter(cpsr, new, self._hyp_async, [cpsr], exc.ret)
        else:
            hsr = exc.hsr
            cpu.enter(cpsr, new, self._hyp_sync, [cpsr, hsr & 0xFFFFFFFF], exc.ret)
        for name, value in exc.hyp_fault_regs.items():
            cpu.set_sysreg(name, value)
        cpu.write_id(_PC, pc)
        return Entry(exc, from_mode, cpsr, True, HYP, vector, hsr, hsctlr)

    def _enter_pl1(self, exc: Exc, cpsr: int, from_mode: int, state: Sequence[int]) -> Entry:
        """B1.8.3 'Exception entry': banked LR with the mode's offset, SPSR, masks, VBAR."""
        cpu = self.cpu
        mode, off = routing.pl1_target(exc.kind)
        sctlr, vbar = state[5], state[6]
        lr = exc.ret + _lr_offset(exc.kind, exc.thumb)
        new = (cpsr & ~_CLEARED) | mode | CPSR_I
        if exc.kind in ("pabt", "dabt", "irq", "fiq"):
            new |= CPSR_A
        if exc.kind == "fiq":
            new |= CPSR_F
        if sctlr & SCTLR_TE:
            new |= CPSR_T
        if sctlr & SCTLR_EE:
            new |= CPSR_E
        base = 0xFFFF0000 if sctlr & SCTLR_V else (vbar & ~0x1F)
        vector = base + off
        pc = (vector & ~1) | int(bool(new & CPSR_T))
        cpu.enter(cpsr, new, self._pl1, [cpsr, lr & 0xFFFFFFFF])
        for name, value in exc.fault_regs.items():
            cpu.set_sysreg(name, value)
        cpu.write_id(_PC, pc)
        return Entry(exc, from_mode, cpsr, False, mode, vector, 0, sctlr)


def _lr_offset(kind: str, thumb: bool) -> int:
    """LR = preferred return + offset (B1.8.3 Table B1-7)."""
    if kind == "undef":
        return 2 if thumb else 4
    if kind == "svc":
        return 0
    if kind == "dabt":
        return 8
    return 4  # pabt, irq, fiq
