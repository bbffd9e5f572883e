"""The second-level translation cache (``tlbcache.c``) that answers unicorn's TLB misses in C.

unicorn's TLB holds a few hundred 1 KiB pages; a workload touching more pages
than that used to pay a Python walk on every miss. The C fill hook registered
here, ahead of the machine's Python one, answers a miss from the translations
Python granted earlier and hands the rest on. It holds exactly what unicorn's
TLB may hold, so every place that flushes that TLB flushes this cache too
(:meth:`flush`, :meth:`invalidate_page`). Without the C helper the cache is
inert and every miss goes to Python, as before.
"""
from __future__ import annotations

import ctypes
from typing import Dict, Optional

from unicorn import UC_HOOK_TLB_FILL, Uc

from . import fastcount

BITS = 16
REGIME_PL0, REGIME_PL1, REGIME_HYP = 0, 1, 2
_USR, _HYP = 0x10, 0x1A


class _Entry(ctypes.Structure):
    _fields_ = [("pa_flags", ctypes.c_uint64), ("tag", ctypes.c_uint32), ("gen", ctypes.c_uint32)]


class _WalkRegs(ctypes.Structure):
    """Mirror of ``tc_walk_regs``: the regime the C fill hook may walk itself."""

    _fields_ = [
        ("armed", ctypes.c_uint32),
        ("sctlr", ctypes.c_uint32),
        ("ttbcr", ctypes.c_uint32),
        ("writes", ctypes.c_uint32),
        ("ttbr0", ctypes.c_uint64),
        ("ttbr1", ctypes.c_uint64),
        ("ram_base", ctypes.c_uint64),
        ("ram_end", ctypes.c_uint64),
        ("stage2", ctypes.c_uint32),
        ("vtcr", ctypes.c_uint32),
        ("vttbr", ctypes.c_uint64),
        ("hyp_armed", ctypes.c_uint32),
        ("hsctlr", ctypes.c_uint32),
        ("htcr", ctypes.c_uint32),
        ("pad2", ctypes.c_uint32),
        ("httbr", ctypes.c_uint64),
        ("saved", ctypes.c_void_p),
        ("saved_pages", ctypes.c_uint64),
    ]


