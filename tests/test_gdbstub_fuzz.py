"""Fuzzing the decoder and dispatcher: random and mutated input never breaks the stub.

Over 10,000 generated inputs in all (3,000 + 4,000 + 3,000). After each, the
stub must still answer a well-formed ``?`` with a stop reply (GDB manual,
Packets: '?' "Indicate the reason the target halted. The reply is the same
as for step and continue": a T or W packet) in a correctly framed packet
(Overview: ``$data#cs``, cs = modulo-256 sum), and no handler may have
failed with an unexpected exception (those are logged at ERROR).
"""
from __future__ import annotations

import logging
import re
from typing import Iterator, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdbstub_fake import FakeTarget
from hypdbg.gdbstub.codec import frame
from hypdbg.gdbstub.session import Session

CORPUS = [
    b"?", b"g", b"G" + b"00" * 68, b"p19", b"pf", b"P1=01000000", b"P1a=0000000000000000",
    b"m40000000,10", b"m4000fff0,40", b"M40000000,2:abcd", b"x40000000,8",
    b"X40000000,3:a}]b", b"Z0,40000008,4", b"z0,40000008,4", b"Z1,40000010,4",
    b"Z2,40020000,4", b"z2,40020000,4", b"Z4,40020000,8", b"c", b"s", b"C05", b"S05;40000000",
    b"c40000000", b"vCont?", b"vCont;s:2;c", b"vCont;c", b"vCont;r40000000,40000010:2",
    b"Hg3", b"Hg0", b"Hc-1", b"T3", b"qC", b"qfThreadInfo", b"qsThreadInfo",
    b"qThreadExtraInfo,3", b"qAttached", b"qSupported:swbreak+;hwbreak+", b"QStartNoAckMode",
    b"vMustReplyEmpty", b"qXfer:features:read:target.xml:0,400",
    b"qXfer:threads:read::0,400", b"qRcmd,68656c70", b"qRcmd," + b"space phys".hex().encode(),
    b"qRcmd," + b"step-irq on".hex().encode(), b"D", b"k", b"bc", b"bs", b"vKill;1",
]
_STOP_AT_END = re.compile(rb"\$([^$#]*)#([0-9a-f]{2})\Z")
_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                 database=None)


class _Errors(logging.Handler):
    """Collects ERROR records: a handler crashed instead of answering E NN."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", autouse=True)
def _error_log() -> Iterator[_Errors]:
    handler = _Errors()
    logger = logging.getLogger("hypdbg.gdbstub")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _errors() -> _Errors:
    handlers = [h for h in logging.getLogger("hypdbg.gdbstub").handlers if isinstance(h, _Errors)]
    return handlers[0]


def _check_still_answers(session: Session) -> None:
    out = session.feed(frame(b"?"))
    m = _STOP_AT_END.search(out)
    assert m is not None, out
    payload, cs = m.group(1), int(m.group(2), 16)
    assert sum(payload) & 0xFF == cs
    assert payload[:1] in (b"T", b"W"), payload
    assert not _errors().records, _errors().records[0].getMessage()


def _session() -> Session:
    return Session(FakeTarget(max_run=32))


@given(st.lists(st.binary(max_size=64), max_size=4))
@settings(max_examples=3000, **_SETTINGS)
def test_random_byte_streams(chunks: List[bytes]) -> None:
    s = _session()
    for chunk in chunks:
        s.feed(chunk)
    _check_still_answers(s)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 4))]
        elif op == "truncate":
            del data[pos:]
        elif op == "dup":
            data[pos:pos] = data[:pos]
    return bytes(data)


@given(st.lists(st.tuples(_mutated(), st.sampled_from(["framed", "raw", "badsum"])),
                min_size=1, max_size=5))
@settings(max_examples=4000, **_SETTINGS)
def test_mutated_packets(items: List[tuple]) -> None:
    s = _session()
    for payload, how in items:
        if how == "framed":
            s.feed(frame(payload))
        elif how == "raw":
            s.feed(b"$" + payload)
        else:
            s.feed(b"$" + payload + b"#%02x" % ((sum(payload) + 1) & 0xFF))
    _check_still_answers(s)


_FIELD = st.one_of(
    st.integers(0, 2**64).map(lambda n: b"%x" % n),
    st.sampled_from([b"-1", b"0", b"", b"p1.2", b"x", b"zz", b"40000000", b"4000fffe"]),
    st.binary(max_size=6),
)
_NAMES = st.sampled_from([b"?", b"g", b"G", b"p", b"P", b"m", b"M", b"x", b"X", b"Z", b"z",
                          b"c", b"C", b"s", b"S", b"H", b"T", b"D", b"b", b"vCont", b"vCont?",
                          b"qXfer", b"qRcmd", b"qThreadExtraInfo", b"qSupported", b"qAttached",
                          b"vKill", b"Hg", b"Hc", b"Z0", b"Z2", b"z1", b"M4000fffe",
                          b"m4000fffe", b"vCont;r", b"vCont;s", b"qXfer:features:read:"])


@given(_NAMES, st.lists(st.tuples(_FIELD, st.sampled_from([b",", b":", b";", b"="])),
                        max_size=5))
@settings(max_examples=3000, **_SETTINGS)
def test_structured_packets(name: bytes, parts: List[tuple]) -> None:
    s = _session()
    payload = name + b"".join(f + sep for f, sep in parts)
    s.feed(frame(payload))
    _check_still_answers(s)
