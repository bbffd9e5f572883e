"""QEMU virt's board around the machine: GICv2 with its virtualization interface,
generic timers on virtual time, and the PL011 UART, wired as virt wires them
(UART on SPI 1 = INTID 33, timers on PPIs 30/27/26, maintenance on PPI 25)."""
from __future__ import annotations

import os
import socket
import sys
import threading
from dataclasses import dataclass
from collections import deque
from typing import BinaryIO, List, Optional

from .gic import GicCpuInterface, GicDistributor, GicState
from .loader import Image, load_image
from .machine import Machine, MachineError, Stop
from .pl011 import Pl011
from .record import UartInput
from .timer import INSNS_PER_TICK, GenericTimer
from .vgic import GicHypInterface, GicVirtualCpuInterface, VirtualInterface

UART_INTID = 33


class BoardError(Exception):
    """The board cannot be built (one-line message)."""


@dataclass
class Board:
    machine: Machine
    gic: GicState
    uart: Pl011
    timer: GenericTimer
    console: "ConsoleTail" = None  # type: ignore[assignment]

    def run(self, max_insns: Optional[int] = None) -> Stop:
        return self.machine.run(max_insns=max_insns)


def build_board(image_path: str, ram_mb: int = 256, load_addr: Optional[int] = None,
                reset_mode: str = "hyp", deterministic: bool = True, serial: str = "stdio",
                uart_out: Optional[BinaryIO] = None, image: Optional[Image] = None) -> Board:
    """Load the image (or take a prepared one, e.g. a Linux boot plan's) and build the
    machine with QEMU virt's devices."""
    if ram_mb <= 0 or ram_mb > 3072:
        raise BoardError(f"-m {ram_mb}: RAM size must be 1..3072 MiB")
    if image is None:
        image = load_image(image_path, load_addr)
    try:
        machine = Machine(image, ram_mb=ram_mb, reset_mode=reset_mode, deterministic=deterministic)
    except MachineError as e:
        raise BoardError(str(e)) from None
    out = uart_out if uart_out is not None else sys.stdout.buffer
    gic = GicState()
    vif = VirtualInterface(gic)
    timer = GenericTimer(lambda: machine.vtime // INSNS_PER_TICK, gic.set_level)

    console = ConsoleTail()

    def tx(byte: int) -> None:
        out.write(bytes((byte,)))
        out.flush()
        console.add(byte)

    uart = Pl011(on_tx=tx, irq=lambda level: gic.set_level(UART_INTID, level))
    for dev in (GicDistributor(gic), GicCpuInterface(gic), GicHypInterface(vif),
                GicVirtualCpuInterface(vif), uart):
        machine.add_device(dev)
    machine.gic = gic
    machine.timer = timer
    gic.on_change = machine.interrupt_lines_changed
    board = Board(machine, gic, uart, timer, console)
    if uart_out is None or serial != "stdio":
        connect_serial(board, serial)
    return board


class ConsoleTail:
    """The last lines the UART printed, to explain a stop (a panic, a hang) in one place."""

    def __init__(self, keep: int = 5) -> None:
        self.lines: deque = deque(maxlen=keep)
        self._line = bytearray()

    def add(self, byte: int) -> None:
        if byte == 0x0A:
            self.lines.append(self._line.decode(errors="replace").rstrip("\r"))
            self._line.clear()
        elif len(self._line) < 512:
            self._line.append(byte)

    def tail(self) -> List[str]:
        partial = self._line.decode(errors="replace").rstrip("\r")
        return list(self.lines) + ([partial] if partial.strip() else [])


def connect_serial(board: Board, serial: str) -> None:
    """Feed the UART from ``stdio`` (standard input), ``tcp:PORT`` or ``none``. Separate
    from building so that a recorder can attach before the first byte arrives."""
    if serial.startswith("tcp:"):
        _serve_serial_tcp(board.uart, serial[4:], board.machine)
    elif serial == "stdio":
        _read_stdin(board.uart, board.machine)
    elif serial != "none":
        raise BoardError(f"--serial {serial}: expected stdio, none or tcp:PORT")


def _read_stdin(uart: Pl011, machine: Machine) -> None:
    """Feed standard input to the UART (a daemon thread; input lands between slices)."""
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError, AttributeError):
        return

    def pump() -> None:
        try:
            while True:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                machine.post_input(UartInput("uart", uart, data))
        finally:
            machine.input_closed()

    machine.input_sources += 1
    threading.Thread(target=pump, daemon=True).start()


def _serve_serial_tcp(uart: Pl011, port_text: str, machine: Machine) -> None:
    try:
        port = int(port_text)
    except ValueError:
        raise BoardError(f"--serial tcp:{port_text}: not a port number") from None
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind(("127.0.0.1", port))
    except OSError as e:
        raise BoardError(f"--serial tcp:{port}: {e.strerror}") from None
    srv.listen(1)

    def pump() -> None:
        try:
            conn, _ = srv.accept()
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                machine.post_input(UartInput("uart", uart, data))
        finally:
            machine.input_closed()

    machine.input_sources += 1
    threading.Thread(target=pump, daemon=True).start()
