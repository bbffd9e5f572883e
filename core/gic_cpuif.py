"""The GICv2 CPU interface rules that the physical (GICC) and virtual (GICV) interfaces share.

GICV repeats the GICC register layout and its acknowledge, priority and
signalling rules (ARM IHI 0048B 4.4 and chapter 5). What differs is where the
pending interrupts live (the distributor, or the GICH list registers), how many
priority and preemption bits there are, and what completing an interrupt
deactivates. ``CpuInterfaceCore`` holds the shared rules and leaves those
differences to hooks; ``CpuInterfaceFrame`` decodes the shared register layout
over it.
"""
from __future__ import annotations

from typing import Optional, Tuple

SPURIOUS = 1023
SPURIOUS_OTHER_GROUP = 1022
IDLE_PRIORITY = 0x100     # running priority with nothing active (RPR reads 0xFF)

# GICC_CTLR / GICV_CTLR bits (without the Security Extensions: IHI 0048B 4.4.1).
CTLR_ENABLE_GRP0 = 1 << 0
CTLR_ENABLE_GRP1 = 1 << 1
CTLR_ACK_CTL = 1 << 2
CTLR_FIQ_EN = 1 << 3
CTLR_CBPR = 1 << 4
CTLR_EOI_MODE = 1 << 9

GICC_IIDR = 0x0002043B    # ArchVersion 2, implementer ARM


class Offset:
    """Register offsets of a CPU interface frame, GICC or GICV (IHI 0048B 4.1.3, chapter 5)."""

    CTLR = 0x00
    PMR = 0x04
    BPR = 0x08
    IAR = 0x0C
    EOIR = 0x10
    RPR = 0x14
    HPPIR = 0x18
    ABPR = 0x1C
    AIAR = 0x20
    AEOIR = 0x24
    AHPPIR = 0x28
    APR0 = 0xD0
    NSAPR0 = 0xE0
    IIDR = 0xFC
    DIR = 0x1000


def word_access(offset: int, size: int) -> bool:
    """An aligned word access: the only kind the CPU interface and GICH frames honour."""
    return size == 4 and offset & 3 == 0


class CpuInterfaceCore:
    """Priority, acknowledge and signalling rules of a CPU interface, over hooks.

    A subclass names each interrupt it may signal by a key (an INTID, a list
    register index) and fills in the hooks below. It holds the interface
    registers as ``cpu_ctlr``, ``pmr``, ``bpr`` and ``abpr``, so that the rules
    and ``CpuInterfaceFrame`` read them the same way on either interface, and
    says in the class constants what it implements of them.
    """

    CTLR_MASK: int            # writable CTLR bits
    PMR_MASK: int             # the implemented priority bits
    BPR_MIN: int              # minimum BPR and ABPR values
    ABPR_MIN: int
    LEVEL_SHIFT: int          # log2 of priority values per preemption level (1: 128 levels)

    cpu_ctlr: int
    pmr: int
    bpr: int
    abpr: int

    # -- hooks ----------------------------------------------------------------

    def _pending_candidate(self) -> Optional[int]:
        """Key of the highest priority pending interrupt the interface could signal, if any."""
        raise NotImplementedError

    def _entry(self, key: int) -> Tuple[int, bool]:
        """(priority, whether Group 1) of the interrupt ``key``."""
        raise NotImplementedError

    def _active_priorities(self) -> int:
        """Active priorities of both groups, bit n = preemption level n."""
        raise NotImplementedError

    def _interrupt_id(self, key: int) -> int:
        """The IAR/HPPIR value that reports ``key``."""
        raise NotImplementedError

    def _activate(self, key: int, value: int) -> None:
        """Acknowledge ``key``, reported as ``value``: active, priority raised, outputs updated."""
        raise NotImplementedError

    def end_of_interrupt(self, value: int, alias: bool = False) -> None:
        """EOIR (or AEOIR) write; what completion deactivates differs between interfaces."""
        raise NotImplementedError

    def write_dir(self, value: int) -> None:
        """DIR write: deactivation, when CTLR.EOImode split it from the EOIR write."""
        raise NotImplementedError

    def update_outputs(self) -> None:
        """Recompute the output lines after an interface register changed."""
        raise NotImplementedError

    # -- priorities -------------------------------------------------------------

    def _group_priority(self, priority: int, group1: bool) -> int:
        """Priority bits that take part in preemption, per the applicable binary point."""
        if group1 and not self.cpu_ctlr & CTLR_CBPR:
            return priority & (0xFF << self.abpr) & 0xFF
        return priority & (0xFF << (self.bpr + 1)) & 0xFF

    def running_priority(self) -> int:
        """Group priority of the highest active priority, or IDLE_PRIORITY."""
        active = self._active_priorities()
        if not active:
            return IDLE_PRIORITY
        return ((active & -active).bit_length() - 1) << self.LEVEL_SHIFT

    def _signalled(self, priority: int, group1: bool) -> bool:
        """Above the priority mask, with its group enabled in CTLR."""
        return priority < self.pmr and bool(self.cpu_ctlr & (CTLR_ENABLE_GRP0 << group1))

    def _preempts(self, priority: int, group1: bool) -> bool:
        """Higher group priority than the running priority."""
        return self._group_priority(priority, group1) < self.running_priority()

    # -- acknowledge ------------------------------------------------------------

    def _candidate(self, alias: bool, preempt: bool) -> Tuple[Optional[int], int]:
        """The interrupt an IAR/HPPIR read (or its alias) reports, or None and the special ID."""
        key = self._pending_candidate()
        if key is None:
            return None, SPURIOUS
        priority, group1 = self._entry(key)
        if not self._signalled(priority, group1):
            return None, SPURIOUS
        if alias and not group1:
            return None, SPURIOUS
        if not alias and group1 and not self.cpu_ctlr & CTLR_ACK_CTL:
            return None, SPURIOUS_OTHER_GROUP
        if preempt and not self._preempts(priority, group1):
            return None, SPURIOUS
        return key, 0

    def acknowledge(self, alias: bool = False, dry_run: bool = False) -> int:
        """IAR (or AIAR) read: the interrupt goes pending -> active, running priority raised."""
        key, special = self._candidate(alias, preempt=True)
        if key is None:
            return special
        value = self._interrupt_id(key)
        if not dry_run:
            self._activate(key, value)
        return value

    def highest_pending_id(self, alias: bool = False) -> int:
        """HPPIR (or AHPPIR) value."""
        key, special = self._candidate(alias, preempt=False)
        return special if key is None else self._interrupt_id(key)

    # -- outputs ----------------------------------------------------------------

    def _output_lines(self) -> Tuple[bool, bool]:
        """(IRQ, FIQ): the highest priority pending interrupt, if it may preempt; Group 0
        interrupts go to FIQ when CTLR.FIQEn is set."""
        key = self._pending_candidate()
        if key is None:
            return False, False
        priority, group1 = self._entry(key)
        if not (self._signalled(priority, group1) and self._preempts(priority, group1)):
            return False, False
        if not group1 and self.cpu_ctlr & CTLR_FIQ_EN:
            return False, True
        return True, False


