"""``monitor s1 translate`` / ``s2 translate`` / ``s2 map`` against a machine running the
translation images, stopped where their tables are live.

Each expected walk is derived from the ARM ARM (DDI 0406C) and the image's
layout (its ``.equ`` constants and ELF symbols): the descriptor addresses a
walk must read (B3.5.4-B3.5.5 short-descriptor index arithmetic, B3.6.5-B3.6.6
long-descriptor and stage-2 lookups, concatenated start tables), the
descriptor values the image wrote (field positions of B3.5.1 and B3.6.1-B3.6.2),
the output address, the permissions (B3.7) and the fault with the registers
it would set (B3.13).  The views are also checked to leave no trace: a
machine that was shown them runs on exactly like one that was not.
"""
from __future__ import annotations

import io
import re
from typing import Dict, List, Optional, Tuple

import pytest

from imagebuild import missing_tools, symbols
from mmuimage import build_mmu_image, layout_of
from hypdbg.core.board import build_board
from hypdbg.core.machine import Machine
from hypdbg.core.monitor import Monitor
from hypdbg.core.target import MachineTarget
from hypdbg.core.translation import R, W, X, MemType
from hypdbg.core.xlate_views import S2Range, register, s1_command, s2_command, stage2_map

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}")

RAM = 0x40000000
UART = 0x09000000

# Descriptor encodings from the field positions of B3.5.1 (short) and B3.6.1/B3.6.2 (long).
SHORT_TABLE = 0x1                                    # page-table descriptor, domain 0
SHORT_SMALL_FULL = 0x2 | 0x4 | 0x8 | (1 << 6) | (3 << 4)  # small page, TEX=001 C B, AP=011
S2_BLOCK_RW = 0x1 | (0xF << 2) | (3 << 6) | (3 << 8) | (1 << 10)  # MemAttr 1111, HAP 11, SH, AF
S2_PAGE = 0x3 | (0xF << 2) | (3 << 8) | (1 << 10)
HAP_RW, HAP_RO = 3 << 6, 1 << 6
LD_TABLE = 0x3
HYP_PAGE = 0x3 | (3 << 8) | (1 << 10)                # page, Attr0, SH inner, AF
AP_RO = 2 << 6                                       # AP[2]=1

_STEP = re.compile(r"^\s*stage (\d) level (\d)  desc @ (?:IPA (0x[0-9a-f]+) \((?:PA (0x[0-9a-f]+)|"
                   r"not translated)\)|PA (0x[0-9a-f]+)) = (0x[0-9a-f]+|\(not read\))  (\w+)$")

Step = Tuple[int, int, Optional[int], Optional[int], Optional[int], str]


def steps_of(text: str) -> List[Step]:
    """(stage, level, IPA or None, PA, value, kind) of every walk step the view printed, in order."""
    out: List[Step] = []
    for line in text.splitlines():
        m = _STEP.match(line)
        if m:
            stage, level, ipa, pa_ipa, pa, value, kind = m.groups()
            where = pa if pa is not None else pa_ipa
            out.append((int(stage), int(level), int(ipa, 16) if ipa else None,
                        int(where, 16) if where else None,
                        None if value.startswith("(") else int(value, 16), kind))
    return out


def result_pa(text: str) -> Optional[int]:
    m = re.search(r"^result: .*-> PA (0x[0-9a-f]+) ", text, re.M)
    return int(m.group(1), 16) if m else None


def permissions(text: str) -> str:
    m = re.search(r"^permissions: (.*)$", text, re.M)
    assert m, text
    return m.group(1).strip()


def stopped_at(image: str, label: str) -> Tuple[Machine, Dict[str, int], Dict[str, int]]:
    """A machine running ``image``, stopped at the breakpoint on symbol ``label``."""
    elf = build_mmu_image(image)
    sym = symbols(elf)
    board = build_board(str(elf), serial="none", uart_out=io.BytesIO())
    m = board.machine
    m.add_breakpoint(sym[label])
    stop = m.run(max_insns=5_000_000)
    assert stop.kind == "breakpoint" and m.cpu.pc == sym[label], stop
    m.remove_breakpoint(sym[label])
    return m, sym, layout_of(image)


@pytest.fixture(scope="module")
def s1_on() -> Tuple[Machine, Dict[str, int], Dict[str, int]]:
    """mmu_stage2 in Hyp mode just before the guest runs with both stages (VMID 1)."""
    return stopped_at("mmu_stage2", "view_s1_on")


