"""Architectural exception entry: the one routine every exception, trap and interrupt takes.

unicorn reports exceptions but never enters them (unicorn-exceptions.md); this
module performs the entry as ARM ARM B1.8/B1.9 describe it, to a PL1 mode or to
Hyp, and tells its listeners (the exit log, the hyp catchpoints) about each one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List

from .cpu import (CPSR_A, CPSR_E, CPSR_F, CPSR_I, CPSR_IT_MASK, CPSR_J, CPSR_T, HYP,
                  MODE_MASK, Cpu)
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


@dataclass(frozen=True)
class Entry:
    """What an exception entry did: the record listeners receive."""

    exc: Exc
    from_mode: int
    from_cpsr: int
    to_hyp: bool
    mode: int
    vector: int
    hsr: int


Listener = Callable[[Entry], None]
Before = Callable[[Exc, int], None]


class ExceptionEntry:
    """Performs entries on one CPU and notifies listeners after each."""

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu
        self.listeners: List[Listener] = []
        self.before: List[Before] = []

    def take(self, exc: Exc) -> Entry:
        cpu = self.cpu
        cpsr = cpu.cpsr
        from_mode = cpsr & MODE_MASK
        hcr = cpu.sysreg("HCR")
        to_hyp = routing.routes_to_hyp(exc.kind, from_mode, hcr, exc.stage2, exc.tge_abort)
        for hook in self.before:
            hook(exc, cpsr)
        if to_hyp:
            entry = self._enter_hyp(exc, cpsr, from_mode)
        else:
            entry = self._enter_pl1(exc, cpsr, from_mode)
        for listener in self.listeners:
            listener(entry)
        return entry

    def _enter_hyp(self, exc: Exc, cpsr: int, from_mode: int) -> Entry:
        """B1.9.11 'Exception entry to Hyp mode': SPSR_hyp, ELR_hyp, HSR, masks A/I/F."""
        cpu = self.cpu
        off = routing.hyp_offset(exc.kind, from_mode)
        hsctlr = cpu.sysreg("HSCTLR")
        new = (cpsr & ~(MODE_MASK | CPSR_T | CPSR_E | CPSR_IT_MASK | CPSR_J)) | HYP
        new |= CPSR_A | CPSR_I | CPSR_F
        if hsctlr & SCTLR_TE:
            new |= CPSR_T
        if hsctlr & SCTLR_EE:
            new |= CPSR_E
        hsr = exc.hsr
        if exc.kind in ("irq", "fiq"):
            hsr = cpu.sysreg("HSR")  # UNKNOWN for interrupts: left as it was, as QEMU does
        cpu.write_cpsr(new)
        cpu.set_spsr(cpsr)
        cpu.set_elr_hyp(exc.ret)
        if exc.kind not in ("irq", "fiq"):
            cpu.set_sysreg("HSR", hsr)
        for name, value in exc.hyp_fault_regs.items():
            cpu.set_sysreg(name, value)
        vector = (cpu.sysreg("HVBAR") & ~0x1F) + off
        cpu.set_pc(vector, bool(new & CPSR_T))
        return Entry(exc, from_mode, cpsr, True, HYP, vector, hsr)

    def _enter_pl1(self, exc: Exc, cpsr: int, from_mode: int) -> Entry:
        """B1.8.3 'Exception entry': banked LR with the mode's offset, SPSR, masks, VBAR."""
        cpu = self.cpu
        mode, off = routing.pl1_target(exc.kind)
        sctlr = cpu.sysreg("SCTLR")
        lr = exc.ret + _lr_offset(exc.kind, exc.thumb)
        new = (cpsr & ~(MODE_MASK | CPSR_T | CPSR_E | CPSR_IT_MASK | CPSR_J)) | mode | CPSR_I
        if exc.kind in ("pabt", "dabt", "irq", "fiq"):
            new |= CPSR_A
        if exc.kind == "fiq":
            new |= CPSR_F
        if sctlr & SCTLR_TE:
            new |= CPSR_T
        if sctlr & SCTLR_EE:
            new |= CPSR_E
        cpu.write_cpsr(new)
        cpu.set_spsr(cpsr)
        cpu.set_reg(14, lr)
        for name, value in exc.fault_regs.items():
            cpu.set_sysreg(name, value)
        base = 0xFFFF0000 if sctlr & SCTLR_V else (cpu.sysreg("VBAR") & ~0x1F)
        vector = base + off
        cpu.set_pc(vector, bool(new & CPSR_T))
        return Entry(exc, from_mode, cpsr, False, mode, vector, 0)


def _lr_offset(kind: str, thumb: bool) -> int:
    """LR = preferred return + offset (B1.8.3 Table B1-7)."""
    if kind == "undef":
        return 2 if thumb else 4
    if kind == "svc":
        return 0
    if kind == "dabt":
        return 8
    return 4  # pabt, irq, fiq
