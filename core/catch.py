"""Hyp catchpoints: stop when the CPU enters Hyp (HVC, trap, IRQ/FIQ) or an ERET enters a world.

They hang off the exception-entry listeners and the ERET interception, which
run anyway to keep the exit log, so a catchpoint that never fires costs a
Python comparison per exit and nothing per instruction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional

from .hyp import syndrome as S
from .worlds import ExitRecord, WorldKey

if TYPE_CHECKING:
    from .machine import Machine


@dataclass
class Catchpoint:
    number: int
    kind: str                         # hvc, trap, irq, fiq, eret
    imm: Optional[int] = None         # hvc: only this immediate
    world: Optional[str] = None       # "host" or "guest"
    vmid: Optional[int] = None        # guest: only this VMID
    classes: tuple = ()               # trap: class names (empty = any)
    hits: int = 0

    def describe(self) -> str:
        text = f"{self.number}: catch {self.kind}"
        if self.imm is not None:
            text += f" #{self.imm:#x}"
        if self.classes:
            text += " " + " ".join(self.classes)
        if self.world:
            where = self.world + (f":{self.vmid}" if self.vmid is not None else "")
            text += (" from " if self.kind == "hvc" else " ") + where
        return text + f" (hits: {self.hits})"

    def matches_world(self, key: WorldKey) -> bool:
        if self.world is None:
            return True
        if key.kind != self.world:
            return False
        return self.vmid is None or key.vmid == self.vmid

    def matches(self, rec: ExitRecord) -> bool:
        if rec.kind == "eret":
            return self.kind == "eret" and self.matches_world(rec.world)
        if self.kind == "hvc":
            return rec.kind == "hvc" and (self.imm is None or rec.imm == self.imm) \
                and self.matches_world(rec.world)
        if self.kind in ("irq", "fiq"):
            return rec.kind == self.kind
        if self.kind == "trap":
            if rec.kind not in ("trap", "dabt", "pabt", "undef", "svc"):
                return False
            if not self.classes:
                return True
            ec = S.ec_of(rec.hsr)
            return any(ec in S.TRAP_CLASSES[c] for c in self.classes)
        return False


#: The catchpoint kind that can match a record of each kind (see ``Catchpoint.matches``).
_CATCH_KIND = {"hvc": "hvc", "eret": "eret", "irq": "irq", "fiq": "fiq", "trap": "trap",
               "dabt": "trap", "pabt": "trap", "undef": "trap", "svc": "trap"}


def _parse_world(text: str) -> tuple:
    if text == "host":
        return "host", None
    if text == "guest":
        return "guest", None
    if text.startswith("guest:"):
        try:
            return "guest", int(text[6:], 0)
        except ValueError:
            raise ValueError(f"bad VMID in {text!r}") from None
    raise ValueError(f"unknown world {text!r} (host, guest or guest:VMID)")


class Catchpoints:
    """The set of catchpoints of one machine, and the ``monitor catch`` command."""

    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self.points: List[Catchpoint] = []
        self._next = 1
        machine.on_exit.append(self._check)
        machine.on_eret.append(self._check)

    def _check(self, rec: ExitRecord) -> Optional[str]:
        # Only catchpoints of the record's kind can match: the others are passed over
        # without a call, as this runs at every exit and every ERET.
        kind = _CATCH_KIND.get(rec.kind)
        for cp in self.points:
            if cp.kind == kind and cp.matches(rec):
                cp.hits += 1
                return f"catchpoint {cp.number}: {rec.describe()}"
        return None

    def command(self, args: List[str]) -> str:
        if not args:
            raise ValueError("usage: catch hvc|trap|irq|fiq|eret|list|delete ...")
        what, rest = args[0], args[1:]
        if what == "list":
            return "".join(cp.describe() + "\n" for cp in self.points) or "no catchpoints\n"
        if what == "delete":
            if len(rest) != 1:
                raise ValueError("usage: catch delete N|all")
            if rest[0] == "all":
                self.points.clear()
                return "deleted all catchpoints\n"
            try:
                n = int(rest[0], 0)
            except ValueError:
                raise ValueError(f"bad catchpoint number {rest[0]!r}") from None
            if not any(cp.number == n for cp in self.points):
                raise ValueError(f"no catchpoint {n}")
            self.points = [cp for cp in self.points if cp.number != n]
            return f"deleted catchpoint {n}\n"
        cp = self._parse(what, rest)
        self.points.append(cp)
        self._next += 1
        return f"catchpoint {cp.describe()}\n"

    def _parse(self, what: str, rest: List[str]) -> Catchpoint:
        n = self._next
        if what == "hvc":
            cp = Catchpoint(n, "hvc")
            i = 0
            if i < len(rest) and rest[i] != "from":
                try:
                    cp.imm = int(rest[i], 0)
                except ValueError:
                    raise ValueError(f"bad HVC immediate {rest[i]!r}") from None
                if not 0 <= cp.imm <= 0xFFFF:
                    raise ValueError("HVC immediate must be 0..0xffff")
                i += 1
            if i < len(rest):
                if rest[i] != "from" or i + 2 != len(rest):
                    raise ValueError("usage: catch hvc [IMM] [from host|guest[:VMID]]")
                cp.world, cp.vmid = _parse_world(rest[i + 1])
            return cp
        if what == "trap":
            for c in rest:
                if c not in S.TRAP_CLASSES:
                    raise ValueError(f"unknown trap class {c!r} (one of {', '.join(S.TRAP_CLASSES)})")
            return Catchpoint(n, "trap", classes=tuple(rest))
        if what in ("irq", "fiq"):
            if rest:
                raise ValueError(f"catch {what} takes no arguments")
            return Catchpoint(n, what)
        if what == "eret":
            cp = Catchpoint(n, "eret")
            if len(rest) > 1:
                raise ValueError("usage: catch eret [host|guest[:VMID]]")
            if rest:
                cp.world, cp.vmid = _parse_world(rest[0])
            return cp
        raise ValueError(f"unknown catch kind {what!r} (hvc, trap, irq, fiq, eret, list, delete)")
