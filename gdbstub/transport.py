"""Byte transports (TCP, pipes/stdio) and the loop that runs one session over one.

While the machine is halted the session loop reads, decodes and answers
packets itself: a request costs no hand-over between threads. While the
machine runs (a continue, which only a Ctrl-C or a stop ends), a watcher
thread reads the connection instead, so that a 0x03 interrupt reaches the
running target; anything else it decodes is queued and answered, in order,
once the machine stops. A client that vanishes ends the session; it never
raises out of :func:`run_session`.
"""
from __future__ import annotations

import logging
import os
import select
import socket
import sys
import threading
import time
from collections import deque
from typing import Callable, Deque, Optional, Protocol

from .codec import Event
from .session import Session

log = logging.getLogger(__name__)

RECV_SIZE = 65536


class Connection(Protocol):
    """A duplex byte stream to one GDB."""

    def recv(self) -> bytes:
        """Some bytes; b"" at end of stream."""

    def recv_now(self) -> Optional[bytes]:
        """What ``recv`` would return, or None if that would block."""

    def send(self, data: bytes) -> None:
        """All of ``data``; OSError if the peer is gone."""

    def close(self) -> None:
        """Close, waking a reader blocked in ``recv``."""

    def fileno(self) -> int:
        """The descriptor ``recv`` reads, for ``select``."""

    def peer_cpu(self) -> Optional[int]:
        """The CPU the client's last bytes were sent from, where the transport can tell."""


_SO_INCOMING_CPU = getattr(socket, "SO_INCOMING_CPU", 49 if sys.platform == "linux" else None)


def _poller(fd: int) -> Callable[[], bool]:
    """A check, without waiting, that reading ``fd`` would not block (data, end of stream or an
    error). A poll set made once: a non-blocking read that finds nothing costs an exception
    (and a locale-decoded error message) per call."""
    if not hasattr(select, "poll"):
        return lambda: _readable(fd)
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLPRI)
    poll = p.poll
    return lambda: bool(poll(0))


