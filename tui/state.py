"""What the TUI knows at a stop, as plain data: worlds, their registers, hyp state, code.

The session fills a :class:`Snapshot` from GDB; the panes render one without
talking to GDB, so rendering is testable with made-up values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

#: Thread ids the hypdbg stub gives its worlds (gdbstub/threads.py).
HOST_TID = 1
HYP_TID = 2

_SAVED_AT = re.compile(r"saved at insn (\d+)")


@dataclass(frozen=True)
class World:
    """One GDB thread: a world of the hypdbg stub, or a CPU of another stub."""

    tid: int
    name: str                 # "host", "hyp", "guest vmid 1", or GDB's target-id
    details: str = ""         # the stub's thread extra info ("host [saved at insn 17] ...")
    live: bool = False        # the CPU is in this world now
    regs: Dict[str, int] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """host, hyp, guest, or cpu (a thread of a stub without worlds)."""
        if self.name in ("host", "hyp"):
            return self.name
        if self.name.startswith("guest"):
            return "guest"
        return "cpu"

    @property
    def has_run(self) -> bool:
        """False while the stub reports the world as not run yet (its registers mean nothing)."""
        return "not run yet" not in self.details

    @property
    def saved_at(self) -> int:
        """Instruction count at which the world was last left (-1 if unknown)."""
        m = _SAVED_AT.search(self.details)
        return int(m.group(1)) if m else -1


@dataclass
class Snapshot:
    """Everything shown at one stop."""

    worlds: List[World] = field(default_factory=list)
    live_tid: Optional[int] = None
    hyp: Dict[str, int] = field(default_factory=dict)   # hyp registers by name; empty without them
    last_exit: str = ""
    exits: List[str] = field(default_factory=list)
    code_base: int = 0
    code: bytes = b""
    pc: Optional[int] = None
    thumb: bool = False
    breakpoints: Dict[int, int] = field(default_factory=dict)   # address -> GDB number
    status: str = ""

    def world(self, tid: Optional[int]) -> Optional[World]:
        """The world with thread id ``tid``."""
        for w in self.worlds:
            if w.tid == tid:
                return w
        return None

    @property
    def has_worlds(self) -> bool:
        """True when the stub names its threads host/hyp/guest (the hypdbg stub)."""
        return any(w.kind in ("host", "hyp") for w in self.worlds)

    def guest(self, focus: Optional[int] = None) -> Optional[World]:
        """The guest to show: the focused one, else the live one, else the last one left."""
        guests = [w for w in self.worlds if w.kind == "guest"]
        for w in guests:
            if w.tid == focus:
                return w
        for w in guests:
            if w.live:
                return w
        return max(guests, key=lambda w: (w.saved_at, w.tid), default=None)
