"""Thread packets: worlds (host, hyp, guests) shown to GDB as threads.

Thread ids are hex; ``-1`` means all threads and ``0`` any thread (GDB
manual, "Packets", thread-id). ``H g`` picks the world whose saved registers
and address space ``g``/``p``/``m`` use; ``H c`` is accepted and ignored,
since there is one CPU to run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from hypdbg.core.debug import WorldInfo

from .codec import hex_text, parse_hex
from .replies import E_GENERIC, OK, Malformed, Reply
from .tdesc import thread_extra

if TYPE_CHECKING:
    from .session import Session

ALL_THREADS = -1
ANY_THREAD = 0


def parse_thread_id(text: bytes) -> int:
    """``-1``, ``0``, a hex id, or ``pPID.TID`` (the thread part is used)."""
    if text.startswith(b"p"):
        _, dot, tid = text.partition(b".")
        text = tid if dot else b"-1"
    if text == b"-1":
        return ALL_THREADS
    return parse_hex(text)


def _worlds(session: "Session") -> Dict[int, WorldInfo]:
    return {w.tid: w for w in session.target.worlds()}


def set_thread(session: "Session", args: bytes) -> Reply:
    """``H op thread-id``."""
    op, tid = args[:1], parse_thread_id(args[1:])
    if op not in (b"g", b"c"):
        raise Malformed("H needs g or c")
    if tid > 0 and tid not in _worlds(session):
        return E_GENERIC
    if op == b"g":
        session.g_thread = tid if tid > 0 else None
    return OK


def thread_alive(session: "Session", args: bytes) -> Reply:
    """``T thread-id``: OK if the world exists."""
    return OK if parse_thread_id(args) in _worlds(session) else E_GENERIC


def current_thread(session: "Session", args: bytes) -> Reply:
    """``qC``: the world the CPU is in."""
    return b"QC%x" % session.target.current_world()


def first_threads(session: "Session", args: bytes) -> Reply:
    """``qfThreadInfo``: every world in one reply."""
    return b"m" + b",".join(b"%x" % w.tid for w in session.target.worlds())


def next_threads(session: "Session", args: bytes) -> Reply:
    """``qsThreadInfo``: the list ended with the first reply."""
    return b"l"


def extra_info(session: "Session", args: bytes) -> Reply:
    """``qThreadExtraInfo,thread-id``: hex text GDB shows in ``info threads``."""
    world = _worlds(session).get(parse_thread_id(args))
    if world is None:
        return E_GENERIC
    return hex_text(thread_extra(world))
