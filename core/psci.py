"""PSCI firmware at the SMC conduit, as QEMU's virt board with virtualization=on provides it.

Every SMC that HCR.TSC does not trap is a PSCI call, as on QEMU 7.2 (measured:
an unknown function ID returns NOT_SUPPORTED, -1, as the SMC calling
convention says, rather than being UNDEFINED). With one CPU, CPU_ON always
finds its target on or absent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

VERSION = 0x84000000
CPU_SUSPEND = 0x84000001
CPU_OFF = 0x84000002
CPU_ON = 0x84000003
AFFINITY_INFO = 0x84000004
MIGRATE = 0x84000005
MIGRATE_INFO_TYPE = 0x84000006
SYSTEM_OFF = 0x84000008
SYSTEM_RESET = 0x84000009
FEATURES = 0x8400000A
CPU_SUSPEND64 = 0xC4000001
CPU_ON64 = 0xC4000003
AFFINITY_INFO64 = 0xC4000004
MIGRATE64 = 0xC4000005
PSCI_0_1_CPU_SUSPEND = 0x95C1BA5E
PSCI_0_1_CPU_OFF = 0x95C1BA5F
PSCI_0_1_CPU_ON = 0x95C1BA60
PSCI_0_1_MIGRATE = 0x95C1BA61

SUCCESS = 0
NOT_SUPPORTED = -1
INVALID_PARAMS = -2
ALREADY_ON = -4

PSCI_VERSION_1_1 = 0x00010001

KNOWN = frozenset({VERSION, CPU_SUSPEND, CPU_OFF, CPU_ON, AFFINITY_INFO, MIGRATE,
                   MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET, FEATURES, CPU_SUSPEND64,
                   CPU_ON64, AFFINITY_INFO64, MIGRATE64, PSCI_0_1_CPU_SUSPEND,
                   PSCI_0_1_CPU_OFF, PSCI_0_1_CPU_ON, PSCI_0_1_MIGRATE})


@dataclass(frozen=True)
class PsciResult:
    """What a call does: a value for r0, or a machine-level action."""

    r0: Optional[int] = None
    action: str = ""  # "", "off", "reset", "halt" (CPU_OFF of the only CPU), "suspend"


def is_psci(function_id: int) -> bool:
    return function_id in KNOWN


def call(function_id: int, a1: int, a2: int, a3: int, mpidr: int) -> PsciResult:
    """Perform one PSCI call for a single-CPU machine."""
    fid = function_id
    if fid == VERSION:
        return PsciResult(PSCI_VERSION_1_1)
    if fid == SYSTEM_OFF:
        return PsciResult(action="off")
    if fid == SYSTEM_RESET:
        return PsciResult(action="reset")
    if fid in (CPU_ON, CPU_ON64, PSCI_0_1_CPU_ON):
        return PsciResult(ALREADY_ON if (a1 & 0xFFFFFF) == (mpidr & 0xFFFFFF) else INVALID_PARAMS)
    if fid in (CPU_OFF, PSCI_0_1_CPU_OFF):
        return PsciResult(action="halt")
    if fid in (AFFINITY_INFO, AFFINITY_INFO64):
        return PsciResult(0 if (a1 & 0xFFFFFF) == (mpidr & 0xFFFFFF) else INVALID_PARAMS)
    if fid == MIGRATE_INFO_TYPE:
        return PsciResult(2)  # Trusted OS not present or does not require migration
    if fid in (CPU_SUSPEND, CPU_SUSPEND64, PSCI_0_1_CPU_SUSPEND):
        return PsciResult(SUCCESS, action="suspend")
    if fid == FEATURES:
        return PsciResult(SUCCESS if is_psci(a1) and a1 not in (MIGRATE, MIGRATE64) else NOT_SUPPORTED)
    return PsciResult(NOT_SUPPORTED)