def s2_walk_a(s: Dict[str, int], ipa: int) -> List[Step]:
    """Phase A stage 2 (T0SZ=0, SL0=01): level 1 indexed by IPA[31:30], then [29:21], [20:12]."""
    l1 = s["s2_l1"] + ((ipa >> 30) & 3) * 8
    if ipa >> 30 == 0:
        l2 = s["s2_l2_a"] + ((ipa >> 21) & 0x1FF) * 8
        return [(2, 1, None, l1, s["s2_l2_a"] | LD_TABLE, "table"),
                (2, 2, None, l2, s["s2_l3_a"] | LD_TABLE, "table")]
    l2 = s["s2_l2_b"] + ((ipa >> 21) & 0x1FF) * 8
    return [(2, 1, None, l1, s["s2_l2_b"] | LD_TABLE, "table"),
            (2, 2, None, l2, RAM | S2_BLOCK_RW, "block")]


def test_two_stage_walk_lists_every_descriptor(s1_on) -> None:
    """VA -> IPA -> PA with each stage-1 descriptor IPA walked by stage 2 first (B3.6, S1PTW order)."""
    m, s, L = s1_on
    va = L["G_PAGES_VA"] + 0x1024
    text = s1_command(m, ["translate", hex(va), "guest:1"])
    l1_ipa = s["g_l1"] | (va >> 20) << 2            # TTBCR.N=1, VA < 2^31: TTBR0, index VA[30:20]
    l2_ipa = s["g_l2"] | ((va >> 12) & 0xFF) << 2   # page table base | VA[19:12]
    ipa = L["PAGES_IPA"] + (va & 0xFFF)             # g_l2[1] maps the page at PAGES_IPA
    l3 = s["s2_l3_a"] + ((ipa >> 12) & 0x1FF) * 8
    want = ([(1, 1, l1_ipa, l1_ipa, s["g_l2"] | SHORT_TABLE, "table")] + s2_walk_a(s, l1_ipa)
            + [(1, 2, l2_ipa, l2_ipa, L["PAGES_IPA"] | SHORT_SMALL_FULL, "page")] + s2_walk_a(s, l2_ipa)
            + s2_walk_a(s, ipa) + [(2, 3, None, l3, s["page_a"] | S2_PAGE | HAP_RW, "page")])
    assert steps_of(text) == want, text
    assert result_pa(text) == s["page_a"] + 0x24, text
    # AP=011 (full access) and HAP=11, neither XN: everything allowed at PL1 and PL0.
    assert permissions(text) == "PL1 rwx  PL0 rwx", text
    assert f"IPA {ipa:#010x}" in text


def test_s1ptw_fault_view_reports_descriptor_ipa(s1_on) -> None:
    """A stage-2 fault on the level-2 descriptor fetch: S1PTW, HPFAR = that descriptor's IPA (B3.13.5)."""
    m, s, L = s1_on
    va = L["G_S1PTW_VA"] + 0x40
    text = s1_command(m, ["translate", hex(va), "guest"])
    table = L["HOLE_TBL_IPA"] + 0x100000
    desc_ipa = table | ((va >> 12) & 0xFF) << 2
    got = steps_of(text)
    # The level-2 descriptor is never read: its IPA's stage-2 walk ends at
    # s2_l2_a[IPA[29:21]], which is invalid.
    assert got[-3:] == [(1, 2, desc_ipa, None, None, "fault"),
                        (2, 1, None, s["s2_l1"], s["s2_l2_a"] | LD_TABLE, "table"),
                        (2, 2, None, s["s2_l2_a"] + ((desc_ipa >> 21) & 0x1FF) * 8, 0, "fault")], text
    assert result_pa(text) is None
    # EC 0x24, S1PTW=1, DFSC translation level 2; no instruction syndrome for a walk.
    hsr = 0x24 << 26 | 1 << 7 | 0x06
    assert f"HSR={hsr:#010x} HDFAR={va:#010x} HPFAR={(desc_ipa >> 12) << 4:#010x}" in text, text
    assert permissions(text) == "PL1 ---  PL0 ---"


