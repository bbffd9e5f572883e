"""The one place that owns unicorn's ARM CPU.

Wraps a ``Uc`` configured as a Non-secure Cortex-A15 with Hyp mode, and gives
the rest of ``core`` what unicorn leaves out: mode switches into Hyp (only
possible through User mode), banked registers of any mode, cp15 registers by
name, and ELR_hyp, which has no register id and lives only in the CPU's saved
context (its offset is found once per process by experiment, not assumed).
"""
from __future__ import annotations

import ctypes
from typing import Dict, List, Optional, Sequence, Tuple, Union

from unicorn import UcError
from unicorn.unicorn import UcContext
from unicorn import arm_const as A
from unicorn.unicorn_py3.unicorn import uclib

from . import cp15, ucprobe
from .modes import ABT, FIQ, HYP, IRQ, MODE_MASK, MODE_NAMES, MON, SVC, SYS, UND, USR  # noqa: F401
from .ucprobe import SCR_NS_HCE

# CPSR fields (ARM ARM B1.3.3).
CPSR_T = 1 << 5
CPSR_F = 1 << 6
CPSR_I = 1 << 7
CPSR_A = 1 << 8
CPSR_E = 1 << 9
CPSR_IT_MASK = (0x3F << 10) | (0x3 << 25)
CPSR_J = 1 << 24

GPR_IDS = (A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2, A.UC_ARM_REG_R3,
           A.UC_ARM_REG_R4, A.UC_ARM_REG_R5, A.UC_ARM_REG_R6, A.UC_ARM_REG_R7,
           A.UC_ARM_REG_R8, A.UC_ARM_REG_R9, A.UC_ARM_REG_R10, A.UC_ARM_REG_R11,
           A.UC_ARM_REG_R12, A.UC_ARM_REG_SP, A.UC_ARM_REG_LR, A.UC_ARM_REG_PC)

NSACR_CP10_CP11 = 0xC00


class _CpReg(ctypes.Structure):
    """unicorn's ``uc_arm_cp_reg`` (what UC_ARM_REG_CP_REG reads and writes)."""

    _fields_ = (("cp", ctypes.c_uint32), ("is64", ctypes.c_uint32), ("sec", ctypes.c_uint32),
                ("crn", ctypes.c_uint32), ("crm", ctypes.c_uint32), ("opc1", ctypes.c_uint32),
                ("opc2", ctypes.c_uint32), ("val", ctypes.c_uint64))


#: A register for ``RegBatch``: a unicorn id (core registers) or a cp15 register's name.
RegName = Union[int, str]
_CPREG_WORDS = ctypes.sizeof(_CpReg) // 8     # the struct as 64-bit words; ``val`` is the last


class RegBatch:
    """A fixed list of registers read, or written, with one ``uc_reg_read_batch`` /
    ``uc_reg_write_batch`` call.

    An exit to Hyp and the ERET back need a dozen registers; single reads cost a
    ctypes call each and the binding's batch read is slower still. Here every
    register gets a ``uc_arm_cp_reg`` slot prepared once (a core register's value
    lands in the slot's ``val`` field), so a read is one call plus a slice of the
    slots' values. Writes happen in list order, so a batch can switch mode (CPSR
    twice, through User mode) and then write that mode's banked registers. Not for PC:
    a batch write of PC inside a hook stops emulation instead of jumping.
    """

    def __init__(self, cpu: "Cpu", regs: Sequence[RegName]) -> None:
        n = len(regs)
        self._uch = cpu._uch
        self._slots = (_CpReg * n)()
        self._ids = (ctypes.c_int * n)()
        self._ptrs = (ctypes.c_void_p * n)()
        base = ctypes.addressof(self._slots)
        val_off = _CpReg.val.offset
        for i, reg in enumerate(regs):
            slot = self._slots[i]
            if isinstance(reg, str):
                r = cp15.BY_NAME[reg]
                slot.cp, slot.is64, slot.crn, slot.crm, slot.opc1, slot.opc2 = \
                    15, int(r.is64), r.crn, r.crm, r.opc1, r.opc2
                self._ids[i] = A.UC_ARM_REG_CP_REG
                self._ptrs[i] = base + i * ctypes.sizeof(_CpReg)
            else:
                self._ids[i] = reg
                self._ptrs[i] = base + i * ctypes.sizeof(_CpReg) + val_off
        # The values as one strided view; a core register's slot keeps its upper half zero
        # (reads fill 32 bits, writes are masked to 32 bits by the caller's width).
        self._vals = memoryview(self._slots).cast("B").cast("Q")[_CPREG_WORDS - 1::_CPREG_WORDS]
        self._n = n
        self._read = uclib.uc_reg_read_batch
        self._write = uclib.uc_reg_write_batch

    def read(self) -> List[int]:
        """Every register's value, in list order."""
        err = self._read(self._uch, self._ids, self._ptrs, self._n)
        if err:
            raise UcError(err)
        return self._vals.tolist()

    def write(self, values: Sequence[int]) -> None:
        """Write ``values`` (unsigned, 32 bits for core registers) to the registers, in list order."""
        vals = self._vals
        for i, value in enumerate(values):
            vals[i] = value
        err = self._write(self._uch, self._ids, self._ptrs, self._n)
        if err:
            raise UcError(err)


