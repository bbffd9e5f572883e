"""Reverse execution through gdb-multiarch on the world-switch example (history is kept by
``hypdbg serve`` by default). GDB's manual: reverse-stepi undoes one instruction;
reverse-continue runs backwards to the previous stop event."""
from __future__ import annotations

from pathlib import Path

import pytest

ELF = str(Path(__file__).resolve().parent.parent / "examples" / "worldswitch" / "worldswitch.elf")
CORE = tuple(f"r{n}" for n in range(13)) + ("sp", "lr", "pc", "cpsr")


def _state(s, thread=None):
    regs = s.registers(thread=thread, names=CORE)
    mem = s.cli("x/16wx 0x40104f00")                         # the Hyp stack while the guest runs
    return regs, mem


def test_reverse_stepi_lands_in_the_guest_with_its_registers(hyp_session):
    s = hyp_session(ELF)
    s.catch("trap", "wfx")
    s.cont()                                                  # Hyp vector after the guest's WFI
    at_exit = _state(s)
    guest_saved = s.registers(thread=3, names=CORE)
    stop = s._run("-exec-step-instruction --reverse")
    assert stop.thread == 3                                   # back in the guest world
    assert stop.pc == s.symbol("guest_wfi")                  # on the trapped WFI itself
    assert s.registers(thread=3, names=CORE) == guest_saved  # what the exit saved is what ran
    s.mi("-thread-select 2")
    forward = s.stepi()                                       # the WFI traps again
    assert forward.pc == s.symbol("hyp_vectors") + 0x14
    assert _state(s) == at_exit                               # registers and memory as before


def test_reverse_continue_stops_at_the_previous_catchpoint(hyp_session):
    s = hyp_session(ELF)
    s.catch("hvc", "from", "guest")
    first = s.cont()
    first_count = int(s.monitor("when"))
    second = s.cont()
    assert int(s.monitor("when")) > first_count
    back = s._run("-exec-continue --reverse")
    assert back.pc == first.pc and int(s.monitor("when")) == first_count
    assert back.thread == 2 and s.register("hsr") == s.register("hsr", thread=2)
    assert s.register("hsr") >> 26 == 0x12                   # the HVC exit's syndrome again
    again = s.cont()
    assert again.pc == second.pc


def test_registers_after_a_stop_in_another_thread_are_that_threads():
    """GDB records the thread of a stop reply as the general thread and sends no Hg for it
    (GDB's remote.c, record_currthread): after `thread 1` and a reverse step that stops in
    the hypervisor, the registers GDB reads must be the CPU's, not the host's saved context.
    In the broken example the two r4 differ: the host's saved r4 is &vcpu0, the CPU's is the
    guest's r4 that the faulty world switch leaves behind (examples/worldswitch/README.md)."""
    import subprocess
    import sys

    from hypdbg.testing import find_gdb
    if find_gdb() is None:
        pytest.skip("no GDB")
    broken = ELF.replace("worldswitch.elf", "worldswitch-broken.elf")
    res = subprocess.run([sys.executable, "-m", "hypdbg.cli", "gdb", broken, "--batch",
                          "--ex", "catch-hvc 1 from guest", "--ex", "continue",
                          "--ex", "monitor catch delete all", "--ex", "catch-eret host",
                          "--ex", "continue", "--ex", "thread 3", "--ex", "p $r4",
                          "--ex", "thread 1", "--ex", "reverse-stepi",
                          "--ex", "printf \"R4=%x VCPU=%x\\n\", $r4, &vcpu0"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    assert "R4=40200378 VCPU=40000f48" in out, out[-1500:]      # guest_state, not &vcpu0
