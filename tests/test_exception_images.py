"""Bare-metal images of the core machine, run on QEMU (the reference) and on hypdbg.

Each image in tests/images prints, one KEY=value line at a time, what its
exception handlers observed (see tests/images/lib.inc), grouped in cases.
For every case two tests run:

* ``test_qemu``: QEMU's values against what the ARM Architecture Reference
  Manual (ARM DDI 0406C) requires; expected addresses come from the ELF
  symbol table, never from QEMU's output.  Where QEMU 7.2 departs from the
  manual the case is listed in QEMU_KNOWN_DIFFERENCES and the test is a
  strict xfail: it still asserts the architecture.
* ``test_hypdbg``: hypdbg's values equal QEMU's, except in the known
  differences, where they must be the architectural ones.

Expectations cite the manual's pseudocode functions (TakeUndefInstrException,
TakeHypTrapException, ...) and sections: B1.8 exception handling, B1.9
exception descriptions, B1.14 traps to the hypervisor, B3.13.6 the HSR,
B4.1 the system registers.
"""
from __future__ import annotations

import difflib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple, Union

import pytest

from imagebuild import (case_params, memo, RunTimeout, UartReport, build_image, missing_tools, parse_uart,
                        run_hypdbg, run_qemu, symbols)

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}")

QEMU_TIMEOUT = 10.0
HYPDBG_TIMEOUT = 60.0


# -- expectation vocabulary ----------------------------------------------------

@dataclass(frozen=True)
class Bits:
    """The value's bits under ``mask`` equal ``want``; the rest is UNKNOWN or IMPLEMENTATION DEFINED."""

    want: int
    mask: int


@dataclass(frozen=True)
class Within:
    """lo <= value <= hi: the architecture fixes a range, not a point."""

    lo: int
    hi: int


@dataclass(frozen=True)
class Same:
    """Equal to another value of the same case."""

    key: str


