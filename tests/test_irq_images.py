"""Interrupts, timers and devices: bare-metal images run on QEMU (the reference) and on hypdbg.

The images in tests/images (timer_tick, irq_exit, vgic, sgi, irq_storm,
uart_echo) drive the generic timer, the GICv2 distributor, CPU interface and
virtualization extensions, and the PL011 receive side, and print what they
observe as KEY=value lines grouped in cases (tests/images/lib.inc).  Nothing
they print depends on how fast the machine runs: QEMU runs without -icount,
so its counter follows the host clock.

* ``test_qemu``: QEMU's values against the architecture: the ARM ARM (ARM
  DDI 0406C: B1.8 exception handling, B8 the generic timer), the GICv2
  specification (ARM IHI 0048B) and the PL011 TRM (ARM DDI 0183).  Expected
  addresses come from the ELF symbols.  Where QEMU 7.2 departs from the
  specification the case is a strict xfail that still asserts the spec.
* ``test_hypdbg``: the same expectations on hypdbg's values; where hypdbg
  has a known bug, a strict xfail naming it.
* ``test_hypdbg_transcript``: hypdbg's UART output equals QEMU's byte for
  byte, leaving out only the cases of the known differences and bugs.
* The UART echo is fed the same standard input on both (``-serial stdio``
  and ``hypdbg run``); ``test_interrupt_exits_deterministic`` runs the
  interrupt-heavy image twice with ``--exits`` and compares the instruction
  counts of every interrupt exit.
"""
from __future__ import annotations

import difflib
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest

from imagebuild import (case_params, memo, REPO_DIR, build_image, hypdbg_command, missing_tools, parse_uart,
                        qemu_command, symbols, UartReport)
from test_exception_images import ANY, Bits, Expectation, Within, check_case

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}")

QEMU_TIMEOUT = 20.0
HYPDBG_TIMEOUT = 60.0

# -- architectural encodings ---------------------------------------------------

MODE_SVC, MODE_IRQ, MODE_HYP = 0x13, 0x12, 0x1A
PSR_F, PSR_I, PSR_A = 0x40, 0x80, 0x100
AIF = PSR_A | PSR_I | PSR_F
# CPSR/SPSR fields an exception defines: IT[7:0], J, E, A, I, F, T, M (the
# flags and GE bits are whatever the interrupted code left).
PSR_STATE = 0x0700FFFF

SPURIOUS = 1023                      # IHI 0048B, GICC_IAR: no interrupt to signal
IDLE_PRIORITY = 0xFF                 # IHI 0048B, GICC_RPR with no active interrupt
INTID_MAINT, INTID_PTIMER, INTID_UART = 25, 30, 33

# GICH_LRn fields (IHI 0048B 5.3, GICH_LRn); the images' list register values.
LR_STATE_SHIFT = 28
LR_EOI = 1 << 19


def lr(vid: int, prio: int, state: int, eoi: bool) -> int:
    """A HW=0 Group 0 list register: VirtualID, EOI, Priority[27:23], State[29:28]."""
    return state << LR_STATE_SHIFT | (prio >> 3) << 23 | (LR_EOI if eoi else 0) | vid


VGIC_VID, VGIC_PRIO = 0x2A, 0xA0     # tests/images/vgic.S
STORM_NVIRQ = 100                    # tests/images/irq_storm.S
TIMER_TICKS = 4                      # tests/images/timer_tick.S

Symbols = Dict[str, int]
Seen = Dict[str, Dict[str, int]]     # every case's values of the run under test
CaseExpectations = Dict[str, Dict[str, Expectation]]


def _irq_state(mode: int, masks: int) -> Bits:
    """The state fields of a PSR: ARM state, little-endian, no IT, this mode and these masks."""
    return Bits(mode | masks, PSR_STATE)


# -- expectations per image ----------------------------------------------------

