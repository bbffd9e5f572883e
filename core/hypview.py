"""Human-readable Hyp state: HCR bit by bit, HSR decoded, VTTBR/VMID, the last exit."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .cpu import MODE_NAMES
from .hyp import syndrome as S

if TYPE_CHECKING:
    from .machine import Machine

HCR_BITS = ((0, "VM"), (1, "SWIO"), (2, "PTW"), (3, "FMO"), (4, "IMO"), (5, "AMO"), (6, "VF"),
            (7, "VI"), (8, "VA"), (9, "FB"), (12, "DC"), (13, "TWI"), (14, "TWE"), (15, "TID0"),
            (16, "TID1"), (17, "TID2"), (18, "TID3"), (19, "TSC"), (20, "TIDCP"), (21, "TAC"),
            (22, "TSW"), (23, "TPC"), (24, "TPU"), (25, "TTLB"), (26, "TVM"), (27, "TGE"))


def describe_hcr(hcr: int) -> str:
    """HCR as the names of its set bits (ARM ARM B4.1.65), with BSU."""
    names = [name for bit, name in HCR_BITS if hcr & (1 << bit)]
    bsu = (hcr >> 10) & 3
    if bsu:
        names.append(f"BSU={('NONE', 'IS', 'OS', 'FS')[bsu]}")
    return " ".join(names) or "(none)"


def describe_psr(psr: int) -> str:
    mode = MODE_NAMES.get(psr & 0x1F, f"{psr & 0x1F:#x}")
    flags = "".join(f if psr & (1 << b) else "-" for f, b in (("N", 31), ("Z", 30), ("C", 29), ("V", 28)))
    masks = "".join(f if psr & (1 << b) else "-" for f, b in (("A", 8), ("I", 7), ("F", 6), ("T", 5)))
    return f"{psr:#010x} {flags} {masks} {mode}"


def describe_hyp(m: "Machine") -> str:
    cpu = m.cpu
    hcr = cpu.sysreg("HCR")
    hsr = cpu.sysreg("HSR")
    vttbr = cpu.sysreg("VTTBR")
    lines = [
        f"HCR      {hcr:#010x}  {describe_hcr(hcr)}",
        f"HSR      {hsr:#010x}  EC {S.ec_of(hsr):#04x} ({S.EC_NAMES.get(S.ec_of(hsr), '?')}) "
        f"IL {(hsr >> 25) & 1} ISS {hsr & 0x1FFFFFF:#09x}: {S.describe(hsr)}",
        f"VTTBR    {vttbr:#018x}  VMID {(vttbr >> 48) & 0xFF} BADDR {vttbr & 0xFFFFFFFFFF:#012x}",
        f"VTCR     {cpu.sysreg('VTCR'):#010x}",
        f"HVBAR    {cpu.sysreg('HVBAR'):#010x}",
        f"ELR_hyp  {cpu.elr_hyp:#010x}",
        f"SPSR_hyp {describe_psr(cpu.banked(0x1A, 'spsr'))}",
        f"CPSR     {describe_psr(cpu.cpsr)}  world: {m.world_now().label}",
    ]
    last = m.worlds.last_exit()
    lines.append(f"last exit: {last.describe()} (insn {last.icount})" if last else "last exit: none")
    return "\n".join(lines) + "\n"
