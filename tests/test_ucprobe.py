"""The saved-context layout measured by core.ucprobe, checked against what the CPU itself does:
ELR_hyp is what an ERET returns to (ARM ARM B1.3.3, B9.3.3), the mode words follow CPSR.M,
and two runs to one state differ only in the unstable words."""
from __future__ import annotations

import struct

from unicorn.arm_const import UC_ARM_REG_CPSR, UC_ARM_REG_PC, UC_ARM_REG_SPSR

from hypdbg.core import ucprobe
from hypdbg.core.cpu import HYP, MODE_MASK, SVC, Cpu
from hypdbg.core.snapshot import context_data

BASE = 0x4000_0000
ERET = 0xE160006E
NOP = 0xE320F000


def _hyp_cpu() -> Cpu:
    cpu = Cpu()
    cpu.uc.mem_map(BASE, 0x1000)
    cpu.write_cpsr(0x1C0 | HYP)
    return cpu


def test_elr_hyp_offset_is_where_eret_returns() -> None:
    cpu = _hyp_cpu()
    cpu.uc.mem_write(BASE, struct.pack("<I", ERET) + struct.pack("<I", NOP) * 8)
    cpu.uc.reg_write(UC_ARM_REG_SPSR, 0x1C0 | SVC)
    cpu.set_elr_hyp(BASE + 0x10)       # written at the measured offset of the saved context
    cpu.uc.emu_start(BASE, 0, count=1)
    assert cpu.uc.reg_read(UC_ARM_REG_PC) == BASE + 0x10
    assert cpu.mode == SVC


def test_mode_words_follow_cpsr() -> None:
    cpu = Cpu()
    layout = ucprobe.layout()
    for mode in (0x13, 0x12, 0x17, 0x1B, 0x11, 0x1F, HYP):
        cpu.write_cpsr(0x1C0 | mode)
        raw = bytes(cpu.uc.context_save())
        assert cpu.uc.reg_read(UC_ARM_REG_CPSR) & MODE_MASK == mode
        assert {struct.unpack_from("<I", raw, off)[0] & MODE_MASK for off in layout.mode_words} == {mode}


def test_runs_to_one_state_compare_equal_without_the_unstable_words() -> None:
    """Two runs of one ERET from one state: the raw states differ (the PMU baseline is taken
    from the host clock), the comparable data does not."""
    cpu = _hyp_cpu()
    cpu.uc.mem_write(BASE, struct.pack("<I", ERET) + struct.pack("<I", NOP) * 8)
    cpu.uc.reg_write(UC_ARM_REG_SPSR, 0x1C0 | HYP)
    cpu.set_elr_hyp(BASE + 8)
    start = cpu.uc.context_save()
    saved = []
    for _ in range(2):
        cpu.uc.context_restore(start)
        cpu.uc.emu_start(BASE, 0, count=2)
        saved.append(cpu.uc.context_save())
    raw = [ucprobe.state_of(bytes(ctx)) for ctx in saved]
    differing = {off for off in range(0, len(raw[0]), 4) if raw[0][off:off + 4] != raw[1][off:off + 4]}
    assert differing and differing <= set(ucprobe.layout().unstable_words)
    assert context_data(saved[0]) == context_data(saved[1])
