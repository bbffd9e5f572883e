"""Translation images with the MMU on, run on QEMU (the reference) and on hypdbg.

tests/images/mmu_short.S, mmu_long.S, mmu_hyp.S and mmu_stage2.S build their
translation tables in RAM, turn translation on and make accesses that work
(printing the value read, or the address a called function ran at) and
accesses that fault (the handlers in tests/images/mmu.inc print the fault
registers).  As in test_exception_images.py, for every case:

* ``test_qemu``: QEMU's values against the ARM Architecture Reference Manual
  (ARM DDI 0406C).  Expected values come from the ELF's symbols and from the
  table layout, the ``.equ`` constants of the image source, never from
  output.  Where QEMU 7.2 departs from the manual the case is in
  QEMU_KNOWN_DIFFERENCES and the test is a strict xfail.
* ``test_hypdbg``: hypdbg's values equal QEMU's (bits and registers the
  architecture leaves UNKNOWN excepted); in QEMU's known differences they
  must be the architectural ones.

References: B3.5 short-descriptor translation, B3.6 long-descriptor and
stage-2 translation, B3.7 access permissions and domains, B3.12 fault
checking, B3.13.3 fault status encodings (Tables B3-23 and B3-24), B3.13.5
HPFAR, B3.13.6 the HSR (Data and Prefetch Abort ISS), B1.9.7/B1.9.8 abort
entry (LR offsets), B4.1 DFSR/IFSR/HSR/HPFAR layouts.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple, Union

import pytest

from imagebuild import (case_params, memo, RunTimeout, UartReport, missing_tools, parse_uart, run_hypdbg,
                        run_qemu, symbols)
from mmuimage import build_mmu_image, layout_of

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}")

QEMU_TIMEOUT = 10.0
HYPDBG_TIMEOUT = 60.0


# -- expectation vocabulary ----------------------------------------------------

@dataclass(frozen=True)
class Bits:
    """The bits under ``mask`` equal ``want``; ``unknown`` bits are UNKNOWN (not compared with QEMU)."""

    want: int
    mask: int = 0xFFFFFFFF
    unknown: int = 0


class _Unknown:
    """Printed, but UNKNOWN in the architecture: neither checked nor compared."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
Expectation = Union[int, Bits, _Unknown]
CaseExpectations = Dict[str, Dict[str, Expectation]]


def check_case(values: Dict[str, int], expected: Dict[str, Expectation], label: str) -> None:
    """Assert every expectation of one case, and that nothing else was printed."""
    problems: List[str] = []
    for key, exp in expected.items():
        if key not in values:
            problems.append(f"{key}: not printed (expected {exp!r})")
            continue
        got = values[key]
        if isinstance(exp, Bits):
            ok = got & exp.mask == exp.want & exp.mask
            show = f"{exp.want:08x} under mask {exp.mask:08x}"
        elif isinstance(exp, int):
            ok, show = got == exp, f"{exp:08x}"
        else:
            ok, show = True, ""
        if not ok:
            problems.append(f"{key}={got:08x}, expected {show}")
    extra = sorted(set(values) - set(expected))
    if extra:
        problems.append(f"unexpected values printed: {extra}")
    assert not problems, (f"{label}:\n  " + "\n  ".join(problems)
                          + f"\n  all values: { {k: f'{v:08x}' for k, v in values.items()} }")


def compare_mask(exp: Expectation) -> int:
    """The bits of a value that QEMU and hypdbg must agree on."""
    if isinstance(exp, _Unknown):
        return 0
    if isinstance(exp, Bits):
        return 0xFFFFFFFF & ~exp.unknown
    return 0xFFFFFFFF


# -- architectural encodings ---------------------------------------------------

MODE_USR, MODE_SVC = 0x10, 0x13
PSR_T = 0x20
AIF = 0x1C0           # run_guest enters the guest with A, I and F set
PSR_LOW = 0x1FF       # M[4:0], T, F, I, A: what the handlers' SPSR checks look at
RAM = 0x40000000

# Fault kinds: (short FS code first level, second level) of Table B3-23, and the
# long-descriptor STATUS base of Table B3-24 (level in [1:0]).
SHORT_FS = {"translation": (0x05, 0x07), "access_flag": (0x03, 0x06), "domain": (0x09, 0x0B),
            "permission": (0x0D, 0x0F)}
LONG_FSC = {"translation": 0x04, "access_flag": 0x08, "permission": 0x0C}

FSR_LPAE, FSR_WNR = 1 << 9, 1 << 11
EC_IABT, EC_IABT_HYP, EC_DABT, EC_DABT_HYP = 0x20, 0x21, 0x24, 0x25
HSR_IL, ISS_ISV, ISS_SSE, ISS_S1PTW, ISS_WNR = 1 << 25, 1 << 24, 1 << 21, 1 << 7, 1 << 6
SAS = {1: 0, 2: 1, 4: 2}


