"""Worlds (host, hypervisor, guests by VMID), their last register contexts, and the exit log.

A world is decided from the CPU state alone: Hyp mode is the hypervisor;
otherwise HCR.VM=1 means a guest tagged by VTTBR.VMID, and HCR.VM=0 the host.
Every entry to Hyp from another world and every ERET out of Hyp is recorded,
so the debugger can show where each world was when it last ran and a
``perf kvm stat``-style summary of the exits.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Tuple
from collections import deque

from unicorn import arm_const as _A

_GPR_IDS = tuple(getattr(_A, f"UC_ARM_REG_R{n}") for n in range(13)) + (
    _A.UC_ARM_REG_SP, _A.UC_ARM_REG_LR, _A.UC_ARM_REG_PC)

HOST_TID = 1
HYP_TID = 2


@dataclass(frozen=True)
class WorldKey:
    """Identity of a world: kind is "host", "hyp" or "guest"; vmid only for guests."""

    kind: str
    vmid: Optional[int] = None

    @property
    def label(self) -> str:
        return f"guest vmid {self.vmid}" if self.kind == "guest" else self.kind


HOST = WorldKey("host")
HYPERVISOR = WorldKey("hyp")


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


@dataclass(frozen=True)
class ExitRecord:
    """One entry to Hyp (an exit from a world) or one ERET into a world."""

    index: int
    icount: int
    kind: str            # hvc, trap, irq, fiq, dabt, pabt, undef, svc, eret
    world: WorldKey      # the world left (exits) or entered (eret)
    pc: int              # preferred return address (exits) or target PC (eret)
    hsr: int = 0
    detail: str = ""     # e.g. "HVC #0x12", "WFI", "data abort (write ...)"
    imm: Optional[int] = None

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

    def record_exit(self, rec_kind: str, world: WorldKey, pc: int, hsr: int, detail: str,
                    icount: int, imm: Optional[int] = None) -> ExitRecord:
        self.tid(world)
        rec = ExitRecord(self.total, icount, rec_kind, world, pc, hsr, detail, imm)
        self.total += 1
        self.log.append(rec)
        if world != HYPERVISOR:
            self.counts[(rec_kind, world)] += 1
            self._open = (rec_kind, world, icount)
        return rec

    def record_eret(self, world: WorldKey, pc: int, icount: int) -> ExitRecord:
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
