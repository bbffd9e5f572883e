"""Hyp catchpoints, worlds as threads and hyp views on the world-switch example, through
real gdb-multiarch (pygdbmi) and the ``hypdbg.testing`` helper.

Architectural expectations (ARM ARM B1.9.11, armv7-virt.md 2.2-3): an HVC or a trap
from a guest enters Hyp at HVBAR+0x14; a physical IRQ routed by HCR.IMO at HVBAR+0x18;
HSR carries EC/IL/ISS; ELR_hyp the preferred return address. Addresses come from the
example's symbols (examples/worldswitch/README.md).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hypdbg.testing import GdbError

ELF = str(Path(__file__).resolve().parent.parent / "examples" / "worldswitch" / "worldswitch.elf")
HVBAR = 0x40100000  # hyp_vectors


def test_catch_guest_hvc_stops_in_hyp_with_reason_and_worlds(hyp_session):
    s = hyp_session(ELF)
    stop = s.wait_for_exit("hvc", imm=2, world="guest")
    assert stop.pc == HVBAR + 0x14 == s.symbol("hyp_vectors") + 0x14
    assert "hyp exit: HVC #0x2 from guest vmid 1 at 0x40200074, HSR=0x4a000002" in stop.console
    assert stop.thread == 2                                   # the CPU is in the hypervisor
    assert s.register("hsr") == 0x4A000002                    # EC 0x12, IL 1, imm16 2
    assert s.register("elr_hyp") == s.symbol("guest_puthex") + 4
    names = {int(t["id"]): t["name"] for t in s.threads()}
    assert names == {1: "host", 2: "hyp", 3: "guest vmid 1"}
    guest = s.registers(thread=3, names=("pc", "cpsr"))
    assert guest["pc"] == s.symbol("guest_puthex") + 4       # saved at the exit
    assert guest["cpsr"] & 0x1F == 0x13                      # the guest kernel runs in SVC
    host = s.registers(thread=1, names=("pc",))
    assert host["pc"] == s.symbol("host_call_hyp") + 4       # the host waits after its HVC
    s.mi("-thread-select 3")
    with pytest.raises(GdbError):                             # a saved context is read-only
        s.cli("set $r0 = 1")


def test_catch_wfi_trap_and_irq_exit(hyp_session):
    s = hyp_session(ELF)
    stop = s.wait_for_exit("trap", classes=("wfx",))
    assert stop.pc == HVBAR + 0x14
    assert s.register("hsr") == 0x07E00000                    # EC 0x01 WFI, CV=1 COND=AL
    assert s.register("elr_hyp") == s.symbol("guest_wfi")     # the trapped WFI itself
    stop = s.wait_for_exit("irq")
    assert stop.pc == s.symbol("hyp_vectors") + 0x18          # IRQ vector, IMO routing
    assert "IRQ from guest vmid 1" in stop.console
    assert s.register("elr_hyp") == s.symbol("guest_tick_wait")


def test_catch_stage2_abort_carries_mmio_syndrome(hyp_session):
    s = hyp_session(ELF)
    s.wait_for_exit("trap", classes=("dabt",))
    hsr = s.register("hsr")
    assert hsr >> 26 == 0x24 and hsr & (1 << 24)              # DABT from a lower level, ISV
    assert (hsr >> 16) & 0xF == 3 and not hsr & (1 << 6)      # SRT = r3, a read
    assert s.register("hdfar") == 0x08000008                  # the guest VA (GICD_IIDR)
    assert s.register("hpfar") == (0x08000008 >> 12) << 4     # IPA[39:12] in [31:4]


def test_catch_eret_into_guest(hyp_session):
    s = hyp_session(ELF)
    stop = s.wait_for_exit("eret", world="guest:1")
    assert stop.pc == s.symbol("guest_vectors")               # the guest's first instruction
    assert stop.thread == 3
    assert s.register("cpsr") & 0x1F == 0x13


def test_monitor_views_and_bad_input(hyp_session):
    s = hyp_session(ELF)
    s.wait_for_exit("hvc", imm=1, world="guest")
    hyp = s.monitor("hyp")
    assert "HCR" in hyp and "VM" in hyp and "IMO" in hyp and "VMID 1" in hyp
    exits = s.monitor("exits 3")
    assert "HVC #0x1 from guest vmid 1" in exits
    stats = s.monitor("exits stats")
    assert "hvc" in stats and "guest vmid 1" in stats
    for bad in ("frobnicate", "catch hvc zz", "catch eret guest:x", "exits -1", "catch delete 99"):
        with pytest.raises(GdbError):
            s.monitor(bad)
    assert "no catchpoints" in s.monitor("catch list")


def test_hypdbg_gdb_command_loads_the_script():
    """`hypdbg gdb IMAGE` serves the image, starts GDB connected, with catch-hvc/hyp/worlds."""
    import subprocess
    import sys

    from hypdbg.testing import find_gdb
    if find_gdb() is None:
        pytest.skip("no GDB")
    res = subprocess.run([sys.executable, "-m", "hypdbg.cli", "gdb", ELF, "--batch",
                          "--ex", "catch-hvc 2 from guest", "--ex", "continue", "--ex", "hyp",
                          "--ex", "worlds"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr                  # GDB prints monitor output on either
    assert "HSR      0x4a000002" in out
    assert 'Thread 3 "guest vmid 1"' in out


def test_stage2_views_agree_with_what_the_guest_reads(hyp_session):
    """After the guest turned its MMU on (VA 0x90000000 aliases IPA 0x40200000, which stage 2
    maps to PA 0x40400000: examples/worldswitch/README.md), the views walk the same tables
    the guest used, and GDB reads the guest's memory through the guest's translation."""
    s = hyp_session(ELF)
    s.wait_for_exit("hvc", imm=3, world="guest")          # guest_request_tick, MMU on by then
    s2 = s.monitor("s2 translate 0x40200000")
    assert "0x40400000" in s2
    s1 = s.monitor("s1 translate 0x90000000 guest:1")
    assert "0x40200000" in s1 and "0x40400000" in s1       # IPA, then PA
    s.mi("-thread-select 3")
    alias = 0x90000000 + s.symbol("guest_magic") - 0x40200000
    words = s.cli(f"x/wx {alias:#x}")
    assert "0x600dcafe" in words                            # the magic the guest printed
    with pytest.raises(GdbError):
        s.monitor("s1 translate 0x90000000 guest:7")         # no such VMID
