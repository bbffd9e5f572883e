"""Transports and the server: TCP and pipes, clients coming and going, Ctrl-C, shutdown.

Protocol expectations (GDB manual, Remote Protocol): packets are acked with
``+`` until QStartNoAckMode ("Overview", "Packet Acknowledgment"); 0x03
interrupts a running target ("Interrupts"); ``?`` is answered with a stop
reply ("Packets").
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Iterator, List, Tuple

import pytest

from gdbstub_fake import B_SELF, ENTRY, NOP, FakeTarget, demo_target
from hypdbg.gdbstub.codec import Decoder, Packet, frame
from hypdbg.gdbstub.server import Server, serve
from hypdbg.gdbstub.transport import (BURST_GAP_S, SPIN_S, PipeConnection, SocketConnection,
                                      _SpinWait)

SVC_0 = 0xEF000000


class RawClient:
    """A minimal GDB stand-in speaking the protocol over a socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.dec = Decoder()
        self.acks = 0
        self.pending: List[bytes] = []

    def send(self, payload: bytes) -> None:
        self.sock.sendall(frame(payload))

    def packet(self) -> bytes:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed")
            for ev in self.dec.feed(data):
                if isinstance(ev, Packet):
                    self.pending.append(ev.payload)
                else:
                    self.acks += 1
        return self.pending.pop(0)

    def wait_ack(self) -> None:
        """Read until one more ``+`` has arrived."""
        want = self.acks + 1
        while self.acks < want:
            for ev in self.dec.feed(self.sock.recv(1)):
                if isinstance(ev, Packet):
                    self.pending.append(ev.payload)
                else:
                    self.acks += 1

    def ask(self, payload: bytes) -> bytes:
        self.send(payload)
        return self.packet()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def served() -> Iterator[Tuple[FakeTarget, Server, int]]:
    target = demo_target()
    server = Server(target)
    ports: List[int] = []
    ready = threading.Event()
    th = threading.Thread(target=server.serve_tcp, daemon=True,
                          kwargs=dict(port=0, ready_callback=lambda p: (ports.append(p),
                                                                        ready.set())))
    th.start()
    assert ready.wait(5)
    yield target, server, ports[0]
    server.shutdown()
    th.join(5)
    assert not th.is_alive()


def test_next_client_gets_fresh_protocol_state(served: Tuple[FakeTarget, Server, int]) -> None:
    target, _, port = served
    a = RawClient(port)
    assert a.ask(b"QStartNoAckMode") == b"OK" and a.acks == 1
    assert a.ask(b"Z0,40000008,4") == b"OK"
    assert a.acks == 1  # no acks after no-ack mode
    assert a.ask(b"D") == b"OK"
    a.close()
    b = RawClient(port)
    assert b.ask(b"?").startswith(b"T05")
    assert b.acks == 1  # acks are back for a new client
    assert target.breakpoints == set()  # the previous client's breakpoint is gone
    b.close()


def test_interrupt_byte_stops_running_target(served: Tuple[FakeTarget, Server, int]) -> None:
    target, _, port = served
    c = RawClient(port)
    c.send(b"s")
    c.packet()
    c.send(b"c")
    assert target.running.wait(5)
    # Overview: the ack comes when the packet is received, not when the machine stops
    # (GDB resends a packet whose ack is late).
    c.wait_ack()
    c.sock.sendall(b"\x03")
    assert c.packet().startswith(b"T02")
    assert c.ask(b"?").startswith(b"T02")
    c.close()


def test_interrupt_in_the_same_write_as_the_resume(served: Tuple[FakeTarget, Server, int]) -> None:
    # Interrupts: 0x03 stops a running target; GDB may send it right behind the resume
    # packet, so it can arrive in the same read, before the target has started.
    target, _, port = served
    target.load(ENTRY, [B_SELF])
    c = RawClient(port)
    assert c.ask(b"QStartNoAckMode") == b"OK"
    c.sock.sendall(frame(b"c") + b"\x03")
    assert c.packet().startswith(b"T02")
    c.close()


def test_every_continue_can_be_interrupted(served: Tuple[FakeTarget, Server, int]) -> None:
    # Interrupts: each run, not only the first, must see the 0x03 that GDB sends.
    target, _, port = served
    target.load(ENTRY, [B_SELF])
    c = RawClient(port)
    assert c.ask(b"QStartNoAckMode") == b"OK"
    for _ in range(20):
        c.send(b"c")
        assert target.running.wait(5)
        c.sock.sendall(b"\x03")
        assert c.packet().startswith(b"T02")
        deadline = time.monotonic() + 5
        while target.running.is_set() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert c.ask(b"qAttached") == b"1"  # and the halted machine answers as before
    c.close()


def test_packets_sent_while_running_are_answered_after_the_stop(
        served: Tuple[FakeTarget, Server, int]) -> None:
    # Overview: every packet gets its reply, in order; in all-stop mode the resume is
    # answered by the stop reply ("Stop Reply Packets"), so what came behind it is
    # answered after that.
    target, _, port = served
    target.load(ENTRY, [B_SELF])
    c = RawClient(port)
    assert c.ask(b"QStartNoAckMode") == b"OK"
    c.send(b"c")
    assert target.running.wait(5)
    c.sock.sendall(frame(b"qAttached") + b"\x03")
    assert c.packet().startswith(b"T02")
    assert c.packet() == b"1"
    c.close()


