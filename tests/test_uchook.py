"""core.uchook registers hooks as the binding's Uc.hook_add does, through one frame: the same
arguments, an exception raised in a hook stops emulation and comes out of emu_start, and
Uc.hook_del removes the hook."""
from __future__ import annotations

import struct
from typing import List

import pytest
from unicorn import UC_ARCH_ARM, UC_HOOK_CODE, UC_HOOK_INTR, UC_MODE_ARM, Uc
from unicorn.arm_const import UC_ARM_REG_R0

from hypdbg.core.uchook import hook_add

BASE = 0x1000
ADD_R0_1 = 0xE2800001
SVC_0 = 0xEF000000


def _uc(words: List[int]) -> Uc:
    uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
    uc.mem_map(BASE, 0x1000)
    uc.mem_write(BASE, struct.pack(f"<{len(words)}I", *words))
    return uc


def test_code_hook_arguments_and_range() -> None:
    uc = _uc([ADD_R0_1] * 4)
    seen = []
    hook_add(uc, UC_HOOK_CODE, lambda u, a, s, d: seen.append((u is uc, a, s, d)), "data",
             begin=BASE + 4, end=BASE + 8)
    uc.emu_start(BASE, BASE + 16)
    assert seen == [(True, BASE + 4, 4, "data"), (True, BASE + 8, 4, "data")]


def test_intr_hook_gets_the_exception_number() -> None:
    uc = _uc([SVC_0, ADD_R0_1])
    seen = []

    def on_intr(u: Uc, intno: int, data: object) -> None:
        seen.append(intno)
        u.emu_stop()
    hook_add(uc, UC_HOOK_INTR, on_intr)
    uc.emu_start(BASE, BASE + 8)
    assert seen == [2]                  # EXCP_SWI


def test_exception_in_a_hook_stops_and_is_raised() -> None:
    uc = _uc([ADD_R0_1] * 8)

    def boom(u: Uc, address: int, size: int, data: object) -> None:
        raise ValueError(f"at {address:#x}")
    hook_add(uc, UC_HOOK_CODE, boom, begin=BASE + 8, end=BASE + 8)
    with pytest.raises(ValueError, match="at 0x1008"):
        uc.emu_start(BASE, BASE + 32)
    assert uc.reg_read(UC_ARM_REG_R0) < 8           # stopped, not run to the end


def test_hook_del_removes_it() -> None:
    uc = _uc([ADD_R0_1] * 4)
    seen = []
    handle = hook_add(uc, UC_HOOK_CODE, lambda u, a, s, d: seen.append(a))
    uc.emu_start(BASE, BASE + 16)
    assert len(seen) == 4
    uc.hook_del(handle)
    uc.ctl_flush_tb()
    uc.emu_start(BASE, BASE + 16)
    assert len(seen) == 4


def test_a_failing_fill_hook_is_not_reported_as_a_guest_fault() -> None:
    """An exception in the machine's TLB-fill hook makes unicorn stop with an error of its
    own; the machine raises the hook's exception rather than stopping with a 'fault'."""
    from hypdbg.core.loader import Image
    from hypdbg.core.machine import Machine

    code = struct.pack("<II", 0xE5901000, 0xEAFFFFFE)        # ldr r1, [r0] ; b .
    m = Machine(Image("t", 0x40000000, False, [(0x40000000, code)]), ram_mb=64)
    m.uc.reg_write(UC_ARM_REG_R0, 0x40001000)

    def broken(vaddr: int, access: int) -> None:
        raise LookupError("fill hook bug")
    m._translate_fill = broken  # type: ignore[assignment]
    m.tlb_cache.flush()
    with pytest.raises(LookupError, match="fill hook bug"):
        m.run(max_insns=1000)


def test_a_failing_fill_hook_is_not_lost_when_a_snapshot_is_restored() -> None:
    """Restoring a snapshot first lets unicorn refetch at the PC, a fetch that may fault and
    is ignored; an exception of the fill hook there is raised, not ignored with it."""
    from hypdbg.core.loader import Image
    from hypdbg.core.machine import Machine
    from hypdbg.core.snapshot import Snapshotter

    code = struct.pack("<II", 0xE5901000, 0xEAFFFFFE)        # ldr r1, [r0] ; b .
    m = Machine(Image("t", 0x40000000, False, [(0x40000000, code)]), ram_mb=64)
    snaps = Snapshotter(m)
    snap = snaps.take(0)

    def broken(vaddr: int, access: int) -> None:
        raise LookupError("fill hook bug")
    m._translate_fill = broken  # type: ignore[assignment]
    with pytest.raises(LookupError, match="fill hook bug"):
        snaps.restore(snap)
