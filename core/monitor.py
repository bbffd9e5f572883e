"""``monitor`` commands served by the machine: hyp views, the exit log, catchpoints, time.

Each command is a small self-describing object (name, usage, help) so the
stub's ``monitor help`` can list them; bad input raises ValueError with a
one-line message and changes nothing.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List

from .catch import Catchpoints
from .hypview import describe_hyp

if TYPE_CHECKING:
    from .target import MachineTarget


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[List[str]], str]


def parse_int(text: str, what: str = "number") -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"bad {what}: {text!r}") from None


class Monitor:
    """The machine's monitor commands."""

    def __init__(self, target: "MachineTarget") -> None:
        self.t = target
        self.catch = Catchpoints(target.m)
        cmds = [
            Command("hyp", "hyp", "Hyp state: HCR and HSR decoded, VTTBR/VMID, ELR_hyp, SPSR_hyp, last exit",
                    self._hyp),
            Command("exits", "exits [N] | exits stats",
                    "the last N exits (default 20), or counts and instructions by reason and world",
                    self._exits),
            Command("catch", "catch hvc [IMM] [from host|guest[:VMID]] | catch trap [CLASS...] | "
                             "catch irq | catch fiq | catch eret [host|guest[:VMID]] | catch list | "
                             "catch delete N|all", "stop on hyp-level events", self._catch),
            Command("when", "when", "the instruction count (virtual time)", self._when),
            Command("goto", "goto COUNT", "go to instruction count COUNT, backwards or forwards "
                                          "(with history: hypdbg serve keeps it by default)", self._goto),
            Command("worlds", "worlds", "the worlds seen so far", self._worlds),
            Command("reset", "reset", "restart the image from its reset state", self._reset),
            Command("help", "help", "this list", lambda args: "\n".join(self.help_lines()) + "\n"),
        ]
        self.commands: Dict[str, Command] = {c.name: c for c in cmds}
        from .xlate_views import register
        register(self)

    def extend(self, cmd: Command) -> None:
        self.commands[cmd.name] = cmd

    def run(self, line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise ValueError(f"cannot parse command: {e}") from None
        if not words:
            raise ValueError("empty monitor command")
        cmd = self.commands.get(words[0])
        if cmd is None:
            raise ValueError(f"unknown monitor command {words[0]!r} (try 'monitor help')")
        return cmd.run(words[1:])

    def help_lines(self) -> List[str]:
        return [f"{c.usage:<40} {c.help}" for c in self.commands.values()]

    def _hyp(self, args: List[str]) -> str:
        if args:
            raise ValueError("hyp takes no arguments")
        return describe_hyp(self.t.m)

    def _exits(self, args: List[str]) -> str:
        worlds = self.t.m.worlds
        if args and args[0] == "stats":
            lines = [f"{'reason':<10} {'world':<16} {'count':>8} {'insns in hyp':>14}"]
            for (kind, world), n in sorted(worlds.counts.items(), key=lambda kv: -kv[1]):
                lines.append(f"{kind:<10} {world.label:<16} {n:>8} {worlds.spent.get((kind, world), 0):>14}")
            return "\n".join(lines) + "\n"
        n = 20 if not args else parse_int(args[0], "count")
        if n <= 0:
            raise ValueError("count must be positive")
        recs = list(worlds.log)[-n:]
        if not recs:
            return "no exits yet\n"
        return "".join(f"#{r.index} [{r.icount}] {r.describe()}\n" for r in recs)

    def _catch(self, args: List[str]) -> str:
        return self.catch.command(args)

    def _when(self, args: List[str]) -> str:
        return f"{self.t.m.icount}\n"

    def _goto(self, args: List[str]) -> str:
        if len(args) != 1:
            raise ValueError("usage: goto COUNT")
        count = parse_int(args[0], "instruction count")
        if count < 0:
            raise ValueError("the instruction count must not be negative")
        tt = self.t.tt
        if tt is None:
            raise ValueError("this session keeps no history (start hypdbg serve without --no-history)")
        pos = tt.goto(count)
        if count > pos.icount:                       # beyond the history: run forward to it
            stop = tt.run(max_insns=count - pos.icount)
            pos = tt.position
            if stop.kind not in ("limit",):
                return f"stopped on the way ({stop.kind} {stop.message}) at instruction " \
                       f"{pos.icount}, pc {self.t.m.cpu.pc:#010x}\n"
        return f"at instruction {pos.icount}, pc {self.t.m.cpu.pc:#010x}\n"

    def _worlds(self, args: List[str]) -> str:
        return "".join(f"{w.tid}: {w.extra}\n" for w in self.t.worlds())

    def _reset(self, args: List[str]) -> str:
        self.t.reset()
        return "machine reset\n"