class _Any:
    """Printed, with no architectural constraint (UNKNOWN or IMPLEMENTATION DEFINED at reset)."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()
Expectation = Union[int, Bits, Within, Same, _Any]
CaseExpectations = Dict[str, Dict[str, Expectation]]


def check_case(values: Dict[str, int], expected: Dict[str, Expectation], label: str) -> None:
    """Assert every expectation of one case; report all mismatches at once."""
    problems: List[str] = []
    for key, exp in expected.items():
        if key not in values:
            problems.append(f"{key}: not printed (expected {_show(exp)})")
            continue
        got = values[key]
        if isinstance(exp, _Any):
            ok = True
        elif isinstance(exp, Bits):
            ok = got & exp.mask == exp.want
        elif isinstance(exp, Within):
            ok = exp.lo <= got <= exp.hi
        elif isinstance(exp, Same):
            ok = got == values.get(exp.key)
        else:
            ok = got == exp
        if not ok:
            problems.append(f"{key}={got:08x}, expected {_show(exp)}")
    assert not problems, f"{label}:\n  " + "\n  ".join(problems) + f"\n  all values: {_hexdict(values)}"


def _show(exp: Expectation) -> str:
    """An expectation as a failure message states it."""
    if isinstance(exp, int):
        return f"{exp:08x}"
    if isinstance(exp, Bits):
        return f"{exp.want:08x} under mask {exp.mask:08x}"
    if isinstance(exp, Within):
        return f"in [{exp.lo:08x}, {exp.hi:08x}]"
    if isinstance(exp, Same):
        return f"the value of {exp.key}"
    return "any value"


def _hexdict(values: Dict[str, int]) -> Dict[str, str]:
    """Values in hex, as the images print them."""
    return {k: f"{v:08x}" for k, v in values.items()}


# -- architectural encodings ---------------------------------------------------

MODE_USR, MODE_FIQ, MODE_IRQ, MODE_SVC, MODE_ABT, MODE_HYP, MODE_UND = (
    0x10, 0x11, 0x12, 0x13, 0x17, 0x1A, 0x1B)
PSR_T, PSR_F, PSR_I, PSR_A = 0x20, 0x40, 0x80, 0x100
AIF = PSR_A | PSR_I | PSR_F
NC = 0xA0000000  # N and C, as the images' SET_FLAGS_NC leaves them
HCR_AMO = 1 << 5

EC_UNKNOWN, EC_WFX, EC_CP15_32, EC_CP15_64, EC_HCPTR = 0x00, 0x01, 0x03, 0x04, 0x07
EC_SVC, EC_HVC, EC_SMC = 0x11, 0x12, 0x13
EC_MASK = 0xFC000000
COND_AL, COND_NE = 0xE, 0x1


def hsr(ec: int, iss: int, il: int = 1) -> int:
    """HSR = EC[31:26] IL[25] ISS[24:0] (B3.13.6)."""
    return ec << 26 | il << 25 | iss


def cond(cv_cond: int = COND_AL) -> int:
    """ISS[24:20] for a trapped ARM instruction: CV=1 and its condition (B3.13.6)."""
    return 1 << 24 | cv_cond << 20


def mcr_iss(read: bool, opc1: int, crn: int, crm: int, opc2: int, rt: int,
            cc: int = COND_AL) -> int:
    """ISS of a trapped MCR/MRC (EC 0x03): Opc2 Opc1 CRn Rt CRm Direction (B3.13.6)."""
    return cond(cc) | opc2 << 17 | opc1 << 14 | crn << 10 | rt << 5 | crm << 1 | int(read)


def mcrr_iss(read: bool, opc1: int, crm: int, rt: int, rt2: int, cc: int = COND_AL) -> int:
    """ISS of a trapped MCRR/MRRC (EC 0x04): Opc1 Rt2 Rt CRm Direction (B3.13.6)."""
    return cond(cc) | opc1 << 16 | rt2 << 10 | rt << 5 | crm << 1 | int(read)


# -- expectations per image ----------------------------------------------------

Symbols = Dict[str, int]


def expect_reset_state(sym: Symbols) -> CaseExpectations:
    """The state QEMU's hw/arm/boot.c gives an ELF on a CPU with EL2 and no EL3.

    Only the architectural fields are checked here.  Everything else is
    QEMU's choice, which hypdbg copies and test_hypdbg checks by equality:
    the CPSR flags (QEMU resets with Z set), R0-R2, SP and LR (0), the
    remaining bits of SCTLR and HSCTLR, MIDR (r4p0), MPIDR, ID_PFR1
    (Security field 0: no EL3), VBAR and HVBAR (0), CNTFRQ (62.5 MHz),
    HCPTR, HSTR, HDCR (HPMN 6), CNTHCTL (3), CPACR, CTR, ID_PFR0, TTBCR.
    """
    return {"": {
        # Hyp mode, entered as an exception to Hyp enters it: A, I, F set
        # (TakeHypTrapException), ARM state (entry address bit 0 clear),
        # little-endian (ELF header), IT and J clear.  Flags UNKNOWN.
        "CPSR": Bits(MODE_HYP | AIF, 0x0700FFFF),
        "R0": 0, "R1": 0, "R2": 0,  # QEMU boot.c convention for non-Linux images
        "SP": ANY, "LR": ANY,
        # SCTLR reset (B4.1): M, A, C clear; V, TE, EE from the
        # configuration inputs, low vectors, ARM exceptions, little-endian.
        "SCTLR": Bits(0, 1 | 2 | 4 | 1 << 13 | 1 << 25 | 1 << 30),
        "HSCTLR": Bits(0, 1),  # Hyp MMU off at the ELF entry
        "HCR": 0,  # HCR resets to zero (B4.1)
        # Cortex-A15: implementer 0x41, architecture 0xF (CPUID scheme), part 0xC0F.
        "MIDR": Bits(0x410FC0F0, 0xFF0FFFF0),
        # MPIDR (B4.1): bit 31 = 1 (multiprocessing format), CPU 0 of cluster 0.
        "MPIDR": Bits(0x80000000, 0x80FFFFFF),
        # ID_PFR1 (B4.1): programmers' model 1, Virtualization 1, Generic Timer 1.
        "ID_PFR1": Bits(0x00011001, 0x000FF00F),
        "VBAR": ANY, "HVBAR": ANY, "CNTFRQ": ANY,
        # VPIDR and VMPIDR reset to MIDR and MPIDR (B4.1).
        "VPIDR": Same("MIDR"), "VMPIDR": Same("MPIDR"),
        "HCPTR": ANY, "HSTR": ANY, "HDCR": ANY, "CNTHCTL": ANY, "CPACR": ANY,
        "CTR": Bits(0x80000000, 0xE0000000),  # CTR format 0b100: ARMv7 (B4.1)
        "ID_PFR0": ANY,
        "TTBCR": Bits(0, 1 << 31),  # EAE resets to 0
    }}


def _pl1(vec: int, lr: Expectation, spsr: int, cpsr: int,
         **more: Expectation) -> Dict[str, Expectation]:
    """What lib.S's PL1 handler prints: VEC, LR, SPSR, CPSR (+ fault registers)."""
    return {"VEC": vec, "LR": lr, "SPSR": spsr, "CPSR": cpsr, **more}