def short_dfsr(kind: str, level: int, write: bool = False, domain: int = -1) -> Bits:
    """Short-format DFSR (B4.1 DFSR): FS[4] at bit 10, FS[3:0], WnR at 11, LPAE=0, ExT=0, CM=0.

    Domain[7:4] is checked for a Domain fault only: ARM deprecates the field
    (B3.13.3, "The Domain field in the DFSR") and QEMU's value is compared instead.
    """
    fs = SHORT_FS[kind][level - 1]
    want = (fs & 0xF) | (fs >> 4) << 10 | (FSR_WNR if write else 0)
    mask = 0x3E0F
    if domain >= 0:
        want |= domain << 4
        mask |= 0xF0
    return Bits(want, mask)


def short_ifsr(kind: str, level: int) -> Bits:
    """Short-format IFSR (B4.1 IFSR): FS as in DFSR; bits [8:4] are UNK/SBZP."""
    fs = SHORT_FS[kind][level - 1]
    return Bits((fs & 0xF) | (fs >> 4) << 10, 0x160F, unknown=0x1F0)


def long_fsc(kind: str, level: int) -> int:
    """Long-descriptor fault status code (Table B3-24)."""
    return LONG_FSC[kind] | level


def long_dfsr(kind: str, level: int, write: bool = False) -> Bits:
    """Long-format DFSR: STATUS[5:0], LPAE=1, WnR, ExT=0, CM=0; [8:6] and [10] UNK/SBZP."""
    return Bits(FSR_LPAE | long_fsc(kind, level) | (FSR_WNR if write else 0), 0x3A3F)


def long_ifsr(kind: str, level: int) -> Bits:
    """Long-format IFSR: STATUS[5:0], LPAE=1, ExT=0."""
    return Bits(FSR_LPAE | long_fsc(kind, level), 0x123F)


@dataclass(frozen=True)
class Access:
    """The load or store that faulted, as the ISS describes it (B3.13.6)."""

    size: int = 4
    rt: int = 2
    write: bool = False
    sign: bool = False
    thumb16: bool = False
    syndrome: bool = True   # a single-register access without writeback: ISV=1 for stage 2


LDR_R2 = Access()
STR_R2 = Access(write=True)


def hsr_dabt(fsc: int, acc: Access, s1ptw: bool = False, ec: int = EC_DABT) -> Bits:
    """HSR of a Data Abort taken to Hyp (B3.13.6).

    For a stage-2 fault (EC 0x24) on a single-register load or store, not on a
    stage-1 walk, ISV=1 and SAS, SSE, SRT and IL describe the instruction.
    With ISV=0, ISS[23:14] and IL are not valid (UNK/SBZP): not checked.
    For EC 0x25 (a Hyp stage-1 fault) the manual's ISV rules are for stage-2
    aborts; ISS[24:14] and IL are compared with QEMU only.
    """
    want = ec << 26 | fsc | (ISS_S1PTW if s1ptw else 0) | (ISS_WNR if acc.write else 0)
    mask = 0xFC0003FF
    if ec == EC_DABT and acc.syndrome and not s1ptw:
        want |= ISS_ISV | SAS[acc.size] << 22 | (ISS_SSE if acc.sign else 0) | acc.rt << 16
        want |= 0 if acc.thumb16 else HSR_IL
        mask = 0xFFFFFFFF
    return Bits(want, mask)


def hsr_iabt(fsc: int, s1ptw: bool = False, ec: int = EC_IABT) -> Bits:
    """HSR of a Prefetch Abort taken to Hyp: EA[9]=0, S1PTW[7], IFSC[5:0]; IL and ISS[24:10]
    are not valid (UNK/SBZP)."""
    return Bits(ec << 26 | fsc | (ISS_S1PTW if s1ptw else 0), 0xFC0003FF)


def hpfar(ipa: int) -> int:
    """HPFAR.FIPA = IPA[39:12] in bits [31:4] (B4.1 HPFAR)."""
    return (ipa >> 12) << 4 & 0xFFFFFFF0


# -- what the handlers of tests/images/mmu.inc print ---------------------------

Symbols = Dict[str, int]


def spsr(mode: int, thumb: bool = False) -> Bits:
    """The interrupted mode and state, with the A, I, F masks run_guest set."""
    return Bits(mode | AIF | (PSR_T if thumb else 0), PSR_LOW)


def pl1_dabt(s: Symbols, case: str, dfsr: Bits, far: int, mode: int = MODE_SVC) -> Dict[str, Expectation]:
    """Data Abort to PL1 (TakeDataAbortException): VBAR+0x10, LR = instruction + 8."""
    return {"VEC": 0x10, "DFSR": dfsr, "DFAR": far, "LR": s[f"{case}_insn"] + 8, "SPSR": spsr(mode)}


def pl1_pabt(ifsr: Bits, va: int, mode: int = MODE_SVC) -> Dict[str, Expectation]:
    """Prefetch Abort to PL1 (TakePrefetchAbortException): VBAR+0x0C, IFAR = VA, LR = VA + 4."""
    return {"VEC": 0x0C, "IFSR": ifsr, "IFAR": va, "LR": va + 4, "SPSR": spsr(mode)}


