"""The table from packet to handler, and dispatch.

Single-letter packets are keyed by their first byte; ``q``, ``Q`` and ``v``
packets by their name, which ends at the first ``:``, ``;`` or ``,``. A
packet with no handler gets the empty reply, as the manual requires of
unknown packets ("Packets": "an empty response ... for any packet not
supported").
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Dict

from . import breakpoints, execution, memory, queries, registers, threads
from .replies import EMPTY, Reply

if TYPE_CHECKING:
    from .session import Session

Handler = Callable[["Session", bytes], Reply]

SINGLE: Dict[int, Handler] = {
    ord("?"): execution.halt_reason,
    ord("c"): execution.cont,
    ord("C"): execution.cont_signal,
    ord("s"): execution.step,
    ord("S"): execution.step_signal,
    ord("b"): execution.reverse,
    ord("k"): execution.kill,
    ord("D"): execution.detach,
    ord("g"): registers.read_all,
    ord("G"): registers.write_all,
    ord("p"): registers.read_one,
    ord("P"): registers.write_one,
    ord("m"): memory.read_hex,
    ord("M"): memory.write_hex,
    ord("x"): memory.read_binary,
    ord("X"): memory.write_binary,
    ord("Z"): breakpoints.insert,
    ord("z"): breakpoints.remove,
    ord("H"): threads.set_thread,
    ord("T"): threads.thread_alive,
}

NAMED: Dict[bytes, Handler] = {
    b"qSupported": queries.supported,
    b"QStartNoAckMode": queries.start_no_ack,
    b"qAttached": queries.attached,
    b"qXfer": queries.xfer,
    b"qRcmd": queries.rcmd,
    b"qC": threads.current_thread,
    b"qfThreadInfo": threads.first_threads,
    b"qsThreadInfo": threads.next_threads,
    b"qThreadExtraInfo": threads.extra_info,
    b"vMustReplyEmpty": queries.must_reply_empty,
    b"vCont?": execution.vcont_query,
    b"vCont": execution.vcont,
    b"vKill": execution.vkill,
}

_NAMED_FIRST = frozenset(b"qQv")
_NAME_RE = re.compile(rb"[^:;,]*")
_RESUME_FIRST = frozenset(b"cCsS")
_MAYBE_RESUME = frozenset(b"cCsSvb")


def dispatch(session: "Session", payload: bytes) -> Reply:
    """Run the handler for ``payload``; handlers may raise, the session turns that into errors."""
    if not payload:
        return EMPTY
    first = payload[0]
    if first in _NAMED_FIRST:
        name = _NAME_RE.match(payload).group()  # type: ignore[union-attr]
        handler = NAMED.get(name)
        return EMPTY if handler is None else handler(session, payload[len(name) + 1:])
    handler = SINGLE.get(first)
    return EMPTY if handler is None else handler(session, payload[1:])


def is_resume_packet(payload: bytes) -> bool:
    """True for packets answered only when the machine stops (a Ctrl-C may target them)."""
    if not payload or payload[0] not in _MAYBE_RESUME:
        return False
    return (payload[0] in _RESUME_FIRST or payload.startswith(b"vCont;")
            or payload in (b"bc", b"bs"))