def expect_pl1_exceptions(s: Symbols) -> CaseExpectations:
    """Exceptions to PL1 from SVC (B1.9; LR offsets and masks from the Take*Exception pseudocode)."""
    svc, svc_t = NC | MODE_SVC | AIF, NC | MODE_SVC | AIF | PSR_T
    und, abt = NC | MODE_UND | AIF, NC | MODE_ABT | AIF
    return {
        # TakeUndefInstrException: LR = insn + 4 (ARM) / + 2 (Thumb), UND mode, I set.
        "udf_arm": _pl1(0x04, s["udf_arm_insn"] + 4, svc, und),
        "udf_thumb": _pl1(0x04, s["udf_thumb_insn"] + 2, svc_t, und),
        # TakeSVCException: LR = next instruction, SVC mode, I set.
        "svc_arm": _pl1(0x08, s["svc_arm_insn"] + 4, svc, svc),
        "svc_thumb": _pl1(0x08, s["svc_thumb_insn"] + 2, svc_t, svc),
        # BKPT: a debug event (C3, BKPT instruction debug events) taken as a
        # Prefetch Abort (C4, debug exceptions): LR = insn + 4 in both states,
        # ABT mode, A and I set, IFSR.FS = 0b00010 debug event (short format,
        # B4.1 IFSR).  IFAR is UNKNOWN, so not printed.
        "bkpt_arm": _pl1(0x0C, s["bkpt_arm_insn"] + 4, svc, abt, IFSR=0x002),
        "bkpt_thumb": _pl1(0x0C, s["bkpt_thumb_insn"] + 4, svc_t, abt, IFSR=0x002),
        # TakeDataAbortException: LR = insn + 8; an unaligned LDR with
        # SCTLR.A=1 is an alignment fault even with the MMU off (A3.2, B3.12):
        # DFSR.FS = 0b00001, WnR = 0; DFAR = the unaligned address.
        "align_ldr": _pl1(0x10, s["align_ldr_insn"] + 8, svc, abt,
                          DFSR=0x001, DFAR=s["align_word"] + 1),
        # SCTLR.TE=1: exceptions to PL1 are taken in Thumb state (CPSR.T = TE).
        "svc_te": _pl1(0x08, s["svc_te_insn"] + 4, svc, svc | PSR_T),
        "udf_te": _pl1(0x04, s["udf_te_insn"] + 4, svc, und | PSR_T),
    }


def _hyp(vec: int, hsr_value: Expectation, elr: int, spsr: int) -> Dict[str, Expectation]:
    """What lib.S's Hyp handler prints: VEC, HSR, ELR (ELR_hyp), SPSR (SPSR_hyp)."""
    return {"VEC": vec, "HSR": hsr_value, "ELR": elr, "SPSR": spsr}


