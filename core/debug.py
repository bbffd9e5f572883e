"""The debugger-facing API of the machine: the one module that ``gdbstub`` uses.

Everything a debugger needs (registers of any world, side-effect-free memory
access by virtual address, IPA or PA, breakpoints, watchpoints, run/step/stop,
worlds, monitor views) goes through :class:`DebugTarget`. ``gdbstub`` never
touches unicorn or the machine's internals; tests can stand a fake behind the
same protocol.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence


class StopKind(enum.Enum):
    """Why the machine stopped: a closed set, mapped to stop replies by the stub."""

    STEP = "step"                # a single step or range step completed
    BREAKPOINT = "breakpoint"    # execution reached a breakpoint address
    WATCHPOINT = "watchpoint"    # a data access hit a watchpoint
    INTERRUPTED = "interrupted"  # request_stop() (GDB's Ctrl-C)
    CATCH = "catch"              # a hyp catchpoint fired (see message)
    POWEROFF = "poweroff"        # PSCI SYSTEM_OFF: the program ended
    FAULT = "fault"              # the machine cannot go on (see message)
    LIMIT = "limit"              # an instruction budget ran out
    HISTORY_END = "history_end"  # reverse execution reached the start of history


class Space(enum.Enum):
    """Which address space a debugger memory access names."""

    VIRT = "virt"  # the world's virtual addresses (stage 1, then stage 2 for a guest)
    IPA = "ipa"    # a guest's intermediate physical addresses (stage 2 only)
    PHYS = "phys"  # physical addresses


@dataclass(frozen=True)
class StopEvent:
    """One stop of the machine, as the debugger reports it."""

    kind: StopKind
    pc: int
    world: int                       # thread id of the world the CPU is in
    data_addr: Optional[int] = None  # WATCHPOINT: the data address accessed
    watch_kind: Optional[str] = None  # WATCHPOINT: "watch", "rwatch" or "awatch"
    message: str = ""                # CATCH/FAULT: human-readable reason
    exit_code: Optional[int] = None  # POWEROFF: exit status


@dataclass(frozen=True)
class RegisterInfo:
    """One register as the debugger sees it (order = GDB register numbering)."""

    name: str
    bitsize: int
    feature: str          # e.g. "org.gnu.gdb.arm.core", "org.gnu.gdb.arm.vfp", "org.hypdbg.arm.hyp"
    type: str = "uint32"  # GDB type: "uint32", "uint64", "code_ptr", "data_ptr", "ieee_double", "int"
    group: str = "general"
    writable: bool = True
    regnum: Optional[int] = None  # explicit GDB number where the feature fixes it (cpsr = 25)


@dataclass(frozen=True)
class WorldInfo:
    """A world the machine has seen: the host, the hypervisor, or a guest by VMID."""

    tid: int         # GDB thread id (1 = host, 2 = hypervisor, 3.. = guests)
    name: str        # "host", "hyp", "guest vmid 1"
    live: bool       # True if the CPU is in this world now
    vmid: Optional[int] = None
    extra: str = ""  # qThreadExtraInfo text


class MemoryAccessError(Exception):
    """A debugger access touched memory it cannot read or write.

    ``done`` is how many bytes from the start succeeded, so a reader can
    return partial data as GDB allows.
    """

    def __init__(self, addr: int, done: int, reason: str) -> None:
        super().__init__(f"cannot access memory at 0x{addr:08x}: {reason}")
        self.addr = addr
        self.done = done
        self.reason = reason


class RegisterError(Exception):
    """An unknown register, or a write to a register that is read-only here."""


class DebugTarget(Protocol):
    """What the GDB stub (and any other front end) may ask of the machine."""

    def registers(self) -> Sequence[RegisterInfo]:
        """Every register, in GDB numbering order (stable for a session)."""

    def read_register(self, name: str, world: Optional[int] = None) -> int:
        """A register of the current world, or the last saved context of ``world``."""

    def write_register(self, name: str, value: int, world: Optional[int] = None) -> None:
        """Write a register of the live world; other worlds are read-only (RegisterError)."""

    def read_memory(self, addr: int, length: int, world: Optional[int] = None,
                    space: Space = Space.VIRT) -> bytes:
        """Side-effect-free read; raises MemoryAccessError (with ``done``) on a hole."""

    def write_memory(self, addr: int, data: bytes, world: Optional[int] = None,
                     space: Space = Space.VIRT) -> None:
        """Debugger write (also to read-only guest mappings); MemoryAccessError on a hole."""

    def insert_breakpoint(self, addr: int) -> None: ...
    def remove_breakpoint(self, addr: int) -> None: ...

    def insert_watchpoint(self, addr: int, length: int, kind: str) -> None:
        """``kind`` is "watch" (write), "rwatch" (read) or "awatch" (either)."""

    def remove_watchpoint(self, addr: int, length: int, kind: str) -> None: ...

    def step(self) -> StopEvent:
        """Execute one instruction (interrupts masked unless the step option says otherwise)."""

    def resume(self, range_start: Optional[int] = None,
               range_end: Optional[int] = None) -> StopEvent:
        """Run until a stop; with a range, step while PC stays in [start, end).

        Blocks the calling thread; ``request_stop`` from another thread ends it.
        """

    def request_stop(self) -> None:
        """Thread-safe: make a running ``resume`` return INTERRUPTED soon."""

    def reset(self) -> None:
        """Reload the image and return to the reset state."""

    def worlds(self) -> Sequence[WorldInfo]: ...

    def current_world(self) -> int: ...

    def monitor(self, command: str) -> str:
        """Run a ``monitor`` command; returns its output (raises ValueError on bad input)."""

    @property
    def instruction_count(self) -> int: ...
