"""Stop replies: how a :class:`StopEvent` is told to GDB.

``T AA n:r;...`` carries GDB's signal number AA, expedited registers
(``n`` = GDB register number, ``r`` = value in target byte order) and
``thread:``, ``swbreak:``/``hwbreak:``, ``watch:``/``rwatch:``/``awatch:``
or ``replaylog:`` fields; ``W AA`` says the program exited (GDB manual,
"Stop Reply Packets"). Signal numbers are GDB's own (gdb/signals.def).
"""
from __future__ import annotations

from typing import Container, List, Optional

from hypdbg.core.debug import DebugTarget, RegisterError, StopEvent, StopKind

from .codec import hex_text, le_hex
from .tdesc import RegisterMap

SIGINT = 0x02
SIGILL = 0x04
SIGTRAP = 0x05
SIGSEGV = 0x0B
SIGXCPU = 0x18  # "CPU time limit exceeded": an instruction budget ran out

_SIGNALS = {
    StopKind.STEP: SIGTRAP,
    StopKind.BREAKPOINT: SIGTRAP,
    StopKind.WATCHPOINT: SIGTRAP,
    StopKind.INTERRUPTED: SIGINT,
    StopKind.CATCH: SIGTRAP,
    StopKind.LIMIT: SIGXCPU,
    StopKind.HISTORY_END: SIGTRAP,
}
_ILLEGAL_WORDS = ("undefined", "undef", "illegal", "invalid instruction")
_WATCH_KINDS = ("watch", "rwatch", "awatch")
CONSOLE_CHUNK = 1024  # text bytes per ``O`` packet


def fault_signal(event: StopEvent) -> int:
    """SIGILL for an undefined instruction, SIGSEGV for any other fault.

    A ``signal`` attribute on the event wins; otherwise the message decides.
    """
    explicit = getattr(event, "signal", None)
    if isinstance(explicit, int) and 0 < explicit < 256:
        return explicit
    text = event.message.lower()
    return SIGILL if any(w in text for w in _ILLEGAL_WORDS) else SIGSEGV


def signal_of(event: StopEvent) -> int:
    """GDB signal number for a stop that is not an exit."""
    if event.kind is StopKind.FAULT:
        return fault_signal(event)
    return _SIGNALS.get(event.kind, SIGTRAP)


def console_packets(text: str) -> List[bytes]:
    """``O`` packets carrying ``text`` to GDB's console."""
    return [b"O" + hex_text(text[i:i + CONSOLE_CHUNK])
            for i in range(0, len(text), CONSOLE_CHUNK)]


def stop_reply(target: DebugTarget, regmap: RegisterMap, event: Optional[StopEvent], *,
               swbreak: bool = False, hwbreak: bool = False,
               hw_addrs: Container[int] = ()) -> bytes:
    """The final stop reply for ``event`` (None: the initial halt, reported as SIGTRAP)."""
    if event is not None and event.kind is StopKind.POWEROFF:
        return b"W%02x" % ((event.exit_code or 0) & 0xFF)
    sig = SIGTRAP if event is None else signal_of(event)
    parts = [b"T%02x" % sig]
    for slot in regmap.expedited:
        if event is not None and slot is regmap.pc:
            value = event.pc
        else:
            try:
                value = target.read_register(slot.name)
            except (RegisterError, KeyError, ValueError):
                continue
        parts.append(b"%x:%s;" % (slot.regnum, le_hex(value, slot.nbytes)))
    world = target.current_world() if event is None else event.world
    if world > 0:
        parts.append(b"thread:%x;" % world)
    if event is not None:
        parts.append(_reason(event, swbreak, hwbreak, hw_addrs))
    return b"".join(parts)


def _reason(event: StopEvent, swbreak: bool, hwbreak: bool, hw_addrs: Container[int]) -> bytes:
    """The stop-reason field; swbreak/hwbreak only when both sides announced them."""
    if event.kind is StopKind.BREAKPOINT:
        if event.pc in hw_addrs and hwbreak:
            return b"hwbreak:;"
        if swbreak and event.pc not in hw_addrs:
            return b"swbreak:;"
        return b""
    if event.kind is StopKind.WATCHPOINT and event.data_addr is not None:
        kind = event.watch_kind if event.watch_kind in _WATCH_KINDS else "awatch"
        return b"%s:%x;" % (kind.encode(), event.data_addr)
    if event.kind is StopKind.HISTORY_END:
        return b"replaylog:begin;"
    if event.kind is StopKind.CATCH and event.message:
        # GDB ignores a T-packet pair whose name it does not know (Remote Protocol, Stop
        # Reply Packets), so the reason travels in the reply too, hex-encoded, for clients
        # that read raw packets; GDB users see the console text sent before it.
        return b"hypdbg-catch:%s;" % event.message.encode().hex().encode()
    return b""


def stop_packets(target: DebugTarget, regmap: RegisterMap, event: StopEvent, *,
                 swbreak: bool = False, hwbreak: bool = False,
                 hw_addrs: Container[int] = ()) -> List[bytes]:
    """What answers a resume: console text for CATCH/FAULT, then the stop reply."""
    out: List[bytes] = []
    if event.kind in (StopKind.CATCH, StopKind.FAULT) and event.message:
        text = event.message if event.message.endswith("\n") else event.message + "\n"
        out += console_packets(text)
    out.append(stop_reply(target, regmap, event, swbreak=swbreak, hwbreak=hwbreak,
                          hw_addrs=hw_addrs))
    return out
