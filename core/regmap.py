"""The register map the debugger sees: one list, in GDB numbering order.

Core registers follow GDB's ``org.gnu.gdb.arm.core`` (r0-r15, cpsr at number
25), VFP/NEON its ``org.gnu.gdb.arm.vfp`` (d0-d31, fpscr); everything a
hypervisor developer reads (banked SP/LR/SPSR of every mode, ELR_hyp and the
Hyp and translation cp15 registers from the cp15 table) is one feature of our
own, ``org.hypdbg.arm.hyp``.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from . import cp15
from .debug import RegisterInfo

CORE = "org.gnu.gdb.arm.core"
VFP = "org.gnu.gdb.arm.vfp"
HYPF = "org.hypdbg.arm.hyp"

#: Banked registers: name -> (mode, field).
BANKED: Dict[str, Tuple[int, str]] = {}
for _mode, _m in ((0x10, "usr"), (0x13, "svc"), (0x17, "abt"), (0x1B, "und"), (0x12, "irq"),
                  (0x11, "fiq")):
    BANKED[f"sp_{_m}"] = (_mode, "sp")
    BANKED[f"lr_{_m}"] = (_mode, "lr")
    if _m != "usr":
        BANKED[f"spsr_{_m}"] = (_mode, "spsr")
for _n in range(8, 13):
    BANKED[f"r{_n}_fiq"] = (0x11, f"r{_n}")
BANKED["sp_hyp"] = (0x1A, "sp")
BANKED["spsr_hyp"] = (0x1A, "spsr")

#: cp15 registers shown to the debugger, in display order.
SYSREG_VIEW = ("HCR", "HSR", "HVBAR", "VTTBR", "VTCR", "HTTBR", "HTCR", "HSCTLR", "HDFAR",
               "HIFAR", "HPFAR", "HSTR", "HCPTR", "HDCR", "HTPIDR", "HMAIR0", "HMAIR1",
               "VPIDR", "VMPIDR", "SCTLR", "ACTLR", "CPACR", "TTBR0", "TTBR1", "TTBCR", "DACR",
               "DFSR", "DFAR", "IFSR", "IFAR", "PAR", "PRRR", "NMRR", "VBAR", "CONTEXTIDR",
               "TPIDRURW", "TPIDRURO", "TPIDRPRW", "MIDR", "MPIDR")


def build() -> List[RegisterInfo]:
    regs: List[RegisterInfo] = []
    for n in range(13):
        regs.append(RegisterInfo(f"r{n}", 32, CORE, "uint32"))
    regs.append(RegisterInfo("sp", 32, CORE, "data_ptr"))
    regs.append(RegisterInfo("lr", 32, CORE, "code_ptr"))
    regs.append(RegisterInfo("pc", 32, CORE, "code_ptr"))
    regs.append(RegisterInfo("cpsr", 32, CORE, "uint32", regnum=25))
    for n in range(32):
        regs.append(RegisterInfo(f"d{n}", 64, VFP, "ieee_double", group="float"))
    regs.append(RegisterInfo("fpscr", 32, VFP, "int", group="float"))
    for name in BANKED:
        regs.append(RegisterInfo(name, 32, HYPF, "uint32", group="banked"))
    regs.append(RegisterInfo("elr_hyp", 32, HYPF, "code_ptr", group="banked"))
    for name in SYSREG_VIEW:
        r = cp15.BY_NAME[name]
        regs.append(RegisterInfo(name.lower(), 64 if r.is64 else 32, HYPF,
                                 "uint64" if r.is64 else "uint32", group="system",
                                 writable=name not in ("MIDR", "MPIDR")))
    return regs


REGISTERS: List[RegisterInfo] = build()
BY_NAME: Dict[str, RegisterInfo] = {r.name: r for r in REGISTERS}
