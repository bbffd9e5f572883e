"""GICv2 distributor and CPU interface for one processor, without the Security Extensions.

The machine is QEMU ``-M virt`` with ``secure=off``: one CPU interface, 288
interrupt IDs, interrupt grouping present (GICv2) but every access treated as
Secure, as ARM IHI 0048B says of a GIC without the Security Extensions. One
``GicState`` holds everything; ``GicDistributor`` and ``GicCpuInterface`` are
the two MMIO frames over it (the CPU interface rules and register layout that
the virtual interface shares are in ``gic_cpuif``). Devices drive their lines
with ``set_level``; the machine polls ``irq_line``/``fiq_line`` (and the
virtual lines once a ``vgic.VirtualInterface`` is attached) or reacts to
``on_change``.

Choices where the specification leaves room (IMPLEMENTATION DEFINED or
UNPREDICTABLE), made as QEMU 7.2 makes them unless noted:

- 8 priority bits (IPRIORITYR fully writable), minimum BPR 0, minimum ABPR 1,
  so 128 preemption levels in GICC_APR0-3 (Group 0) and GICC_NSAPR0-3 (Group 1).
- SGIs are always enabled (ISENABLER0[15:0] RAO/WI); PPI and SPI trigger modes
  are programmable; every interrupt resets to level-sensitive, priority 0, Group 0.
- Equal priorities: the lowest INTID wins.
- An EOIR write with no active priority, or of an ID >= 288, is ignored; a DIR
  write while EOImode is 0 is ignored.
- HPPIR reports the highest pending interrupt above the priority mask whether
  or not it could preempt the running priority.

Where this model departs from QEMU 7.2 (the specification is followed):

- Byte accesses are honoured only for IPRIORITYR, ITARGETSR, CPENDSGIR and
  SPENDSGIR (IHI 0048B 4.1.4); other sub-word and all unaligned accesses are
  RAZ/WI. QEMU splits any access into bytes.
- A pending interrupt whose group is disabled in GICD_CTLR is ignored when the
  highest priority pending interrupt is chosen; QEMU lets it hide lower
  priority interrupts of the enabled group.
- GICC_AIAR/AEOIR/AHPPIR are the Group 1 aliases; QEMU makes them RAZ/WI.
- GICC_CTLR keeps the bypass-disable bits [8:5] (no effect, nothing bypasses);
  QEMU makes them RAZ/WI.
- SPENDSGIR/CPENDSGIR only have the bit of the one implemented source CPU.
"""
from __future__ import annotations

from typing import Callable, Iterator, List, Optional, Tuple

from .gic_cpuif import (CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, CTLR_EOI_MODE, CpuInterfaceCore,
                        CpuInterfaceFrame, Offset)
# The CPU interface's special INTIDs, CTLR bits and IIDR are part of this module's interface.
from .gic_cpuif import (CTLR_ACK_CTL as CTLR_ACK_CTL, CTLR_CBPR as CTLR_CBPR,
                        CTLR_FIQ_EN as CTLR_FIQ_EN, GICC_IIDR as GICC_IIDR,
                        IDLE_PRIORITY as IDLE_PRIORITY, SPURIOUS as SPURIOUS,
                        SPURIOUS_OTHER_GROUP as SPURIOUS_OTHER_GROUP)

GICD_BASE = 0x08000000
GICD_SIZE = 0x10000
GICC_BASE = 0x08010000
GICC_SIZE = 0x2000

NUM_IRQS = 288            # QEMU virt: 256 SPIs + 32 private
NUM_SGIS = 16
NUM_PRIVATE = 32
MIN_BPR = 0
MIN_ABPR = 1

GICD_CTLR_MASK = 0x3
GICC_CTLR_MASK = 0x3FF    # EnableGrp0/1, AckCtl, FIQEn, CBPR, bypass disables, EOImode