def expect_timer_tick(s: Symbols, seen: Seen) -> CaseExpectations:
    """A periodic physical-timer tick taken in IRQ mode (B8, B1.8; IHI 0048B chapters 3 and 4)."""
    tick: Dict[str, Expectation] = {
        # TakeIRQException: LR = next instruction + 4, taken once CPSIE unmasks,
        # somewhere in the four-NOP window after it; IRQ mode, I and A set, F
        # unchanged (set by the guest's entry), T = SCTLR.TE = 0.
        "LR": Within(s["tick_window"] + 4, s["tick_window_end"] + 4),
        "SPSR": _irq_state(MODE_SVC, PSR_A | PSR_F),
        "CPSR": _irq_state(MODE_IRQ, AIF),
        "IAR": INTID_PTIMER,             # IAR[9:0] = ID, CPUID 0 for a PPI (GICC_IAR)
        # CTL: ENABLE, and ISTATUS since CNTPCT >= CVAL (B8, CNTP_CTL).
        "CTL": 0x5,
        # The timer's output is a level still asserted: a level-sensitive
        # interrupt acknowledged while asserted is active and pending (IHI 0048B 3.2).
        "PEND": 1 << INTID_PTIMER,
        "ACTIVE": 1 << INTID_PTIMER,
        "RPR": 0xA0,                     # the active interrupt's group priority (GICC_RPR)
        "IAR_AGAIN": SPURIOUS,           # nothing else pending
        # CVAL moved 2^31 ticks ahead: ISTATUS clear, output low, so the
        # interrupt is active only.
        "CTL_REARMED": 0x1,
        "PEND_REARMED": 0,
        "HPPIR": SPURIOUS,
        # EOImode 0: the EOIR write drops the priority and deactivates (GICC_EOIR).
        "RPR_EOI": IDLE_PRIORITY,
        "ACTIVE_EOI": 0,
    }
    out: CaseExpectations = {f"tick{i}": dict(tick) for i in range(TIMER_TICKS)}
    # The timer off (CTL = 0, ISTATUS reads 0 while disabled as QEMU does; the
    # ARM ARM makes it UNKNOWN, so only ENABLE and IMASK are checked).
    out["done"] = {"TICKS": TIMER_TICKS, "CTL": Bits(0, 0x3), "PEND": 0, "ACTIVE": 0}
    return out


def _hyp_irq(elr: Expectation, spsr: Expectation) -> Dict[str, Expectation]:
    """What the Hyp IRQ handlers print (B1.8: IRQ taken to Hyp at HVBAR+0x18).

    TakePhysicalIRQException to Hyp: ELR_hyp = the next instruction to run
    (no offset), SPSR_hyp = the interrupted CPSR, Hyp mode with A, I, F set
    (no EL3), T = HSCTLR.TE = 0.  HSR is UNKNOWN for an IRQ, so not printed.
    """
    return {"VEC": 0x18, "ELR": elr, "SPSR": spsr, "CPSR": _irq_state(MODE_HYP, AIF),
            "IAR": INTID_PTIMER}


def expect_irq_exit(s: Symbols, seen: Seen) -> CaseExpectations:
    """Physical IRQs with HCR.IMO and in Hyp mode (B1.8, TakePhysicalIRQException)."""
    def window(name: str) -> Within:
        return Within(s[f"{name}_window"], s[f"{name}_window_end"])

    return {
        # HCR.IMO routes the IRQ to Hyp whatever the guest's CPSR.I says; it
        # is pending before the ERET, so taken in the window of NOPs at the
        # guest's entry.  The guest's CPSR is exactly run_guest's SPSR.
        "imo_masked": _hyp_irq(window("masked"), MODE_SVC | AIF),
        "imo_unmasked": _hyp_irq(window("unmasked"), MODE_SVC | PSR_A | PSR_F),
        # WFI completes when the IRQ arrives: the return is the next instruction.
        "imo_wfi": _hyp_irq(s["wfi_insn"] + 4, MODE_SVC | AIF),
        # In Hyp, CPSR.I masks it: pending (HPPIR) until CPSIE I, then taken.
        "hyp_imo": {"HPPIR": INTID_PTIMER, "TAKEN": 3,
                    **_hyp_irq(window("hyp_imo"), _irq_state(MODE_HYP, PSR_A | PSR_F)),
                    "TAKEN_AFTER": 4},
        # Taken in Hyp mode, every physical IRQ goes to Hyp: route_to_hyp in
        # TakePhysicalIRQException includes CPSR.M == Hyp, whatever HCR.IMO.
        "hyp_no_imo": {**_hyp_irq(window("hyp_no_imo"), _irq_state(MODE_HYP, PSR_A | PSR_F)),
                       "TAKEN": 5, "HPPIR": SPURIOUS, "HPPIR_OFF": SPURIOUS},
    }