def expect_hyp_entry(s: Symbols) -> CaseExpectations:
    """Entries to Hyp (B1.8, the Hyp vector table; TakeHypTrapException, B3.13.6 HSR)."""
    svc, hyp, usr = NC | MODE_SVC | AIF, NC | MODE_HYP | AIF, NC | MODE_USR | AIF
    # EC 0x00: ISS and IL are not valid (UNK/SBZP), only EC is fixed.
    unknown = Bits(hsr(EC_UNKNOWN, 0, 0), EC_MASK)
    return {
        # HVC from NS PL1: Hyp Trap (0x14), EC 0x12 with imm16, ELR = next.
        "hvc_svc": _hyp(0x14, hsr(EC_HVC, 0x1234), s["hvc_svc_next"], svc),
        "hvc_svc_thumb": _hyp(0x14, hsr(EC_HVC, 0xABCD), s["hvc_thumb_next"], svc | PSR_T),
        # HVC and SVC executed in Hyp: offset 0x08; SVC's HSR has imm24[15:0].
        "hvc_hyp": _hyp(0x08, hsr(EC_HVC, 0x4321), s["hvc_hyp_next"], hyp),
        "svc_hyp": _hyp(0x08, hsr(EC_SVC, 0x5432), s["svc_hyp_next"], hyp),
        # Undefined Instruction in Hyp: offset 0x04, ELR = the instruction.
        "udf_hyp": _hyp(0x04, unknown, s["udf_hyp_insn"], hyp),
        # HCR.TGE routes SVC and Undefined Instruction from NS User to Hyp Trap.
        "tge_svc_usr": _hyp(0x14, hsr(EC_SVC, 0x0777), s["tge_svc_next"], usr),
        "tge_udf_usr": _hyp(0x14, unknown, s["tge_udf_insn"], usr),
    }


def expect_hyp_traps(s: Symbols) -> CaseExpectations:
    """Instruction traps to Hyp (B1.14): ELR = the trapped instruction, offset 0x14."""
    svc = MODE_SVC | AIF
    return {
        # HCR.TWI: EC 0x01, ISS CV=1 COND=0xE, TI=0 (WFI).
        "wfi_twi": _hyp(0x14, hsr(EC_WFX, cond()), s["wfi_insn"], svc),
        # A conditional WFI that passes its check: COND = its condition (NE).
        "wfi_cond_twi": _hyp(0x14, hsr(EC_WFX, cond(COND_NE)), s["wfine_insn"], NC | svc),
        # HCR.TWE: the WFE that would suspend (Event Register clear); TI=1.
        "wfe_twe": _hyp(0x14, hsr(EC_WFX, cond() | 1), s["wfe_insn"], svc),
        # HCR.TSC: EC 0x13, IL=1; the v7 ISS carries nothing to check.
        "smc_tsc": _hyp(0x14, Bits(hsr(EC_SMC, 0), 0xFE000000), s["smc_insn"], svc),
        # HCPTR.TCP10: EC 0x07, CV/COND, TA=0, coproc 10 (VADD.F32 is a cp10 encoding).
        "vfp_hcptr": _hyp(0x14, hsr(EC_HCPTR, cond() | 0xA), s["vfp_insn"], svc),
        # CNTHCTL.PL1PCTEN=0: MRRC CNTPCT (opc1 0, c14) traps as EC 0x04.
        "cntpct_pl1pcten": _hyp(0x14, hsr(EC_CP15_64, mcrr_iss(True, 0, 14, 4, 5)),
                                s["cntpct_insn"], svc),
        # CNTHCTL.PL1PCEN=0: MRC CNTP_CTL (c14, 0, c2, 1) traps as EC 0x03.
        "cntp_ctl_pl1pcen": _hyp(0x14, hsr(EC_CP15_32, mcr_iss(True, 0, 14, 2, 1, 6)),
                                 s["cntp_ctl_insn"], svc),
    }


