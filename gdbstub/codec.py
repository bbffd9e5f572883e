"""Framing of the GDB remote serial protocol: pure functions, no I/O.

A packet is ``$payload#cs`` where ``cs`` is the modulo-256 sum of the payload
bytes as sent, in two hex digits. ``+``/``-`` acknowledge, a lone 0x03 byte
interrupts a running target. Inside a payload ``}`` escapes the next byte
(XOR 0x20) and ``x*N`` repeats ``x`` ``ord(N) - 29`` more times (GDB manual,
"Overview" and "Binary Data" of the Remote Protocol appendix).
"""
from __future__ import annotations

import binascii
import re
import zlib
from dataclasses import dataclass
from typing import List, Union

INTERRUPT_BYTE = 0x03
ESCAPE = 0x7D  # '}'
RLE_MARK = 0x2A  # '*'

_HEX_DIGIT_BYTES = b"0123456789abcdefABCDEF"
_HEXDIGITS = frozenset(_HEX_DIGIT_BYTES)
_TO_ESCAPE_RE = re.compile(rb"[#$}*]")
_ESCAPED_RE = re.compile(rb"\}(.)", re.DOTALL)


class ProtocolError(ValueError):
    """A payload that breaks the protocol's syntax (bad escape, bad run length, bad hex)."""


_ADLER_MOD = 65521
_ADLER_INV_255 = pow(_ADLER_MOD, -1, 255)
_CRT_MAX_LEN = 65520            # 255 * 65520 < 65521 * 255: the sum stays below the CRT modulus
_SMALL_SUM = 256                # below this, sum() is as fast as anything else


