"""Register packets: ``g``/``G`` (the core block) and ``p``/``P`` (one register by GDB number).

Values travel as hex in target byte order (little-endian here); a register
that cannot be read is sent as ``xx`` per byte, which GDB shows as
unavailable (GDB manual, "Packets", g and p).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List

from hypdbg.core.debug import RegisterError

from .codec import from_le_hex, hex_to_bytes, le_hex, parse_hex, to_hex
from .replies import E_GENERIC, OK, Malformed, Reply
from .tdesc import RegSlot

if TYPE_CHECKING:
    from .session import Session


def _read(session: "Session", slot: RegSlot) -> bytes:
    try:
        value = session.target.read_register(slot.name, world=session.access_world())
    except RegisterError:
        return b"xx" * slot.nbytes
    return le_hex(value, slot.nbytes)


def read_all(session: "Session", args: bytes) -> Reply:
    """``g``: the registers up to cpsr, in GDB number order."""
    world = session.access_world()
    regmap = session.regmap
    target = session.target
    raw_reader = getattr(target, "read_registers_raw", None)
    if raw_reader is not None:
        raw = raw_reader(regmap.g_names, world)
        if raw is not None and len(raw) == regmap.g_size:
            return to_hex(raw)
    layout = regmap.g_layout
    batch = getattr(target, "read_registers", None)
    if batch is not None:
        try:
            values = batch(regmap.g_names, world)
        except RegisterError:
            return b"".join(_read(session, s) for s in layout)
        return to_hex(b"".join((v & ((1 << (8 * slot.nbytes)) - 1)).to_bytes(slot.nbytes, "little")
                               for v, slot in zip(values, layout)))
    read = target.read_register
    raw_parts: List[bytes] = []
    for slot in layout:
        try:
            value = read(slot.name, world=world)
        except RegisterError:
            return b"".join(_read(session, s) for s in layout)
        raw_parts.append((value & ((1 << (8 * slot.nbytes)) - 1)).to_bytes(slot.nbytes, "little"))
    return to_hex(b"".join(raw_parts))


def write_all(session: "Session", args: bytes) -> Reply:
    """``G``: write the ``g`` block back; only registers whose value changed are written."""
    data = hex_to_bytes(args)
    if len(data) > session.regmap.g_size:
        raise Malformed("G packet longer than the register block")
    world = session.access_world()
    target = session.target
    offset = 0
    for slot in session.regmap.g_layout:
        end = offset + slot.nbytes
        if end > len(data):
            if offset != len(data):
                raise Malformed("G packet ends inside a register")
            break
        value = int.from_bytes(data[offset:end], "little")
        offset = end
        if slot.writable and target.read_register(slot.name, world=world) != value:
            target.write_register(slot.name, value, world=world)
    return OK


def read_one(session: "Session", args: bytes) -> Reply:
    """``p n``: one register."""
    slot = session.regmap.by_num.get(parse_hex(args))
    if slot is None:
        return E_GENERIC
    return _read(session, slot)


def write_one(session: "Session", args: bytes) -> Reply:
    """``P n=r``: write one register (E01 for a read-only one)."""
    num, sep, value = args.partition(b"=")
    if not sep:
        raise Malformed("P needs n=r")
    slot = session.regmap.by_num.get(parse_hex(num))
    if slot is None or not slot.writable:
        return E_GENERIC
    if len(value) != 2 * slot.nbytes:
        raise Malformed("P value has the wrong size")
    session.target.write_register(slot.name, from_le_hex(value), world=session.access_world())
    return OK
