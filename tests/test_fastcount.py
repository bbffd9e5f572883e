"""Instruction counting (core/fastcount): the C hook and the Python hook against counts from the source.

Every expected count below is derived from the assembly (instructions per
loop iteration, iterations done as the loop counter register shows), never
from the counter under test; the C and Python hooks must also agree stop for stop.
"""
from __future__ import annotations

import subprocess
import sys
from typing import List, Tuple

import pytest
from unicorn import (UC_ARCH_ARM, UC_HOOK_CODE, UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_TLB_FILL,
                     UC_MODE_ARM, UC_PROT_ALL, UC_TLB_VIRTUAL, Uc, UcError)
from unicorn import arm_const as A

from hypdbg.core import fastcount
from hypdbg.core.fastcount import NO_DEADLINE, BlockCounter, thumb_insns
from tests.asmutil import AS, assemble

pytestmark = pytest.mark.skipif(AS is None, reason="arm-none-eabi-as not installed")

BASE = 0x10000
N = 100

# ARM: 2 set-up instructions, then N iterations of 4; done at BASE + 24.
ARM_LOOP = ["mov r0, #100", "mov r1, #0",
            "1: add r1, r1, #1", "eor r2, r2, r1", "subs r0, r0, #1", "bne 1b",
            "b ."]
ARM_LOOP_HEAD, ARM_DONE = BASE + 8, BASE + 24

# Thumb: movs (16) + movw (32), then N iterations of adds (16), add.w (32), subs (16), bne (16).
THUMB_LOOP = ["movs r0, #100", "movw r1, #0",
              "1: adds r1, r1, #1", "add.w r2, r2, #3", "subs r0, r0, #1", "bne 1b",
              "b ."]
THUMB_LOOP_HEAD, THUMB_DONE = BASE + 6, BASE + 16

# Thumb, straight line after a short loop (N=50): SVC, then a load from unmapped
# memory at index 6 of the second block.
THUMB_EXC = ["movs r0, #50", "movw r1, #0",
             "1: adds r1, r1, #1", "add.w r2, r2, #3", "subs r0, r0, #1", "bne 1b",
             "movs r3, #0", "add.w r3, r3, #1", "svc #1",                       # 202 + 3 = 205
             "adds r3, r3, #1", "add.w r4, r3, #4", "ldr r5, [r4]",              # ldr is insn 208
             "adds r3, r3, #1", "b ."]
THUMB_EXC_SVC_NEXT, THUMB_EXC_LDR, THUMB_EXC_DONE = BASE + 0x18, BASE + 0x1E, BASE + 0x22

# ARM calling Thumb: 3 ARM set-up/blx, N iterations of 3 Thumb, bx lr, then done.
INTERWORK = ["mov r4, #100", "adr r5, 2f + 1", "blx r5", "b .",
             ".thumb", "2: adds r1, r1, #1", "subs r4, r4, #1", "bne 2b", "bx lr"]
INTERWORK_DONE = BASE + 12


def implementations() -> List[bool]:
    return [True, False]


@pytest.fixture(params=implementations(), ids=["c", "python"])
def native(request: pytest.FixtureRequest) -> bool:
    if request.param and fastcount.load_native() is None:
        pytest.skip(f"C helper unavailable: {fastcount.native_error()}")
    return request.param


def machine(code: bytes, thumb: bool = False) -> Uc:
    uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_A15)
    uc.mem_map(BASE, 0x10000)
    uc.mem_write(BASE, code)
    return uc


def pc_of(uc: Uc) -> int:
    return uc.reg_read(A.UC_ARM_REG_PC)


def run_slices(uc: Uc, bc: BlockCounter, begin: int, until: int, step: int) -> List[Tuple[int, int, int]]:
    """Run to ``until`` with a deadline every ``step`` instructions; (count, pc, r1) at each stop."""
    stops = []
    while True:
        bc.deadline = bc.count + step
        uc.emu_start(begin, until)
        pc = pc_of(uc)
        stops.append((bc.count, pc, uc.reg_read(A.UC_ARM_REG_R1)))
        if pc == until:
            return stops
        begin = pc | (1 if uc.reg_read(A.UC_ARM_REG_CPSR) & 0x20 else 0)


