"""Time travel: checkpoints during runs, and going back to any earlier point of the history.

Positions
---------
A point of the history is a :class:`Position`: ``(icount, entries)``, the
instructions retired and the exception entries hypdbg performed since the
history began. Entries count because an entry retires nothing: a trapped
instruction, the trap's entry and the first handler instruction are three
states, at counts c, c and c+1 (an HVC or SVC retires, then enters: c, c+1).
Virtual interrupts that unicorn takes by itself (HCR.VI/VF) are not counted,
so the states just before and after one share a position; ``goto`` lands on
the first.

One step back (``reverse_step``) goes to the stop state that came just before
the current one, the one a forward ``stepi`` would have left: the previous
instruction; from a vector just entered, the instruction that trapped or was
interrupted (for HVC and SVC, the HVC or SVC itself).

Replaying the same history
--------------------------
Virtual time is the instruction count, so hypdbg decides the same things at
the same positions: timer expiry, interrupt delivery at translation-block
boundaries, idling on WFI. What comes from outside is logged as events at
the position where it took effect: UART input (and any other action given to
``Machine.post_input``), each single step (with or without interrupt
delivery), and each resume of a run, because the run loop looks at pending
interrupts when it starts and at block boundaries while a single step does
not. A replay applies the events at their positions and otherwise runs as
the run loop would. It lands exactly on a position: it runs to within
``MARGIN`` instructions, then block by block while the next block (its
extent from unicorn's translation cache) fits, then instruction by
instruction, delivering interrupts only at block starts. A run stops at the
first block boundary past its budget, so a block longer than the margin
overshoots: the replay then starts again from its checkpoint with
``SAFE_MARGIN`` (more than any block holds), which the machine keeps using.
A checkpoint reached by a replay is compared with the machine (CPU context,
devices, RAM that may differ); a mismatch means the history no longer
replays, and the checkpoints after it are dropped (``warnings`` says so).

Checkpoints
-----------
Taken during live runs every ``interval`` instructions. By default the
interval follows the speed of the code: ``PERIOD`` seconds of run at the
speed measured so far (a first ``PROBE`` of instructions measures it), so a
replay from the nearest checkpoint takes about that long whatever the code
does (a tight loop runs 1000+ MIPS, code that misses the TLB all the time
under 2), and a checkpoint (about 1 ms, plus refilling the TLB it flushes)
costs a few per cent of the run at most (``bench/bench_reverse.py``). A
``goto`` further than ``2 * SCRATCH_SPAN`` instructions from its checkpoint
leaves a checkpoint ``SCRATCH_SPAN`` instructions before its target, and a
reverse step one ``STEP_SPAN`` instructions back, so consecutive reverse
steps replay a few dozen instructions each. Beyond ``max_checkpoints``, the
one whose removal leaves the smallest gap goes, except the first and the
newest ``DENSE``.

Going back to a stop
--------------------
``reverse_continue`` replays the history segment by segment, newest first,
with the debugger's breakpoints, watchpoints and catchpoints turned into
observers that note where a forward run would have stopped without stopping
(a stop would change the replay's block boundaries), then goes to the last
such point before the present position. unicorn leaves PC at the start of
the translation block in memory hooks, so a watchpoint hit is first known
only to its block; the block is then stepped through to find the access.

Going forward from the past follows the history (its events are applied
again, UART output already seen is not printed twice, live UART input waits
for the present). A single step or a resume in the past that the history did
not have is logged there; if it changes what follows (an interrupt that is
now delivered elsewhere), the next checkpoint comparison finds it.
"""
from __future__ import annotations

import bisect
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UcError

from .debug import StopEvent, StopKind
from .exceptions import Entry, Exc
from .machine import Machine, Stop
from .snapshot import Snapshot, Snapshotter, apply, capture
from .worlds import ExitRecord

MARGIN = 64                   # instructions: more than most translation blocks hold
SAFE_MARGIN = 1024            # more than any block holds (TCG ends one at 512)
PERIOD = 0.25                 # seconds of run between checkpoints, by default
PROBE = 50_000                # instructions run to measure the speed before it is known
MIN_MEASURED = 0.002          # seconds of run that make a speed estimate
FIRST_INTERVAL = 1_000_000    # for a run loop that cannot measure (``on_slice``)
MIN_INTERVAL = 10_000
MAX_INTERVAL = 1 << 31
MAX_CHECKPOINTS = 512
DENSE = 32
SCRATCH_SPAN = 4096
STEP_SPAN = 48                # a reverse step leaves a checkpoint this far back
_ASYNC = ("irq", "fiq")
_RETIRING = ("svc", "hvc")    # exceptions whose preferred return is the next instruction


