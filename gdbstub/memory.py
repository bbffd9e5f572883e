"""Memory packets: ``m``/``M`` (hex), ``x``/``X`` (binary).

A read may return fewer bytes than asked when the rest cannot be read, and
``E NN`` only when nothing can (GDB manual, "Packets", m and x; ``x``
replies start with ``b``). Accesses go to the world chosen with ``Hg`` and
the address space chosen with ``monitor space``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Tuple

from hypdbg.core.debug import MemoryAccessError

from .codec import escape_binary, hex_to_bytes, parse_hex, to_hex
from .replies import E_FAULT, OK, Malformed, Reply

if TYPE_CHECKING:
    from .session import Session


def _addr_len(text: bytes) -> Tuple[int, int]:
    addr, sep, length = text.partition(b",")
    if not sep:
        raise Malformed("expected addr,length")
    return parse_hex(addr), parse_hex(length)


def read_partial(session: "Session", addr: int, length: int) -> bytes:
    """As many bytes from ``addr`` as can be read, up to ``length``."""
    target = session.target
    world = session.access_world()
    space = session.memory_space
    try:
        return target.read_memory(addr, length, world=world, space=space)
    except MemoryAccessError as exc:
        done = exc.done
    if not 0 < done < length:
        return b""
    try:
        return target.read_memory(addr, done, world=world, space=space)[:done]
    except MemoryAccessError:
        return b""


def read_hex(session: "Session", args: bytes) -> Reply:
    """``m addr,length``."""
    addr, length = _addr_len(args)
    length = min(length, session.packet_size // 2)
    if length == 0:
        return b""
    data = read_partial(session, addr, length)
    return to_hex(data) if data else E_FAULT


def read_binary(session: "Session", args: bytes) -> Reply:
    """``x addr,length``: ``b`` followed by the escaped bytes."""
    addr, length = _addr_len(args)
    length = min(length, session.packet_size // 2)
    if length == 0:
        return b"b"
    data = read_partial(session, addr, length)
    return b"b" + escape_binary(data) if data else E_FAULT


def _write(session: "Session", addr: int, data: bytes) -> Reply:
    if data:
        try:
            session.target.write_memory(addr, data, world=session.access_world(),
                                        space=session.memory_space)
        except MemoryAccessError:
            return E_FAULT
    return OK


def write_hex(session: "Session", args: bytes) -> Reply:
    """``M addr,length:XX...``."""
    head, sep, body = args.partition(b":")
    if not sep:
        raise Malformed("M needs addr,length:data")
    addr, length = _addr_len(head)
    data = hex_to_bytes(body)
    if len(data) != length:
        raise Malformed("M data length differs from its length field")
    return _write(session, addr, data)


def write_binary(session: "Session", args: bytes) -> Reply:
    """``X addr,length:binary`` (already unescaped by the codec); length 0 probes support."""
    head, sep, data = args.partition(b":")
    if not sep:
        raise Malformed("X needs addr,length:data")
    addr, length = _addr_len(head)
    if len(data) != length:
        raise Malformed("X data length differs from its length field")
    return _write(session, addr, data)
