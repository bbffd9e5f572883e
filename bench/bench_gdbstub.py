"""GDB remote-protocol speed of ``hypdbg serve`` against QEMU's gdbstub, in the same run.

One small image (assembled here, linked at 0x40000000, entered in Hyp mode)
is served by both stubs:

* hypdbg: ``python -m hypdbg.cli serve ELF --port N``;
* QEMU: ``qemu-system-arm -M virt,virtualization=on -cpu cortex-a15
  -nographic -S -gdb tcp:127.0.0.1:N -kernel ELF``.

Measured with a small remote-protocol client over a loopback socket (each
stub in the best ack mode it offers: QEMU has no ``QStartNoAckMode``, so it
is driven in ack mode; hypdbg in no-ack mode, or ack mode with ``--ack``):

* launch: process start to the reply to ``?``;
* stepi: ``vCont;s`` + ``g`` round trips per second;
* breakpoint: ``vCont;c`` to a ``Z0`` breakpoint in a 4-instruction loop, hits/s;
* ``g`` reads and 4-byte ``m`` reads per second (GDB sends about 35
  small ``m`` reads after each stop of these loops, to analyse the code
  around the PC);
* memory: 1 MiB of RAM written with ``M`` and read back with ``m`` in the
  largest chunks each stub accepts (from its ``PacketSize``), KiB/s;
* MIPS while attached: a counted loop of known length, continued with no
  breakpoint in it until a breakpoint after it.

Where each process runs decides these rates more than either stub does:
a request/reply pair between processes on two CPUs costs two cross-CPU
wake-ups, which on a virtual machine dominate (measured here with QEMU:
about 14,000 ``g``/s with the client on another CPU, 58,000/s on the
same one). Left to itself the scheduler puts them on either, burst by
burst. So every pass is run in named placements, each process pinned:
``apart`` (client on one CPU, stub on another: what an idle machine's
scheduler does) and ``together`` (client and stub on one CPU: what a
busy machine's does). ``--placement free`` leaves placement to the
scheduler.

Both stubs run side by side and every raw measurement is split into bursts
that alternate between them, so that load elsewhere on the machine hits
both alike; each rate is the best burst (and the best of ``--repeat`` runs).
hypdbg runs with Python's bytecode cache (in ``bench/build/pycache``), as an
installed package does; ``--cold`` compiles every module from source instead.

Then the same stepi and breakpoint loops through gdb-multiarch (batch mode,
its Python API timing ``stepi`` and ``continue`` commands one at a time).
``--quick`` uses small counts and one run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
REPO = HERE.parent
RAM_BASE = 0x40000000
MEM_BASE = 0x40100000        # 1 MiB test window, above the image, inside both machines' RAM
MEM_SIZE = 1 << 20
GDB = "gdb-multiarch"
QEMU = "qemu-system-arm"
PC_REGNUM = 15               # GDB's arm-core.xml numbering, used by both stubs
ITERS_REGNUM = 4             # the counted loop takes its length in r4

# The loops the bench drives. ``spin`` runs forever (4 instructions a
# turn); ``counted`` runs r4 turns of 5 instructions, reaching
# ``counted_done`` (on the loop's page) after 1 + 5 * r4 instructions from
# ``counted``, and ``far_done`` (on the next page) one instruction later.
IMAGE_SOURCE = """\
        .syntax unified
        .arch armv7ve
        .arm
        .global _start, spin, bp_site, counted, counted_done, far_done
_start:
        mov     r0, #0
        mov     r1, #0
        mov     r2, #0
spin:
        add     r0, r0, #1
bp_site:
        add     r1, r1, #1
        eor     r2, r2, r0
        b       spin
counted:
        mov     r5, #0
1:      add     r5, r5, #3
        eor     r6, r6, r5
        add     r7, r7, r6, lsr #2
        subs    r4, r4, #1
        bne     1b
counted_done:
        b       far_done
        .balign 4096
far_done:
        b       far_done