# -- counting whole runs ------------------------------------------------------------------------
@pytest.mark.parametrize("thumb", [False, True], ids=["arm", "thumb"])
def test_full_run_matches_source(native: bool, thumb: bool) -> None:
    code = assemble(THUMB_LOOP if thumb else ARM_LOOP, thumb=thumb)
    uc = machine(code)
    bc = BlockCounter(uc, native=native)
    assert bc.native == native
    uc.emu_start(BASE | int(thumb), THUMB_DONE if thumb else ARM_DONE)
    assert bc.count == 2 + 4 * N
    assert bc.stats["read_errors"] == 0


def test_interworking(native: bool) -> None:
    uc = machine(assemble(INTERWORK))
    bc = BlockCounter(uc, native=native)
    uc.emu_start(BASE, INTERWORK_DONE)
    assert uc.reg_read(A.UC_ARM_REG_R1) == N
    assert bc.count == 3 + 3 * N + 1


# -- deadlines ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("thumb", [False, True], ids=["arm", "thumb"])
@pytest.mark.parametrize("step", [1, 3, 7, 50])
def test_deadline_stops_are_exact(native: bool, thumb: bool, step: int) -> None:
    """At every stop the count equals what the registers say was retired; the refused block did not run."""
    code = assemble(THUMB_LOOP if thumb else ARM_LOOP, thumb=thumb)
    head, done = (THUMB_LOOP_HEAD, THUMB_DONE) if thumb else (ARM_LOOP_HEAD, ARM_DONE)
    uc = machine(code)
    bc = BlockCounter(uc, native=native)
    stops = run_slices(uc, bc, BASE | int(thumb), done, step)
    for count, pc, iterations in stops[:-1]:
        assert pc == head                          # stops fall on block starts only
        assert count == 2 + 4 * iterations         # r1 counts the loop iterations done
    assert [c for c, _, _ in stops] == sorted(c for c, _, _ in stops)
    assert stops[-1][0] == 2 + 4 * N
    uc2 = machine(code)
    bc2 = BlockCounter(uc2, native=native)
    bc2.deadline = 10
    uc2.emu_start(BASE | int(thumb), done)
    iterations = uc2.reg_read(A.UC_ARM_REG_R1)
    assert pc_of(uc2) == head
    assert bc2.count == 2 + 4 * iterations
    assert 10 <= bc2.count < 10 + 4            # overshoot below one block
    assert bc2.stopped_at_deadline
    assert bc2.retired(pc_of(uc2)) == bc2.count


def test_deadline_zero_stops_before_anything(native: bool) -> None:
    uc = machine(assemble(ARM_LOOP))
    bc = BlockCounter(uc, native=native)
    bc.deadline = 0
    uc.emu_start(BASE, ARM_DONE)
    assert (bc.count, pc_of(uc), uc.reg_read(A.UC_ARM_REG_R0)) == (0, BASE, 0)


def test_c_and_python_agree_stop_for_stop() -> None:
    if fastcount.load_native() is None:
        pytest.skip("C helper unavailable")
    for lines, thumb, done in ((ARM_LOOP, False, ARM_DONE), (THUMB_LOOP, True, THUMB_DONE),
                               (INTERWORK, False, INTERWORK_DONE)):
        code = assemble(lines, thumb=thumb)
        runs = []
        for native in (True, False):
            uc = machine(code)
            bc = BlockCounter(uc, native=native)
            runs.append(run_slices(uc, bc, BASE | int(thumb), done, 5))
        assert runs[0] == runs[1]


def loop_pcs(thumb: bool) -> List[int]:
    """PC after each retired instruction of ARM_LOOP / THUMB_LOOP, from the source layout."""
    if thumb:
        return [BASE, BASE + 2] + [THUMB_LOOP_HEAD + o for o in (0, 2, 6, 8)] * N + [THUMB_DONE]
    return [BASE, BASE + 4] + [ARM_LOOP_HEAD + o for o in (0, 4, 8, 12)] * N + [ARM_DONE]