GICD_IIDR = 0x0000043B    # implementer ARM (JEP106 0x43B)
# Peripheral/component ID bytes at 0xFD0..0xFFC; ICPIDR2 (0xFE8) ArchRev[7:4] = 2.
_ID_REGS = {0xFD0: 0x04, 0xFE0: 0x90, 0xFE4: 0xB4, 0xFE8: 0x2B,
            0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}

_SGI_MASK = (1 << NUM_SGIS) - 1
_APR_END = Offset.NSAPR0 + 0x10     # just past GICC_NSAPR3
_THIS_CPU = 1             # CPU interface 0: bit 0 of target lists and source masks


def _bits(value: int) -> Iterator[int]:
    """Indices of the set bits of ``value``, lowest first."""
    while value:
        low = value & -value
        yield low.bit_length() - 1
        value ^= low


def _lowest_bit(value: int) -> int:
    return (value & -value).bit_length() - 1


class GicState(CpuInterfaceCore):
    """Distributor and CPU interface state, and the interrupt outputs they drive."""

    CTLR_MASK = GICC_CTLR_MASK
    PMR_MASK = 0xFF
    BPR_MIN = MIN_BPR
    ABPR_MIN = MIN_ABPR
    LEVEL_SHIFT = 1

    def __init__(self, num_irqs: int = NUM_IRQS) -> None:
        if num_irqs % 32 or not NUM_PRIVATE <= num_irqs <= 1020:
            raise ValueError("num_irqs must be a multiple of 32 in [32, 1020]")
        self.num_irqs = num_irqs
        self.all_mask = (1 << num_irqs) - 1
        #: Called with no arguments whenever irq/fiq/virq/vfiq change level.
        self.on_change: Optional[Callable[[], None]] = None
        self.vgic: Optional["VirtualLines"] = None
        self._lines: Tuple[bool, bool, bool, bool] = (False, False, False, False)
        self.level = 0          # input line levels (PPIs, SPIs); devices own them, reset keeps them
        self.reset()

    def reset(self) -> None:
        """Architectural reset values, as QEMU chooses where they are IMPLEMENTATION DEFINED."""
        self.ctlr = 0
        self.enabled = _SGI_MASK
        self.latch = 0          # edge/software pending state
        self.edge = _SGI_MASK   # 1 = edge-triggered
        self.active = 0
        self.group = 0          # 1 = Group 1
        self.priority: List[int] = [0] * self.num_irqs
        self.sgi_sources: List[int] = [0] * NUM_SGIS
        self.cpu_ctlr = 0
        self.pmr = 0
        self.bpr = MIN_BPR
        self.abpr = MIN_ABPR
        self.apr = 0            # Group 0 active priorities, bit n = preemption level n
        self.nsapr = 0          # Group 1 active priorities
        self.refresh()

    # -- pending state ------------------------------------------------------

    @property
    def pending(self) -> int:
        """Pending bitmap: latched state, plus asserted level-sensitive lines (IHI 0048B 3.2.4)."""
        return self.latch | (self.level & ~self.edge)

    def set_level(self, intid: int, level: bool) -> None:
        """Drive the input line of a PPI or SPI (devices, timers, the maintenance interrupt)."""
        if not NUM_SGIS <= intid < self.num_irqs:
            raise ValueError(f"no input line for INTID {intid}")
        bit = 1 << intid
        if bool(self.level & bit) == bool(level):
            return
        if level:
            self.level |= bit
            if self.edge & bit:
                self.latch |= bit
        else:
            self.level &= ~bit
        if self.enabled & ~self.active & bit:
            # Disabled or active, the interrupt is not forwarded either way (``_forwarded``):
            # the outputs cannot move. A timer's line falls while its tick is being handled.
            self.refresh()

    def send_sgi(self, intid: int, source_cpu: int = 0) -> None:
        """Make SGI ``intid`` pending on this CPU interface from ``source_cpu``."""
        self.sgi_sources[intid] |= 1 << source_cpu
        self.latch |= 1 << intid
        self.refresh()

    # -- priorities ---------------------------------------------------------

    def group_priority(self, intid: int) -> int:
        """Priority bits of ``intid`` that take part in preemption."""
        return self._group_priority(self.priority[intid], bool(self.group >> intid & 1))

    def _forwarded(self) -> int:
        """Interrupts the distributor forwards: enabled, pending, not active, group enabled."""
        ctlr = self.ctlr
        if ctlr & CTLR_ENABLE_GRP0:
            groups = self.all_mask if ctlr & CTLR_ENABLE_GRP1 else self.all_mask & ~self.group
        elif ctlr & CTLR_ENABLE_GRP1:
            groups = self.group
        else:
            return 0
        return self.enabled & (self.latch | (self.level & ~self.edge)) & ~self.active & groups

    def highest_pending(self) -> Optional[int]:
        """The highest priority forwarded interrupt (lowest INTID among equals)."""
        forwarded = self._forwarded()
        if not forwarded & (forwarded - 1):             # none or one: the common cases
            return forwarded.bit_length() - 1 if forwarded else None
        best, best_prio = None, 0x100
        prio = self.priority
        for intid in _bits(forwarded):
            if prio[intid] < best_prio:
                best, best_prio = intid, prio[intid]
        return best

    # -- CPU interface hooks (keys are INTIDs) -------------------------------

    def _pending_candidate(self) -> Optional[int]:
        return self.highest_pending()

    def _entry(self, intid: int) -> Tuple[int, bool]:
        return self.priority[intid], bool(self.group >> intid & 1)

    def _active_priorities(self) -> int:
        return self.apr | self.nsapr

    def _interrupt_id(self, intid: int) -> int:
        """SGIs carry their source CPU in bits [12:10]."""
        if intid < NUM_SGIS:
            return intid | _lowest_bit(self.sgi_sources[intid]) << 10
        return intid

    def _activate(self, intid: int, value: int) -> None:
        bit = 1 << intid
        level = self.group_priority(intid) >> self.LEVEL_SHIFT
        if self.group & bit:
            self.nsapr |= 1 << level
        else:
            self.apr |= 1 << level
        self.active |= bit
        if intid < NUM_SGIS:
            self.sgi_sources[intid] &= ~(1 << (value >> 10 & 7))
            if not self.sgi_sources[intid]:
                self.latch &= ~bit
        else:
            self.latch &= ~bit
        self.refresh()

    # -- completion -----------------------------------------------------------

    def end_of_interrupt(self, value: int, alias: bool = False) -> None:
        """GICC_EOIR (or GICC_AEOIR) write: priority drop, and deactivation unless EOImode."""
        intid = value & 0x3FF
        if intid >= self.num_irqs or not (self.apr | self.nsapr):
            return
        if alias and not self.group >> intid & 1:
            return
        both = self.apr | self.nsapr
        top = both & -both
        if self.apr & top:
            self.apr &= ~top
        else:
            self.nsapr &= ~top
        if not self.cpu_ctlr & CTLR_EOI_MODE:
            self.active &= ~(1 << intid)
        self.refresh()

    def deactivate(self, intid: int) -> None:
        """Clear the active state of ``intid`` (GICC_DIR, or a guest EOI of a HW list register)."""
        if 0 <= intid < self.num_irqs:
            self.active &= ~(1 << intid)
            self.refresh()

    def write_dir(self, value: int) -> None:
        """GICC_DIR write; only meaningful with EOImode set (IHI 0048B 4.4.15)."""
        if self.cpu_ctlr & CTLR_EOI_MODE:
            self.deactivate(value & 0x3FF)

    # -- outputs ------------------------------------------------------------

    def update_outputs(self) -> None:
        """After a GICC register write."""
        self.refresh()

    def refresh(self) -> None:
        """Recompute the output lines; tell ``on_change`` if any moved."""
        irq, fiq = self._output_lines()
        vgic = self.vgic
        virq, vfiq = vgic.lines() if vgic is not None else (False, False)
        lines = (irq, fiq, virq, vfiq)
        if lines != self._lines:
            self._lines = lines
            if self.on_change is not None:
                self.on_change()

    def irq_line(self) -> bool:
        """Physical IRQ output to the CPU."""
        return self._lines[0]

    def fiq_line(self) -> bool:
        """Physical FIQ output: Group 0 interrupts when GICC_CTLR.FIQEn is set."""
        return self._lines[1]

    def virq_line(self) -> bool:
        """Virtual IRQ output from the virtual CPU interface."""
        return self._lines[2]

    def vfiq_line(self) -> bool:
        """Virtual FIQ output from the virtual CPU interface."""
        return self._lines[3]