"""


def counted_insns(iters: int) -> int:
    """Instructions from ``counted`` to ``counted_done`` for ``iters`` turns (see the source)."""
    return 1 + 5 * iters


@dataclass(frozen=True)
class Sizes:
    """How many of each operation one measurement does."""

    steps: int
    hits: int
    g_reads: int
    mem_bytes: int
    iters: int
    gdb_steps: int
    gdb_hits: int


FULL = Sizes(steps=5000, hits=5000, g_reads=10000, mem_bytes=MEM_SIZE, iters=30_000_000,
             gdb_steps=400, gdb_hits=400)
QUICK = Sizes(steps=1000, hits=1000, g_reads=2000, mem_bytes=MEM_SIZE, iters=8_000_000,
              gdb_steps=100, gdb_hits=100)
BURSTS = 8                   # each raw measurement, split in this many bursts per stub
PYCACHE = BUILD / "pycache"


def build_image() -> Tuple[Path, Dict[str, int]]:
    """Assemble and link the bench image (cached by its text); return (ELF, symbols)."""
    BUILD.mkdir(exist_ok=True)
    src = BUILD / "gdbloop.S"
    elf = BUILD / "gdbloop.elf"
    if not elf.exists() or not src.exists() or src.read_text() != IMAGE_SOURCE:
        src.write_text(IMAGE_SOURCE)
        obj = BUILD / "gdbloop.o"
        subprocess.run(["arm-none-eabi-as", "-o", str(obj), str(src)], check=True)
        subprocess.run(["arm-none-eabi-ld", "-Ttext=0x40000000", "-e", "_start", "-o", str(elf),
                        str(obj)], check=True)
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    return elf, syms


# -- a minimal remote-protocol client ------------------------------------------------
class RspError(RuntimeError):
    """The stub answered something the bench did not expect."""


def _frame(payload: bytes) -> bytes:
    return b"$%s#%02x" % (payload, sum(payload) & 0xFF)


def _expand_rle(data: bytes) -> bytes:
    """Undo run-length encoding (``x*N`` = x repeated N-29 more times) in a reply."""
    if b"*" not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x2A and out:
            out += out[-1:] * (data[i + 1] - 29)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


class RspClient:
    """Speaks the remote protocol over a socket, one request at a time.

    In ack mode every packet is acknowledged as GDB does: the client waits
    for the stub's ``+`` and sends its own ``+`` as soon as a reply arrives.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ack = True
        self.buf = bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise RspError("the stub closed the connection")
        self.buf += data

    def _read_ack(self) -> None:
        while not self.buf:
            self._fill()
        if self.buf[0:1] != b"+":
            raise RspError(f"expected an ack, got {bytes(self.buf[:40])!r}")
        del self.buf[0]

    def read_packet(self) -> bytes:
        """The next packet's payload (acked in ack mode)."""
        while True:
            start = self.buf.find(b"$")
            if start >= 0:
                end = self.buf.find(b"#", start)
                if end >= 0 and len(self.buf) >= end + 3:
                    payload = bytes(self.buf[start + 1:end])
                    del self.buf[:end + 3]
                    if self.ack:
                        self.sock.sendall(b"+")
                    return _expand_rle(payload)
            self._fill()

    def send(self, payload: bytes) -> None:
        """Send one packet; in ack mode wait for its ``+``."""
        self.sock.sendall(_frame(payload))
        if self.ack:
            self._read_ack()

    def request(self, payload: bytes) -> bytes:
        """Send a packet and return its reply."""
        self.send(payload)
        return self.read_packet()

    def resume(self, payload: bytes) -> bytes:
        """Send a resume packet; the stop reply, skipping ``O`` console output."""
        self.send(payload)
        while True:
            reply = self.read_packet()
            if not (reply.startswith(b"O") and reply != b"OK"):
                return reply

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _le32(value: int) -> bytes:
    return value.to_bytes(4, "little").hex().encode()


# -- the two stubs ---------------------------------------------------------------------
def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(elf: Path, port: int) -> List[str]:
    """QEMU halted at reset (``-S``) with its gdbstub on ``port``; UART and monitor off."""
    return [QEMU, "-M", "virt,virtualization=on", "-cpu", "cortex-a15", "-m", "128",
            "-nographic", "-monitor", "none", "-serial", "null",
            "-S", "-gdb", f"tcp:127.0.0.1:{port}", "-kernel", str(elf)]


def hypdbg_command(elf: Path, port: int) -> List[str]:
    """``hypdbg serve`` on ``port``."""
    return [sys.executable, "-m", "hypdbg.cli", "serve", str(elf), "--port", str(port)]