def hyp_trap_dabt(s: Symbols, case: str, hsr: Bits, va: int, hpfar_value: Expectation,
                  thumb: bool = False) -> Dict[str, Expectation]:
    """Stage-2 Data Abort from the guest: Hyp Trap (HVBAR+0x14), ELR_hyp = the instruction."""
    return {"HVEC": 0x14, "HSR": hsr, "HDFAR": va, "HPFAR": hpfar_value,
            "ELR": s[f"{case}_insn"], "SPSR": spsr(MODE_SVC, thumb)}


def hyp_trap_iabt(hsr: Bits, va: int, hpfar_value: Expectation) -> Dict[str, Expectation]:
    """Stage-2 Prefetch Abort from the guest: Hyp Trap, HIFAR = ELR_hyp = the VA fetched."""
    return {"HVEC": 0x14, "HSR": hsr, "HIFAR": va, "HPFAR": hpfar_value, "ELR": va,
            "SPSR": spsr(MODE_SVC)}


def hyp_dabt(s: Symbols, case: str, hsr: Bits, va: int) -> Dict[str, Expectation]:
    """Data Abort taken from Hyp mode: HVBAR+0x10, ELR_hyp = the instruction."""
    return {"HVEC": 0x10, "HSR": hsr, "HDFAR": va, "ELR": s[f"{case}_insn"]}


def hyp_pabt(hsr: Bits, va: int) -> Dict[str, Expectation]:
    """Prefetch Abort taken from Hyp mode: HVBAR+0x0C, HIFAR = ELR_hyp = the VA fetched."""
    return {"HVEC": 0x0C, "HSR": hsr, "HIFAR": va, "ELR": va}


def val(v: int) -> Dict[str, Expectation]:
    return {"VAL": v}


def ret(v: int) -> Dict[str, Expectation]:
    """exec_page returns the address it ran at (adr r0, exec_page)."""
    return {"RET": v}


# -- expectations per image ----------------------------------------------------

Layout = Dict[str, int]


def expect_mmu_short(s: Symbols, L: Layout) -> CaseExpectations:
    """Short descriptors (B3.5), TTBCR.N=1, DACR: D0/D3 client, D1 no access, D2 manager."""
    marker, page_marker, exe = s["sec_marker"], s["page_a_marker"], s["exec_page"]
    off, poff = marker - RAM, page_marker - s["page_a"]
    scratch = s["scratch"]
    pages = L["PAGES_VA"]
    return {
        # A section keeps VA[19:0], a supersection VA[23:0], a small page VA[11:0],
        # a large page VA[15:0] (B3.5.1); TTBR1 translates VA >= 2^(32-N) (B3.5.4).
        "section_read": val(marker),
        "supersection_read": val(marker),
        "small_page_read": val(page_marker),
        "large_page_read": val(marker),
        "ttbr1_section_read": val(marker),
        # Manager domain: no permission check (B3.7.3); the write lands in RAM.
        "manager_write": val(L["MGR_SEC"] + scratch - RAM),
        "section_translation": pl1_dabt(s, "section_translation", short_dfsr("translation", 1),
                                        L["HOLE_VA"] + 0x344),
        "page_translation": pl1_dabt(s, "page_translation", short_dfsr("translation", 2),
                                     pages + 0x4088),
        "ttbr1_translation": pl1_dabt(s, "ttbr1_translation", short_dfsr("translation", 1),
                                      L["TTBR1_HOLE"] + 0x10),
        # No-access domain: Domain fault, DFSR.Domain = the descriptor's domain.
        "section_domain": pl1_dabt(s, "section_domain", short_dfsr("domain", 1, domain=1),
                                   L["DOM1_SEC"] + 0x100),
        "page_domain": pl1_dabt(s, "page_domain", short_dfsr("domain", 2, domain=1),
                                L["DOM1_PAGES"] + 0x40),
        # AP=101: PL1 read-only (Table B3-8); the write is a permission fault, WnR=1.
        "section_permission_write": pl1_dabt(s, "section_permission_write",
                                             short_dfsr("permission", 1, write=True),
                                             L["RO_SEC"] + scratch - RAM),
        "section_ro_read": val(marker),
        # XN and PXN: a prefetch abort with a permission fault (B3.7.2).
        "section_xn_fetch": pl1_pabt(short_ifsr("permission", 1), L["XN_SEC"] + exe - RAM),
        "section_exec": ret(L["ALIAS_SEC"] + exe - RAM),
        "section_pxn_fetch": pl1_pabt(short_ifsr("permission", 1), L["PXN_SEC"] + exe - RAM),
        "page_xn_fetch": pl1_pabt(short_ifsr("permission", 2), pages + 0x2000),
        "page_exec": ret(pages + 0x3000),
        # PXN in a page-table descriptor applies to all its pages (B3.5.1).
        "table_pxn_fetch": pl1_pabt(short_ifsr("permission", 2), L["PXN_PAGES"]),
        "fetch_translation": pl1_pabt(short_ifsr("translation", 1), L["HOLE_VA"] + 0x1000),
        # User mode: AP=101 gives PL0 no access, AP=010 PL0 read-only; PXN does not
        # restrict PL0.
        "usr_section_pl1_only": pl1_dabt(s, "usr_section_pl1_only", short_dfsr("permission", 1),
                                         L["RO_SEC"] + off, MODE_USR),
        "usr_page_write_ro": pl1_dabt(s, "usr_page_write_ro", short_dfsr("permission", 2, write=True),
                                      pages + 0x1000 + poff, MODE_USR),
        "usr_page_read_ro": val(page_marker),
        "usr_pxn_exec": ret(L["PXN_SEC"] + exe - RAM),
        # SCTLR.AFE=1: AP[0]=0 is an Access flag fault (B3.7.1; FS 00011 / 00110).
        "section_access_flag": pl1_dabt(s, "section_access_flag", short_dfsr("access_flag", 1),
                                        L["AF_SEC"] + 0x200),
        "page_access_flag": pl1_dabt(s, "page_access_flag", short_dfsr("access_flag", 2),
                                     pages + 0x5030),
        "afe_section_read": val(marker),
    }


