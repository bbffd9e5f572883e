"""Fault status codes and the Hyp-side abort report (ARM DDI 0406C B3.13).

The guest reads DFSR/IFSR (B3.13.3); Hyp reads HSR, HPFAR and HDFAR/HIFAR
(B3.13.5, B3.13.6). These tests pin every field a handler decodes.
"""
from __future__ import annotations

import pytest

from hypdbg.core.fault_status import FaultKind, dfsr, ifsr, long_fsc, short_fs
from hypdbg.core.stage2.fault import (DataAbortInsn, abort_hsr, hpfar_value,
                                      hyp_abort_report)
from hypdbg.core.stage2.walk import Stage2Regs, walk_stage2
from hypdbg.core.translation import Access, Fault

K = FaultKind


# Table B3-23, short-descriptor FS[4:0]: (kind, level) -> code.
@pytest.mark.parametrize("kind,level,code", [
    (K.ALIGNMENT, 1, 0b00001),
    (K.ACCESS_FLAG, 1, 0b00011), (K.ACCESS_FLAG, 2, 0b00110),
    (K.TRANSLATION, 1, 0b00101), (K.TRANSLATION, 2, 0b00111),
    (K.DOMAIN, 1, 0b01001), (K.DOMAIN, 2, 0b01011),
    (K.PERMISSION, 1, 0b01101), (K.PERMISSION, 2, 0b01111),
    (K.EXTERNAL_ACCESS, 1, 0b01000),
    (K.EXTERNAL, 1, 0b01100), (K.EXTERNAL, 2, 0b01110),
])
def test_short_fs_codes(kind: FaultKind, level: int, code: int):
    assert short_fs(kind, level) == code


# Table B3-24, long-descriptor STATUS[5:0]: (kind, level) -> code.
@pytest.mark.parametrize("kind,level,code", [
    (K.TRANSLATION, 1, 0b000101), (K.TRANSLATION, 2, 0b000110), (K.TRANSLATION, 3, 0b000111),
    (K.ACCESS_FLAG, 1, 0b001001), (K.ACCESS_FLAG, 3, 0b001011),
    (K.PERMISSION, 1, 0b001101), (K.PERMISSION, 2, 0b001110), (K.PERMISSION, 3, 0b001111),
    (K.EXTERNAL_ACCESS, 2, 0b010000),
    (K.EXTERNAL, 1, 0b010101), (K.EXTERNAL, 3, 0b010111),
    (K.ALIGNMENT, 1, 0b100001),
    (K.DOMAIN, 1, 0b111101), (K.DOMAIN, 2, 0b111110),
])
def test_long_fsc_codes(kind: FaultKind, level: int, code: int):
    assert long_fsc(kind, level) == code


def test_fault_methods_match_tables():
    # Tables B3-23 and B3-24 through the Fault value itself.
    f = Fault(1, K.PERMISSION, 2, domain=4)
    assert (f.short_fs(), f.long_fsc()) == (0x0F, 0x0E)


def test_dfsr_short_format_fields():
    # B3.13.3 / B4.1 DFSR (short format): FS[3:0] at [3:0], FS[4] at 10, Domain [7:4], WnR 11.
    f = Fault(1, K.EXTERNAL, 2, domain=0xA)     # FS 0b01110
    assert dfsr(f, write=True, long_format=False) == 0xE | (0xA << 4) | (1 << 11)
    g = Fault(1, K.DOMAIN, 1, domain=3)         # FS 0b01001
    assert dfsr(g, write=False, long_format=False) == 0x9 | (3 << 4)


def test_dfsr_long_format_fields():
    # B4.1 DFSR (long format): STATUS [5:0], LPAE bit 9 = 1, WnR 11, CM 13 (CM faults report WnR=1).
    f = Fault(1, K.TRANSLATION, 3)
    assert dfsr(f, write=False, long_format=True) == 0x07 | (1 << 9)
    cm = dfsr(f, write=False, long_format=True, cm=True)
    assert cm == 0x07 | (1 << 9) | (1 << 11) | (1 << 13)


def test_ifsr_formats():
    # B4.1 IFSR: short format has FS and no domain; long format sets LPAE (bit 9).
    f = Fault(1, K.PERMISSION, 1, domain=5)
    assert ifsr(f, long_format=False) == 0x0D
    assert ifsr(f, long_format=True) == 0x0D | (1 << 9)


def test_hpfar_holds_ipa_39_12_in_bits_31_4():
    # B3.13.5 / B4.1 HPFAR: FIPA[39:12] in bits [31:4], bits [3:0] RES0.
    assert hpfar_value(0xAB_CDEF_1234) == 0xABCDEF10
    assert hpfar_value(0x8000_0FFF) == 0x0080_0000


