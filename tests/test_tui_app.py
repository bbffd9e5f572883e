"""The TUI application driven by keystrokes against a real served image (and QEMU's stub).

Keys go in through prompt_toolkit's pipe input; the screen is read back as
text. Expected values: an HVC from SVC enters Hyp at HVBAR+0x14 with HSR
0x4a000012 (EC 0x12, IL 1, imm16 0x12) and ELR_hyp = the instruction after
the HVC (ARM ARM B1.9.11, B3.13.6); the host's saved PC is that same return
address. GDB's documented MI behaviour gives the rest.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from hypdbg.tui.app import TuiApp
from hypdbg.tui.gdbmi import find_gdb
from hypdbg.tui.session import Session
from hypdbg.tui.stub import ServedImage, free_port
from tests.asmutil import AS

pytestmark = pytest.mark.skipif(find_gdb() is None or AS is None, reason="ARM GDB or binutils missing")
HERE = Path(__file__).parent
F5, F7, F10, F11 = "\x1b[15~", "\x1b[18~", "\x1b[21~", "\x1b[23~"
CTRL_C, CTRL_D, TAB, UP = "\x03", "\x04", "\t", "\x1b[A"


class VirtualOutput(DummyOutput):
    """An output that draws nothing but has a terminal size, so the app lays out as on a screen."""

    def __init__(self, columns: int, rows: int) -> None:
        self.size = Size(rows=rows, columns=columns)

    def get_size(self) -> Size:
        return self.size


class Harness:
    """The TUI running on its own thread, fed keys through a pipe."""

    def __init__(self, target: str, elf: Optional[str], uart: Optional[Callable[[], str]] = None) -> None:
        self.stack = contextlib.ExitStack()
        self.pipe = self.stack.enter_context(create_pipe_input())
        self.session = Session(target, elf)
        self.tui = TuiApp(self.session, uart=uart, input=self.pipe, output=VirtualOutput(160, 50))
        self.session.start().result(20)
        self.result: list = []
        started = threading.Event()

        def run() -> None:
            self.result.append(self.tui.app.run(pre_run=started.set, handle_sigint=False))
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)
        self.wait_for(lambda s: "(hypdbg)" in s)

    def keys(self, text: str) -> None:
        self.pipe.send_text(text)

    def screen(self, width: int = 160, height: int = 50) -> str:
        return self.tui.capture(width, height)

    def wait_for(self, pred: Callable[[str], bool], timeout: float = 10.0, **size: int) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(**size)
            if pred(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("screen never matched:\n" + text)
            time.sleep(0.05)

    def close(self) -> None:
        if self.thread.is_alive():
            self.tui.app.loop.call_soon_threadsafe(self.tui.leave)
            self.thread.join(5)
        self.session.close()
        self.stack.close()


def _symbols(elf: Path) -> dict:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
    return {name: int(addr, 16) for addr, _, name in (line.split() for line in out.splitlines())}


@pytest.fixture(scope="module")
def elf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tui")
    obj, exe = out / "a.o", out / "a.elf"
    subprocess.run(["arm-none-eabi-as", "-march=armv7ve", "-o", str(obj),
                    str(HERE / "e2e" / "hvc_roundtrip.S")], check=True)
    subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-o", str(exe), str(obj)], check=True)
    return exe


@pytest.fixture()
def served(elf) -> Iterator[ServedImage]:
    stub = ServedImage(str(elf))
    yield stub
    stub.close()


@pytest.fixture()
def tui(elf, served) -> Iterator[Harness]:
    h = Harness(served.address, str(elf), uart=served.uart_text)
    yield h
    h.close()


def _line_with(screen: str, *parts: str) -> str:
    for line in screen.splitlines():
        if all(p in line for p in parts):
            return line
    raise AssertionError(f"no line with {parts} in:\n{screen}")


def test_catch_hvc_shows_hsr_and_the_saved_host_pc(tui, elf):
    sym = _symbols(elf)
    tui.keys("catch hvc\r")
    tui.wait_for(lambda s: "catchpoint 1: catch hvc" in s)
    tui.keys(F5)
    screen = tui.wait_for(lambda s: "0x4a000012" in s and "saved @" in s)
    # Hyp pane: HSR of an HVC #0x12 from a non-Hyp mode (B3.13.6), ELR_hyp = return address
    _line_with(screen, "HSR", "0x4a000012", "HVC #0x12")
    _line_with(screen, "ELR_hyp", f"{sym['after_hvc']:#010x}", "after_hvc")
    # The hypervisor runs at HVBAR + 0x14, the Hyp Trap vector (B1.8.1)
    _line_with(screen, "hyp live pc", f"{sym['hyp_vectors'] + 0x14:#010x}")
    # The host context is the saved one, at the instruction after the HVC, in SVC mode
    host_title = _line_with(screen, "host (thread 1) saved")
    assert " hyp " in host_title                    # host and hyp side by side at 160 columns
    col = host_title.index("host (thread 1)")
    pc_line = _line_with(screen, "pc  ", f"{sym['after_hvc']:#010x}")
    assert pc_line.index(f"{sym['after_hvc']:#010x}") < col + 48
    assert "svc" in _line_with(screen, "cpsr 0x000001d3")
    # The UART pane shows what the stub's machine printed before the HVC ('A')
    assert _line_with(screen, "UART")
    assert any(line.startswith("│A ") for line in screen.splitlines())


def test_break_f5_f11_and_disassembly(tui, elf):
    sym = _symbols(elf)
    tui.keys("break after_svc\r")
    tui.wait_for(lambda s: "breakpoint 1 at" in s)
    tui.keys(F5)
    screen = tui.wait_for(lambda s: "breakpoint 1)" in s)
    assert f"=>b {sym['after_svc']:#010x}" in screen, "\n".join(tui.session.gdb.trace)
    _line_with(screen, "host (thread 1) LIVE")
    tui.keys(F11)
    # mov r0, #'E' executed (the instruction at after_svc): PC advances by 4 in ARM state
    screen = tui.wait_for(lambda s: f"pc  {sym['after_svc'] + 4:#010x}" in s)
    _line_with(screen, "r0  0x00000045")
    tui.keys(F10)          # next: over "bl putc", to the instruction after it
    tui.wait_for(lambda s: f"pc  {sym['after_svc'] + 8:#010x}" in s)
    tui.keys(F7)           # reverse-stepi: back into putc's last instruction (bx lr)
    screen = tui.wait_for(lambda s: f"pc  {sym['putc'] + 8:#010x}" in s)
    _line_with(screen, "r0  0x00000045")


def test_ctrl_c_interrupts_a_running_target(tui, elf):
    sym = _symbols(elf)
    # hyp_vectors starts with "b ." (a branch to itself): the target runs until interrupted
    tui.keys("set pc hyp_vectors\r")
    tui.wait_for(lambda s: f"hyp live pc {sym['hyp_vectors']:#010x}" in s)
    tui.keys(F5)
    tui.wait_for(lambda s: "running (Ctrl-C to interrupt)" in s)
    tui.keys(CTRL_C)
    # GDB reports an interrupted target as stopped by SIGINT (GDB manual, GDB/MI Async Records)
    screen = tui.wait_for(lambda s: "stopped (interrupted) in hyp" in s)
    _line_with(screen, "hyp live pc", f"{sym['hyp_vectors']:#010x}")


def test_command_line_history_and_completion(tui):
    tui.keys("brea" + TAB)
    tui.wait_for(lambda s: "(hypdbg) break" in s)
    assert tui.tui.buffer.text.startswith("break")
    tui.keys(CTRL_C)       # not running: clears the line
    tui.wait_for(lambda s: _line_with(s, "(hypdbg)").strip() == "(hypdbg)")
    tui.keys("x _start 2\r")
    # the first two words of the image: ldr sp, =...; ldr r0, =... (GNU as encodings e59fd... e59f0...)
    screen = tui.wait_for(lambda s: "0x40000000: 0xe59fd" in s)
    assert "0xe59f0" in _line_with(screen, "0x40000000: ")
    tui.keys(UP)
    tui.wait_for(lambda s: "(hypdbg) x _start 2" in s)


def test_errors_and_a_lost_connection_leave_the_tui_usable(tui, served):
    tui.keys("break nosuchsym\r")
    tui.wait_for(lambda s: "cannot find 'nosuchsym'" in s)
    tui.keys("stepi 0\r")
    tui.wait_for(lambda s: "count must be positive" in s)
    served.close()
    tui.keys("stepi\r")
    screen = tui.wait_for(lambda s: "connection to the stub is gone" in s or "Remote connection closed" in s)
    assert "(hypdbg)" in screen
    tui.keys("help\r")
    tui.wait_for(lambda s: "translate ADDR" in s)
    tui.keys(CTRL_D)
    tui.thread.join(5)
    assert not tui.thread.is_alive() and tui.result == [0]


def test_narrow_terminal_stacks_the_contexts(tui):
    tui.keys("catch hvc\r")
    tui.wait_for(lambda s: "catchpoint 1: catch hvc" in s)
    tui.keys(F5)
    tui.wait_for(lambda s: "0x4a000012" in s)
    wide = tui.screen(160, 50)
    assert " hyp " in _line_with(wide, "host (thread 1)")
    narrow = tui.screen(100, 90)
    host_row = narrow.splitlines().index(_line_with(narrow, "host (thread 1)"))
    hyp_row = narrow.splitlines().index(_line_with(narrow, "─|  hyp  |─"))
    assert hyp_row > host_row and " hyp " not in narrow.splitlines()[host_row]
    assert max(len(line) for line in narrow.splitlines()) <= 100


QEMU = shutil.which("qemu-system-arm")


@pytest.mark.skipif(QEMU is None, reason="qemu-system-arm missing")
def test_against_qemu_the_hyp_panes_are_left_out(elf):
    port = free_port()
    qemu = subprocess.Popen([QEMU, "-M", "virt,virtualization=on", "-cpu", "cortex-a15", "-m", "256",
                             "-nographic", "-monitor", "none", "-serial", "null", "-kernel", str(elf),
                             "-S", "-gdb", f"tcp:127.0.0.1:{port}"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h = None
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        h = Harness(f"127.0.0.1:{port}", str(elf))
        # QEMU starts an ELF -kernel at its entry point (hw/arm/boot.c), _start here
        screen = h.wait_for(lambda s: "pc  0x40000000" in s)
        assert "─|  hyp  |─" not in screen and "exits" not in screen and "guest" not in screen
        assert "no hyp registers" in screen
        h.keys(F11)
        h.wait_for(lambda s: "pc  0x40000004" in s)
        h.keys("catch hvc\r")
        h.wait_for(lambda s: "no hyp catchpoints" in s)
    finally:
        if h is not None:
            h.close()
        qemu.kill()
        qemu.wait()