def hypdbg_env(cold: bool = False) -> Dict[str, str]:
    """hypdbg's environment: bytecode cached in ``bench/build/pycache`` unless ``cold``.

    Python caches compiled modules by default; an environment with
    PYTHONDONTWRITEBYTECODE set would otherwise make every launch compile
    every module from source (about 60 ms here), which a user does not pay.
    """
    env = dict(os.environ)
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


@dataclass
class Stub:
    """One of the two servers under test."""

    name: str
    command: Callable[[Path, int], List[str]]
    env: Optional[Dict[str, str]] = None
    warm_up: bool = False      # launch once, unmeasured, before the first measured launch


STUBS = [Stub("hypdbg", hypdbg_command, warm_up=True), Stub("qemu", qemu_command)]


@dataclass
class Placement:
    """Which CPUs the client (this process and gdb-multiarch) and the stubs run on."""

    name: str
    client_cpus: Optional[Set[int]] = None   # None: wherever the scheduler puts them
    stub_cpus: Optional[Set[int]] = None

    def pin_client(self) -> None:
        """Pin this process (the raw client) for the placement's passes."""
        os.sched_setaffinity(0, self.client_cpus or ALL_CPUS)

    def pin_stub(self) -> None:
        """Run in a stub's child before exec, so that every thread it starts inherits it."""
        if self.stub_cpus is not None:
            os.sched_setaffinity(0, self.stub_cpus)

    def pin_gdb(self) -> None:
        if self.client_cpus is not None:
            os.sched_setaffinity(0, self.client_cpus)


ALL_CPUS: Set[int] = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()


def placements(choice: str) -> List[Placement]:
    """The placements to run: ``apart`` and ``together``, or one of them, or ``free``."""
    cpus = sorted(ALL_CPUS)
    if choice == "free" or not cpus:
        return [Placement("free")]
    first, other = cpus[0], cpus[-1]
    apart = Placement("apart", {first}, {other})
    together = Placement("together", {first}, {first})
    if len(cpus) < 2:
        return [together]
    return {"apart": [apart], "together": [together], "both": [apart, together]}[choice]


@dataclass
class Attached:
    """A running stub process with a connected client."""

    proc: subprocess.Popen
    client: RspClient
    launch_s: float
    packet_size: int = 0
    features: List[str] = field(default_factory=list)