def expect_mmu_long(s: Symbols, L: Layout) -> CaseExpectations:
    """Long descriptors (B3.6), T0SZ=1, T1SZ=1; faults report STATUS with the level."""
    marker, page_marker, exe = s["sec_marker"], s["page_a_marker"], s["exec_page"]
    off, poff = marker - RAM, page_marker - s["page_a"]
    pages = L["PAGES_VA"]

    def dabt(case: str, kind: str, level: int, va: int, write: bool = False,
             mode: int = MODE_SVC) -> Dict[str, Expectation]:
        return pl1_dabt(s, case, long_dfsr(kind, level, write), va, mode)

    return {
        "l1_block_read": val(marker),      # TTBR1, 1 GiB block: VA[29:0]
        "l2_block_read": val(marker),      # 2 MiB block: VA[20:0]
        "l3_page_read": val(page_marker),
        "l1_translation": dabt("l1_translation", "translation", 1, L["HOLE_L1_VA"] + 0x10),
        "l2_translation": dabt("l2_translation", "translation", 2, L["HOLE_L2_VA"] + 0x2220),
        "l3_translation": dabt("l3_translation", "translation", 3, pages + 0x4044),
        # Level 3 with descriptor bits[1:0] = 01 is reserved: a translation fault (B3.6.1).
        "l3_reserved": dabt("l3_reserved", "translation", 3, pages + 0x6048),
        # AP[2:1]=10: read-only at PL1 (Table B3-9).
        "page_permission_write": dabt("page_permission_write", "permission", 3,
                                      pages + 0x1000 + poff, write=True),
        "page_ro_read": val(page_marker),
        "block_access_flag": dabt("block_access_flag", "access_flag", 2, L["NOAF_BLOCK"] + 0x1230),
        "page_access_flag": dabt("page_access_flag", "access_flag", 3, pages + 0x5050),
        "page_xn_fetch": pl1_pabt(long_ifsr("permission", 3), pages + 0x2000),
        "page_exec": ret(pages + 0x3000),
        "block_pxn_fetch": pl1_pabt(long_ifsr("permission", 2), L["PXN_BLOCK"] + exe - RAM),
        # XNTable and APTable[1] restrict every descriptor below the table (B3.6.1).
        "xntable_fetch": pl1_pabt(long_ifsr("permission", 3), L["XNT_VA"]),
        "aptable_write": dabt("aptable_write", "permission", 3, L["APT_VA"] + poff, write=True),
        "aptable_read": val(page_marker),
        # AP[2:1]=00: no PL0 access; PXN does not restrict PL0.
        "usr_block_pl1_only": dabt("usr_block_pl1_only", "permission", 2, L["PL1_BLOCK"] + off,
                                   mode=MODE_USR),
        "usr_block_read": val(marker),
        "usr_pxn_exec": ret(L["PXN_BLOCK"] + exe - RAM),
    }


