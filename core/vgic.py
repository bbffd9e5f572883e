"""GICv2 virtualization extensions: the GICH control frame and the GICV virtual CPU interface.

The hypervisor loads virtual interrupts into four list registers through GICH;
the guest acknowledges and completes them through GICV, which has the GICC
layout and rules (``gic_cpuif``), without exiting (ARM IHI 0048B chapter 5).
The virtual interface feeds the VIRQ/VFIQ outputs of the owning ``GicState``
and drives the maintenance interrupt, PPI 25, as a level while GICH_HCR.En is
set and GICH_MISR is non-zero.

Choices where the specification leaves room, as QEMU 7.2 makes them: 5 priority
and 5 preemption bits (GICH_VTR = 0x90000003), minimum virtual BPR 2 and ABPR 3;
among list registers of equal priority the lowest-numbered wins; a GICV_DIR
write while EOImode is 0 is ignored; a HW=1 list register naming an SGI or a
special ID deactivates nothing.

Where this model departs from QEMU 7.2 (the specification is followed):

- GICH_LR4..LR63 are RAZ/WI. QEMU bounds-checks with ``lr_idx > num_lrs``, so
  LR4 (offset 0x110) is stored and reads back although it is never used.
- The GICH frame is the architected 4 KB; QEMU reserves 64 KB of address space
  for it but maps only 4 KB.
- GICV_AIAR/AEOIR/AHPPIR are the Group 1 aliases; QEMU makes them RAZ/WI.
- Sub-word and unaligned accesses are RAZ/WI (IHI 0048B 4.1.4, 5.3).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from .gic import NUM_SGIS, GicState, VirtualLines
from .gic_cpuif import (CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, CTLR_EOI_MODE, CpuInterfaceCore,
                        CpuInterfaceFrame, Offset, word_access)

GICH_BASE = 0x08030000
GICH_SIZE = 0x1000
GICV_BASE = 0x08040000
GICV_SIZE = 0x2000

NUM_LRS = 4
MAINTENANCE_PPI = 25
GICH_VTR = 0x90000003        # PRIbits-1 = 4, PREbits-1 = 4, ListRegs-1 = 3
VIRT_MIN_BPR = 2
VIRT_MIN_ABPR = 3

HCR_EN = 1 << 0
HCR_UIE = 1 << 1
HCR_LRENPIE = 1 << 2
HCR_NPIE = 1 << 3
HCR_VGRP0EIE = 1 << 4
HCR_VGRP0DIE = 1 << 5
HCR_VGRP1EIE = 1 << 6
HCR_VGRP1DIE = 1 << 7
HCR_EOICOUNT_SHIFT = 27
HCR_MASK = 0xF80000FF

MISR_EOI = 1 << 0
MISR_U = 1 << 1
MISR_LRENP = 1 << 2
MISR_NP = 1 << 3
MISR_VGRP0E = 1 << 4
MISR_VGRP0D = 1 << 5
MISR_VGRP1E = 1 << 6
MISR_VGRP1D = 1 << 7

LR_MASK = 0xFF8FFFFF         # bits [22:20] are reserved
LR_HW = 1 << 31
LR_GRP1 = 1 << 30
LR_EOI = 1 << 19
LR_STATE_SHIFT = 28
LR_PENDING = 1
LR_ACTIVE = 2

VCTLR_MASK = 0x21F           # EnableGrp0/1, AckCtl, FIQEn, CBPR, EOImode


def lr_state(lr: int) -> int:
    """State field of a list register: 0 invalid, 1 pending, 2 active, 3 both."""
    return lr >> LR_STATE_SHIFT & 3


def lr_priority(lr: int) -> int:
    """The 8-bit priority a list register's 5-bit Priority field stands for."""
    return (lr >> 23 & 0x1F) << 3


def _alias(name: str) -> property:
    """Another name for the attribute ``name``, so the v-prefixed register names stay usable."""
    def get(self: object) -> int:
        return getattr(self, name)

    def set_(self: object, value: int) -> None:
        setattr(self, name, value)
    return property(get, set_, doc=f"Same as ``{name}``.")


