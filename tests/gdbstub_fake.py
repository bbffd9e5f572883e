"""An in-memory DebugTarget for the stub's tests: no emulator, a toy CPU.

Registers live in dicts (one live set, one saved set per other world),
memory is two RAM regions with a hole between them, and the "CPU" knows a
handful of ARM encodings, enough to exercise every stop kind:

- ``b <label>``            branch (``b .`` = 0xEAFFFFFE spins forever)
- ``add r0, r0, #imm8``    (0xE28000ii) makes a register change visible
- ``str/ldr rT, [rN, #imm12]`` (0xE58..., 0xE59...) touch memory; a watched access
  stops *before* it happens, PC on the instruction (ARM's watchpoints are
  "non-steppable" for GDB, which steps over the access itself, as with QEMU)
- ``hvc #imm``             (0xE14000 7x) stops with CATCH
- ``svc #imm``             (0xEF......) powers off with exit code imm & 0xff
- ``udf``                  (0xE7F000F0) is a FAULT
- anything else is a no-op; a PC outside RAM is a FAULT (prefetch abort).
"""
from __future__ import annotations

import threading
from typing import Dict, List, Optional, Sequence, Set, Tuple

from hypdbg.core.debug import (MemoryAccessError, RegisterError, RegisterInfo, Space, StopEvent,
                               StopKind, WorldInfo)

CORE = "org.gnu.gdb.arm.core"
VFP = "org.gnu.gdb.arm.vfp"
HYP = "org.hypdbg.arm.hyp"

RAM0 = 0x40000000
RAM0_SIZE = 0x10000
RAM1 = 0x40020000
RAM1_SIZE = 0x1000
ENTRY = RAM0

HOST, HYPW, GUEST = 1, 2, 3

NOP = 0xE1A00000
B_SELF = 0xEAFFFFFE
UDF = 0xE7F000F0
ADD_R0_1 = 0xE2800001


def reg_infos() -> List[RegisterInfo]:
    """The register list: core (cpsr = 25 like arm-core.xml), VFP, a few hyp registers."""
    infos = [RegisterInfo(f"r{i}", 32, CORE) for i in range(13)]
    infos += [RegisterInfo("sp", 32, CORE, type="data_ptr"),
              RegisterInfo("lr", 32, CORE, type="code_ptr"),
              RegisterInfo("pc", 32, CORE, type="code_ptr"),
              RegisterInfo("cpsr", 32, CORE, regnum=25)]
    infos += [RegisterInfo(f"d{i}", 64, VFP, type="ieee_double", group="float") for i in range(32)]
    infos += [RegisterInfo("fpscr", 32, VFP, type="int", group="float")]
    infos += [RegisterInfo("sp_hyp", 32, HYP, type="data_ptr", group="system"),
              RegisterInfo("elr_hyp", 32, HYP, type="code_ptr", group="system"),
              RegisterInfo("hcr", 32, HYP, group="system"),
              RegisterInfo("vttbr", 64, HYP, type="uint64", group="system"),
              RegisterInfo("hsr", 32, HYP, group="system", writable=False)]
    return infos


