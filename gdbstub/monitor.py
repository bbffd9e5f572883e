"""``monitor`` commands: small self-describing objects, so ``monitor help`` writes itself.

Commands the stub does not know go to ``target.monitor``: the machine owns
its own views (hyp state, stage-2 walks, exit log).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional

from hypdbg.core.debug import Space

from . import hooks

if TYPE_CHECKING:
    from .session import Session


class MonitorError(Exception):
    """A command failed; the message is one line for the user."""


@dataclass(frozen=True)
class MonitorCommand:
    """One stub-level command: its name, how to call it, what it is for, and what it does."""

    name: str
    usage: str
    help: str
    handler: Callable[["Session", List[str]], str]


class MonitorRegistry:
    """Named commands; anything else is forwarded to the machine."""

    def __init__(self, commands: Iterable[MonitorCommand] = ()) -> None:
        self._commands: Dict[str, MonitorCommand] = {}
        for cmd in commands:
            self.add(cmd)

    def add(self, cmd: MonitorCommand) -> None:
        """Register (or replace) a command."""
        self._commands[cmd.name] = cmd

    def get(self, name: str) -> Optional[MonitorCommand]:
        """The command called ``name``, if the stub has one."""
        return self._commands.get(name)

    def commands(self) -> List[MonitorCommand]:
        """All stub commands, sorted by name."""
        return [self._commands[k] for k in sorted(self._commands)]

    def run(self, session: "Session", line: str) -> str:
        """Run ``line``; raises MonitorError with a one-line reason on failure."""
        words = line.split()
        if not words:
            return self.help_text(session)
        cmd = self._commands.get(words[0])
        if cmd is not None:
            return cmd.handler(session, words[1:])
        try:
            return session.target.monitor(line.strip())
        except ValueError as exc:
            reason = str(exc).strip().splitlines()
            raise MonitorError(reason[0] if reason else
                               f"unknown command '{words[0]}'; try 'monitor help'") from None

    def help_text(self, session: "Session") -> str:
        """Stub commands with usage and help, then the machine's own help."""
        width = max((len(c.usage) for c in self._commands.values()), default=0)
        lines = ["Stub commands:"]
        lines += [f"  {c.usage.ljust(width)}  {c.help}" for c in self.commands()]
        try:
            machine = session.target.monitor("help")
        except Exception:  # the machine may have no help; the stub's list still stands
            machine = ""
        if machine.strip():
            lines.append("Machine commands:")
            lines += ["  " + ln for ln in machine.rstrip("\n").splitlines()]
        return "\n".join(lines) + "\n"


def _on_off(word: str) -> bool:
    if word in ("on", "1", "yes", "true"):
        return True
    if word in ("off", "0", "no", "false"):
        return False
    raise MonitorError(f"expected on or off, not '{word}'")


def _help(session: "Session", args: List[str]) -> str:
    registry = session.monitor
    if not args:
        return registry.help_text(session)
    cmd = registry.get(args[0])
    if cmd is None:
        try:
            return session.target.monitor("help " + " ".join(args))
        except ValueError:
            raise MonitorError(f"no help for '{args[0]}'") from None
    return f"{cmd.usage}\n  {cmd.help}\n"


def _step_irq(session: "Session", args: List[str]) -> str:
    if len(args) > 1:
        raise MonitorError("usage: step-irq [on|off]")
    if args:
        value = _on_off(args[0])
        try:
            done = hooks.set_option(session.target, hooks.STEP_IRQ, value)
        except ValueError as exc:
            raise MonitorError(str(exc)) from None
        if not done:
            raise MonitorError("this machine cannot change step-irq")
        return f"step-irq is {'on' if value else 'off'}\n"
    current = hooks.get_option(session.target, hooks.STEP_IRQ)
    if current is None:
        return "step-irq is unknown on this machine\n"
    return f"step-irq is {'on' if current else 'off'}\n"


_SPACES = {s.value: s for s in Space}


def _space(session: "Session", args: List[str]) -> str:
    if len(args) > 1 or (args and args[0] not in _SPACES):
        raise MonitorError("usage: space [virt|ipa|phys]")
    if args:
        session.memory_space = _SPACES[args[0]]
    return f"memory accesses use {session.memory_space.value} addresses\n"


def default_registry() -> MonitorRegistry:
    """The stub's built-in commands."""
    return MonitorRegistry([
        MonitorCommand("help", "help [command]", "list commands, or describe one", _help),
        MonitorCommand("step-irq", "step-irq [on|off]",
                       "let a single step enter a pending interrupt (default off)", _step_irq),
        MonitorCommand("space", "space [virt|ipa|phys]",
                       "address space of GDB's memory reads and writes (default virt)", _space),
    ])
