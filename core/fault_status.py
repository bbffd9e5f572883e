"""Fault kinds and their fault status encodings (ARM ARM B3.13.3).

A translation fault is data: its kind and level. This module turns that pair
into the short-descriptor FS code and the long-descriptor FSC code, and packs
them into DFSR/IFSR values the way the guest reads them, so that the walkers
never need to know about register layouts.
"""
from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .translation import Fault


class FaultKind(str, enum.Enum):
    """What went wrong; a ``str`` so that ``kind == "translation"`` also reads naturally."""

    TRANSLATION = "translation"
    ACCESS_FLAG = "access_flag"
    PERMISSION = "permission"
    DOMAIN = "domain"
    EXTERNAL = "external"                # synchronous external abort on a translation table walk
    EXTERNAL_ACCESS = "external_access"  # synchronous external abort on the access itself
    ALIGNMENT = "alignment"


# Short-descriptor FS[4:0] (Table B3-23): (first level / section, second level / page).
_SHORT_FS = {
    FaultKind.TRANSLATION: (0x05, 0x07),
    FaultKind.ACCESS_FLAG: (0x03, 0x06),
    FaultKind.DOMAIN: (0x09, 0x0B),
    FaultKind.PERMISSION: (0x0D, 0x0F),
    FaultKind.EXTERNAL: (0x0C, 0x0E),
    FaultKind.EXTERNAL_ACCESS: (0x08, 0x08),
    FaultKind.ALIGNMENT: (0x01, 0x01),
}

# Long-descriptor STATUS[5:0] (Table B3-24): base code, level ORed in when True.
_LONG_FSC = {
    FaultKind.TRANSLATION: (0x04, True),
    FaultKind.ACCESS_FLAG: (0x08, True),
    FaultKind.PERMISSION: (0x0C, True),
    FaultKind.EXTERNAL: (0x14, True),
    FaultKind.EXTERNAL_ACCESS: (0x10, False),
    FaultKind.ALIGNMENT: (0x21, False),
}

_DOMAIN_FSC = (0x3D, 0x3E)  # domain fault, first / second level, long format

FSR_LPAE = 1 << 9
FSR_WNR = 1 << 11
FSR_EXT = 1 << 12
FSR_CM = 1 << 13


def short_fs(kind: str, level: int) -> int:
    """Five-bit short-descriptor FS code; level 1 is a section, any deeper level a page."""
    codes = _SHORT_FS[FaultKind(kind)]
    return codes[0] if level <= 1 else codes[1]


def long_fsc(kind: str, level: int) -> int:
    """Six-bit long-descriptor FSC code (also the HSR xFSC of a stage-2 fault)."""
    kind = FaultKind(kind)
    if kind is FaultKind.DOMAIN:
        return _DOMAIN_FSC[0] if level <= 1 else _DOMAIN_FSC[1]
    base, levelled = _LONG_FSC[kind]
    return base | (level & 3) if levelled else base


def dfsr(fault: "Fault", write: bool, long_format: bool, cm: bool = False) -> int:
    """DFSR value for a data abort taken to PL1 (B3.13.3, B4.1 DFSR); CM faults report WnR=1."""
    wnr = FSR_WNR if (write or cm) else 0
    extra = wnr | (FSR_CM if cm else 0)
    if long_format:
        return FSR_LPAE | long_fsc(fault.kind, fault.level) | extra
    fs = short_fs(fault.kind, fault.level)
    domain = fault.domain or 0
    return (fs & 0xF) | ((fs >> 4) << 10) | (domain << 4) | extra


def ifsr(fault: "Fault", long_format: bool) -> int:
    """IFSR value for a prefetch abort taken to PL1 (B3.13.3, B4.1 IFSR); it has no domain field."""
    if long_format:
        return FSR_LPAE | long_fsc(fault.kind, fault.level)
    fs = short_fs(fault.kind, fault.level)
    return (fs & 0xF) | ((fs >> 4) << 10)
