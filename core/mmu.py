"""Address translation on the machine: the TLB-fill path, fault delivery, and debugger queries.

unicorn runs in virtual-TLB mode and asks us for every page it misses; we walk
the current regime's tables with the pure walkers (``stage1``, ``hyp.hyp_mmu``,
``stage2.walk``) and either grant the page or remember the fault. A refused fill
ends ``emu_start`` with PC at the faulting instruction; :meth:`Mmu.fault_exception`
then builds the architectural abort: to the guest's PL1 vectors with
DFSR/DFAR (IFSR/IFAR) for a stage-1 fault, to Hyp with HSR EC 0x20/0x24, HPFAR
and HxFAR for a stage-2 fault, with the instruction syndrome an MMIO emulator
needs (ISV, SAS, SSE, SRT, WnR) decoded from the instruction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from .cpu import HYP, USR
from .exceptions import Exc
from .fault_status import dfsr, ifsr
from .hyp import syndrome as S
from .hyp.hyp_mmu import HypRegs, translate_hyp
from .stage1 import HCR_DC, HCR_TGE, SCTLR_M, Stage1Regs, translate_pl10
from .stage2.fault import DataAbortInsn, hyp_abort_report
from .stage2.walk import HCR_PTW, HCR_VM, Stage2Regs, stage2_params, walk_stage2
from .translation import PL, Access, Translation
from .worlds import HOST, HYPERVISOR, WorldKey

if TYPE_CHECKING:
    from .machine import Machine

_UC_ACCESS = {16: Access.READ, 17: Access.WRITE, 18: Access.FETCH}
TTBCR_EAE = 1 << 31


@dataclass
class PendingFault:
    """A fill we refused: what was translated, and why it failed."""

    va_page: int
    access: Access
    translation: Translation
    from_mode: int


class Mmu:
    """Translation for one machine."""

    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self.pending: Optional[PendingFault] = None
        self.fills = 0
        self._s1: Optional[Stage1Regs] = None
        self._s2: Optional[Stage2Regs] = None
        self._hyp: Optional[HypRegs] = None
        self._cs: Dict[bool, object] = {}     # Thumb? -> disassembler, made at the first abort

    # -- register snapshots ------------------------------------------------
    # Kept until ``invalidate``: every write that can change them (an intercepted MCR/MCRR
    # to a translation register, a debugger write, reset, a snapshot restore) flushes the
    # TLB, and the flush invalidates these too. A fill then costs no register reads.
    def invalidate(self) -> None:
        self._s1 = self._s2 = self._hyp = None
        self.m.tlb_cache.disarm_walks()

    def arm_native_walks(self, hyp: bool) -> None:
        """After a fill in Hyp mode (``hyp``) or the PL1&0 regime: let the C fill hook walk
        that regime's data misses itself if it can (long descriptors or no stage 1; stage 2
        only without HCR.DC, TGE and PTW; see tlbcache.c). The registers are the ones this
        fill walked with."""
        cache = self.m.tlb_cache
        if not cache.walks_here or cache.walks_armed(hyp):
            return
        if hyp:
            h = self.hyp_regs()
            cache.arm_hyp_walks(h.hsctlr, h.htcr, h.httbr)
            return
        s2 = self.stage2_regs()
        if s2.hcr & (HCR_DC | HCR_TGE | HCR_PTW):
            return
        s1 = self.stage1_regs()
        if s1.sctlr & SCTLR_M and not s1.ttbcr & TTBCR_EAE:
            return
        stage2 = bool(s2.hcr & HCR_VM)
        if stage2 and stage2_params(s2.vtcr) is None:
            return
        cache.arm_walks(s1.sctlr, s1.ttbcr, s1.ttbr0, s1.ttbr1,
                        s2.vtcr if stage2 else None, s2.vttbr)

    def stage1_regs(self) -> Stage1Regs:
        if self._s1 is None:
            cpu = self.m.cpu
            self._s1 = Stage1Regs(cpu.sysreg("SCTLR"), cpu.sysreg("TTBCR"), cpu.sysreg("TTBR0"),
                                  cpu.sysreg("TTBR1"), cpu.sysreg("DACR"), cpu.sysreg("PRRR"),
                                  cpu.sysreg("NMRR"), cpu.sysreg("CONTEXTIDR"))
        return self._s1

    def stage2_regs(self) -> Stage2Regs:
        if self._s2 is None:
            cpu = self.m.cpu
            self._s2 = Stage2Regs(cpu.sysreg("VTCR"), cpu.sysreg("VTTBR"), cpu.sysreg("HCR"))
        return self._s2

    def hyp_regs(self) -> HypRegs:
        if self._hyp is None:
            cpu = self.m.cpu
            self._hyp = HypRegs(cpu.sysreg("HSCTLR"), cpu.sysreg("HTCR"), cpu.sysreg("HTTBR"),
                                cpu.sysreg("HMAIR0"), cpu.sysreg("HMAIR1"))
        return self._hyp

    def _read_phys(self, pa: int, size: int) -> Optional[int]:
        try:
            raw = self.m.read_phys(pa, size)
        except MemoryError:
            return None
        return int.from_bytes(raw, "little")

    # -- translation -----------------------------------------------------------
    def translate(self, va: int, access: Access, mode: Optional[int] = None,
                  hcr_vm: Optional[bool] = None) -> Translation:
        """Translate ``va`` in the regime of ``mode`` (default: the current one)."""
        mode = self.m.cpu.mode if mode is None else mode
        if mode == HYP:
            return translate_hyp(va, access, self.hyp_regs(), self._read_phys)
        s2 = self.stage2_regs()
        if hcr_vm is not None:
            hcr = (s2.hcr | 1) if hcr_vm else (s2.hcr & ~1)
            s2 = Stage2Regs(s2.vtcr, s2.vttbr, hcr)
        pl = PL.PL0 if mode == USR else PL.PL1
        return translate_pl10(va, access, pl, self.stage1_regs(), s2, self._read_phys)

    def fill(self, va: int, uc_access: int) -> Optional[Tuple[int, int]]:
        """The TLB-fill hook's answer: (PA of the page, permissions), or None for a fault."""
        self.fills += 1
        access = _UC_ACCESS.get(uc_access, Access.READ)
        mode = self.m.cpu.mode
        t = self.translate(va, access, mode)
        if t.fault is not None:
            self.pending = PendingFault(va, access, t, mode)
            return None
        assert t.pa is not None
        return t.pa & ~0x3FF, t.perms

    def debug_translate(self, addr: int, world: Optional[WorldKey], ipa: bool) -> int:
        """PA for a debugger access (read-only walk; never touches unicorn's TLB)."""
        if ipa:
            t = walk_stage2(addr, Access.READ, self.stage2_regs(), self._read_phys)
            if t.fault is not None or t.pa is None:
                raise MemoryError(f"IPA {addr:#010x} is not mapped by stage 2")
            return t.pa
        if world is None:
            t = self.translate(addr, Access.READ)
        elif world == HYPERVISOR:
            t = self.translate(addr, Access.READ, HYP)
        else:
            t = self.translate(addr, Access.READ, 0x13, hcr_vm=(world != HOST))
        if t.fault is not None or t.pa is None:
            raise MemoryError(f"virtual address {addr:#010x} is not mapped ({t.fault.kind.name.lower()} "
                              f"fault, stage {t.fault.stage}, level {t.fault.level})" if t.fault else
                              f"virtual address {addr:#010x} is not mapped")
        return t.pa

    # -- faults ----------------------------------------------------------------
    def fault_exception(self, pc: int, thumb: bool) -> Optional[Exc]:
        """The abort for the fill refused during the last slice (PC at the faulting insn)."""
        pend, self.pending = self.pending, None
        if pend is None:
            return None
        t = pend.translation
        fault = t.fault
        assert fault is not None
        access = pend.access
        insn_info = None
        if access is Access.FETCH:
            far = pc
        else:
            far, insn_info = self.data_access(pc, thumb, pend.va_page)
        from_hyp = pend.from_mode == HYP
        if fault.stage == 2 or from_hyp:
            rep = hyp_abort_report(fault, far, access, insn_info, from_hyp=from_hyp)
            regs = {}
            if rep.hdfar is not None:
                regs["HDFAR"] = rep.hdfar
            if rep.hifar is not None:
                regs["HIFAR"] = rep.hifar
            if rep.hpfar is not None:
                regs["HPFAR"] = rep.hpfar
            kind = "pabt" if access is Access.FETCH else "dabt"
            return Exc(kind, pc, thumb, hsr=rep.hsr, stage2=fault.stage == 2, hyp_fault_regs=regs)
        long_fmt = bool(self.m.cpu.sysreg("TTBCR") & TTBCR_EAE)
        if access is Access.FETCH:
            return Exc("pabt", pc, thumb, fault_regs={"IFSR": ifsr(fault, long_fmt), "IFAR": far})
        fsr = dfsr(fault, access is Access.WRITE, long_fmt)
        return Exc("dabt", pc, thumb, fault_regs={"DFSR": fsr, "DFAR": far},
                   hsr=S.hsr(S.EC_DABT, fault.long_fsc() | (0x40 if access is Access.WRITE else 0), il=False),
                   hyp_fault_regs={"HDFAR": far})

    def data_access(self, pc: int, thumb: bool, page: int) -> Tuple[int, Optional[DataAbortInsn]]:
        """Exact faulting address and ISS fields of the load/store at ``pc``, decoded
        with capstone (unicorn's fill hook only knows the 1 KiB page)."""
        try:
            code = self.m.read_virt(pc, 4)
        except MemoryError:
            return page, None
        cs = self._disassembler(thumb)
        insns = list(cs.disasm(code, pc, 1))
        if not insns:
            return page, None
        insn = insns[0]
        addr = self._effective_address(insn)
        if addr is None or (addr & ~0x3FF) != page:
            addr = page
        return addr, _iss_insn(insn)

    def _disassembler(self, thumb: bool) -> object:
        """capstone, imported only when an abort needs an instruction decoded (it is slow to load)."""
        cs = self._cs.get(thumb)
        if cs is None:
            from capstone import CS_ARCH_ARM, CS_MODE_ARM, CS_MODE_THUMB, Cs
            cs = self._cs[thumb] = Cs(CS_ARCH_ARM, CS_MODE_THUMB if thumb else CS_MODE_ARM)
            cs.detail = True
        return cs

    def _effective_address(self, insn: object) -> Optional[int]:
        from capstone import arm_const as C
        cpu = self.m.cpu
        ops = insn.operands  # type: ignore[attr-defined]
        mem = [op for op in ops if op.type == C.ARM_OP_MEM]
        mnem = insn.mnemonic  # type: ignore[attr-defined]
        if mem:
            m = mem[0].mem
            base = self._reg(insn, m.base)
            if base is None:
                return None
            after = ops[list(ops).index(mem[0]) + 1:]
            if after:                       # post-indexed: the access uses the base as it is
                return base & 0xFFFFFFFF
            off = m.disp
            if m.index:
                idx = self._reg(insn, m.index)
                if idx is None:
                    return None
                idx <<= m.lshift if hasattr(m, "lshift") else 0
                off += -idx if getattr(mem[0], "subtracted", False) else idx
            return (base + off) & 0xFFFFFFFF
        if mnem.startswith(("push", "stmdb", "stmfd")):
            regs = [op for op in ops if op.type == C.ARM_OP_REG]
            n = len(regs) - (0 if mnem.startswith("push") else 1)
            sp = cpu.reg(13) if mnem.startswith("push") else self._reg(insn, regs[0].reg)
            return None if sp is None else (sp - 4 * n) & 0xFFFFFFFF
        if mnem.startswith(("pop", "ldm", "stm")):
            regs = [op for op in ops if op.type == C.ARM_OP_REG]
            return cpu.reg(13) if mnem.startswith("pop") else self._reg(insn, regs[0].reg)
        return None

    def _reg(self, insn: object, reg_id: int) -> Optional[int]:
        name = insn.reg_name(reg_id)  # type: ignore[attr-defined]
        table = {"sb": 9, "sl": 10, "fp": 11, "ip": 12, "sp": 13, "lr": 14, "pc": 15}
        if name in table:
            n = table[name]
        elif name and name.startswith("r") and name[1:].isdigit():
            n = int(name[1:])
        else:
            return None
        if n == 15:
            return (insn.address + (4 if self.m.cpu.thumb else 8)) & ~3  # type: ignore[attr-defined]
        return self.m.cpu.reg(n)