def expect_mmu_hyp(s: Symbols, L: Layout) -> CaseExpectations:
    """Hyp stage 1 (B3.6; AP[2] only, B3.7.1); aborts from Hyp use EC 0x25/0x21 (B3.13.6)."""
    marker, page_marker = s["sec_marker"], s["page_a_marker"]
    poff = page_marker - s["page_a"]
    pages = L["PAGES_VA"]

    def dabt(case: str, kind: str, level: int, va: int, acc: Access = LDR_R2) -> Dict[str, Expectation]:
        return hyp_dabt(s, case, hsr_dabt(long_fsc(kind, level), acc, ec=EC_DABT_HYP), va)

    def pabt(kind: str, level: int, va: int) -> Dict[str, Expectation]:
        return hyp_pabt(hsr_iabt(long_fsc(kind, level), ec=EC_IABT_HYP), va)

    return {
        "hyp_l1_block_read": val(marker),
        "hyp_l3_page_read": val(page_marker),
        "hyp_l1_translation": dabt("hyp_l1_translation", "translation", 1, L["HOLE_L1_VA"] + 0x10),
        "hyp_l2_translation": dabt("hyp_l2_translation", "translation", 2, L["HOLE_L2_VA"] + 0x2220),
        "hyp_l3_translation": dabt("hyp_l3_translation", "translation", 3, pages + 0x4044),
        "hyp_page_write_ro": dabt("hyp_page_write_ro", "permission", 3, pages + 0x1000 + poff, STR_R2),
        "hyp_page_ro_read": val(page_marker),
        "hyp_block_write_ro": dabt("hyp_block_write_ro", "permission", 2,
                                   L["RO_BLOCK"] + marker - RAM, STR_R2),
        "hyp_block_access_flag": dabt("hyp_block_access_flag", "access_flag", 2,
                                      L["NOAF_BLOCK"] + 0x1230),
        "hyp_page_access_flag": dabt("hyp_page_access_flag", "access_flag", 3, pages + 0x5050),
        "hyp_page_xn_fetch": pabt("permission", 3, pages + 0x2000),
        "hyp_page_exec": ret(pages + 0x3000),
        "hyp_fetch_translation": pabt("translation", 1, L["HOLE_L1_VA"] + 0x1000),
        "hyp_xntable_fetch": pabt("permission", 3, L["XNT_VA"]),
        "hyp_aptable_write": dabt("hyp_aptable_write", "permission", 3, L["APT_VA"] + poff, STR_R2),
        "hyp_aptable_read": val(page_marker),
    }