class VirtualInterface(VirtualLines, CpuInterfaceCore):
    """List registers, GICH control state and the guest's virtual CPU interface state.

    The guest's GICV_CTLR, PMR, BPR and ABPR are ``cpu_ctlr``, ``pmr``, ``bpr`` and
    ``abpr`` (also ``vctlr``, ``vpmr``, ``vbpr``, ``vabpr``); GICH_APR is ``apr``.
    """

    CTLR_MASK = VCTLR_MASK
    PMR_MASK = 0xF8
    BPR_MIN = VIRT_MIN_BPR
    ABPR_MIN = VIRT_MIN_ABPR
    LEVEL_SHIFT = 3

    vctlr = _alias("cpu_ctlr")
    vpmr = _alias("pmr")
    vbpr = _alias("bpr")
    vabpr = _alias("abpr")

    def __init__(self, gic: GicState) -> None:
        self.gic = gic
        gic.vgic = self
        self.reset()

    def reset(self) -> None:
        """All list registers invalid, interface disabled."""
        self.hcr = 0
        self.lrs: List[int] = [0] * NUM_LRS
        self.cpu_ctlr = 0
        self.pmr = 0
        self.bpr = VIRT_MIN_BPR
        self.abpr = VIRT_MIN_ABPR
        self.apr = 0             # GICH_APR: bit n = active virtual preemption level n
        self.changed()

    # -- derived status registers -----------------------------------------

    def eisr(self) -> int:
        """GICH_EISR0: invalid, HW=0, EOI=1 list registers (an EOI maintenance request)."""
        return sum(1 << i for i, lr in enumerate(self.lrs)
                   if lr_state(lr) == 0 and not lr & LR_HW and lr & LR_EOI)

    def elrsr(self) -> int:
        """GICH_ELRSR0: list registers free for the hypervisor to reuse."""
        return sum(1 << i for i, lr in enumerate(self.lrs)
                   if lr_state(lr) == 0 and (lr & LR_HW or not lr & LR_EOI))

    def misr(self) -> int:
        """GICH_MISR, from the list registers, GICH_HCR and the guest's GICV_CTLR."""
        hcr = self.hcr
        value = MISR_EOI if self.eisr() else 0
        valid = sum(1 for lr in self.lrs if lr_state(lr))
        if hcr & HCR_UIE and valid <= 1:
            value |= MISR_U
        if hcr & HCR_LRENPIE and hcr >> HCR_EOICOUNT_SHIFT:
            value |= MISR_LRENP
        if hcr & HCR_NPIE and not any(lr_state(lr) == LR_PENDING for lr in self.lrs):
            value |= MISR_NP
        grp0 = bool(self.cpu_ctlr & CTLR_ENABLE_GRP0)
        grp1 = bool(self.cpu_ctlr & CTLR_ENABLE_GRP1)
        if hcr & HCR_VGRP0EIE and grp0:
            value |= MISR_VGRP0E
        if hcr & HCR_VGRP0DIE and not grp0:
            value |= MISR_VGRP0D
        if hcr & HCR_VGRP1EIE and grp1:
            value |= MISR_VGRP1E
        if hcr & HCR_VGRP1DIE and not grp1:
            value |= MISR_VGRP1D
        return value

    def maintenance(self) -> bool:
        """Level of the maintenance interrupt."""
        return bool(self.hcr & HCR_EN) and self.misr() != 0

    def vmcr(self) -> int:
        """GICH_VMCR: the guest's GICV_CTLR, ABPR, BPR and PMR in one word."""
        return ((self.cpu_ctlr & VCTLR_MASK) | self.abpr << 18 | self.bpr << 21
                | (self.pmr >> 3) << 27)

    def set_vmcr(self, value: int) -> None:
        """Restore the guest interface state saved from GICH_VMCR."""
        self.cpu_ctlr = value & VCTLR_MASK
        self.abpr = max(value >> 18 & 7, VIRT_MIN_ABPR)
        self.bpr = max(value >> 21 & 7, VIRT_MIN_BPR)
        self.pmr = (value >> 27 & 0x1F) << 3

    # -- virtual CPU interface --------------------------------------------

    def group_priority(self, lr: int) -> int:
        """Preemption-relevant priority bits of a list register's interrupt."""
        return self._group_priority(lr_priority(lr), bool(lr & LR_GRP1))

    def highest_pending(self) -> Optional[int]:
        """Index of the highest priority list register in the pending (not active) state."""
        best, best_prio = None, 0x100
        for i, lr in enumerate(self.lrs):
            if lr_state(lr) == LR_PENDING and lr_priority(lr) < best_prio:
                best, best_prio = i, lr_priority(lr)
        return best

    # -- CPU interface hooks (keys are list register indices) ------------------

    def _pending_candidate(self) -> Optional[int]:
        """Nothing is signalled while GICH_HCR.En is clear."""
        return self.highest_pending() if self.hcr & HCR_EN else None

    def _entry(self, index: int) -> Tuple[int, bool]:
        lr = self.lrs[index]
        return lr_priority(lr), bool(lr & LR_GRP1)

    def _active_priorities(self) -> int:
        return self.apr

    def _interrupt_id(self, index: int) -> int:
        """Software-generated virtual SGIs carry their source CPU in bits [12:10]."""
        lr = self.lrs[index]
        vid = lr & 0x3FF
        if vid < NUM_SGIS and not lr & LR_HW:
            return vid | (lr >> 10 & 7) << 10
        return vid

    def _activate(self, index: int, value: int) -> None:
        lr = self.lrs[index]
        self.apr |= 1 << (self.group_priority(lr) >> self.LEVEL_SHIFT)
        self.lrs[index] = (lr & ~(3 << LR_STATE_SHIFT)) | LR_ACTIVE << LR_STATE_SHIFT
        self.changed()

    # -- completion -------------------------------------------------------------

    def _find_active(self, vid: int) -> Optional[int]:
        for i, lr in enumerate(self.lrs):
            if lr & 0x3FF == vid and lr_state(lr) & LR_ACTIVE:
                return i
        return None

    def _count_unmatched_eoi(self) -> None:
        self.hcr = (self.hcr + (1 << HCR_EOICOUNT_SHIFT)) & 0xFFFFFFFF

    def _deactivate_lr(self, index: int) -> None:
        lr = self.lrs[index] & ~(LR_ACTIVE << LR_STATE_SHIFT)
        self.lrs[index] = lr
        if lr & LR_HW:
            physical = lr >> 10 & 0x3FF
            if NUM_SGIS <= physical < self.gic.num_irqs:
                self.gic.deactivate(physical)

    def end_of_interrupt(self, value: int, alias: bool = False) -> None:
        """GICV_EOIR (or GICV_AEOIR) write: priority drop, deactivation unless EOImode."""
        vid = value & 0x3FF
        if vid >= 1020:
            return
        index = self._find_active(vid)
        if alias and index is not None and not self.lrs[index] & LR_GRP1:
            return
        dropped = self.apr != 0
        self.apr &= self.apr - 1
        if not self.cpu_ctlr & CTLR_EOI_MODE:
            if index is not None:
                self._deactivate_lr(index)
            elif dropped:
                self._count_unmatched_eoi()
        self.changed()

    def write_dir(self, value: int) -> None:
        """GICV_DIR write: deactivation when EOImode is set."""
        vid = value & 0x3FF
        if not self.cpu_ctlr & CTLR_EOI_MODE or vid >= 1020:
            return
        index = self._find_active(vid)
        if index is None:
            self._count_unmatched_eoi()
        else:
            self._deactivate_lr(index)
        self.changed()

    # -- outputs ------------------------------------------------------------

    def lines(self) -> Tuple[bool, bool]:
        """(VIRQ, VFIQ) as of the last ``changed``: the GIC asks at every refresh of its
        outputs, and only ``changed`` (called after every change here) can move them."""
        return self._lines

    def changed(self) -> None:
        """Push the maintenance level and the virtual lines to the GIC."""
        self._lines = self._output_lines()
        self.gic.set_level(MAINTENANCE_PPI, self.maintenance())
        self.gic.refresh()

    def update_outputs(self) -> None:
        """After a GICV register write."""
        self.changed()


