"""A real gdb-multiarch session against the stub serving the fake target.

What GDB prints and reports is GDB's documented behaviour: MI ``*stopped``
records with reason breakpoint-hit / end-stepping-range / signal-received
(GDB manual, "GDB/MI Async Records"), Ctrl-C sent to the target as 0x03
and reported as SIGINT (Remote Protocol, "Interrupts"), ``monitor`` = qRcmd.
"""
from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

from gdbstub_fake import (ADD_R0_1, B_SELF, ENTRY, NOP, RAM1, FakeTarget, ReversibleFakeTarget,
                          demo_target)
from hypdbg.gdbstub.server import Server

GDB = shutil.which("gdb-multiarch")
pytestmark = pytest.mark.skipif(GDB is None, reason="gdb-multiarch is not installed")

Record = Dict[str, object]


class MiGdb:
    """gdb-multiarch over GDB/MI: token-tagged commands and a backlog of async records."""

    def __init__(self) -> None:
        from pygdbmi.gdbcontroller import GdbController

        self.ctl = GdbController(command=[GDB or "gdb-multiarch", "--nx", "--quiet",
                                          "--interpreter=mi3"],
                                 time_to_check_for_additional_output_sec=0.05)
        self.token = 0
        self.backlog: List[Record] = []

    def _pump(self, timeout: float) -> List[Record]:
        got = self.ctl.get_gdb_response(timeout_sec=timeout, raise_error_on_timeout=False)
        self.backlog += got
        return got

    def cmd(self, command: str, timeout: float = 15) -> Tuple[Record, str]:
        """Run an MI command; its result record and the console/target text it produced."""
        self.token += 1
        tok = self.token
        self.backlog.clear()  # async records from before this command are stale
        self.ctl.write(f"{tok}{command}", read_response=False)
        text: List[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self._pump(0.2):
                if r["type"] in ("console", "target") and isinstance(r["payload"], str):
                    text.append(r["payload"])
                if r["type"] == "result" and r["token"] == tok:
                    return r, "".join(text)
        raise TimeoutError(command)

    def console(self, line: str) -> Tuple[Record, str]:
        return self.cmd(f'-interpreter-exec console "{line}"')

    def wait(self, pred: Callable[[Record], bool], timeout: float = 15) -> Record:
        """The first record (already received or arriving) that matches."""
        deadline = time.monotonic() + timeout
        while True:
            for i, r in enumerate(self.backlog):
                if pred(r):
                    del self.backlog[:i + 1]
                    return r
            self.backlog.clear()
            if time.monotonic() > deadline:
                raise TimeoutError("no matching record")
            self._pump(0.2)

    def stopped(self, timeout: float = 15) -> Dict[str, object]:
        r = self.wait(lambda r: r["type"] == "notify" and r["message"] == "stopped", timeout)
        return r["payload"]  # type: ignore[return-value]

    def close(self) -> None:
        self.ctl.exit()


def _serve(target: FakeTarget) -> Iterator[Tuple[FakeTarget, Server, int]]:
    server = Server(target)
    ports: List[int] = []
    ready = threading.Event()

    def on_ready(port: int) -> None:
        ports.append(port)
        ready.set()

    th = threading.Thread(target=server.serve_tcp,
                          kwargs=dict(host="127.0.0.1", port=0, ready_callback=on_ready),
                          daemon=True)
    th.start()
    assert ready.wait(5)
    yield target, server, ports[0]
    server.shutdown()
    th.join(5)
    assert not th.is_alive()


@pytest.fixture
def served() -> Iterator[Tuple[FakeTarget, Server, int]]:
    yield from _serve(demo_target())


@pytest.fixture
def served_reversible() -> Iterator[Tuple[FakeTarget, Server, int]]:
    target = ReversibleFakeTarget()
    target.load(ENTRY, [ADD_R0_1, NOP, ADD_R0_1, B_SELF])
    yield from _serve(target)


@pytest.fixture
def gdb() -> Iterator[MiGdb]:
    g = MiGdb()
    yield g
    g.close()


def _connect(gdb: MiGdb, where: str) -> None:
    rec, _ = gdb.cmd("-gdb-set architecture arm")
    assert rec["message"] == "done"
    rec, _ = gdb.cmd(f"-target-select remote {where}")
    assert rec["message"] == "connected", rec


def _pc(gdb: MiGdb) -> int:
    rec, _ = gdb.cmd("-data-evaluate-expression $pc")
    text = str(rec["payload"]["value"])  # type: ignore[index]
    return int(text.split()[0], 0)


def test_session(served: Tuple[FakeTarget, Server, int], gdb: MiGdb) -> None:
    target, server, port = served
    _connect(gdb, f"127.0.0.1:{port}")

    # The target description was accepted: core, VFP and the hyp feature's registers.
    rec, _ = gdb.cmd("-data-list-register-names")
    names = rec["payload"]["register-names"]  # type: ignore[index]
    for n in ("r0", "sp", "pc", "cpsr", "d0", "fpscr", "hcr", "vttbr", "hsr"):
        assert n in names
    assert names.index("cpsr") == 25  # GDB's number for cpsr, as in arm-core.xml

    _, text = gdb.console("info registers")
    assert "cpsr" in text and "0x1da" in text
    assert "hsr" in text and "0x4a000012" in text

    _, text = gdb.console("x/4wx 0x40000000")
    assert "0xe2800001\t0xe1a00000\t0xe2800001\t0xeafffffe" in text

    rec, _ = gdb.cmd(f"-break-insert *{ENTRY + 8:#x}")
    assert rec["message"] == "done"
    gdb.cmd("-exec-continue")
    stop = gdb.stopped()
    assert stop["reason"] == "breakpoint-hit"
    assert int(str(stop["frame"]["addr"]), 16) == ENTRY + 8  # type: ignore[index]
    assert target.regs["r0"] == 1

    gdb.cmd("-exec-step-instruction")
    stop = gdb.stopped()
    assert stop["reason"] == "end-stepping-range"
    assert _pc(gdb) == ENTRY + 12 and target.regs["r0"] == 2

    # Ctrl-C (SIGINT to GDB, as a terminal sends it) while the machine spins on "b .".
    gdb.cmd("-exec-continue")
    assert target.running.wait(10)
    gdb.ctl.gdb_process.send_signal(signal.SIGINT)  # type: ignore[union-attr]
    stop = gdb.stopped()
    assert stop["reason"] == "signal-received" and stop["signal-name"] == "SIGINT"
    assert _pc(gdb) == ENTRY + 12

    _, text = gdb.console("monitor help")
    assert "step-irq" in text and "space" in text and "hyp" in text
    rec, text = gdb.console("monitor step-irq on")
    assert rec["message"] == "done" and target.options["step_irq"] is True
    rec, text = gdb.console("monitor no-such-command")
    assert rec["message"] == "error" and "no-such-command" in text

    rec, _ = gdb.cmd("-target-detach")
    assert rec["message"] == "done"
    assert target.breakpoints == set()

    # A fresh connection sees the same, still halted, machine.
    rec, _ = gdb.cmd(f"-target-select remote 127.0.0.1:{port}")
    assert rec["message"] == "connected"
    assert _pc(gdb) == ENTRY + 12 and target.regs["r0"] == 2


def test_threads_are_worlds(served: Tuple[FakeTarget, Server, int], gdb: MiGdb) -> None:
    target, server, port = served
    _connect(gdb, f"127.0.0.1:{port}")
    rec, _ = gdb.cmd("-thread-info")
    threads = rec["payload"]["threads"]  # type: ignore[index]
    assert [t["name"] for t in threads] == ["host", "hyp", "guest vmid 1"]
    assert rec["payload"]["current-thread-id"] == "2"  # type: ignore[index]
    gdb.cmd("-thread-select 3")
    assert _pc(gdb) == 0x80000000  # the guest's saved context


def test_watchpoint(served: Tuple[FakeTarget, Server, int], gdb: MiGdb) -> None:
    # GDB treats ARM watchpoints as non-steppable: the stub stops before the access and
    # GDB steps over it, then reports old and new value at the next instruction.
    target, server, port = served
    target.load(ENTRY, [NOP, 0xE5810000, ADD_R0_1, NOP, B_SELF])  # str r0, [r1]
    target.regs.update(r0=5, r1=RAM1 + 0x10)
    _connect(gdb, f"127.0.0.1:{port}")
    rec, _ = gdb.console(f"watch *(int *){RAM1 + 0x10:#x}")
    assert rec["message"] == "done"
    gdb.cmd("-exec-continue")
    stop = gdb.stopped()
    assert stop["reason"] == "watchpoint-trigger"
    assert stop["value"] == {"old": "0", "new": "5"}
    assert _pc(gdb) == ENTRY + 8 and target.regs["r0"] == 5


def test_reverse_stepi(served_reversible: Tuple[FakeTarget, Server, int], gdb: MiGdb) -> None:
    # qSupported ReverseStep+ lets GDB send bs for reverse-stepi (Packets, bs).
    target, server, port = served_reversible
    _connect(gdb, f"127.0.0.1:{port}")
    for _ in range(2):
        gdb.cmd("-exec-step-instruction")
        gdb.stopped()
    assert _pc(gdb) == ENTRY + 8
    rec, _ = gdb.cmd("-exec-step-instruction --reverse")
    assert rec["message"] == "running"
    gdb.stopped()
    assert _pc(gdb) == ENTRY + 4


def test_stdio_transport(gdb: MiGdb) -> None:
    # target remote | COMMAND: packets on the command's stdin/stdout.
    fake = Path(__file__).with_name("gdbstub_fake.py")
    _connect(gdb, f"| {sys.executable} {fake}")
    assert _pc(gdb) == ENTRY
    rec, _ = gdb.cmd("-exec-step-instruction")
    gdb.stopped()
    assert _pc(gdb) == ENTRY + 4
    rec, _ = gdb.cmd("-target-detach")
    assert rec["message"] == "done"