class Cpu:
    """A Non-secure Cortex-A15 with the Virtualization Extensions.

    Registers are read and written with ``uc_reg_read``/``uc_reg_write`` straight
    through ctypes into preallocated buffers: the binding's generic path costs several
    microseconds a call, and an exit to Hyp reads dozens of registers.
    """

    def __init__(self) -> None:
        self.uc = ucprobe.new_uc()
        self._uch = self.uc._uch
        self._read = uclib.uc_reg_read
        self._write = uclib.uc_reg_write
        self._u32 = ctypes.c_uint32()
        self._u32_ref = ctypes.byref(self._u32)
        self._u64 = ctypes.c_uint64()
        self._u64_ref = ctypes.byref(self._u64)
        self._cp: Dict[str, Tuple[_CpReg, object]] = {}
        self._batches: Dict[Tuple[RegName, ...], RegBatch] = {}
        layout = ucprobe.layout()
        self._elr_off = layout.elr_hyp
        self._ctx = self.uc.context_save()
        self._ctx_save = uclib.uc_context_save
        self._ctx_restore = uclib.uc_context_restore
        self._ctx_elr = ctypes.c_uint32.from_address(self._ctx.context.value + self._elr_off)
        self._ctx_modes = [ctypes.c_uint32.from_address(self._ctx.context.value + off)
                           for off in layout.mode_words]
        self.uc.reg_write(A.UC_ARM_REG_CP_REG, (15, 0, 0, 1, 1, 0, 0, SCR_NS_HCE))
        # No exit address: emu_start's ``until`` would otherwise be translated like any code
        # page, and fault under an MMU that does not map it.
        self.uc.ctl_exits_enabled(True)
        self.uc.ctl_set_exits([])
        # NSACR.CP10/CP11: the Non-secure side owns the FPU, as QEMU's boot sets it (else
        # HCPTR.TCP10/11 read as one).
        self.uc.reg_write(A.UC_ARM_REG_CP_REG, (15, 0, 0, 1, 1, 0, 2, NSACR_CP10_CP11))

    # -- general registers -------------------------------------------------
    def read_id(self, reg_id: int) -> int:
        """A 32-bit register by unicorn id, the fast way."""
        self._read(self._uch, reg_id, self._u32_ref)
        return self._u32.value

    def write_id(self, reg_id: int, value: int) -> None:
        self._u32.value = value & 0xFFFFFFFF
        self._write(self._uch, reg_id, self._u32_ref)

    def batch(self, regs: Tuple[RegName, ...]) -> RegBatch:
        """The ``RegBatch`` of ``regs`` (made once, kept)."""
        batch = self._batches.get(regs)
        if batch is None:
            batch = self._batches[regs] = RegBatch(self, regs)
        return batch

    def reg(self, n: int) -> int:
        self._read(self._uch, GPR_IDS[n], self._u32_ref)
        return self._u32.value

    def regs(self) -> list:
        """r0-r15 in one go."""
        read, uch, ref, buf = self._read, self._uch, self._u32_ref, self._u32
        out = []
        for reg_id in GPR_IDS:
            read(uch, reg_id, ref)
            out.append(buf.value)
        return out

    def set_reg(self, n: int, value: int) -> None:
        if n == 15:
            self.set_pc(value)
        else:
            self.write_id(GPR_IDS[n], value)

    @property
    def pc(self) -> int:
        return self.read_id(A.UC_ARM_REG_PC)

    def set_pc(self, value: int, thumb: Optional[bool] = None) -> None:
        """Write PC keeping (or setting) the Thumb state: unicorn takes T from PC bit 0."""
        if thumb is None:
            thumb = bool(self.cpsr & CPSR_T)
        self.write_id(A.UC_ARM_REG_PC, (value & ~1) | int(thumb))

    @property
    def cpsr(self) -> int:
        return self.read_id(A.UC_ARM_REG_CPSR)

    @property
    def mode(self) -> int:
        return self.cpsr & MODE_MASK

    @property
    def thumb(self) -> bool:
        return bool(self.cpsr & CPSR_T)

    def write_cpsr(self, value: int) -> None:
        """Write the whole CPSR, mode included (into Hyp through User mode, as unicorn requires)."""
        value &= 0xFFFFFFFF
        cur = self.cpsr
        cpsr_id = A.UC_ARM_REG_CPSR
        if (value & MODE_MASK) != (cur & MODE_MASK):
            if (value & MODE_MASK) == HYP and (cur & MODE_MASK) != USR:
                self.write_id(cpsr_id, (cur & ~MODE_MASK) | USR)   # Hyp is reachable from User only
            self.write_id(cpsr_id, value)
            if self.mode != (value & MODE_MASK):
                self.write_id(cpsr_id, (cur & ~MODE_MASK) | USR)
                self.write_id(cpsr_id, value)
            if self.mode != (value & MODE_MASK):
                raise RuntimeError(f"unicorn refused the switch to mode {value & MODE_MASK:#x}")
        else:
            self.write_id(cpsr_id, value)

    @property
    def spsr(self) -> int:
        """SPSR of the current mode (SPSR_hyp in Hyp)."""
        return self.read_id(A.UC_ARM_REG_SPSR)

    def set_spsr(self, value: int) -> None:
        self.write_id(A.UC_ARM_REG_SPSR, value)

    # -- banked registers --------------------------------------------------
    def banked(self, mode: int, name: str) -> int:
        """SP, LR or SPSR of ``mode`` (``lr`` of Hyp is LR_usr, as the architecture shares it)."""
        cur = self.cpsr
        if (cur & MODE_MASK) == mode:
            return self._read_named(name)
        pc = self.pc
        try:
            self.write_cpsr((cur & ~(MODE_MASK | CPSR_T)) | mode)
            return self._read_named(name)
        finally:
            self.write_cpsr(cur)
            self.set_pc(pc, bool(cur & CPSR_T))

    def set_banked(self, mode: int, name: str, value: int) -> None:
        cur = self.cpsr
        if (cur & MODE_MASK) == mode:
            self._write_named(name, value)
            return
        pc = self.pc
        try:
            self.write_cpsr((cur & ~(MODE_MASK | CPSR_T)) | mode)
            self._write_named(name, value)
        finally:
            self.write_cpsr(cur)
            self.set_pc(pc, bool(cur & CPSR_T))

    def _read_named(self, name: str) -> int:
        if name == "spsr":
            return self.spsr
        return self.uc.reg_read({"sp": A.UC_ARM_REG_SP, "lr": A.UC_ARM_REG_LR}[name] if name in ("sp", "lr")
                                else GPR_IDS[int(name[1:])])

    def _write_named(self, name: str, value: int) -> None:
        if name == "spsr":
            self.set_spsr(value)
        elif name in ("sp", "lr"):
            self.uc.reg_write(A.UC_ARM_REG_SP if name == "sp" else A.UC_ARM_REG_LR, value & 0xFFFFFFFF)
        else:
            self.uc.reg_write(GPR_IDS[int(name[1:])], value & 0xFFFFFFFF)

    # -- ELR_hyp ------------------------------------------------------------
    @property
    def elr_hyp(self) -> int:
        self._ctx_save(self._uch, self._ctx.context)
        return self._ctx_elr.value

    def set_elr_hyp(self, value: int) -> None:
        """Write ELR_hyp by patching the saved context (the register has no unicorn id)."""
        ctx = self._ctx.context
        self._ctx_save(self._uch, ctx)
        self._ctx_elr.value = value & 0xFFFFFFFF
        self._ctx_restore(self._uch, ctx)

    def save_context(self, saved: UcContext) -> None:
        """Copy the CPU state into an existing context (``uc.context_update`` without the
        binding's overhead: it runs at every world switch)."""
        err = self._ctx_save(self._uch, saved.context)
        if err:
            raise UcError(err)

    def elr_hyp_in(self, saved: UcContext) -> int:
        """ELR_hyp as a saved context holds it."""
        return ctypes.c_uint32.from_address(saved.context.value + self._elr_off).value

    # -- exception entry ------------------------------------------------------
    def enter(self, cur: int, new: int, regs: RegBatch, values: List[int],
              elr_hyp: Optional[int] = None) -> None:
        """Switch from CPSR ``cur`` to ``new``, then write ``regs`` (registers of the new mode)
        in the same batch call, and ``elr_hyp`` if given. ``regs`` starts with two CPSR
        slots, for the switch through User mode that Hyp needs (``write_cpsr``); ``values``
        fills the slots after them. PC must not be among them: written in a batch inside a
        code hook, unicorn 2.1.4 stops instead of going on at the new PC (``set_pc`` does
        that). The switch is checked, in the context saved to write ELR_hyp if there is one."""
        cur_mode, new_mode = cur & MODE_MASK, new & MODE_MASK
        new &= 0xFFFFFFFF
        if cur_mode == HYP and new_mode != HYP:
            self.write_cpsr(new)          # not an exception entry: write_cpsr's general way
            first = new
        elif new_mode == HYP and cur_mode not in (HYP, USR):
            first = (cur & ~MODE_MASK) | USR
        else:
            first = new
        regs.write([first, new] + values)
        if elr_hyp is None:
            if self.mode != new_mode:
                raise RuntimeError(f"unicorn refused the switch to mode {new_mode:#x}")
            return
        ctx = self._ctx.context
        self._ctx_save(self._uch, ctx)
        for word in self._ctx_modes:
            if word.value & MODE_MASK != new_mode:
                raise RuntimeError(f"unicorn refused the switch to mode {new_mode:#x}")
        self._ctx_elr.value = elr_hyp & 0xFFFFFFFF
        self._ctx_restore(self._uch, ctx)

    # -- cp15 ---------------------------------------------------------------
    def _cpreg(self, name: str) -> Tuple[_CpReg, object]:
        entry = self._cp.get(name)
        if entry is None:
            r = cp15.BY_NAME[name]
            buf = _CpReg(15, int(r.is64), 0, r.crn, r.crm, r.opc1, r.opc2, 0)
            entry = self._cp[name] = (buf, ctypes.byref(buf))
        return entry

    def sysreg(self, name: str) -> int:
        buf, ref = self._cpreg(name)
        if self._read(self._uch, A.UC_ARM_REG_CP_REG, ref):
            raise UcError(self._read(self._uch, A.UC_ARM_REG_CP_REG, ref))
        return buf.val

    def set_sysreg(self, name: str, value: int) -> None:
        buf, ref = self._cpreg(name)
        buf.val = value & 0xFFFFFFFFFFFFFFFF
        err = self._write(self._uch, A.UC_ARM_REG_CP_REG, ref)
        if err:
            raise UcError(err)

    def cp_write(self, crn: int, opc1: int, crm: int, opc2: int, value: int) -> None:
        """Raw 32-bit cp15 write by encoding (an operation such as a TLB invalidate runs)."""
        buf = _CpReg(15, 0, 0, crn, crm, opc1, opc2, value & 0xFFFFFFFF)
        err = self._write(self._uch, A.UC_ARM_REG_CP_REG, ctypes.byref(buf))
        if err:
            raise UcError(err)

    def cp_read(self, is64: bool, crn: int, opc1: int, crm: int, opc2: int) -> Optional[int]:
        """Raw cp15 read by encoding; None where unicorn has no such register."""
        try:
            return self.uc.reg_read(A.UC_ARM_REG_CP_REG, (15, int(is64), 0, crn, crm, opc1, opc2))
        except UcError:
            return None

    @property
    def esr(self) -> int:
        """The syndrome unicorn computed for the last exception (HSR layout, never cleared)."""
        return self.read_id(A.UC_ARM_REG_ESR)