@contextmanager
def launched(stub: Stub, elf: Path, place: Placement,
             timeout: float = 30.0) -> Iterator[Attached]:
    """Start ``stub`` on ``elf``, connect, and time process start to the reply to ``?``."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(stub.command(elf, port), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(REPO),
                            env=stub.env, preexec_fn=place.pin_stub)
    client: Optional[RspClient] = None
    try:
        deadline = t0 + timeout
        while client is None:
            if proc.poll() is not None:
                raise RspError(f"{stub.name} exited: {proc.stderr.read().decode()[-400:]}")
            try:
                client = RspClient(socket.create_connection(("127.0.0.1", port), timeout=timeout))
            except OSError:
                if time.perf_counter() > deadline:
                    raise RspError(f"{stub.name} never listened on port {port}") from None
                time.sleep(0.002)
        reply = client.request(b"?")
        launch = time.perf_counter() - t0
        if not reply.startswith(b"T"):
            raise RspError(f"{stub.name}: '?' answered {reply!r}")
        yield Attached(proc, client, launch)
    finally:
        if client is not None:
            client.close()
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def negotiate(att: Attached, no_ack: bool = True) -> None:
    """qSupported, the target description, then no-ack mode if wanted and offered."""
    reply = att.client.request(b"qSupported:swbreak+;hwbreak+")
    att.features = reply.decode().split(";")
    for feat in att.features:
        if feat.startswith("PacketSize="):
            att.packet_size = int(feat.split("=")[1], 16)
    if "qXfer:features:read+" in att.features:
        # GDB reads the target description first; QEMU answers p/P only after it.
        offset = 0
        while True:
            chunk = att.client.request(b"qXfer:features:read:target.xml:%x,%x" % (offset, 0x800))
            if chunk[:1] not in (b"m", b"l"):
                raise RspError(f"target.xml read answered {chunk[:20]!r}")
            offset += len(chunk) - 1
            if chunk[:1] == b"l":
                break
    if no_ack and "QStartNoAckMode+" in att.features:
        if att.client.request(b"QStartNoAckMode") != b"OK":
            raise RspError("QStartNoAckMode refused")
        att.client.ack = False


# -- raw protocol measurements ---------------------------------------------------------
def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def measure_stepi(c: RspClient, n: int) -> float:
    """``vCont;s`` + ``g`` round trips per second."""
    t0 = time.perf_counter()
    for _ in range(n):
        reply = c.resume(b"vCont;s")
        if not reply.startswith(b"T05"):
            raise RspError(f"step answered {reply!r}")
        c.request(b"g")
    return _rate(n, time.perf_counter() - t0)


def measure_breakpoint(c: RspClient, syms: Dict[str, int], n: int) -> float:
    """Continue-to-breakpoint hits per second on the 4-instruction ``spin`` loop."""
    bp = syms["bp_site"]
    if c.request(b"Z0,%x,4" % bp) != b"OK":
        raise RspError("Z0 refused")
    t0 = time.perf_counter()
    for _ in range(n):
        reply = c.resume(b"vCont;c")
        if not reply.startswith(b"T05"):
            raise RspError(f"continue answered {reply!r}")
    dt = time.perf_counter() - t0
    pc = _read_reg(c, PC_REGNUM)
    if pc != bp:
        raise RspError(f"stopped at {pc:#x}, not at the breakpoint {bp:#x}")
    c.request(b"z0,%x,4" % bp)
    return _rate(n, dt)


def measure_g(c: RspClient, n: int) -> float:
    """``g`` packets per second."""
    t0 = time.perf_counter()
    for _ in range(n):
        c.request(b"g")
    return _rate(n, time.perf_counter() - t0)


def measure_small_reads(c: RspClient, addr: int, n: int) -> float:
    """4-byte ``m`` reads per second: most of what GDB sends after each stop."""
    t0 = time.perf_counter()
    for _ in range(n):
        if len(c.request(b"m%x,4" % addr)) != 8:
            raise RspError("4-byte m read failed")
    return _rate(n, time.perf_counter() - t0)


def chunk_sizes(packet_size: int) -> Tuple[int, int]:
    """The largest ``m`` length and ``M`` data length that fit the stub's ``PacketSize``.

    An ``m`` reply is two hex digits a byte, so at most PacketSize / 2 bytes
    (QEMU answers E22 beyond that). An ``M`` packet carries its header
    (``M40100000,800:``) and two digits a byte within PacketSize, less one
    byte that QEMU's receive buffer keeps for its terminator; rounded down to
    a multiple of 16.
    """
    read = packet_size // 2
    header = len(b"M%x,%x:" % (MEM_BASE, packet_size))
    write = ((packet_size - 1 - header) // 2) & ~15
    return read, write


def measure_memory(c: RspClient, packet_size: int, size: int,
                   base: int = MEM_BASE) -> Tuple[float, float, int, int]:
    """Write then read back ``size`` bytes at ``base``; (write KiB/s, read KiB/s, chunks)."""
    read_chunk, write_chunk = chunk_sizes(packet_size)
    pattern = bytes(((base + i) * 7 + ((base + i) >> 8)) & 0xFF for i in range(size))
    t0 = time.perf_counter()
    for off in range(0, size, write_chunk):
        data = pattern[off:off + write_chunk]
        reply = c.request(b"M%x,%x:%s" % (base + off, len(data), data.hex().encode()))
        if reply != b"OK":
            raise RspError(f"M of {len(data)} bytes answered {reply[:20]!r}")
    t_write = time.perf_counter() - t0
    got = bytearray()
    t0 = time.perf_counter()
    for off in range(0, size, read_chunk):
        n = min(read_chunk, size - off)
        reply = c.request(b"m%x,%x" % (base + off, n))
        if reply.startswith(b"E") and len(reply) == 3:
            raise RspError(f"m of {n} bytes answered {reply!r}")
        got += bytes.fromhex(reply.decode())
    t_read = time.perf_counter() - t0
    if bytes(got) != pattern:
        raise RspError("memory read back differs from what was written")
    kib = size / 1024
    return kib / t_write, kib / t_read, read_chunk, write_chunk


def measure_mips(c: RspClient, syms: Dict[str, int], iters: int, stop_at: str) -> float:
    """Continue through ``counted`` (no breakpoint inside) to a breakpoint at ``stop_at``; MIPS.

    The loop's result (r5 = 3 * iters) is checked, so a stub cannot skip it.
    """
    done = syms[stop_at]
    insns = counted_insns(iters) + (1 if stop_at == "far_done" else 0)
    for regnum, value in ((ITERS_REGNUM, iters), (PC_REGNUM, syms["counted"])):
        if c.request(b"P%x=%s" % (regnum, _le32(value))) != b"OK":
            raise RspError("P refused")
    c.request(b"Z0,%x,4" % done)
    t0 = time.perf_counter()
    reply = c.resume(b"vCont;c")
    dt = time.perf_counter() - t0
    c.request(b"z0,%x,4" % done)
    pc = _read_reg(c, PC_REGNUM)
    if not reply.startswith(b"T05") or pc != done:
        raise RspError(f"counted loop ended with {reply!r} at {pc:#x}")
    if _read_reg(c, 5) != (3 * iters) & 0xFFFFFFFF:
        raise RspError("the counted loop's result is wrong")
    return insns / dt / 1e6


def _read_reg(c: RspClient, regnum: int) -> int:
    return int.from_bytes(bytes.fromhex(c.request(b"p%x" % regnum).decode()), "little")


@dataclass
class RawResult:
    """Everything the raw client measured on one stub (best of the repeats)."""

    mode: str = ""
    packet_size: int = 0
    read_chunk: int = 0
    write_chunk: int = 0
    values: Dict[str, float] = field(default_factory=dict)

    def keep(self, key: str, value: float, lower_is_better: bool = False) -> None:
        old = self.values.get(key)
        if old is None or (value < old if lower_is_better else value > old):
            self.values[key] = value


Measure = Callable[[Attached, int], Dict[str, float]]


def raw_measures(syms: Dict[str, int], sizes: Sizes, bursts: int) -> List[Measure]:
    """The raw-protocol measurements, each one burst of its share of ``sizes``.

    A burst gets its number (0 .. bursts-1), so that memory bursts cover
    consecutive slices of the 1 MiB window.
    """
    mem_slice = sizes.mem_bytes // bursts

    def memory(att: Attached, i: int) -> Dict[str, float]:
        wr, rd, _, _ = measure_memory(att.client, att.packet_size, mem_slice,
                                      MEM_BASE + i * mem_slice)
        return {"mem_write": wr, "mem_read": rd}

    return [
        lambda att, i: {"stepi": measure_stepi(att.client, max(1, sizes.steps // bursts))},
        lambda att, i: {"bp": measure_breakpoint(att.client, syms, max(1, sizes.hits // bursts))},
        lambda att, i: {"g": measure_g(att.client, max(1, sizes.g_reads // bursts))},
        lambda att, i: {"m4": measure_small_reads(att.client, syms["spin"],
                                                  max(1, sizes.g_reads // bursts))},
        memory,
        lambda att, i: {"mips_far": measure_mips(att.client, syms, sizes.iters, "far_done")},
        lambda att, i: {"mips_near": measure_mips(att.client, syms, sizes.iters,
                                                  "counted_done")},
    ]


def run_raw(stubs: List[Stub], elf: Path, syms: Dict[str, int], sizes: Sizes,
            results: Dict[str, RawResult], place: Placement, no_ack: bool = True,
            bursts: int = BURSTS) -> None:
    """One pass of the raw-protocol measurements on all stubs at once, kept where better.

    The stubs are launched one after the other (each launch timed alone),
    then every measurement alternates bursts between them, the order
    flipping each time.
    """
    with ExitStack() as stack:
        atts: Dict[str, Attached] = {}
        for stub in stubs:
            att = stack.enter_context(launched(stub, elf, place))
            res = results[stub.name]
            res.keep("launch_ms", att.launch_s * 1e3, lower_is_better=True)
            negotiate(att, no_ack)
            res.mode = "ack" if att.client.ack else "no-ack"
            res.packet_size = att.packet_size
            res.read_chunk, res.write_chunk = chunk_sizes(att.packet_size)
            atts[stub.name] = att
        for measure in raw_measures(syms, sizes, bursts):
            for i in range(bursts):
                order = stubs if i % 2 == 0 else stubs[::-1]
                for stub in order:
                    for key, value in measure(atts[stub.name], i).items():
                        results[stub.name].keep(key, value)


def warm_up(stubs: List[Stub], elf: Path) -> None:
    """Launch the stubs that ask for it once, unmeasured (hypdbg: fills its bytecode cache)."""
    for stub in stubs:
        if stub.warm_up:
            with launched(stub, elf, Placement("free")):
                pass


# -- through gdb-multiarch -------------------------------------------------------------
GDB_SCRIPT = """\
import json, time
import gdb
gdb.execute("set architecture arm", to_string=True)
gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("file {elf}", to_string=True)
gdb.execute("target remote 127.0.0.1:{port}", to_string=True)
out = {{}}
t0 = time.perf_counter()
for _ in range({steps}):
    gdb.execute("stepi", to_string=True)