def _vtr_fields(seen: Seen) -> Tuple[int, int]:
    """(list registers, preemption bits) from the GICH_VTR the run printed (IHI 0048B 5.3)."""
    vtr = seen.get("inject", {}).get("VTR", 0)
    return (vtr & 0x3F) + 1, (vtr >> 26 & 7) + 1


def expect_vgic(s: Symbols, seen: Seen) -> CaseExpectations:
    """A virtual IRQ through GICH_LR0, GICV, and the EOI maintenance interrupt (IHI 0048B ch. 5)."""
    nlrs, prebits = _vtr_fields(seen)
    empty = (1 << nlrs) - 1           # GICH_ELRSR0: every implemented LR empty
    pending = lr(VGIC_VID, VGIC_PRIO, 1, eoi=True)
    return {
        # The Cortex-A15's GIC-400 has four list registers (GICH_VTR 0x90000003
        # in the Cortex-A15/GIC-400 TRMs); the other LR locations are reserved.
        "lr4": {"LR4": 0},
        "inject": {
            "VTR": ANY,               # IMPLEMENTATION DEFINED (GICH_VTR)
            "ELRSR_EMPTY": empty,
            "LR0": pending,           # LR fields read back as written (GICH_LRn)
            # ELRSR bit n: State 00 and (HW=1 or EOI=0) (GICH_ELRSR); LR0 is pending.
            "ELRSR": empty & ~1,
            "MISR": 0,                # no maintenance condition enabled or met (GICH_MISR)
            "EISR": 0,
        },
        "guest_irq": {
            # A virtual IRQ is taken like a physical one, at VBAR+0x18 (B1.8),
            # once CPSIE unmasks it.
            "LR": Within(s["virq_window"] + 4, s["virq_window_end"] + 4),
            "SPSR": MODE_SVC | PSR_A | PSR_F,
            "CPSR": _irq_state(MODE_IRQ, AIF),
            "IAR": VGIC_VID,          # GICV_IAR: the VirtualID, CPUID 0 (5.4)
            "RPR": VGIC_PRIO,
            "IAR_AGAIN": SPURIOUS,
            # Acknowledge: State pending -> active; the priority's bit in
            # GICH_APR, bit n for group priority n with PREbits bits (GICH_APR).
            "LR0_ACTIVE": lr(VGIC_VID, VGIC_PRIO, 2, eoi=True),
            "APR": 1 << (VGIC_PRIO >> (8 - prebits)),
        },
        "maintenance": {
            # The maintenance interrupt is a physical PPI: with HCR.IMO it is
            # taken to Hyp while the guest's IRQ handler runs with I set, some
            # time after its GICV_EOIR store.
            "VEC": 0x18,
            "ELR": Within(s["maint_sent"], s["maint_window_end"]),
            "SPSR": _irq_state(MODE_IRQ, AIF),
            "CPSR": _irq_state(MODE_HYP, AIF),
            "IAR": INTID_MAINT,
            # EOImode 0: GICV_EOIR deactivates, State -> 00; with EOI=1 and
            # HW=0 that is an EOI maintenance request: EISR bit 0, MISR.EOI,
            # and the LR is not empty (GICH_MISR, GICH_EISR, GICH_ELRSR).
            "MISR": 1,
            "EISR": 1,
            "ELRSR": empty & ~1,
            "LR0": lr(VGIC_VID, VGIC_PRIO, 0, eoi=True),
            "APR": 0,                 # the priority was dropped
            # Writing LR0 = 0 ends the request.
            "MISR_CLEARED": 0,
            "EISR_CLEARED": 0,
            "ELRSR_CLEARED": empty,
        },
        "guest_eoi": {"RPR": IDLE_PRIORITY},
        # The maintenance interrupt is a level that fell with MISR: not pending.
        "after": {"MAINT_TAKEN": 1, "LR0": 0, "MISR": 0, "PEND": 0, "ACTIVE": 0},
    }


