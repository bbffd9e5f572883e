"""unicorn's TLB grows to a loop's working set (core.tlbcache.TlbCache.thrashed).

unicorn resizes its TLB as QEMU does (accel/tcg/cputlb.c, tlb_mmu_resize_locked:
doubled at a flush when more than 70 % of it was used), but only when it is
flushed. A bare-metal loop over 4 MiB (4096 of unicorn's 1 KiB pages) flushes
nothing, so without help the TLB keeps its 256 entries per regime and every pass
misses once per page. The machine empties it when it thrashes, running short
slices meanwhile; after a few the whole buffer fits and the passes stop missing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from asmutil import link_flat
from hypdbg.core.board import build_board
from hypdbg.core.tlbcache import GROW_MIN_FILLS, TLB_ENTRIES, TlbCache

PAGES = 4096            # 4 MiB of 1 KiB pages
PASSES = 1000
SOURCE = r"""
    .global _start
_start:
    ldr r4, =PASSES
outer:
    ldr r0, =0x40100000
    ldr r1, =0x40100000 + PAGES * 1024
inner:
    ldr r2, [r0]
    add r2, r2, r4
    str r2, [r0], #256
    cmp r0, r1
    blo inner
    subs r4, r4, #1
    bne outer
    ldr r0, =0x84000008          @ PSCI SYSTEM_OFF
    smc #0
    .ltorg
"""


def test_thrashed_grows_the_likely_size_and_ignores_refills() -> None:
    from unicorn import UC_ARCH_ARM, UC_MODE_ARM, Uc
    cache = TlbCache(Uc(UC_ARCH_ARM, UC_MODE_ARM))
    if cache._lib is None:
        pytest.skip("the C helper is not built")
    st = cache._st
    insns = 4_000_000

    def slice_with(fills: int) -> bool:
        st.hits += fills
        return cache.thrashed(insns)

    assert not slice_with(GROW_MIN_FILLS - 1)          # too few to matter
    assert not slice_with(2 * TLB_ENTRIES)             # nor slow: a fill per ~8,000 instructions
    # a fill per 80 instructions, every slice: emptied each time, the likely size doubling
    assert [slice_with(50_000) for _ in range(5)] == [True] * 5
    assert cache._entries == TLB_ENTRIES << 5
    cache.flush()                                      # the guest flushed: refills follow
    assert not slice_with(2 * cache._entries)          # no more than twice the likely size


@pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None, reason="no ARM assembler")
def test_passes_over_4_mib_stop_missing(tmp_path: Path) -> None:
    elf = link_flat(tmp_path, "tlbloop", SOURCE, [f"PASSES={PASSES}", f"PAGES={PAGES}"])
    board = build_board(str(elf), ram_mb=64, deterministic=True, serial="none")
    m = board.machine
    if m.tlb_cache._lib is None:
        pytest.skip("the C helper is not built")
    stop = m.run(max_insns=10 ** 9)
    assert stop.kind == "poweroff", stop
    fills = sum(m.tlb_cache.stats[k] for k in ("hits", "misses"))
    # Every pass misses once per page while the TLB has 256 entries: PASSES * PAGES fills
    # (4.1 M). Grown, only the short slices before the last doubling miss (measured: 253,188).
    assert fills < PASSES * PAGES // 10, fills
