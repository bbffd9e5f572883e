"""The GDB server: a machine served to one client after another, over TCP or stdio.

Each client gets a fresh :class:`Session` (ack mode, features, breakpoints)
over the same machine; the machine's last stop carries over, except that a
machine that powered off is reset for the next client, since GDB cannot
attach to a program that has exited.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from hypdbg.core.debug import DebugTarget, StopKind

from .monitor import MonitorRegistry, default_registry
from .session import PACKET_SIZE, MachineState, Session
from .transport import Connection, PipeConnection, TcpListener, run_session

log = logging.getLogger(__name__)


class Server:
    """Serves ``target``; :meth:`shutdown` from any thread ends it."""

    def __init__(self, target: DebugTarget, *, packet_size: int = PACKET_SIZE,
                 monitor: Optional[MonitorRegistry] = None) -> None:
        self.target = target
        self.packet_size = packet_size
        self.monitor = monitor if monitor is not None else default_registry()
        self.machine = MachineState()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._session: Optional[Session] = None
        self._conn: Optional[Connection] = None

    def new_session(self) -> Session:
        """A session for the next client (resetting a machine that powered off)."""
        last = self.machine.last_stop
        if last is not None and last.kind is StopKind.POWEROFF:
            log.info("the machine powered off; resetting it for the new client")
            self.target.reset()
            self.machine.last_stop = None
        return Session(self.target, packet_size=self.packet_size, monitor=self.monitor,
                       machine=self.machine)

    def serve_connection(self, conn: Connection) -> None:
        """Run one client to its end."""
        session = self.new_session()
        with self._lock:
            if self._stop.is_set():
                conn.close()
                return
            self._session, self._conn = session, conn
        try:
            run_session(session, conn, self._stop)
        finally:
            with self._lock:
                self._session = self._conn = None

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 1234, once: bool = False,
                  ready_callback: Optional[Callable[[int], None]] = None) -> None:
        """Listen on ``host:port`` (0 = any free port) and serve clients one at a time."""
        listener = TcpListener(host, port)
        try:
            log.info("listening on %s:%d", host, listener.port)
            if ready_callback is not None:
                ready_callback(listener.port)
            while not self._stop.is_set():
                conn = listener.accept()
                if conn is None:
                    continue
                self.serve_connection(conn)
                if once:
                    break
        finally:
            listener.close()

    def serve_stdio(self, ready_callback: Optional[Callable[[int], None]] = None) -> None:
        """Serve one client on stdin/stdout (``target remote | hypdbg serve --stdio``)."""
        conn = PipeConnection.claim_stdio()
        if ready_callback is not None:
            ready_callback(0)
        self.serve_connection(conn)

    def shutdown(self) -> None:
        """Stop serving: end the current session (stopping a running machine) and the listener."""
        self._stop.set()
        with self._lock:
            session, conn = self._session, self._conn
        if session is not None:
            session.abort()
        if conn is not None:
            conn.close()


def serve(target: DebugTarget, host: str = "127.0.0.1", port: int = 1234, stdio: bool = False,
          once: bool = False,
          ready_callback: Optional[Callable[[int], None]] = None) -> None:
    """Serve ``target`` to GDB until interrupted (or after one client with ``once``/``stdio``).

    ``ready_callback(port)`` runs once the server accepts connections (port 0 for stdio).
    """
    server = Server(target)
    try:
        if stdio:
            server.serve_stdio(ready_callback)
        else:
            server.serve_tcp(host, port, once, ready_callback)
    finally:
        server.shutdown()
