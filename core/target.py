"""The machine behind the debugger API (:class:`hypdbg.core.debug.DebugTarget`).

Maps the register map onto the CPU, worlds onto GDB threads, and run/step
onto the machine's run loop. Another world's registers come from its saved
context and are read-only; the live world's are the CPU's.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence

from unicorn import arm_const as A

from . import cp15, regmap
from .debug import (MemoryAccessError, RegisterError, RegisterInfo, Space, StopEvent, StopKind,
                    WorldInfo)
from .machine import ID_OVERRIDES, MPIDR, Machine, Stop
from .worlds import HOST, HYPERVISOR, WorldKey

if TYPE_CHECKING:
    from .timetravel import TimeTravel

_KIND = {"poweroff": StopKind.POWEROFF, "limit": StopKind.LIMIT, "breakpoint": StopKind.BREAKPOINT,
         "watchpoint": StopKind.WATCHPOINT, "step": StopKind.STEP,
         "interrupted": StopKind.INTERRUPTED, "catch": StopKind.CATCH, "fault": StopKind.FAULT,
         "reset": StopKind.FAULT}

_CORE_NAMES = tuple(f"r{n}" for n in range(13)) + ("sp", "lr", "pc", "cpsr")
_CORE_IDS = [getattr(A, f"UC_ARM_REG_R{n}") for n in range(13)] + [A.UC_ARM_REG_SP, A.UC_ARM_REG_LR]


class MachineTarget:
    """DebugTarget over a :class:`Machine`; ``monitor`` is served by ``core.monitor``."""

    def __init__(self, machine: Machine, on_reset: Optional[Callable[[], None]] = None,
                 timetravel: Optional["TimeTravel"] = None) -> None:
        self.m = machine
        self.tt = timetravel
        self.step_irqs = False
        self._on_reset = on_reset
        self._lock = threading.Lock()
        from .monitor import Monitor
        self.monitor_cmds = Monitor(self)

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
        in one pass over the CPU."""
        if tuple(names) == _CORE_NAMES and self._key(world) is None:
            return self.m.cpu.regs() + [self.m.cpu.cpsr]
        return [self.read_register(n, world) for n in names]

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
    def read_memory(self, addr: int, length: int, world: Optional[int] = None,
                    space: Space = Space.VIRT) -> bytes:
        out = bytearray()
        pos = addr
        end = addr + length
        while pos < end:
            chunk = min(end - pos, 1024 - (pos & 1023))
            try:
                pa = self._phys(pos, world, space)
                out += self.m.read_phys(pa, chunk)
            except MemoryError as e:
                if len(out) == 0:
                    raise MemoryAccessError(pos, 0, str(e)) from None
                break
            pos += chunk
        return bytes(out)

    def write_memory(self, addr: int, data: bytes, world: Optional[int] = None,
                     space: Space = Space.VIRT) -> None:
        self._leave_past()
        pos = 0
        while pos < len(data):
            va = addr + pos
            chunk = min(len(data) - pos, 1024 - (va & 1023))
            try:
                pa = self._phys(va, world, space)
                self.m.write_phys(pa, data[pos:pos + chunk])
            except MemoryError as e:
                raise MemoryAccessError(va, pos, str(e)) from None
            pos += chunk
        self.m.uc.ctl_remove_cache(addr, addr + len(data))

    def _phys(self, addr: int, world: Optional[int], space: Space) -> int:
        if space == Space.PHYS:
            return addr
        key = self._key(world)
        return self.m.debug_translate(addr, key, space == Space.IPA)

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
            return self._event(self._step())

    def resume(self, range_start: Optional[int] = None,
               range_end: Optional[int] = None) -> StopEvent:
        with self._lock:
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
            return self.tt.reverse_step()  # type: ignore[union-attr]

    def _reverse_resume(self) -> StopEvent:
        with self._lock:
            return self.tt.reverse_continue()  # type: ignore[union-attr]

    def _leave_past(self) -> None:
        """Changing state in the past starts a new future there."""
        if self.tt is not None and self.tt.in_past:
            self.tt.branch()

    def reset(self) -> None:
        self.m.reset()
        if self._on_reset:
            self._on_reset()

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
        return self.monitor_cmds.run(command)

    @property
    def instruction_count(self) -> int:
        return self.m.icount