def test_vanished_client_while_running(served: Tuple[FakeTarget, Server, int]) -> None:
    target, _, port = served
    c = RawClient(port)
    c.sock.sendall(b"+$c#63")
    assert target.running.wait(5)
    c.sock.close()
    deadline = time.monotonic() + 5
    while target.running.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not target.running.is_set()  # the machine was stopped, not left running
    d = RawClient(port)
    assert d.ask(b"?").startswith(b"T02")
    d.close()


def test_client_gone_mid_packet(served: Tuple[FakeTarget, Server, int]) -> None:
    _, _, port = served
    c = RawClient(port)
    c.sock.sendall(b"$m4000")
    c.close()
    d = RawClient(port)
    assert d.ask(b"m40000000,4") == b"010080e2"
    d.close()


def test_poweroff_resets_for_next_client(served: Tuple[FakeTarget, Server, int]) -> None:
    target, _, port = served
    target.load(ENTRY, [NOP, SVC_0])
    before = target.reset_count
    c = RawClient(port)
    assert c.ask(b"c") == b"W00"
    c.close()
    d = RawClient(port)
    assert d.ask(b"?").startswith(b"T05")
    assert target.reset_count == before + 1
    d.close()


def test_shutdown_while_running() -> None:
    target = FakeTarget()
    target.load(ENTRY, [B_SELF])
    server = Server(target)
    ports: List[int] = []
    ready = threading.Event()
    th = threading.Thread(target=server.serve_tcp, daemon=True,
                          kwargs=dict(port=0, ready_callback=lambda p: (ports.append(p),
                                                                        ready.set())))
    th.start()
    assert ready.wait(5)
    c = RawClient(ports[0])
    c.send(b"c")
    assert target.running.wait(5)
    server.shutdown()
    th.join(5)
    assert not th.is_alive() and not target.running.is_set()
    c.close()


def test_serve_once_returns_after_one_client() -> None:
    target = demo_target()
    ports: List[int] = []
    ready = threading.Event()
    th = threading.Thread(target=serve, args=(target,), daemon=True,
                          kwargs=dict(port=0, once=True,
                                      ready_callback=lambda p: (ports.append(p), ready.set())))
    th.start()
    assert ready.wait(5)
    c = RawClient(ports[0])
    assert c.ask(b"qAttached") == b"1"
    c.close()
    th.join(5)
    assert not th.is_alive()


def test_pipe_transport() -> None:
    to_stub_r, to_stub_w = os.pipe()
    from_stub_r, from_stub_w = os.pipe()
    server = Server(demo_target())
    th = threading.Thread(target=server.serve_connection,
                          args=(PipeConnection(to_stub_r, from_stub_w),), daemon=True)
    th.start()
    dec = Decoder()
    os.write(to_stub_w, frame(b"m40000000,4"))
    events: list = []
    while not any(isinstance(e, Packet) for e in events):
        events += dec.feed(os.read(from_stub_r, 4096))
    assert [e.payload for e in events if isinstance(e, Packet)] == [b"010080e2"]
    os.close(to_stub_w)  # GDB went away: end of stream ends the session
    th.join(5)
    assert not th.is_alive()
    os.close(from_stub_r)


def test_stepi_round_trips_in_no_ack_mode(served: Tuple[FakeTarget, Server, int]) -> None:
    """GDB's stepi loop, vCont;s then g, a thousand times back to back: every step stops
    one instruction on (a T05 stop reply) and every ``g`` carries the 136 hex digits of
    r0-r15 and CPSR (the loop's speed is bench/bench_gdbstub.py's to measure)."""
    target, _, port = served
    target.load(ENTRY, [NOP] * 4000)
    c = RawClient(port)
    assert c.ask(b"QStartNoAckMode") == b"OK"
    for i in range(1000):
        assert c.ask(b"vCont;s:2;c")[:3] == b"T05"
        regs = c.ask(b"g")
        assert len(regs) == 136
        assert int.from_bytes(bytes.fromhex(regs[120:128].decode()), "little") == ENTRY + 4 * (i + 1)
    c.close()


@pytest.fixture
def socket_pair() -> Iterator[Tuple[SocketConnection, socket.socket]]:
    ours, theirs = socket.socketpair()
    conn = SocketConnection(ours)
    yield conn, theirs
    theirs.close()
    conn.close()


def test_spin_wait_returns_what_is_already_there(
        socket_pair: Tuple[SocketConnection, socket.socket]) -> None:
    conn, peer = socket_pair
    spin = _SpinWait(conn)
    spin.client_elsewhere = True
    spin.note_gap(BURST_GAP_S / 10)
    peer.sendall(b"$g#67")
    assert spin.poll() == b"$g#67"


