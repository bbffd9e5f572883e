"""The machine behind the debugger API (:class:`hypdbg.core.debug.DebugTarget`).

Maps the register map onto the CPU, worlds onto GDB threads, and run/step
onto the machine's run loop. Another world's registers come from its saved
context and are read-only; the live world's are the CPU's.
"""
from __future__ import annotations

import ctypes
import struct
import sys
import threading
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

from unicorn import UcError
from unicorn import arm_const as A
from unicorn.unicorn_py3.unicorn import uclib

from . import cp15, regmap
from .debug import (MemoryAccessError, RegisterError, RegisterInfo, Space, StopEvent, StopKind,
                    WorldInfo)
from .machine import ID_OVERRIDES, MPIDR, RAM_BASE, Machine, Stop
from .worlds import HOST, HYPERVISOR, WorldKey

if TYPE_CHECKING:
    from .monitor import Monitor
    from .timetravel import TimeTravel

_KIND = {"poweroff": StopKind.POWEROFF, "limit": StopKind.LIMIT, "breakpoint": StopKind.BREAKPOINT,
         "watchpoint": StopKind.WATCHPOINT, "step": StopKind.STEP,
         "interrupted": StopKind.INTERRUPTED, "catch": StopKind.CATCH, "fault": StopKind.FAULT,
         "reset": StopKind.FAULT}

_CORE_NAMES = tuple(f"r{n}" for n in range(13)) + ("sp", "lr", "pc", "cpsr")
_CORE_IDS = tuple(getattr(A, f"UC_ARM_REG_R{n}") for n in range(13)) + (
    A.UC_ARM_REG_SP, A.UC_ARM_REG_LR, A.UC_ARM_REG_PC, A.UC_ARM_REG_CPSR)

PAGE = 4096
"""Smallest translation granule of VMSAv7 (short and long descriptors, both stages): every
address of an aligned 4 KiB page translates with the same offset, so one walk serves it."""
_PAGE_MASK = PAGE - 1
_XLATE_CACHE_MAX = 4096


class _CoreBlock:
    """r0-r15 and CPSR in one ``uc_reg_read_batch`` call, into one preallocated buffer.

    GDB's ``g`` wants exactly these 17 words; one call replaces seventeen
    ``uc_reg_read`` calls through ctypes (each about a microsecond).
    """

    def __init__(self) -> None:
        n = len(_CORE_IDS)
        self._n = n
        self._ids = (ctypes.c_int * n)(*_CORE_IDS)
        self._vals = (ctypes.c_uint32 * n)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * n)(*(base + 4 * i for i in range(n)))
        self._read = uclib.uc_reg_read_batch
        self._little = sys.byteorder == "little"

    def raw(self, uch: object) -> bytes:
        """The 17 words as little-endian bytes (ARM's byte order here)."""
        err = self._read(uch, self._ids, self._ptrs, self._n)
        if err:
            raise UcError(err)
        if self._little:
            return bytes(self._vals)
        return struct.pack("<%dI" % self._n, *self._vals)

    def values(self, uch: object) -> List[int]:
        return list(struct.unpack("<%dI" % self._n, self.raw(uch)))


class _RamReader:
    """RAM reads straight into one reusable buffer: ``Uc.mem_read`` allocates a buffer
    and copies twice per call, which is most of the cost of GDB's small reads."""

    SIZE = 1 << 14

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(self.SIZE)
        self._view = memoryview(self._buf).cast("B")
        self._read = uclib.uc_mem_read

    def read(self, uch: object, pa: int, size: int) -> Optional[bytes]:
        """``size`` bytes at ``pa``, or None when the buffer is too small or unicorn refuses."""
        if size > self.SIZE or self._read(uch, pa, self._buf, size):
            return None
        return self._view[:size].tobytes()