def test_str_word_to_unmapped_ipa():
    # B3.13.6 HSR for EC 0x24: `STR r3, [..]` (word) to an IPA stage 2 does not map.
    # The stage-2 root (T0SZ=0, SL0=01) is all invalid, so the fault is translation, level 1.
    ram = {}

    def read_phys(pa: int, size: int):
        return ram.get(pa, 0) if 0x4000_0000 <= pa < 0x4000_1000 else None

    regs = Stage2Regs(vtcr=0b01 << 6, vttbr=0x4000_0000)
    t = walk_stage2(0x0912_3458, Access.WRITE, regs, read_phys)
    assert t.fault is not None
    rep = hyp_abort_report(t.fault, 0xC012_3458, Access.WRITE, DataAbortInsn(size=4, rt=3))
    hsr = rep.hsr
    assert hsr >> 26 == 0x24
    assert hsr >> 25 & 1 == 1            # IL: 32-bit instruction
    assert hsr >> 24 & 1 == 1            # ISV
    assert hsr >> 22 & 3 == 0b10         # SAS: word
    assert hsr >> 21 & 1 == 0            # SSE
    assert hsr >> 16 & 0xF == 3          # SRT
    assert hsr >> 7 & 1 == 0             # S1PTW
    assert hsr >> 6 & 1 == 1             # WnR
    assert hsr & 0x3F == 0b000101        # DFSC: translation fault, level 1
    assert rep.hpfar == 0x0009_1230
    assert rep.hdfar == 0xC012_3458 and rep.hifar is None


def test_ldrsh_halfword_sign_extended_read():
    # B3.13.6 ISS for data aborts: SAS 01 halfword, SSE 1, WnR 0 for a load.
    f = Fault(2, K.ACCESS_FLAG, 3, ipa=0x1000)
    hsr = abort_hsr(f, Access.READ, DataAbortInsn(size=2, rt=7, sign_extend=True))
    assert hsr == (0x24 << 26) | (1 << 25) | (1 << 24) | (0b01 << 22) | (1 << 21) | (7 << 16) | 0x0B


def test_thumb16_ldrb_il_zero():
    # B3.13.6: IL=0 for a 16-bit instruction; SAS 00 byte.
    f = Fault(2, K.TRANSLATION, 2, ipa=0x1000)
    hsr = abort_hsr(f, Access.READ, DataAbortInsn(size=1, rt=1, is_32bit=False))
    assert hsr == (0x24 << 26) | (1 << 24) | (1 << 16) | 0x06


def test_no_syndrome_without_instruction_info():
    # B3.13.6: ISV=0 (e.g. LDM/STM) leaves SAS/SSE/SRT zero; WnR and DFSC still report.
    f = Fault(2, K.PERMISSION, 3, ipa=0x1000)
    hsr = abort_hsr(f, Access.WRITE)
    assert hsr == (0x24 << 26) | (1 << 6) | 0x0F


def test_s1ptw_fault_has_no_syndrome_and_reports_descriptor_ipa():
    # B3.13.6: S1PTW=1 for a stage-2 fault on a stage-1 walk, and then ISV=0;
    # B3.13.5: HPFAR holds the IPA of the stage-1 descriptor; HDFAR the VA.
    f = Fault(2, K.TRANSLATION, 1, s1ptw=True, ipa=0x8000_4008)
    rep = hyp_abort_report(f, 0x0020_0000, Access.READ, DataAbortInsn(size=4, rt=0))
    assert rep.hsr == (0x24 << 26) | (1 << 7) | 0x05
    assert rep.hpfar == 0x0080_0040
    assert rep.hdfar == 0x0020_0000


def test_fetch_is_prefetch_abort_ec_0x20():
    # B3.13.6: EC 0x20 for a prefetch abort from a lower mode: ISS = S1PTW, IFSC; HIFAR = VA.
    f = Fault(2, K.PERMISSION, 2, ipa=0x4000_1000)
    rep = hyp_abort_report(f, 0x0000_1000, Access.FETCH, DataAbortInsn(size=4, rt=3))
    assert rep.hsr == (0x20 << 26) | 0x0E
    assert rep.hifar == 0x0000_1000 and rep.hdfar is None
    assert rep.hpfar == 0x0040_0010


def test_abort_from_hyp_mode_classes():
    # B3.13.6: aborts taken from Hyp mode use EC 0x21 (prefetch) and 0x25 (data).
    f = Fault(1, K.TRANSLATION, 2)
    assert abort_hsr(f, Access.FETCH, from_hyp=True) >> 26 == 0x21
    assert abort_hsr(f, Access.READ, from_hyp=True) >> 26 == 0x25
    assert hyp_abort_report(f, 0x10, Access.READ, from_hyp=True).hpfar is None


def test_cache_maintenance_sets_cm_and_wnr():
    # B3.13.6 ISS for data aborts: CM=1 for a cache maintenance operation, which reports WnR=1.
    f = Fault(2, K.TRANSLATION, 1, ipa=0)
    hsr = abort_hsr(f, Access.READ, cm=True)
    assert hsr == (0x24 << 26) | (1 << 8) | (1 << 6) | 0x05
