"""Batched register access (core.cpu.RegBatch, Cpu.enter) against single accesses and the
banking rules of the ARM ARM (DDI 0406C B1.3.2, "ARM core registers": SP, LR and SPSR are
banked per mode; B1.3.3: SPSR_hyp and ELR_hyp are Hyp mode's own)."""
from __future__ import annotations

from unicorn.arm_const import UC_ARM_REG_CPSR, UC_ARM_REG_R0, UC_ARM_REG_SP, UC_ARM_REG_SPSR

from hypdbg.core.cpu import HYP, MODE_MASK, SVC, Cpu

IRQ = 0x12
AIF = 0x1C0


def _cpu_in(mode: int) -> Cpu:
    cpu = Cpu()
    cpu.write_cpsr(AIF | mode)
    assert cpu.mode == mode
    return cpu


def test_batch_read_equals_single_reads() -> None:
    cpu = _cpu_in(SVC)
    for n in range(13):
        cpu.set_reg(n, 0x1000 + 17 * n)
    cpu.set_sysreg("HCR", 0x2019)                    # VM, IMO, FMO, TWI
    cpu.set_sysreg("VTTBR", 0x00010000_4000_0000)      # a 64-bit register: VMID in bits 55:48
    regs = tuple(UC_ARM_REG_R0 + n for n in range(13)) + (UC_ARM_REG_CPSR, "HCR", "VTTBR")
    values = cpu.batch(regs).read()
    assert values[:13] == [cpu.reg(n) for n in range(13)]
    assert values[13] == cpu.cpsr
    assert values[14:] == [cpu.sysreg("HCR"), cpu.sysreg("VTTBR")] == [0x2019, 0x00010000_4000_0000]


def test_batch_write_after_a_mode_switch_reaches_the_new_modes_bank() -> None:
    cpu = _cpu_in(SVC)
    cpu.set_spsr(0x1D3)
    cpu.set_reg(13, 0x4000_1000)
    new = AIF | IRQ
    cpu.batch((UC_ARM_REG_CPSR, UC_ARM_REG_SPSR, UC_ARM_REG_SP)).write([new, 0x60000013, 0x4000_2000])
    assert cpu.mode == IRQ
    assert cpu.banked(IRQ, "spsr") == 0x60000013 and cpu.banked(IRQ, "sp") == 0x4000_2000
    assert cpu.banked(SVC, "spsr") == 0x1D3 and cpu.banked(SVC, "sp") == 0x4000_1000


def test_enter_hyp_writes_spsr_hyp_and_elr_hyp() -> None:
    cpu = _cpu_in(SVC)
    cpu.set_spsr(0x1D3)
    regs = cpu.batch((UC_ARM_REG_CPSR, UC_ARM_REG_CPSR, UC_ARM_REG_SPSR))
    cpu.enter(cpu.cpsr, AIF | HYP, regs, [0x80000193], elr_hyp=0x4000_0124)
    assert cpu.cpsr & MODE_MASK == HYP
    assert cpu.spsr == 0x80000193                       # SPSR_hyp
    assert cpu.elr_hyp == 0x4000_0124
    assert cpu.banked(SVC, "spsr") == 0x1D3             # SVC's bank untouched
