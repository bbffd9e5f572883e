"""Framing, escapes, run-length decoding and the streaming decoder.

Expectations come from GDB's manual, Remote Protocol appendix: "Overview"
(framing, checksum, acks, run-length encoding, 0x03 interrupt) and "Binary
Data" (``}`` escapes). Checksum vectors are packets GDB 13 itself sent
(``set debug remote 1``).
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypdbg.gdbstub.codec import (ACK, INTERRUPT, NAK, BadPacket, Decoder, Packet, ProtocolError,
                                  checksum, decode_payload, encode_rle, escape_binary, frame,
                                  from_le_hex, hex_to_bytes, hex_text, le_hex, parse_hex,
                                  unescape_binary)

# Sent by gdb-multiarch 13.1 to a stub (its "set debug remote 1" log).
GDB_SENT = [
    b"$vMustReplyEmpty#3a",
    b"$QStartNoAckMode#b0",
    b"$qTStatus#49",
    b"$?#3f",
    b"$Hc-1#09",
    b"$Hg0#df",
    b"$m40000000,4#51",
    b"$qXfer:features:read:target.xml:0,1000#0c",
]


@pytest.mark.parametrize("wire", GDB_SENT)
def test_frame_matches_gdb_checksums(wire: bytes) -> None:
    # Overview: checksum = modulo-256 sum of the packet-data characters, two hex digits.
    payload = wire[1:wire.index(b"#")]
    assert frame(payload) == wire
    assert checksum(payload) == int(wire[-2:], 16)


def test_ok_frame() -> None:
    # Overview: 'O' + 'K' = 0x4f + 0x4b = 0x9a.
    assert frame(b"OK") == b"$OK#9a"
    assert frame(b"") == b"$#00"


def test_rle_manual_examples() -> None:
    # Overview: "0* " encodes "0000" (space = 32, 32 - 29 = 3 more repeats) ...
    assert decode_payload(b"0* ") == b"0000"
    # ... and '0*"00' encodes "00000000" (a run of 7 cannot use '$', so 5 + 2 literal).
    assert decode_payload(b'0*"00') == b"00000000"


def test_rle_counts_avoid_hash_and_dollar() -> None:
    # Overview: '#' (6) and '$' (7) must not be used as repeat counts.
    for n in range(1, 100):
        enc = encode_rle(b"a" * n)
        assert decode_payload(enc) == b"a" * n
        assert b"#" not in enc and b"$" not in enc


@pytest.mark.parametrize("bad", [b"*", b"*!", b"0*", b"0*\x1f", b"0*\x7f"])
def test_rle_errors(bad: bytes) -> None:
    # Overview: a run needs a preceding character and a printable count (32..126).
    with pytest.raises(ProtocolError):
        decode_payload(bad)


def test_binary_escape_manual_example() -> None:
    # Binary Data: 0x7d is sent as 0x7d 0x5d.
    assert escape_binary(b"\x7d") == b"\x7d\x5d"
    assert unescape_binary(b"\x7d\x5d") == b"\x7d"


def test_binary_escapes_required_bytes() -> None:
    # Binary Data: '#', '$', '}' always escaped; replies from the stub also escape '*'.
    assert escape_binary(b"#$}*a") == b"}\x03}\x04}]}\x0aa"
    assert unescape_binary(b"}\x03}\x04}]}\x0aa") == b"#$}*a"


def test_escape_then_rle_in_one_payload() -> None:
    # Overview: escapes and runs combine; a run repeats the decoded byte.
    assert decode_payload(b"}]* ") == b"}" * 4


def test_lone_trailing_escape_is_an_error() -> None:
    with pytest.raises(ProtocolError):
        unescape_binary(b"ab}")
    assert unescape_binary(b"a}}") == b"a\x5d"


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_escape_roundtrip(data: bytes) -> None:
    enc = escape_binary(data)
    assert not set(enc) & set(b"#$*")
    assert decode_payload(enc) == data


def test_hex_helpers() -> None:
    # Packets (g/p): register bytes in target byte order, little-endian on this target.
    assert le_hex(0x40000000, 4) == b"00000040"
    assert from_le_hex(b"00000040") == 0x40000000
    assert le_hex(-1, 4) == b"ffffffff"
    assert parse_hex(b"40000000") == 0x40000000
    assert hex_to_bytes(b"0a0B") == b"\x0a\x0b"
    assert hex_text("OK\n") == b"4f4b0a"


@pytest.mark.parametrize("bad", [b"", b"0x1", b" 1", b"-1", b"1_0", b"g"])
def test_parse_hex_is_strict(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_hex(bad)


@pytest.mark.parametrize("bad", [b"a", b"0 1", b"zz"])
def test_hex_to_bytes_is_strict(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        hex_to_bytes(bad)


def test_decoder_events() -> None:
    # Overview: '+' ack, '-' nak, 0x03 interrupt outside packets; other noise ignored.
    d = Decoder()
    events = d.feed(b"+x$?#3f-\x03")
    assert events == [ACK, Packet(b"?"), NAK, INTERRUPT]


def test_decoder_byte_by_byte() -> None:
    d = Decoder()
    wire = b"".join(GDB_SENT)
    events = []
    for b in wire:
        events += d.feed(bytes([b]))
    assert [e.payload for e in events] == [w[1:-3] for w in GDB_SENT]


def test_decoder_bad_checksum_is_nakable() -> None:
    # Overview: a bad checksum is answered with '-' (request retransmission).
    assert Decoder().feed(b"$?#00") == [BadPacket("checksum mismatch", checksum_ok=False)]
    assert Decoder().feed(b"$?#zz") == [BadPacket("checksum is not hex", checksum_ok=False)]


def test_decoder_dollar_restarts() -> None:
    # A '$' can never be inside a packet (it is always escaped), so it starts a new one.
    assert Decoder().feed(b"$m1,2$?#3f") == [Packet(b"?")]
    events = Decoder().feed(b"$g#6$?#3f")
    assert events[-1] == Packet(b"?") and isinstance(events[0], BadPacket)


def test_decoder_oversize() -> None:
    d = Decoder(max_payload=16)
    payload = b"m" + b"1" * 40
    events = d.feed(frame(payload) + frame(b"?"))
    assert events == [BadPacket("packet too long", checksum_ok=True), Packet(b"?")]


def test_decoder_escapes_and_rle_in_packets() -> None:
    # Binary Data: X packet data arrives escaped; the decoder hands back raw bytes.
    raw = b"X40000000,2:}]}\x03"
    assert Decoder().feed(frame(raw)) == [Packet(b"X40000000,2:}#")]
    assert Decoder().feed(frame(b"0* ")) == [Packet(b"0000")]


def test_decoder_malformed_payload_has_good_checksum() -> None:
    assert Decoder().feed(frame(b"ab}")) == [
        BadPacket("escape character at end of packet", checksum_ok=True)]


@pytest.mark.parametrize("size", [257, 4096, 8192, 16384, 65520, 65521, 70000])
@pytest.mark.parametrize("fill", [0x00, 0x7F, 0xFF])
def test_checksum_of_long_payloads(size: int, fill: int) -> None:
    # Overview: the checksum is the sum of every payload byte, modulo 256; replies of
    # 8 KiB of memory are 16 KiB of hex, and an all-0xff payload has the largest sum.
    data = bytes([fill]) * size
    assert checksum(data) == (fill * size) % 256
    assert frame(data).endswith(b"#%02x" % ((fill * size) % 256))


@given(st.binary(min_size=257, max_size=20000))
@settings(max_examples=200, deadline=None)
def test_checksum_of_random_long_payloads(data: bytes) -> None:
    # Overview: modulo-256 sum of the packet-data characters.
    assert checksum(data) == sum(data) % 256


_WIRE_PIECES = st.one_of(
    st.sampled_from([b"+", b"-", b"\x03", b"$", b"#", b"}", b"*", b"x", b"3f", b"zz"]),
    st.binary(max_size=8).map(frame),
    st.sampled_from(GDB_SENT),
    st.builds(lambda p, cs: b"$" + p + b"#" + cs, st.binary(max_size=20),
              st.sampled_from([b"00", b"3f", b"zz", b"0"])))


@given(st.lists(_WIRE_PIECES, max_size=12), st.integers(min_value=1, max_value=24))
@settings(max_examples=400, deadline=None)
def test_decoder_same_events_however_the_stream_is_cut(pieces: list, max_payload: int) -> None:
    # Overview: the stream is a byte sequence; how reads split it cannot change the
    # packets, acks, interrupts and errors decoded from it.
    wire = b"".join(pieces)
    whole = Decoder(max_payload).feed(wire)
    bytewise = Decoder(max_payload)
    events = []
    for b in wire:
        events += bytewise.feed(bytes([b]))
    assert whole == events
