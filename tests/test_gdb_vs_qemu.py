"""One scripted gdb-multiarch session, run against ``hypdbg serve`` and against QEMU's gdbstub.

The program is tests/images/gdb_session.c (C, -O0 -g, entered in Hyp mode at
0x40000000). GDB is driven through its MI interpreter (pygdbmi), the same
commands against each stub: system registers at reset, break at a symbol,
continue, set var, stepi, info registers, x/8wx, finish, a software, a
hardware and a read watchpoint, Ctrl-C in a loop, detach and reconnect,
``load``, next/step over the reloaded program and a run to PSCI SYSTEM_OFF.
What GDB reports (stop reasons, frames, values, registers, memory words) is
collected per part and must be the same for both stubs; each part is also
checked against what C, GDB or the ARM ARM says must happen.

Left out of the comparison, because GDB leaves them to the stub (GDB manual,
"Connecting" and "Packets", ``D`` and ``?``): whether the machine runs
between ``detach`` and the next ``target remote`` (QEMU resumes it, hypdbg
keeps it halted), and the signal reported on reconnecting (QEMU stops the
machine afresh, SIGTRAP; hypdbg repeats its last stop, SIGINT). Thread ids
and where exactly Ctrl-C lands inside the loop differ by nature.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from tests.imagebuild import IMAGES_DIR, QEMU, QEMU_MACHINE, RAM_BASE, REPO_DIR, symbols

GDB = shutil.which("gdb-multiarch")
GCC = shutil.which("arm-none-eabi-gcc")
pytestmark = pytest.mark.skipif(
    GDB is None or GCC is None or shutil.which(QEMU) is None
    or importlib.util.find_spec("pygdbmi") is None,
    reason="gdb-multiarch, arm-none-eabi-gcc, qemu-system-arm or pygdbmi missing")

SOURCE = IMAGES_DIR / "gdb_session.c"
CFLAGS = ("-O0", "-g", "-ffreestanding", "-nostdlib", "-marm", "-mcpu=cortex-a15",
          "-fno-zero-initialized-in-bss")
CORE_REGS = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "cpsr"]
MODE_HYP = 0x1A
# Initial values, from tests/images/gdb_session.c.
SEED = 5
WATCHED = 0x11
TABLE = [0x11111111, 0x22222222, 0x33333333, 0x44444444,
         0x55555555, 0x66666666, 0x77777777, 0x88888888]
SET_X = 10        # `set var x` inside scale
SET_WATCHED = 0x22
# cp15 registers both stubs show under the same name, compared at the reset stop.
SYSREGS = ("sctlr", "cpacr", "ttbr0", "ttbr1", "ttbcr", "dacr", "dfsr", "ifsr", "dfar", "ifar",
           "vbar", "tpidrurw", "tpidruro", "tpidrprw", "hcr", "httbr", "vtcr", "vttbr", "hifar",
           "hpfar", "hmair1", "vpidr", "vmpidr")
STUBS = ("hypdbg", "qemu")
PARTS = ("system_registers", "midr", "break", "set_var", "stepi", "registers", "memory",
         "finish", "watch_sw", "watch_hw", "rwatch", "interrupt", "reconnect", "load",
         "line_step", "exit")
STEP_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def elf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gdb_vs_qemu") / "gdb_session.elf"
    subprocess.run([GCC, *CFLAGS, "-T", str(IMAGES_DIR / "image.ld"),
                    f"-Wl,--defsym=IMAGE_BASE={RAM_BASE:#x}", "-Wl,--no-warn-rwx-segments",
                    "-o", str(out), str(SOURCE)], check=True)
    return out


# -- the two servers ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command(stub: str, elf: Path, port: int) -> List[str]:
    if stub == "qemu":
        return [QEMU, *QEMU_MACHINE, "-nographic", "-monitor", "none", "-serial", "null",
                "-S", "-gdb", f"tcp:127.0.0.1:{port}", "-kernel", str(elf)]
    return [sys.executable, "-m", "hypdbg.cli", "serve", str(elf), "--port", str(port)]


def _start_server(stub: str, elf: Path) -> Tuple[subprocess.Popen, int]:
    """Start a stub and return once it listens (the probe connection is closed at once)."""
    port = _free_port()
    proc = subprocess.Popen(_server_command(stub, elf, port), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=str(REPO_DIR))
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{stub} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{stub} never listened on {port}")


# -- GDB over MI ---------------------------------------------------------------------
class Mi:
    """gdb-multiarch under MI: commands tagged with tokens, answered as soon as GDB replies.

    Records that arrive after a command's result (``*stopped`` of a resume)
    are kept for :meth:`wait_stop`; anything left unread when the next
    command goes out is stale and dropped.
    """

    def __init__(self) -> None:
        from pygdbmi.gdbcontroller import GdbController
        self.gdb = GdbController(command=[GDB, "--nx", "--quiet", "--interpreter=mi3"],
                                 time_to_check_for_additional_output_sec=0.01)
        self.token = 100
        self.after: List[Dict[str, Any]] = []

    def _read(self, got: List[Dict[str, Any]], done: Callable[[List[Dict[str, Any]]], bool],
              timeout: float) -> List[Dict[str, Any]]:
        deadline = time.time() + timeout
        while not done(got):
            if time.time() > deadline:
                raise TimeoutError(f"GDB did not answer in {timeout:g} s; got {got}")
            got += self.gdb.get_gdb_response(timeout_sec=0.05, raise_error_on_timeout=False)
        return got

    def cmd(self, command: str, timeout: float = STEP_TIMEOUT) -> List[Dict[str, Any]]:
        """Run one MI command; the records up to its result (an error result raises)."""
        self.token += 1
        token = self.token

        def is_result(r: Dict[str, Any]) -> bool:
            return r["type"] == "result" and r.get("token") == token

        self.gdb.write(f"{token}{command}", read_response=False)
        got = self._read(self.after, lambda rs: any(is_result(r) for r in rs), timeout)
        end = next(i for i, r in enumerate(got) if is_result(r))
        self.after = got[end + 1:]
        if got[end]["message"] == "error":
            raise RuntimeError(f"{command}: {got[end]['payload']}")
        return got[:end + 1]

    def console(self, command: str) -> str:
        """A CLI command's console text."""
        recs = self.cmd(f'-interpreter-exec console "{command}"')
        return "".join(r["payload"] for r in recs if r["type"] == "console")

    def value(self, expr: str) -> str:
        return self.cmd(f'-data-evaluate-expression "{expr}"')[-1]["payload"]["value"]

    def wait_stop(self, timeout: float = STEP_TIMEOUT) -> Dict[str, Any]:
        """The payload of the first ``*stopped`` after the last command's result."""
        got = self._read(self.after, lambda rs: any(_is_stop(r) for r in rs), timeout)
        i = next(i for i, r in enumerate(got) if _is_stop(r))
        self.after = got[i + 1:]
        return got[i]["payload"]

    def run(self, command: str) -> Dict[str, Any]:
        """A resuming command and the stop it ends in."""
        self.cmd(command)
        return self.wait_stop()

    def close(self) -> None:
        self.gdb.exit()