def expect_mmu_stage2(s: Symbols, L: Layout) -> CaseExpectations:
    """Stage 2 (B3.6) and its aborts to Hyp (B3.13.5 HPFAR, B3.13.6 HSR).

    HPFAR holds the faulting IPA for stage-2 translation and access flag
    faults and for any stage-2 fault on a stage-1 walk; for other stage-2
    permission faults it is UNKNOWN (B3.13.5).  HxFAR hold the VA.  The fault
    level of an S1PTW fault is the stage-2 lookup level.
    """
    marker, page_marker = s["sec_marker"], s["page_a_marker"]
    off, poff = marker - RAM, page_marker - s["page_a"]
    pages, mmio = L["PAGES_IPA"], L["MMIO_IPA"] + 0x40

    def s2_dabt(case: str, kind: str, level: int, va: int, ipa: int, acc: Access = LDR_R2,
                s1ptw: bool = False, thumb: bool = False) -> Dict[str, Expectation]:
        valid = kind != "permission" or s1ptw
        return hyp_trap_dabt(s, case, hsr_dabt(long_fsc(kind, level), acc, s1ptw), va,
                             hpfar(ipa) if valid else UNKNOWN, thumb)

    def s2_iabt(kind: str, level: int, va: int, ipa: int, s1ptw: bool = False) -> Dict[str, Expectation]:
        valid = kind != "permission" or s1ptw
        return hyp_trap_iabt(hsr_iabt(long_fsc(kind, level), s1ptw), va,
                             hpfar(ipa) if valid else UNKNOWN)

    def short_l2_desc(table: int, va: int) -> int:
        """IPA of the second-level descriptor for ``va`` (B3.5.5: table | VA[19:12] << 2)."""
        return table | ((va >> 12) & 0xFF) << 2

    g_s1ptw_table = L["HOLE_TBL_IPA"] + 0x100000
    g_perm_table = pages + 0x8000
    g_dev_table = L["DEVICE_IPA"] + s["g_l2"] - RAM
    ttbr1_va = L["G_TTBR1_VA"] + 0x40
    return {
        # Phase A (level-1 root), guest stage 1 on: VA -> IPA -> PA (B3.6, two stages).
        "two_stage_read": val(page_marker),
        "two_stage_section_read": val(marker),
        # A stage-1 fault goes to the guest even with stage 2 on (B3.12.2).
        "s1_fault_under_s2": pl1_dabt(s, "s1_fault_under_s2", short_dfsr("translation", 1),
                                      L["G_HOLE_VA"] + 0x10),
        # Stage 1 succeeds, its output IPA is in the stage-2 hole: HDFAR = VA, HPFAR = IPA.
        "s2_fault_after_s1": s2_dabt("s2_fault_after_s1", "translation", 2, L["G_MMIO_VA"] + 0x10,
                                     L["MMIO_IPA"] + 0x10),
        # Stage-2 faults on the stage-1 walk: S1PTW=1, ISV=0, HPFAR = the descriptor's IPA.
        "s1ptw_translation_read": s2_dabt("s1ptw_translation_read", "translation", 2,
                                          L["G_S1PTW_VA"] + 0x40,
                                          short_l2_desc(g_s1ptw_table, L["G_S1PTW_VA"] + 0x40),
                                          s1ptw=True),
        "s1ptw_translation_fetch": s2_iabt("translation", 2, L["G_S1PTW_VA"] + 0x1000,
                                           short_l2_desc(g_s1ptw_table, L["G_S1PTW_VA"] + 0x1000),
                                           s1ptw=True),
        # The TTBR1 first-level descriptor: TTBR1 | VA[31:20] << 2 (B3.5.4), at an IPA
        # whose stage-2 walk ends at level 2.
        "s1ptw_ttbr1_level1": s2_dabt("s1ptw_ttbr1_level1", "translation", 2, ttbr1_va,
                                      L["HOLE_TBL_IPA"] | (ttbr1_va >> 20) << 2, s1ptw=True),
        # The page table lies in a stage-2 page with HAP=00: permission fault, level 3.
        "s1ptw_permission": s2_dabt("s1ptw_permission", "permission", 3, L["G_S1PERM_VA"] + 0x40,
                                    short_l2_desc(g_perm_table, L["G_S1PERM_VA"] + 0x40), s1ptw=True),
        "s1_walk_device_table": val(page_marker),
        # HCR.PTW=1: a stage-1 walk into stage-2 Device memory is a stage-2
        # permission fault (HCR.PTW, B4.1.65) at the block's level 2.
        "s1ptw_device_ptw": s2_dabt("s1ptw_device_ptw", "permission", 2, L["G_DEVTBL_VA"] + poff,
                                    short_l2_desc(g_dev_table, L["G_DEVTBL_VA"] + poff), s1ptw=True),
        # Phase B: SL0=00, T0SZ=0: four concatenated level-2 tables (B3.6.5).
        "concat_block_read": val(marker),
        "concat_page_read": val(page_marker),
        "concat_translation": s2_dabt("concat_translation", "translation", 2, L["C_HOLE_IPA"] + 0x10,
                                      L["C_HOLE_IPA"] + 0x10),
        # Phase C: 40-bit IPA, two concatenated level-1 tables; FIPA holds IPA[39:12].
        "ipa40_read": val(marker),
        "ipa40_translation": s2_dabt("ipa40_translation", "translation", 1, L["W_HOLE_VA"] + 0x10,
                                     0x1_4000_0000 + 0x10),
        # Phase A, guest stage 1 off (VA = IPA).
        "s2_l1_block_read": val(marker),
        "s2_l2_block_read": val(marker),
        "s2_l3_page_read": val(page_marker),
        "s2_l1_translation": s2_dabt("s2_l1_translation", "translation", 1, L["HOLE_L1_IPA"] + 0x10,
                                     L["HOLE_L1_IPA"] + 0x10),
        "s2_l3_translation": s2_dabt("s2_l3_translation", "translation", 3, pages + 0x6064,
                                     pages + 0x6064),
        # MMIO-style accesses: ISV=1 with SAS/SSE/SRT/WnR for single-register
        # loads and stores without writeback; ISV=0 for LDRD, writeback, LDM.
        "mmio_ldr": s2_dabt("mmio_ldr", "translation", 2, mmio, mmio, Access(4, 5)),
        "mmio_str": s2_dabt("mmio_str", "translation", 2, mmio + 4, mmio, Access(4, 6, write=True)),
        "mmio_ldrh": s2_dabt("mmio_ldrh", "translation", 2, mmio + 8, mmio, Access(2, 7)),
        "mmio_strb": s2_dabt("mmio_strb", "translation", 2, mmio + 0xC, mmio, Access(1, 8, write=True)),
        "mmio_ldrsb": s2_dabt("mmio_ldrsb", "translation", 2, mmio + 0x10, mmio, Access(1, 9, sign=True)),
        "mmio_ldrd": s2_dabt("mmio_ldrd", "translation", 2, mmio + 0x18, mmio, Access(syndrome=False)),
        "mmio_ldr_writeback": s2_dabt("mmio_ldr_writeback", "translation", 2, mmio + 0x20, mmio,
                                      Access(syndrome=False)),
        "mmio_ldm": s2_dabt("mmio_ldm", "translation", 2, mmio, mmio, Access(syndrome=False)),
        # A 16-bit Thumb LDR: ISV=1 and IL=0.
        "mmio_thumb_ldr": s2_dabt("mmio_thumb_ldr", "translation", 2, mmio + 0x24, mmio,
                                  Access(4, 1, thumb16=True), thumb=True),
        # HAP (B3.7.1, stage 2 access permissions): 01 read-only, 10 write-only, 00 none.
        "s2_hap_ro_write": s2_dabt("s2_hap_ro_write", "permission", 3, pages + 0x1000 + poff,
                                   pages + 0x1000 + poff, STR_R2),
        "s2_hap_ro_read": val(page_marker),
        "s2_hap_wo_read": s2_dabt("s2_hap_wo_read", "permission", 3, pages + 0x2000 + poff,
                                  pages + 0x2000 + poff),
        "s2_hap_wo_write": val(pages + 0x2000 + s["page_a_scratch"] - s["page_a"]),
        "s2_hap_none_read": s2_dabt("s2_hap_none_read", "permission", 3, pages + 0x3000 + poff,
                                    pages + 0x3000 + poff),
        # Stage-2 XN (B3.6.2): a prefetch abort, EC 0x20, permission fault.
        "s2_xn_fetch": s2_iabt("permission", 3, pages + 0x4000, pages + 0x4000),
        "s2_exec": ret(pages + 0x5000),
        "s2_fetch_translation": s2_iabt("translation", 3, pages + 0x6000, pages + 0x6000),
        "s2_page_access_flag": s2_dabt("s2_page_access_flag", "access_flag", 3, pages + 0x7000 + poff,
                                       pages + 0x7000 + poff),
        "s2_block_access_flag": s2_dabt("s2_block_access_flag", "access_flag", 2, L["NOAF_IPA"] + off,
                                        L["NOAF_IPA"] + off),
    }


