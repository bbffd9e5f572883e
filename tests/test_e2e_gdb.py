"""End to end: real gdb-multiarch, driven through pygdbmi, against ``hypdbg serve``.

Expectations come from GDB's documented behaviour and from the ARM ARM: an HVC
from SVC enters Hyp at HVBAR+0x14 with HSR 0x4a000012 (EC 0x12, IL 1, imm16) and
ELR_hyp = the instruction after the HVC (B1.9.11, armv7-virt.md 2.2).
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.asmutil import AS

GDB = __import__("shutil").which("gdb-multiarch")
pytestmark = pytest.mark.skipif(GDB is None or AS is None, reason="gdb-multiarch or binutils missing")
HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def elf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e")
    obj, exe = out / "a.o", out / "a.elf"
    subprocess.run(["arm-none-eabi-as", "-march=armv7ve", "-o", str(obj),
                    str(HERE / "e2e" / "hvc_roundtrip.S")], check=True)
    subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-o", str(exe), str(obj)], check=True)
    return exe


@pytest.fixture()
def served(elf):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hypdbg.cli", "serve", str(elf), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    proc.kill()
    proc.wait()


def _symbol(elf: Path, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        addr, _, sym = line.split()
        if sym == name:
            return int(addr, 16)
    raise KeyError(name)


def _gdb(elf: Path, port: int, commands):
    from pygdbmi.gdbcontroller import GdbController
    gdb = GdbController(command=[GDB, "--nx", "--quiet", "--interpreter=mi3"])
    try:
        out = []
        for cmd in ["-gdb-set architecture arm", f"-file-exec-and-symbols {elf}",
                    f"-target-select remote 127.0.0.1:{port}"] + commands:
            resp = gdb.write(cmd, timeout_sec=20)
            if cmd.startswith(("-exec-continue", "-exec-step")) and not any(
                    r.get("message") == "stopped" for r in resp):
                resp += gdb.get_gdb_response(timeout_sec=20, raise_error_on_timeout=False)
            out.append(resp)
        return out
    finally:
        gdb.exit()


def _value(resp) -> int:
    """The number GDB printed (a pointer prints as '0x... <symbol+off>')."""
    for r in resp:
        if r.get("message") == "done" and r.get("payload") and "value" in r["payload"]:
            return int(r["payload"]["value"].split()[0], 0)
    raise AssertionError(resp)


def _console(resp) -> str:
    return "".join(r["payload"] for r in resp if r.get("type") in ("console", "target"))


def test_catch_hvc_stops_in_hyp_with_hsr_and_world_threads(elf, served):
    after_hvc = _symbol(elf, "after_hvc")
    hyp_vectors = _symbol(elf, "hyp_vectors")
    res = _gdb(elf, served, ['-interpreter-exec console "monitor catch hvc 0x12 from host"',
                             "-exec-continue",
                             '-data-evaluate-expression "$pc"',
                             '-data-evaluate-expression "$hsr"',
                             '-data-evaluate-expression "$elr_hyp"',
                             "-thread-info",
                             '-interpreter-exec console "monitor exits"'])
    stop = [r for r in res[4] if r.get("message") == "stopped"]
    assert stop, res[4]
    # Hyp Trap vector: HVBAR + 0x14 (the image's 6th vector branches to hyp_trap)
    assert (_value(res[5])) == hyp_vectors + 0x14
    assert (_value(res[6])) == 0x4A000012
    assert (_value(res[7])) == after_hvc
    threads = {t["id"]: t for t in res[8][-1]["payload"]["threads"]}
    assert threads["1"]["name"] == "host" and threads["2"]["name"] == "hyp"
    assert int(threads["1"]["frame"]["addr"], 16) == after_hvc
    assert "HVC #0x12 from host" in _console(res[9]) + _console(res[4])


def test_breakpoint_stepi_and_registers(elf, served):
    after_svc = _symbol(elf, "after_svc")
    res = _gdb(elf, served, [f"-break-insert *{after_svc:#x}", "-exec-continue",
                             '-data-evaluate-expression "$pc"',
                             "-exec-step-instruction",
                             '-data-evaluate-expression "$pc"',
                             '-data-evaluate-expression "$r0"',
                             '-data-evaluate-expression "$cpsr & 0x1f"'])
    assert (_value(res[5])) == after_svc
    assert (_value(res[7])) == after_svc + 4
    assert (_value(res[8])) == ord("E")          # mov r0, #'E' executed
    assert (_value(res[9])) == 0x13               # back in SVC after the SVC handler's movs pc, lr
