"""Types shared by the translation walkers (stage 1 PL1&0, Hyp stage 1, stage 2).

The walkers are pure functions of a register snapshot and a physical-memory
read callback; they return a :class:`Translation`, never raise for a memory
fault. A fault is a :class:`Fault` value that the machine turns into an
exception entry (DFSR/IFSR for PL1, HSR/HPFAR for Hyp).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, List, NamedTuple, Optional

from .fault_status import FaultKind, long_fsc, short_fs

ReadPhys = Callable[[int, int], Optional[int]]
"""``read_phys(pa, size)``: little-endian value of ``size`` bytes at ``pa``, or None
where nothing answers (the walk then takes a synchronous external abort)."""

# Permission bits; the values are unicorn's UC_PROT_READ/WRITE/EXEC, so a TLB
# fill can pass ``Translation.perms`` straight through.
R = 1
W = 2
X = 4
RW = R | W
RWX = R | W | X


class Access(enum.IntEnum):
    """Kind of access; each value is the permission bit the access needs."""

    READ = R
    WRITE = W
    FETCH = X


class PL(enum.IntEnum):
    """Privilege level of the access (B1.3.1)."""

    PL0 = 0
    PL1 = 1
    PL2 = 2


class MemType(enum.IntEnum):
    """Memory type, ordered so that combining two stages is ``max`` (B3.8: stricter wins)."""

    NORMAL = 0
    DEVICE = 1
    STRONGLY_ORDERED = 2


@dataclass(frozen=True)
class Fault:
    """One translation fault.

    ``level`` is the lookup level (short format: 1 = section, 2 = page).
    ``domain`` is set for short-descriptor faults once the domain is known.
    ``s1ptw`` marks a stage-2 fault on a stage-1 table walk; ``ipa`` is the
    IPA stage 2 was translating (the descriptor's IPA when ``s1ptw``).
    """

    stage: int
    kind: FaultKind
    level: int
    domain: Optional[int] = None
    s1ptw: bool = False
    ipa: Optional[int] = None

    def short_fs(self) -> int:
        """Short-descriptor FS[4:0] code (Table B3-23)."""
        return short_fs(self.kind, self.level)

    def long_fsc(self) -> int:
        """Long-descriptor STATUS / HSR xFSC code (Table B3-24)."""
        return long_fsc(self.kind, self.level)


class WalkStep(NamedTuple):
    """One descriptor read of a walk, for the debugger's view of a translation.

    ``addr`` is the descriptor address in the walk's input space (an IPA for a
    stage-1 walk under stage 2) and ``pa`` where it was read (None if the read
    never happened); ``value`` is None when the read failed.
    """

    stage: int
    level: int
    table: int
    addr: int
    pa: Optional[int]
    value: Optional[int]
    kind: str  # "table", "block", "page", "section", "supersection", "fault"


@dataclass
class Translation:
    """The result of translating one address.

    ``va_base``/``pa_base``/``map_size`` describe the aligned region around
    ``va`` that maps linearly with the same ``perms`` through every stage (the
    smallest block of all stages), so a TLB can map any 4 KiB page of it.
    ``perms`` (R|W|X) are granted at the requested privilege level by all
    stages. With a fault, ``pa`` is None and ``perms`` is 0; ``ipa`` is set
    when stage 1 succeeded and stage 2 faulted.
    """

    va: int
    access: Access
    ipa: Optional[int] = None
    pa: Optional[int] = None
    va_base: int = 0
    pa_base: int = 0
    map_size: int = 0
    perms: int = 0
    memtype: MemType = MemType.NORMAL
    s1_memtype: Optional[MemType] = None
    s2_memtype: Optional[MemType] = None
    ng: bool = False
    asid: Optional[int] = None
    vmid: Optional[int] = None
    steps: List[WalkStep] = field(default_factory=list)
    fault: Optional[Fault] = None

    @property
    def ok(self) -> bool:
        """True when the access may proceed."""
        return self.fault is None
