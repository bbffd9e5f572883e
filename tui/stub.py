"""The stub the TUI starts for an IMAGE: ``hypdbg serve`` in a child process.

Its stdout is the machine's UART, kept for the UART pane; its stderr carries
the "serving ... on HOST:PORT" line that says the port is open (the serve
command prints it once it listens). The process is killed when the TUI ends,
and runs under :mod:`stubwatch`, so it also ends if the TUI dies unannounced.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from typing import List, Sequence


class StubError(Exception):
    """The stub did not start; the message is what it said."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServedImage:
    """``hypdbg serve IMAGE --port PORT`` (under stubwatch), its UART output and its log."""

    def __init__(self, image: str, extra_args: Sequence[str] = (), host: str = "127.0.0.1",
                 start_timeout: float = 20.0) -> None:
        self.host = host
        self.port = free_port(host)
        self._uart = bytearray()
        self._log: List[str] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        cmd = [sys.executable, "-m", "hypdbg.tui.stubwatch", "serve", image, "--port", str(self.port),
               "--host", host, *extra_args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
        self._threads = [threading.Thread(target=self._pump_uart, daemon=True),
                         threading.Thread(target=self._pump_log, daemon=True)]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + start_timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._threads[1].join(1.0)
                why = " ".join(self.log()[-3:]) or f"exit status {self.proc.poll()}"
                self.close()
                raise StubError(f"the stub did not start: {why}")

    @property
    def address(self) -> str:
        """``HOST:PORT`` for ``target remote``."""
        return f"{self.host}:{self.port}"

    def uart_text(self) -> str:
        """Everything the machine wrote to its UART so far."""
        with self._lock:
            return self._uart.decode("utf-8", "replace")

    def log(self) -> List[str]:
        """The stub's stderr lines."""
        with self._lock:
            return list(self._log)

    def alive(self) -> bool:
        """True while the stub process runs."""
        return self.proc.poll() is None

    def close(self) -> None:
        """Kill the stub and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for t in self._threads:
            t.join(1.0)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass

    def _pump_uart(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            with self._lock:
                self._uart += chunk

    def _pump_log(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip()
                with self._lock:
                    self._log.append(line)
                if "serving" in line:
                    self._ready.set()