def _is_stop(rec: Dict[str, Any]) -> bool:
    return rec["type"] == "notify" and rec["message"] == "stopped"


def _frame(stop: Dict[str, Any]) -> Dict[str, Any]:
    """What a stop says, without what differs by nature (thread ids, cores, paths)."""
    out = {k: stop[k] for k in ("reason", "signal-name", "return-value", "value", "exit-code")
           if k in stop}
    for key in ("wpt", "hw-rwpt", "hw-awpt"):
        if key in stop:
            out["wpt"] = stop[key]["exp"]
    frame = stop.get("frame", {})
    out.update({k: frame[k] for k in ("addr", "func", "line", "args") if k in frame})
    return out


_REG_LINE = re.compile(r"^(\w+)\s+(0x[0-9a-f]+)\s", re.M)
_WORDS = re.compile(r"\t(0x[0-9a-f]{8})")


def _registers(text: str) -> Dict[str, int]:
    regs = {m.group(1): int(m.group(2), 16) for m in _REG_LINE.finditer(text)}
    return {name: regs.get(name) for name in CORE_REGS}


def _all_registers(text: str) -> Dict[str, int]:
    """``info all-registers`` by lower-case name, first occurrence (QEMU names cp15 registers
    in upper case and lists some twice)."""
    regs: Dict[str, int] = {}
    for m in _REG_LINE.finditer(text):
        regs.setdefault(m.group(1).lower(), int(m.group(2), 16))
    return regs


def _words(text: str) -> List[int]:
    return [int(w, 16) for w in _WORDS.findall(text)]


def _int(text: str) -> int:
    return int(text.split()[0], 0)