_SIZES = {"ldr": 4, "str": 4, "ldrb": 1, "strb": 1, "ldrh": 2, "strh": 2, "ldrsb": 1, "ldrsh": 2}


def _iss_insn(insn: object) -> Optional[DataAbortInsn]:
    """ISS fields for single-register loads/stores without writeback (ARM ARM B3.13.6:
    ISV is 0 for LDM/STM, LDRD/STRD, exclusives and writeback forms)."""
    from capstone import arm_const as C
    mnem = insn.mnemonic.split(".")[0]  # type: ignore[attr-defined]
    base = mnem
    for cond in ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge",
                 "lt", "gt", "le", "al"):
        if mnem.endswith(cond) and mnem[:-2] in _SIZES:
            base = mnem[:-2]
    if base not in _SIZES or insn.writeback:  # type: ignore[attr-defined]
        return None
    ops = insn.operands  # type: ignore[attr-defined]
    if not ops or ops[0].type != C.ARM_OP_REG:
        return None
    rt_name = insn.reg_name(ops[0].reg)  # type: ignore[attr-defined]
    table = {"sb": 9, "sl": 10, "fp": 11, "ip": 12, "sp": 13, "lr": 14, "pc": 15}
    rt = table.get(rt_name, int(rt_name[1:]) if rt_name.startswith("r") else 0)
    return DataAbortInsn(_SIZES[base], rt, sign_extend=base in ("ldrsb", "ldrsh"),
                         is_32bit=insn.size == 4)  # type: ignore[attr-defined]