out["stepi"] = {steps} / (time.perf_counter() - t0)
gdb.execute("break *{bp:#x}", to_string=True)
t0 = time.perf_counter()
for _ in range({hits}):
    gdb.execute("continue", to_string=True)
out["bp"] = {hits} / (time.perf_counter() - t0)
out["pc"] = int(gdb.parse_and_eval("$pc"))
gdb.execute("kill", to_string=True)
print("BENCH " + json.dumps(out))
"""


def gdb_rates(stub: Stub, elf: Path, syms: Dict[str, int], sizes: Sizes,
              place: Placement) -> Dict[str, float]:
    """stepi and continue-to-breakpoint rates through gdb-multiarch, timed inside gdb."""
    port = free_port()
    proc = subprocess.Popen(stub.command(elf, port), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(REPO),
                            env=stub.env, preexec_fn=place.pin_stub)
    try:
        _wait_listening(proc, port)
        script = BUILD / f"gdb_{stub.name}.py"
        script.write_text(GDB_SCRIPT.format(elf=elf, port=port, steps=sizes.gdb_steps,
                                            hits=sizes.gdb_hits, bp=syms["bp_site"]))
        res = subprocess.run([GDB, "--nx", "--batch", "-ex", f"source {script}"],
                             capture_output=True, text=True, timeout=300,
                             preexec_fn=place.pin_gdb)
        m = re.search(r"^BENCH (.*)$", res.stdout, re.M)
        if m is None:
            raise RspError(f"gdb on {stub.name} printed no result:\n{res.stdout[-800:]}"
                           f"{res.stderr[-800:]}")
        out = json.loads(m.group(1))
        if out["pc"] != syms["bp_site"]:
            raise RspError(f"gdb on {stub.name} ended at {out['pc']:#x}, not at the breakpoint")
        return {"gdb_stepi": out["stepi"], "gdb_bp": out["bp"]}
    finally:
        proc.kill()
        proc.wait()


def _wait_listening(proc: subprocess.Popen, port: int, timeout: float = 30.0) -> None:
    """Return once something accepts connections on ``port``.

    The probe connection is closed at once; both stubs then wait for the
    next client.
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RspError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RspError(f"nothing listened on port {port}")


