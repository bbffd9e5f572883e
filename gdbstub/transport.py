"""Byte transports (TCP, pipes/stdio) and the loop that runs one session over one.

A reader thread owns the incoming side: it decodes bytes, passes a 0x03
interrupt straight to the session (so it reaches a running target), and
queues everything else for the session loop, which answers packets in
order and blocks in the target while it runs. A client that vanishes
ends the session; it never raises out of :func:`run_session`.
"""
from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
from typing import Optional, Protocol

from .session import Session

log = logging.getLogger(__name__)

RECV_SIZE = 65536


class Connection(Protocol):
    """A duplex byte stream to one GDB."""

    def recv(self) -> bytes:
        """Some bytes; b"" at end of stream."""

    def send(self, data: bytes) -> None:
        """All of ``data``; OSError if the peer is gone."""

    def close(self) -> None:
        """Close, waking a reader blocked in ``recv``."""


class SocketConnection:
    """A connected TCP socket (Nagle off: the protocol is request/response)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def recv(self) -> bytes:
        return self.sock.recv(RECV_SIZE)

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


_CLOSED = object()


def _reader(session: Session, conn: Connection, events: "queue.Queue[object]") -> None:
    """Decode incoming bytes; interrupts go straight to the session, the rest to the queue."""
    try:
        while True:
            data = conn.recv()
            if not data:
                break
            for event in session.decoder.feed(data):
                if session.on_received(event):
                    events.put(event)
    except (OSError, ValueError):
        pass
    except Exception:
        log.exception("reader failed")
    finally:
        session.abort()
        events.put(_CLOSED)


def run_session(session: Session, conn: Connection,
                stop_flag: Optional[threading.Event] = None) -> None:
    """Serve one client until it detaches, kills, disconnects, or ``stop_flag`` is set."""
    events: "queue.Queue[object]" = queue.Queue()
    reader = threading.Thread(target=_reader, args=(session, conn, events),
                              name="gdbstub-reader", daemon=True)
    reader.start()
    try:
        while not session.closed:
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                if stop_flag is not None and stop_flag.is_set():
                    break
                continue
            if event is _CLOSED:
                break
            try:
                out = session.process(event, conn.send)  # type: ignore[arg-type]
                if out:
                    conn.send(out)
            except OSError:
                break
    finally:
        session.close()
        conn.close()
        reader.join(timeout=1.0)
        log.info("GDB session ended")