EXPECTATIONS: Dict[str, Callable[[Symbols, Layout], CaseExpectations]] = {
    "mmu_short": expect_mmu_short,
    "mmu_long": expect_mmu_long,
    "mmu_hyp": expect_mmu_hyp,
    "mmu_stage2": expect_mmu_stage2,
}

# Cases in the order the images print them (test ids without building anything).
CASES: Dict[str, Tuple[str, ...]] = {
    "mmu_short": ("section_read", "supersection_read", "small_page_read", "large_page_read",
                  "ttbr1_section_read", "manager_write", "section_translation", "page_translation",
                  "ttbr1_translation", "section_domain", "page_domain", "section_permission_write",
                  "section_ro_read", "section_xn_fetch", "section_exec", "section_pxn_fetch",
                  "page_xn_fetch", "page_exec", "table_pxn_fetch", "fetch_translation",
                  "usr_section_pl1_only", "usr_page_write_ro", "usr_page_read_ro", "usr_pxn_exec",
                  "section_access_flag", "page_access_flag", "afe_section_read"),
    "mmu_long": ("l1_block_read", "l2_block_read", "l3_page_read", "l1_translation",
                 "l2_translation", "l3_translation", "l3_reserved", "page_permission_write",
                 "page_ro_read", "block_access_flag", "page_access_flag", "page_xn_fetch",
                 "page_exec", "block_pxn_fetch", "xntable_fetch", "aptable_write", "aptable_read",
                 "usr_block_pl1_only", "usr_block_read", "usr_pxn_exec"),
    "mmu_hyp": ("hyp_l1_block_read", "hyp_l3_page_read", "hyp_l1_translation", "hyp_l2_translation",
                "hyp_l3_translation", "hyp_page_write_ro", "hyp_page_ro_read", "hyp_block_write_ro",
                "hyp_block_access_flag", "hyp_page_access_flag", "hyp_page_xn_fetch", "hyp_page_exec",
                "hyp_fetch_translation", "hyp_xntable_fetch", "hyp_aptable_write", "hyp_aptable_read"),
    "mmu_stage2": ("two_stage_read", "two_stage_section_read", "s1_fault_under_s2",
                   "s2_fault_after_s1", "s1ptw_translation_read", "s1ptw_translation_fetch",
                   "s1ptw_ttbr1_level1", "s1ptw_permission", "s1_walk_device_table",
                   "s1ptw_device_ptw", "concat_block_read", "concat_page_read", "concat_translation",
                   "ipa40_read", "ipa40_translation", "s2_l1_block_read", "s2_l2_block_read",
                   "s2_l3_page_read", "s2_l1_translation", "s2_l3_translation", "mmio_ldr",
                   "mmio_str", "mmio_ldrh", "mmio_strb", "mmio_ldrsb", "mmio_ldrd",
                   "mmio_ldr_writeback", "mmio_ldm", "mmio_thumb_ldr", "s2_hap_ro_write",
                   "s2_hap_ro_read", "s2_hap_wo_read", "s2_hap_wo_write", "s2_hap_none_read",
                   "s2_xn_fetch", "s2_exec", "s2_fetch_translation", "s2_page_access_flag",
                   "s2_block_access_flag"),
}

# Where QEMU 7.2 does not do what the ARM ARM requires; hypdbg must follow the architecture.
_QEMU_S1PTW_LEVEL = ("QEMU reports a stage-2 fault on a short-descriptor stage-1 walk with the "
                     "stage-1 lookup level; the ARM ARM gives the stage-2 lookup level ")
QEMU_KNOWN_DIFFERENCES: Dict[Tuple[str, str], str] = {
    ("mmu_stage2", "s1ptw_ttbr1_level1"):
        _QEMU_S1PTW_LEVEL + "(stage-2 walk ends at level 2: DFSC 0x06; QEMU 0x05)",
    ("mmu_stage2", "s1ptw_permission"):
        _QEMU_S1PTW_LEVEL + "(stage-2 page at level 3: DFSC 0x0F; QEMU 0x0E)",
    ("mmu_stage2", "ipa40_translation"):
        "QEMU's HPFAR drops IPA[39:32]: IPA 0x1_4000_0010 gives 0x00400000, FIPA requires 0x01400000",
}

