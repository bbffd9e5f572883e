"""General queries: qSupported, QStartNoAckMode, qAttached, qXfer, qRcmd, vMustReplyEmpty.

qSupported advertises only what the stub and this machine implement; the
features GDB sends are kept, because ``swbreak``/``hwbreak`` stop reasons
may only be sent when both sides announced them (GDB manual, "General Query
Packets" and "Stop Reply Packets").
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import hooks
from .codec import hex_to_bytes, parse_hex
from .monitor import MonitorError
from .replies import E_ANNEX, E_GENERIC, EMPTY, OK, Malformed, Reply
from .stopreply import console_packets
from .tdesc import target_xml, threads_xml, xfer_chunk

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

_FEATURES = (b"QStartNoAckMode+", b"swbreak+", b"hwbreak+", b"vContSupported+",
             b"qXfer:features:read+", b"qXfer:threads:read+", b"binary-upload+")


def supported(session: "Session", args: bytes) -> Reply:
    """``qSupported[:gdbfeature;...]``."""
    session.gdb_features = frozenset(
        f.decode("latin-1") for f in args.split(b";") if f)
    parts = [b"PacketSize=%x" % session.packet_size, *_FEATURES]
    if hooks.supports_reverse(session.target):
        parts += [b"ReverseStep+", b"ReverseContinue+"]
    return b";".join(parts)


def start_no_ack(session: "Session", args: bytes) -> Reply:
    """``QStartNoAckMode``: this packet was acked; what follows is not."""
    session.no_ack = True
    return OK


def attached(session: "Session", args: bytes) -> Reply:
    """``qAttached``: 1, the machine existed before GDB came (so quitting detaches)."""
    return b"1"


def must_reply_empty(session: "Session", args: bytes) -> Reply:
    """``vMustReplyEmpty``: the test that unknown ``v`` packets get an empty reply."""
    return EMPTY


def xfer(session: "Session", args: bytes) -> Reply:
    """``qXfer:object:read:annex:offset,length`` for features and threads."""
    fields = args.split(b":")
    if len(fields) != 4 or fields[1] != b"read":
        return EMPTY
    obj, annex, span = fields[0], fields[2], fields[3]
    offset_text, sep, length_text = span.partition(b",")
    if not sep:
        raise Malformed("qXfer needs offset,length")
    offset, length = parse_hex(offset_text), parse_hex(length_text)
    if obj == b"features":
        if annex != b"target.xml":
            return E_ANNEX
        doc = session.xfer_cache.get("features")
        if doc is None:
            doc = session.xfer_cache["features"] = target_xml(session.regmap)
    elif obj == b"threads":
        if annex:
            return E_ANNEX
        doc = session.xfer_cache.get("threads")
        if doc is None or offset == 0:
            doc = session.xfer_cache["threads"] = threads_xml(session.target.worlds())
    else:
        return EMPTY
    return xfer_chunk(doc, offset, length)


def rcmd(session: "Session", args: bytes) -> Reply:
    """``qRcmd,hex``: output as ``O`` packets then OK; an error as one ``O`` line then E01."""
    line = hex_to_bytes(args).decode("utf-8", "replace")
    try:
        text = session.monitor.run(session, line)
    except MonitorError as exc:
        return console_packets(f"{exc}\n") + [E_GENERIC]
    except Exception as exc:  # a failing machine command must not end the session
        log.exception("monitor command %r failed", line)
        return console_packets(f"{line.split()[0]}: {exc}\n") + [E_GENERIC]
    return console_packets(text or "") + [OK]
