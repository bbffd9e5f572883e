"""Where an exception goes: a PL1 mode or Hyp (ARM ARM B1.8 and B1.9; armv7-virt.md 2.2).

Pure functions of the exception kind, the mode it is taken from and HCR, so the
rules can be tested without a CPU.
"""
from __future__ import annotations

from typing import Tuple

from ..cpu import HYP, USR
from . import syndrome as S

HCR_FMO = 1 << 3
HCR_IMO = 1 << 4
HCR_AMO = 1 << 5
HCR_TGE = 1 << 27

_HYP_NATURAL = {"undef": S.HVEC_UNDEF, "svc": S.HVEC_HVC, "hvc": S.HVEC_HVC, "pabt": S.HVEC_PABT,
                "dabt": S.HVEC_DABT, "trap": S.HVEC_TRAP, "irq": S.HVEC_IRQ, "fiq": S.HVEC_FIQ}


def hyp_offset(kind: str, from_mode: int) -> int:
    """Hyp vector offset: the natural one, or 0x14 (Hyp Trap) for a synchronous
    exception taken from outside Hyp (QEMU's rule, ARM ARM B1.8.3 Table B1-4)."""
    off = _HYP_NATURAL[kind]
    if from_mode != HYP and off < S.HVEC_TRAP:
        return S.HVEC_TRAP
    return off


def routes_to_hyp(kind: str, from_mode: int, hcr: int, stage2: bool = False,
                  tge_routable_abort: bool = False) -> bool:
    """Whether an exception of ``kind`` taken in ``from_mode`` is taken to Hyp.

    ``stage2``: the abort is a stage-2 fault. ``tge_routable_abort``: the abort is an
    alignment fault or a synchronous external abort (the ones HCR.TGE routes from User).
    """
    if from_mode == HYP:
        return True
    if kind in ("hvc", "trap"):
        return True
    tge_user = bool(hcr & HCR_TGE) and from_mode == USR
    if kind in ("undef", "svc"):
        return tge_user
    if kind in ("pabt", "dabt"):
        return stage2 or (tge_user and tge_routable_abort)
    if kind == "irq":
        return bool(hcr & HCR_IMO) or tge_user
    if kind == "fiq":
        return bool(hcr & HCR_FMO) or tge_user
    raise ValueError(kind)


def irq_unmasked(kind: str, from_mode: int, cpsr: int, hcr: int) -> bool:
    """Whether a pending physical IRQ/FIQ is taken now (B1.8.6, armv7-virt.md 2.2):
    routed to Hyp from PL0/PL1 it ignores CPSR.I/F; otherwise CPSR masks it."""
    bit = 0x80 if kind == "irq" else 0x40
    if from_mode == HYP:
        # TakePhysicalIRQException (B1.9.11): from Hyp mode it is taken to Hyp whatever
        # HCR.IMO/FMO say, masked by CPSR.I/F (QEMU 7.2 agrees)
        return not (cpsr & bit)
    if routes_to_hyp(kind, from_mode, hcr):
        return True
    return not (cpsr & bit)


_PL1_TARGETS = {"undef": (0x1B, 0x04), "svc": (0x13, 0x08), "pabt": (0x17, 0x0C),
                "dabt": (0x17, 0x10), "irq": (0x12, 0x18), "fiq": (0x11, 0x1C)}


def pl1_target(kind: str) -> Tuple[int, int]:
    """(mode, vector offset) of an exception taken to PL1 (B1.8.1 Table B1-3)."""
    return _PL1_TARGETS[kind]
