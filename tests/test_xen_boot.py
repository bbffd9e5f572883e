"""Debian's Xen 4.17 boots on hypdbg with Debian's Linux as dom0 (loaded as multiboot modules
through QEMU's guest-loader options) to dom0's BusyBox shell, and gdb-multiarch stops on
dom0's first hypercall; dom0's ``poweroff -f`` then halts the machine through Xen.

Expectations: Linux makes Xen hypercalls with HVC #0xEA1 (Xen's public ABI,
xen/include/public/arch-arm.h: "HVC #0xEA1", hypercall number in r12); an HVC taken to Hyp
reports HSR.EC 0x12 with IL=1 and the immediate in ISS (ARM ARM B3.13.6), and ELR_hyp holds
the address of the instruction after the HVC (B1.14.1, preferred return address).
Xen answers dom0's power-off with "Hardware Dom0 halted: halting machine" and turns the
machine off (PSCI SYSTEM_OFF), which GDB sees as the end of the program.
"""
from __future__ import annotations


import pytest

from bootimages import MARKER, boot_images
from hypdbg.testing import HypSession, find_gdb

pytestmark = pytest.mark.skipif(find_gdb() is None, reason="no gdb-multiarch")

XEN_HVC_IMM = 0xEA1
HSR_HVC = (0x12 << 26) | (1 << 25) | XEN_HVC_IMM
#: ARM encoding of HVC #0xEA1 (A1: cond 1110, 0001 0100, imm12, 0111, imm4)
HVC_XEN = 0xE1400070 | ((XEN_HVC_IMM >> 4) << 8) | (XEN_HVC_IMM & 0xF)


def test_xen_dom0_hypercall_and_shell() -> None:
    cache = boot_images("xen", "vmlinuz", "initrd.gz")
    if not (cache / "xen").exists():
        pytest.skip("no Xen image")
    args = ["-append", "dom0_mem=512M console=dtuart dtuart=/pl011@9000000", "-m", "1024",
            "-device", f"guest-loader,addr=0x42000000,kernel={cache / 'vmlinuz'},bootargs=console=hvc0",
            "-device", f"guest-loader,addr=0x47000000,initrd={cache / 'initrd.gz'}"]
    s = HypSession(str(cache / "xen"), timeout=900, serve_args=args, symbols=False, uart_input=True)
    console = bytearray()
    reader = s.read_uart(console)
    try:
        s.catch("hvc", hex(XEN_HVC_IMM))
        stop = s.cont()
        assert "hvc" in stop.console.lower(), stop.console
        assert s.register("hsr") == HSR_HVC
        names = {t["name"]: int(t["id"]) for t in s.threads()}
        assert "guest vmid 1" in names, names        # dom0 is Xen's domain 0, VMID 1
        dom0 = s.registers(thread=names["guest vmid 1"], names=("pc", "cpsr", "r12"))
        assert dom0["cpsr"] & 0x1F == 0x13               # the dom0 kernel, in SVC
        assert dom0["r12"] < 64                          # a hypercall number of public/xen.h
        assert s.register("elr_hyp", thread=names["hyp"]) == dom0["pc"]
        s.mi(f"-thread-select {names['guest vmid 1']}")      # memory as dom0 sees it
        word = s.cli(f"x/wx {dom0['pc'] - 4}")
        assert f"{HVC_XEN:#010x}" in word, word
        s.monitor("catch delete all")
        s.mi("-exec-continue")
        for _ in range(900):
            if MARKER in console:
                break
            reader.join(timeout=1)
        assert MARKER in console, console[-2000:].decode(errors="replace")
        assert b"(XEN) Freed" in console
        assert b"Xen 4.17 support found" in console
        s.type(b"poweroff -f\n")
        stop = s.wait_stop()
        assert stop.reason == "exited-normally", (stop, console[-2000:].decode(errors="replace"))
        halted = b"(XEN) Hardware Dom0 halted: halting machine"
        for _ in range(10):
            if halted in console:
                break
            reader.join(timeout=1)
        assert halted in console, console[-2000:].decode(errors="replace")
    finally:
        s.close()
