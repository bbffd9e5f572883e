"""The TUI's command line: parsing, usage checks and completion, without GDB.

Anything that is not one of these commands goes to GDB's own command line, so
``info threads`` or ``monitor exits stats`` work as they would in GDB.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

#: name -> (usage, help), in the order ``help`` lists them.
COMMANDS: Dict[str, Tuple[str, str]] = {
    "continue": ("continue", "run until a breakpoint, catchpoint or Ctrl-C (F5)"),
    "stepi": ("stepi [N]", "execute N instructions (default 1) (F11)"),
    "next": ("next", "execute one instruction, stepping over calls (F10)"),
    "rstepi": ("rstepi", "step one instruction backwards in the recorded history (F7)"),
    "rcontinue": ("rcontinue", "run backwards to the previous breakpoint or catchpoint"),
    "break": ("break ADDR|SYMBOL", "stop when execution reaches the address"),
    "delete": ("delete ADDR|SYMBOL", "remove the breakpoint at the address"),
    "catch": ("catch hvc|trap|irq|fiq|eret [ARGS] | catch list|delete N",
              "stop on hyp-level events (the stub's monitor catch)"),
    "x": ("x ADDR [N]", "show N 32-bit words of memory (default 8) in the focused world"),
    "set": ("set REG VALUE", "write a register of the focused world"),
    "world": ("world [N|live]", "list worlds, or focus world N (its context and code are shown)"),
    "translate": ("translate ADDR", "walk stage 1 for ADDR in the focused world"),
    "help": ("help", "this list"),
    "quit": ("quit", "leave (and stop the stub the TUI started)"),
}
ALIASES = {"c": "continue", "cont": "continue", "si": "stepi", "n": "next", "ni": "next",
           "reverse-stepi": "rstepi", "rsi": "rstepi", "reverse-continue": "rcontinue", "rc": "rcontinue",
           "nexti": "next", "b": "break", "d": "delete", "q": "quit", "exit": "quit", "t": "world"}
CATCH_KINDS = ("hvc", "trap", "irq", "fiq", "eret", "list", "delete")
#: Pseudo-command for lines handed to GDB unchanged.
GDB = "gdb"


class CommandError(ValueError):
    """The line names a known command but uses it wrongly; the message says how to use it."""


@dataclass(frozen=True)
class Command:
    """A parsed command line."""

    name: str
    args: Tuple[str, ...] = ()


def parse_number(text: str, what: str = "number") -> int:
    """An integer in C syntax (``0x40``, ``64``)."""
    try:
        return int(text, 0)
    except ValueError:
        raise CommandError(f"bad {what}: {text!r}") from None


def parse(line: str) -> Optional[Command]:
    """The command on ``line``, None for a blank line; CommandError on bad usage."""
    words = line.split()
    if not words:
        return None
    name = ALIASES.get(words[0], words[0])
    args = tuple(words[1:])
    if name not in COMMANDS:
        return Command(GDB, (line.strip(),))
    usage = COMMANDS[name][0]

    def need(lo: int, hi: int) -> None:
        if not lo <= len(args) <= hi:
            raise CommandError(f"usage: {usage}")

    if name in ("continue", "next", "help", "quit", "rstepi", "rcontinue"):
        need(0, 0)
    elif name == "stepi":
        need(0, 1)
        if args and parse_number(args[0], "count") <= 0:
            raise CommandError("count must be positive")
    elif name in ("break", "delete", "translate"):
        need(1, 1)
    elif name == "catch":
        need(1, 8)
        if args[0] not in CATCH_KINDS:
            raise CommandError(f"usage: {usage}")
    elif name == "x":
        need(1, 2)
        if len(args) == 2 and not 0 < parse_number(args[1], "count") <= 4096:
            raise CommandError("count must be 1..4096")
    elif name == "set":
        need(2, 2)
    elif name == "world":
        need(0, 1)
        if args and args[0] != "live":
            parse_number(args[0], "world")
    return Command(name, args)


def help_lines() -> List[str]:
    """One line per command: usage and what it does."""
    width = max(len(u) for u, _ in COMMANDS.values())
    return [f"{usage:<{width}}  {text}" for usage, text in COMMANDS.values()] + \
        ["anything else goes to GDB (e.g. 'info threads', 'monitor exits stats')"]


def complete(text: str, symbols: Iterable[str] = (), registers: Iterable[str] = ()) -> List[str]:
    """Completions for the last word of ``text``: commands, then symbols, registers, catch kinds."""
    words = text.split()
    if not words or (len(words) == 1 and not text.endswith(" ")):
        prefix = words[0] if words else ""
        return [c for c in COMMANDS if c.startswith(prefix)]
    prefix = "" if text.endswith(" ") else words[-1]
    position = len(words) if text.endswith(" ") else len(words) - 1
    name = ALIASES.get(words[0], words[0])
    if name == "catch" and position == 1:
        pool: Iterable[str] = CATCH_KINDS
    elif name == "set" and position == 1:
        pool = registers
    elif name == "world" and position == 1:
        pool = ("live",)
    elif name in ("break", "delete", "x", "translate") and position == 1:
        pool = symbols
    else:
        pool = ()
    return sorted({p for p in pool if p.startswith(prefix)})