class Position(NamedTuple):
    """A point of the history: instructions retired, exception entries taken."""

    icount: int
    entries: int


@dataclass
class Event:
    """Something from outside the machine, at the position where it took effect."""

    pos: Position
    kind: str                                  # "input", "resume" or "step"
    action: Optional[Callable[[], None]] = None  # input: what the run loop called
    deliver: bool = False                      # step: with interrupt delivery


@dataclass
class Checkpoint:
    pos: Position
    snap: Snapshot
    events: int           # how many events came before it
    tb_left: int = 0      # instructions left in the translation block (0: at a block start)


@dataclass
class Hit:
    """Where a breakpoint, watchpoint or catchpoint would have stopped a forward run."""

    pos: Position
    kind: StopKind
    data_addr: Optional[int] = None
    watch_kind: Optional[str] = None
    message: str = ""
    exact: bool = True    # False: a watchpoint hit known only to its translation block


def _discard(byte: int) -> None:
    """UART output of a replay: shown already."""


def _pos(ck: Checkpoint) -> Position:
    return ck.pos


class ReplayError(RuntimeError):
    """A replay stopped where the history went on (the history does not replay)."""


class _Overshoot(Exception):
    """A run meant to stop short of a position passed it (a block longer than the margin)."""


class _LoggedInput:
    """An action given to ``post_input``: logged when the run loop applies it."""

    def __init__(self, tt: "TimeTravel", action: Callable[[], None]) -> None:
        self.tt = tt
        self.action = action

    def __call__(self) -> None:
        self.tt._input_applied(self.action)


@dataclass
class _LastEntry:
    vector: int
    retired: bool         # the instruction completed before the entry (SVC, HVC)
    asynchronous: bool    # an interrupt or virtual abort, taken between instructions