def expect_cp15_traps(s: Symbols) -> CaseExpectations:
    """CP15 traps to Hyp (B1.14, HCR and HSTR in B4.1); ISS per B3.13.6."""
    svc = MODE_SVC | AIF

    def cp15(label: str, read: bool, opc1: int, crn: int, crm: int, opc2: int,
             rt: int) -> Dict[str, Expectation]:
        return _hyp(0x14, hsr(EC_CP15_32, mcr_iss(read, opc1, crn, crm, opc2, rt)),
                    s[label], svc)

    return {
        "tpc_off_first": {},
        "tpc_on_after": cp15("tpc_toggle_insn", False, 0, 7, 10, 1, 8),
        "tpc_off_again": {},
        "tvm_sctlr_write": cp15("tvm_insn", False, 0, 1, 0, 0, 3),
        "tid2_ctr": cp15("tid2_insn", True, 0, 0, 0, 1, 2),
        "tid3_id_pfr0": cp15("tid3_insn", True, 0, 0, 1, 0, 4),
        "tac_actlr": cp15("tac_insn", True, 0, 1, 0, 1, 5),
        "ttlb_tlbiall": cp15("ttlb_insn", False, 0, 8, 7, 0, 6),
        "tsw_dcisw": cp15("tsw_insn", False, 0, 7, 6, 2, 7),
        "tpc_dccmvac": cp15("tpc_insn", False, 0, 7, 10, 1, 8),
        "tpu_iciallu": cp15("tpu_insn", False, 0, 7, 5, 0, 9),
        "tidcp_l2ctlr": cp15("tidcp_insn", True, 1, 9, 0, 2, 10),
        "hstr_t1_sctlr": cp15("hstr_t1_insn", True, 0, 1, 0, 0, 12),
        "hstr_t15_cbar": cp15("hstr_t15_insn", True, 4, 15, 0, 0, 11),
        "hstr_t2_ttbr0": _hyp(0x14, hsr(EC_CP15_64, mcrr_iss(False, 0, 2, 2, 3)),
                              s["hstr_t2_insn"], svc),
    }


def expect_virtual_exceptions(s: Symbols) -> CaseExpectations:
    """Virtual IRQ/FIQ/abort taken by NS SVC code (B1.8, TakeVirtual*Exception).

    Each is taken once the guest's CPS unmasks it, somewhere in the four-NOP
    window after the CPS: the return link names the first instruction not
    executed (+4 for IRQ/FIQ, +8 for the abort).
    """
    def window(name: str, offset: int) -> Within:
        return Within(s[f"{name}_window"] + offset, s[f"{name}_window_end"] + offset)

    svc = NC | MODE_SVC
    return {
        "virq": _pl1(0x18, window("virq", 4), svc | PSR_A | PSR_F, NC | MODE_IRQ | AIF),
        "vfiq": _pl1(0x1C, window("vfiq", 4), svc | PSR_A | PSR_I, NC | MODE_FIQ | AIF),
        # Virtual abort: a Data Abort reporting an asynchronous external abort,
        # DFSR.FS = 0b10110 (short format); DFAR UNKNOWN; taking it clears HCR.VA.
        "vabt": _pl1(0x10, window("vabt", 8), svc | PSR_I | PSR_F, NC | MODE_ABT | AIF,
                     DFSR=Bits(0x406, 0x40F), HCR_AFTER=HCR_AMO),
    }


def expect_psci(s: Symbols) -> CaseExpectations:
    """PSCI over SMC (ARM DEN 0022 PSCI, ARM DEN 0028 SMCCC)."""
    version = Within(0x00010000, 0x7FFFFFFF)  # bit 31 clear; FEATURES needs >= 1.0
    not_supported = 0xFFFFFFFF
    return {
        "version_svc": {"R0": version},
        "features_version": {"R0": 0},  # PSCI_VERSION is implemented
        "features_unknown": {"R0": not_supported},
        "unknown_fid": {"R0": not_supported},  # SMCCC: unknown function identifier
        "version_hyp": {"R0": version},
        "system_off": {},
    }


EXPECTATIONS: Dict[str, Callable[[Symbols], CaseExpectations]] = {
    "reset_state": expect_reset_state,
    "pl1_exceptions": expect_pl1_exceptions,
    "hyp_entry": expect_hyp_entry,
    "hyp_traps": expect_hyp_traps,
    "cp15_traps": expect_cp15_traps,
    "virtual_exceptions": expect_virtual_exceptions,
    "psci": expect_psci,
}