# -- the table ---------------------------------------------------------------------------
def fmt(x: Optional[float]) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def table(head: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(r: List[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])


ROWS = [
    ("launch_ms", "launch to first stop reply (ms, lower is better)"),
    ("stepi", "stepi round trips/s (`vCont;s` + `g`)"),
    ("bp", "continue-to-breakpoint hits/s (`vCont;c`, Z0)"),
    ("g", "`g` reads/s"),
    ("m4", "4-byte `m` reads/s"),
    ("mem_read", "memory read KiB/s (`m`)"),
    ("mem_write", "memory write KiB/s (`M`)"),
    ("mips_far", "MIPS attached, final breakpoint on another page"),
    ("mips_near", "MIPS attached, final breakpoint on the loop's page"),
    ("gdb_stepi", "gdb-multiarch `stepi` commands/s"),
    ("gdb_bp", "gdb-multiarch `continue` to breakpoint/s"),
]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small counts and one run per stub (about 6 s in all)")
    ap.add_argument("--repeat", type=int,
                    help="runs per stub, best kept (default 3, or 1 with --quick)")
    ap.add_argument("--no-gdb", action="store_true", help="skip the gdb-multiarch loops")
    ap.add_argument("--ack", action="store_true",
                    help="drive hypdbg in ack mode too, like QEMU (like-for-like protocol)")
    ap.add_argument("--cold", action="store_true",
                    help="launch hypdbg without a bytecode cache (every module compiled)")
    ap.add_argument("--placement", choices=["both", "apart", "together", "free"], default="both",
                    help="where the client and the stubs run (default: both pinned placements)")
    args = ap.parse_args(argv)
    missing = [t for t in ("arm-none-eabi-as", "arm-none-eabi-ld", QEMU)
               if shutil.which(t) is None]
    if not args.no_gdb and shutil.which(GDB) is None:
        missing.append(GDB)
    if missing:
        print(f"bench: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    sizes = QUICK if args.quick else FULL
    repeat = max(1, args.repeat if args.repeat is not None else 1 if args.quick else 3)
    elf, syms = build_image()
    stubs = [Stub(st.name, st.command, hypdbg_env(args.cold), warm_up=not args.cold)
             if st.name == "hypdbg" else st for st in STUBS]
    print("bench: warming up ...", file=sys.stderr, flush=True)
    warm_up(stubs, elf)
    tables = []
    try:
        for place in placements(args.placement):
            place.pin_client()
            results = {stub.name: RawResult() for stub in stubs}
            for run in range(repeat):
                order = stubs if run % 2 == 0 else stubs[::-1]   # which one launches first
                print(f"bench: {place.name}, run {run + 1}, raw protocol ...", file=sys.stderr,
                      flush=True)
                run_raw(order, elf, syms, sizes, results, place, no_ack=not args.ack)
                if not args.no_gdb:
                    for stub in order:
                        print(f"bench: {place.name}, run {run + 1}, gdb on {stub.name} ...",
                              file=sys.stderr, flush=True)
                        for key, value in gdb_rates(stub, elf, syms, sizes, place).items():
                            results[stub.name].keep(key, value)
            tables.append((place, results))
    finally:
        if ALL_CPUS:
            os.sched_setaffinity(0, ALL_CPUS)
    ours, qemu = tables[0][1]["hypdbg"], tables[0][1]["qemu"]
    print(f"sizes: {'quick' if args.quick else 'full'}; best of {repeat} x {BURSTS} bursts; "
          f"{sizes.steps} steps, {sizes.hits} hits, {sizes.g_reads} g and m, "
          f"{sizes.mem_bytes // 1024} KiB, counted loop {counted_insns(sizes.iters):,} "
          f"instructions; gdb: {sizes.gdb_steps} stepi, {sizes.gdb_hits} continue")
    print(f"protocol: hypdbg in {ours.mode} mode (PacketSize {ours.packet_size:#x}: "
          f"m {ours.read_chunk} B, M {ours.write_chunk} B); "
          f"QEMU in {qemu.mode} mode (no QStartNoAckMode; "
          f"PacketSize {qemu.packet_size:#x}: m {qemu.read_chunk} B, M {qemu.write_chunk} B); "
          f"hypdbg bytecode cache {'off' if args.cold else 'on'}")
    for place, results in tables:
        print()
        print(f"placement {place.name}: {describe(place)}")
        print()
        print(table(["measure", "hypdbg", "QEMU", "hypdbg/QEMU"],
                    result_rows(results["hypdbg"], results["qemu"])))
    return 0


def describe(place: Placement) -> str:
    if place.client_cpus is None:
        return "client and stubs wherever the scheduler puts them"
    cpus = ",".join(str(c) for c in sorted(place.stub_cpus or ()))
    client = ",".join(str(c) for c in sorted(place.client_cpus))
    return f"client (this process, gdb-multiarch) on CPU {client}, stubs on CPU {cpus}"


def result_rows(ours: RawResult, qemu: RawResult) -> List[List[str]]:
    rows = []
    for key, label in ROWS:
        a, b = ours.values.get(key), qemu.values.get(key)
        if a is None and b is None:
            continue
        ratio = "-" if not a or not b else f"{a / b:.2f}"
        rows.append([label, fmt(a), fmt(b), ratio])
    return rows


if __name__ == "__main__":
    sys.exit(main())
