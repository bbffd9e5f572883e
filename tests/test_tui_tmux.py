"""The TUI in a real terminal (tmux): host and guest contexts side by side at a hyp exit.

The image runs a host in SVC that asks the hypervisor (HVC #1) to enter a
guest (HCR.VM=1, VMID 5, identity stage 2); the guest sets r0/r1 and calls
HVC #2. At that exit (caught with ``catch hvc from guest``):
- HSR = 0x4a000002: EC 0x12 (HVC), IL 1, ISS imm16 = 2 (ARM ARM B3.13.6);
- ELR_hyp and the guest's saved PC = the instruction after the guest's HVC (B1.9.11);
- the host's saved context is where it left at its own HVC #1 (its PC after that HVC);
- the world is the guest of VTTBR.VMID 5 (VMID is VTTBR[55:48], B4.1.159).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hypdbg.tui.gdbmi import find_gdb
from tests.asmutil import AS

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None or AS is None or find_gdb() is None,
                                reason="tmux, binutils or an ARM GDB missing")
COLUMNS, ROWS = 160, 50

GUEST_IMAGE = r"""
.syntax unified
.arm
.global _start
_start:
  ldr sp, =0x40080000
  ldr r0, =hyp_vectors
  mcr p15, 4, r0, c12, c0, 0      @ HVBAR
  mov r0, #0x1d3
  msr SPSR_fsxc, r0
  ldr r0, =host
  msr ELR_hyp, r0
  eret                            @ to the host, SVC mode
host:
  ldr sp, =0x40070000
  ldr r0, =0x40570000
  mov r1, #0x11
  hvc #1                          @ run the guest
host_after_hvc:
  ldr r0, =0x84000008             @ PSCI SYSTEM_OFF
  smc #0
  b .
guest:
  ldr sp, =0x40060000
  ldr r0, =0x60d60d00
  mov r1, #0x22
  hvc #2
guest_after_hvc:
  b .
.align 5
hyp_vectors:
  b .
  b .
  b .
  b .
  b .
  b hyp_trap                      @ HVBAR + 0x14: Hyp Trap
  b .
  b .
hyp_trap:
  mrc p15, 4, r2, c1, c1, 0       @ HCR
  tst r2, #1
  bne from_guest
  mrs r3, ELR_hyp
  ldr r2, =host_resume
  str r3, [r2]
  ldr r2, =0x80000040             @ VTCR: SL0 = 1 (start at level 1), T0SZ = 0
  mcr p15, 4, r2, c2, c1, 2
  ldr r2, =s2_table
  mov r3, #0x50000                @ VTTBR[55:48] = VMID 5
  mcrr p15, 6, r2, r3, c2
  mov r2, #1                      @ HCR.VM
  mcr p15, 4, r2, c1, c1, 0
  isb
  ldr r2, =guest
  msr ELR_hyp, r2
  mov r2, #0x1d3
  msr SPSR_fsxc, r2
  eret
from_guest:
  mov r2, #0
  mcr p15, 4, r2, c1, c1, 0
  isb
  ldr r2, =host_resume
  ldr r2, [r2]
  msr ELR_hyp, r2
  mov r2, #0x1d3
  msr SPSR_fsxc, r2
  eret
.ltorg
.align 5
s2_table:                         @ 1 GB level-1 blocks, identity, normal memory, RW, AF
  .word 0x000007fd, 0
  .word 0x400007fd, 0
  .word 0x800007fd, 0
  .word 0xc00007fd, 0
host_resume:
  .word 0
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tuitmux")
    src, obj, exe = out / "guest.S", out / "guest.o", out / "guest.elf"
    src.write_text(GUEST_IMAGE)
    subprocess.run(["arm-none-eabi-as", "-march=armv7ve", "-o", str(obj), str(src)], check=True)
    subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-o", str(exe), str(obj)], check=True)
    return exe


def _symbols(elf: Path) -> dict:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
    return {name: int(addr, 16) for addr, _, name in (line.split() for line in out.splitlines())}


