"""The Hyp-side report of an abort: HSR, HPFAR, HDFAR/HIFAR (ARM ARM B3.13.5, B3.13.6).

A stage-2 fault on a guest access is taken to Hyp mode as a Data Abort
(EC 0x24) or Prefetch Abort (EC 0x20). Hyp software emulates MMIO from the
instruction syndrome (ISV, SAS, SSE, SRT, WnR) and finds the IPA in HPFAR,
so these values must be exactly what the hardware would write.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..translation import Access, Fault

EC_IABT = 0x20      # Prefetch Abort from NS PL0/PL1, taken to Hyp
EC_IABT_HYP = 0x21  # Prefetch Abort taken from Hyp mode
EC_DABT = 0x24      # Data Abort from NS PL0/PL1, taken to Hyp
EC_DABT_HYP = 0x25  # Data Abort taken from Hyp mode

HSR_IL = 1 << 25
ISS_ISV = 1 << 24
ISS_SSE = 1 << 21
ISS_CM = 1 << 8
ISS_S1PTW = 1 << 7
ISS_WNR = 1 << 6

_SAS = {1: 0, 2: 1, 4: 2}  # access size in bytes -> SAS


@dataclass(frozen=True)
class DataAbortInsn:
    """The instruction syndrome of a single-register load or store (the ISV=1 fields)."""

    size: int                 # bytes transferred: 1, 2 or 4
    rt: int                   # the transfer register, SRT
    sign_extend: bool = False  # LDRSB/LDRSH
    is_32bit: bool = True     # ARM or 32-bit Thumb encoding (HSR.IL)


@dataclass(frozen=True)
class HypAbortReport:
    """Register values for an abort taken to Hyp mode; the fault address goes to HDFAR or HIFAR."""

    hsr: int
    hpfar: Optional[int]  # None when the fault carries no IPA
    hdfar: Optional[int]  # set for data aborts
    hifar: Optional[int]  # set for prefetch aborts


def hpfar_value(ipa: int) -> int:
    """HPFAR for a faulting IPA: FIPA = IPA[39:12] in bits [31:4] (B3.13.5, B4.1 HPFAR)."""
    return ((ipa >> 12) << 4) & 0xFFFFFFF0


def abort_hsr(fault: Fault, access: Access, insn: Optional[DataAbortInsn] = None,
              cm: bool = False, from_hyp: bool = False) -> int:
    """HSR value for ``fault`` on ``access`` (B3.13.6, ISS for Data and Prefetch Aborts).

    The status field is the long-descriptor code with the fault's level (for
    a stage-2 fault, the stage-2 level). The instruction syndrome is valid
    only for a data access that did not fault on a stage-1 table walk, and
    only when ``insn`` describes it; IL is then the instruction size, else 0
    (IL is not valid for those exceptions, and QEMU writes 0). WnR gives the
    direction of the access, also for S1PTW faults; cache maintenance
    reports CM=1 and WnR=1.
    """
    iss = fault.long_fsc()
    if fault.s1ptw:
        iss |= ISS_S1PTW
    if access is Access.FETCH:
        ec = EC_IABT_HYP if from_hyp else EC_IABT
        return (ec << 26) | iss
    ec = EC_DABT_HYP if from_hyp else EC_DABT
    if access is Access.WRITE or cm:
        iss |= ISS_WNR
    if cm:
        iss |= ISS_CM
    il = 0
    if insn is not None and not fault.s1ptw and not cm:
        iss |= ISS_ISV | (_SAS[insn.size] << 22) | ((insn.rt & 0xF) << 16)
        if insn.sign_extend:
            iss |= ISS_SSE
        if insn.is_32bit:
            il = HSR_IL
    return (ec << 26) | il | iss


def hyp_abort_report(fault: Fault, va: int, access: Access,
                     insn: Optional[DataAbortInsn] = None, cm: bool = False,
                     from_hyp: bool = False) -> HypAbortReport:
    """HSR, HPFAR and HDFAR/HIFAR for ``fault`` on the access to ``va``.

    HPFAR holds the IPA stage 2 was translating (the descriptor's IPA for
    S1PTW); the architecture defines it for translation and access flag
    faults and for permission faults with S1PTW, and it is written here
    whenever the fault has an IPA.
    """
    hsr = abort_hsr(fault, access, insn, cm, from_hyp)
    hpfar = hpfar_value(fault.ipa) if fault.ipa is not None else None
    far = va & 0xFFFFFFFF
    if access is Access.FETCH:
        return HypAbortReport(hsr, hpfar, None, far)
    return HypAbortReport(hsr, hpfar, far, None)
