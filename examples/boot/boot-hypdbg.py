#!/usr/bin/env python3
"""Boot a kernel on hypdbg's virt board from a QEMU-style command line.

The UART goes to stdout; the run is bounded by an instruction budget, and on any stop
the script says where and why.

    boot-hypdbg.py -kernel vmlinuz -initrd initrd.gz -append console=ttyAMA0 -m 512 \\
                   --max-insns 2000000000

Until the ``hypdbg`` command takes -initrd/-append/-dtb/-device, this script builds the
machine from ``core.boot.plan_boot`` itself, wired as ``core.board.build_board`` wires it.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from capstone import CS_ARCH_ARM, CS_MODE_ARM, CS_MODE_THUMB, Cs

from hypdbg.core.boot import BootError, BootPlan, parse_device, plan_boot
from hypdbg.core.gic import GicCpuInterface, GicDistributor, GicState
from hypdbg.core.machine import Machine, Stop
from hypdbg.core.pl011 import Pl011
from hypdbg.core.timer import TICKS_PER_INSN, GenericTimer
from hypdbg.core.vgic import GicHypInterface, GicVirtualCpuInterface, VirtualInterface

UART_INTID = 33
MODES = {0x10: "usr", 0x11: "fiq", 0x12: "irq", 0x13: "svc", 0x16: "mon", 0x17: "abt",
         0x1A: "hyp", 0x1B: "und", 0x1F: "sys"}


def build(plan: BootPlan, ram_mb: int, out) -> Machine:
    """The machine of ``build_board`` for a boot plan, started as the plan says."""
    machine = Machine(plan.image(), ram_mb=ram_mb, reset_mode="hyp", deterministic=True)
    gic = GicState()
    vif = VirtualInterface(gic)
    timer = GenericTimer(lambda: machine.vtime * TICKS_PER_INSN, gic.set_level)

    def tx(byte: int) -> None:
        out.write(bytes((byte,)))
        out.flush()

    uart = Pl011(on_tx=tx, irq=lambda level: gic.set_level(UART_INTID, level))
    for dev in (GicDistributor(gic), GicCpuInterface(gic), GicHypInterface(vif),
                GicVirtualCpuInterface(vif), uart):
        machine.add_device(dev)
    machine.gic = gic
    machine.timer = timer
    for n, value in plan.registers.items():
        machine.cpu.set_reg(n, value)
    return machine


def flush_on_tlbi_by_address(machine: Machine) -> None:
    """Flush the whole TLB before a TLB invalidate by address (MCR p15, {0,4}, rt, c8, crm,
    {1,3,5}). unicorn's TLB holds 1 KiB pages and its by-address invalidate drops only the
    1 KiB page holding the address, so the rest of a remapped 4 KiB page (or block) stays
    stale; Linux then writes through its text-patching fixmap into the page mapped before."""
    intercept = machine.intercept
    wanted, handler = intercept.wanted, intercept.handler

    def by_address(insn) -> bool:
        return not insn.is64 and insn.crn == 8 and not insn.read and insn.opc2 in (1, 3, 5)

    def want(insn) -> bool:
        return by_address(insn) or wanted(insn)

    def handle(site) -> bool:
        if site.insn is not None and by_address(site.insn):
            machine.flush_tlb()
            return False
        return handler(site)

    intercept.wanted, intercept.handler = want, handle


def where(machine: Machine) -> str:
    """PC, mode, key system registers and the instructions around PC."""
    cpu = machine.cpu
    pc, thumb = cpu.pc, cpu.thumb
    lines = [f"PC {pc:#010x}{' (Thumb)' if thumb else ''}, mode {MODES.get(cpu.mode, hex(cpu.mode))}, "
             f"CPSR {cpu.cpsr:#010x}, after {machine.icount} instructions (vtime {machine.vtime})"]
    regs = " ".join(f"r{n}={cpu.reg(n):08x}" for n in range(15))
    lines.append(regs)
    sysregs = []
    for name in ("SCTLR", "TTBCR", "TTBR0", "TTBR1", "DFSR", "DFAR", "IFSR", "IFAR", "VBAR",
                 "HSR", "HCR", "HVBAR", "ELR_hyp"):
        try:
            value = cpu.elr_hyp if name == "ELR_hyp" else cpu.sysreg(name)
        except Exception:
            continue
        sysregs.append(f"{name}={value:#x}")
    lines.append(" ".join(sysregs))
    md = Cs(CS_ARCH_ARM, CS_MODE_THUMB if thumb else CS_MODE_ARM)
    start = pc - 16
    try:
        code = machine.read_virt(start, 32)
    except Exception as e:
        lines.append(f"(code at PC unreadable: {e})")
        return "\n".join(lines)
    for insn in md.disasm(code, start):
        mark = "=>" if insn.address == pc else "  "
        lines.append(f"{mark} {insn.address:#010x}: {insn.mnemonic} {insn.op_str}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-kernel", required=True)
    p.add_argument("-initrd")
    p.add_argument("-append")
    p.add_argument("-dtb")
    p.add_argument("-m", type=int, default=256)
    p.add_argument("-device", action="append", default=[])
    p.add_argument("--max-insns", type=lambda s: int(s, 0), default=2_000_000_000)
    p.add_argument("--chunk", type=lambda s: int(s, 0), default=50_000_000,
                   help="report progress on stderr every this many instructions")
    p.add_argument("--break", dest="breaks", action="append", default=[],
                   type=lambda s: int(s, 0), help="report (once) when PC reaches this address, then go on")
    p.add_argument("--log-exceptions", type=int, default=0, metavar="N",
                   help="print the first N exceptions taken (kind, address, instruction)")
    p.add_argument("--no-tlbi-workaround", action="store_true",
                   help="leave TLB invalidates by address to unicorn (see flush_on_tlbi_by_address)")
    p.add_argument("--dump-ram", help="write RAM to this file when the run ends")
    p.add_argument("--stop-on", default="",
                   help="stop once the UART output contains this text")
    args = p.parse_args(argv)
    try:
        plan = plan_boot(args.kernel, args.initrd, args.append, args.dtb, args.m,
                         [parse_device(d) for d in args.device])
    except BootError as e:
        print(f"boot-hypdbg: {e}", file=sys.stderr)
        return 2
    print(plan.describe(), file=sys.stderr)

    seen = bytearray()

    class Out:
        def write(self, data: bytes) -> None:
            sys.stdout.buffer.write(data)
            seen.extend(data)
            del seen[:-4096]

        def flush(self) -> None:
            sys.stdout.buffer.flush()

    machine = build(plan, args.m, Out())
    if not args.no_tlbi_workaround:
        flush_on_tlbi_by_address(machine)
    if args.log_exceptions:
        budget = [args.log_exceptions]

        def log_entry(entry) -> None:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            exc = entry.exc
            try:
                word = int.from_bytes(machine.read_virt(exc.ret - (4 if exc.kind in ("svc", "hvc") else 0), 4),
                                      "little")
            except Exception:
                word = -1
            print(f"[exception] {exc.kind} from {MODES.get(entry.from_mode, '?')} at {exc.ret:#010x} "
                  f"(insn {word:#010x}) -> vector {entry.vector:#010x} at icount {machine.icount} "
                  f"hsr {entry.hsr:#x} {exc.fault_regs}", file=sys.stderr)

        machine.entry.listeners.append(log_entry)
    for addr in args.breaks:
        machine.add_breakpoint(addr)
    t0 = time.monotonic()
    stop = Stop("limit")
    while machine.icount < args.max_insns:
        stop = machine.run(max_insns=min(args.chunk, args.max_insns - machine.icount))
        secs = time.monotonic() - t0
        print(f"\n[boot-hypdbg] {machine.icount} insns, {secs:.1f} s, "
              f"{machine.icount / secs / 1e6:.1f} MIPS, PC {machine.cpu.pc:#010x} "
              f"mode {MODES.get(machine.cpu.mode, '?')}", file=sys.stderr)
        if stop.kind == "breakpoint":
            print(f"[boot-hypdbg] breakpoint\n{where(machine)}", file=sys.stderr)
            machine.remove_breakpoint(machine.cpu.pc)
            continue
        if stop.kind != "limit":
            break
        if args.stop_on and args.stop_on.encode() in seen:
            stop = Stop("marker", f"UART printed {args.stop_on!r}")
            break
    secs = time.monotonic() - t0
    print(f"\n[boot-hypdbg] stop: {stop.kind} {stop.message} after {secs:.1f} s", file=sys.stderr)
    print(where(machine), file=sys.stderr)
    if args.dump_ram:
        with open(args.dump_ram, "wb") as f:
            f.write(machine.read_phys(0x40000000, args.m << 20))
    log = machine.worlds.log
    if log:
        print(f"[boot-hypdbg] last exits ({len(log)} in all):", file=sys.stderr)
        for rec in list(log)[-8:]:
            print(f"  [{rec.icount}] {rec.describe()}", file=sys.stderr)
    return 0 if stop.kind in ("marker", "poweroff") else 1


if __name__ == "__main__":
    sys.exit(main())