class Tmux:
    """A private tmux server (its own socket) running one command in a fixed-size window."""

    def __init__(self, command: list) -> None:
        self.socket = f"hypdbg-tui-test-{os.getpid()}"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(COLUMNS), "-y", str(ROWS),
                   " ".join(_quote(c) for c in command))

    def _tmux(self, *args: str, check: bool = True) -> str:
        return subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, check=check, timeout=10).stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t", check=False)

    def alive(self) -> bool:
        return subprocess.run([TMUX, "-L", self.socket, "has-session", "-t", "t"],
                              capture_output=True).returncode == 0

    def wait_for(self, pred, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if pred(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("screen never matched:\n" + text)
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _serving(image: Path) -> bool:
    """Is a ``hypdbg serve`` of this image still running? (the TUI must stop the one it started)"""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and str(image).encode() in cmdline:
            return True
    return False


def _row(screen: str, *parts: str) -> str:
    for line in screen.splitlines():
        if all(p in line for p in parts):
            return line
    raise AssertionError(f"no line with {parts} in:\n{screen}")


def test_host_and_guest_side_by_side_at_a_guest_hvc(image):
    sym = _symbols(image)
    t = Tmux([sys.executable, "-m", "hypdbg.tui.main", str(image)])
    try:
        t.wait_for(lambda s: "connected to" in s)
        t.keys("catch hvc from guest", "Enter")
        t.wait_for(lambda s: "catchpoint 1: catch hvc from guest" in s)
        t.keys("F5")
        screen = t.wait_for(lambda s: "stopped (" in s and "0x4a000002" in s)
        # both contexts on the same rows: host on the left, the guest (VMID 5) beside it
        title = _row(screen, "host (thread 1) saved", "guest vmid 5 (thread 3) saved")
        assert title.index("host") < title.index("guest vmid 5")
        _row(screen, "r0  0x40570000", "r0  0x60d60d00")
        _row(screen, "r1  0x00000011", "r1  0x00000022")
        pcs = _row(screen, f"pc  {sym['host_after_hvc']:#010x}", f"pc  {sym['guest_after_hvc']:#010x}")
        assert pcs.index(f"{sym['host_after_hvc']:#010x}") < pcs.index(f"{sym['guest_after_hvc']:#010x}")
        _row(screen, "at   host_after_hvc", "at   guest_after_hvc")
        # the hyp pane at the guest's exit
        _row(screen, "HSR", "0x4a000002", "HVC #0x2")
        _row(screen, "ELR_hyp", f"{sym['guest_after_hvc']:#010x}")
        _row(screen, "VTTBR", "VMID 5")
        _row(screen, "HCR", "0x00000001", "VM")
        # the hypervisor stopped at its trap vector, HVBAR + 0x14 (B1.8.1)
        _row(screen, "hyp live pc", f"{sym['hyp_vectors'] + 0x14:#010x}")
        assert f"HVC #0x2 from guest vmid 5 at {sym['guest_after_hvc']:#010x}" in screen
        t.keys("quit", "Enter")
        deadline = time.monotonic() + 10
        while t.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not t.alive()
        assert not _serving(image)
    finally:
        t.kill()


def test_resize_relays_the_screen_and_the_stub_dies_with_the_tui(image):
    t = Tmux([sys.executable, "-m", "hypdbg.tui.main", str(image)])
    try:
        wide = t.wait_for(lambda s: "connected to" in s and "hyp live pc 0x40000000" in s)
        assert " hyp " in _row(wide, "host (thread 1)")
        t._tmux("resize-window", "-t", "t", "-x", "100", "-y", "70")
        narrow = t.wait_for(lambda s: any("host (thread 1)" in line and " hyp " not in line
                                          for line in s.splitlines()))
        assert max(len(line) for line in narrow.splitlines()) <= 100
        # the TUI dying without clean-up (SIGKILL) still takes its stub with it
        assert _serving(image)
        os.kill(int(t._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip()), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _serving(image) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _serving(image)
    finally:
        t.kill()


WORLDSWITCH = Path(__file__).resolve().parent.parent / "examples" / "worldswitch" / "worldswitch.elf"


def test_worldswitch_demo_contexts_at_a_guest_hypercall():
    """The served world-switch demo (examples/worldswitch/README.md): at the guest's
    HVC #2 (guest_puthex), the host waits after its own HVC in host_call_hyp and the guest
    (VMID 1) is saved after its HVC; ELR_hyp is the guest's return address (B1.9.11)."""
    from hypdbg.core.loader import load_elf
    sym = {k: v & ~1 for k, v in load_elf(str(WORLDSWITCH)).symbols.items()}
    t = Tmux([sys.executable, "-m", "hypdbg.tui.main", str(WORLDSWITCH)])
    try:
        t.wait_for(lambda s: "connected to" in s)
        t.keys("catch hvc 2 from guest", "Enter")
        t.wait_for(lambda s: "catchpoint 1:" in s)
        t.keys("F5")
        screen = t.wait_for(lambda s: "stopped (" in s and "0x4a000002" in s)
        host_pc, guest_pc = sym["host_call_hyp"] + 4, sym["guest_puthex"] + 4
        pcs = _row(screen, f"pc  {host_pc:#010x}", f"pc  {guest_pc:#010x}")
        assert pcs.index(f"{host_pc:#010x}") < pcs.index(f"{guest_pc:#010x}")
        _row(screen, "HSR", "0x4a000002", "HVC #0x2")
        _row(screen, "ELR_hyp", f"{guest_pc:#010x}")
        _row(screen, "VTTBR", "VMID 1")
        t.keys("quit", "Enter")
    finally:
        t.kill()