def _sgi(intid: int, spendsgir1: int) -> Dict[str, Expectation]:
    """An SGI from CPU 0 to itself, pending, then acknowledged and completed (IHI 0048B 3.2 and 4.3)."""
    return {
        "PEND": 1 << intid,            # GICD_ISPENDR0 shows SGIs (GICD_ISPENDRn)
        "SPENDSGIR1": spendsgir1,      # byte per SGI 4..7, bit per source CPU (GICD_SPENDSGIRn)
        "HPPIR": intid,                # CPUID[12:10] = source CPU 0
        "IAR": intid,
        "ACTIVE": 1 << intid,
        "PEND_ACKED": 0,               # the one source's pending state went with the acknowledge
        "ACTIVE_EOI": 0,
    }


_NOTHING: Dict[str, Expectation] = {"PEND": 0, "SPENDSGIR1": 0, "HPPIR": SPURIOUS,
                                     "IAR": SPURIOUS, "ACTIVE": 0, "PEND_ACKED": 0}


def expect_sgi(s: Symbols, seen: Seen) -> CaseExpectations:
    """SGIs through GICD_SGIR (IHI 0048B 4.3, GICD_SGIR) to a uniprocessor's only CPU."""
    return {
        "enabled": {"ENABLER0": 0x0000FFFF},
        # TargetListFilter 0b10: this CPU; 0b00 with CPUTargetList bit 0: CPU 0.
        "self": _sgi(5, 1 << 8),
        "list": _sgi(6, 1 << 16),
        # 0b01: every CPU but this one, of which there are none; 0b00 with an
        # empty list: nobody.
        "others": dict(_NOTHING),
        "empty_list": dict(_NOTHING),
        # SGI 5 at priority 0x40 before SGI 4 at 0x90; the second cannot
        # preempt the running priority 0x40, so IAR is spurious (IHI 0048B 3.3, GICC_IAR)
        # until SGI 5 is completed.
        "priority": {"PEND": 0x30, "IAR_FIRST": 5, "RPR": 0x40, "IAR_SECOND": SPURIOUS,
                     "IAR_AFTER_EOI": 4, "ACTIVE": 0},
        # With GICD_CTLR.EnableGrp1 clear the distributor does not forward the
        # Group 1 SGI 10 (IHI 0048B interrupt grouping, GICD_CTLR), so Group 0
        # SGI 11 is the highest priority pending interrupt, although SGI 10's
        # priority is higher.
        "group1_disabled": {"PEND": 0xC00, "HPPIR": 11, "IAR": 11, "PEND_CLEARED": 0},
        # Taken at VBAR+0x18 by SVC code with IRQs unmasked, after the SGIR store.
        "irq": {"LR": Within(s["sgi_sent"] + 4, s["sgi_window_end"] + 4),
                "SPSR": MODE_SVC | PSR_A | PSR_F,
                "CPSR": _irq_state(MODE_IRQ, AIF), "IAR": 9},
    }


def expect_irq_storm(s: Symbols, seen: Seen) -> CaseExpectations:
    """Every tick injected once and maintained once (the image's design, IHI 0048B 5.3)."""
    return {"storm": {"GUEST_IRQS": STORM_NVIRQ, "MAINT": STORM_NVIRQ, "WRONG_IDS": 0}}


ECHO_POLL_LINE = b"hello, polling\n"
ECHO_IRQ_LINE = b"interrupt says hi\n"
ECHO_INPUT = ECHO_POLL_LINE + ECHO_IRQ_LINE


def expect_uart_echo(s: Symbols, seen: Seen) -> CaseExpectations:
    """The PL011 receive path (DDI 0183: UARTFR.RXFE, UARTRXINTR)."""
    return {
        "poll": {"CHARS": len(ECHO_POLL_LINE)},
        # The handler drained the FIFO: RXRIS cleared with it, MIS = RIS & IMSC = 0.
        "irq": {"CHARS": len(ECHO_IRQ_LINE), "IAR": INTID_UART, "RIS_RX": 0, "MIS": 0},
    }