class CpuInterfaceFrame:
    """The CPU interface register frame over a ``CpuInterfaceCore``; word accesses only."""

    name = ""

    def __init__(self, core: CpuInterfaceCore, base: int, size: int) -> None:
        self.core = core
        self.base = base
        self.size = size

    def read(self, offset: int, size: int) -> int:
        """A guest read; IAR/AIAR acknowledge the interrupt they return."""
        return self._read(offset, size, dry_run=False)

    def peek(self, offset: int, size: int) -> int:
        """The value a read would return, without acknowledging anything."""
        return self._read(offset, size, dry_run=True)

    def _read_apr(self, offset: int) -> int:
        """The active priority register at ``offset``; 0 where the interface has none."""
        raise NotImplementedError

    def _write_apr(self, offset: int, value: int) -> bool:
        """Write the active priority register at ``offset``; False where there is none."""
        raise NotImplementedError

    def _read(self, offset: int, size: int, dry_run: bool) -> int:
        if not word_access(offset, size):
            return 0
        core = self.core
        if offset == Offset.CTLR:
            return core.cpu_ctlr
        if offset == Offset.PMR:
            return core.pmr
        if offset == Offset.BPR:
            return core.bpr
        if offset in (Offset.IAR, Offset.AIAR):
            return core.acknowledge(alias=offset == Offset.AIAR, dry_run=dry_run)
        if offset == Offset.RPR:
            return min(core.running_priority(), 0xFF)
        if offset in (Offset.HPPIR, Offset.AHPPIR):
            return core.highest_pending_id(alias=offset == Offset.AHPPIR)
        if offset == Offset.ABPR:
            return core.abpr
        if offset == Offset.IIDR:
            return GICC_IIDR
        return self._read_apr(offset)

    def write(self, offset: int, size: int, value: int) -> None:
        """A guest write; EOIR/AEOIR/DIR complete interrupts."""
        if not word_access(offset, size):
            return
        core = self.core
        value &= 0xFFFFFFFF
        if offset == Offset.CTLR:
            core.cpu_ctlr = value & core.CTLR_MASK
        elif offset == Offset.PMR:
            core.pmr = value & core.PMR_MASK
        elif offset == Offset.BPR:
            core.bpr = max(value & 7, core.BPR_MIN)
        elif offset in (Offset.EOIR, Offset.AEOIR):
            core.end_of_interrupt(value, alias=offset == Offset.AEOIR)
            return                      # end_of_interrupt updated the outputs
        elif offset == Offset.ABPR:
            core.abpr = max(value & 7, core.ABPR_MIN)
        elif offset == Offset.DIR:
            core.write_dir(value)
            return                      # so did the deactivation
        elif not self._write_apr(offset, value):
            return
        core.update_outputs()