# -- the session ----------------------------------------------------------------------
def run_session(stub: str, elf: Path) -> Dict[str, Any]:
    """The scripted session against one stub; observations per part.

    A part that fails records ``{"error": ...}``, and the parts after it
    are not run (each builds on the machine state the previous left).
    """
    obs: Dict[str, Any] = {}
    proc, port = _start_server(stub, elf)
    mi = Mi()
    part = "connect"
    try:
        mi.cmd("-gdb-set mi-async on")
        mi.cmd("-gdb-set architecture arm")
        mi.cmd(f"-file-exec-and-symbols {elf}")
        mi.cmd(f"-target-select remote 127.0.0.1:{port}")

        part = "system_registers"
        regs = _all_registers(mi.console("info all-registers"))
        obs[part] = {name: regs.get(name) for name in SYSREGS}
        obs["midr"] = {"midr": regs.get("midr")}

        part = "break"
        bp = mi.cmd("-break-insert scale")[-1]["payload"]["bkpt"]
        stop = mi.run("-exec-continue")
        obs[part] = dict(_frame(stop), bkpt_addr=bp["addr"])

        part = "set_var"
        mi.cmd(f"-gdb-set var x = {SET_X}")
        obs[part] = {"x": mi.value("x")}

        part = "stepi"
        obs[part] = _frame(mi.run("-exec-step-instruction"))

        part = "registers"
        obs[part] = _registers(mi.console("info registers"))

        part = "memory"
        obs[part] = _words(mi.console("x/8wx &table"))

        part = "finish"
        obs[part] = _frame(mi.run("-exec-finish"))

        part = "watch_sw"
        mi.cmd("-gdb-set can-use-hw-watchpoints 0")
        wp = mi.cmd("-break-watch table[0]")[-1]["payload"]["wpt"]["number"]
        obs[part] = _frame(mi.run("-exec-continue"))
        mi.cmd(f"-break-delete {wp}")
        mi.cmd("-gdb-set can-use-hw-watchpoints 1")

        part = "watch_hw"
        mi.cmd(f"-gdb-set var watched = {SET_WATCHED:#x}")
        wp = mi.cmd("-break-watch watched")[-1]["payload"]["wpt"]["number"]
        obs[part] = _frame(mi.run("-exec-continue"))
        mi.cmd("-break-delete")

        part = "rwatch"
        mi.cmd("-break-watch -r watched")
        obs[part] = _frame(mi.run("-exec-continue"))
        mi.cmd("-break-delete")

        part = "interrupt"
        mi.cmd("-exec-continue")
        time.sleep(0.3)
        early = [r["payload"] for r in mi.cmd("-exec-interrupt") if _is_stop(r)]
        stop = early[0] if early else mi.wait_stop()
        frame = _frame(stop)
        obs[part] = {k: frame.get(k) for k in ("reason", "signal-name", "func")}

        part = "reconnect"
        mi.cmd("-target-detach")
        mi.cmd(f"-target-select remote 127.0.0.1:{port}")
        reconnected = mi.cmd("-stack-info-frame")[-1]["payload"]["frame"]
        mi.cmd("-gdb-set var go = 1")
        mi.cmd("-break-insert reached_end")
        obs[part] = {"func": reconnected.get("func"), "then": _frame(mi.run("-exec-continue")),
                     "table": _words(mi.console("x/8wx &table"))}
        mi.cmd("-break-delete")

        part = "load"
        mi.console("load")
        pc = _int(mi.value("$pc"))
        table = _words(mi.console("x/8wx &table"))
        watched = mi.value("watched")
        mi.cmd("-break-insert scale")
        again = _frame(mi.run("-exec-continue"))
        mi.cmd("-break-delete")
        obs[part] = {"pc": pc, "table": table, "watched": watched, "again": again}

        part = "line_step"
        mi.cmd("-gdb-set var go = 1")
        obs[part] = [_frame(mi.run(c)) for c in ("-exec-next", "-exec-next", "-exec-next",
                                                  "-exec-next", "-exec-next", "-exec-next",
                                                  "-exec-next", "-exec-step")]

        part = "exit"
        obs[part] = _frame(mi.run("-exec-continue"))
    except Exception as exc:  # recorded: the comparison names the part that broke
        obs[part] = {"error": f"{type(exc).__name__}: {exc}"[:600]}
    finally:
        try:
            mi.close()
        finally:
            proc.kill()
            proc.wait()
    return obs


@pytest.fixture(scope="module")
def sessions(elf) -> Dict[str, Dict[str, Any]]:
    return {stub: run_session(stub, elf) for stub in STUBS}


@pytest.fixture(scope="module")
def syms(elf) -> Dict[str, int]:
    return symbols(elf)


def _part(sessions: Dict[str, Dict[str, Any]], part: str, stub: str) -> Any:
    got = sessions[stub].get(part)
    if got is None:
        broke = [f"{p}: {v['error']}" for p, v in sessions[stub].items()
                 if isinstance(v, dict) and "error" in v]
        pytest.fail(f"{stub}: part {part!r} was not reached ({'; '.join(broke) or 'no error'})")
    if isinstance(got, dict) and "error" in got:
        pytest.fail(f"{stub}: part {part!r} failed: {got['error']}")
    return got