def test_stage1_fault_under_stage2_goes_to_pl1(s1_on) -> None:
    """An invalid first-level entry: section translation fault, DFSR FS=00101 (Table B3-23)."""
    m, s, L = s1_on
    va = L["G_HOLE_VA"] + 0x10
    text = s1_command(m, ["translate", hex(va), "guest"])
    assert "result: stage 1 translation fault, level 1" in text
    assert f"Data Abort to PL1: DFSR=0x00000005 DFAR={va:#010x}" in text
    assert f"Prefetch Abort to PL1: IFSR=0x00000005 IFAR={va:#010x}" in text


def test_host_world_ignores_stage2(s1_on) -> None:
    """The host regime is stage 1 alone: the output of stage 1 is the PA (B3.1)."""
    m, s, L = s1_on
    va = L["G_PAGES_VA"] + 0x1024
    text = s1_command(m, ["translate", hex(va), "host"])
    assert all(step[0] == 1 and step[2] is None for step in steps_of(text)), text
    assert result_pa(text) == L["PAGES_IPA"] + 0x24


def test_current_world_in_hyp_with_hsctlr_m_clear(s1_on) -> None:
    """Hyp mode with HSCTLR.M=0 translates flat (B3.2.1)."""
    m, s, L = s1_on
    text = s1_command(m, ["translate", "0x48001234"])
    assert "hyp" in text.splitlines()[0] and result_pa(text) == 0x48001234
    assert steps_of(text) == []


def test_s2_translate_hap_read_only(s1_on) -> None:
    """HAP=01: stage-2 read-only (B3.7.1); a write is a permission fault at level 3."""
    m, s, L = s1_on
    ipa = L["PAGES_IPA"] + 0x1024
    text = s2_command(m, ["translate", hex(ipa)])
    l3 = s["s2_l3_a"] + ((ipa >> 12) & 0x1FF) * 8
    assert steps_of(text) == s2_walk_a(s, ipa) + [(2, 3, None, l3, s["page_a"] | S2_PAGE | HAP_RO, "page")]
    assert result_pa(text) == s["page_a"] + 0x24
    assert permissions(text) == "r-x"
    assert "write: stage 2 permission fault, level 3" in text


def _expected_map_a(s: Dict[str, int], L: Dict[str, int]) -> List[S2Range]:
    n, d = MemType.NORMAL, MemType.DEVICE
    p = L["PAGES_IPA"]
    page, exe = s["page_a"], s["exec_page"]
    k4, m2 = 0x1000, 0x200000
    return [
        S2Range(p, k4, page, R | W | X, n, True),
        S2Range(p + 0x1000, k4, page, R | X, n, True),        # HAP=01
        S2Range(p + 0x2000, k4, page, W, n, True),            # HAP=10: no read, so no execute
        S2Range(p + 0x3000, k4, page, 0, n, True),            # HAP=00
        S2Range(p + 0x4000, k4, exe, R | W, n, True),         # XN
        S2Range(p + 0x5000, k4, exe, R | W | X, n, True),
        S2Range(p + 0x7000, k4, page, R | W | X, n, False),   # AF=0
        S2Range(p + 0x8000, k4, s["g_l2_none"], 0, n, True),
        S2Range(UART, m2, UART, R | W, d, True),
        S2Range(RAM, m2, RAM, R | W | X, n, True),
        S2Range(L["ALIAS_IPA"], m2, RAM, R | W | X, n, True),
        S2Range(L["DEVICE_IPA"], m2, RAM, R | W, d, True),
        S2Range(L["NOAF_IPA"], m2, RAM, R | W | X, n, False),
        S2Range(L["GIB_IPA"], 1 << 30, RAM, R | W | X, n, True),
    ]


def test_s2_map_lists_every_mapping(s1_on) -> None:
    """All leaves of the level-1-rooted tables, ascending IPA (B3.6.2 HAP, XN, AF, MemAttr)."""
    m, s, L = s1_on
    ranges, truncated = stage2_map(m)
    assert not truncated
    assert ranges == _expected_map_a(s, L)
    text = s2_command(m, ["map"])
    assert "VMID 1" in text.splitlines()[0]
    assert f"IPA {L['GIB_IPA']:#010x}-{L['GIB_IPA'] + (1 << 30) - 1:#010x} -> PA {RAM:#010x}-" in text


