"""PL011 UART against the PrimeCell UART (PL011) TRM, ARM DDI 0183, chapter 3."""
from __future__ import annotations

from typing import List

import pytest

from hypdbg.core.pl011 import Pl011

DR, RSR, FR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR = (
    0x000, 0x004, 0x018, 0x024, 0x028, 0x02C, 0x030, 0x034, 0x038, 0x03C, 0x040, 0x044)
FR_BUSY, FR_RXFE, FR_TXFF, FR_RXFF, FR_TXFE = 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7
INT_RX, INT_TX = 1 << 4, 1 << 5
FEN = 1 << 4


class Uart:
    """Test harness recording transmitted bytes and interrupt level changes."""

    def __init__(self) -> None:
        self.tx = bytearray()
        self.levels: List[bool] = []
        self.dev = Pl011(on_tx=self.tx.append, irq=self.levels.append)

    def r(self, off: int) -> int:
        return self.dev.read(off, 4)

    def w(self, off: int, val: int) -> None:
        self.dev.write(off, 4, val)


@pytest.fixture
def uart() -> Uart:
    return Uart()


def test_identification_registers(uart: Uart) -> None:
    # 3.3.15-3.3.22 UARTPeriphID0-3 (part 0x011, designer ARM 0x41) and UARTPCellID0-3.
    ids = [uart.r(0xFE0 + 4 * i) for i in range(8)]
    assert ids == [0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1]
    assert (ids[1] >> 4 | (ids[2] & 0xF) << 4) == 0x41     # designer code
    assert (ids[0] | (ids[1] & 0xF) << 8) == 0x011          # part number


def test_reset_values(uart: Uart) -> None:
    # 3.3.3 UARTFR resets with TXFE and RXFE set; 3.3.8 UARTCR resets to 0x300;
    # 3.3.9 UARTIFLS resets to 0x12; 3.3.10 UARTIMSC resets to 0.
    assert uart.r(FR) == FR_TXFE | FR_RXFE
    assert uart.r(CR) == 0x300
    assert uart.r(IFLS) == 0x12
    assert uart.r(IMSC) == 0 and uart.r(MIS) == 0


def test_reserved_offsets_are_raz(uart: Uart) -> None:
    for off in (0x008, 0x010, 0x01C, 0x04C, 0x100, 0xFDC):
        uart.w(off, 0xFFFFFFFF)
        assert uart.r(off) == 0


def test_transmit_calls_back_and_fifo_stays_empty(uart: Uart) -> None:
    # 3.3.1 UARTDR write: the byte is transmitted.
    for b in b"hi\n":
        uart.w(DR, b)
    assert bytes(uart.tx) == b"hi\n"
    fr = uart.r(FR)
    assert fr & FR_TXFE and not fr & (FR_TXFF | FR_BUSY)


def test_byte_write_to_dr_transmits(uart: Uart) -> None:
    uart.dev.write(DR, 1, ord("x"))
    assert bytes(uart.tx) == b"x"


def test_receive_without_fifo_uses_one_holding_register(uart: Uart) -> None:
    # 3.3.3: with FEN = 0, RXFF is set when the receive holding register is full.
    uart.dev.feed(b"ab")
    fr = uart.r(FR)
    assert fr & FR_RXFF and not fr & FR_RXFE
    assert uart.r(DR) == ord("a")
    assert uart.r(FR) & FR_RXFF                 # 'b' moved into the register
    assert uart.r(DR) == ord("b")
    assert uart.r(FR) & FR_RXFE and not uart.r(FR) & FR_RXFF


def test_receive_fifo_holds_16_characters(uart: Uart) -> None:
    # 3.3.3 / 3.3.7: with LCR_H.FEN the receive FIFO is 16 deep; RXFF when full.
    uart.w(LCR_H, FEN | 0x60)
    data = bytes(range(0x41, 0x41 + 20))
    uart.dev.feed(data)
    assert uart.r(FR) & FR_RXFF
    got = bytes(uart.r(DR) for _ in range(15))
    assert not uart.r(FR) & FR_RXFF and not uart.r(FR) & FR_RXFE
    got += bytes(uart.r(DR) for _ in range(5))
    assert got == data
    assert uart.r(FR) & FR_RXFE


def test_peek_does_not_consume(uart: Uart) -> None:
    uart.dev.feed(b"z")
    assert uart.dev.peek(DR, 4) == ord("z")
    assert not uart.r(FR) & FR_RXFE
    assert uart.r(DR) == ord("z")


def test_receive_interrupt_is_masked_by_imsc(uart: Uart) -> None:
    # 3.3.11 UARTRIS raw status, 3.3.12 UARTMIS = RIS & IMSC; 3.4.2 with FIFOs disabled
    # the receive interrupt is asserted when one character is received.
    uart.dev.feed(b"q")
    assert uart.r(RIS) & INT_RX
    assert uart.r(MIS) == 0 and uart.levels == []
    uart.w(IMSC, INT_RX)
    assert uart.r(MIS) == INT_RX and uart.levels == [True]
    assert uart.dev.irq_level()
    uart.r(DR)                                   # reading the character clears it
    assert uart.r(RIS) & INT_RX == 0 and uart.levels == [True, False]


def test_icr_clears_raw_interrupts(uart: Uart) -> None:
    # 3.3.13 UARTICR: writing 1 clears the corresponding interrupt.
    uart.w(IMSC, INT_RX | INT_TX)
    uart.dev.feed(b"q")
    uart.w(DR, ord("x"))
    assert uart.r(MIS) == INT_RX | INT_TX
    uart.w(ICR, INT_TX)
    assert uart.r(MIS) == INT_RX
    uart.w(ICR, INT_RX)
    assert uart.r(MIS) == 0 and uart.levels[-1] is False


def test_transmit_interrupt_after_writes(uart: Uart) -> None:
    # 3.4.3: the transmit interrupt is asserted as the transmit FIFO drains through
    # the trigger level; transmission is immediate here, so every write passes it.
    assert not uart.r(RIS) & INT_TX
    uart.w(IMSC, INT_TX)
    uart.w(DR, ord("x"))
    assert uart.r(RIS) & INT_TX and uart.levels == [True]


def test_baud_rate_divisor_widths(uart: Uart) -> None:
    # 3.3.5 UARTIBRD is 16 bits; 3.3.6 UARTFBRD is 6 bits.
    uart.w(IBRD, 0xFFFFFFFF)
    uart.w(FBRD, 0xFFFFFFFF)
    assert uart.r(IBRD) == 0xFFFF and uart.r(FBRD) == 0x3F


def test_line_control_and_control_are_stored(uart: Uart) -> None:
    uart.w(LCR_H, 0x70)
    uart.w(CR, 0x301)
    assert uart.r(LCR_H) == 0x70 and uart.r(CR) == 0x301


def test_odd_sizes_never_raise(uart: Uart) -> None:
    for off in (0, 1, 2, 3, 0x19, 0xFE1):
        for size in (1, 2, 4, 8):
            uart.dev.write(off, size, 0xFF)
            assert isinstance(uart.dev.read(off, size), int)
