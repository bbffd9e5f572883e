"""``Z``/``z`` packets and the breakpoints one client has inserted.

``Ztype,addr,kind``: type 0 software breakpoint, 1 hardware breakpoint,
2 write, 3 read, 4 access watchpoint (kind = length for watchpoints). Both
packets must be idempotent and an unknown type gets the empty reply (GDB
manual, "Packets", Z/z). The machine has one breakpoint per address, so a
Z0 and a Z1 at the same address share it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, FrozenSet, Set, Tuple

from hypdbg.core.debug import DebugTarget

from .codec import parse_hex
from .replies import EMPTY, OK, Malformed, Reply

if TYPE_CHECKING:
    from .session import Session

WATCH_KINDS = {2: "watch", 3: "rwatch", 4: "awatch"}


class BreakpointTable:
    """Breakpoints and watchpoints inserted through one session, so they can be undone."""

    def __init__(self, target: DebugTarget) -> None:
        self._target = target
        self._breaks: Dict[int, Set[int]] = {}
        self._watches: Set[Tuple[int, int, str]] = set()
        self.hw_only: FrozenSet[int] = frozenset()

    def insert_break(self, typ: int, addr: int) -> None:
        """Insert a type-0 or type-1 breakpoint (again is a no-op)."""
        types = self._breaks.get(addr)
        if types is None:
            self._target.insert_breakpoint(addr)
            types = self._breaks[addr] = set()
        types.add(typ)
        self._update_hw()

    def remove_break(self, typ: int, addr: int) -> None:
        """Remove it; the machine's breakpoint goes when no type is left at the address."""
        types = self._breaks.get(addr)
        if types is None or typ not in types:
            return
        types.discard(typ)
        if not types:
            del self._breaks[addr]
            self._target.remove_breakpoint(addr)
        self._update_hw()

    def insert_watch(self, addr: int, length: int, kind: str) -> None:
        """Insert a watchpoint (again is a no-op)."""
        key = (addr, length, kind)
        if key not in self._watches:
            self._target.insert_watchpoint(addr, length, kind)
            self._watches.add(key)

    def remove_watch(self, addr: int, length: int, kind: str) -> None:
        """Remove a watchpoint if this session inserted it."""
        key = (addr, length, kind)
        if key in self._watches:
            self._watches.discard(key)
            self._target.remove_watchpoint(addr, length, kind)

    def clear(self) -> None:
        """Remove everything (the client is gone)."""
        for addr in list(self._breaks):
            del self._breaks[addr]
            self._target.remove_breakpoint(addr)
        for key in list(self._watches):
            self._watches.discard(key)
            self._target.remove_watchpoint(*key)
        self.hw_only = frozenset()

    def _update_hw(self) -> None:
        self.hw_only = frozenset(a for a, t in self._breaks.items() if t == {1})


def _parse(args: bytes) -> Tuple[int, int, int]:
    """``type,addr,kind`` (conditions after ``;`` are ignored: we do not offer them)."""
    fields = args.split(b";", 1)[0].split(b",")
    if len(fields) != 3:
        raise Malformed("Z/z needs type,addr,kind")
    return parse_hex(fields[0]), parse_hex(fields[1]), parse_hex(fields[2])


def insert(session: "Session", args: bytes) -> Reply:
    """``Z``: insert a breakpoint or watchpoint."""
    typ, addr, kind = _parse(args)
    if typ in (0, 1):
        session.points.insert_break(typ, addr)
    elif typ in WATCH_KINDS:
        if kind == 0:
            raise Malformed("zero-length watchpoint")
        session.points.insert_watch(addr, kind, WATCH_KINDS[typ])
    else:
        return EMPTY
    return OK


def remove(session: "Session", args: bytes) -> Reply:
    """``z``: remove a breakpoint or watchpoint."""
    typ, addr, kind = _parse(args)
    if typ in (0, 1):
        session.points.remove_break(typ, addr)
    elif typ in WATCH_KINDS:
        session.points.remove_watch(addr, kind, WATCH_KINDS[typ])
    else:
        return EMPTY
    return OK