# Cases of the images, in the order they print (used to build test ids
# without building anything at collection time).
CASES: Dict[str, Tuple[str, ...]] = {
    "reset_state": ("",),
    "pl1_exceptions": ("udf_arm", "svc_arm", "bkpt_arm", "udf_thumb", "svc_thumb",
                       "bkpt_thumb", "align_ldr", "svc_te", "udf_te"),
    "hyp_entry": ("hvc_svc", "hvc_svc_thumb", "hvc_hyp", "svc_hyp", "udf_hyp",
                  "tge_svc_usr", "tge_udf_usr"),
    "hyp_traps": ("wfi_twi", "wfi_cond_twi", "wfe_twe", "smc_tsc", "vfp_hcptr",
                  "cntpct_pl1pcten", "cntp_ctl_pl1pcen"),
    "cp15_traps": ("tpc_off_first", "tpc_on_after", "tpc_off_again", "tvm_sctlr_write", "tid2_ctr", "tid3_id_pfr0", "tac_actlr", "ttlb_tlbiall",
                   "tsw_dcisw", "tpc_dccmvac", "tpu_iciallu", "tidcp_l2ctlr", "hstr_t1_sctlr",
                   "hstr_t15_cbar", "hstr_t2_ttbr0"),
    "virtual_exceptions": ("virq", "vfiq", "vabt"),
    "psci": ("version_svc", "features_version", "features_unknown", "unknown_fid",
             "version_hyp", "system_off"),
}

# Where QEMU 7.2 does not do what the ARM ARM requires.  hypdbg must follow
# the architecture here.
QEMU_KNOWN_DIFFERENCES: Dict[Tuple[str, str], str] = {
    ("hyp_traps", "wfi_cond_twi"):
        "QEMU reports every trapped WFI/WFE with HSR.COND=0xE; for WFINE the ARM ARM "
        "gives COND=0x1 (HSR 0x07100000, QEMU 0x07e00000)",
    ("hyp_traps", "wfe_twe"):
        "QEMU ignores HCR.TWE: WFE is never trapped (architecture: EC 0x01, TI=1)",
    ("cp15_traps", "tid3_id_pfr0"):
        "QEMU 7.2 traps HCR.TID3 ID-register reads only on v8 CPUs (fixed upstream in 2025)",
    ("cp15_traps", "tsw_dcisw"):
        "QEMU 7.2 does not implement HCR.TSW for AArch32 cache maintenance (DCISW executes)",
    ("cp15_traps", "tpc_dccmvac"):
        "QEMU 7.2 does not implement HCR.TPC for AArch32 cache maintenance (DCCMVAC executes)",
    ("cp15_traps", "tpc_on_after"):
        "QEMU 7.2 does not implement HCR.TPC for AArch32 cache maintenance (DCCMVAC executes)",
    ("cp15_traps", "tpu_iciallu"):
        "QEMU 7.2 does not implement HCR.TPU for AArch32 cache maintenance (ICIALLU executes)",
    ("cp15_traps", "tidcp_l2ctlr"):
        "QEMU 7.2 does not implement HCR.TIDCP (L2CTLR is read)",
}

# Values the architecture leaves UNKNOWN: printed, but not compared between
# QEMU and hypdbg.
UNKNOWN_VALUES = {("virtual_exceptions", "vabt", "DFAR")}


# Architecture hypdbg does not model yet: strict xfails on hypdbg, still asserting the ARM ARM.
HYPDBG_MISSING: Dict[Tuple[str, str], str] = {
}


def _params(runner: str) -> List[Any]:
    return case_params(CASES, runner, QEMU_KNOWN_DIFFERENCES, HYPDBG_MISSING, "not modelled: ")


# -- running (once per image per session) --------------------------------------

def elf_of(image: str) -> Path:
    """The built ELF of an image."""
    return memo("elf", image, lambda: build_image(image))


def qemu_text(image: str) -> str:
    """QEMU's UART output for an image (the reference)."""
    return memo("qemu", image, lambda: run_qemu(elf_of(image), timeout=QEMU_TIMEOUT))


def qemu_report(image: str) -> UartReport:
    """QEMU's output, parsed."""
    return parse_uart(qemu_text(image))


def hypdbg_result(image: str) -> subprocess.CompletedProcess:
    """The finished ``hypdbg run`` of an image."""
    return memo("hypdbg", image, lambda: run_hypdbg(elf_of(image), timeout=HYPDBG_TIMEOUT))