class SocketConnection:
    """A connected TCP socket (Nagle off: the protocol is request/response)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._ready = _poller(sock.fileno())
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def recv(self) -> bytes:
        return self.sock.recv(RECV_SIZE)

    def recv_now(self) -> Optional[bytes]:
        if not self._ready():
            return None
        return self.sock.recv(RECV_SIZE)

    def fileno(self) -> int:
        return self.sock.fileno()

    def peer_cpu(self) -> Optional[int]:
        """On loopback, the CPU that ran the client's send (Linux's ``SO_INCOMING_CPU``)."""
        if _SO_INCOMING_CPU is None:
            return None
        try:
            cpu = self.sock.getsockopt(socket.SOL_SOCKET, _SO_INCOMING_CPU)
        except OSError:
            return None
        return cpu if cpu >= 0 else None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class PipeConnection:
    """Two file descriptors, e.g. the process's stdin/stdout under ``target remote | ...``."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self._closed = False
        self._ready = _poller(in_fd)

    @classmethod
    def claim_stdio(cls) -> "PipeConnection":
        """Take stdin/stdout for the protocol and point fd 1 and ``sys.stdout`` at stderr.

        Anything else printed (a UART echo, a stray print) then lands on
        stderr instead of corrupting the packet stream.
        """
        sys.stdout.flush()
        out_fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return cls(os.dup(0), out_fd)

    def recv(self) -> bytes:
        if self._closed:
            return b""
        return os.read(self.in_fd, RECV_SIZE)

    def recv_now(self) -> Optional[bytes]:
        if self._closed:
            return b""
        if not self._ready():
            return None
        return os.read(self.in_fd, RECV_SIZE)

    def fileno(self) -> int:
        return self.in_fd

    def peer_cpu(self) -> Optional[int]:
        return None

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for fd in (self.in_fd, self.out_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class TcpListener:
    """A listening socket; accepts one client at a time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1234) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]

    def accept(self) -> Optional[SocketConnection]:
        """A client, or None if none came within the poll interval."""
        try:
            conn, addr = self.sock.accept()
        except socket.timeout:
            return None
        conn.settimeout(None)
        log.info("GDB connected from %s", addr)
        return SocketConnection(conn)

    def close(self) -> None:
        self.sock.close()


POLL_S = 0.2
"""How often an idle session loop looks at the server's stop flag."""


def _decode_into(session: Session, data: bytes, events: Deque[Event]) -> None:
    """Decode ``data``: interrupts go straight to the session, the rest to ``events``."""
    for event in session.decoder.feed(data):
        if session.on_received(event):
            events.append(event)


class _EpollGate:
    """Readiness of the client, switched on and off without waking the waiting thread.

    The connection stays registered with an epoll set; arming and disarming
    only change its event mask (one-shot, so each report is followed by a
    read and a re-arm), which costs the session loop one system call and the
    watcher no wake-up while the machine is halted.
    """

    def __init__(self, fd: int, wake_fd: int) -> None:
        self.fd = fd
        self._ep = select.epoll()
        self._ep.register(wake_fd, select.EPOLLIN)
        self._ep.register(fd, select.EPOLLONESHOT)

    def enable(self) -> None:
        self._ep.modify(self.fd, select.EPOLLIN | select.EPOLLONESHOT)

    def disable(self) -> None:
        self._ep.modify(self.fd, select.EPOLLONESHOT)

    def wait(self) -> None:
        self._ep.poll()

    def close(self) -> None:
        self._ep.close()


class _SelectGate:
    """The same without epoll: the watcher sleeps on a condition while disarmed."""

    def __init__(self, fd: int, wake_fd: int) -> None:
        self.fd = fd
        self._wake_fd = wake_fd
        self._cond = threading.Condition()
        self._on = False

    def enable(self) -> None:
        with self._cond:
            self._on = True
            self._cond.notify()

    def disable(self) -> None:
        with self._cond:
            self._on = False

    def wait(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._on, timeout=POLL_S)
        select.select([self.fd, self._wake_fd], [], [], POLL_S)

    def close(self) -> None:
        self.enable()


class RunWatcher:
    """Reads the client while the machine runs, so that a Ctrl-C reaches it.

    The session arms it for a run that an interrupt may end and disarms it
    when the machine stops. The thread reads only while armed, under the
    lock that :meth:`disarm` takes, so once ``disarm`` returns the session
    loop owns the connection and the decoder again. A run that ends with
    nothing received costs no thread switch (see :class:`_EpollGate`).
    """

    def __init__(self, session: Session, conn: Connection, events: Deque[Event]) -> None:
        self.session = session
        self.conn = conn
        self.events = events
        self.eof = False
        self._lock = threading.Lock()
        self._armed = False
        self._quit = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        gate = _EpollGate if hasattr(select, "epoll") else _SelectGate
        self._gate = gate(conn.fileno(), self._wake_r)
        self._thread: Optional[threading.Thread] = None

    def arm(self) -> None:
        """The machine is about to run: watch the connection."""
        with self._lock:
            self._armed = True
            self._gate.enable()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="gdbstub-watch", daemon=True)
            self._thread.start()

    def disarm(self) -> None:
        """The machine stopped: the session loop reads the connection from now on."""
        with self._lock:
            self._armed = False
            self._gate.disable()

    def close(self) -> None:
        """End the thread; release the pipe and the gate."""
        with self._lock:
            self._quit = True
            self._armed = False
        try:
            os.write(self._wake_w, b"q")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            if self._thread.is_alive():
                return  # never seen; leave its descriptors to it rather than close them under it
        self._gate.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _loop(self) -> None:
        try:
            while True:
                self._gate.wait()
                with self._lock:
                    if self._quit:
                        return
                    if not self._armed:
                        continue
                    if not _readable(self.conn.fileno()):
                        self._gate.enable()
                        continue
                    data = self.conn.recv()
                    if not data:
                        self._end()
                        return
                    _decode_into(self.session, data, self.events)
                    self._gate.enable()
        except (OSError, ValueError):
            self._end()
        except Exception:
            log.exception("connection watcher failed")
            self._end()

    def _end(self) -> None:
        self.eof = True
        self.session.abort()


def _readable(fd: int) -> bool:
    """True if a read of ``fd`` would not block (data, end of stream or an error)."""
    return bool(select.select([fd], [], [], 0)[0])


SPIN_S = 0.0003
"""How long the halted session loop polls for the client's next packet before it sleeps."""
BURST_GAP_S = 0.002
"""A packet that came this soon after the previous reply is part of a burst."""