def echo_transcript(first: bytes, second: bytes) -> str:
    """The exact UART output of uart_echo for two input lines."""
    return (f"CASE poll\n{first.decode()}CHARS={len(first):08x}\n"
            f"CASE irq\n{second.decode()}CHARS={len(second):08x}\n"
            f"IAR={INTID_UART:08x}\nRIS_RX=00000000\nMIS=00000000\nEND\n")


EXPECTATIONS: Dict[str, Callable[[Symbols, Seen], CaseExpectations]] = {
    "timer_tick": expect_timer_tick,
    "irq_exit": expect_irq_exit,
    "vgic": expect_vgic,
    "sgi": expect_sgi,
    "irq_storm": expect_irq_storm,
    "uart_echo": expect_uart_echo,
}

# Cases in the order the images print them.
CASES: Dict[str, Tuple[str, ...]] = {
    "timer_tick": tuple(f"tick{i}" for i in range(TIMER_TICKS)) + ("done",),
    "irq_exit": ("imo_masked", "imo_unmasked", "imo_wfi", "hyp_imo", "hyp_no_imo"),
    "vgic": ("lr4", "inject", "guest_irq", "maintenance", "guest_eoi", "after"),
    "sgi": ("enabled", "self", "list", "others", "empty_list", "priority", "group1_disabled",
            "irq"),
    "irq_storm": ("storm",),
    "uart_echo": ("poll", "irq"),
}

# Standard input of each image's runs (both machines get the same bytes).
STDIN: Dict[str, bytes] = {"uart_echo": ECHO_INPUT}

# Where QEMU 7.2 does not do what the specification says; hypdbg follows the spec.
QEMU_KNOWN_DIFFERENCES: Dict[Tuple[str, str], str] = {
    ("vgic", "lr4"):
        "QEMU bounds-checks GICH_LRn with lr_idx > num_lrs, so LR4 (0x110) is stored and reads "
        "back; with four list registers (GICH_VTR.ListRegs = 3) it is reserved, RAZ/WI",
    ("sgi", "group1_disabled"):
        "QEMU picks the highest priority pending interrupt before looking at the group enables, "
        "so a pending Group 1 interrupt of a disabled group hides a Group 0 one: HPPIR and IAR "
        "read 1022 instead of 11",
}

# Where hypdbg has a bug: strict xfails that still assert the architecture.
HYPDBG_BUGS: Dict[Tuple[str, str], str] = {}


def _params(runner: str) -> List[Any]:
    return case_params(CASES, runner, QEMU_KNOWN_DIFFERENCES, HYPDBG_BUGS, "hypdbg bug: ")


# -- running (once per image and machine per session) ---------------------------

def run_with_input(cmd: Sequence[str], data: Optional[bytes], timeout: float,
                   what: str) -> subprocess.CompletedProcess:
    """Run a machine to power-off with ``data`` on its standard input; text output.

    Raises RuntimeError (kept by ``_memo`` for every test of the image) if it
    is still running after ``timeout`` seconds.
    """
    try:
        res = subprocess.run(list(cmd), input=data if data is not None else b"",
                             capture_output=True, timeout=timeout, check=False, cwd=str(REPO_DIR))
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{what} did not power off within {timeout:g} s; output so far:\n"
                           f"{(e.stdout or b'').decode(errors='replace')}") from None
    return subprocess.CompletedProcess(res.args, res.returncode,
                                       res.stdout.decode(errors="replace").replace("\r\n", "\n"),
                                       res.stderr.decode(errors="replace"))


def elf_of(image: str) -> Path:
    """The built ELF of an image."""
    return memo("elf", image, lambda: build_image(image))


def _checked(res: subprocess.CompletedProcess, what: str) -> str:
    """The output of a run that powered off cleanly; otherwise the test fails with its stderr."""
    if res.returncode != 0:
        pytest.fail(f"{what} exited with {res.returncode}\nstderr:\n{res.stderr[-3000:]}\n"
                    f"output:\n{res.stdout[-3000:]}")
    return res.stdout


def qemu_text(image: str) -> str:
    """QEMU's UART output for an image (the reference)."""
    res = memo("qemu", image, lambda: run_with_input(
        qemu_command(elf_of(image)), STDIN.get(image), QEMU_TIMEOUT, f"QEMU ({image})"))
    return _checked(res, f"QEMU ({image})")


