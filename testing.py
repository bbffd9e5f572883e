"""Scripted hypervisor tests through GDB: a served machine and gdb-multiarch over pygdbmi.

Usage in a test (or a conftest that imports the fixture)::

    from hypdbg.testing import HypSession, hyp_session  # noqa: F401  (the fixture)

    def test_guest_hypercall(hyp_session):
        s = hyp_session("examples/worldswitch/worldswitch.elf")
        stop = s.wait_for_exit("hvc", imm=2, world="guest")
        assert stop.thread == 2                       # the CPU is in Hyp
        assert s.register("hsr") == 0x4A000002
        guest = s.registers(thread=3)                  # the guest's saved context
        assert guest["pc"] == s.symbol("guest_puthex") + 4

Every call has a timeout; a GDB error reply raises :class:`GdbError` with GDB's message.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from pygdbmi.gdbcontroller import GdbController


class GdbError(Exception):
    """GDB answered ^error."""


@dataclass
class Stop:
    """A ``*stopped`` notification and the console text that came with it."""

    reason: str
    thread: int
    pc: int
    console: str
    raw: Dict[str, object] = field(default_factory=dict)


def find_gdb() -> Optional[str]:
    """gdb-multiarch, or arm-none-eabi-gdb where that is what exists."""
    return shutil.which("gdb-multiarch") or shutil.which("arm-none-eabi-gdb")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HypSession:
    """``hypdbg serve IMAGE`` plus a GDB connected to it."""

    def __init__(self, image: str, timeout: float = 30.0, gdb: Optional[str] = None,
                 serve_args: Sequence[str] = (), symbols: bool = True, uart_input: bool = False) -> None:
        """Serve ``image`` (with ``serve_args``, e.g. QEMU's boot options) and attach a GDB;
        ``symbols``: load the image's symbols into GDB (an ELF; not a zImage); ``uart_input``:
        the server's standard input is the UART's receive side (see ``type``)."""
        self.image = os.fspath(image)
        self.timeout = timeout
        self.port = free_port()
        gdb = gdb or find_gdb()
        if gdb is None:
            raise RuntimeError("no gdb-multiarch or arm-none-eabi-gdb on PATH")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "hypdbg.cli", "serve", self.image, "--port", str(self.port),
             "--serial", "stdio" if uart_input else "none", *serve_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if uart_input else subprocess.DEVNULL)
        self._wait_port()
        self.gdb = GdbController(command=[gdb, "--nx", "--quiet", "--interpreter=mi3"])
        self.mi("-gdb-set architecture arm")
        self.mi("-gdb-set confirm off")
        if symbols:
            self.mi(f"-file-exec-and-symbols {self.image}")
        self.mi(f"-target-select remote 127.0.0.1:{self.port}")
        self._symbols: Optional[Dict[str, int]] = None

    def _wait_port(self) -> None:
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError("hypdbg serve exited: " + self.server.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"hypdbg did not listen on port {self.port}")

    # -- raw access ------------------------------------------------------------
    def mi(self, command: str) -> List[Dict[str, object]]:
        """One MI command; returns its records, raising GdbError on ^error."""
        records = self.gdb.write(command, timeout_sec=self.timeout)
        for r in records:
            if r.get("message") == "error":
                raise GdbError(f"{command}: {r.get('payload', {}).get('msg')}")  # type: ignore[union-attr]
        return records

    def cli(self, command: str) -> str:
        """A CLI command; returns what it printed."""
        escaped = command.replace("\\", "\\\\").replace('"', '\\"')
        return _text(self.mi(f'-interpreter-exec console "{escaped}"'))

    def monitor(self, command: str) -> str:
        return self.cli(f"monitor {command}")

    # -- running ---------------------------------------------------------------
    def cont(self) -> Stop:
        """Continue until the next stop."""
        return self._run("-exec-continue")

    def stepi(self) -> Stop:
        return self._run("-exec-step-instruction")

    def read_uart(self, out: bytearray) -> threading.Thread:
        """Append what the machine's UART prints (the server's standard output) to ``out``
        from a started daemon thread, which also keeps the server from blocking on it."""
        def drain() -> None:
            stream = self.server.stdout
            assert stream is not None
            while True:
                chunk = stream.read1(65536)  # type: ignore[attr-defined]
                if not chunk:
                    return
                out.extend(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        return reader

    def type(self, data: bytes) -> None:
        """Send ``data`` to the UART (a session started with ``uart_input``)."""
        if self.server.stdin is None:
            raise RuntimeError("the session was started without uart_input")
        self.server.stdin.write(data)
        self.server.stdin.flush()

    def wait_stop(self) -> Stop:
        """The next stop of a run started with a bare ``-exec-continue`` (``mi``)."""
        return self._wait(self.gdb.get_gdb_response(timeout_sec=1, raise_error_on_timeout=False),
                          "-exec-continue")

    def _run(self, command: str) -> Stop:
        return self._wait(self.mi(command), command)

    def _wait(self, records: List[Dict[str, object]], command: str) -> Stop:
        deadline = time.time() + self.timeout
        while not any(r.get("message") == "stopped" for r in records):
            if time.time() > deadline:
                raise TimeoutError(f"{command}: no stop within {self.timeout} s")
            records += self.gdb.get_gdb_response(timeout_sec=1, raise_error_on_timeout=False)
        stopped = [r for r in records if r.get("message") == "stopped"][-1]
        payload = stopped.get("payload") or {}
        frame = payload.get("frame") or {}  # type: ignore[union-attr]
        return Stop(str(payload.get("reason", "")), int(payload.get("thread-id", 0) or 0),  # type: ignore[union-attr]
                    int(frame.get("addr", "0"), 16), _text(records), payload)  # type: ignore[arg-type]

    def catch(self, *words: str) -> str:
        """``monitor catch WORDS...``; returns the confirmation line."""
        return self.monitor("catch " + " ".join(words))

    def wait_for_exit(self, kind: str, imm: Optional[int] = None, world: Optional[str] = None,
                      classes: Sequence[str] = ()) -> Stop:
        """Set one catchpoint, continue to it, delete it again."""
        words = [kind]
        if kind == "hvc":
            if imm is not None:
                words.append(hex(imm))
            if world:
                words += ["from", world]
        elif kind == "trap":
            words += list(classes)
        elif kind == "eret" and world:
            words.append(world)
        self.catch(*words)
        try:
            return self.cont()
        finally:
            self.monitor("catch delete all")

    # -- state -----------------------------------------------------------------
    def register(self, name: str, thread: Optional[int] = None) -> int:
        if thread is not None:
            self.mi(f"-thread-select {thread}")
        for r in self.mi(f'-data-evaluate-expression "${name}"'):
            payload = r.get("payload")
            if r.get("message") == "done" and isinstance(payload, dict) and "value" in payload:
                return int(str(payload["value"]).split()[0], 0) & 0xFFFFFFFFFFFFFFFF
        raise GdbError(f"no value for ${name}")

    def registers(self, thread: Optional[int] = None,
                  names: Sequence[str] = tuple(f"r{n}" for n in range(13)) + ("sp", "lr", "pc", "cpsr")
                  ) -> Dict[str, int]:
        """Registers of a world (its GDB thread), by name."""
        return {n: self.register(n, thread) for n in names}

    def threads(self) -> List[Dict[str, object]]:
        for r in self.mi("-thread-info"):
            payload = r.get("payload")
            if isinstance(payload, dict) and "threads" in payload:
                return list(payload["threads"])  # type: ignore[arg-type]
        return []

    def symbol(self, name: str) -> int:
        if self._symbols is None:
            from .core.loader import load_elf
            self._symbols = load_elf(self.image).symbols
        return self._symbols[name] & ~1

    def close(self) -> None:
        try:
            self.gdb.exit()
        finally:
            self.server.kill()
            self.server.wait(timeout=10)

    def __enter__(self) -> "HypSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(records: List[Dict[str, object]]) -> str:
    return "".join(str(r.get("payload")) for r in records if r.get("type") in ("console", "target"))


try:
    import pytest

    @pytest.fixture
    def hyp_session() -> Iterator[Callable[..., HypSession]]:
        """Factory fixture: ``hyp_session(image)`` starts a session, closed after the test."""
        if find_gdb() is None:
            pytest.skip("gdb-multiarch (or arm-none-eabi-gdb) is not installed")
        sessions: List[HypSession] = []

        def start(image: str, **kw: object) -> HypSession:
            s = HypSession(image, **kw)  # type: ignore[arg-type]
            sessions.append(s)
            return s

        yield start
        for s in sessions:
            s.close()
except ImportError:  # pytest is optional for users of HypSession alone
    pass