@pytest.mark.parametrize("thumb", [False, True], ids=["arm", "thumb"])
@pytest.mark.parametrize("step", [1, 3, 7])
def test_exact_deadlines(native: bool, thumb: bool, step: int) -> None:
    """Exact mode plus finish_to_deadline: every stop lands on the deadline, at the right PC."""
    code = assemble(THUMB_LOOP if thumb else ARM_LOOP, thumb=thumb)
    done = THUMB_DONE if thumb else ARM_DONE
    pcs = loop_pcs(thumb)
    uc = machine(code)
    bc = BlockCounter(uc, native=native)
    bc.exact = True
    begin = BASE | int(thumb)
    while True:
        bc.deadline = bc.count + step
        uc.emu_start(begin, done)
        bc.finish_to_deadline(lambda: uc.emu_start(pc_of(uc) | int(thumb), done))
        pc = pc_of(uc)
        if pc == done:
            break
        assert bc.count == bc.deadline
        assert pc == pcs[bc.count]
        begin = pc | int(thumb)
    assert bc.count == 2 + 4 * N


# -- early exits and retired() ---------------------------------------------------------------------
def test_exceptions_and_faults(native: bool) -> None:
    uc = machine(assemble(THUMB_EXC, thumb=True))
    bc = BlockCounter(uc, native=native)
    seen: List[Tuple[int, int]] = []

    def on_intr(uc: Uc, intno: int, _d: object) -> None:
        pc = pc_of(uc)
        bc.count = bc.retired(pc)
        seen.append((intno, bc.count))

    uc.hook_add(UC_HOOK_INTR, on_intr)
    with pytest.raises(UcError):
        uc.emu_start(BASE | 1, THUMB_EXC_DONE)
    assert seen == [(2, 205)]                        # SVC retired, PC after it
    pc = pc_of(uc)
    assert pc == THUMB_EXC_LDR
    assert bc.count > 207                            # the faulting block was counted whole
    bc.count = bc.retired(pc)
    assert bc.count == 207                           # the load did not retire
    assert bc.retired(pc) == 207                     # a second correction changes nothing
    uc.mem_map(0, 0x1000)
    uc.emu_start(pc | 1, THUMB_EXC_DONE)
    assert bc.count == 209


def test_code_hook_stop(native: bool) -> None:
    uc = machine(assemble(THUMB_LOOP, thumb=True))
    bc = BlockCounter(uc, native=native)
    sub_at = THUMB_LOOP_HEAD + 6                     # "subs" of the loop body

    def on_code(uc: Uc, address: int, size: int, _d: object) -> None:
        uc.emu_stop()

    uc.hook_add(UC_HOOK_CODE, on_code, begin=sub_at, end=sub_at)
    uc.emu_start(BASE | 1, THUMB_DONE)
    assert pc_of(uc) == sub_at
    assert bc.retired(sub_at) == 2 + 2               # movs, movw, adds, add.w


def test_memory_hook_stop(native: bool) -> None:
    code = assemble(["mov r0, #100", "mov r1, #0",
                     "1: add r1, r1, #1", "ldr r2, [r3]", "subs r0, r0, #1", "bne 1b", "b ."])
    uc = machine(code)
    uc.reg_write(A.UC_ARM_REG_R3, BASE)
    bc = BlockCounter(uc, native=native)
    reads = [0]

    def on_read(uc: Uc, access: int, address: int, size: int, value: int, _d: object) -> None:
        reads[0] += 1
        if reads[0] == 10:
            uc.emu_stop()

    uc.hook_add(UC_HOOK_MEM_READ, on_read)
    uc.emu_start(BASE, BASE + 24)
    pc = pc_of(uc)
    iterations = uc.reg_read(A.UC_ARM_REG_R1)
    assert pc == BASE + 12 and iterations == 10       # stopped at the 10th load
    assert bc.retired(pc) == 2 + 4 * 9 + 1


def test_single_steps(native: bool) -> None:
    """emu_start(count=1) with the counter on: count = retired(pc) after each step is exact."""
    uc = machine(assemble(THUMB_LOOP, thumb=True))
    bc = BlockCounter(uc, native=native)
    pc, steps = BASE, 0
    while pc != THUMB_DONE:
        uc.emu_start(pc | 1, THUMB_DONE, count=1)
        pc = pc_of(uc)
        bc.count = bc.retired(pc)
        steps += 1
        assert bc.count == steps
    assert steps == 2 + 4 * N


