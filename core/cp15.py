"""The cp15 system registers, declared once as data.

Each entry names a register by its architectural encoding, its width, the
lowest privilege level that may access it, and the HCR/HSTR trap class that
applies to accesses from Non-secure PL0/PL1. The CPU wrapper reads and writes
registers through this table, the trap logic looks accesses up in it, and the
debugger builds its register list from it: one table, three readers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class SysReg:
    """One cp15 register (ARM ARM B4.1)."""

    name: str
    crn: int
    opc1: int
    crm: int
    opc2: int
    is64: bool = False
    pl: int = 1              # lowest PL allowed (0 = user-accessible, 2 = Hyp only)
    trap: str = ""           # HCR trap class: "tvm", "tid0".."tid3", "tac", "ttlb", "tsw", "tpc", "tpu", "tidcp"
    write_only: bool = False  # an operation (TLBI, cache maintenance), not state
    debug: bool = True       # shown by the debugger and saved in snapshots

    @property
    def key(self) -> Tuple[bool, int, int, int, int]:
        """Lookup key as decoded from an MRC/MCR (CRn, opc1, CRm, opc2) or MRRC/MCRR (CRm, opc1)."""
        return (self.is64, self.crn, self.opc1, self.crm, self.opc2)


def _r(name: str, crn: int, opc1: int, crm: int, opc2: int, **kw: object) -> SysReg:
    return SysReg(name, crn, opc1, crm, opc2, **kw)  # type: ignore[arg-type]


def _r64(name: str, opc1: int, crm: int, **kw: object) -> SysReg:
    return SysReg(name, 0, opc1, crm, 0, is64=True, **kw)  # type: ignore[arg-type]


_OP = {"write_only": True, "debug": False}

SYSREGS: Tuple[SysReg, ...] = (
    # Identification (c0)
    _r("MIDR", 0, 0, 0, 0, trap=""),
    _r("CTR", 0, 0, 0, 1, trap="tid2"),
    _r("TCMTR", 0, 0, 0, 2, trap="tid1"),
    _r("TLBTR", 0, 0, 0, 3, trap="tid1"),
    _r("MPIDR", 0, 0, 0, 5),
    _r("REVIDR", 0, 0, 0, 6, trap="tid1"),
    _r("ID_PFR0", 0, 0, 1, 0, trap="tid3"),
    _r("ID_PFR1", 0, 0, 1, 1, trap="tid3"),
    _r("ID_DFR0", 0, 0, 1, 2, trap="tid3"),
    _r("ID_AFR0", 0, 0, 1, 3, trap="tid3"),
    _r("ID_MMFR0", 0, 0, 1, 4, trap="tid3"),
    _r("ID_MMFR1", 0, 0, 1, 5, trap="tid3"),
    _r("ID_MMFR2", 0, 0, 1, 6, trap="tid3"),
    _r("ID_MMFR3", 0, 0, 1, 7, trap="tid3"),
    _r("ID_ISAR0", 0, 0, 2, 0, trap="tid3"),
    _r("ID_ISAR1", 0, 0, 2, 1, trap="tid3"),
    _r("ID_ISAR2", 0, 0, 2, 2, trap="tid3"),
    _r("ID_ISAR3", 0, 0, 2, 3, trap="tid3"),
    _r("ID_ISAR4", 0, 0, 2, 4, trap="tid3"),
    _r("ID_ISAR5", 0, 0, 2, 5, trap="tid3"),
    _r("CCSIDR", 0, 1, 0, 0, trap="tid2"),
    _r("CLIDR", 0, 1, 0, 1, trap="tid2"),
    _r("AIDR", 0, 1, 0, 7, trap="tid1"),
    _r("CSSELR", 0, 2, 0, 0, trap="tid2"),
    _r("VPIDR", 0, 4, 0, 0, pl=2),
    _r("VMPIDR", 0, 4, 0, 5, pl=2),
    # System control (c1)
    _r("SCTLR", 1, 0, 0, 0, trap="tvm"),
    _r("ACTLR", 1, 0, 0, 1, trap="tac"),
    _r("CPACR", 1, 0, 0, 2),
    _r("HSCTLR", 1, 4, 0, 0, pl=2),
    _r("HACTLR", 1, 4, 0, 1, pl=2),
    _r("HCR", 1, 4, 1, 0, pl=2),
    _r("HDCR", 1, 4, 1, 1, pl=2),
    _r("HCPTR", 1, 4, 1, 2, pl=2),
    _r("HSTR", 1, 4, 1, 3, pl=2),
    _r("HACR", 1, 4, 1, 7, pl=2),
    # Translation (c2, c3)
    _r("TTBCR", 2, 0, 0, 2, trap="tvm"),
    _r("HTCR", 2, 4, 0, 2, pl=2),
    _r("VTCR", 2, 4, 1, 2, pl=2),
    # The 32-bit MCR/MRC forms (short descriptors) write the low half of the same
    # registers; listed before the 64-bit forms, which BY_NAME keeps for reads.
    _r("TTBR0", 2, 0, 0, 0, trap="tvm"),
    _r("TTBR1", 2, 0, 0, 1, trap="tvm"),
    _r64("TTBR0", 0, 2, trap="tvm"),
    _r64("TTBR1", 1, 2, trap="tvm"),
    _r64("HTTBR", 4, 2, pl=2),
    _r64("VTTBR", 6, 2, pl=2),
    _r("DACR", 3, 0, 0, 0, trap="tvm"),
    # Faults (c5, c6)
    _r("DFSR", 5, 0, 0, 0, trap="tvm"),
    _r("IFSR", 5, 0, 0, 1, trap="tvm"),
    _r("ADFSR", 5, 0, 1, 0, trap="tvm"),
    _r("AIFSR", 5, 0, 1, 1, trap="tvm"),
    _r("HADFSR", 5, 4, 1, 0, pl=2),
    _r("HAIFSR", 5, 4, 1, 1, pl=2),
    _r("HSR", 5, 4, 2, 0, pl=2),
    _r("DFAR", 6, 0, 0, 0, trap="tvm"),
    _r("IFAR", 6, 0, 0, 2, trap="tvm"),
    _r("HDFAR", 6, 4, 0, 0, pl=2),
    _r("HIFAR", 6, 4, 0, 2, pl=2),
    _r("HPFAR", 6, 4, 0, 4, pl=2),
    # Cache maintenance and address translation (c7)
    _r("PAR", 7, 0, 4, 0),
    _r64("PAR64", 0, 7, debug=False),
    _r("ICIALLUIS", 7, 0, 1, 0, trap="tpu", **_OP),
    _r("BPIALLIS", 7, 0, 1, 6, trap="tpu", **_OP),
    _r("ICIALLU", 7, 0, 5, 0, trap="tpu", **_OP),
    _r("ICIMVAU", 7, 0, 5, 1, trap="tpu", **_OP),
    _r("BPIALL", 7, 0, 5, 6, trap="tpu", **_OP),
    _r("BPIMVA", 7, 0, 5, 7, trap="tpu", **_OP),
    _r("DCIMVAC", 7, 0, 6, 1, trap="tpc", **_OP),
    _r("DCISW", 7, 0, 6, 2, trap="tsw", **_OP),
    _r("ATS1CPR", 7, 0, 8, 0, **_OP),
    _r("ATS1CPW", 7, 0, 8, 1, **_OP),
    _r("ATS1CUR", 7, 0, 8, 2, **_OP),
    _r("ATS1CUW", 7, 0, 8, 3, **_OP),
    _r("ATS12NSOPR", 7, 0, 8, 4, pl=2, **_OP),
    _r("ATS12NSOPW", 7, 0, 8, 5, pl=2, **_OP),
    _r("ATS12NSOUR", 7, 0, 8, 6, pl=2, **_OP),
    _r("ATS12NSOUW", 7, 0, 8, 7, pl=2, **_OP),
    _r("DCCMVAC", 7, 0, 10, 1, trap="tpc", **_OP),
    _r("DCCSW", 7, 0, 10, 2, trap="tsw", **_OP),
    _r("DCCMVAU", 7, 0, 11, 1, trap="tpu", **_OP),
    _r("DCCIMVAC", 7, 0, 14, 1, trap="tpc", **_OP),
    _r("DCCISW", 7, 0, 14, 2, trap="tsw", **_OP),
    _r("ATS1HR", 7, 4, 8, 0, pl=2, **_OP),
    _r("ATS1HW", 7, 4, 8, 1, pl=2, **_OP),
    # TLB maintenance (c8)
    _r("TLBIALLIS", 8, 0, 3, 0, trap="ttlb", **_OP),
    _r("TLBIMVAIS", 8, 0, 3, 1, trap="ttlb", **_OP),
    _r("TLBIASIDIS", 8, 0, 3, 2, trap="ttlb", **_OP),
    _r("TLBIMVAAIS", 8, 0, 3, 3, trap="ttlb", **_OP),
    _r("ITLBIALL", 8, 0, 5, 0, trap="ttlb", **_OP),
    _r("ITLBIMVA", 8, 0, 5, 1, trap="ttlb", **_OP),
    _r("ITLBIASID", 8, 0, 5, 2, trap="ttlb", **_OP),
    _r("DTLBIALL", 8, 0, 6, 0, trap="ttlb", **_OP),
    _r("DTLBIMVA", 8, 0, 6, 1, trap="ttlb", **_OP),
    _r("DTLBIASID", 8, 0, 6, 2, trap="ttlb", **_OP),
    _r("TLBIALL", 8, 0, 7, 0, trap="ttlb", **_OP),
    _r("TLBIMVA", 8, 0, 7, 1, trap="ttlb", **_OP),
    _r("TLBIASID", 8, 0, 7, 2, trap="ttlb", **_OP),
    _r("TLBIMVAA", 8, 0, 7, 3, trap="ttlb", **_OP),
    _r("TLBIALLHIS", 8, 4, 3, 0, pl=2, **_OP),
    _r("TLBIMVAHIS", 8, 4, 3, 1, pl=2, **_OP),
    _r("TLBIALLNSNHIS", 8, 4, 3, 4, pl=2, **_OP),
    _r("TLBIALLH", 8, 4, 7, 0, pl=2, **_OP),
    _r("TLBIMVAH", 8, 4, 7, 1, pl=2, **_OP),
    _r("TLBIALLNSNH", 8, 4, 7, 4, pl=2, **_OP),
    # Memory attributes (c10)
    _r("PRRR", 10, 0, 2, 0, trap="tvm"),
    _r("NMRR", 10, 0, 2, 1, trap="tvm"),
    _r("AMAIR0", 10, 0, 3, 0, trap="tvm"),
    _r("AMAIR1", 10, 0, 3, 1, trap="tvm"),
    _r("HMAIR0", 10, 4, 2, 0, pl=2),
    _r("HMAIR1", 10, 4, 2, 1, pl=2),
    # Vectors, process ids (c12, c13)
    _r("VBAR", 12, 0, 0, 0),
    _r("HVBAR", 12, 4, 0, 0, pl=2),
    _r("CONTEXTIDR", 13, 0, 0, 1, trap="tvm"),
    _r("TPIDRURW", 13, 0, 0, 2, pl=0),
    _r("TPIDRURO", 13, 0, 0, 3, pl=0),
    _r("TPIDRPRW", 13, 0, 0, 4),
    _r("HTPIDR", 13, 4, 0, 2, pl=2),
)

BY_NAME: Dict[str, SysReg] = {r.name: r for r in SYSREGS}   # the last form of a name wins
BY_KEY: Dict[Tuple[bool, int, int, int, int], SysReg] = {r.key: r for r in SYSREGS}

#: HCR bit of each trap class (ARM ARM B4.1.65; armv7-virt.md section 4.1).
HCR_TRAP_BIT: Dict[str, int] = {
    "tid0": 15, "tid1": 16, "tid2": 17, "tid3": 18, "tidcp": 20, "tac": 21,
    "tsw": 22, "tpc": 23, "tpu": 24, "ttlb": 25, "tvm": 26,
}


def lookup(is64: bool, crn: int, opc1: int, crm: int, opc2: int) -> Optional[SysReg]:
    """The register an MRC/MCR/MRRC/MCRR names, or None for an unknown encoding."""
    if is64:
        return BY_KEY.get((True, 0, opc1, crm, 0))
    return BY_KEY.get((False, crn, opc1, crm, opc2))


def is_tidcp(is64: bool, crn: int, crm: int) -> bool:
    """IMPLEMENTATION DEFINED encodings that HCR.TIDCP traps (ARM ARM B4.1.65: CRn 9, 10, 11
    with the listed CRm values, and CRn 15)."""
    if is64:
        return False
    if crn == 9:
        return crm in (0, 1, 2, 5, 6, 7, 8)
    if crn == 10:
        return crm in (0, 1, 4, 8)
    if crn == 11:
        return crm in (0, 1, 2, 3, 4, 5, 6, 7, 8, 15)
    return crn == 15