class GicHypInterface:
    """GICH frame: the hypervisor's view of the virtual interface (IHI 0048B 5.3)."""

    name = "gich"

    def __init__(self, vif: VirtualInterface, base: int = GICH_BASE,
                 size: int = GICH_SIZE) -> None:
        self.vif = vif
        self.base = base
        self.size = size

    def read(self, offset: int, size: int) -> int:
        """GICH reads have no side effects."""
        if not word_access(offset, size):
            return 0
        v = self.vif
        if offset == 0x00:
            return v.hcr
        if offset == 0x04:
            return GICH_VTR
        if offset == 0x08:
            return v.vmcr()
        if offset == 0x10:
            return v.misr()
        if offset == 0x20:
            return v.eisr()
        if offset == 0x30:
            return v.elrsr()
        if offset == 0xF0:
            return v.apr
        if 0x100 <= offset < 0x100 + 4 * NUM_LRS:
            return v.lrs[(offset - 0x100) >> 2]
        return 0

    def peek(self, offset: int, size: int) -> int:
        """Same as ``read``."""
        return self.read(offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        """HCR, VMCR, APR and LR0-3 are writable; everything else is WI."""
        if not word_access(offset, size):
            return
        v = self.vif
        value &= 0xFFFFFFFF
        if offset == 0x00:
            v.hcr = value & HCR_MASK
        elif offset == 0x08:
            v.set_vmcr(value)
        elif offset == 0xF0:
            v.apr = value
        elif 0x100 <= offset < 0x100 + 4 * NUM_LRS:
            v.lrs[(offset - 0x100) >> 2] = value & LR_MASK
        else:
            return
        v.changed()


class GicVirtualCpuInterface(CpuInterfaceFrame):
    """GICV frame: the CPU interface a guest sees, backed by the list registers."""

    name = "gicv"

    def __init__(self, vif: VirtualInterface, base: int = GICV_BASE,
                 size: int = GICV_SIZE) -> None:
        super().__init__(vif, base, size)
        self.vif = vif

    def _read_apr(self, offset: int) -> int:
        """GICV_APR0 is GICH_APR: 32 preemption levels, one word."""
        return self.vif.apr if offset == Offset.APR0 else 0

    def _write_apr(self, offset: int, value: int) -> bool:
        if offset != Offset.APR0:
            return False
        self.vif.apr = value
        return True