def hypdbg_text(image: str, fast: bool = False) -> str:
    """hypdbg's UART output for an image (``hypdbg run``, standard input fed to the UART);
    ``fast``: with ``--fast``, time from the host clock as QEMU has it here."""
    extra = ["--fast"] if fast else []
    res = memo("hypdbg-fast" if fast else "hypdbg", image, lambda: run_with_input(
        hypdbg_command(elf_of(image), extra), STDIN.get(image), HYPDBG_TIMEOUT, f"hypdbg ({image})"))
    return _checked(res, f"hypdbg run {' '.join(extra + [image])}")


def expectations(image: str, report: UartReport) -> CaseExpectations:
    """The specification's expectations for an image, from its symbols and the run's own
    IMPLEMENTATION DEFINED values (GICH_VTR)."""
    return EXPECTATIONS[image](symbols(elf_of(image)), report.cases)


def _well_formed_problems(text: str, image: str) -> List[str]:
    """What is wrong with a transcript as a whole: stray lines, no END, other cases."""
    report = parse_uart(text)
    problems = []
    if image == "uart_echo":
        if text != echo_transcript(ECHO_POLL_LINE, ECHO_IRQ_LINE):
            problems.append("the echo transcript differs from the one its input determines")
    elif report.stray:
        problems.append(f"unexpected lines: {report.stray}")
    if not report.ended:
        problems.append("no END line")
    seen = tuple(c for c, k in report.order if k == "")
    if seen != CASES[image]:
        problems.append(f"cases {seen}, expected {CASES[image]}")
    return problems


def _without_cases(text: str, cases: Sequence[str]) -> List[str]:
    """The transcript's lines, leaving out the lines of the named cases."""
    out, skipping = [], False
    for line in text.split("\n"):
        if line.startswith("CASE "):
            skipping = line[5:] in cases
        elif line == "END":
            skipping = False
        if not skipping:
            out.append(line)
    return out


# -- tests ------------------------------------------------------------------------

@pytest.mark.parametrize("image", list(CASES))
def test_qemu_output_well_formed(image: str) -> None:
    """QEMU runs the image to SYSTEM_OFF and prints exactly the expected cases."""
    text = qemu_text(image)
    problems = _well_formed_problems(text, image)
    assert not problems, f"{image} on QEMU:\n" + "\n".join(problems) + "\n" + text


@pytest.mark.parametrize("image,case", _params("qemu"))
def test_qemu(image: str, case: str) -> None:
    """QEMU's values for one case meet the architecture."""
    report = parse_uart(qemu_text(image))
    check_case(report.cases.get(case, {}), expectations(image, report)[case], f"QEMU {image}:{case}")


@pytest.mark.parametrize("fast", [False, True], ids=["deterministic", "fast"])
@pytest.mark.parametrize("image", list(CASES))
def test_hypdbg_transcript(image: str, fast: bool) -> None:
    """hypdbg prints what QEMU prints, byte for byte, outside the known differences and bugs;
    with ``--fast`` too, where slices end on the host clock and there is no instruction count."""
    text = hypdbg_text(image, fast)
    skip = [c for (i, c) in list(QEMU_KNOWN_DIFFERENCES) + list(HYPDBG_BUGS) if i == image]
    ref, got = _without_cases(qemu_text(image), skip), _without_cases(text, skip)
    diff = "\n".join(difflib.unified_diff(ref, got, "QEMU", "hypdbg", lineterm="", n=2))
    assert ref == got, f"{image}: hypdbg's UART output differs from QEMU's (cases {skip} left out):\n{diff}"


@pytest.mark.parametrize("image,case", _params("hypdbg"))
def test_hypdbg(image: str, case: str) -> None:
    """hypdbg's values for one case meet the architecture."""
    report = parse_uart(hypdbg_text(image))
    check_case(report.cases.get(case, {}), expectations(image, report)[case], f"hypdbg {image}:{case}")