class VirtualLines:
    """What ``GicState`` needs from an attached virtual interface."""

    def lines(self) -> Tuple[bool, bool]:
        """(VIRQ, VFIQ) levels."""
        raise NotImplementedError


def _aligned(offset: int, size: int) -> bool:
    return size in (1, 2, 4) and offset % size == 0


def _bitmap_word(bitmap: int, index: int) -> int:
    return bitmap >> (32 * index) & 0xFFFFFFFF


class GicDistributor:
    """GICD frame: global interrupt state (IHI 0048B 4.3)."""

    name = "gicd"

    def __init__(self, state: GicState, base: int = GICD_BASE, size: int = GICD_SIZE) -> None:
        self.state = state
        self.base = base
        self.size = size

    def _is_byte_register(self, offset: int) -> bool:
        nbytes = self.state.num_irqs
        return (0x400 <= offset < 0x400 + nbytes or 0x800 <= offset < 0x800 + nbytes
                or 0xF10 <= offset < 0xF30)

    def read(self, offset: int, size: int) -> int:
        """Word reads anywhere; byte reads of the byte-accessible registers; else RAZ."""
        if not _aligned(offset, size):
            return 0
        if size == 4:
            return self._read_word(offset)
        if size == 1 and self._is_byte_register(offset):
            return self._read_word(offset & ~3) >> (8 * (offset & 3)) & 0xFF
        return 0

    def peek(self, offset: int, size: int) -> int:
        """Distributor reads have no side effects."""
        return self.read(offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        """Word writes anywhere; byte writes of the byte-accessible registers; else WI."""
        if not _aligned(offset, size):
            return
        if size == 4:
            self._write_word(offset, value & 0xFFFFFFFF)
        elif size == 1 and self._is_byte_register(offset):
            self._write_byte(offset, value & 0xFF)
        else:
            return
        self.state.refresh()

    def _bitmap_register(self, offset: int) -> Optional[Tuple[int, int]]:
        """(region base, register index) for IGROUPR..ICACTIVER, None if unimplemented."""
        region = offset & ~0x7F
        index = (offset & 0x7F) >> 2
        return (region, index) if index < self.state.num_irqs // 32 else None

    def _read_word(self, offset: int) -> int:
        s = self.state
        if offset == 0x000:
            return s.ctlr
        if offset == 0x004:
            return s.num_irqs // 32 - 1          # CPUNumber 0, SecurityExtn 0
        if offset == 0x008:
            return GICD_IIDR
        if 0x080 <= offset < 0x400:
            reg = self._bitmap_register(offset)
            if reg is None:
                return 0
            region, index = reg
            bitmap = {0x080: s.group, 0x100: s.enabled, 0x180: s.enabled,
                      0x200: s.pending, 0x280: s.pending,
                      0x300: s.active, 0x380: s.active}[region]
            return _bitmap_word(bitmap, index)
        if 0x400 <= offset < 0x400 + s.num_irqs:
            first = offset - 0x400
            return sum(s.priority[first + i] << (8 * i) for i in range(4))
        if 0xC00 <= offset < 0xC00 + s.num_irqs // 4:
            first = (offset - 0xC00) * 4
            return sum(2 << (2 * i) for i in range(16) if s.edge >> (first + i) & 1)
        if 0xF10 <= offset < 0xF30:
            first = offset & 0xF
            return sum(s.sgi_sources[first + i] << (8 * i) for i in range(4))
        return _ID_REGS.get(offset, 0)

    def _write_word(self, offset: int, value: int) -> None:
        s = self.state
        if offset == 0x000:
            s.ctlr = value & GICD_CTLR_MASK
        elif 0x080 <= offset < 0x400:
            self._write_bitmap(offset, value)
        elif 0x400 <= offset < 0x400 + s.num_irqs or 0xF10 <= offset < 0xF30:
            for i in range(4):
                self._write_byte(offset + i, value >> (8 * i) & 0xFF)
        elif 0xC00 + 4 <= offset < 0xC00 + s.num_irqs // 4:
            # ICFGR0 (SGIs, always edge-triggered) is read-only; Int_config[0] is reserved.
            first = (offset - 0xC00) * 4
            for i in range(16):
                bit = 1 << (first + i)
                if value >> (2 * i + 1) & 1:
                    s.edge |= bit
                else:
                    s.edge &= ~bit
        elif offset == 0xF00:
            self._write_sgir(value)

    def _write_bitmap(self, offset: int, value: int) -> None:
        s = self.state
        reg = self._bitmap_register(offset)
        if reg is None:
            return
        region, index = reg
        bits = value << (32 * index)
        not_sgi = ~_SGI_MASK   # SGI enables are RAO/WI; SGI pending is set through SPENDSGIR
        if region == 0x080:
            s.group = (s.group & ~(0xFFFFFFFF << (32 * index))) | bits
        elif region == 0x100:
            s.enabled |= bits
        elif region == 0x180:
            s.enabled &= ~(bits & not_sgi)
        elif region == 0x200:
            s.latch |= bits & not_sgi
        elif region == 0x280:
            s.latch &= ~(bits & not_sgi)
        elif region == 0x300:
            s.active |= bits
        else:
            s.active &= ~bits

    def _write_byte(self, offset: int, value: int) -> None:
        s = self.state
        if 0x400 <= offset < 0x400 + s.num_irqs:
            s.priority[offset - 0x400] = value
        elif 0xF10 <= offset < 0xF30:
            sgi = offset & 0xF
            sources = value & _THIS_CPU
            if offset < 0xF20:
                s.sgi_sources[sgi] &= ~sources
                if not s.sgi_sources[sgi]:
                    s.latch &= ~(1 << sgi)
            elif sources:
                s.send_sgi(sgi)
        # ITARGETSR: RAZ/WI on a uniprocessor GIC (IHI 0048B 4.3.12).

    def _write_sgir(self, value: int) -> None:
        target_filter = value >> 24 & 3
        if target_filter == 0:
            hit = value >> 16 & _THIS_CPU
        else:
            hit = target_filter == 2       # 01: all but self (nobody); 11: reserved
        if hit:
            self.state.send_sgi(value & 0xF)


class GicCpuInterface(CpuInterfaceFrame):
    """GICC frame: this processor's CPU interface (IHI 0048B 4.4); word accesses only."""

    name = "gicc"

    def __init__(self, state: GicState, base: int = GICC_BASE, size: int = GICC_SIZE) -> None:
        super().__init__(state, base, size)
        self.state = state

    def _read_apr(self, offset: int) -> int:
        """GICC_APR0-3 (Group 0) and GICC_NSAPR0-3 (Group 1): 128 preemption levels each."""
        if Offset.APR0 <= offset < _APR_END:
            s = self.state
            apr = s.apr if offset < Offset.NSAPR0 else s.nsapr
            return _bitmap_word(apr, (offset >> 2) & 3)
        return 0

    def _write_apr(self, offset: int, value: int) -> bool:
        if not Offset.APR0 <= offset < _APR_END:
            return False
        s = self.state
        word = 0xFFFFFFFF << (32 * ((offset >> 2) & 3))
        bits = value << (32 * ((offset >> 2) & 3))
        if offset < Offset.NSAPR0:
            s.apr = (s.apr & ~word) | bits
        else:
            s.nsapr = (s.nsapr & ~word) | bits
        return True