def test_spin_wait_gives_up_after_its_budget(
        socket_pair: Tuple[SocketConnection, socket.socket]) -> None:
    """Nothing comes: the poll ends (None) and the caller sleeps in ``recv`` instead."""
    conn, _ = socket_pair
    spin = _SpinWait(conn)
    spin.client_elsewhere = True
    spin.note_gap(0.0)
    start = time.perf_counter()
    assert spin.poll() is None
    assert time.perf_counter() - start >= SPIN_S


def test_spin_wait_sees_the_client_go(socket_pair: Tuple[SocketConnection, socket.socket]) -> None:
    conn, peer = socket_pair
    spin = _SpinWait(conn)
    spin.client_elsewhere = True
    spin.note_gap(0.0)
    peer.close()
    assert spin.poll() == b""


@pytest.mark.parametrize("enabled,gap", [(True, 10 * BURST_GAP_S), (False, 0.0)])
def test_spin_wait_polls_only_in_a_burst_and_with_a_cpu_to_spare(
        socket_pair: Tuple[SocketConnection, socket.socket], enabled: bool, gap: float) -> None:
    """After a long gap (a person typing), or with one CPU, the loop sleeps at once."""
    conn, peer = socket_pair
    spin = _SpinWait(conn)
    spin.client_elsewhere = enabled
    spin.note_gap(gap)
    peer.sendall(b"$g#67")
    assert spin.poll() is None
    assert conn.recv() == b"$g#67"


@pytest.fixture
def tcp_pair() -> Iterator[Tuple[SocketConnection, socket.socket]]:
    """A loopback TCP connection: our end as the stub sees it, and the client's socket."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    conn = SocketConnection(ours)
    yield conn, client
    client.close()
    conn.close()


@pytest.fixture
def pinned_cpus() -> Iterator[List[int]]:
    """This thread's CPUs, restored afterwards (affinity set in a test is the thread's own)."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    saved = os.sched_getaffinity(0)
    yield sorted(saved)
    os.sched_setaffinity(0, saved)


def _send_pinned(sock: socket.socket, cpu: int, data: bytes) -> None:
    """Send ``data`` from a thread pinned to ``cpu``."""
    def run() -> None:
        os.sched_setaffinity(0, {cpu})
        sock.sendall(data)
    t = threading.Thread(target=run)
    t.start()
    t.join()


def test_loopback_peer_cpu_is_the_senders(tcp_pair: Tuple[SocketConnection, socket.socket],
                                          pinned_cpus: List[int]) -> None:
    conn, client = tcp_pair
    for cpu in pinned_cpus[:2]:
        _send_pinned(client, cpu, b"$g#67")
        assert conn.recv() == b"$g#67"
        assert conn.peer_cpu() == cpu


def test_spin_wait_does_not_poll_for_a_client_on_its_own_cpu(
        tcp_pair: Tuple[SocketConnection, socket.socket], pinned_cpus: List[int]) -> None:
    """The client could not run while the loop polls: after its packet came from this CPU the
    loop sleeps at once, and polls again once a burst starts with a packet from another."""
    conn, client = tcp_pair
    os.sched_setaffinity(0, {pinned_cpus[0]})
    spin = _SpinWait(conn)
    client.sendall(b"$g#67")
    assert conn.recv() == b"$g#67"
    spin.note_gap(10 * BURST_GAP_S)
    spin.note_woken()
    spin.note_gap(0.0)
    assert not spin.client_elsewhere
    client.sendall(b"$g#67")
    assert spin.poll() is None
    assert conn.recv() == b"$g#67"
    if len(pinned_cpus) < 2:
        return
    _send_pinned(client, pinned_cpus[1], b"$?#3f")
    assert conn.recv() == b"$?#3f"
    spin.note_woken()
    assert not spin.client_elsewhere, "looked again in the middle of a burst"
    spin.note_gap(10 * BURST_GAP_S)
    spin.note_woken()
    assert spin.client_elsewhere
    spin.note_gap(0.0)
    client.sendall(b"$g#67")
    assert spin.poll() == b"$g#67"


def test_pipe_has_no_peer_cpu() -> None:
    r, w = os.pipe()
    conn = PipeConnection(r, w)
    try:
        assert conn.peer_cpu() is None
    finally:
        conn.close()


def test_pipe_recv_now() -> None:
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    conn = PipeConnection(r, out_w)
    try:
        assert conn.recv_now() is None
        os.write(w, b"$?#3f")
        assert conn.recv_now() == b"$?#3f"
        os.close(w)
        assert conn.recv_now() == b""
    finally:
        conn.close()
        os.close(out_r)


def test_burst_then_pause_then_burst(served: Tuple[FakeTarget, Server, int]) -> None:
    """Packets sent back to back, and one sent after the loop has gone to sleep, are all
    answered (the second burst's first packet is read by a blocking ``recv``)."""
    _, _, port = served
    c = RawClient(port)
    assert c.ask(b"QStartNoAckMode") == b"OK"
    for _ in range(3):
        for _ in range(20):
            assert c.ask(b"m40000000,4") == b"010080e2"
        time.sleep(5 * BURST_GAP_S)
    c.close()