def test_s2_map_concatenated_root_merges_contiguous_pages() -> None:
    """SL0=00, T0SZ=0: 2048 entries in four concatenated level-2 tables (B3.6.5); two pages whose
    IPA and PA both follow on show as one range."""
    m, s, L = stopped_at("mmu_stage2", "view_concat")
    ranges, _ = stage2_map(m)
    n = MemType.NORMAL
    assert ranges == [
        S2Range(UART, 0x200000, UART, R | W, MemType.DEVICE, True),
        S2Range(RAM, 0x200000, RAM, R | W | X, n, True),
        S2Range(L["C_BLOCK_IPA"], 0x200000, RAM, R | W | X, n, True),   # root entry 0x601: 4th table
        S2Range(L["C_PAGES_IPA"], 0x2000, s["page_a"], R | W | X, n, True),
    ]
    text = s2_command(m, ["translate", hex(L["C_HOLE_IPA"] + 0x10)])
    root = s["s2c_root"] + (L["C_HOLE_IPA"] >> 21) * 8   # IPA[31:21] across the concatenation
    assert steps_of(text) == [(2, 2, None, root, 0, "fault")]


def test_40bit_ipa_walk_and_map() -> None:
    """T0SZ=-8: a 40-bit IPA, level 1 indexed by IPA[39:30] over two concatenated tables (B3.6.5)."""
    m, s, L = stopped_at("mmu_stage2", "view_ipa40")
    va = L["W_HIGH_VA"] + 0x10
    text = s1_command(m, ["translate", hex(va), "guest"])
    ipa = 0x80_0000_0000 + 0x10
    assert f"-> IPA {ipa:#012x} -> PA {RAM + 0x10:#010x}" in text, text
    assert steps_of(text)[-1] == (2, 1, None, s["s2w_root"] + (ipa >> 30) * 8, RAM | S2_BLOCK_RW, "block")
    ranges, _ = stage2_map(m)
    assert ranges[-1] == S2Range(0x80_0000_0000, 1 << 30, RAM, R | W | X, MemType.NORMAL, True)
    hole = s1_command(m, ["translate", hex(L["W_HOLE_VA"] + 0x10), "guest"])
    # HPFAR.FIPA = IPA[39:12] for the IPA 0x1_4000_0010 (B4.1 HPFAR).
    assert "HPFAR=0x01400000" in hole, hole


def test_hyp_stage1_view() -> None:
    """Hyp stage 1 (HTTBR, T0SZ=0): three levels; AP[2]=1 makes the page read-only (B3.7.1)."""
    m, s, L = stopped_at("mmu_hyp", "hyp_l1_block_read_insn")
    va = L["PAGES_VA"] + 0x1024
    text = s1_command(m, ["translate", hex(va), "hyp"])
    assert steps_of(text) == [
        (1, 1, None, s["h_l1"], s["h_l2_a"] | LD_TABLE, "table"),
        (1, 2, None, s["h_l2_a"] + ((va >> 21) & 0x1FF) * 8, s["h_l3_a"] | LD_TABLE, "table"),
        (1, 3, None, s["h_l3_a"] + ((va >> 12) & 0x1FF) * 8, s["page_a"] | HYP_PAGE | AP_RO, "page")]
    assert result_pa(text) == s["page_a"] + 0x24
    assert permissions(text) == "PL2 r-x"
    # Data Abort from Hyp: EC 0x25, WnR=1, permission level 3.
    assert f"HSR={0x25 << 26 | 1 << 6 | 0x0F:#010x} HDFAR={va:#010x}" in text, text


def test_short_descriptor_large_page_and_ttbr1() -> None:
    """mmu_short in SVC: a large page keeps VA[15:0]; VA >= 2^31 walks TTBR1 (TTBCR.N=1, B3.5.4)."""
    m, s, L = stopped_at("mmu_short", "section_translation_insn")
    va = L["PAGES_VA"] + 0x10000 + 0x1234
    text = s1_command(m, ["translate", hex(va)])
    assert "host" in text.splitlines()[0]
    got = steps_of(text)
    assert [g[:4] for g in got] == [(1, 1, None, s["s_l1_0"] | (va >> 20) << 2),
                                    (1, 2, None, s["s_l2_a"] | ((va >> 12) & 0xFF) << 2)]
    assert got[1][4] & 3 == 1 and got[1][5] == "page"       # bits[1:0]=01: large page
    assert result_pa(text) == RAM + 0x1234
    va1 = L["TTBR1_SEC"] + 0x3004
    text1 = s1_command(m, ["translate", hex(va1), "host"])
    assert "TTBR1" in text1 and steps_of(text1)[0][3] == s["s_l1_1"] | (va1 >> 20) << 2
    assert result_pa(text1) == RAM + 0x3004
    # Domain 1 is "no access" in DACR: a domain fault, DFSR.Domain=1 (B3.7.3, Table B3-23).
    text2 = s1_command(m, ["translate", hex(L["DOM1_SEC"] + 0x100)])
    assert "DFSR=0x00000019" in text2


