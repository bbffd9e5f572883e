"""TUI panes rendered from plain data (no GDB, no stub).

Expected values come from the ARM ARM (CPSR modes B1.3.1, CPSR.T B1.3.3,
HCR B4.1.65, HSR B3.13.6, VTTBR B4.1.159) and from GNU binutils as the
reference encoder and symbol table.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hypdbg.tui import commands as C
from hypdbg.tui import panes
from hypdbg.tui.disasm import around
from hypdbg.tui.state import Snapshot, World
from hypdbg.tui.symbols import SymbolTable, load_symbols
from tests.asmutil import AS, assemble

needs_as = pytest.mark.skipif(AS is None, reason="binutils-arm-none-eabi missing")
HERE = Path(__file__).parent


def _regs(**over: int) -> dict:
    regs = {f"r{n}": n for n in range(13)}
    regs.update(sp=0x40070000, lr=0x40000034, pc=0x40000038, cpsr=0x1D3)
    regs.update(over)
    return regs


def _style_of(frags, text: str) -> str:
    for style, t in frags:
        if text in t:
            return style
    raise AssertionError(f"{text!r} not rendered")


def test_registers_pane_shows_core_registers_and_cpsr_mode():
    w = World(1, "host", "host [saved at insn 17] pc=0x40000038", False, _regs())
    text = panes.plain_text(panes.registers_pane(w))
    assert "r12 0x0000000c" in text and "pc  0x40000038" in text and "sp  0x40070000" in text
    # CPSR.M = 0b10011 is Supervisor; I, F and A masks are bits 7, 6, 8 (ARM ARM B1.3.1, B1.3.3)
    assert "cpsr 0x000001d3 ---- AIF- svc" in text
    assert "live" not in text


def test_registers_pane_marks_changed_values_and_the_live_world():
    before = _regs()
    after = _regs(r0=0x45, pc=0x40000048)
    frags = panes.registers_pane(World(1, "host", "host [running]", True, after), previous=before)
    assert _style_of(frags, "0x00000045") == "class:changed"
    assert _style_of(frags, "0x40000048") == "class:changed"
    assert _style_of(frags, "0x40070000") == "class:value"       # sp did not change
    assert "live world" in panes.plain_text(frags)


def test_banked_registers_only_with_the_live_world():
    regs = _regs(sp_svc=0x40070000, lr_svc=0x40000034, spsr_svc=0x600001D3, sp_hyp=0x40080000,
                 spsr_hyp=0x1D3, sp_usr=0, lr_usr=0)
    live = panes.plain_text(panes.registers_pane(World(1, "host", "", True, regs)))
    assert "svc  0x40070000 0x40000034 0x600001d3" in live
    assert "hyp  0x40080000" in live
    saved = panes.plain_text(panes.registers_pane(World(1, "host", "host [saved at insn 3]", False, regs)))
    assert "0x600001d3" not in saved and "see the live world" in saved


def test_world_not_run_yet_has_no_registers():
    text = panes.plain_text(panes.registers_pane(World(1, "host", "host [not run yet]", False, _regs())))
    assert "has not run yet" in text and "0x40000038" not in text
    assert panes.context_title(World(1, "host", "host [not run yet]"), "host").strip().endswith("not run yet")
    assert "saved @17" in panes.context_title(World(1, "host", "host [saved at insn 17] pc=0x1"), "host")
    assert "LIVE" in panes.context_title(World(3, "guest vmid 5", "", True), "guest")


def test_hyp_pane_decodes_hsr_hcr_vttbr():
    hyp = {"hcr": 0x2019, "hsr": 0x4A000012, "vttbr": (5 << 48) | 0x40000120, "elr_hyp": 0x40000038,
           "spsr_hyp": 0x1D3, "hvbar": 0x40000080, "vtcr": 0x80000040}
    syms = SymbolTable()
    syms.add("after_hvc", 0x40000038)
    text = panes.plain_text(panes.hyp_pane(hyp, symbols=syms))
    # HCR: VM bit 0, FMO bit 3, IMO bit 4, TWI bit 13 (B4.1.65)
    assert "HCR      0x00002019  VM FMO IMO TWI" in text
    # HSR: EC [31:26] = 0x12 HVC, IL [25] = 1, ISS imm16 = 0x12 (B3.13.6)
    assert "HSR      0x4a000012  EC 0x12 hvc IL 1: HVC #0x12" in text
    # VTTBR.VMID is bits [55:48] (B4.1.159)
    assert "VMID 5" in text
    assert "ELR_hyp  0x40000038  after_hvc" in text
    assert "SPSR_hyp 0x000001d3  ---- AIF- svc" in text


def test_hyp_pane_shows_live_hyp_registers_and_marks_changed_hsr():
    hyp_world = World(2, "hyp", "hyp [running]", True, _regs(pc=0x40000094, cpsr=0x1DA, sp_hyp=0x40080000))
    frags = panes.hyp_pane({"hsr": 0x4A000012}, previous={"hsr": 0x4E000000}, hyp_world=hyp_world,
                           last_exit="hyp exit: HVC #0x12 from host at 0x40000038, HSR=0x4a000012")
    assert _style_of(frags, "0x4a000012") == "class:changed"
    text = panes.plain_text(frags)
    assert "hyp live pc 0x40000094" in text
    assert "HVC #0x12 from host at 0x40000038" in text and "hyp exit:" not in text
    assert "hyp  0x40080000" in text          # the CPU's banked registers, shown with the live world


def test_hyp_pane_without_hyp_registers():
    assert "no hyp registers" in panes.plain_text(panes.hyp_pane({}))


@needs_as
def test_disassembly_marks_pc_breakpoints_and_branch_symbols():
    base = 0x40000000
    code = assemble(["mov r0, #0x41", "bl 1f", "hvc #0x12", "1: mov r0, #0x43", "bx lr"])
    syms = SymbolTable()
    syms.add("putc", base + 12)
    frags = panes.disassembly_pane(code, base, base + 8, False, breakpoints={base + 12}, symbols=syms)
    lines = panes.plain_text(frags).splitlines()
    pc_line = next(line for line in lines if line.startswith("=>"))
    assert "0x40000008" in pc_line and "hvc" in pc_line and "#0x12" in pc_line
    assert any(line.startswith("  b 0x4000000c") for line in lines)
    assert "putc:" in lines
    bl = next(line for line in lines if " bl " in line)
    assert bl.endswith("<putc>")
    assert lines[0] == "ARM"


@needs_as
def test_thumb_state_decodes_thumb_and_lands_on_pc():
    # Mixed 16- and 32-bit Thumb-2 encodings (ARM ARM A6.1): movs (2), movw (4), adds (2), ldr.w (4)
    code = assemble(["movs r0, #1", "movw r1, #0x1234", "adds r0, r0, r1", "ldr.w r2, [r1]", "bx lr"],
                    thumb=True)
    base = 0x40001000
    insns = around(code, base, base + 8, True, before=3, after=1)
    assert [i.addr - base for i in insns] == [0, 2, 6, 8, 12]
    assert insns[3].mnemonic == "ldr.w"
    # CPSR.T (bit 5) selects Thumb (B1.3.3)
    assert panes.thumb_state(0x1F3) and not panes.thumb_state(0x1D3)
    text = panes.plain_text(panes.disassembly_pane(code, base, base + 6, True))
    assert text.splitlines()[0] == "Thumb" and "=>  0x40001006" in text and "adds" in text


def test_disassembly_without_code():
    assert "cannot read code" in panes.plain_text(panes.disassembly_pane(b"", 0, 0x40000000, False))


def test_exits_and_tail_panes():
    lines = ["#0 [10] eret into host at 0x40000028",
             "#1 [17] hyp exit: HVC #0x12 from host at 0x40000038, HSR=0x4a000012"]
    frags = panes.exits_pane(lines)
    assert panes.plain_text(frags).splitlines()[1] == "#1 [17] HVC #0x12 from host at 0x40000038, HSR=0x4a000012"
    assert _style_of(frags, "#1 [17]") == "class:changed"
    tail = panes.cursor_at_end(frags)
    marker = [i for i, f in enumerate(tail) if f[0] == panes.CURSOR]
    assert len(marker) == 1 and panes.plain_text(tail[marker[0]:]).startswith("#1")
    assert panes.plain_text(panes.uart_pane("AB\x07C\n")) == "ABC\n"


def test_footer_lists_key_bindings():
    text = panes.plain_text(panes.footer("stopped"))
    for key in ("F5 continue", "F10 next", "F11 stepi", "^C interrupt"):
        assert key in text
    assert text.endswith("stopped")


def test_snapshot_picks_the_guest_to_show():
    snap = Snapshot(worlds=[World(1, "host", "host [saved at insn 40]"),
                            World(3, "guest vmid 1", "guest vmid 1 [saved at insn 20]"),
                            World(4, "guest vmid 2", "guest vmid 2 [saved at insn 30]")])
    assert snap.guest().tid == 4                    # the one left last
    assert snap.guest(focus=3).tid == 3
    snap.worlds.append(World(5, "guest vmid 3", "guest vmid 3 [running]", live=True))
    assert snap.guest().tid == 5
    assert snap.has_worlds and not Snapshot(worlds=[World(1, "Thread 1.1")]).has_worlds


def test_command_parsing_and_completion():
    assert C.parse("si 3") == C.Command("stepi", ("3",))
    assert C.parse("  ") is None
    assert C.parse("info threads") == C.Command(C.GDB, ("info threads",))
    for bad in ("stepi 0", "break", "catch bogus", "set r0", "x 0x0 0", "world abc"):
        with pytest.raises(C.CommandError):
            C.parse(bad)
    assert C.complete("br") == ["break"]
    assert C.complete("catch h") == ["hvc"]
    assert C.complete("break af", symbols=["after_hvc", "after_svc", "putc"]) == ["after_hvc", "after_svc"]
    assert C.complete("set el", registers=["elr_hyp", "r0"]) == ["elr_hyp"]


@needs_as
def test_symbols_match_nm(tmp_path):
    obj, exe = tmp_path / "a.o", tmp_path / "a.elf"
    subprocess.run(["arm-none-eabi-as", "-march=armv7ve", "-o", str(obj),
                    str(HERE / "e2e" / "hvc_roundtrip.S")], check=True)
    subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-o", str(exe), str(obj)], check=True)
    nm = subprocess.run(["arm-none-eabi-nm", str(exe)], capture_output=True, text=True).stdout
    expected = {name: int(addr, 16) for addr, kind, name in (l.split() for l in nm.splitlines())
                if kind in "tT" and not name.startswith(("_", "$"))}
    table = load_symbols(str(exe))
    for name, addr in expected.items():
        assert table.by_name[name] == addr
    assert table.describe(expected["hyp_vectors"] + 0x14) == "hyp_vectors+0x14"
    assert load_symbols(str(obj.with_suffix(".missing"))).by_name == {}