def _differences(a: Any, b: Any, path: str = "") -> List[str]:
    """Every place where hypdbg's observation ``a`` differs from QEMU's ``b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    if a != b:
        show = (lambda v: f"{v:#x}") if isinstance(a, int) and isinstance(b, int) else repr
        return [f"{path or 'value'}: hypdbg {show(a)} != QEMU {show(b)}"]
    return []


@pytest.mark.parametrize("part", PARTS)
def test_same_as_qemu(sessions, part):
    """GDB sees the same thing through both stubs (QEMU is the reference)."""
    ours = _part(sessions, part, "hypdbg")
    ref = _part(sessions, part, "qemu")
    diffs = _differences(ours, ref)
    assert not diffs, f"part {part!r} differs:\n  " + "\n  ".join(diffs)


@pytest.mark.parametrize("stub", STUBS)
def test_session_meets_gdb_and_c(sessions, syms, stub):
    """Each stub's session agrees with what C, GDB and the ARM ARM say must happen."""
    s = {p: _part(sessions, p, stub) for p in PARTS}
    # At reset (ARM ARM B4.1, register descriptions): HCR is 0; VMPIDR resets to MPIDR,
    # whose bit 31 is set in the multiprocessing format.
    assert s["system_registers"]["hcr"] == 0
    assert s["system_registers"]["vmpidr"] & 0x80000000
    # GDB stops at the breakpoint it placed after scale's prologue, with x = seed.
    assert s["break"]["reason"] == "breakpoint-hit" and s["break"]["func"] == "scale"
    assert s["break"]["addr"] == s["break"]["bkpt_addr"]
    assert s["break"]["args"] == [{"name": "x", "value": str(SEED)}]
    assert s["set_var"] == {"x": str(SET_X)}
    # stepi: one A32 instruction, 4 bytes on (ARM ARM A2.3: PC advances by 4 in ARM state).
    assert s["stepi"]["reason"] == "end-stepping-range"
    assert int(s["stepi"]["addr"], 16) == int(s["break"]["addr"], 16) + 4
    regs = s["registers"]
    assert regs["pc"] == int(s["stepi"]["addr"], 16)
    # QEMU starts an ELF in Hyp mode with virtualization=on (hw/arm/boot.c); CPSR.M = 0x1a.
    assert regs["cpsr"] & 0x1F == MODE_HYP
    assert regs["sp"] is not None and regs["sp"] < 0x40100000
    assert s["memory"] == TABLE
    # finish: scale returns x * 3 + 1 with the x set by `set var`, back in main.
    assert s["finish"]["reason"] == "function-finished" and s["finish"]["func"] == "main"
    assert s["finish"]["return-value"] == str(SET_X * 3 + 1)
    # Watchpoints report the value before and after main's store (GDB manual, "Set Watchpoints").
    assert s["watch_sw"]["reason"] == "watchpoint-trigger" and s["watch_sw"]["wpt"] == "table[0]"
    assert s["watch_sw"]["value"] == {"old": str(TABLE[0]), "new": str(SET_X * 3 + 1)}
    assert s["watch_hw"]["reason"] == "watchpoint-trigger" and s["watch_hw"]["wpt"] == "watched"
    assert s["watch_hw"]["value"] == {"old": str(SET_WATCHED), "new": str(SET_X * 3 + 1 + 5)}
    # A read watchpoint fires on main's load of `watched` (table[1] = watched), value unchanged.
    assert s["rwatch"]["reason"] == "read-watchpoint-trigger"
    assert s["rwatch"]["wpt"] == "watched" and s["rwatch"]["func"] == "main"
    assert s["rwatch"]["value"] == {"value": str(SET_X * 3 + 1 + 5)}
    # Ctrl-C while spin() runs: GDB reports SIGINT (GDB manual, "Interrupts").
    assert s["interrupt"]["signal-name"] == "SIGINT" and s["interrupt"]["func"] == "spin"
    assert s["reconnect"]["func"] == "spin"
    assert s["reconnect"]["then"]["reason"] == "breakpoint-hit"
    assert s["reconnect"]["then"]["func"] == "reached_end"
    assert s["reconnect"]["table"][:2] == [SET_X * 3 + 1, SET_X * 3 + 1 + 5]
    # load: sections rewritten, PC at the ELF entry (GDB manual, "Target Commands", load).
    assert s["load"]["pc"] == syms["_start"]
    assert s["load"]["table"] == TABLE and s["load"]["watched"] == str(WATCHED)
    assert s["load"]["again"]["func"] == "scale"
    assert s["load"]["again"]["args"] == [{"name": "x", "value": str(SEED)}]
    # next steps over calls (spin() returns, go = 1), step enters reached_end (GDB manual,
    # "Continuing and Stepping").
    assert all(f["reason"] == "end-stepping-range" for f in s["line_step"])
    assert [f["func"] for f in s["line_step"][-2:]] == ["main", "reached_end"]
    # PSCI SYSTEM_OFF ends the program: GDB sees it exit with status 0 (W00).
    assert s["exit"]["reason"] == "exited-normally"
