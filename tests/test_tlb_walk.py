"""The C fill hook's own walk (tlbcache.c) against the Python walker it stands in for.

For data accesses in the PL1&0 regime with stage 2 off, the C hook walks
long-descriptor tables itself (ARM ARM B3.6) instead of handing the miss to
Python. It must grant exactly what ``stage1.translate_pl10`` grants (same
physical address, same permissions, execute included: B3.7.2) and give up
(leave it to Python) wherever that walk faults. Random tables exercise
every descriptor kind, the table attributes (APTable, XNTable, PXNTable),
AP[2:1], XN/PXN, the access flag, SCTLR.WXN/UWXN and TTBCR's region split
(T0SZ, T1SZ, EPD0, EPD1); then whole images run with and without it must
print the same and retire the same number of instructions.
"""
from __future__ import annotations

import ctypes
import io
import random
import struct
from typing import Dict, List, Optional, Tuple

import pytest
from unicorn.arm_const import UC_ARM_REG_CPSR

from asmutil import AS
from hypdbg.core import fastcount
from hypdbg.core.board import build_board
from hypdbg.core.loader import Image
from hypdbg.core.machine import Machine
from hypdbg.core.hyp.hyp_mmu import HypRegs, translate_hyp
from hypdbg.core.stage1 import Stage1Regs, translate_pl10
from hypdbg.core.stage2.walk import Stage2Regs
from hypdbg.core.translation import PL, Access

NATIVE = fastcount.load_native() is not None
RAM = 0x40000000
TABLES = 0x40100000          # the random tables live in [TABLES, TABLES + 1 MiB)
EAE = 1 << 31


@pytest.fixture(scope="module")
def machine() -> Machine:
    """A machine whose RAM holds the tables (its image, a branch to itself, never runs)."""
    if not NATIVE:
        pytest.skip("the C helper is not built")
    return Machine(Image("b-self", RAM, False, [(RAM, struct.pack("<I", 0xEAFFFFFE))]), ram_mb=64)


def _c_walk(m: Machine, va: int, pl: int, write: bool) -> Optional[Tuple[int, int]]:
    lib = fastcount.load_native()
    lib.tc_walk.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                            ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint64),
                            ctypes.POINTER(ctypes.c_uint32)]
    pa, perms = ctypes.c_uint64(), ctypes.c_uint32()
    ok = lib.tc_walk(m.tlb_cache._ptr, m.uc._uch, va, pl, int(write), ctypes.byref(pa),
                     ctypes.byref(perms))
    return (pa.value, perms.value) if ok else None


def _py_walk(m: Machine, regs: Stage1Regs, va: int, pl: int, write: bool,
             s2: Optional[Stage2Regs] = None) -> Optional[Tuple[int, int]]:
    t = translate_pl10(va, Access.WRITE if write else Access.READ, PL(pl), regs, s2,
                       m.mmu._read_phys)
    return None if t.fault is not None else (t.pa, t.perms)


S2_TABLES = 0x40200000       # the random stage-2 tables: [S2_TABLES, S2_TABLES + 1 MiB)
# VTCR (T0SZ, SL0) combinations the walk can start from (B3.6.5), and one it cannot
_VTCRS = [(0, 1), (0, 1), (1, 1), (-8, 1), (0, 0), (7, 0), (2, 1)]


