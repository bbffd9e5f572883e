"""PL011 UART (ARM DDI 0183) at 0x09000000, interrupt SPI 1 (INTID 33), as on QEMU virt.

Transmission is instantaneous: a DR write hands the byte to ``on_tx`` at once,
so the transmit FIFO is always empty (FR.TXFE=1, TXFF=0, BUSY=0) and each write
is a pass through the transmit trigger level, which sets TXRIS (DDI 0183
3.4.2: the transmit interrupt fires on the transition through the level).
Received bytes come from ``feed``; they wait in an unbounded backlog and enter
the receive FIFO (16 entries with LCR_H.FEN, one holding register without) as
it drains, so input is never lost and RXFF means what the TRM says.

Choices, as QEMU 7.2 makes them: the receive interrupt is raised as soon as one
character is in the FIFO, whatever IFLS says, and the receive timeout (RT) is
never raised (virtual time has no character periods); with a trigger above one
character Linux, which reads only on interrupts, would strand input below the
level. Data is transmitted and received whatever CR.UARTEN/TXE/RXE say.

Where this model departs from QEMU 7.2: toggling LCR_H.FEN puts the FIFO's
bytes back at the head of the backlog instead of discarding them; an ICR write
never empties the FIFO; and RXRIS, once cleared by ICR while characters remain,
is set again by the next character received or read with some left behind
(QEMU sets it only when the FIFO goes from empty to one character). Accesses narrower than a word read the byte lanes
of the register; sub-word writes take effect only at the register's own offset.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Deque, Optional

PL011_BASE = 0x09000000
PL011_SIZE = 0x1000
PL011_SPI = 1
PL011_INTID = 32 + PL011_SPI
FIFO_DEPTH = 16

FR_BUSY = 1 << 3
FR_RXFE = 1 << 4
FR_TXFF = 1 << 5
FR_RXFF = 1 << 6
FR_TXFE = 1 << 7

INT_RX = 1 << 4
INT_TX = 1 << 5
INT_RT = 1 << 6
INT_MASK = 0x7FF

LCR_H_FEN = 1 << 4
CR_RESET = 0x300            # TXE | RXE
IFLS_RESET = 0x12           # both trigger levels at half full

#: PeriphID0-3 and PCellID0-3, one byte per word at 0xFE0..0xFFC.
ID_BYTES = (0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1)

DR, RSR, FR, ILPR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR, DMACR = (
    0x000, 0x004, 0x018, 0x020, 0x024, 0x028, 0x02C, 0x030, 0x034, 0x038, 0x03C,
    0x040, 0x044, 0x048)

_RW_MASKS = {ILPR: 0xFF, IBRD: 0xFFFF, FBRD: 0x3F, LCR_H: 0xFF, CR: 0xFF87,
             IFLS: 0x3F, DMACR: 0x7}


class Pl011:
    """One PL011 with its level interrupt output."""

    name = "pl011"

    def __init__(self, on_tx: Optional[Callable[[int], None]] = None,
                 irq: Optional[Callable[[bool], None]] = None,
                 base: int = PL011_BASE, size: int = PL011_SIZE) -> None:
        self.base = base
        self.size = size
        #: Receives each transmitted byte.
        self.on_tx = on_tx
        #: Receives the interrupt level (MIS != 0) whenever it changes.
        self.irq = irq
        self.backlog: Deque[int] = deque()
        self.reset()

    def reset(self) -> None:
        """Reset values from DDI 0183 (CR = 0x300, IFLS = 0x12, FIFOs empty)."""
        self.regs = {ILPR: 0, IBRD: 0, FBRD: 0, LCR_H: 0, CR: CR_RESET,
                     IFLS: IFLS_RESET, DMACR: 0}
        self.fifo: Deque[int] = deque()
        self.imsc = 0
        self.ris = 0
        self._level = False
        self._update()

    # -- host side ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes arriving on the serial line."""
        self.backlog.extend(data)
        self._fill()

    @property
    def fifo_depth(self) -> int:
        """Receive capacity: the FIFO with LCR_H.FEN, else the one-character holding register."""
        return FIFO_DEPTH if self.regs[LCR_H] & LCR_H_FEN else 1

    def _fill(self) -> None:
        while self.backlog and len(self.fifo) < self.fifo_depth:
            self.fifo.append(self.backlog.popleft())
        if self.fifo:
            self.ris |= INT_RX
        self._update()

    def _update(self) -> None:
        level = bool(self.ris & self.imsc)
        if level != self._level:
            self._level = level
            if self.irq is not None:
                self.irq(level)

    def irq_level(self) -> bool:
        """Current level of the interrupt output (UARTINTR)."""
        return self._level

    # -- registers ------------------------------------------------------------

    def _flags(self) -> int:
        flags = FR_TXFE
        if not self.fifo:
            flags |= FR_RXFE
        if len(self.fifo) >= self.fifo_depth:
            flags |= FR_RXFF
        return flags

    def _register(self, offset: int) -> int:
        if offset == DR:
            return self.fifo[0] if self.fifo else 0
        if offset == FR:
            return self._flags()
        if offset == IMSC:
            return self.imsc
        if offset == RIS:
            return self.ris
        if offset == MIS:
            return self.ris & self.imsc
        if offset in self.regs:
            return self.regs[offset]
        if 0xFE0 <= offset < 0x1000:
            return ID_BYTES[(offset - 0xFE0) >> 2]
        return 0          # RSR (no errors are ever recorded), ICR (WO), reserved

    def peek(self, offset: int, size: int) -> int:
        """The value a read would return, without popping the receive FIFO."""
        if size not in (1, 2, 4) or offset % size:
            return 0
        lane = offset & 3
        return self._register(offset - lane) >> (8 * lane) & ((1 << (8 * size)) - 1)

    def read(self, offset: int, size: int) -> int:
        """A guest read; reading DR takes the character from the receive FIFO."""
        value = self.peek(offset, size)
        if offset == DR and size in (1, 2, 4) and self.fifo:
            self.fifo.popleft()
            if not self.fifo:
                self.ris &= ~INT_RX
            self._fill()
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        """A guest write; a write at a byte lane other than 0 is ignored."""
        if size not in (1, 2, 4) or offset & 3:
            return
        value &= (1 << (8 * size)) - 1
        if offset == DR:
            if self.on_tx is not None:
                self.on_tx(value & 0xFF)
            self.ris |= INT_TX
        elif offset == IMSC:
            self.imsc = value & INT_MASK
        elif offset == ICR:
            self.ris &= ~(value & INT_MASK)
        elif offset == LCR_H:
            if (self.regs[LCR_H] ^ value) & LCR_H_FEN:
                self.backlog.extendleft(reversed(self.fifo))
                self.fifo.clear()
                self.ris &= ~INT_RX
            self.regs[LCR_H] = value & _RW_MASKS[LCR_H]
            self._fill()
        elif offset in self.regs:
            self.regs[offset] = value & _RW_MASKS[offset]
        self._update()