class TimeTravel:
    """Reverse execution for one machine (see the module docstring).

    Forward execution goes through ``run`` and ``step`` so that it is logged.
    """

    def __init__(self, machine: Machine, interval: Optional[int] = None, period: float = PERIOD,
                 max_checkpoints: int = MAX_CHECKPOINTS, checkpoints: bool = True) -> None:
        self.m = machine
        self.interval = interval
        self.period = period
        self.max_checkpoints = max(max_checkpoints, DENSE + 2)
        self._snaps = Snapshotter(machine) if checkpoints else None
        self.entries = 0
        self.events: List[Event] = []
        self.checkpoints: List[Checkpoint] = []
        self.warnings: List[str] = []
        self.replayed = 0                     # instructions replayed (for measurements)
        self._cursor = 0
        self._tb_left = 0
        self._replaying = False
        self._held: List[Callable[[], None]] = []
        self._last_entry: Optional[_LastEntry] = None
        self._run_time = 0.0
        self._run_insns = 0
        self._rate: Optional[float] = None     # instructions per second of live run
        self._since = 0                        # icount of the last checkpoint taken live
        self._margin = MARGIN
        machine.entry.before.append(self._before_entry)
        machine.entry.listeners.append(self._after_entry)
        self._post = machine.post_input
        self._reset = machine.reset
        machine.post_input = self._post_input  # type: ignore[method-assign]
        machine.reset = self._machine_reset  # type: ignore[method-assign]
        self.start = self.position
        self.end = self.start
        self.seen = self.start                # UART output up to here has been shown
        self._checkpoint()

    @property
    def snaps(self) -> Snapshotter:
        if self._snaps is None:
            raise RuntimeError("this history is recorded without checkpoints: it cannot go back")
        return self._snaps

    def seed(self, events: Sequence[Event], end: Position) -> None:
        """Take ``events`` (from a recording) as the history from here up to ``end``:
        running then follows them, its output shown as it goes."""
        if self.position != self.start or self.events:
            raise RuntimeError("a history can be seeded only before it starts")
        self.events = list(events)
        self._cursor = 0
        self.end = max(Position(*end), self.start)

    # -- wiring -----------------------------------------------------------------
    def _before_entry(self, exc: Exc, cpsr: int) -> None:
        self.entries += 1

    def _after_entry(self, entry: Entry) -> None:
        exc = entry.exc
        asynchronous = exc.kind in _ASYNC or (exc.kind == "dabt" and not getattr(exc, "physical", True))
        self._last_entry = _LastEntry(entry.vector, exc.kind in _RETIRING, asynchronous)

    def _post_input(self, action: Callable[[], None]) -> None:
        self._post(_LoggedInput(self, action))

    def _machine_reset(self) -> None:
        self._reset()
        self.reset()

    def _input_applied(self, action: Callable[[], None]) -> None:
        if self._replaying:
            self._held.append(action)
            return
        self._log(Event(self.position, "input", action))
        self._tb_left = 0
        action()

    def close(self) -> None:
        """Stop recording (the machine's hooks and methods are back)."""
        m = self.m
        if self._before_entry in m.entry.before:
            m.entry.before.remove(self._before_entry)
        if self._after_entry in m.entry.listeners:
            m.entry.listeners.remove(self._after_entry)
        if vars(m).get("post_input") == self._post_input:
            del m.post_input
        if vars(m).get("reset") == self._machine_reset:
            del m.reset
        if self._snaps is not None:
            self._snaps.detach()

    # -- where we are -------------------------------------------------------------
    @property
    def position(self) -> Position:
        return Position(self.m.icount, self.entries)

    @property
    def in_past(self) -> bool:
        return self.position < self.end

    def _event(self, kind: StopKind, **kw: object) -> StopEvent:
        m = self.m
        return StopEvent(kind, m.cpu.pc, m.worlds.tid(m.world_now()), **kw)  # type: ignore[arg-type]

    def reset(self) -> None:
        """Start a new history here (the machine was reset: RAM changed behind our back)."""
        if self._snaps is not None:
            self._snaps.clear()
        self.events.clear()
        self.checkpoints.clear()
        self.entries = 0
        self._cursor = 0
        self._tb_left = 0
        self.start = self.end = self.seen = self.position
        self._checkpoint()

    def _check_reset(self) -> None:
        if self.m.icount < self.start.icount:
            self.reset()

    def branch(self) -> None:
        """The state was changed here by hand (a debugger write): the recorded future no
        longer follows, so it is dropped and the present is here."""
        pos = self.position
        del self.events[self._cursor:]
        if self._snaps is not None:
            keep = [ck for ck in self.checkpoints if ck.pos <= pos]
            if len(keep) < len(self.checkpoints):
                self.snaps.discard_after(keep[-1].pos)
                self.checkpoints = keep
        self.end = pos
        self.seen = min(self.seen, pos)

    # -- the log ------------------------------------------------------------------
    def _log(self, event: Event) -> None:
        """Record an event at the cursor: appended live, inserted in the past."""
        i = self._cursor
        self.events.insert(i, event)
        for ck in self.checkpoints:
            if ck.pos > event.pos and ck.events >= i:
                ck.events += 1
        self._cursor = i + 1

    def _note_resume(self) -> None:
        """A run starts here: the run loop will look at pending interrupts first."""
        pos = self.position
        if pos < self.end and self._cursor < len(self.events):
            ev = self.events[self._cursor]
            if ev.pos == pos and ev.kind == "resume":
                self._cursor += 1
                self._tb_left = 0
                return
        self._log(Event(pos, "resume"))
        self._tb_left = 0

    # -- checkpoints ----------------------------------------------------------------
    def _interval(self) -> Optional[int]:
        """Instructions between checkpoints: fixed, or ``period`` seconds at the measured
        speed; None while the speed is not known yet."""
        if self.interval is not None:
            return self.interval
        if self._rate is None:
            return None
        return int(min(max(self._rate * self.period, MIN_INTERVAL), MAX_INTERVAL))

    def _due(self) -> Optional[int]:
        interval = self._interval()
        return None if interval is None else self._since + interval

    def _measured(self, insns: int, seconds: float) -> None:
        self._run_insns += insns
        self._run_time += seconds
        if self._run_time >= MIN_MEASURED:
            self._rate = self._run_insns / self._run_time

    @property
    def next_due(self) -> int:
        """Instruction count at which the next checkpoint is due (for a run loop's deadline)."""
        due = self._due()
        return self._since + FIRST_INTERVAL if due is None else due

    def _checkpoint(self) -> None:
        pos = self.position
        if self._snaps is not None and (not self.checkpoints or self.checkpoints[-1].pos != pos):
            snap = self.snaps.take(pos)
            self.checkpoints.append(Checkpoint(pos, snap, self._cursor))
            self._thin()
        self._since = pos.icount
        self._run_time = 0.0
        self._run_insns = 0

    def _insert_checkpoint(self) -> None:
        """A checkpoint here in the past (the machine is on the history, replayed)."""
        if self._snaps is None:
            return
        pos = self.position
        i = bisect.bisect_left(self.checkpoints, pos, key=_pos)
        if i < len(self.checkpoints) and self.checkpoints[i].pos == pos:
            return
        snap = self.snaps.take(pos)
        self.checkpoints.insert(i, Checkpoint(pos, snap, self._cursor, self._tb_left))
        self._thin()

    def _thin(self) -> None:
        cks = self.checkpoints
        while len(cks) > self.max_checkpoints:
            best, gap = None, None
            for i in range(1, len(cks) - DENSE):
                if cks[i].pos == self.snaps.base:
                    continue
                span = cks[i + 1].pos.icount - cks[i - 1].pos.icount
                if gap is None or span < gap:
                    best, gap = i, span
            if best is None:
                return
            self.snaps.drop(cks[best].snap)
            del cks[best]

    def _checkpoint_before(self, pos: Position, strict: bool) -> Checkpoint:
        find = bisect.bisect_left if strict else bisect.bisect_right
        i = find(self.checkpoints, pos, key=_pos) - 1
        return self.checkpoints[max(i, 0)]

    def _next_checkpoint(self, pos: Position) -> Optional[Position]:
        i = bisect.bisect_right(self.checkpoints, pos, key=_pos)
        return self.checkpoints[i].pos if i < len(self.checkpoints) else None

    def _at_checkpoint(self) -> None:
        """A replay reached a checkpoint: check it still matches, and track RAM from it."""
        if self._snaps is None:
            return
        pos = self.position
        base = self.snaps.base
        if base is not None and pos <= base:
            return
        i = bisect.bisect_left(self.checkpoints, pos, key=_pos)
        if i == len(self.checkpoints) or self.checkpoints[i].pos != pos:
            return
        if not self.snaps.adopt(self.checkpoints[i].snap):
            self.warnings.append(f"the history does not replay at {pos}: checkpoints from "
                                 f"there on dropped")
            keep = self.snaps.base
            self.snaps.discard_after(keep)
            self.checkpoints = [ck for ck in self.checkpoints if keep is None or ck.pos <= keep]

    def _restore(self, ck: Checkpoint) -> None:
        self.snaps.restore(ck.snap)
        self.entries = ck.pos.entries
        self._cursor = ck.events
        self._tb_left = ck.tb_left
        self._last_entry = None

    # -- forward execution ----------------------------------------------------------
    def run(self, max_insns: Optional[int] = None) -> Stop:
        """Run like ``Machine.run``, logging the history and taking checkpoints.

        In the past, the history is followed up to the present (breakpoints and the
        other stops are live), then the run goes on.
        """
        self._check_reset()
        m = self.m
        budget = None if max_insns is None else m.icount + max_insns
        here = self.position
        self._note_resume()
        if self.in_past:
            target = self.end
            if budget is not None and budget < target.icount:
                target = Position(budget, 0)
            try:
                stop = self._forward_in_past(target)
            except _Overshoot:
                self._margin = SAFE_MARGIN
                self.goto(here)
                stop = self._forward_in_past(target)
            if stop is not None:
                return stop
            if self.in_past:
                return Stop("limit", f"instruction budget of {max_insns} spent")
            self._go_live()
        while True:
            due = self._due()
            chunk = PROBE if due is None else max(due - m.icount, 1)
            if budget is not None:
                if m.icount >= budget:
                    return Stop("limit", f"instruction budget of {max_insns} spent")
                chunk = min(chunk, budget - m.icount)
            before, t0 = m.icount, time.perf_counter()
            stop = m.run(max_insns=chunk)
            if stop.kind == "limit":
                self._finish_wfi()
            self._measured(m.icount - before, time.perf_counter() - t0)
            self.end = self.seen = self.position
            self._cursor = len(self.events)
            if stop.kind != "limit":
                return stop
            due = self._due()
            if due is not None and m.icount >= due:
                self._checkpoint()

    def _forward_in_past(self, target: Position) -> Optional[Stop]:
        """Follow the history to ``target`` with the debugger's stops live, output shown
        only past what was shown already, checkpoints left on the way."""
        begin = self.position
        if begin < self.seen:
            with self._replay_context(stops=True):
                stop = self._replay(min(target, self.seen), stops=True)
            if stop is not None or self.position >= target:
                return stop
        with self._replay_context(stops=True, mute=False):
            stop = self._replay(target, stops=True, begin=begin)
        self.seen = max(self.seen, self.position)
        return stop

    def step(self, deliver_irqs: bool = False) -> Stop:
        """``Machine.step``, logged; in the past, the history's events here come first."""
        self._check_reset()
        if not self.in_past:
            self._log(Event(self.position, "step", deliver=deliver_irqs))
            stop = self._do_step(deliver_irqs)
            self.end = self.seen = self.position
            self._cursor = len(self.events)
            return stop
        with self._replay_context(stops=True, mute=self.position < self.seen):
            pos = self.position
            logged = False
            while self._cursor < len(self.events) and self.events[self._cursor].pos == pos:
                ev = self.events[self._cursor]
                self._cursor += 1
                if ev.kind == "step" and ev.deliver == deliver_irqs:
                    logged = True
                    break
                if ev.kind == "input" and ev.action is not None:
                    ev.action()
            if not logged:
                self._log(Event(pos, "step", deliver=deliver_irqs))
            stop = self._do_step(deliver_irqs)
            self._at_checkpoint()
        self.seen = max(self.seen, self.position)
        if not self.in_past:
            self._go_live()
        return stop

    def on_slice(self, machine: Machine) -> None:
        """For a run loop that calls it at each slice start: checkpoint when due.

        Meant for ``Machine._run`` (with the slice deadline capped at ``next_due``);
        ``run`` here does the same by running in chunks.
        """
        if self._replaying or self.in_past:
            return
        self.end = self.seen = self.position
        self._cursor = len(self.events)
        if machine.icount >= self.next_due:
            self._checkpoint()

    def _go_live(self) -> None:
        """The replay reached the present: apply what the history did here, then go on."""
        while self._cursor < len(self.events):
            ev = self.events[self._cursor]
            self._cursor += 1
            if ev.kind == "input" and ev.action is not None:
                ev.action()
        self.end = self.position

    # -- going back -------------------------------------------------------------------
    def goto(self, target: Union[int, Position]) -> Position:
        """Go to ``target`` (an instruction count means its first state), within the history."""
        self._check_reset()
        if isinstance(target, int):
            target = Position(target, 0)
        target = max(min(Position(*target), self.end), self.start)
        ck = self._checkpoint_before(target, strict=False)

        def travel() -> None:
            self._restore(ck)
            with self._replay_context(stops=False):
                self._travel(target)
        self._retrying(travel)
        return self.position

    def _retrying(self, action: Callable[[], object]) -> object:
        """Run a replay; after an overshoot, again with the safe margin."""
        try:
            return action()
        except _Overshoot:
            self._margin = SAFE_MARGIN
            return action()

    def _travel(self, target: Position) -> Optional[Stop]:
        """Replay to ``target``, leaving a checkpoint on the way if it is far; returns
        the interruption that stopped it short, if one did."""
        if target.icount - self.m.icount > 2 * SCRATCH_SPAN:
            stop = self._replay(Position(target.icount - SCRATCH_SPAN, 0), stops=False)
            if stop is not None:
                return stop
            if self.position < target:
                self._insert_checkpoint()
        return self._replay(target, stops=False)

    def reverse_step(self) -> StopEvent:
        """Go one stop state back (see the module docstring); HISTORY_END at the start."""
        self._check_reset()
        here = self.position
        if here <= self.start:
            return self._event(StopKind.HISTORY_END, message="start of the recorded history")
        prev = self._previous(here)
        if prev is None or self.goto(prev) != prev:
            return self._event(StopKind.INTERRUPTED)
        return self._event(StopKind.STEP)

    def _previous(self, here: Position) -> Optional[Position]:
        """The last state of the history before ``here`` (None if interrupted)."""
        ck = self._checkpoint_before(here, strict=True)
        return self._retrying(lambda: self._walk_back(ck, here))  # type: ignore[return-value]

    def _walk_back(self, ck: Checkpoint, here: Position) -> Optional[Position]:
        self._restore(ck)
        with self._replay_context(stops=False):
            near = Position(here.icount - 1 - STEP_SPAN, 0)
            if near.icount - ck.pos.icount > STEP_SPAN:
                if self._travel(near) is not None:
                    return None
                self._insert_checkpoint()
            if self._replay(max(ck.pos, Position(here.icount - 1, 0)), stops=False) is not None:
                return None
            prev = self.position
            if prev >= here:
                return ck.pos
            while True:
                self._advance_one()
                if self.position >= here:
                    return prev
                prev = self.position

    def reverse_continue(self) -> StopEvent:
        """Go back to the latest breakpoint, watchpoint or catchpoint hit before now.

        The hit is where a forward run would have stopped for it. Without one,
        the start of the history, reported as HISTORY_END.
        """
        self._check_reset()
        here = self.position
        seg_end = here
        while seg_end > self.start:
            ck = self._checkpoint_before(seg_end, strict=True)
            observer = _Observer(self)

            def search(ck: Checkpoint = ck, end: Position = seg_end,
                       observer: _Observer = observer) -> Optional[Stop]:
                observer.hits.clear()
                self._restore(ck)
                with self._replay_context(stops=False, observer=observer):
                    return self._replay(end, stops=False)
            stop = self._retrying(search)
            if stop is not None:
                self.goto(here)
                return self._event(StopKind.INTERRUPTED)
            hits = [h for h in observer.hits if h.pos < seg_end]
            while hits:
                best = hits[0]
                for h in hits[1:]:
                    if h.pos > best.pos:
                        best = h
                if not best.exact:
                    hits = [h for h in hits if h.exact or h.pos != best.pos]
                    hits += self._refine(best.pos, seg_end)
                    continue
                self.goto(best.pos)
                return self._event(best.kind, data_addr=best.data_addr, watch_kind=best.watch_kind,
                                   message=best.message)
            seg_end = ck.pos
        self.goto(self.start)
        return self._event(StopKind.HISTORY_END, message="start of the recorded history")

    def _refine(self, block: Position, end: Position) -> List[Hit]:
        """The exact watchpoint hits of the translation block that starts at ``block``
        (unicorn leaves PC at the block's start in memory hooks): step through it."""
        self.goto(block)
        observer = _Observer(self, exact=True)
        hits: List[Hit] = []
        with self._replay_context(stops=False, observer=observer):
            started = False
            for _ in range(SAFE_MARGIN):
                before = self.position
                if before >= end or (started and (self._tb_left == 0 or before.entries != block.entries)):
                    break
                started = True
                seen = len(observer.hits)
                self._advance_one()
                for h in observer.hits[seen:]:
                    if h.kind is StopKind.WATCHPOINT:
                        hits.append(Hit(before, h.kind, h.data_addr, h.watch_kind))
        return hits

    # -- the replay engine --------------------------------------------------------------
    @contextmanager
    def _replay_context(self, stops: bool, observer: Optional["_Observer"] = None,
                        mute: bool = True) -> Iterator[None]:
        """Replay with live input held back and (``mute``) no UART output, which was
        shown already; without ``stops``, no breakpoint, watchpoint or catchpoint of
        the debugger stops it."""
        m = self.m
        self._replaying = True
        muted = [(dev, dev.on_tx) for dev in m.devices if hasattr(dev, "on_tx")] if mute else []
        for dev, _ in muted:
            dev.on_tx = _discard  # type: ignore[attr-defined]
        bps: List[int] = [] if stops else list(m.breakpoints)
        wps: List[Tuple[int, int, str]] = [] if stops else list(m.watchpoints)
        exits = list(m.on_exit)
        erets = list(m.on_eret)
        for addr in bps:
            m.remove_breakpoint(addr)
        for wp in wps:
            m.remove_watchpoint(*wp)
        if not stops:
            m.on_exit[:] = []
            m.on_eret[:] = []
        if observer is not None:
            observer.install(bps, wps, exits, erets)
        try:
            yield
        finally:
            if observer is not None:
                observer.remove()
            m.on_exit[:] = exits
            m.on_eret[:] = erets
            for addr in bps:
                m.add_breakpoint(addr)
            for wp in wps:
                m.add_watchpoint(*wp)
            for dev, tx in muted:
                dev.on_tx = tx  # type: ignore[attr-defined]
            self._replaying = False
            held, self._held = self._held, []
            for action in held:
                m.post_input(action)

    def _replay(self, target: Position, stops: bool,
                begin: Optional[Position] = None) -> Optional[Stop]:
        """Follow the history from here to the first state at or after ``target``.

        Returns None when there, or the stop that ended the replay first: with
        ``stops``, a breakpoint, watchpoint, catchpoint or fault (a breakpoint at
        ``begin``, where the run resumed, does not count); always, an
        interruption (``Machine.request_stop``).
        """
        begin = self.position if begin is None else begin
        while True:
            self._at_checkpoint()
            pos = self.position
            if pos >= target:
                return None
            due = self._due()
            if stops and self._tb_left == 0 and due is not None and pos.icount >= due:
                self._insert_checkpoint()
                self._since = pos.icount
            ev = self.events[self._cursor] if self._cursor < len(self.events) else None
            if ev is not None and ev.pos <= pos:
                self._cursor += 1
                stop = self._apply(ev, pos, stops, begin)
                if stop is not None:
                    return stop
                continue
            limit = target
            if ev is not None and ev.pos < limit:
                limit = ev.pos
            nxt = self._next_checkpoint(pos)
            if nxt is not None and nxt < limit:
                limit = nxt
            stop = self._move(limit, stops, begin)
            if stop is not None:
                return stop

    def _apply(self, ev: Event, pos: Position, stops: bool, begin: Position) -> Optional[Stop]:
        if ev.kind == "input":
            if ev.pos < pos:
                self.warnings.append(f"input logged at {ev.pos} applied late, at {pos}")
            if ev.action is not None:
                ev.action()
            self._tb_left = 0
            return None
        if ev.pos < pos:
            return None
        if ev.kind == "resume":
            self._tb_left = 0
            return None
        if stops and pos != begin and self.m.cpu.pc in self.m.breakpoints:
            self._cursor -= 1
            return Stop("breakpoint")
        return self._checked(self._do_step(ev.deliver), stops)

    def _move(self, limit: Position, stops: bool, begin: Position) -> Optional[Stop]:
        """One move toward ``limit`` (never past it, if ``limit`` is a state of the history)."""
        m = self.m
        pos = self.position
        if stops and pos != begin and m.cpu.pc in m.breakpoints:
            return Stop("breakpoint")
        if self._tb_left == 0:
            if self._deliver():
                return m.run(max_insns=0) if stops and self._stop_pending() else None
            gap = limit.icount - pos.icount
            if gap > self._margin:
                chunk = gap - self._margin
                if stops:
                    due = self._due()
                    chunk = min(chunk, PROBE if due is None else max(due - pos.icount, 1))
                stop = self._run_blocks(chunk, stops)
                if stop is None and self.position > limit:
                    raise _Overshoot()
                return stop
            n, size = self._block()
            if n and pos.icount + n <= limit.icount:
                return self._run_blocks(1, stops)
            self._tb_left = max(n, 1)
            if size:
                pc = m.cpu.pc & ~1
                m.uc.ctl_remove_cache(pc, pc + size)
        return self._checked(self._do_step(False), stops)

    def _advance_one(self) -> None:
        """Exactly one state forward along the history."""
        start = self.position
        for _ in range(64):
            if self.position != start:
                return
            ev = self.events[self._cursor] if self._cursor < len(self.events) else None
            if ev is not None and ev.pos <= start:
                self._cursor += 1
                self._apply(ev, start, False, start)
                continue
            if self._tb_left == 0:
                if self._deliver():
                    return
                n, size = self._block()
                self._tb_left = max(n, 1)
                if size:
                    pc = self.m.cpu.pc & ~1
                    self.m.uc.ctl_remove_cache(pc, pc + size)
            self._checked(self._do_step(False), False)
        raise ReplayError(f"no progress at {start}")

    def _run_blocks(self, insns: int, stops: bool) -> Optional[Stop]:
        before, t0 = self.m.icount, time.perf_counter()
        self._no_waiting()
        stop = self.m.run(max_insns=insns)
        if stop.kind == "limit":
            self._finish_wfi()
        self.replayed += self.m.icount - before
        if stops:
            self._measured(self.m.icount - before, time.perf_counter() - t0)
        self._tb_left = 0
        return None if stop.kind == "limit" else self._checked(stop, stops)

    def _checked(self, stop: Stop, stops: bool) -> Optional[Stop]:
        if stop.kind in ("step", "limit"):
            return None
        if stops or stop.kind == "interrupted":
            return stop
        if stop.kind in ("poweroff", "reset") and self.position >= self.end:
            return None
        raise ReplayError(f"replay stopped at {self.position}: {stop.kind} {stop.message}")

    def _do_step(self, deliver: bool) -> Stop:
        """``Machine.step``, with the count of a step that took an exception put right:
        the step counts the handler's first block though none of it ran."""
        m = self.m
        entries = self.entries
        start = m.icount
        self._last_entry = None
        stop = m.step(deliver_irqs=deliver)
        self.replayed += 1
        last = self._last_entry
        if self.entries != entries:
            if last is not None and not last.asynchronous and m.cpu.pc == last.vector:
                m.counter.count = start + int(last.retired)
            self._tb_left = 0
        else:
            self._tb_left = max(self._tb_left - 1, 0)
        return stop

    def _deliver(self) -> bool:
        """What the run loop does at a slice start: take a pending interrupt. True if taken."""
        entries = self.entries
        self.m._deliver_interrupts()
        return self.entries != entries

    def _finish_wfi(self) -> None:
        """Idle on a WFI that ended the last block of a run.

        The run loop idles (skips virtual time to the next timer deadline) when
        ``emu_start`` returned before the slice's deadline, its sign of a WFI; a
        WFI ending the very block that reaches the run's budget is not idled, so
        where a run stops would change what the program does next. The last block
        executed rather than refused at the deadline, PC just after a WFI: it
        returned for the WFI. Idling twice changes nothing.
        """
        m = self.m
        if not m.counter.stopped_at_deadline and m._after_wfi():
            self._no_waiting()
            m._idle()

    def _no_waiting(self) -> None:
        """A WFI that waited for live input waits for nothing in a replay: the input is in
        the history, applied where the WFI ended (the machine's wake-up event, set)."""
        wake = getattr(self.m, "_wake", None)
        if wake is not None:
            wake.set()

    def _stop_pending(self) -> bool:
        return self.m._stop is not None

    def _block(self) -> Tuple[int, int]:
        """(instructions, bytes) of the translation block starting at PC (0, 0 if unknown)."""
        try:
            tb = self.m.uc.ctl_request_cache(self.m.cpu.pc & ~1)  # the state comes from CPSR.T
        except UcError:
            return 0, 0
        _, icount, size = tb
        return int(icount), int(size)