class _SpinWait:
    """Poll briefly for the next packet of a burst instead of sleeping at once.

    GDB sends dozens of packets per command (a ``stepi`` is a resume, then
    some twenty small memory reads), each sent a few tens of microseconds
    after the previous reply. With the client on another CPU, sleeping in
    ``recv`` between them costs each packet a cross-CPU wake-up, and on a
    virtual machine that costs more than handling the packet (measured with
    both pinned apart: 12k ``g``/s sleeping, 22k/s polling). So after a reply
    that ended a short gap the loop polls for up to ``SPIN_S`` before it
    sleeps; after a long gap (a person typing) it sleeps at once.

    A client on this thread's own CPU could not run while the loop polls, and
    waking it there is cheap; so when a burst starts (and every
    ``RECHECK``-th sleep within one) the loop looks where the client's bytes
    came from, and polls only if that was another CPU. Where the transport
    cannot tell (a pipe), it polls if this process may run on more than one
    CPU.
    """

    RECHECK = 32

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.in_burst = False
        self.client_elsewhere = _cpus() > 1
        self._current_cpu: Optional[Callable[[], Optional[int]]] = None
        self._sleeps = 0

    def poll(self) -> Optional[bytes]:
        """The client's next bytes if they come within ``SPIN_S`` of a burst; None otherwise."""
        if not (self.client_elsewhere and self.in_burst):
            return None
        recv_now = self.conn.recv_now
        clock = time.perf_counter
        end = clock() + SPIN_S
        while True:
            data = recv_now()
            if data is not None:
                return data
            if clock() > end:
                return None

    def note_gap(self, seconds: float) -> None:
        self.in_burst = seconds < BURST_GAP_S

    def note_woken(self) -> None:
        """Bytes came while the loop slept: at a burst's start, see whether the client runs on
        this CPU (two system calls: not worth it for every packet of a burst)."""
        self._sleeps += 1
        if self.in_burst and self._sleeps % self.RECHECK:
            return
        peer = self.conn.peer_cpu()
        if peer is None:
            return
        if self._current_cpu is None:
            self._current_cpu = _cpu_reader()
        here = self._current_cpu()
        if here is not None:
            self.client_elsewhere = peer != here


def _cpu_reader() -> Callable[[], Optional[int]]:
    """A function returning the CPU the calling thread runs on (None where libc cannot say)."""
    try:
        import ctypes
        getcpu = ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError, ImportError):
        return lambda: None
    getcpu.restype = ctypes.c_int
    getcpu.argtypes = []

    def current() -> Optional[int]:
        cpu = getcpu()
        return cpu if cpu >= 0 else None
    return current


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _receiver(conn: Connection, session: Session,
              stop_flag: Optional[threading.Event]) -> Callable[[], bytes]:
    """A function returning the next bytes from the client; b"" once it is gone or the
    session must end.

    A socket is read blocking: the server's shutdown shuts it down, which ends
    the read. Anything else is polled, so that the stop flag is seen. Either
    way a packet in a burst is first polled for (:class:`_SpinWait`).
    """
    spin = _SpinWait(conn)
    clock = time.perf_counter
    if isinstance(conn, SocketConnection):
        block = conn.recv
    else:
        fd = conn.fileno()

        def block() -> bytes:
            while True:
                readable, _, _ = select.select([fd], [], [], POLL_S)
                if readable:
                    return conn.recv()
                if session.closed or (stop_flag is not None and stop_flag.is_set()):
                    return b""

    def receive() -> bytes:
        start = clock()
        data = spin.poll()
        slept = data is None
        if slept:
            data = block()
        spin.note_gap(clock() - start)
        if slept:
            spin.note_woken()
        return data
    return receive


def run_session(session: Session, conn: Connection,
                stop_flag: Optional[threading.Event] = None) -> None:
    """Serve one client until it detaches, kills, disconnects, or ``stop_flag`` is set."""
    events: Deque[Event] = deque()
    watcher = RunWatcher(session, conn, events)
    session.run_watch = watcher
    receive = _receiver(conn, session, stop_flag)
    send = conn.send
    process = session.process
    try:
        while not session.closed and not watcher.eof:
            if events:
                try:
                    out = process(events.popleft(), send)
                    if out:
                        send(out)
                except OSError:
                    break
                continue
            if stop_flag is not None and stop_flag.is_set():
                break
            try:
                data = receive()
            except (OSError, ValueError):
                break
            if not data:
                break
            _decode_into(session, data, events)
    except Exception:
        log.exception("session loop failed")
    finally:
        session.abort()
        session.run_watch = None
        watcher.close()
        session.close()
        conn.close()
        log.info("GDB session ended")
