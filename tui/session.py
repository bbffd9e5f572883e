"""The TUI's debugging session: GDB connected to a stub, a snapshot at every stop.

All GDB traffic runs on one worker thread, so the screen never waits for GDB;
``*stopped`` records arrive on the MI reader thread and queue a refresh there.
World contexts come from the stub's threads (1 host, 2 hyp, 3.. guests) read
with ``--thread N``; hyp state and the exit log from ``monitor`` views. A stub
without the hyp registers or monitor views (QEMU's) still gets registers,
code and run control; the hyp parts stay empty.
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional

from . import commands as C
from .gdbmi import GdbMI, MIClosed, MIError, mi_quote
from .panes import thumb_state, word_lines
from .state import Snapshot, World
from .symbols import SymbolTable, load_symbols

CORE_REGS = [f"r{n}" for n in range(13)] + ["sp", "lr", "pc", "cpsr"]
BANKED_REGS = [f"{r}_{m}" for m in ("usr", "svc", "abt", "und", "irq", "fiq", "hyp")
               for r in ("sp", "lr", "spsr")]
HYP_REGS = ["hcr", "hsr", "vttbr", "vtcr", "hvbar", "elr_hyp", "spsr_hyp"]
CODE_BEFORE = 0x30
CODE_AFTER = 0x60
MAX_MESSAGES = 400


@dataclass(frozen=True)
class View:
    """One consistent picture for a redraw: the snapshot and what it is compared with."""

    snapshot: Snapshot
    previous: Dict[int, Dict[str, int]]
    previous_hyp: Dict[str, int]
    focus: Optional[int]


def _int(text: Any) -> Optional[int]:
    try:
        return int(str(text).split()[0], 0)
    except (ValueError, IndexError):
        return None


class Session:
    """GDB driven for the TUI; ``snapshot`` and ``messages`` are what the screen shows."""

    def __init__(self, target: str, elf: Optional[str] = None, gdb: Optional[str] = None,
                 on_change: Callable[[], None] = lambda: None,
                 uart: Optional[Callable[[], str]] = None, timeout: float = 10.0) -> None:
        self.target = target
        self.elf = elf
        self.on_change = on_change
        self.uart = uart
        self.timeout = timeout
        self.symbols: SymbolTable = load_symbols(elf)
        self.snapshot = Snapshot(status="connecting")
        self.previous: Dict[int, Dict[str, int]] = {}
        self.previous_hyp: Dict[str, int] = {}
        self.messages: Deque[str] = collections.deque(maxlen=MAX_MESSAGES)
        self.focus: Optional[int] = None
        self.reg_numbers: Dict[str, int] = {}
        self.monitor_help = ""
        self.connected = False
        self.wants_quit = False
        self._partial = ""
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tui-gdb")
        self.gdb = GdbMI(gdb)
        self.gdb.add_listener(self._on_record)

    # -- what the stub offers --------------------------------------------------

    @property
    def has_hyp(self) -> bool:
        """The stub has the hyp register feature (the hypdbg stub)."""
        return "hsr" in self.reg_numbers

    @property
    def has_monitor_views(self) -> bool:
        """The stub answers ``monitor exits`` / ``monitor catch``."""
        return "exits" in self.monitor_help and "catch" in self.monitor_help

    @property
    def has_translate(self) -> bool:
        """The stub lists an ``s1`` monitor command with ``translate`` in its help."""
        return any(line.split()[:1] == ["s1"] and "translate" in line for line in self.monitor_help.splitlines())

    @property
    def register_names(self) -> List[str]:
        """Every register GDB knows by name (for completion of ``set``)."""
        return sorted(self.reg_numbers)

    # -- the worker -------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any) -> "Future[Any]":
        """Run ``fn`` on the GDB worker; errors become messages; the screen is told after."""
        def job() -> Any:
            try:
                return fn(*args)
            except MIClosed as e:
                self.say(f"GDB: {e}")
            except MIError as e:
                self.say(f"error: {e}")
            except C.CommandError as e:
                self.say(str(e))
            except Exception as e:          # the TUI must stay usable whatever GDB does
                self.say(f"internal error: {type(e).__name__}: {e}")
            finally:
                self.on_change()
            return None
        return self._worker.submit(job)

    def start(self) -> "Future[Any]":
        """Connect (on the worker)."""
        return self.submit(self.connect)

    def run_line(self, line: str) -> "Future[Any]":
        """Run a command line (on the worker)."""
        return self.submit(self.execute, line)

    def message_lines(self) -> List[str]:
        """The message pane's lines (a copy: the worker keeps adding)."""
        with self._lock:
            return list(self.messages)

    def say(self, text: str) -> None:
        """Add lines to the message pane."""
        with self._lock:
            for line in text.rstrip("\n").split("\n"):
                self.messages.append(line)
        self.on_change()

    # -- connecting and refreshing ------------------------------------------------

    def connect(self) -> None:
        """Set GDB up, attach to the stub and take the first snapshot."""
        g = self.gdb
        for cmd in ("-gdb-set mi-async on", "-gdb-set confirm off", "-gdb-set architecture arm",
                    "-gdb-set print pretty off"):
            g.command(cmd, self.timeout)
        if self.elf:
            g.command(f"-file-exec-and-symbols {mi_quote(self.elf)}", self.timeout)
        self._set_status(f"connecting to {self.target}")
        g.command(f"-target-select remote {self.target}", max(self.timeout, 20.0))
        self.connected = True
        names = g.command("-data-list-register-names", self.timeout).payload.get("register-names", [])
        self.reg_numbers = {n: i for i, n in enumerate(names) if n}
        try:
            self.monitor_help = g.console("monitor help", self.timeout)
        except MIError:
            self.monitor_help = ""
        kinds = "hyp registers and monitor views" if self.has_hyp and self.has_monitor_views else \
            "no hyp registers" if not self.has_hyp else "no monitor views"
        self.say(f"connected to {self.target} ({kinds})")
        self.refresh()

    def view(self) -> View:
        """The current snapshot with its comparison data, taken together."""
        with self._lock:
            return View(self.snapshot, self.previous, self.previous_hyp, self.focus)

    def refresh(self, status: Optional[str] = None, stop: Optional[Dict[str, Any]] = None) -> None:
        """Read worlds, registers, hyp state, exit log, code and breakpoints into a new snapshot.

        ``stop`` is the ``*stopped`` record that asked for it: the status line names it.
        """
        g = self.gdb
        info = g.command("-thread-info", self.timeout).payload
        live_tid = _int(info.get("current-thread-id"))
        worlds: List[World] = []
        for t in info.get("threads", []):
            tid = _int(t.get("id"))
            if tid is None:
                continue
            regs = self._read_regs(tid, CORE_REGS + BANKED_REGS)
            name = t.get("name") or t.get("target-id", f"thread {tid}")
            worlds.append(World(tid, name, t.get("details", ""), tid == live_tid, regs))
        snap = Snapshot(worlds=worlds, live_tid=live_tid)
        if self.has_hyp and live_tid is not None:
            snap.hyp = self._read_regs(live_tid, HYP_REGS)
        if self.has_monitor_views:
            snap.exits = [line for line in self._monitor("exits 10").splitlines() if line.strip()]
            for line in self._monitor("hyp").splitlines():
                if line.startswith("last exit:"):
                    snap.last_exit = line.split(":", 1)[1].strip()
        focus = snap.world(self.focus) or snap.world(live_tid)
        if focus is not None and "pc" in focus.regs:
            snap.pc = focus.regs["pc"]
            snap.thumb = thumb_state(focus.regs.get("cpsr"))
            snap.code_base, snap.code = self._read_code(focus.tid, snap.pc)
        snap.breakpoints = self._breakpoints()
        old = self.snapshot
        snap.status = status or (self._stop_text(stop, snap) if stop is not None else old.status)
        with self._lock:
            if stop is not None:            # changes are marked against the last stop
                self.previous = {w.tid: dict(w.regs) for w in old.worlds}
                self.previous_hyp = dict(old.hyp)
            self.snapshot = snap

    def _after_stop(self, payload: Dict[str, Any]) -> None:
        """Refresh at a stop; the status says "stopped" only once the panes show the stop."""
        try:
            self.refresh(stop=payload)
        except Exception:
            self._set_status(self._stop_text(payload, self.snapshot))
            raise

    def _read_regs(self, tid: int, names: List[str]) -> Dict[str, int]:
        nums = [self.reg_numbers[n] for n in names if n in self.reg_numbers]
        if not nums:
            return {}
        by_num = {v: k for k, v in self.reg_numbers.items()}
        try:
            payload = self.gdb.command(f"-data-list-register-values --thread {tid} --frame 0 "
                                       f"--skip-unavailable x {' '.join(map(str, nums))}",
                                       self.timeout).payload
        except MIClosed:
            raise
        except MIError:
            return {}
        out: Dict[str, int] = {}
        for item in payload.get("register-values", []):
            num, value = _int(item.get("number")), _int(item.get("value"))
            if num in by_num and value is not None:
                out[by_num[num]] = value
        return out

    def _read_code(self, tid: int, pc: int) -> "tuple[int, bytes]":
        for start in (pc - CODE_BEFORE, pc):
            data = self._read_memory(tid, start, pc + CODE_AFTER - start)
            if data is not None:
                return start, data
        return pc, b""

    def _read_memory(self, tid: int, addr: int, length: int) -> Optional[bytes]:
        try:
            payload = self.gdb.command(f"-data-read-memory-bytes --thread {tid} --frame 0 "
                                       f"{addr & 0xFFFFFFFF:#x} {length}", self.timeout).payload
        except MIClosed:
            raise
        except MIError:
            return None
        blocks = payload.get("memory", [])
        if not blocks or _int(blocks[0].get("begin")) != addr & 0xFFFFFFFF:
            return None
        return bytes.fromhex(blocks[0].get("contents", ""))

    def _breakpoints(self) -> Dict[int, int]:
        try:
            table = self.gdb.command("-break-list", self.timeout).payload.get("BreakpointTable", {})
        except MIClosed:
            raise
        except MIError:
            return {}
        out: Dict[int, int] = {}
        for bp in table.get("body", []):
            addr, num = _int(bp.get("addr")), _int(bp.get("number"))
            if addr is not None and num is not None and bp.get("type") == "breakpoint":
                out[addr] = num
        return out

    def _monitor(self, text: str) -> str:
        try:
            return self.gdb.console(f"monitor {text}", self.timeout)
        except MIClosed:
            raise
        except MIError as e:
            self.say(f"monitor {text}: {e}")
            return ""

    def _set_status(self, status: str) -> None:
        self.snapshot.status = status
        self.on_change()

    # -- async records --------------------------------------------------------------

    def _on_record(self, rec: Dict[str, Any]) -> None:
        kind, message = rec.get("type"), rec.get("message")
        if kind == "notify" and message == "stopped":
            payload = rec.get("payload") or {}
            if payload.get("reason", "").startswith("exited"):
                self._set_status("the program has exited")
                return
            if self.connected:
                self.submit(self._after_stop, payload)
            else:
                self._set_status(self._stop_text(payload, self.snapshot))
        elif kind == "notify" and message == "running":
            self._set_status("running (Ctrl-C to interrupt)")
        elif kind == "notify" and message == "thread-group-exited":
            self.connected = False
            self._set_status("no target")
            self.say("the connection to the stub is gone")
        elif kind in ("console", "target", "log", "output"):
            self._stream(str(rec.get("payload") or ""))
        elif kind == "closed":
            self.connected = False
            self._set_status("GDB exited")
            self.say("GDB has exited; quit with ^D")

    def _stream(self, text: str) -> None:
        """Async text arrives in pieces (``"\\nThread "``, ``"2 ..."``): show whole lines."""
        text = self._partial + text
        *lines, self._partial = text.split("\n")
        for line in lines:
            if line.strip():
                self.say(line.rstrip())

    def _stop_text(self, payload: Dict[str, Any], snap: Snapshot) -> str:
        """``stopped (why) in WORLD at PC <sym>`` from a ``*stopped`` record."""
        reason = payload.get("reason", "stopped")
        reason = {"signal-received": payload.get("signal-name", "signal"),
                  "end-stepping-range": "step",
                  "breakpoint-hit": f"breakpoint {payload.get('bkptno', '?')}"}.get(reason, reason)
        if reason == "SIGINT":
            reason = "interrupted"
        tid = _int(payload.get("thread-id"))
        world = snap.world(tid)
        who = world.name if world is not None else f"thread {payload.get('thread-id', '?')}"
        addr = _int((payload.get("frame") or {}).get("addr"))
        where = f" at {addr:#010x}{self._sym(addr)}" if addr is not None else ""
        return f"stopped ({reason}) in {who}{where}"

    # -- commands ----------------------------------------------------------------------

    def execute(self, line: str) -> None:
        """Run one command line; its output and errors go to the message pane."""
        if not line.strip():
            return
        self.say(f"> {line.strip()}")
        cmd = C.parse(line)
        if cmd is None:
            return
        handler = getattr(self, f"_cmd_{cmd.name}")
        handler(*cmd.args)

    def _resume(self, mi: str) -> None:
        if self.gdb.running:
            raise C.CommandError("the target is running (Ctrl-C to interrupt)")
        self.gdb.command(mi, self.timeout)

    def _cmd_continue(self) -> None:
        self._resume("-exec-continue")

    def _cmd_stepi(self, count: str = "1") -> None:
        n = C.parse_number(count, "count")
        if n == 1:
            self._resume("-exec-step-instruction")
        else:
            if self.gdb.running:
                raise C.CommandError("the target is running (Ctrl-C to interrupt)")
            self.gdb.console(f"stepi {n}", self.timeout)

    def _cmd_next(self) -> None:
        self._resume("-exec-next-instruction")

    def _cmd_rstepi(self) -> None:
        self._resume("-exec-step-instruction --reverse")

    def _cmd_rcontinue(self) -> None:
        self._resume("-exec-continue --reverse")

    def _cmd_break(self, where: str) -> None:
        addr = self.resolve(where)
        bp = self.gdb.command(f"-break-insert *{addr:#x}", self.timeout).payload.get("bkpt", {})
        self.say(f"breakpoint {bp.get('number', '?')} at {addr:#010x}" + self._sym(addr))
        self._refresh_breakpoints()

    def _cmd_delete(self, where: str) -> None:
        addr = self.resolve(where)
        nums = [n for a, n in self._breakpoints().items() if a == addr]
        if not nums:
            raise C.CommandError(f"no breakpoint at {addr:#010x}")
        self.gdb.command(f"-break-delete {' '.join(map(str, nums))}", self.timeout)
        self.say(f"deleted breakpoint {', '.join(map(str, nums))} at {addr:#010x}")
        self._refresh_breakpoints()

    def _cmd_catch(self, *args: str) -> None:
        if not self.has_monitor_views:
            raise C.CommandError("this stub has no hyp catchpoints (monitor catch)")
        self.say(self.gdb.console("monitor catch " + " ".join(args), self.timeout) or "ok")

    def _cmd_x(self, where: str, count: str = "8") -> None:
        addr, n = self.resolve(where), C.parse_number(count, "count")
        tid = self._focus_tid()
        data = self._read_memory(tid, addr, 4 * n) if tid is not None else None
        if data is None or len(data) < 4 * n:
            raise C.CommandError(f"cannot read {4 * n} bytes at {addr:#010x}")
        words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, 4 * n, 4)]
        self.say("\n".join(word_lines(addr, words)))

    def _cmd_set(self, reg: str, value: str) -> None:
        name = reg.lstrip("$").lower()
        if name not in self.reg_numbers:
            raise C.CommandError(f"no register named {reg!r}")
        v = self.resolve(value)
        tid = self._focus_tid()
        thread = f"--thread {tid} --frame 0 " if tid is not None else ""
        self.gdb.command(f"-data-evaluate-expression {thread}{mi_quote(f'${name} = {v:#x}')}", self.timeout)
        self.say(f"{name} = {v:#010x}")
        self.refresh()

    def _cmd_world(self, which: Optional[str] = None) -> None:
        snap = self.snapshot
        if which is None:
            for w in snap.worlds:
                mark = "*" if w.tid == (self.focus or snap.live_tid) else " "
                self.say(f"{mark} {w.tid}: {w.details or w.name}")
            return
        if which == "live":
            self.focus = None
        else:
            tid = C.parse_number(which, "world")
            if snap.world(tid) is None:
                raise C.CommandError(f"no world {tid} (try 'world' for the list)")
            self.focus = tid
        self.say(f"focus: {'the live world' if self.focus is None else snap.world(self.focus).name}")
        self.refresh()

    def _cmd_translate(self, where: str) -> None:
        if not self.has_translate:
            raise C.CommandError("this stub has no 'monitor s1 translate'")
        addr = self.resolve(where)
        tid = self._focus_tid()
        if tid is not None and tid != self.snapshot.live_tid:
            self.gdb.command(f"-thread-select {tid}", self.timeout)
        try:
            self.say(self.gdb.console(f"monitor s1 translate {addr:#x}", self.timeout))
        finally:
            if tid is not None and tid != self.snapshot.live_tid and self.snapshot.live_tid is not None:
                self.gdb.command(f"-thread-select {self.snapshot.live_tid}", self.timeout)

    def _cmd_help(self) -> None:
        self.say("\n".join(C.help_lines()))

    def _cmd_quit(self) -> None:
        self.wants_quit = True              # the front end leaves when it sees this

    def _cmd_gdb(self, line: str) -> None:
        out = self.gdb.console(line, self.timeout)
        if out.strip():
            self.say(out)
        if not self.gdb.running and self.connected:
            self.refresh()

    # -- helpers --------------------------------------------------------------------

    def resolve(self, text: str) -> int:
        """An address from a number, an ELF symbol, or any GDB expression."""
        try:
            return int(text, 0) & 0xFFFFFFFF
        except ValueError:
            pass
        if text in self.symbols.by_name:
            return self.symbols.by_name[text]
        for expr in (f"(unsigned int)&({text})", f"(unsigned int)({text})"):
            try:
                value = _int(self.gdb.command(f"-data-evaluate-expression {mi_quote(expr)}",
                                              self.timeout).payload.get("value"))
            except MIClosed:
                raise
            except MIError:
                continue
            if value is not None:
                return value & 0xFFFFFFFF
        raise C.CommandError(f"cannot find {text!r}")

    def _sym(self, addr: int) -> str:
        s = self.symbols.describe(addr)
        return f" <{s}>" if s else ""

    def _focus_tid(self) -> Optional[int]:
        return self.focus if self.snapshot.world(self.focus) else self.snapshot.live_tid

    def _refresh_breakpoints(self) -> None:
        self.snapshot.breakpoints = self._breakpoints()

    def interrupt(self) -> None:
        """Ctrl-C: stop the running target (off the worker, which may be busy)."""
        def send() -> None:
            try:
                self.gdb.interrupt()
            except MIError as e:
                self.say(f"interrupt: {e}")
        threading.Thread(target=send, name="tui-interrupt", daemon=True).start()

    def close(self) -> None:
        """Detach GDB and stop the worker."""
        self._worker.shutdown(wait=False, cancel_futures=True)
        self.gdb.close()