def _stage2(m: Machine, rng: random.Random) -> Stage2Regs:
    """A random stage-2 tree that maps the stage-1 tables' IPAs to themselves (with random
    permissions, so some stage-1 walks fault at stage 2) and the rest of RAM's IPAs randomly."""
    t0sz, sl0 = rng.choice(_VTCRS)
    tree = _Tables(rng, S2_TABLES)
    if sl0 == 1:
        entries = 1 << (2 - t0sz) if t0sz <= 1 else 4
        tree.fill(S2_TABLES, 1, min(entries, 64), 0)
        l2 = S2_TABLES + 0x3000                       # the table under IPA 0x40000000
        tree.words[S2_TABLES + 8] = l2 | 3
        tree.fill(l2, 2, 512, RAM)
        identity_at = l2
    else:
        tree.fill(S2_TABLES, 2, min(1 << (32 - t0sz - 21), 2048), 0)
        identity_at = S2_TABLES + 8 * (RAM >> 21)
    for i in range(32):                 # IPA 0x40000000-0x43FFFFFF: mostly mapped as itself
        if i == 0 or rng.random() < 0.85:
            hap = 3 if rng.random() < 0.8 else rng.randrange(3)
            xn = rng.random() < 0.2
            af = i == 0 or rng.random() < 0.95
            tree.words[identity_at + 8 * i] = (RAM + (i << 21)) | 1 | af << 10 | hap << 6 | xn << 54
    tree.write(m)
    vtcr = (t0sz & 0xF) | sl0 << 6
    return Stage2Regs(vtcr, S2_TABLES | rng.randrange(256) << 48)


class _Tables:
    """A random long-descriptor tree: a root and next-level tables, all in RAM, within
    1 MiB from ``region`` (the root's page first)."""

    def __init__(self, rng: random.Random, region: int = TABLES) -> None:
        self.rng = rng
        self.region = region
        self.next_table = region + 0x4000
        self.words: Dict[int, int] = {}
        self.mapped: List[int] = []

    def _leaf_attrs(self) -> int:
        rng = self.rng
        d = (rng.random() < 0.9) << 10                      # AF
        d |= rng.randrange(4) << 6                          # AP[2:1]
        d |= rng.randrange(8) << 2                          # AttrIndx
        d |= (rng.random() < 0.2) << 53 | (rng.random() < 0.2) << 54   # PXN, XN
        return d

    def _oa(self, size: int) -> int:
        rng = self.rng
        if rng.random() < 0.1:
            return rng.randrange(1 << 40) & ~(size - 1)
        return (RAM + rng.randrange(0x4000000)) & ~(size - 1)

    def fill(self, table: int, level: int, entries: int, va_base: int) -> None:
        rng = self.rng
        span = 1 << (30, 21, 12)[level - 1]
        for i in range(entries):
            if rng.random() < 0.5 and entries > 8:
                continue
            va = va_base + i * span
            r = rng.random()
            if r < 0.1:
                desc = rng.choice((0, 2)) | rng.randrange(1 << 20) << 12      # invalid
            elif level < 3 and r < 0.45 and self.next_table < self.region + 0xF0000:
                sub = self.next_table
                self.next_table += 0x1000
                attrs = 0
                for bit in (59, 60, 61, 62):
                    if rng.random() < 0.15:
                        attrs |= 1 << bit
                desc = sub | 3 | attrs
                self.fill(sub, level + 1, 512 if rng.random() < 0.2 else 12, va)
            elif level == 3:
                desc = self._oa(span) | 3 | self._leaf_attrs()
                self.mapped.append(va)
            else:
                desc = self._oa(span) | 1 | self._leaf_attrs()
                self.mapped.append(va)
            self.words[table + 8 * i] = desc

    def write(self, m: Machine) -> None:
        m.uc.mem_write(self.region, bytes(0x100000))
        for addr, desc in self.words.items():
            m.uc.mem_write(addr, struct.pack("<Q", desc))


@pytest.mark.parametrize("stage2", [False, True])
@pytest.mark.parametrize("block", range(4))
def test_c_walk_grants_what_the_python_walk_grants(machine: Machine, block: int,
                                                   stage2: bool) -> None:
    counts = [0, 0]
    for seed in range(10 * block, 10 * block + 10):
        _compare_one(machine, random.Random(seed), counts, stage2)
    granted, refused = counts
    assert granted > 200 and refused > 500, counts