def test_pause_resume_and_close(native: bool) -> None:
    uc = machine(assemble(ARM_LOOP))
    bc = BlockCounter(uc, native=native)
    bc.pause()
    assert not bc.enabled
    bc.deadline = 0
    uc.emu_start(BASE, ARM_DONE, count=5)
    assert bc.count == 0
    bc.resume()
    bc.deadline = NO_DEADLINE
    uc.emu_start(pc_of(uc), ARM_DONE)
    assert bc.count == 2 + 4 * N - 5
    bc.close()
    uc.emu_start(BASE, ARM_DONE)
    assert bc.count == 2 + 4 * N - 5


def test_request_stop(native: bool) -> None:
    uc = machine(assemble(ARM_LOOP))
    bc = BlockCounter(uc, native=native)
    bc.request_stop()
    uc.emu_start(BASE, ARM_DONE)
    assert (bc.count, pc_of(uc)) == (0, BASE)
    uc.emu_start(BASE, ARM_DONE)                      # the request was used up
    assert bc.count == 2 + 4 * N


# -- Thumb code behind an address translation -----------------------------------------------------
def test_thumb_with_virtual_tlb(native: bool) -> None:
    """Block bytes are read through the MMU: code at VA 0x80010000 lives at PA BASE."""
    va = 0x80000000 + BASE
    uc = machine(assemble(THUMB_LOOP, thumb=True))
    uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)

    def fill(uc: Uc, vaddr: int, access: int, entry: object, _d: object) -> bool:
        entry.paddr = vaddr - 0x80000000 if vaddr >= 0x80000000 else vaddr  # type: ignore[attr-defined]
        entry.perms = UC_PROT_ALL  # type: ignore[attr-defined]
        return True

    uc.hook_add(UC_HOOK_TLB_FILL, fill)
    bc = BlockCounter(uc, native=native)
    stop_at = va + (THUMB_LOOP_HEAD - BASE) + 6

    def on_code(uc: Uc, address: int, size: int, _d: object) -> None:
        uc.emu_stop()

    h = uc.hook_add(UC_HOOK_CODE, on_code, begin=stop_at, end=stop_at)
    uc.emu_start(va | 1, va + (THUMB_DONE - BASE))
    assert bc.retired(pc_of(uc)) == 4
    bc.count = bc.retired(pc_of(uc))
    uc.hook_del(h)
    uc.emu_start(pc_of(uc) | 1, va + (THUMB_DONE - BASE))
    assert bc.count == 2 + 4 * N
    assert bc.stats["read_errors"] == 0


def test_thumb_insns_decoder() -> None:
    code = assemble(["movs r0, #1", "movw r1, #0", "bl 1f", "1: nop", "add.w r2, r2, #3", "b.w 1b"],
                    thumb=True)
    assert thumb_insns(code) == 6


def test_build_command() -> None:
    res = subprocess.run([sys.executable, "-m", "hypdbg.core.fastcount", "--build"],
                         capture_output=True, text=True)
    if res.returncode != 0 and "no C compiler" in res.stderr:
        pytest.skip("no C compiler")
    assert res.returncode == 0, res.stderr
    assert fastcount.find_library() is not None


def test_falls_back_to_python_when_the_build_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_compiler(verbose: bool = False) -> None:
        raise RuntimeError("no C compiler (gcc or cc) on PATH")

    monkeypatch.setattr(fastcount, "_native_lib", None)
    monkeypatch.setattr(fastcount, "_native_error", None)
    monkeypatch.setattr(fastcount, "find_library", lambda: None)
    monkeypatch.setattr(fastcount, "build", no_compiler)
    monkeypatch.delenv("HYPDBG_FASTCOUNT", raising=False)
    uc = machine(assemble(ARM_LOOP))
    bc = BlockCounter(uc)
    assert not bc.native
    assert "no C compiler" in (fastcount.native_error() or "")
    uc.emu_start(BASE, ARM_DONE)
    assert bc.count == 2 + 4 * N
    with pytest.raises(RuntimeError):
        BlockCounter(uc, native=True)