def hypdbg_report(image: str) -> UartReport:
    """hypdbg's UART output for an image; fails clearly if hypdbg could not run it."""
    try:
        res = hypdbg_result(image)
    except RunTimeout as e:
        pytest.fail(f"hypdbg run of {image}: {e}")
    if res.returncode != 0:
        hint = ""
        if "No module named" in res.stderr or "invalid choice" in res.stderr:
            hint = ("hypdbg's `run` command is not available (python -m hypdbg.cli run): "
                    "the image tests need it.\n")
        pytest.fail(f"{hint}hypdbg run {image} exited with {res.returncode}\n"
                    f"stderr (tail):\n{res.stderr[-3000:]}\nstdout (tail):\n{res.stdout[-2000:]}")
    return parse_uart(res.stdout)


def expectations(image: str) -> CaseExpectations:
    """The ARM ARM's expectations for an image, with addresses from its symbols."""
    return EXPECTATIONS[image](symbols(elf_of(image)))


def _whole_output_problems(report: UartReport, image: str) -> List[str]:
    """What is wrong with an output as a whole: stray lines, no END, wrong cases."""
    problems = []
    if report.stray:
        problems.append(f"unexpected lines: {report.stray}")
    if image == "psci":
        if not report.lines or report.lines[-1] != "CASE system_off":
            problems.append("output must stop right after 'CASE system_off' (SYSTEM_OFF)")
    elif not report.ended:
        problems.append("no END line")
    seen = tuple(c for c, k in report.order if k == "") or ("",)
    if seen != CASES[image]:
        problems.append(f"cases {seen}, expected {CASES[image]}")
    return problems


# -- tests ---------------------------------------------------------------------

@pytest.mark.parametrize("image", list(CASES))
def test_qemu_output_well_formed(image: str) -> None:
    """QEMU runs the image to SYSTEM_OFF and prints only the expected cases."""
    problems = _whole_output_problems(qemu_report(image), image)
    assert not problems, f"{image} on QEMU:\n" + "\n".join(problems) + "\n" + qemu_text(image)


@pytest.mark.parametrize("image,case", _params("qemu"))
def test_qemu(image: str, case: str) -> None:
    """QEMU's values for one case meet the ARM ARM."""
    report = qemu_report(image)
    check_case(report.cases.get(case, {}), expectations(image)[case], f"QEMU {image}:{case}")


@pytest.mark.parametrize("image", list(CASES))
def test_hypdbg_output_well_formed(image: str) -> None:
    """hypdbg runs the image to SYSTEM_OFF, printing the same cases and keys as QEMU."""
    report = hypdbg_report(image)
    problems = _whole_output_problems(report, image)
    ref = qemu_report(image)

    def comparable(order: List[Tuple[str, str]]) -> List[str]:
        return [f"CASE {c}" if k == "" else f"{c}: {k}" for c, k in order
                if ((image, c) not in QEMU_KNOWN_DIFFERENCES and (image, c) not in HYPDBG_MISSING)
                or k == ""]

    diff = list(difflib.unified_diff(comparable(ref.order), comparable(report.order),
                                     "QEMU", "hypdbg", lineterm="", n=1))
    if diff:
        problems.append("printed values differ from QEMU's (known differences left out):\n"
                        + "\n".join(diff))
    assert not problems, f"{image} on hypdbg:\n" + "\n".join(problems)


@pytest.mark.parametrize("image,case", _params("hypdbg"))
def test_hypdbg(image: str, case: str) -> None:
    """hypdbg's values equal QEMU's; in QEMU's known differences, the ARM ARM's."""
    got = hypdbg_report(image).cases.get(case, {})
    check_case(got, expectations(image)[case], f"hypdbg {image}:{case}")
    if (image, case) in QEMU_KNOWN_DIFFERENCES:
        return
    ref = qemu_report(image).cases.get(case, {})
    skip = {k for (i, c, k) in UNKNOWN_VALUES if (i, c) == (image, case)}
    differ = {k: (f"{got.get(k, 0):08x}" if k in got else "missing", f"{v:08x}")
              for k, v in ref.items() if k not in skip and got.get(k) != v}
    extra = sorted(set(got) - set(ref))
    assert not differ and not extra, (
        f"hypdbg {image}:{case} differs from QEMU: "
        + ", ".join(f"{k}: hypdbg {a}, QEMU {b}" for k, (a, b) in differ.items())
        + (f"; only hypdbg printed {extra}" if extra else ""))
