"""A small synchronous GDB/MI client: one GDB process, tokened commands, async records.

Commands are sent with a numeric token and the caller waits for the result
record carrying that token, so replies cannot be mixed up. A background thread
reads GDB's output all the time: while the target runs, ``*running`` and
``*stopped`` (and the stub's console output) arrive without any command
waiting, and go to the listener, so a user interface never blocks on a
``continue`` and can still send ``-exec-interrupt``. Parsing of MI records is
pygdbmi's.
"""
from __future__ import annotations

import collections
import itertools
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

from pygdbmi.gdbmiparser import parse_response

#: GDBs that can debug 32-bit ARM, in order of preference.
GDB_NAMES = ("gdb-multiarch", "arm-none-eabi-gdb")

TRACE_LINES = 400

Listener = Callable[[Dict[str, Any]], None]


class MIError(Exception):
    """GDB answered a command with ``^error``; the message is GDB's."""


class MITimeout(MIError):
    """No result record arrived in time."""


class MIClosed(MIError):
    """GDB has exited (or was never started); no command can be sent."""


@dataclass
class Reply:
    """A command's result record and the stream output GDB printed for it."""

    message: str                        # done, running, connected, exit
    payload: Dict[str, Any] = field(default_factory=dict)
    stream: str = ""                    # console (~) and target (@) text


@dataclass
class _Pending:
    token: int
    event: threading.Event = field(default_factory=threading.Event)
    record: Optional[Dict[str, Any]] = None
    stream: List[str] = field(default_factory=list)


def find_gdb() -> Optional[str]:
    """The first ARM-capable GDB on PATH, or None."""
    for name in GDB_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def mi_quote(text: str) -> str:
    """``text`` as an MI c-string argument (for ``-interpreter-exec console``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class GdbMI:
    """One GDB in MI3 mode; thread-safe ``command``; async records go to listeners."""

    def __init__(self, gdb: Optional[str] = None, extra_args: Sequence[str] = ()) -> None:
        path = gdb or find_gdb()
        if path is None:
            raise MIClosed(f"no ARM GDB found (tried {', '.join(GDB_NAMES)})")
        self._tokens = itertools.count(1)
        self._write_lock = threading.Lock()
        self._state_lock = threading.Condition()
        self._pending: Dict[int, _Pending] = {}
        self._listeners: List[Listener] = []
        self.running = False
        self.closed = False
        self.last_stop: Optional[Dict[str, Any]] = None
        #: The last MI lines sent (">") and received ("<"), for diagnosing a session.
        self.trace: Deque[str] = collections.deque(maxlen=TRACE_LINES)
        self._stop_serial = 0
        self._proc = subprocess.Popen([path, "--nx", "--quiet", "--interpreter=mi3", *extra_args],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, bufsize=0,
                                      start_new_session=True)
        self._reader = threading.Thread(target=self._read_loop, name="gdbmi-reader", daemon=True)
        self._reader.start()

    # -- commands ---------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(record)`` for every record no command is waiting for."""
        self._listeners.append(listener)

    def command(self, cmd: str, timeout: float = 10.0) -> Reply:
        """Send one MI command and wait for its result; ``^error`` raises MIError."""
        if self.closed:
            raise MIClosed("GDB has exited")
        pending = _Pending(next(self._tokens))
        with self._state_lock:
            self._pending[pending.token] = pending
        try:
            with self._write_lock:
                assert self._proc.stdin is not None
                self.trace.append(f"> {pending.token}{cmd}")
                self._proc.stdin.write(f"{pending.token}{cmd}\n".encode())
                self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._forget(pending)
            raise MIClosed("GDB has exited") from None
        if not pending.event.wait(timeout):
            self._forget(pending)
            raise MITimeout(f"no reply to {cmd.split()[0]} in {timeout:g} s")
        rec = pending.record
        if rec is None:
            raise MIClosed("GDB has exited")
        stream = "".join(pending.stream)
        if rec["message"] == "error":
            msg = (rec.get("payload") or {}).get("msg", "error")
            raise MIError(msg.strip())
        return Reply(rec["message"], rec.get("payload") or {}, stream)

    def console(self, line: str, timeout: float = 10.0) -> str:
        """Run a CLI command (``monitor ...``, ``x/4x ...``) and return what it printed."""
        return self.command(f"-interpreter-exec console {mi_quote(line)}", timeout).stream

    def interrupt(self, timeout: float = 5.0) -> None:
        """Stop a running target (GDB sends the stub a break)."""
        self.command("-exec-interrupt", timeout)

    def stop_serial(self) -> int:
        """How many ``*stopped`` records have arrived; pass it to :meth:`wait_stopped`."""
        with self._state_lock:
            return self._stop_serial

    def wait_stopped(self, after: int, timeout: float = 10.0) -> Optional[Dict[str, Any]]:
        """Wait for a ``*stopped`` later than serial ``after``; its payload, or None on timeout."""
        with self._state_lock:
            ok = self._state_lock.wait_for(lambda: self._stop_serial > after or self.closed, timeout)
            return self.last_stop if ok and self._stop_serial > after else None

    def close(self, timeout: float = 2.0) -> None:
        """Ask GDB to exit (it detaches from the stub), then make sure it has."""
        if not self.closed:
            try:
                self.command("-gdb-exit", timeout)
            except MIError:
                pass
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass

    # -- the reader ------------------------------------------------------------

    def _forget(self, pending: _Pending) -> None:
        with self._state_lock:
            self._pending.pop(pending.token, None)

    def _read_loop(self) -> None:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                self._dispatch(raw.decode("utf-8", "replace").rstrip("\r"))
        with self._state_lock:
            self.closed = True
            self.running = False
            waiting = list(self._pending.values())
            self._state_lock.notify_all()
        for p in waiting:
            p.event.set()
        self._notify({"type": "closed", "message": None, "payload": None})

    def _dispatch(self, line: str) -> None:
        if not line.strip():
            return
        self.trace.append(f"< {line}")
        rec = parse_response(line)
        kind = rec.get("type")
        if kind == "done":          # the "(gdb)" prompt
            return
        if kind == "result":
            # Settle the record here, in arrival order: the records after it (stream text,
            # *stopped) must not be credited to this command or race its caller.
            with self._state_lock:
                pending = self._pending.pop(rec.get("token"), None)
                if rec.get("message") == "running":
                    self.running = True
            if pending is not None:
                pending.record = rec
                pending.event.set()
            return
        if kind in ("console", "target", "log"):
            with self._state_lock:
                oldest = min(self._pending) if self._pending else None
                pending = self._pending.get(oldest) if oldest is not None else None
            if pending is not None:
                # A command's log text repeats its error reply; its console text is its output.
                if kind != "log":
                    pending.stream.append(rec["payload"] or "")
                return
        if kind == "notify":
            with self._state_lock:
                if rec["message"] == "running":
                    self.running = True
                elif rec["message"] == "stopped":
                    self.running = False
                    self.last_stop = rec.get("payload") or {}
                    self._stop_serial += 1
                    self._state_lock.notify_all()
        self._notify(rec)

    def _notify(self, rec: Dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(rec)
            except Exception:       # a broken listener must not kill the reader
                pass