def _mod255(value: int, nbits: int) -> int:
    """``value % 255`` by folding at byte boundaries (2**8 = 1 mod 255), faster than long division."""
    half = (nbits // 2 + 7) & ~7
    while half >= 64:
        value = (value & ((1 << half) - 1)) + (value >> half)
        half = ((half + 1) // 2 + 7) & ~7
    return value % 255


def byte_sum(data: bytes) -> int:
    """The exact sum of the bytes of ``data``.

    ``sum()`` walks the bytes one Python int at a time. For long data the
    sum is rebuilt from two residues computed in C: modulo 65521 from
    zlib's Adler-32 (its low half is 1 + the sum, modulo 65521) and modulo
    255 from the bytes read as one little-endian integer (256 = 1 modulo
    255); the Chinese remainder theorem gives the sum itself while it is
    below 65521 * 255.
    """
    n = len(data)
    if n <= _SMALL_SUM:
        return sum(data)
    if n > _CRT_MAX_LEN:
        view = memoryview(data)
        return sum(byte_sum(view[i:i + _CRT_MAX_LEN]) for i in range(0, n, _CRT_MAX_LEN))
    a = ((zlib.adler32(data) & 0xFFFF) - 1) % _ADLER_MOD
    c = _mod255(int.from_bytes(data, "little"), 8 * n)
    return a + _ADLER_MOD * (((c - a) * _ADLER_INV_255) % 255)


def checksum(data: bytes) -> int:
    """The packet checksum: modulo-256 sum of the bytes between ``$`` and ``#``."""
    return byte_sum(data) & 0xFF


def frame(payload: bytes) -> bytes:
    """Wrap an already-encoded payload as ``$payload#cs``."""
    total = sum(payload) if len(payload) <= _SMALL_SUM else byte_sum(payload)
    return b"$%s#%02x" % (payload, total & 0xFF)


def escape_binary(data: bytes) -> bytes:
    """Escape ``# $ } *`` for a binary reply (a stub escapes ``*`` so it is not read as RLE)."""
    if _TO_ESCAPE_RE.search(data) is None:
        return data
    return _TO_ESCAPE_RE.sub(lambda m: bytes((ESCAPE, m.group()[0] ^ 0x20)), data)


def unescape_binary(data: bytes) -> bytes:
    """Undo ``}`` escapes; a trailing lone ``}`` is a protocol error."""
    if ESCAPE not in data:
        return data
    out = _ESCAPED_RE.sub(lambda m: bytes((m.group(1)[0] ^ 0x20,)), data)
    if _ends_with_lone_escape(data):
        raise ProtocolError("escape character at end of packet")
    return out


def _ends_with_lone_escape(data: bytes) -> bool:
    """True if the final ``}`` has nothing left to escape (an odd run of trailing escapes)."""
    run = len(data) - len(data.rstrip(b"}"))
    return run % 2 == 1


def decode_payload(raw: bytes) -> bytes:
    """Expand escapes and run-length encoding of a received payload.

    A run ``x*N`` repeats the preceding (already unescaped) byte ``ord(N) - 29``
    times; N must be printable (32..126), per the manual's "Overview".
    """
    if RLE_MARK not in raw:
        return unescape_binary(raw)
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        b = raw[i]
        if b == ESCAPE:
            if i + 1 >= n:
                raise ProtocolError("escape character at end of packet")
            out.append(raw[i + 1] ^ 0x20)
            i += 2
        elif b == RLE_MARK:
            if not out or i + 1 >= n:
                raise ProtocolError("run-length mark without a byte to repeat")
            count = raw[i + 1]
            if count < 32 or count > 126:
                raise ProtocolError("run-length count out of range")
            out += bytes((out[-1],)) * (count - 29)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def encode_rle(payload: bytes) -> bytes:
    """Run-length encode a payload (optional for replies; used to check the decoder)."""
    out = bytearray()
    i = 0
    n = len(payload)
    while i < n:
        b = payload[i]
        j = i + 1
        while j < n and payload[j] == b and j - i < 98:
            j += 1
        extra = j - i - 1
        if extra in (6, 7):  # '#' and '$' cannot be counts: use 5 and repeat the rest
            out += bytes((b, RLE_MARK, 5 + 29))
            out += bytes((b,)) * (extra - 5)
        elif extra >= 3:
            out += bytes((b, RLE_MARK, extra + 29))
        else:
            out += bytes((b,)) * (extra + 1)
        i = j
    return bytes(out)


def parse_hex(text: bytes) -> int:
    """A big-endian hex number as the protocol writes addresses and lengths."""
    if not text or text.strip(_HEX_DIGIT_BYTES):   # anything left is not a hex digit
        raise ProtocolError(f"not a hex number: {text[:32]!r}")
    return int(text, 16)


def hex_to_bytes(text: bytes) -> bytes:
    """Hex pairs to bytes (strict: no spaces, even length)."""
    try:
        return binascii.unhexlify(text)
    except ValueError:   # binascii.Error: odd length or a non-hex digit
        raise ProtocolError("malformed hex data") from None


def to_hex(data: bytes) -> bytes:
    """Bytes as lower-case hex, as ``m`` and ``g`` replies carry them."""
    return binascii.hexlify(data)


def le_hex(value: int, nbytes: int) -> bytes:
    """A register value as target-order (little-endian) hex, as ``g``/``p`` send it."""
    return binascii.hexlify((value & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"))


def from_le_hex(text: bytes) -> int:
    """Inverse of :func:`le_hex`."""
    return int.from_bytes(hex_to_bytes(text), "little")


def hex_text(text: str) -> bytes:
    """Text as hex, as ``O`` packets and ``qRcmd`` carry it."""
    return binascii.hexlify(text.encode("utf-8", "replace"))


@dataclass(frozen=True)
class Packet:
    """A well-formed packet: ``payload`` is decoded (escapes and runs expanded)."""

    payload: bytes


@dataclass(frozen=True)
class BadPacket:
    """A packet that cannot be used.

    ``checksum_ok`` tells a transmission error (NAK it) from a packet that
    arrived intact but is oversized or malformed (ACK it, answer an error).
    """

    reason: str
    checksum_ok: bool


class _Marker:
    """A one-byte protocol event without data."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ACK = _Marker("ACK")
NAK = _Marker("NAK")
INTERRUPT = _Marker("INTERRUPT")

Event = Union[Packet, BadPacket, _Marker]

_IDLE, _BODY, _CHECKSUM = 0, 1, 2


class Decoder:
    """Streaming decoder: feed it bytes as they arrive, get protocol events back.

    Outside a packet, ``+`` is an ACK, ``-`` a NAK, 0x03 an interrupt and any
    other byte is noise. A ``$`` inside a packet or its checksum starts a new
    packet (the earlier one was cut short). Payloads longer than ``max_payload`` raw bytes
    are discarded without buffering and reported as a BadPacket.
    """

    def __init__(self, max_payload: int = 0x4000) -> None:
        self.max_payload = max_payload
        self._state = _IDLE
        self._body = bytearray()
        self._sum = 0
        self._oversize = False
        self._cs = bytearray()

    def reset(self) -> None:
        """Drop any partial packet."""
        self._state = _IDLE
        self._body.clear()
        self._sum = 0
        self._oversize = False
        self._cs.clear()

    def feed(self, data: bytes) -> List[Event]:
        """Decode ``data``, keeping an incomplete packet for the next call."""
        events: List[Event] = []
        i = 0
        n = len(data)
        while i < n:
            if self._state == _IDLE:
                j = data.find(b"$", i)
                if j != i:
                    self._markers(data[i:n if j < 0 else j], events)
                    if j < 0:
                        return events
                i = self._whole_packet(data, j, events)
                if i < 0:
                    self._start_body()
                    i = j + 1
            elif self._state == _BODY:
                j = data.find(b"#", i)
                end = n if j < 0 else j
                k = data.find(b"$", i, end)
                if k >= 0:
                    self._start_body()
                    i = k + 1
                    continue
                self._take(data[i:end])
                if j < 0:
                    return events
                self._state = _CHECKSUM
                i = j + 1
            else:
                b = data[i]
                i += 1
                if b == 0x24:  # '$' cannot be a checksum digit: the packet was cut short
                    events.append(BadPacket("packet cut short", checksum_ok=False))
                    self._start_body()
                    continue
                self._cs.append(b)
                if len(self._cs) == 2:
                    events.append(self._finish())
        return events

    @staticmethod
    def _markers(noise: bytes, events: List[Event]) -> None:
        for b in noise:
            if b == 0x2B:
                events.append(ACK)
            elif b == 0x2D:
                events.append(NAK)
            elif b == INTERRUPT_BYTE:
                events.append(INTERRUPT)

    def _whole_packet(self, data: bytes, start: int, events: List[Event]) -> int:
        """Decode a packet that lies whole in ``data`` at ``start`` (its ``$``), in one go.

        Returns the index after it, or -1 when it does not (cut across reads,
        a ``$`` inside it, too long, a checksum that is not two hex digits):
        the byte-wise states then take it, with the same results.
        """
        hash_at = data.find(b"#", start + 1)
        if hash_at < 0 or hash_at + 3 > len(data) or hash_at - start - 1 > self.max_payload:
            return -1
        if data.find(b"$", start + 1, hash_at + 3) >= 0:
            return -1
        cs = data[hash_at + 1:hash_at + 3]
        if cs[0] not in _HEXDIGITS or cs[1] not in _HEXDIGITS:
            return -1
        raw = data[start + 1:hash_at]
        if int(cs, 16) != byte_sum(raw) & 0xFF:
            events.append(BadPacket("checksum mismatch", checksum_ok=False))
        else:
            events.append(_packet(raw))
        return hash_at + 3

    def _start_body(self) -> None:
        self._state = _BODY
        self._body.clear()
        self._sum = 0
        self._oversize = False
        self._cs.clear()

    def _take(self, chunk: bytes) -> None:
        self._sum += byte_sum(chunk)
        if self._oversize:
            return
        if len(self._body) + len(chunk) > self.max_payload:
            self._oversize = True
            self._body.clear()
        else:
            self._body += chunk

    def _finish(self) -> Event:
        cs = bytes(self._cs)
        raw = bytes(self._body)
        oversize = self._oversize
        total = self._sum
        self.reset()
        if cs[0] not in _HEXDIGITS or cs[1] not in _HEXDIGITS:
            return BadPacket("checksum is not hex", checksum_ok=False)
        if int(cs, 16) != total & 0xFF:
            return BadPacket("checksum mismatch", checksum_ok=False)
        if oversize:
            return BadPacket("packet too long", checksum_ok=True)
        return _packet(raw)


def _packet(raw: bytes) -> Event:
    """The event for an intact packet: its decoded payload, or why it cannot be decoded."""
    if ESCAPE not in raw and RLE_MARK not in raw:
        return Packet(raw)
    try:
        return Packet(decode_payload(raw))
    except ProtocolError as exc:
        return BadPacket(str(exc), checksum_ok=True)