class _State(ctypes.Structure):
    """Mirror of ``tc_state`` in tlbcache.c (checked against ``tc_state_size``)."""

    _fields_ = [
        ("gen", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("hits", ctypes.c_uint64),
        ("misses", ctypes.c_uint64),
        ("inserts", ctypes.c_uint64),
        ("walks", ctypes.c_uint64),
        ("reg_read", ctypes.c_void_p),
        ("mem_read", ctypes.c_void_p),
        ("walk", _WalkRegs),
        ("table", _Entry * (1 << BITS)),
    ]


def regime_class(mode: int) -> int:
    """The cache's regime class of a CPSR mode: PL0 and PL1 permissions differ, Hyp has its own tables."""
    return REGIME_HYP if mode == _HYP else REGIME_PL0 if mode == _USR else REGIME_PL1


GROW_MIN_FILLS = 1024
"""Fills in one slice below which unicorn's TLB is not worth emptying to let it grow."""
GROW_INSNS_PER_FILL = 1000
"""A slice with a fill per this many instructions or more may be thrashing the TLB."""
TLB_ENTRIES = 256
"""unicorn's TLB entries per regime until it first resizes (QEMU's CPU_TLB_DYN_DEFAULT_BITS)."""
TLB_MAX_ENTRIES = 1 << 22
"""Its largest size for a 32-bit guest with 1 KiB pages (CPU_TLB_DYN_MAX_BITS)."""


class TlbCache:
    """The C fill hook and its table for one ``Uc`` (inert without the C helper).

    Must be created before any other ``UC_HOOK_TLB_FILL`` hook: unicorn asks the
    fill hooks in the order they were added and stops at the first that answers.
    """

    def __init__(self, uc: Uc, native: Optional[bool] = None, ram_base: int = 0,
                 ram_size: int = 0) -> None:
        """``ram_base``/``ram_size``: where the C walks may read descriptors (none by default)."""
        self.uc = uc
        lib = fastcount.load_native() if native is not False else None
        if lib is not None and lib.tc_state_size() != ctypes.sizeof(_State):
            lib = None
        self._lib = lib
        self._st = _State()
        self._st.gen = 1
        self._ptr = ctypes.byref(self._st)
        self._slice_mark = 0          # fills when the last slice began
        self._flush_mark = 0          # fills when unicorn's TLB was last emptied
        self._entries = TLB_ENTRIES   # what unicorn's TLB has likely grown to
        self._write_watchers = 0      # snapshotters that need every writable page filled in Python
        self._saved: Optional[ctypes.Array] = None   # their bitmap of pages saved (kept alive)
        w = self._st.walk
        w.ram_base, w.ram_end, w.writes = ram_base, ram_base + ram_size, 1
        if lib is None:
            return
        lib.tc_insert.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint64,
                                  ctypes.c_uint32, ctypes.c_uint32]
        lib.tc_flush.argtypes = [ctypes.c_void_p]
        lib.tc_invalidate_page.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self._st.reg_read = ctypes.cast(fastcount._uclib().uc_reg_read, ctypes.c_void_p).value
        self._st.mem_read = ctypes.cast(fastcount._uclib().uc_mem_read, ctypes.c_void_p).value
        fastcount.add_native_hook(uc, UC_HOOK_TLB_FILL, lib.tc_fill, self._st)
        # the engine may call the hook until it is closed: the state lives as long as the Uc
        keep = getattr(uc, "_hypdbg_tlbcache", None)
        if keep is None:
            keep = []
            setattr(uc, "_hypdbg_tlbcache", keep)
        keep.append(self._st)
        self._insert = lib.tc_insert
        self._flush = lib.tc_flush
        self._invalidate = lib.tc_invalidate_page

    def insert(self, va: int, mode: int, pa: int, perms: int, fetch: bool) -> None:
        """Remember what the Python fill granted for ``va`` in ``mode`` (``fetch``: it scanned the page)."""
        if self._lib is not None:
            self._insert(self._ptr, va & 0xFFFFFFFF, regime_class(mode), pa, perms, fetch)

    def flush(self) -> None:
        """Forget every translation (with unicorn's TLB), and the regime armed for walks."""
        if self._lib is not None:
            self._flush(self._ptr)
            self.disarm_walks()
            self._flush_mark = self._st.hits + self._st.misses

    @property
    def walks_here(self) -> bool:
        """Whether the C hook can walk data misses itself (the helper is built)."""
        return self._lib is not None

    def arm_walks(self, sctlr: int, ttbcr: int, ttbr0: int, ttbr1: int,
                  vtcr: Optional[int] = None, vttbr: int = 0) -> None:
        """Let the C hook walk data misses of the PL1&0 regime with these registers, then
        stage 2 with ``vtcr``/``vttbr`` unless ``vtcr`` is None (the caller has checked that
        stage 1 is off or long-descriptor, and HCR.DC, TGE and PTW are clear), reading
        descriptors from RAM only. Undone by :meth:`disarm_walks` and :meth:`flush`."""
        w = self._st.walk
        w.sctlr, w.ttbcr = sctlr & 0xFFFFFFFF, ttbcr & 0xFFFFFFFF
        w.ttbr0, w.ttbr1 = ttbr0, ttbr1
        w.stage2 = int(vtcr is not None)
        w.vtcr, w.vttbr = (vtcr or 0) & 0xFFFFFFFF, vttbr
        w.armed = 1

    def arm_hyp_walks(self, hsctlr: int, htcr: int, httbr: int) -> None:
        """The same for Hyp mode's stage 1."""
        w = self._st.walk
        w.hsctlr, w.htcr, w.httbr = hsctlr & 0xFFFFFFFF, htcr & 0xFFFFFFFF, httbr
        w.hyp_armed = 1

    def keep_writes_in_python(self, python: bool, saved: Optional[ctypes.Array] = None) -> None:
        """While snapshots are taken, a page must be saved before it first becomes writable,
        which Python's fill does: C walks then grant write permission only for the pages
        set in ``saved``, the snapshots' bitmap of RAM's 1 KiB pages saved since the last
        one. Each ``True`` (a snapshotter attaching) is undone by one ``False``; with two
        snapshotters at once no page counts as saved."""
        self._write_watchers = max(0, self._write_watchers + (1 if python else -1))
        w = self._st.walk
        w.writes = int(self._write_watchers == 0)
        if python and self._write_watchers == 1 and saved is not None:
            self._saved = saved
            w.saved, w.saved_pages = ctypes.addressof(saved), 8 * len(saved)
        else:
            self._saved = None
            w.saved, w.saved_pages = None, 0
        self.disarm_walks()

    def disarm_walks(self) -> None:
        """The regimes' registers may have changed: leave misses to Python again."""
        self._st.walk.armed = 0
        self._st.walk.hyp_armed = 0

    def walks_armed(self, hyp: bool) -> bool:
        return bool(self._st.walk.hyp_armed if hyp else self._st.walk.armed)

    def invalidate_page(self, va: int) -> None:
        """Forget the 4 KiB page holding ``va`` in every regime (TLB invalidate by address)."""
        if self._lib is not None:
            self._invalidate(self._ptr, va & 0xFFFFFFFF)

    def thrashed(self, insns: int) -> bool:
        """True if unicorn's TLB should be emptied so that it can grow: since it was last
        emptied it missed more than twice over the entries it likely has, and over the
        ``insns`` run since the last call at least once per ``GROW_INSNS_PER_FILL``
        instructions (and ``GROW_MIN_FILLS`` times).

        unicorn sizes its TLB as QEMU does, by the use it saw, but only when it is
        flushed: code that flushes nothing (a bare-metal loop over 4 MiB, which is 4096
        of unicorn's 1 KiB pages) keeps 256 entries per regime and misses on every page,
        each miss also sending the page's first store down the slow path. Emptying the
        TLB (not this cache, whose entries stay valid) lets it double. The refills that
        follow are not thrashing, hence the count against the likely size. Without the
        C helper nothing is counted.
        """
        st = self._st
        fills = st.hits + st.misses
        in_slice = fills - self._slice_mark
        self._slice_mark = fills
        if fills - self._flush_mark <= 2 * self._entries or in_slice < GROW_MIN_FILLS \
                or in_slice * GROW_INSNS_PER_FILL < insns:
            return False
        self._flush_mark = fills
        self._entries = min(self._entries * 2, TLB_MAX_ENTRIES)
        return True

    @property
    def stats(self) -> Dict[str, int]:
        st = self._st
        return {"hits": st.hits, "misses": st.misses, "inserts": st.inserts, "walks": st.walks}
