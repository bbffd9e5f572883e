"""Worlds (host, hypervisor, guests by VMID), their last register contexts, and the exit log.

A world is decided from the CPU state alone: Hyp mode is the hypervisor;
otherwise HCR.VM=1 means a guest tagged by VTTBR.VMID, and HCR.VM=0 the host.
Every entry to Hyp from another world and every ERET out of Hyp is recorded,
so the debugger can show where each world was when it last ran and a
``perf kvm stat``-style summary of the exits.
"""
from __future__ import annotations

import zlib
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Deque, Dict, List, NamedTuple, Optional, Tuple

from unicorn import arm_const as _A

from .hyp.syndrome import describe as describe_hsr

_GPR_IDS = tuple(getattr(_A, f"UC_ARM_REG_R{n}") for n in range(13)) + (
    _A.UC_ARM_REG_SP, _A.UC_ARM_REG_LR, _A.UC_ARM_REG_PC)

HOST_TID = 1
HYP_TID = 2


@dataclass(frozen=True)
class WorldKey:
    """Identity of a world: kind is "host", "hyp" or "guest"; vmid only for guests."""

    kind: str
    vmid: Optional[int] = None

    def __post_init__(self) -> None:
        # Keys index the contexts and the exit counts at every world switch: hash once.
        # From the bytes of the kind, not hash(str), so a key read back elsewhere agrees.
        object.__setattr__(self, "_hash", hash((zlib.crc32(self.kind.encode()), self.vmid)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    @property
    def label(self) -> str:
        return f"guest vmid {self.vmid}" if self.kind == "guest" else self.kind


HOST = WorldKey("host")
HYPERVISOR = WorldKey("hyp")


@lru_cache(maxsize=256)
def guest(vmid: int) -> WorldKey:
    """The key of the guest tagged ``vmid`` (one object per VMID: keys are compared often)."""
    return WorldKey("guest", vmid)


def world_outside_hyp(hcr: int, vttbr: int) -> WorldKey:
    """The world running outside Hyp mode: a guest by VTTBR.VMID while HCR.VM is set, else the host."""
    return guest((vttbr >> 48) & 0xFF) if hcr & 1 else HOST


class Context:
    """A world's registers when it last ran.

    The CPU state is kept as a unicorn context (one copy, about a microsecond), and
    registers are read out of it only when a debugger asks: a world switch must stay
    cheap. ``pc`` is where the world resumes (the exception's preferred return).
    """

    def __init__(self, saved: object, pc: int, cpsr: int, icount: int) -> None:
        self.saved = saved
        self.pc = pc
        self.cpsr = cpsr
        self.icount = icount

    @property
    def regs(self) -> List[int]:
        """r0-r15 (r15 = the resume PC)."""
        read = self.saved.reg_read  # type: ignore[attr-defined]
        return [read(reg_id) for reg_id in _GPR_IDS[:15]] + [self.pc]

    def reg(self, n: int) -> int:
        return self.pc if n == 15 else self.saved.reg_read(_GPR_IDS[n])  # type: ignore[attr-defined]


class ExitRecord(NamedTuple):
    """One entry to Hyp (an exit from a world) or one ERET into a world.

    A record is made at every world switch and most are never shown, so the
    human reading of an exit (``detail``: e.g. "HVC #0x12", "WFI", "data abort
    (write ...)") is worked out from the syndrome when read, unless ``note``
    gave one when the record was made.
    """

    index: int
    icount: int
    kind: str                      # hvc, trap, irq, fiq, dabt, pabt, undef, svc, eret
    world: WorldKey                # the world left (exits) or entered (eret)
    pc: int                        # preferred return address (exits) or target PC (eret)
    hsr: int = 0
    note: Optional[str] = None     # a detail given when made, instead of one from ``hsr``
    imm: Optional[int] = None

    @property
    def detail(self) -> str:
        if self.note is not None:
            return self.note
        if self.kind == "eret":
            return ""
        if self.kind in ("irq", "fiq"):
            return self.kind.upper()
        return describe_hsr(self.hsr)

    def describe(self) -> str:
        if self.kind == "eret":
            return f"eret into {self.world.label} at {self.pc:#010x}"
        what = self.detail or self.kind
        return f"hyp exit: {what} from {self.world.label} at {self.pc:#010x}, HSR={self.hsr:#010x}"


class Worlds:
    """Tracks worlds, thread ids, saved contexts and the exit log."""

    def __init__(self, log_size: int = 100000) -> None:
        self.tids: Dict[WorldKey, int] = {HOST: HOST_TID, HYPERVISOR: HYP_TID}
        self.contexts: Dict[WorldKey, Context] = {}
        self.log: Deque[ExitRecord] = deque(maxlen=log_size)
        self.total = 0
        self.counts: Counter = Counter()
        self.spent: Dict[Tuple[str, WorldKey], int] = defaultdict(int)
        self._open: Optional[Tuple[str, WorldKey, int]] = None

    def tid(self, key: WorldKey) -> int:
        if key not in self.tids:
            self.tids[key] = max(self.tids.values()) + 1
        return self.tids[key]

    def key_of(self, tid: int) -> Optional[WorldKey]:
        for key, value in self.tids.items():
            if value == tid:
                return key
        return None

    def record_exit(self, rec_kind: str, world: WorldKey, pc: int, hsr: int, detail: Optional[str],
                    icount: int, imm: Optional[int] = None) -> ExitRecord:
        """Log an exit; ``detail`` None: described from ``hsr`` when first read."""
        if world is not HOST and world is not HYPERVISOR:
            self.tid(world)
        rec = ExitRecord(self.total, icount, rec_kind, world, pc, hsr, detail, imm)
        self.total += 1
        self.log.append(rec)
        if world is not HYPERVISOR and (world is HOST or world != HYPERVISOR):
            self.counts[(rec_kind, world)] += 1
            self._open = (rec_kind, world, icount)
        return rec

    def record_eret(self, world: WorldKey, pc: int, icount: int) -> ExitRecord:
        if world is not HOST and world is not HYPERVISOR:
            self.tid(world)
        rec = ExitRecord(self.total, icount, "eret", world, pc)
        self.total += 1
        self.log.append(rec)
        if self._open is not None:
            kind, left, start = self._open
            self.spent[(kind, left)] += icount - start
            self._open = None
        return rec

    def last_exit(self) -> Optional[ExitRecord]:
        for rec in reversed(self.log):
            if rec.kind != "eret":
                return rec
        return None

    def reset(self) -> None:
        self.__init__(self.log.maxlen or 100000)  # type: ignore[misc]