def _compare_one(m: Machine, rng: random.Random, counts: List[int], stage2: bool) -> None:
    """One random tree and TTBCR/SCTLR: every access the C walk grants or refuses, alike."""
    t0sz, t1sz = rng.choice((0, 0, 1, 2, 3, 7)), rng.choice((0, 0, 1, 2, 5))
    ttbcr = EAE | t0sz | t1sz << 16
    ttbcr |= (rng.random() < 0.1) << 7 | (rng.random() < 0.1) << 23     # EPD0, EPD1
    sctlr = 1 | (rng.random() < 0.3) << 19 | (rng.random() < 0.3) << 20  # M, WXN, UWXN
    roots = []
    tables = _Tables(rng)
    for which, tsz in ((0, t0sz), (1, t1sz)):
        root = TABLES + 0x800 * which        # both roots fit in the first page (32 bytes each
        start_level = 1 if tsz <= 1 else 2   # at level 1, up to 4 KiB at level 2)
        entries = 1 << (2 - tsz) if tsz <= 1 else 1 << (11 - tsz)
        size = 1 << (32 - tsz) if tsz else 1 << 32
        base = 0 if which == 0 else (1 << 32) - size
        if which == 1 and not t1sz:
            base = 0 if not t0sz else 1 << (32 - t0sz)
        roots.append(root)
        tables.fill(root, start_level, min(entries, 64) if start_level == 2 else entries, base)
    if not t0sz and not t1sz:
        tables.words = {a: d for a, d in tables.words.items() if a < roots[1]}
    tables.write(m)
    regs = Stage1Regs(sctlr, ttbcr, roots[0] | rng.randrange(256) << 48,
                      roots[1] | rng.randrange(256) << 48)
    s2 = _stage2(m, rng) if stage2 else None
    if s2 is None:
        m.tlb_cache.arm_walks(sctlr, ttbcr, regs.ttbr0, regs.ttbr1)
    else:
        m.tlb_cache.arm_walks(sctlr, ttbcr, regs.ttbr0, regs.ttbr1, s2.vtcr, s2.vttbr)
    vas = [va + rng.randrange(0x1000) for va in tables.mapped] + \
        [rng.randrange(1 << 32) for _ in range(64)]
    for va in vas:
        va &= 0xFFFFFFFF
        for pl in (0, 1):
            for write in (False, True):
                want = _py_walk(m, regs, va, pl, write, s2)
                got = _c_walk(m, va, pl, write)
                assert got == want, (hex(va), pl, write, want, got)
                counts[got is None] += 1


@pytest.mark.parametrize("block", range(2))
def test_c_hyp_walk_grants_what_the_python_walk_grants(machine: Machine, block: int) -> None:
    """Hyp mode's stage 1 (B3.6): HTCR.T0SZ, AP[2] and APTable[1], XN and XNTable,
    HSCTLR.WXN; no PXN, no PL0."""
    m = machine
    counts = [0, 0]
    for seed in range(100 + 10 * block, 110 + 10 * block):
        rng = random.Random(seed)
        tsz = rng.choice((0, 0, 1, 2, 3, 7))
        hsctlr = 1 | (rng.random() < 0.3) << 19
        tables = _Tables(rng)
        start = 1 if tsz <= 1 else 2
        entries = 1 << (2 - tsz) if tsz <= 1 else 1 << (11 - tsz)
        tables.fill(TABLES, start, min(entries, 64), 0)
        tables.write(m)
        regs = HypRegs(hsctlr, tsz, TABLES)
        m.tlb_cache.arm_hyp_walks(hsctlr, tsz, TABLES)
        for va in [va + rng.randrange(0x1000) for va in tables.mapped] + \
                [rng.randrange(1 << 32) for _ in range(64)]:
            va &= 0xFFFFFFFF
            for write in (False, True):
                t = translate_hyp(va, Access.WRITE if write else Access.READ, regs,
                                  m.mmu._read_phys)
                want = None if t.fault is not None else (t.pa, t.perms)
                got = _c_walk(m, va, 2, write)
                assert got == want, (hex(va), write, want, got)
                counts[got is None] += 1
    granted, refused = counts
    assert granted > 200 and refused > 200, counts


