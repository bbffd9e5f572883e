"""The contract between the machine and its memory-mapped devices.

Devices are plain Python objects; the machine maps each one with unicorn's
``mmio_map`` and forwards guest accesses. ``peek`` exists so the debugger can
show a register without the side effects of a real read (an IAR read
acknowledges an interrupt, a DR read pops the UART FIFO).
"""
from __future__ import annotations

from typing import Protocol


class MmioDevice(Protocol):
    """A device occupying ``[base, base + size)`` of the physical address space."""

    name: str
    base: int
    size: int

    def read(self, offset: int, size: int) -> int:
        """A guest read of ``size`` bytes (1, 2 or 4) at ``offset``; may have side effects."""

    def write(self, offset: int, size: int, value: int) -> None:
        """A guest write of ``size`` bytes at ``offset``."""

    def peek(self, offset: int, size: int) -> int:
        """The value a read would return, without side effects (debugger view)."""
