"""Run control: ``?``, ``c``/``C``/``s``/``S``, ``vCont``, ``bc``/``bs``, ``k``, ``vKill``, ``D``.

All-stop mode: a resume packet is answered by a stop reply once the
machine stops (GDB manual, "Packets" and "Stop Reply Packets"). With one
CPU there is one thing to run, so a ``vCont`` comes down to one action
(see :func:`choose_action`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional

from hypdbg.core.debug import StopEvent

from . import hooks
from .codec import parse_hex
from .replies import EMPTY, E_INVAL, OK, Malformed, Reply
from .threads import ALL_THREADS, ANY_THREAD, parse_thread_id

if TYPE_CHECKING:
    from .session import Session

VCONT_ACTIONS = b"vCont;c;C;s;S;r"


def halt_reason(session: "Session", args: bytes) -> Reply:
    """``?``: why the machine is halted."""
    return session.last_stop_reply()


def _resume_at(session: "Session", addr: bytes) -> None:
    if addr and session.regmap.pc is not None:
        session.target.write_register(session.regmap.pc.name, parse_hex(addr))


def _go(session: "Session", action: Callable[[], StopEvent], interruptible: bool) -> List[bytes]:
    return session.report(session.run(action, interruptible))


def _cont(session: "Session", range_start: Optional[int] = None,
          range_end: Optional[int] = None) -> List[bytes]:
    target = session.target
    if range_start is None:
        return _go(session, target.resume, True)
    return _go(session, lambda: target.resume(range_start, range_end), True)


def _step(session: "Session") -> List[bytes]:
    return _go(session, session.target.step, False)


def cont(session: "Session", args: bytes) -> Reply:
    """``c [addr]``."""
    _resume_at(session, args)
    return _cont(session)


def cont_signal(session: "Session", args: bytes) -> Reply:
    """``C sig[;addr]``: the signal means nothing to bare metal and is dropped."""
    sig, _, addr = args.partition(b";")
    parse_hex(sig)
    _resume_at(session, addr)
    return _cont(session)


def step(session: "Session", args: bytes) -> Reply:
    """``s [addr]``."""
    _resume_at(session, args)
    return _step(session)


def step_signal(session: "Session", args: bytes) -> Reply:
    """``S sig[;addr]``."""
    sig, _, addr = args.partition(b";")
    parse_hex(sig)
    _resume_at(session, addr)
    return _step(session)


def vcont_query(session: "Session", args: bytes) -> Reply:
    """``vCont?``: every action GDB may send, S and C included (GDB bug 28440)."""
    return VCONT_ACTIONS


@dataclass(frozen=True)
class VContAction:
    """One ``vCont`` action: its letter, range for ``r``, and the thread it names."""

    letter: str
    thread: int
    start: int = 0
    end: int = 0


def parse_vcont(args: bytes) -> List[VContAction]:
    """``action[:thread-id](;action[:thread-id])*`` into actions."""
    if not args:
        raise Malformed("vCont without actions")
    actions = []
    for item in args.split(b";"):
        act, sep, tid = item.partition(b":")
        thread = parse_thread_id(tid) if sep else ALL_THREADS
        letter = act[:1].decode("latin-1")
        rest = act[1:]
        if letter in ("c", "s", "t"):
            if rest:
                raise Malformed("unexpected argument")
            actions.append(VContAction(letter, thread))
        elif letter in ("C", "S"):
            parse_hex(rest)
            actions.append(VContAction(letter.lower(), thread))
        elif letter == "r":
            start, sep, end = rest.partition(b",")
            if not sep:
                raise Malformed("r needs start,end")
            actions.append(VContAction("r", thread, parse_hex(start), parse_hex(end)))
        else:
            raise Malformed("unknown vCont action")
    return actions


def choose_action(actions: List[VContAction], live: int) -> VContAction:
    """The action for the one CPU: naming the live world, else naming any world, else default.

    GDB names the thread it means to step and gives the rest a default
    (``vCont;s:1;c``); a step asked for a world whose context is saved still
    steps the CPU rather than letting the default run it.
    """
    named = [a for a in actions if a.thread not in (ALL_THREADS, ANY_THREAD)]
    for a in named:
        if a.thread == live:
            return a
    return named[0] if named else actions[0]


def vcont(session: "Session", args: bytes) -> Reply:
    """``vCont;actions``: step, continue or range-step the machine."""
    actions = parse_vcont(args)
    chosen = choose_action(actions, session.target.current_world())
    if chosen.letter == "c":
        return _cont(session)
    if chosen.letter == "s":
        return _step(session)
    if chosen.letter == "r":
        if chosen.start == chosen.end:
            return _step(session)
        return _cont(session, chosen.start, chosen.end)
    return E_INVAL  # 't' is for non-stop mode, which we do not offer


def reverse(session: "Session", args: bytes) -> Reply:
    """``bc``/``bs``: only for a machine with reverse execution."""
    target = session.target
    if not hooks.supports_reverse(target) or args not in (b"c", b"s"):
        return EMPTY
    if args == b"c":
        return _go(session, target.reverse_resume, True)  # type: ignore[attr-defined]
    return _go(session, target.reverse_step, False)  # type: ignore[attr-defined]


def kill(session: "Session", args: bytes) -> Reply:
    """``k``: reset the machine (the manual allows a power cycle) and end the session; no reply."""
    session.points.clear()
    session.target.reset()
    session.machine.last_stop = None
    session.closed = True
    return None


def vkill(session: "Session", args: bytes) -> Reply:
    """``vKill;pid``: as ``k``, but this one is answered."""
    kill(session, args)
    return OK


def detach(session: "Session", args: bytes) -> Reply:
    """``D``: the machine stays halted for the next client; the session ends."""
    session.closed = True
    return OK
