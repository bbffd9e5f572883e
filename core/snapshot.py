"""Whole-machine snapshots: CPU, RAM, devices and the machine's own bookkeeping.

A snapshot is what :mod:`hypdbg.core.timetravel` restores to go back in time,
so taking one must be cheap next to the run it interrupts, and restoring one
must give back a machine that then runs exactly as it ran the first time.

CPU: ``uc.context_save()`` (every register, banked ones, cp15 and ELR_hyp).

RAM is never copied whole: reading 256 MiB through unicorn costs about 0.9 s
and even hashing it in 64 KiB chunks 0.15-0.25 s (measured here), far more
than the slice of run between two snapshots. Instead the TLB says what may
have changed. The machine runs unicorn in virtual-TLB mode, where the CPU can
write a page only through a TLB entry that our fill hook granted with write
permission. After each snapshot the TLB is flushed, so every page the CPU
writes later is filled, writable, at least once: the set of those pages
(``dirty``) holds every page changed since the snapshot. A page's content is
saved the first time it becomes writable, before anything can change it;
at each snapshot the dirty pages whose content differs from their last saved
version are saved again, under the snapshot's label. A page's content at
snapshot k is then its newest version labelled k or less, and restoring k
rewrites only the pages with a version between the current snapshot and k,
plus the dirty ones. Debugger writes go through ``Machine.write_phys`` and
are tracked the same way.

Comparing a machine with a snapshot (``Snapshotter.matches``, how a replay
checks that it reproduced the history) compares the CPU state minus the few
words unicorn fills with values that are not state (``unstable_words``).

Devices (GIC, virtual interface, timers, UART, and any object they reach
whose class lives in hypdbg) are captured attribute by attribute: every
attribute holding plain data (numbers, strings, containers and dataclasses
of them) is copied; callables and references to other objects are left
alone, so callbacks stay wired. The machine's own state is the list in
``MACHINE_STATE``; the exit log of ``Worlds`` is kept once, in an archive
indexed by record number, and each snapshot stores only its length.

Snapshots carry a label, any value that orders them in time (an int for
``take``/``restore`` here, a history position for time travel). A snapshot may
be inserted between two older ones, provided the machine reached that point
by replaying the same history (``Snapshotter.take`` cannot check this).
``take(machine)`` below keeps history linear instead: taking a snapshot after
restoring an older one discards the snapshots newer than that one, since they
describe a future that may no longer follow.
"""
from __future__ import annotations

import bisect
import copy
import ctypes
import dataclasses
import enum
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from unicorn import UcError
from unicorn.unicorn import UcContext

from . import ucprobe
from .machine import RAM_BASE, UNTIL, Machine
from .uchook import raise_kept
from .worlds import ExitRecord, Worlds

PAGE_BITS = 10                 # unicorn's ARM TLB page: 1 KiB
PAGE = 1 << PAGE_BITS
PROT_WRITE = 2

#: Machine attributes that are part of the machine's state (restored with a snapshot).
MACHINE_STATE = ("idle_insns", "_vi_forced", "_vf_forced", "_fpexc_saved", "_halted",
                 "_last_vector", "_fault_loop", "_last_fault_icount")
#: Machine attributes holding plain data that are configuration, debugger settings or
#: per-call scratch, not state: a snapshot leaves them as they are.
MACHINE_CONTROL = ("image", "ram_size", "reset_mode", "deterministic", "breakpoints",
                   "watchpoints", "on_exit", "on_eret", "devices", "timer", "gic", "_inputs",
                   "input_sources", "_t0", "_taken", "_ran_free", "_unmapped", "_bp_skip",
                   "_stop", "_external_stop", "_watch_hit", "_align_hook", "_align_fault",
                   "_align_ctx", "_scanned", "_hyp_text", "_parked_breakpoints",
                   "_ran_unchecked", "_fast_rate",
                   "_tlb_growing")


class NotData(Exception):
    """A value that is not plain data (a callable, an object with identity)."""


_ATOMS = (type(None), bool, int, float, str, bytes, enum.Enum)