# Machine bugs found by these images: strict xfails on hypdbg until the machine is fixed.
HYPDBG_BUGS: Dict[Tuple[str, str], str] = {}
HYPDBG_IMAGE_BUGS: Dict[str, str] = {}


def _params(runner: str) -> List[Any]:
    return case_params(CASES, runner, QEMU_KNOWN_DIFFERENCES, HYPDBG_BUGS)


def _image_params(runner: str) -> List[Any]:
    out = []
    for image in CASES:
        bug = HYPDBG_IMAGE_BUGS.get(image)
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug and runner == "hypdbg" else []
        out.append(pytest.param(image, marks=marks, id=image))
    return out


# -- running (once per image per session) --------------------------------------

def elf_of(image: str) -> Path:
    return memo("elf", image, lambda: build_mmu_image(image))


def qemu_report(image: str) -> UartReport:
    return parse_uart(memo("qemu", image, lambda: run_qemu(elf_of(image), timeout=QEMU_TIMEOUT)))


def hypdbg_result(image: str) -> subprocess.CompletedProcess:
    """The finished ``hypdbg run`` of an image (fails the test on a timeout)."""
    try:
        return memo("hypdbg", image, lambda: run_hypdbg(elf_of(image), timeout=HYPDBG_TIMEOUT))
    except RunTimeout as e:
        pytest.fail(f"hypdbg run of {image}: {e}")


def hypdbg_report(image: str) -> UartReport:
    """What hypdbg printed, parsed; a run that stopped early still gives its first cases."""
    return parse_uart(hypdbg_result(image).stdout)


def expectations(image: str) -> CaseExpectations:
    return EXPECTATIONS[image](symbols(elf_of(image)), layout_of(image))


def _whole_output_problems(report: UartReport, image: str) -> List[str]:
    problems = []
    if report.stray:
        problems.append(f"unexpected lines: {report.stray}")
    if not report.ended:
        problems.append("no END line")
    seen = tuple(c for c, k in report.order if k == "")
    if seen != CASES[image]:
        problems.append(f"cases {seen}, expected {CASES[image]}")
    return problems


# -- tests ---------------------------------------------------------------------

def test_case_lists_match_expectations() -> None:
    """Every case has an expectation, and the layout assumptions of the images hold."""
    for image, cases in CASES.items():
        assert tuple(expectations(image)) == cases, image
    from elftools.elf.elffile import ELFFile
    for image in CASES:
        # The 64 KiB large page (mmu_short) and the 1 MiB section and 2 MiB block
        # identity maps of every image cover everything the image uses.
        assert symbols(elf_of(image))["sec_marker"] - RAM < 0x10000, image
        with open(elf_of(image), "rb") as f:
            for seg in ELFFile(f).iter_segments():
                if seg["p_type"] == "PT_LOAD":
                    assert RAM <= seg["p_paddr"] and seg["p_paddr"] + seg["p_memsz"] <= RAM + 0x100000


@pytest.mark.parametrize("image", list(CASES))
def test_qemu_output_well_formed(image: str) -> None:
    """QEMU runs the image to SYSTEM_OFF and prints exactly the expected cases."""
    problems = _whole_output_problems(qemu_report(image), image)
    assert not problems, f"{image} on QEMU:\n" + "\n".join(problems)


@pytest.mark.parametrize("image,case", _params("qemu"))
def test_qemu(image: str, case: str) -> None:
    """QEMU's values for one case meet the ARM ARM."""
    check_case(qemu_report(image).cases.get(case, {}), expectations(image)[case], f"QEMU {image}:{case}")


@pytest.mark.parametrize("image", _image_params("hypdbg"))
def test_hypdbg_output_well_formed(image: str) -> None:
    """hypdbg runs the image to SYSTEM_OFF and prints exactly the expected cases."""
    res = hypdbg_result(image)
    problems = _whole_output_problems(parse_uart(res.stdout), image)
    if res.returncode != 0:
        problems.append(f"exit status {res.returncode}: {res.stderr.strip()[-500:]}")
    assert not problems, f"{image} on hypdbg:\n" + "\n".join(problems)


@pytest.mark.parametrize("image,case", _params("hypdbg"))
def test_hypdbg(image: str, case: str) -> None:
    """hypdbg's values equal QEMU's where the architecture fixes them; else the ARM ARM's."""
    got = hypdbg_report(image).cases.get(case, {})
    exp = expectations(image)[case]
    check_case(got, exp, f"hypdbg {image}:{case}")
    if (image, case) in QEMU_KNOWN_DIFFERENCES:
        return
    ref = qemu_report(image).cases.get(case, {})
    differ = {k: (got.get(k), v) for k, v in ref.items()
              if k in exp and (got.get(k, 0) ^ v) & compare_mask(exp[k])}
    assert not differ, f"hypdbg {image}:{case} differs from QEMU: " + ", ".join(
        f"{k}: hypdbg {a:08x}, QEMU {b:08x}" for k, (a, b) in differ.items())