def test_long_descriptor_ttbr1_block() -> None:
    """mmu_long: T1SZ=1 gives TTBR1 the top 2 GiB, starting at level 1 (B3.6.4)."""
    m, s, L = stopped_at("mmu_long", "l2_translation_insn")
    va = L["GIB_BLOCK"] + 0x3004
    text = s1_command(m, ["translate", hex(va)])
    assert "TTBR1" in text
    assert steps_of(text) == [(1, 1, None, s["l_l1_1"] + ((va >> 30) & 1) * 8,
                               RAM | 0x1 | (1 << 6) | (3 << 8) | (1 << 10), "block")]
    assert result_pa(text) == RAM + 0x3004


def test_views_leave_no_trace() -> None:
    """Showing the views changes nothing: the run goes on with the same TLB fills and output.

    The stop is in the guest with both stages on and its pages in unicorn's
    TLB, so a flush or a stray fill would show in the fill count.
    """
    def run(show: bool) -> Tuple[int, int, bytes]:
        elf = build_mmu_image("mmu_stage2")
        sym = symbols(elf)
        out = io.BytesIO()
        m = build_board(str(elf), serial="none", uart_out=out).machine
        stop_at = sym["s2_fault_after_s1_insn"]
        m.add_breakpoint(stop_at)
        m.run(max_insns=5_000_000)
        m.remove_breakpoint(stop_at)
        if show:
            L = layout_of("mmu_stage2")
            for va in (L["G_PAGES_VA"] + 0x1024, L["G_S1PTW_VA"], L["G_HOLE_VA"]):
                s1_command(m, ["translate", hex(va), "guest"])
            s2_command(m, ["map"])
            s2_command(m, ["translate", hex(L["PAGES_IPA"])])
        icount_before = m.icount
        m.run(max_insns=20_000)
        return m.mmu.fills, m.icount - icount_before, out.getvalue()

    assert run(True) == run(False)


def test_monitor_commands_and_errors(s1_on) -> None:
    """register() adds s1 and s2; bad input is a ValueError with a one-line message."""
    m, s, L = s1_on
    mon = Monitor(MachineTarget(m))
    register(mon)
    assert any(line.startswith("s1 translate VA") for line in mon.help_lines())
    assert any(line.startswith("s2 translate IPA") for line in mon.help_lines())
    va = L["G_PAGES_VA"] + 0x1024
    assert mon.run(f"s1 translate {va:#x} guest:1") == s1_command(m, ["translate", hex(va), "guest:1"])
    assert mon.run("s2 map") == s2_command(m, ["map"])
    for bad in ("s1 translate zz", "s1 translate 0x1000 moon", "s1 translate 0x100000000",
                "s1 translate 0x1000 guest:7", "s1 translate 0x1000 guest:x", "s1", "s1 walk 0x10",
                "s2 translate", "s2 translate 0x10000000000", "s2 frob"):
        with pytest.raises(ValueError) as err:
            mon.run(bad)
        assert "\n" not in str(err.value) and str(err.value), bad


def test_current_world_in_guest_predicts_the_abort() -> None:
    """Stopped on the guest load, the default world is the guest, and the view names the abort
    the load is about to take: stage 2 translation, level 2, HDFAR = VA, HPFAR = IPA[39:12]."""
    m, s, L = stopped_at("mmu_stage2", "s2_fault_after_s1_insn")
    va = L["G_MMIO_VA"] + 0x10
    text = s1_command(m, ["translate", hex(va)])
    assert text.splitlines()[0] == f"VA {va:#010x} in guest vmid 1 (current)"
    ipa = L["MMIO_IPA"] + 0x10                     # a section: IPA = base | VA[19:0]
    assert f"HSR={0x24 << 26 | 0x06:#010x} HDFAR={va:#010x} HPFAR={(ipa >> 12) << 4:#010x}" in text