def copy_data(value: Any) -> Any:
    """A deep copy of plain data; raises NotData for anything else.

    Frozen dataclasses are shared, not copied: they cannot change.
    """
    if isinstance(value, _ATOMS):
        return value
    kind = type(value)
    if kind is list:
        if all(type(x) is int for x in value):
            return list(value)
        return [copy_data(x) for x in value]
    if kind is tuple:
        return tuple(copy_data(x) for x in value)
    if isinstance(value, dict):
        out = copy.copy(value)
        for key in out:
            out[key] = copy_data(out[key])
        return out
    if kind is deque:
        return deque((copy_data(x) for x in value), maxlen=value.maxlen)
    if kind in (set, frozenset):
        return kind(copy_data(x) for x in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if value.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return value
        out = copy.copy(value)
        for f in dataclasses.fields(value):
            setattr(out, f.name, copy_data(getattr(value, f.name)))
        return out
    raise NotData(kind.__name__)


def is_data(value: Any) -> bool:
    try:
        copy_data(value)
    except NotData:
        return False
    return True


def context_data(ctx: UcContext) -> bytes:
    """The CPU state in a saved context, comparable between runs: without unicorn's
    header, and with ``unstable_words`` zeroed."""
    state = bytearray(ucprobe.state_of(bytes(ctx)))
    for off in ucprobe.layout().unstable_words:
        state[off:off + 4] = bytes(4)
    return bytes(state)


def capture(obj: object, skip: Iterable[str] = ()) -> Dict[str, Any]:
    """The plain-data attributes of ``obj``, copied."""
    out: Dict[str, Any] = {}
    skipped = set(skip)
    for name, value in vars(obj).items():
        if name in skipped or callable(value):
            continue
        try:
            out[name] = copy_data(value)
        except NotData:
            continue
    return out


def apply(obj: object, state: Dict[str, Any]) -> None:
    """Set the attributes ``capture`` took (copied again, so ``state`` can be applied twice)."""
    for name, value in state.items():
        setattr(obj, name, copy_data(value))


def state_objects(machine: Machine) -> List[object]:
    """Devices and every hypdbg object they reach through attributes (each once)."""
    roots: List[object] = list(machine.devices) + [machine.gic, machine.timer]
    seen: Set[int] = set()
    out: List[object] = []
    while roots:
        obj = roots.pop(0)
        if obj is None or id(obj) in seen or isinstance(obj, Machine):
            continue
        if not type(obj).__module__.startswith("hypdbg.") or not hasattr(obj, "__dict__"):
            continue
        seen.add(id(obj))
        out.append(obj)
        for value in vars(obj).values():
            if not callable(value) and hasattr(value, "__dict__") and not is_data(value):
                roots.append(value)
    return out


@dataclass(eq=False)
class Snapshot:
    """The machine at one instant; ``label`` orders snapshots in time."""

    label: Any
    icount: int
    cpu: UcContext
    cpu_bytes: bytes
    machine: Dict[str, Any]
    devices: List[Tuple[object, Dict[str, Any]]]
    worlds: Dict[str, Any]
    log_len: int
    pages: int = 0            # RAM pages saved with this snapshot


class PageStore:
    """Copy-on-write history of RAM pages (see the module docstring).

    ``origin`` holds a page's content from before its first tracked change;
    ``labels``/``data`` its later versions, in label order.
    """

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.first = RAM_BASE >> PAGE_BITS
        self.last = (RAM_BASE + machine.ram_size) >> PAGE_BITS
        self.origin: Dict[int, bytes] = {}
        self.labels: Dict[int, List[Any]] = {}
        self.data: Dict[int, List[bytes]] = {}
        self.changed: Dict[Any, Set[int]] = {}    # snapshot label -> pages with a version there
        self.dirty: Set[int] = set()
        # ``dirty`` as a bitmap (bit n: page first + n), for the C fill hook: it may grant
        # write permission on a page already in ``dirty`` (tlbcache.c)
        self.saved_map = (ctypes.c_uint8 * ((self.last - self.first + 7) // 8))()
        self.nbytes = 0

    def _read(self, page: int) -> bytes:
        return bytes(self.m.uc.mem_read(page << PAGE_BITS, PAGE))

    def writable(self, pa: int, size: int = 1) -> None:
        """Pages ``pa .. pa+size`` may be written from now on: keep their content first."""
        page = max(pa >> PAGE_BITS, self.first)
        end = min((pa + max(size, 1) - 1) >> PAGE_BITS, self.last - 1)
        while page <= end:
            if page not in self.dirty:
                self.dirty.add(page)
                n = page - self.first
                self.saved_map[n >> 3] |= 1 << (n & 7)
                if page not in self.origin:
                    self.origin[page] = self._read(page)
                    self.labels[page] = []
                    self.data[page] = []
                    self.nbytes += PAGE
            page += 1

    def content_at(self, page: int, label: Any) -> bytes:
        i = bisect.bisect_right(self.labels[page], label) - 1
        return self.data[page][i] if i >= 0 else self.origin[page]

    def _insert(self, page: int, label: Any, content: bytes) -> None:
        labels = self.labels[page]
        i = bisect.bisect_right(labels, label)
        labels.insert(i, label)
        self.data[page].insert(i, content)
        self.changed.setdefault(label, set()).add(page)
        self.nbytes += PAGE

    def _remove(self, page: int, label: Any) -> None:
        labels = self.labels[page]
        i = bisect.bisect_left(labels, label)
        del labels[i]
        del self.data[page][i]
        self.nbytes -= PAGE

    def commit(self, label: Any, following: Optional[Any]) -> int:
        """Version the dirty pages that changed under ``label``; returns how many.

        ``following`` is the next snapshot's label when inserting into the past: a page
        without a version of its own there kept its old content until then, which
        becomes its version at ``following`` now that an earlier one comes first.
        """
        saved = 0
        self.changed.setdefault(label, set())
        for page in self.dirty:
            content = self._read(page)
            old = self.content_at(page, label)
            if content == old:
                continue
            if following is not None:
                labels = self.labels[page]
                i = bisect.bisect_right(labels, label)
                if i == len(labels) or labels[i] > following:
                    self._insert(page, following, old)
            self._insert(page, label, content)
            saved += 1
        self.clear_dirty()
        return saved

    def clear_dirty(self) -> None:
        """A new base: nothing written since (the bitmap follows the set)."""
        self.dirty = set()
        ctypes.memset(self.saved_map, 0, len(self.saved_map))

    def between(self, a: Any, b: Optional[Any]) -> Set[int]:
        """Pages with a version labelled in (a, b] (or (b, a]); ``None`` stands for the origin."""
        if a is None and b is None:
            return set()
        if a is None or (b is not None and b < a):
            a, b = b, a
        out: Set[int] = set()
        for label, pages in self.changed.items():
            if (a is None or a < label) and label <= b:
                out |= pages
        return out

    def rewind(self, base: Optional[Any], label: Any) -> int:
        """Write back the content at ``label`` of every page that may differ; returns how many."""
        pages = self.dirty | self.between(base, label)
        uc = self.m.uc
        for page in pages:
            uc.mem_write(page << PAGE_BITS, self.content_at(page, label))
        self.clear_dirty()
        return len(pages)

    def matches(self, base: Optional[Any], label: Any) -> bool:
        """True if RAM (the content at ``base`` except the dirty pages) equals the content
        at ``label``: only the dirty pages and those with versions in between can differ."""
        return all(self._read(page) == self.content_at(page, label)
                   for page in self.dirty | self.between(base, label))

    def discard_after(self, label: Any) -> None:
        for later in [x for x in self.changed if x > label]:
            for page in self.changed.pop(later):
                self._remove(page, later)

    def merge(self, label: Any, into: Any) -> None:
        """Drop ``label``: its versions move to ``into`` (the next kept label) unless
        ``into`` has its own, in which case nothing can read them any more."""
        target = self.changed.setdefault(into, set())
        for page in self.changed.pop(label, set()):
            if page in target:
                self._remove(page, label)
            else:
                labels = self.labels[page]
                labels[bisect.bisect_left(labels, label)] = into
                target.add(page)


class Snapshotter:
    """Takes and restores snapshots of one machine, keeping RAM copy-on-write.

    ``base`` is the label of the snapshot the machine last restored, adopted or
    took: RAM is that snapshot's except for the dirty pages.
    """

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        self.pages = PageStore(machine)
        self.snaps: Dict[Any, Snapshot] = {}
        self.base: Optional[Any] = None
        self._archive: List[Optional[ExitRecord]] = []
        self._attach()

    # -- wiring ------------------------------------------------------------------
    def _attach(self) -> None:
        """Watch the TLB fills and debugger writes of the machine.

        Until the machine offers observer hooks for them, its ``_translate_fill`` and
        ``write_phys`` are wrapped on the instance (the class is untouched).
        """
        m = self.m
        fill = m._translate_fill
        write = m.write_phys
        pages = self

        def tracked_fill(vaddr: int, access: int) -> Optional[Tuple[int, int]]:
            result = fill(vaddr, access)
            if result is not None and result[1] & PROT_WRITE:
                pages.pages.writable(result[0], PAGE)
            return result

        def tracked_write(pa: int, data: bytes) -> None:
            pages.pages.writable(pa, len(data))
            write(pa, data)

        m._translate_fill = tracked_fill  # type: ignore[method-assign]
        m.write_phys = tracked_write  # type: ignore[method-assign]
        self._wrapped = (tracked_fill, tracked_write)
        m.tlb_cache.keep_writes_in_python(True, self.pages.saved_map)
        m.flush_tlb()

    def detach(self) -> None:
        """Stop tracking (the machine's own methods are back, unless wrapped again since)."""
        fill, write = self._wrapped
        self.m.tlb_cache.keep_writes_in_python(False)
        if vars(self.m).get("_translate_fill") is fill:
            del self.m._translate_fill
        if vars(self.m).get("write_phys") is write:
            del self.m.write_phys

    # -- snapshots ----------------------------------------------------------------
    def labels(self) -> List[Any]:
        return sorted(self.snaps)

    def take(self, label: Any) -> Snapshot:
        """Snapshot the machine as it is now (between runs) under ``label``.

        ``label`` must come after ``base``, with no snapshot in between; a snapshot
        after ``label`` may exist only if the machine got here by replaying its history.
        """
        m = self.m
        if label in self.snaps:
            raise ValueError(f"a snapshot labelled {label!r} exists")
        if self.base is not None and label < self.base:
            raise ValueError(f"label {label!r} comes before the current base {self.base!r}")
        later = [x for x in self.snaps if x > label]
        if self.base is not None and any(x < label for x in self.snaps if x > self.base):
            raise ValueError("a snapshot lies between the base and the new label")
        saved = self.pages.commit(label, min(later) if later else None)
        self.base = label
        m.flush_tlb()
        ctx = m.uc.context_save()
        snap = Snapshot(label=label, icount=m.icount, cpu=ctx, cpu_bytes=context_data(ctx),
                        machine={name: copy_data(getattr(m, name)) for name in MACHINE_STATE
                                 if hasattr(m, name)},
                        devices=[(obj, capture(obj)) for obj in state_objects(m)],
                        worlds=capture(m.worlds, skip=("log",)),
                        log_len=self._archive_log(m.worlds), pages=saved)
        self.snaps[label] = snap
        return snap

    def _archive_log(self, worlds: Worlds) -> int:
        """Keep every exit record by number; returns how many the live log holds."""
        archive = self._archive
        for rec in reversed(worlds.log):
            if rec.index < len(archive) and archive[rec.index] is rec:
                break
            if rec.index >= len(archive):
                archive.extend([None] * (rec.index + 1 - len(archive)))
            archive[rec.index] = rec
        return len(worlds.log)

    def _settle(self) -> None:
        """Let unicorn finish what a counted ``emu_start`` (``Machine.step``) left behind.

        After one, unicorn 2.1.4 begins the next uncounted ``emu_start`` by fetching
        at the PC where the counted one stopped, even if PC and the translation regime
        were changed since: after a restore that fetch can fault, and the machine would
        take an abort the history never had. An uncounted start here, at the current PC,
        with the block counter refusing the first block, does that fetch while it is
        still the right one and executes nothing.
        """
        m = self.m
        count, deadline = m.counter.count, m.counter.deadline
        m.counter.deadline = 0
        try:
            m.uc.emu_start(m.cpu.pc | int(m.cpu.thumb), UNTIL)
        except UcError as err:
            raise_kept(m.uc, err)     # a faulting fetch is ignored; a failing hook is not
        finally:
            m.counter.count = count
            m.counter.deadline = deadline
            m.mmu.pending = None

    def restore(self, snap: Snapshot) -> None:
        """Put the machine back in the state ``snap`` recorded."""
        if self.snaps.get(snap.label) is not snap:
            raise ValueError(f"snapshot {snap.label!r} is not (or no longer) held")
        m = self.m
        self._settle()
        self.pages.rewind(self.base, snap.label)
        self.base = snap.label
        m.uc.context_restore(snap.cpu)
        for name, value in snap.machine.items():
            setattr(m, name, copy_data(value))
        for obj, state in snap.devices:
            apply(obj, state)
        worlds = m.worlds
        apply(worlds, snap.worlds)
        total = worlds.total
        worlds.log = deque((self._archive[i] for i in range(total - snap.log_len, total)),
                           maxlen=worlds.log.maxlen)
        m.counter.count = snap.icount
        m.mmu.pending = None
        # HCR.VI/VF reach unicorn's pending-interrupt flags only through a register write.
        m.cpu.set_sysreg("HCR", m.cpu.sysreg("HCR"))
        m.flush_tlb()
        m.uc.ctl_flush_tb()
        m.counter.flush_cache()

    def matches(self, snap: Snapshot) -> bool:
        """True if the machine is now exactly in the state of ``snap`` (a replay reached it)."""
        m = self.m
        if m.icount != snap.icount or context_data(m.uc.context_save()) != snap.cpu_bytes:
            return False
        if any(getattr(m, name) != value for name, value in snap.machine.items()):
            return False
        if any(capture(obj) != state for obj, state in snap.devices):
            return False
        if capture(m.worlds, skip=("log",)) != snap.worlds:
            return False
        return self.pages.matches(self.base, snap.label)

    def adopt(self, snap: Snapshot) -> bool:
        """If the machine is in ``snap``'s state, make ``snap`` the base of RAM tracking."""
        if not self.matches(snap):
            return False
        self.pages.clear_dirty()
        self.base = snap.label
        self._archive_log(self.m.worlds)
        self.m.flush_tlb()
        return True

    def discard_after(self, label: Any) -> None:
        """Forget every snapshot after ``label`` (the current base must not be one)."""
        if self.base is not None and self.base > label:
            raise ValueError("cannot discard the snapshot the machine is based on")
        for later in [x for x in self.snaps if x > label]:
            del self.snaps[later]
        self.pages.discard_after(label)

    def drop(self, snap: Snapshot) -> None:
        """Forget one snapshot that is neither the newest nor the current base."""
        later = [x for x in self.snaps if x > snap.label]
        if not later or snap.label == self.base:
            raise ValueError("cannot drop the newest snapshot or the current base")
        del self.snaps[snap.label]
        self.pages.merge(snap.label, min(later))

    def clear(self) -> None:
        """Forget everything (after a reset rewrote RAM behind the tracking)."""
        self.snaps.clear()
        self.pages = PageStore(self.m)
        self.base = None
        self._archive = []
        self.m.flush_tlb()

    @property
    def nbytes(self) -> int:
        """RAM held by saved page versions."""
        return self.pages.nbytes


_SNAPSHOTTERS: "weakref.WeakKeyDictionary[Machine, Snapshotter]" = weakref.WeakKeyDictionary()


def snapshotter(machine: Machine) -> Snapshotter:
    """The snapshotter behind ``take``/``restore`` (created, tracking started, on first use)."""
    snap = _SNAPSHOTTERS.get(machine)
    if snap is None:
        snap = Snapshotter(machine)
        _SNAPSHOTTERS[machine] = snap
    return snap


def take(machine: Machine) -> Snapshot:
    """Snapshot ``machine`` (between runs), labelled by a counter.

    Taking a snapshot after restoring an older one discards the newer ones.
    RAM changes are tracked from the first call on.
    """
    snaps = snapshotter(machine)
    if snaps.base is not None:
        snaps.discard_after(snaps.base)
    label = max(snaps.snaps) + 1 if snaps.snaps else 0
    return snaps.take(label)


def restore(machine: Machine, snap: Snapshot) -> None:
    """Put ``machine`` back into the state of ``snap``."""
    snapshotter(machine).restore(snap)