class FakeTarget:
    """A DebugTarget with a toy CPU; ``max_run`` bounds a resume (then LIMIT)."""

    def __init__(self, max_run: Optional[int] = None) -> None:
        self.max_run = max_run
        self._infos = reg_infos()
        self._names = {i.name: i for i in self._infos}
        self._stop = threading.Event()
        self.options: Dict[str, object] = {}
        self.running = threading.Event()
        self.reset_count = 0
        self.reset()

    # --- state ---------------------------------------------------------------

    def reset(self) -> None:
        self.reset_count += 1
        self.mem: Dict[int, bytearray] = {RAM0: bytearray(RAM0_SIZE), RAM1: bytearray(RAM1_SIZE)}
        self.phys_extra = bytearray(0x100)  # only reachable with Space.PHYS at 0x1000
        self.regs: Dict[str, int] = {n: 0 for n in self._names}
        self.regs.update(pc=ENTRY, sp=RAM0 + RAM0_SIZE, cpsr=0x1DA, hsr=0x4A000012,
                         vttbr=0x0001000040004000)
        self.saved: Dict[int, Dict[str, int]] = {
            HOST: {"pc": 0x40001000, "sp": 0x4000F000, "cpsr": 0x1D3, "r0": 0x11},
            GUEST: {"pc": 0x80000000, "sp": 0x80100000, "cpsr": 0x1D3, "r0": 0x33},
        }
        self.world = HYPW
        self.breakpoints: Set[int] = set()
        self.watchpoints: Set[Tuple[int, int, str]] = set()
        self.count = 0
        self._stop.clear()

    def load(self, addr: int, words: Sequence[int]) -> None:
        """Place instruction words in RAM."""
        self.write_memory(addr, b"".join(w.to_bytes(4, "little") for w in words))

    # --- registers ------------------------------------------------------------

    def registers(self) -> Sequence[RegisterInfo]:
        return list(self._infos)

    def read_register(self, name: str, world: Optional[int] = None) -> int:
        if name not in self._names:
            raise RegisterError(f"no register {name}")
        if world is None or world == self.world:
            return self.regs[name]
        ctx = self.saved.get(world)
        if ctx is None or name not in ctx:
            raise RegisterError(f"{name} not saved for world {world}")
        return ctx[name]

    def write_register(self, name: str, value: int, world: Optional[int] = None) -> None:
        info = self._names.get(name)
        if info is None or not info.writable:
            raise RegisterError(f"cannot write {name}")
        if world is not None and world != self.world:
            raise RegisterError("only the live world is writable")
        self.regs[name] = value & ((1 << info.bitsize) - 1)

    # --- memory -----------------------------------------------------------------

    def _region(self, addr: int, space: Space) -> Tuple[Optional[bytearray], int]:
        if space is Space.PHYS and 0x1000 <= addr < 0x1100:
            return self.phys_extra, addr - 0x1000
        for base, buf in self.mem.items():
            if base <= addr < base + len(buf):
                return buf, addr - base
        return None, 0

    def read_memory(self, addr: int, length: int, world: Optional[int] = None,
                    space: Space = Space.VIRT) -> bytes:
        out = bytearray()
        while len(out) < length:
            buf, off = self._region(addr + len(out), space)
            if buf is None:
                raise MemoryAccessError(addr + len(out), len(out), "unmapped")
            out += buf[off:off + length - len(out)]
        return bytes(out)

    def write_memory(self, addr: int, data: bytes, world: Optional[int] = None,
                     space: Space = Space.VIRT) -> None:
        done = 0
        while done < len(data):
            buf, off = self._region(addr + done, space)
            if buf is None:
                raise MemoryAccessError(addr + done, done, "unmapped")
            chunk = data[done:done + len(buf) - off]
            buf[off:off + len(chunk)] = chunk
            done += len(chunk)

    # --- breakpoints ---------------------------------------------------------

    def insert_breakpoint(self, addr: int) -> None:
        self.breakpoints.add(addr)

    def remove_breakpoint(self, addr: int) -> None:
        self.breakpoints.discard(addr)

    def insert_watchpoint(self, addr: int, length: int, kind: str) -> None:
        if kind not in ("watch", "rwatch", "awatch"):
            raise ValueError(kind)
        self.watchpoints.add((addr, length, kind))

    def remove_watchpoint(self, addr: int, length: int, kind: str) -> None:
        self.watchpoints.discard((addr, length, kind))

    # --- execution -------------------------------------------------------------

    def _event(self, kind: StopKind, **kw: object) -> StopEvent:
        return StopEvent(kind=kind, pc=self.regs["pc"], world=self.world,
                         **kw)  # type: ignore[arg-type]

    def _watch_hit(self, addr: int, write: bool) -> Optional[str]:
        for base, length, kind in self.watchpoints:
            if base <= addr < base + length:
                if kind == "awatch" or (kind == "watch") == write:
                    return kind
        return None

    def _execute(self, watch: bool = True) -> Optional[StopEvent]:
        """One instruction; a stop event if it ends the run (``watch``: check watchpoints)."""
        pc = self.regs["pc"]
        try:
            word = int.from_bytes(self.read_memory(pc, 4), "little")
        except MemoryAccessError:
            return self._event(StopKind.FAULT, message=f"prefetch abort at 0x{pc:08x}")
        self.count += 1
        nxt = (pc + 4) & 0xFFFFFFFF
        if word == UDF:
            return self._event(StopKind.FAULT, message="undefined instruction")
        if word & 0x0F000000 == 0x0A000000:
            off = word & 0xFFFFFF
            if off & 0x800000:
                off -= 1 << 24
            nxt = (pc + 8 + 4 * off) & 0xFFFFFFFF
        elif word & 0xFFFFFF00 == 0xE2800000:
            self.regs["r0"] = (self.regs["r0"] + (word & 0xFF)) & 0xFFFFFFFF
        elif word & 0xFFF00000 in (0xE5800000, 0xE5900000):
            load = bool(word & 0x00100000)
            rn, rt = (word >> 16) & 15, (word >> 12) & 15
            names = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc"]
            ea = (self.regs[names[rn]] + (word & 0xFFF)) & 0xFFFFFFFF
            kind = self._watch_hit(ea, not load) if watch else None
            if kind:
                self.count -= 1
                return self._event(StopKind.WATCHPOINT, data_addr=ea, watch_kind=kind)
            try:
                if load:
                    self.regs[names[rt]] = int.from_bytes(self.read_memory(ea, 4), "little")
                else:
                    self.write_memory(ea, self.regs[names[rt]].to_bytes(4, "little"))
            except MemoryAccessError:
                return self._event(StopKind.FAULT, message=f"data abort at 0x{ea:08x}")
            self.regs["pc"] = nxt
            return None
        elif word & 0xFFF000F0 == 0xE1400070:
            self.regs["pc"] = nxt
            imm = ((word >> 4) & 0xFFF0) | (word & 0xF)
            return self._event(StopKind.CATCH, message=f"hvc #{imm:#x} from hyp")
        elif word & 0xFF000000 == 0xEF000000:
            self.regs["pc"] = nxt
            return self._event(StopKind.POWEROFF, exit_code=word & 0xFF)
        self.regs["pc"] = nxt
        return None

    def step(self) -> StopEvent:
        return self._execute() or self._event(StopKind.STEP)

    def resume(self, range_start: Optional[int] = None,
               range_end: Optional[int] = None) -> StopEvent:
        self.running.set()
        try:
            return self._run(range_start, range_end)
        finally:
            self.running.clear()
            self._stop.clear()

    def _run(self, range_start: Optional[int], range_end: Optional[int]) -> StopEvent:
        executed = 0
        first = True
        while True:
            if self._stop.is_set():
                return self._event(StopKind.INTERRUPTED)
            pc = self.regs["pc"]
            if not first and pc in self.breakpoints:
                return self._event(StopKind.BREAKPOINT)
            if range_start is not None and not first and not range_start <= pc < range_end:
                return self._event(StopKind.STEP)
            if self.max_run is not None and executed >= self.max_run:
                return self._event(StopKind.LIMIT)
            event = self._execute(watch=not first)
            first = False
            executed += 1
            if event is not None:
                return event
            if executed % 2048 == 0:
                self._stop.wait(0.0005)

    def request_stop(self) -> None:
        self._stop.set()

    # --- worlds and monitor ----------------------------------------------------

    def worlds(self) -> Sequence[WorldInfo]:
        return [WorldInfo(HOST, "host", self.world == HOST),
                WorldInfo(HYPW, "hyp", self.world == HYPW),
                WorldInfo(GUEST, "guest vmid 1", self.world == GUEST, vmid=1,
                          extra="guest vmid 1 (saved)")]

    def current_world(self) -> int:
        return self.world

    def monitor(self, command: str) -> str:
        words = command.split()
        if words == ["help"]:
            return "hyp        show hyp state\nfail       always fails\n"
        if words == ["hyp"]:
            return f"HCR=0x{self.regs['hcr']:08x} HSR=0x{self.regs['hsr']:08x}\n"
        if words and words[0] == "fail":
            raise ValueError("fail: this command always fails")
        raise ValueError(f"unknown command '{words[0] if words else ''}'; try 'monitor help'")

    def set_option(self, name: str, value: object) -> None:
        if name != "step_irq":
            raise ValueError(f"unknown option {name}")
        self.options[name] = value

    def get_option(self, name: str) -> object:
        if name not in self.options:
            raise ValueError(name)
        return self.options[name]

    @property
    def instruction_count(self) -> int:
        return self.count


class ReversibleFakeTarget(FakeTarget):
    """The fake with reverse execution: history is a list of earlier PCs."""

    def __init__(self, max_run: Optional[int] = None) -> None:
        super().__init__(max_run)
        self.history: List[int] = []

    def step(self) -> StopEvent:
        self.history.append(self.regs["pc"])
        return super().step()

    def reverse_step(self) -> StopEvent:
        if not self.history:
            return self._event(StopKind.HISTORY_END)
        self.regs["pc"] = self.history.pop()
        return self._event(StopKind.STEP)

    def reverse_resume(self) -> StopEvent:
        while self.history:
            self.regs["pc"] = self.history.pop()
            if self.regs["pc"] in self.breakpoints:
                return self._event(StopKind.BREAKPOINT)
        return self._event(StopKind.HISTORY_END)


def demo_target() -> FakeTarget:
    """The fake with the small program the GDB session tests walk through."""
    t = FakeTarget()
    t.load(ENTRY, [ADD_R0_1, NOP, ADD_R0_1, B_SELF])
    return t


if __name__ == "__main__":
    # Serve the demo over stdin/stdout: ``target remote | python tests/gdbstub_fake.py``.
    from hypdbg.gdbstub.server import serve

    serve(demo_target(), stdio=True)