def _run_image(name: str, native_walks: bool) -> Tuple[bytes, int, Dict[str, int]]:
    from mmuimage import build_mmu_image
    out = io.BytesIO()
    m = build_board(str(build_mmu_image(name)), serial="none", uart_out=out).machine
    if not native_walks:
        m.mmu.arm_native_walks = lambda *a: None        # type: ignore[assignment]
    m.run(max_insns=20_000_000)
    return out.getvalue(), m.icount, m.tlb_cache.stats


@pytest.mark.skipif(AS is None or not NATIVE, reason="needs arm-none-eabi-as and the C helper")
@pytest.mark.parametrize("name", ["mmu_long", "mmu_short", "mmu_stage2", "mmu_hyp"])
def test_images_run_the_same_with_and_without_c_walks(name: str) -> None:
    with_c, icount_c, stats_c = _run_image(name, True)
    without, icount_py, stats_py = _run_image(name, False)
    assert with_c == without and b"END" in with_c
    assert icount_c == icount_py
    assert stats_py["walks"] == 0
    if name != "mmu_short":
        assert stats_c["walks"] > 0


class _UcTlbEntry(ctypes.Structure):
    _fields_ = [("paddr", ctypes.c_uint64), ("perms", ctypes.c_int)]


def _c_fill(m: Machine, va: int, uc_type: int) -> Optional[Tuple[int, int]]:
    """Ask the C fill hook as unicorn does (16 read, 17 write)."""
    lib = fastcount.load_native()
    lib.tc_fill.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                            ctypes.POINTER(_UcTlbEntry), ctypes.c_void_p]
    lib.tc_fill.restype = ctypes.c_bool
    entry = _UcTlbEntry()
    if not lib.tc_fill(m.uc._uch, va, uc_type, ctypes.byref(entry), m.tlb_cache._ptr):
        return None
    return entry.paddr, entry.perms


def test_while_snapshots_are_kept_only_saved_pages_are_made_writable(machine: Machine) -> None:
    """Snapshots save a page before it first becomes writable, in Python's fill: with a
    snapshotter attached the C walk grants write permission only on the pages its bitmap
    says are saved since the last snapshot, and leaves the other writes to Python."""
    m = machine
    root = TABLES
    m.uc.mem_write(TABLES, bytes(0x1000))
    m.uc.mem_write(root + 8, struct.pack("<Q", RAM | 1 | 1 << 10 | 1 << 6))   # 1 GiB RW at PL0/1
    m.uc.reg_write(UC_ARM_REG_CPSR, 0x1D3)                                    # SVC
    arm = lambda: m.tlb_cache.arm_walks(1, EAE, root, 0)     # noqa: E731
    va = 0x40003000
    m.tlb_cache.flush()
    arm()
    assert _c_fill(m, va, 17) == (RAM + 0x3000, 3)
    saved = (ctypes.c_uint8 * (m.ram_size >> 13))()
    m.tlb_cache.keep_writes_in_python(True, saved)
    try:
        m.tlb_cache.flush()
        arm()
        assert _c_fill(m, va, 17) is None
        assert _c_fill(m, va + 0x400, 16) == (RAM + 0x3400, 1)
        assert _c_fill(m, va + 0x400, 17) is None            # the read's entry lacks W too
        page = 0x3800 >> 10                                  # RAM + 0x3800: saved
        saved[page >> 3] |= 1 << (page & 7)
        assert _c_fill(m, va + 0x800, 17) == (RAM + 0x3800, 3)
        assert _c_fill(m, va + 0xC00, 17) is None            # its neighbour is not
    finally:
        m.tlb_cache.keep_writes_in_python(False)
        m.tlb_cache.flush()
