"""Generic Timer (ARM ARM B8): the system counter, CNTVOFF, and the physical, virtual and Hyp timers.

unicorn's own timer registers follow the host clock and never interrupt, so the
machine intercepts every MRC/MCR/MRRC/MCRR to c14 and calls ``read``/``write``
here by register name. The counter is the machine's deterministic virtual time:
``now()`` returns CNTPCT, in ticks. Each timer's output is a level,
ENABLE & ISTATUS & !IMASK, pushed into the GIC as a PPI by ``update``;
``next_deadline`` tells the run loop when the next output will rise so it can
stop there and call ``update``.

Time base: the virtual CPU retires ``INSN_HZ`` = 10^9 instructions per virtual
second, one per nanosecond, the clock of QEMU's deterministic mode (``-icount
shift=0``); the counter runs at ``COUNTER_HZ`` = 62.5 MHz, the frequency QEMU
gives a Cortex-A15, so it advances one tick every ``INSNS_PER_TICK`` = 16
instructions (CNTPCT = instructions // 16, as QEMU computes it from its
virtual nanoseconds), and a Linux 100 Hz tick is 10 000 000 instructions.

Choices where the architecture leaves room: reset values CNTFRQ = COUNTER_HZ,
CNTVOFF = 0, CNTKCTL = 0, CNTHCTL = 3 (PL1PCEN and PL1PCTEN set, as ARMv7
requires), every timer disabled with CVAL 0; CTL.ISTATUS reads 0 while ENABLE is
0 (the architecture leaves it UNKNOWN; QEMU also reads 0). The Secure physical
timer (PPI 29) is not reachable from the Non-secure machine and its output stays
low. CNTFRQ is writable only from Hyp mode, the highest implemented level of a
machine without EL3; QEMU's cp15 table lets PL1 write it too.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Dict, Optional, Tuple

COUNTER_HZ = 62_500_000
INSN_HZ = 1_000_000_000
INSNS_PER_TICK = INSN_HZ // COUNTER_HZ

PPI_HYP = 26
PPI_VIRT = 27
PPI_SECURE_PHYS = 29
PPI_PHYS = 30

CTL_ENABLE = 1 << 0
CTL_IMASK = 1 << 1
CTL_ISTATUS = 1 << 2

CNTKCTL_PL0PCTEN = 1 << 0
CNTKCTL_PL0VCTEN = 1 << 1
CNTKCTL_PL0VTEN = 1 << 8
CNTKCTL_PL0PTEN = 1 << 9
CNTKCTL_MASK = 0x3FF
CNTHCTL_PL1PCTEN = 1 << 0
CNTHCTL_PL1PCEN = 1 << 1
CNTHCTL_MASK = 0xFF

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1

#: The timers: prefix of their register names -> (PPI, counts the virtual counter).
TIMERS: Dict[str, Tuple[int, bool]] = {
    "CNTP": (PPI_PHYS, False),
    "CNTV": (PPI_VIRT, True),
    "CNTHP": (PPI_HYP, False),
}

#: (timer, PPI, counts the virtual counter), for the loops that visit every timer.
_TIMER_LIST: Tuple[Tuple[str, int, bool], ...] = tuple((t, ppi, v) for t, (ppi, v) in TIMERS.items())
#: A timer register name -> (timer, register): "CNTV_TVAL" -> ("CNTV", "TVAL").
_TIMER_REG: Dict[str, Tuple[str, str]] = {f"{t}_{r}": (t, r) for t in TIMERS for r in ("CTL", "TVAL", "CVAL")}

#: Every register name ``read``/``write`` accept, with its width in bits.
REGISTERS: Dict[str, int] = {
    "CNTFRQ": 32, "CNTPCT": 64, "CNTVCT": 64, "CNTKCTL": 32, "CNTHCTL": 32, "CNTVOFF": 64,
    **{f"{t}_{r}": (64 if r == "CVAL" else 32) for t in TIMERS for r in ("CTL", "TVAL", "CVAL")},
}


class Access(enum.Enum):
    """Outcome of a timer register access at some PL (ARM ARM B8.1.2, B4.1)."""

    ALLOWED = "allowed"
    UNDEFINED = "undefined"
    HYP_TRAP = "hyp_trap"     # Hyp Trap exception, HSR EC 0x03 (MRC/MCR) or 0x04 (MRRC/MCRR)


@lru_cache(maxsize=1024)
def timer_access(name: str, pl: int, is_write: bool, cntkctl: int, cnthctl: int) -> Access:
    """Whether a Non-secure access to timer register ``name`` at ``pl`` (0, 1, 2) may proceed.

    PL0 needs the CNTKCTL enable of the register's counter or timer, else the
    access is UNDEFINED; NS PL0/PL1 accesses to CNTPCT and to the CNTP_* timer
    also need CNTHCTL.PL1PCTEN / PL1PCEN, else they trap to Hyp mode. CNTVOFF,
    CNTHCTL and CNTHP_* are Hyp-only; the counters are read-only. (A pure function of
    its arguments, asked at every intercepted access: its answers are remembered.)
    """
    if name not in REGISTERS:
        raise KeyError(name)
    if pl >= 2:
        return Access.UNDEFINED if is_write and name in ("CNTPCT", "CNTVCT") else Access.ALLOWED
    if name in ("CNTVOFF", "CNTHCTL") or name.startswith("CNTHP_"):
        return Access.UNDEFINED
    if is_write and name in ("CNTPCT", "CNTVCT", "CNTFRQ"):
        return Access.UNDEFINED
    if pl == 0:
        needed = {
            "CNTFRQ": CNTKCTL_PL0PCTEN | CNTKCTL_PL0VCTEN,
            "CNTPCT": CNTKCTL_PL0PCTEN,
            "CNTVCT": CNTKCTL_PL0VCTEN,
            "CNTKCTL": 0,
        }.get(name, CNTKCTL_PL0PTEN if name.startswith("CNTP_") else CNTKCTL_PL0VTEN)
        if not cntkctl & needed:
            return Access.UNDEFINED
    if name == "CNTPCT" and not cnthctl & CNTHCTL_PL1PCTEN:
        return Access.HYP_TRAP
    if name.startswith("CNTP_") and not cnthctl & CNTHCTL_PL1PCEN:
        return Access.HYP_TRAP
    return Access.ALLOWED


@dataclass
class TimerState:
    """One timer's CTL (ENABLE, IMASK) and 64-bit CVAL."""

    ctl: int = 0
    cval: int = 0