def _feed_late(cmd: Sequence[str], first: bytes, second: bytes, pause: float,
               timeout: float) -> Tuple[int, str, str]:
    """Run with ``first`` on stdin at once and ``second`` only ``pause`` seconds later."""
    proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=str(REPO_DIR))
    assert proc.stdin is not None
    try:
        proc.stdin.write(first)
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    time.sleep(pause)
    try:
        out, err = proc.communicate(input=second, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


LATE_PAUSE = 0.5


@pytest.mark.parametrize("runner", [
    "qemu",
    "hypdbg",
])
def test_uart_echo_late_input(runner: str) -> None:
    """The second line arrives while the image idles in WFI waiting for the receive interrupt.

    WFI waits for an interrupt (ARM ARM B1.8, Wait For Interrupt); the PL011
    raises UARTRXINTR when the character arrives (DDI 0183, UARTRXINTR).
    """
    elf = elf_of("uart_echo")
    cmd = qemu_command(elf) if runner == "qemu" else hypdbg_command(elf)
    timeout = QEMU_TIMEOUT if runner == "qemu" else HYPDBG_TIMEOUT
    first, second = b"early line\n", b"late\n"
    rc, out, err = _feed_late(cmd, first, second, LATE_PAUSE, timeout)
    assert (rc, out.replace("\r\n", "\n")) == (0, echo_transcript(first, second)), err[-2000:]


def test_uart_echo_typed_while_served() -> None:
    """``hypdbg serve --serial stdio`` reads the terminal into the UART as QEMU's ``-serial
    stdio`` does beside ``-gdb``: lines typed while GDB has the machine running are echoed,
    the second one after the image waits in WFI for the receive interrupt (DDI 0183,
    UARTRXINTR), and the image powers off, which GDB reports as the program's normal exit."""
    from hypdbg.testing import HypSession, find_gdb
    if find_gdb() is None:
        pytest.skip("no gdb-multiarch")
    first, second = b"early line\n", b"late\n"
    out = bytearray()
    with HypSession(str(elf_of("uart_echo")), timeout=HYPDBG_TIMEOUT, uart_input=True) as s:
        reader = s.read_uart(out)
        s.mi("-exec-continue")
        s.type(first)
        time.sleep(LATE_PAUSE)
        s.type(second)
        stop = s.wait_stop()
        for _ in range(50):
            if b"END" in out:
                break
            reader.join(timeout=0.1)
    assert stop.reason == "exited-normally", stop
    assert out.decode().replace("\r\n", "\n") == echo_transcript(first, second)


_EXIT = re.compile(r"^\[(\d+)\] hyp exit: (.*)$")


def interrupt_exits(stderr: str) -> List[Tuple[int, str]]:
    """(instruction count, description) of every IRQ/FIQ exit in a ``--exits`` log."""
    out = []
    for line in stderr.splitlines():
        m = _EXIT.match(line)
        if m and (m.group(2).startswith("IRQ ") or m.group(2).startswith("FIQ ")):
            out.append((int(m.group(1)), m.group(2)))
    return out


def test_interrupt_exits_deterministic() -> None:
    """Virtual time makes interrupt delivery reproducible: two runs of the interrupt-heavy
    image take every interrupt exit at the same instruction count, even when one of them
    gets (unread) UART input while it runs.

    The image needs two exits per virtual interrupt it handles: the tick and the
    maintenance interrupt of the guest's EOI.
    """
    elf = elf_of("irq_storm")
    cmd = hypdbg_command(elf, ["--exits"])
    runs = [run_with_input(cmd, data, HYPDBG_TIMEOUT, "hypdbg run --exits irq_storm")
            for data in (None, b"noise on the serial line\n" * 64)]
    logs = []
    for res in runs:
        assert res.returncode == 0, res.stderr[-3000:]
        logs.append(interrupt_exits(res.stderr))
    assert len(logs[0]) >= 2 * STORM_NVIRQ, f"only {len(logs[0])} interrupt exits:\n{runs[0].stderr[-2000:]}"
    diff = [f"#{i}: {a} vs {b}" for i, (a, b) in enumerate(zip(*logs)) if a != b]
    assert len(logs[0]) == len(logs[1]) and not diff, (
        f"{len(logs[0])} and {len(logs[1])} interrupt exits; first differences:\n" + "\n".join(diff[:10]))