class MachineTarget:
    """DebugTarget over a :class:`Machine`; ``monitor`` is served by ``core.monitor``."""

    def __init__(self, machine: Machine, on_reset: Optional[Callable[[], None]] = None,
                 timetravel: Optional["TimeTravel"] = None) -> None:
        self.m = machine
        self.tt = timetravel
        self.step_irqs = False
        self._on_reset = on_reset
        self._lock = threading.Lock()
        self._core = _CoreBlock()
        self._ram = _RamReader()
        self._xlate: Dict[Tuple[int, Optional[WorldKey], bool], int] = {}
        self._ram_reads: Dict[Tuple[int, int, Optional[int], Space], bytes] = {}
        self._monitor: Optional["Monitor"] = None
        self._code_translated = True   # unicorn may hold translated code of any page

    @property
    def monitor_cmds(self) -> "Monitor":
        """The monitor commands, built at the first ``monitor`` (their views and catchpoints
        are several modules a debugging session may never need)."""
        if self._monitor is None:
            from .monitor import Monitor
            self._monitor = Monitor(self)
        return self._monitor

    # -- registers -----------------------------------------------------------
    def registers(self) -> Sequence[RegisterInfo]:
        return regmap.REGISTERS

    def _key(self, world: Optional[int]) -> Optional[WorldKey]:
        """None for the live world, else the key of another world (ValueError if unknown)."""
        if world is None or world <= 0:
            return None
        key = self.m.worlds.key_of(world)
        if key is None:
            raise RegisterError(f"no world with thread id {world}")
        return None if key == self.m.world_now() else key

    def read_register(self, name: str, world: Optional[int] = None) -> int:
        key = self._key(world)
        if key is not None:
            ctx = self.m.worlds.contexts.get(key)
            if ctx is None:
                raise RegisterError(f"{key.label} has not run yet: no saved context")
            if name in ("r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10",
                        "r11", "r12"):
                return ctx.reg(int(name[1:]))
            idx = {"sp": 13, "lr": 14, "pc": 15}.get(name)
            if idx is not None:
                return ctx.reg(idx)
            if name == "cpsr":
                return ctx.cpsr
        return self._read_live(name)

    def read_registers(self, names: Sequence[str], world: Optional[int] = None) -> List[int]:
        """Several registers at once (GDB's ``g``): the core set of the live world is read
        in one call into the CPU."""
        if tuple(names) == _CORE_NAMES and self._key(world) is None:
            return self._core.values(self.m.uc._uch)
        return [self.read_register(n, world) for n in names]

    def read_registers_raw(self, names: Sequence[str],
                           world: Optional[int] = None) -> Optional[bytes]:
        """The registers as target-order bytes back to back (``g``), when that is cheap:
        the core set of the live world; None otherwise (read them one by one)."""
        if tuple(names) == _CORE_NAMES and self._key(world) is None:
            return self._core.raw(self.m.uc._uch)
        return None

    def _read_live(self, name: str) -> int:
        cpu = self.m.cpu
        if name.startswith("r") and name[1:].isdigit() and int(name[1:]) < 13:
            return cpu.reg(int(name[1:]))
        if name in ("sp", "lr", "pc"):
            return cpu.reg({"sp": 13, "lr": 14, "pc": 15}[name])
        if name == "cpsr":
            return cpu.cpsr
        if name.startswith("d") and name[1:].isdigit():
            return self.m.uc.reg_read(getattr(A, f"UC_ARM_REG_D{int(name[1:])}"))
        if name == "fpscr":
            return self.m.uc.reg_read(A.UC_ARM_REG_FPSCR)
        if name == "elr_hyp":
            return cpu.elr_hyp
        if name in regmap.BANKED:
            mode, field = regmap.BANKED[name]
            return cpu.banked(mode, field)
        upper = name.upper()
        if upper in ID_OVERRIDES:
            return ID_OVERRIDES[upper]       # what the CPU's own MRC reads in Hyp mode
        if upper == "MPIDR":
            return MPIDR
        if upper in cp15.BY_NAME:
            return cpu.sysreg(upper)
        raise RegisterError(f"unknown register {name!r}")

    def write_register(self, name: str, value: int, world: Optional[int] = None) -> None:
        try:
            self._write_register(name, value, world)
        finally:
            self._changed(ran=False)   # CPSR's mode or a translation register choose the walk

    def _write_register(self, name: str, value: int, world: Optional[int]) -> None:
        if self._key(world) is not None:
            raise RegisterError(f"registers of thread {world} are read-only: it is not running")
        self._leave_past()
        info = regmap.BY_NAME.get(name)
        if info is None:
            raise RegisterError(f"unknown register {name!r}")
        if not info.writable:
            raise RegisterError(f"register {name} is read-only")
        cpu = self.m.cpu
        mask = (1 << info.bitsize) - 1
        value &= mask
        if name.startswith("r") and name[1:].isdigit() and int(name[1:]) < 13:
            cpu.set_reg(int(name[1:]), value)
        elif name in ("sp", "lr"):
            cpu.set_reg(13 if name == "sp" else 14, value)
        elif name == "pc":
            cpu.set_pc(value)
        elif name == "cpsr":
            cpu.write_cpsr(value)
        elif name.startswith("d") and name[1:].isdigit():
            self.m.uc.reg_write(getattr(A, f"UC_ARM_REG_D{int(name[1:])}"), value)
        elif name == "fpscr":
            self.m.uc.reg_write(A.UC_ARM_REG_FPSCR, value)
        elif name == "elr_hyp":
            cpu.set_elr_hyp(value)
        elif name in regmap.BANKED:
            mode, field = regmap.BANKED[name]
            cpu.set_banked(mode, field, value)
        else:
            cpu.set_sysreg(name.upper(), value)
            self.m.flush_tlb()

    # -- memory --------------------------------------------------------------
    # Debugger accesses translate once per 4 KiB page and keep the answer while the
    # machine is halted: GDB reads the code around the PC in dozens of small packets
    # after each stop. Anything that can change a translation (running, a register or
    # memory write, a reset, a monitor command) forgets them (see ``_changed``).
    def read_memory(self, addr: int, length: int, world: Optional[int] = None,
                    space: Space = Space.VIRT) -> bytes:
        if length <= 0:
            return b""
        if (addr & _PAGE_MASK) + length <= PAGE:        # within one page: GDB's usual read
            ck = (addr, length, world, space)
            data = self._ram_reads.get(ck)
            if data is not None:
                return data
            key = None if space == Space.PHYS else self._key(world)
            try:
                pa = self._phys(addr, key, space)
            except MemoryError as e:
                raise MemoryAccessError(addr, 0, str(e)) from None
            data = self._read_run(pa, length)
            if not data:
                raise MemoryAccessError(addr, 0, f"no memory at physical address {pa:#010x}")
            if RAM_BASE <= pa and pa + length <= RAM_BASE + self.m.ram_size:
                # RAM does not change while the machine is halted: GDB reads the same few
                # words of code several times after each stop (device registers are read
                # every time)
                if len(self._ram_reads) >= _XLATE_CACHE_MAX:
                    self._ram_reads.clear()
                self._ram_reads[ck] = data
            return data
        key = None if space == Space.PHYS else self._key(world)
        out: List[bytes] = []
        pos = addr
        end = addr + length
        while pos < end:
            try:
                pa = self._phys(pos, key, space)
            except MemoryError as e:
                if not out:
                    raise MemoryAccessError(pos, 0, str(e)) from None
                break
            run = self._contiguous(pos, pa, end, key, space)
            data = self._read_run(pa, run)
            if not data:
                if not out:
                    raise MemoryAccessError(pos, 0, f"no memory at physical address {pa:#010x}")
                break
            out.append(data)
            if len(data) < run:
                break
            pos += run
        return out[0] if len(out) == 1 else b"".join(out)

    def _contiguous(self, va: int, pa: int, end: int, key: Optional[WorldKey],
                    space: Space) -> int:
        """Bytes from ``va`` (at ``pa``) up to ``end`` that lie at consecutive physical addresses."""
        run = min(end - va, PAGE - (va & _PAGE_MASK))
        while va + run < end:
            try:
                nxt = self._phys(va + run, key, space)
            except MemoryError:
                break
            if nxt != pa + run:
                break
            run += min(end - va - run, PAGE)
        return run

    def _read_run(self, pa: int, size: int) -> bytes:
        """``size`` physical bytes, or as many from the start as can be read (page by page)."""
        m = self.m
        if RAM_BASE <= pa and pa + size <= RAM_BASE + m.ram_size:
            data = self._ram.read(m.uc._uch, pa, size)
            if data is not None:
                return data
        try:
            return m.read_phys(pa, size)
        except MemoryError:
            pass
        out = bytearray()
        pos = pa
        while pos < pa + size:
            chunk = min(pa + size - pos, PAGE - (pos & _PAGE_MASK))
            try:
                out += self.m.read_phys(pos, chunk)
            except MemoryError:
                break
            pos += chunk
        return bytes(out)

    def write_memory(self, addr: int, data: bytes, world: Optional[int] = None,
                     space: Space = Space.VIRT) -> None:
        self._leave_past()
        key = None if space == Space.PHYS else self._key(world)
        pos = 0
        try:
            while pos < len(data):
                va = addr + pos
                chunk = min(len(data) - pos, PAGE - (va & _PAGE_MASK))
                try:
                    pa = self._phys(va, key, space)
                    self.m.write_phys(pa, data[pos:pos + chunk])
                except MemoryError as e:
                    raise MemoryAccessError(va, pos, str(e)) from None
                finally:
                    self._changed(ran=False)   # the write may have been to a translation table
                pos += chunk
        finally:
            if pos and self._code_translated:
                # Written bytes may be code that unicorn has translated. Its per-range
                # invalidation looks the start address up as an instruction fetch, which
                # fills the TLB and makes the machine scan the page for intercepted
                # instructions, even a data page (tens of microseconds per packet);
                # forgetting every translation costs a few, and nothing was translated
                # again until the machine runs, so a run of writes pays it once.
                self.m.uc.ctl_flush_tb()
                self._code_translated = False

    def _phys(self, addr: int, key: Optional[WorldKey], space: Space) -> int:
        """PA of a debugger access (MemoryError if unmapped); one walk per page while halted."""
        if space == Space.PHYS:
            return addr
        ipa = space == Space.IPA
        ck = (addr >> 12, key, ipa)
        base = self._xlate.get(ck)
        if base is None:
            base = self.m.debug_translate(addr, key, ipa) - (addr & _PAGE_MASK)
            if len(self._xlate) >= _XLATE_CACHE_MAX:
                self._xlate.clear()
            self._xlate[ck] = base
        return base + (addr & _PAGE_MASK)

    def _changed(self, ran: bool = True) -> None:
        """The machine may have changed (and, if it ``ran``, translated code): forget
        cached translations and RAM reads."""
        self._xlate.clear()
        self._ram_reads.clear()
        if ran:
            self._code_translated = True

    # -- breakpoints -----------------------------------------------------------
    def insert_breakpoint(self, addr: int) -> None:
        self.m.add_breakpoint(addr)

    def remove_breakpoint(self, addr: int) -> None:
        self.m.remove_breakpoint(addr)

    def insert_watchpoint(self, addr: int, length: int, kind: str) -> None:
        self.m.add_watchpoint(addr, length, kind)

    def remove_watchpoint(self, addr: int, length: int, kind: str) -> None:
        self.m.remove_watchpoint(addr, length, kind)

    # -- execution -------------------------------------------------------------
    def _event(self, stop: Stop) -> StopEvent:
        return StopEvent(_KIND[stop.kind], self.m.cpu.pc, self.current_world(),
                         data_addr=stop.data_addr, watch_kind=stop.watch_kind,
                         message=stop.message, exit_code=stop.exit_code if stop.kind == "poweroff" else None)

    def _step(self) -> Stop:
        if self.tt is not None:
            return self.tt.step(self.step_irqs)
        return self.m.step(deliver_irqs=self.step_irqs)

    def step(self) -> StopEvent:
        with self._lock:
            try:
                return self._event(self._step())
            finally:
                self._changed()

    def resume(self, range_start: Optional[int] = None,
               range_end: Optional[int] = None) -> StopEvent:
        with self._lock:
            try:
                return self._resume(range_start, range_end)
            finally:
                self._changed()

    def _resume(self, range_start: Optional[int], range_end: Optional[int]) -> StopEvent:
        if range_start is None or range_end is None:
            return self._event(self.tt.run() if self.tt is not None else self.m.run())
        self.m._external_stop = False
        while True:
            stop = self._step()
            pc = self.m.cpu.pc
            if stop.kind != "step" or not (range_start <= pc < range_end):
                return self._event(stop)
            if pc in self.m.breakpoints:
                return self._event(Stop("breakpoint"))
            if self.m._external_stop:
                self.m._external_stop = False
                return self._event(Stop("interrupted"))

    def request_stop(self) -> None:
        self.m.request_stop()

    # -- reverse execution (present when the target keeps history) -------------
    def __getattr__(self, name: str) -> object:
        # reverse_step/reverse_resume exist only with time travel, so the stub advertises
        # ReverseStep/ReverseContinue only then
        if name in ("reverse_step", "reverse_resume") and self.__dict__.get("tt") is not None:
            return getattr(self, "_" + name)
        raise AttributeError(name)

    def _reverse_step(self) -> StopEvent:
        with self._lock:
            try:
                return self.tt.reverse_step()  # type: ignore[union-attr]
            finally:
                self._changed()

    def _reverse_resume(self) -> StopEvent:
        with self._lock:
            try:
                return self.tt.reverse_continue()  # type: ignore[union-attr]
            finally:
                self._changed()

    def _leave_past(self) -> None:
        """Changing state in the past starts a new future there."""
        if self.tt is not None and self.tt.in_past:
            self.tt.branch()

    def reset(self) -> None:
        try:
            self.m.reset()
            if self._on_reset:
                self._on_reset()
        finally:
            self._changed()

    def get_option(self, name: str) -> bool:
        if name != "step_irq":
            raise ValueError(f"unknown option {name!r}")
        return self.step_irqs

    def set_option(self, name: str, value: bool) -> None:
        if name != "step_irq":
            raise ValueError(f"unknown option {name!r}")
        self.step_irqs = value

    # -- worlds ----------------------------------------------------------------
    def worlds(self) -> Sequence[WorldInfo]:
        live = self.m.world_now()
        self.m.worlds.tid(live)
        out: List[WorldInfo] = []
        for key, tid in sorted(self.m.worlds.tids.items(), key=lambda kv: kv[1]):
            if key != live and key not in self.m.worlds.contexts and key not in (HOST, HYPERVISOR):
                continue
            ctx = self.m.worlds.contexts.get(key)
            if key == live:
                extra = f"{key.label} [running] pc={self.m.cpu.pc:#010x}"
            elif ctx is not None:
                extra = f"{key.label} [saved at insn {ctx.icount}] pc={ctx.pc:#010x}"
            else:
                extra = f"{key.label} [not run yet]"
            out.append(WorldInfo(tid, key.label, key == live, key.vmid, extra))
        return out

    def current_world(self) -> int:
        return self.m.worlds.tid(self.m.world_now())

    def monitor(self, command: str) -> str:
        try:
            return self.monitor_cmds.run(command)
        finally:
            self._changed()   # e.g. a jump in recorded time

    @property
    def instruction_count(self) -> int:
        return self.m.icount