class _Observer:
    """Notes where breakpoints, watchpoints and catchpoints would stop a forward run,
    without stopping it (so the replay keeps the history's block boundaries)."""

    def __init__(self, tt: TimeTravel, exact: bool = False) -> None:
        self.tt = tt
        self.exact = exact
        self.hits: List[Hit] = []
        self._hooks: List[int] = []
        self._owners: List[Tuple[object, dict]] = []

    def install(self, bps: Sequence[int], wps: Sequence[Tuple[int, int, str]],
                exits: List[Callable[[ExitRecord], Optional[str]]],
                erets: List[Callable[[ExitRecord], Optional[str]]]) -> None:
        m = self.tt.m
        uc = m.uc
        for addr in bps:
            self._hooks.append(uc.hook_add(UC_HOOK_CODE, self._on_code, begin=addr, end=addr))
            uc.ctl_remove_cache(addr, addr + 4)
        for addr, length, kind in wps:
            types = {"watch": UC_HOOK_MEM_WRITE, "rwatch": UC_HOOK_MEM_READ,
                     "awatch": UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}[kind]
            self._hooks.append(uc.hook_add(types, self._on_mem, user_data=kind,
                                           begin=addr, end=addr + length - 1))
        if not exits and not erets:
            return
        for check in exits + erets:
            owner = getattr(check, "__self__", None)
            if owner is not None and all(owner is not o for o, _ in self._owners):
                self._owners.append((owner, capture(owner)))
        m.on_exit.append(lambda rec: self._on_record(exits, rec))
        m.on_eret.append(lambda rec: self._on_record(erets, rec))

    def remove(self) -> None:
        uc = self.tt.m.uc
        for handle in self._hooks:
            uc.hook_del(handle)
        self._hooks = []
        for owner, state in self._owners:
            apply(owner, state)

    def _here(self, pc: Optional[int] = None) -> Position:
        m = self.tt.m
        count = m.icount if pc is None else m.counter.retired(pc)
        return Position(count, self.tt.entries)

    def _on_code(self, uc: object, address: int, size: int, _d: object) -> None:
        self.hits.append(Hit(self._here(address), StopKind.BREAKPOINT))

    def _on_mem(self, uc: object, access: int, address: int, size: int, value: int, kind: str) -> None:
        pos = self._here(self.tt.m.cpu.pc)
        if self.hits and self.hits[-1].pos == pos and self.hits[-1].kind is StopKind.WATCHPOINT:
            return
        self.hits.append(Hit(pos, StopKind.WATCHPOINT, data_addr=address, watch_kind=kind,
                             exact=self.exact))

    def _on_record(self, checks: List[Callable[[ExitRecord], Optional[str]]], rec: ExitRecord) -> None:
        for check in checks:
            why = check(rec)
            if why:
                self.hits.append(Hit(self._here(), StopKind.CATCH, message=why))
                return None
        return None