def _sext32(value: int) -> int:
    value &= _M32
    return value - (1 << 32) if value & (1 << 31) else value


class GenericTimer:
    """The counter and timer registers of one processor."""

    def __init__(self, now: Callable[[], int],
                 irq: Optional[Callable[[int, bool], None]] = None) -> None:
        self.now = now
        #: Receives (PPI INTID, level) when a timer output changes, e.g. ``GicState.set_level``.
        self.irq = irq
        self.reset()

    def reset(self) -> None:
        """Reset values (see the module docstring)."""
        self.cntfrq = COUNTER_HZ
        self.cntvoff = 0
        self.cntkctl = 0
        self.cnthctl = CNTHCTL_PL1PCEN | CNTHCTL_PL1PCTEN
        self.timers: Dict[str, TimerState] = {t: TimerState() for t in TIMERS}
        self._pushed: Dict[int, Optional[bool]] = {ppi: None for ppi, _ in TIMERS.values()}

    # -- counters ------------------------------------------------------------

    def physical_count(self) -> int:
        """CNTPCT."""
        return self.now() & _M64

    def virtual_count(self) -> int:
        """CNTVCT = CNTPCT - CNTVOFF."""
        return (self.now() - self.cntvoff) & _M64

    def _count(self, timer: str) -> int:
        return self.virtual_count() if TIMERS[timer][1] else self.physical_count()

    def istatus(self, timer: str) -> bool:
        """Timer condition met: count >= CVAL, 64-bit unsigned (meaningful while enabled)."""
        return self._count(timer) >= self.timers[timer].cval

    def output(self, timer: str) -> bool:
        """Interrupt output level: ENABLE & ISTATUS & !IMASK."""
        ctl = self.timers[timer].ctl
        return bool(ctl & CTL_ENABLE) and not ctl & CTL_IMASK and self.istatus(timer)

    # -- register access ----------------------------------------------------

    def read(self, name: str) -> int:
        """Value of register ``name`` (no side effects); KeyError for an unknown name."""
        if name == "CNTFRQ":
            return self.cntfrq
        if name == "CNTPCT":
            return self.physical_count()
        if name == "CNTVCT":
            return self.virtual_count()
        if name == "CNTKCTL":
            return self.cntkctl
        if name == "CNTHCTL":
            return self.cnthctl
        if name == "CNTVOFF":
            return self.cntvoff
        timer, reg = _TIMER_REG[name]
        state = self.timers[timer]
        if reg == "CTL":
            enabled = state.ctl & CTL_ENABLE and self.istatus(timer)
            return state.ctl | (CTL_ISTATUS if enabled else 0)
        if reg == "TVAL":
            return (state.cval - self._count(timer)) & _M32
        return state.cval

    def write(self, name: str, value: int) -> None:
        """Write register ``name``, then push any change of the timer outputs."""
        if name == "CNTFRQ":
            self.cntfrq = value & _M32
        elif name in ("CNTPCT", "CNTVCT"):
            return
        elif name == "CNTKCTL":
            self.cntkctl = value & CNTKCTL_MASK
        elif name == "CNTHCTL":
            self.cnthctl = value & CNTHCTL_MASK
        elif name == "CNTVOFF":
            self.cntvoff = value & _M64
        else:
            timer, reg = _TIMER_REG[name]
            state = self.timers[timer]
            if reg == "CTL":
                state.ctl = value & (CTL_ENABLE | CTL_IMASK)
            elif reg == "TVAL":
                state.cval = (self._count(timer) + _sext32(value)) & _M64
            else:
                state.cval = value & _M64
        self.update()

    def access(self, name: str, pl: int, is_write: bool) -> Access:
        """``timer_access`` with this processor's CNTKCTL and CNTHCTL."""
        return timer_access(name, pl, is_write, self.cntkctl, self.cnthctl)

    # -- interrupt outputs ----------------------------------------------------

    def update(self) -> None:
        """Push every timer output whose level differs from the last one pushed.

        ``output`` for each timer, with the counter read once: this runs at every slice
        of the run loop and after every timer write.
        """
        now = self.now() & _M64
        timers, pushed = self.timers, self._pushed
        for timer, ppi, virtual in _TIMER_LIST:
            state = timers[timer]
            ctl = state.ctl
            level = bool(ctl & CTL_ENABLE) and not ctl & CTL_IMASK and \
                ((now - self.cntvoff) & _M64 if virtual else now) >= state.cval
            if pushed[ppi] != level:
                pushed[ppi] = level
                if self.irq is not None:
                    self.irq(ppi, level)

    def next_deadline(self) -> Optional[int]:
        """Earliest CNTPCT at which ``update`` has an output to raise; None if none will.

        An enabled, unmasked timer whose condition already holds but whose rise
        has not been pushed yet gives the current count.
        """
        now = self.physical_count()
        best: Optional[int] = None
        for timer, ppi, virtual in _TIMER_LIST:
            state = self.timers[timer]
            ctl = state.ctl
            if not ctl & CTL_ENABLE or ctl & CTL_IMASK:
                continue
            count = (now - self.cntvoff) & _M64 if virtual else now
            cval = state.cval
            if count >= cval:
                if self._pushed[ppi]:
                    continue
                when = now
            else:
                when = now + (cval - count)
            if best is None or when < best:
                best = when
        return best

    def next_deadline_insns(self) -> Optional[int]:
        """``next_deadline`` as an instruction count, for a ``now()`` of instructions // INSNS_PER_TICK.

        Rounded up: the first instruction count at which the counter has reached the deadline.
        """
        ticks = self.next_deadline()
        return None if ticks is None else ticks * INSNS_PER_TICK
