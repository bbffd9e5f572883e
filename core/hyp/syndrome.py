"""HSR exception classes, Hyp vector offsets and syndrome builders (ARM ARM B3.13.6)."""
from __future__ import annotations

from typing import Dict

# Exception classes (HSR.EC), armv7-virt.md section 3.
EC_UNKNOWN = 0x00
EC_WFX = 0x01
EC_CP15_32 = 0x03
EC_CP15_64 = 0x04
EC_CP14_MR = 0x05
EC_CP14_LS = 0x06
EC_HCPTR = 0x07
EC_CP10_ID = 0x08
EC_JAZELLE = 0x09
EC_BXJ = 0x0A
EC_CP14_64 = 0x0C
EC_SVC_HYP = 0x11
EC_HVC = 0x12
EC_SMC = 0x13
EC_IABT = 0x20
EC_IABT_HYP = 0x21
EC_DABT = 0x24
EC_DABT_HYP = 0x25

EC_NAMES: Dict[int, str] = {
    EC_UNKNOWN: "unknown", EC_WFX: "wfx", EC_CP15_32: "cp15", EC_CP15_64: "cp15-64",
    EC_CP14_MR: "cp14", EC_CP14_LS: "cp14-ls", EC_HCPTR: "hcptr", EC_CP10_ID: "cp10-id",
    EC_JAZELLE: "jazelle", EC_BXJ: "bxj", EC_CP14_64: "cp14-64", EC_SVC_HYP: "svc",
    EC_HVC: "hvc", EC_SMC: "smc", EC_IABT: "iabt", EC_IABT_HYP: "iabt-hyp",
    EC_DABT: "dabt", EC_DABT_HYP: "dabt-hyp",
}

#: Trap classes a user can name in ``catch trap`` (each a set of ECs).
TRAP_CLASSES: Dict[str, frozenset] = {
    "wfx": frozenset({EC_WFX}),
    "cp15": frozenset({EC_CP15_32, EC_CP15_64}),
    "cp14": frozenset({EC_CP14_MR, EC_CP14_LS, EC_CP14_64}),
    "hcptr": frozenset({EC_HCPTR, EC_CP10_ID}),
    "smc": frozenset({EC_SMC}),
    "dabt": frozenset({EC_DABT}),
    "iabt": frozenset({EC_IABT}),
    "undef": frozenset({EC_UNKNOWN}),
    "svc": frozenset({EC_SVC_HYP}),
}

# Hyp vector offsets (armv7-virt.md section 2.2).
HVEC_UNDEF = 0x04
HVEC_HVC = 0x08
HVEC_PABT = 0x0C
HVEC_DABT = 0x10
HVEC_TRAP = 0x14
HVEC_IRQ = 0x18
HVEC_FIQ = 0x1C

IL = 1 << 25


def hsr(ec: int, iss: int, il: bool = True) -> int:
    """Assemble an HSR value from its class, instruction length and ISS."""
    return ((ec & 0x3F) << 26) | (IL if il else 0) | (iss & 0x1FFFFFF)


def ec_of(value: int) -> int:
    return (value >> 26) & 0x3F


def cond_iss(cond: int) -> int:
    """CV=1 and COND for trapped conditional instructions (ISS[24:20])."""
    return (1 << 24) | ((cond & 0xF) << 20)


def wfx_iss(cond: int, is_wfe: bool) -> int:
    return cond_iss(cond) | int(is_wfe)


def cp15_32_iss(cond: int, opc2: int, opc1: int, crn: int, rt: int, crm: int, read: bool) -> int:
    """ISS of a trapped MCR/MRC (EC 0x03/0x05): B3.13.6 'HSR.ISS for trapped MCR/MRC'."""
    return (cond_iss(cond) | (opc2 << 17) | (opc1 << 14) | (crn << 10) | (rt << 5)
            | (crm << 1) | int(read))


def cp15_64_iss(cond: int, opc1: int, rt2: int, rt: int, crm: int, read: bool) -> int:
    """ISS of a trapped MCRR/MRRC (EC 0x04/0x0C)."""
    return cond_iss(cond) | (opc1 << 16) | (rt2 << 10) | (rt << 5) | (crm << 1) | int(read)


def describe(value: int) -> str:
    """One-line human reading of an HSR value, for exit logs and monitor views."""
    ec = ec_of(value)
    iss = value & 0x1FFFFFF
    name = EC_NAMES.get(ec, f"ec{ec:#x}")
    if ec in (EC_HVC, EC_SVC_HYP):
        return f"{name.upper()} #{iss & 0xFFFF:#x}"
    if ec == EC_WFX:
        return "WFE" if iss & 1 else "WFI"
    if ec == EC_CP15_32:
        opc2, opc1 = (iss >> 17) & 7, (iss >> 14) & 7
        crn, rt, crm = (iss >> 10) & 0xF, (iss >> 5) & 0xF, (iss >> 1) & 0xF
        op = "MRC" if iss & 1 else "MCR"
        return f"{op} p15, {opc1}, r{rt}, c{crn}, c{crm}, {opc2}"
    if ec == EC_CP15_64:
        opc1, rt2, rt, crm = (iss >> 16) & 0xF, (iss >> 10) & 0xF, (iss >> 5) & 0xF, (iss >> 1) & 0xF
        op = "MRRC" if iss & 1 else "MCRR"
        return f"{op} p15, {opc1}, r{rt}, r{rt2}, c{crm}"
    if ec in (EC_DABT, EC_DABT_HYP):
        wnr = "write" if iss & (1 << 6) else "read"
        fsc = iss & 0x3F
        extra = ""
        if iss & (1 << 24):
            extra = f" size {1 << ((iss >> 22) & 3)} r{(iss >> 16) & 0xF}"
        s1 = " s1ptw" if iss & (1 << 7) else ""
        return f"data abort ({wnr}{extra}, fsc {fsc:#04x}{s1})"
    if ec in (EC_IABT, EC_IABT_HYP):
        return f"prefetch abort (fsc {iss & 0x3F:#04x})"
    return name
