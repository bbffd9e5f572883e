"""The emulated machine: CPU, memory map, devices, run loop and event dispatch.

unicorn executes the instructions; this module turns what unicorn reports
(interrupt hooks, invalid-instruction hooks, refused TLB fills, unmapped
physical accesses) into architectural exceptions taken through
:class:`~hypdbg.core.exceptions.ExceptionEntry`, keeps deterministic virtual
time (retired instructions, counted per translation block), delivers
interrupts between execution slices, and tracks worlds and exits.
"""
from __future__ import annotations

import ctypes
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from functools import partial
from typing import Callable, Dict, List, Optional, Set, Tuple

from unicorn import (UC_ERR_EXCEPTION, UC_ERR_FETCH_UNMAPPED, UC_ERR_READ_UNMAPPED,
                     UC_ERR_WRITE_UNMAPPED, UC_HOOK_CODE, UC_HOOK_INSN_INVALID, UC_HOOK_INTR,
                     UC_HOOK_MEM_FETCH_UNMAPPED, UC_HOOK_MEM_READ_UNMAPPED,
                     UC_HOOK_MEM_WRITE_UNMAPPED, UC_HOOK_TLB_FILL, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_FETCH, UC_MEM_WRITE,
                     UC_PROT_ALL, UC_TLB_VIRTUAL, UcError)
from unicorn.arm_const import (UC_ARM_REG_CPSR, UC_ARM_REG_ESR, UC_ARM_REG_FPEXC, UC_ARM_REG_PC,
                               UC_ARM_REG_SPSR)
from unicorn.unicorn_py3.unicorn import uclib
from unicorn.unicorn_const import UC_CTL_IO_WRITE, UC_CTL_TLB_FLUSH

from . import cp15, psci
from .coproc import CpInsn, condition_passed, it_state
from .cpu import CPSR_A, CPSR_T, GPR_IDS, HYP, MODE_MASK, SVC, Cpu, RegBatch
from .exceptions import STATE_REGS as ENTRY_STATE
from .exceptions import Entry, Exc, ExceptionEntry
from .fastcount import BlockCounter
from .uchook import hook_add, raise_kept
from .tlbcache import TlbCache
from .hyp import routing
from .hyp import syndrome as S
from .intercept import CpIntercept, Site
from .loader import Image
from .timer import INSN_HZ, INSNS_PER_TICK
from .timerregs import timer_access_site
from .mmu import Mmu
from .worlds import HYPERVISOR, Context, WorldKey, Worlds, world_outside_hyp

RAM_BASE = 0x40000000
PA_LIMIT = (1 << 40) - 1     # LPAE's 40-bit physical address space
DEFAULT_RAM_MB = 256
PAGE = 1024                       # unicorn's ARM target page (TLB fill granularity)
UNTIL = 0xFFFFFFFE                # an address emu_start never reaches on its own
ESR_SENTINEL = 0xFFFFFFFF         # written after each exception so a stale syndrome is never reused
UNDEF_ESR = 0x02000000            # what unicorn writes for an UNDEFINED instruction
FPEXC_EN = 1 << 30
HCR_AMO = 1 << 5
HCR_VA = 1 << 8
HCR_VI = 1 << 7
HCR_VF = 1 << 6
HCR_TGE = 1 << 27
WATCHED_PSR = 0x1DF               # CPSR A, I, F and M: what decides whether an interrupt is taken
NATIVE_HOOK = -1                  # _align_hook when the C helper does the checking
LOOP_INSNS = 4                    # aborts this close together, repeatedly, are an exception loop
FAST_SLICE = 200_000              # --fast: fewest instructions between looks at the host clock
SLICE = 1 << 22                   # instructions per slice when nothing else is due
GROW_SLICE = 1 << 18              # while unicorn's TLB grows: it can double once a slice
QEMU_MIDR = 0x414FC0F0            # Cortex-A15 r4p0, as QEMU 7.2 reports it
MPIDR = 0x80000000                # uniprocessor, affinity 0.0.0
SCTLR_RESET = 0x00C50078
CPSR_RESET = 0x400001DA           # QEMU: Hyp, A/I/F masked, and Z set (its reset zeroes ZF)
HDCR_RESET = 6                    # HPMN = the six PMU event counters of a Cortex-A15
#: ID values QEMU 7.2 reports where unicorn's differ (ID_PFR1: no Security Extensions).
ID_OVERRIDES = {"MIDR": QEMU_MIDR, "ID_PFR1": 0x00011001}
HSCTLR_RESET = 0x00000000      # QEMU 7.2 reads 0 at reset (the RES1 bits are not modelled)

# Syndrome classes unicorn reports through the invalid-instruction hook as traps.
_TRAP_ECS = frozenset({S.EC_WFX, S.EC_CP15_32, S.EC_CP15_64, S.EC_CP14_MR, S.EC_CP14_LS,
                       S.EC_HCPTR, S.EC_CP10_ID, S.EC_CP14_64, S.EC_BXJ})

# Registers whose writes change translation: our TLB is flushed before they run.
_TRANSLATION_REGS = frozenset({"SCTLR", "TTBR0", "TTBR1", "TTBCR", "DACR", "CONTEXTIDR",
                               "PRRR", "NMRR", "HCR", "VTTBR", "VTCR", "HTTBR", "HTCR",
                               "HSCTLR", "HMAIR0", "HMAIR1"})
# Traps unicorn does not implement; ours to apply (unicorn-exceptions.md section 5).
_SOFT_TRAPS = frozenset({"tid3", "tsw", "tpc", "tpu"})
#: HCR bits of the traps unicorn leaves out (TID3, TSW, TPC, TPU, TIDCP): code is scanned
#: for their sites only while one is set, so a host that never sets them pays nothing.
_SOFT_TRAP_MASK = sum(1 << cp15.HCR_TRAP_BIT[t] for t in _SOFT_TRAPS | {"tidcp"})


@dataclass
class Stop:
    """Why ``Machine.run`` returned."""

    kind: str            # poweroff, reset, limit, breakpoint, watchpoint, step, interrupted, catch, fault
    message: str = ""
    exit_code: int = 0
    data_addr: Optional[int] = None
    watch_kind: Optional[str] = None


class MachineError(Exception):
    """A configuration the machine cannot start with (one-line message)."""


class Machine:
    """A Cortex-A15 with Hyp mode on QEMU virt's memory map."""

    def __init__(self, image: Image, ram_mb: int = DEFAULT_RAM_MB, reset_mode: str = "hyp",
                 deterministic: bool = True) -> None:
        self.image = image
        self.ram_size = ram_mb << 20
        self.reset_mode = reset_mode
        self.deterministic = deterministic
        for addr, data in image.segments:
            if addr < RAM_BASE or addr + len(data) > RAM_BASE + self.ram_size:
                raise MachineError(f"{image.path}: segment {addr:#010x}-{addr + len(data):#010x} "
                                   f"lies outside RAM {RAM_BASE:#010x}-{RAM_BASE + self.ram_size:#010x}")
        self.cpu = Cpu()
        self.uc = self.cpu.uc
        self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        self.uc.mem_map(RAM_BASE, self.ram_size, UC_PROT_ALL)
        self.devices: List[object] = []
        self.entry = ExceptionEntry(self.cpu)
        self.entry.before.append(self._before_exception)
        self.entry.listeners.append(self._after_exception)
        self.worlds = Worlds()
        self.counter = BlockCounter(self.uc)
        self._intr_regs = RegBatch(self.cpu, (UC_ARM_REG_PC, UC_ARM_REG_ESR) + ENTRY_STATE)
        self._eret_regs = RegBatch(self.cpu, (UC_ARM_REG_SPSR, "HCR", "VTTBR", "HCPTR", "SCTLR"))
        self._slice_regs = RegBatch(self.cpu, (UC_ARM_REG_PC, UC_ARM_REG_CPSR, "HCR", "SCTLR", "HSCTLR"))
        self._irq_regs = RegBatch(self.cpu, (UC_ARM_REG_PC,) + ENTRY_STATE)
        # its fill hook must come before ours
        self.tlb_cache = TlbCache(self.uc, ram_base=RAM_BASE, ram_size=self.ram_size)
        self.intercept = CpIntercept(self.uc, self._wants_insn, self._on_cp_site,
                                     partial(self.cpu.read_id, UC_ARM_REG_CPSR), self._read_ram)
        self.mmu = Mmu(self)
        self._scanned: Dict[Tuple[int, int, int], int] = {}    # (va, pa, soft traps) -> crc32 scanned
        self._hyp_text: Optional[Tuple[int, int]] = None        # first and last address Hyp fetched
        self._ram_buf = ctypes.create_string_buffer(8)
        self.on_exit: List[Callable[[object], Optional[str]]] = []   # catchpoint checks
        self.on_eret: List[Callable[[object], Optional[str]]] = []
        self.breakpoints: Dict[int, int] = {}
        self._parked_breakpoints: Dict[int, int] = {}     # removed, hook kept until the next run
        self.watchpoints: Dict[Tuple[int, int, str], int] = {}
        self._watch_hit: Optional[tuple] = None
        self._align_hook: Optional[int] = None
        self._ran_unchecked: Set[bool] = set()     # regimes (Hyp or not) run with no alignment hook
        self._fpexc_saved: Optional[int] = None
        self._align_fault: Optional[tuple] = None
        self._align_ctx: Optional[object] = None
        self._taken = 0
        self._vi_forced = False
        self._ran_free = False
        self._fast_rate = 0.0            # --fast: instructions per host nanosecond, last slice
        self._tlb_growing = False        # the last slice thrashed unicorn's TLB (see TlbCache)
        self._inputs: List[Callable[[], None]] = []
        self.input_sources = 0           # live input threads that may still wake a WFI
        self._wake = threading.Event()
        self._vf_forced = False
        self._unmapped: Optional[Tuple[int, int, int]] = None
        self._bp_skip: Optional[int] = None
        self._stop: Optional[Stop] = None
        self._stop_lock = threading.Lock()
        self._external_stop = False
        self._last_vector: Optional[int] = None
        self._fault_loop = 0
        self._last_fault_icount = 0
        self._halted = False
        self.idle_insns = 0
        self.timer = None
        self.gic = None
        self._install_hooks()
        self.reset()

    # -- set-up ----------------------------------------------------------
    def _install_hooks(self) -> None:
        uc = self.uc
        hook_add(uc, UC_HOOK_INTR, self._on_intr)
        hook_add(uc, UC_HOOK_INSN_INVALID, self._on_invalid)
        # Outside RAM only: unicorn never lets a store to a page under any memory hook stop
        # taking its slow path (notdirty_write), so one over all of RAM made every store slow.
        # RAM is mapped whole, so no access inside it is ever unmapped.
        unmapped = UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED
        hook_add(uc, unmapped, self._on_unmapped, begin=0, end=RAM_BASE - 1)
        hook_add(uc, unmapped, self._on_unmapped, begin=RAM_BASE + self.ram_size, end=PA_LIMIT)
        hook_add(uc, UC_HOOK_TLB_FILL, self._on_tlb_fill)

    def add_device(self, dev: object) -> None:
        """Map an MmioDevice (see ``core.mmio``) into the physical address space. A device
        access that moves an interrupt line reaches the run loop through the GIC's
        ``on_change`` (``interrupt_lines_changed``), so accesses themselves cost no stop."""
        def read(uc: object, offset: int, size: int, _d: object) -> int:
            return dev.read(offset, size)  # type: ignore[attr-defined]

        def write(uc: object, offset: int, size: int, value: int, _d: object) -> None:
            dev.write(offset, size, value)  # type: ignore[attr-defined]

        self.uc.mmio_map(dev.base, dev.size, read, None, write, None)  # type: ignore[attr-defined]
        self.devices.append(dev)

    def reset(self) -> None:
        """QEMU's reset for an ELF ``-kernel`` (armv7-virt.md 10.3): NS Hyp, CPSR 0x1DA, PC = entry."""
        cpu = self.cpu
        self.uc.mem_write(RAM_BASE, bytes(min(self.ram_size, 1 << 20)))
        for addr, data in self.image.segments:
            self.uc.mem_write(addr, data)
        cpu.write_cpsr(CPSR_RESET)
        for n in range(15):
            cpu.set_reg(n, 0)
        for mode in (SVC, 0x17, 0x1B, 0x12, 0x11):
            cpu.set_banked(mode, "sp", 0)
            cpu.set_banked(mode, "lr", 0)
            cpu.set_banked(mode, "spsr", 0)
        cpu.set_spsr(0)
        cpu.set_elr_hyp(0)
        for name, value in (("SCTLR", SCTLR_RESET), ("HSCTLR", HSCTLR_RESET), ("HCR", 0),
                            ("HVBAR", 0), ("VBAR", 0), ("VTTBR", 0), ("VTCR", 0), ("HSTR", 0),
                            ("HCPTR", 0), ("HDCR", HDCR_RESET), ("TTBCR", 0), ("TTBR0", 0), ("TTBR1", 0),
                            ("HTTBR", 0), ("HTCR", 0), ("DACR", 0), ("VPIDR", QEMU_MIDR),
                            ("VMPIDR", MPIDR), ("HSR", 0)):
            cpu.set_sysreg(name, value)
        self.flush_tlb()
        self.intercept.forget()
        self._scanned.clear()
        self.worlds.reset()
        self.counter.count = 0
        self.idle_insns = 0
        self._t0 = time.perf_counter_ns()
        self._halted = False
        self._stop = None
        self.mmu.pending = None
        self._fpexc_saved = None
        self._last_vector = None
        for dev in self.devices:
            reset = getattr(dev, "reset", None)
            if reset:
                reset()
        for n, value in self.image.registers.items():
            cpu.set_reg(n, value)
        if self.reset_mode == "svc":
            cpu.write_cpsr(0x400001D3)
        cpu.set_pc(self.image.entry, self.image.thumb)
        if self.image.thumb:
            cpu.write_cpsr(cpu.cpsr | CPSR_T)
        self.uc.reg_write(UC_ARM_REG_ESR, ESR_SENTINEL)

    # -- time --------------------------------------------------------------
    @property
    def icount(self) -> int:
        """Instructions retired since reset."""
        return self.counter.count

    @property
    def vtime(self) -> int:
        """Virtual time in instruction units: retired instructions plus those skipped while
        idle; with ``--fast``, elapsed host nanoseconds instead (one unit per nanosecond,
        ``INSN_HZ``)."""
        if not self.deterministic:
            return (time.perf_counter_ns() - self._t0) * INSN_HZ // 1_000_000_000
        return self.counter.count + self.idle_insns

    # -- worlds --------------------------------------------------------------
    def world_now(self) -> WorldKey:
        return self._world_of(self.cpu.mode)

    def _world_of(self, mode: int) -> WorldKey:
        if mode == HYP:
            return HYPERVISOR
        return world_outside_hyp(self.cpu.sysreg("HCR"), self.cpu.sysreg("VTTBR"))

    def _save_context(self, key: WorldKey, pc: int, cpsr: int) -> Context:
        ctx = self.worlds.contexts.get(key)
        if ctx is None:
            ctx = self.worlds.contexts[key] = Context(self.uc.context_save(), pc, cpsr, self.icount)
        else:
            self.cpu.save_context(ctx.saved)
            ctx.pc, ctx.cpsr, ctx.icount = pc, cpsr, self.icount
        return ctx

    def _force_fp_traps(self, hcptr: Optional[int] = None) -> None:
        """HCPTR.TCP10/11 trap VFP/SIMD use outside Hyp (B4.1.73), which unicorn does not
        model; it does UNDEF them while FPEXC.EN=0. So on the way out of Hyp with the trap
        set, EN is cleared in the CPU (the true FPEXC kept aside, restored at the next entry
        to Hyp) and the UNDEF is turned into the HCPTR trap by ``_hcptr_trap``."""
        if hcptr is None:
            hcptr = self.cpu.sysreg("HCPTR")
        if self._fpexc_saved is None and hcptr & (3 << 10):
            fpexc = self.uc.reg_read(UC_ARM_REG_FPEXC)
            self._fpexc_saved = fpexc
            self.uc.reg_write(UC_ARM_REG_FPEXC, fpexc & ~FPEXC_EN)

    def _restore_fpexc(self) -> None:
        if self._fpexc_saved is not None:
            self.uc.reg_write(UC_ARM_REG_FPEXC, self._fpexc_saved)
            self._fpexc_saved = None

    def _before_exception(self, exc: Exc, cpsr: int) -> None:
        if self._fpexc_saved is not None:
            self._restore_fpexc()
        entry = self.entry
        if not entry.to_hyp:
            # Taken to PL1, the world stays where it is and stays live: its saved context
            # is read only once it has left, and leaving (to Hyp) saves it again.
            return
        self._save_context(self._world_left(cpsr & MODE_MASK), exc.ret, cpsr)

    def _world_left(self, from_mode: int) -> WorldKey:
        """The world an exception being taken to Hyp leaves, from the HCR and VTTBR that
        the entry read."""
        if from_mode == HYP:
            return HYPERVISOR
        return world_outside_hyp(self.entry.hcr, self.entry.vttbr)

    def _after_exception(self, entry: Entry) -> None:
        if not entry.to_hyp:
            return
        left = self._world_left(entry.from_mode)
        exc = entry.exc
        kind = exc.kind
        if kind == "irq" or kind == "fiq":
            hsr, imm = 0, None
        else:
            hsr = entry.hsr
            imm = hsr & 0xFFFF if kind == "hvc" and S.ec_of(hsr) == S.EC_HVC else None
        rec = self.worlds.record_exit(kind, left, exc.ret, hsr, None, self.icount, imm)
        if bool(entry.ctl & 2) != (self._align_hook is not None):
            self.counter.deadline = 0        # the alignment hook follows the regime (HSCTLR.A)
        for check in self.on_exit:
            why = check(rec)
            if why:
                self._request_stop(Stop("catch", why))

    # -- stopping --------------------------------------------------------------
    def _request_stop(self, stop: Stop) -> None:
        with self._stop_lock:
            if self._stop is None:
                self._stop = stop
        self.uc.emu_stop()

    def request_stop(self) -> None:
        """Thread-safe: make a running ``run`` return ``interrupted`` soon."""
        self._external_stop = True
        self.uc.emu_stop()
        self._wake.set()

    def _sync_count(self, pc: int) -> None:
        """Correct the block count when a block ended early at ``pc``."""
        self.counter.count = self.counter.retired(pc)

    # -- hooks -----------------------------------------------------------------
    def _on_intr(self, uc: object, intno: int, _d: object) -> None:
        cpu = self.cpu
        regs = self._intr_regs.read()
        pc, esr = regs[0], regs[1]
        thumb = bool(regs[2] & CPSR_T)
        self._sync_count(pc)
        if intno in (2, 11):            # SVC, HVC: PC is the next instruction
            self._take(Exc("svc" if intno == 2 else "hvc", pc, thumb, hsr=esr), regs[2:])
        elif intno == 13:               # SMC not trapped: PSCI
            self._smc(pc, thumb)
        elif intno == 12:               # trapped SMC (TSC) or VMRS (TID0/TID3): PC at the insn
            self._take(Exc("trap", pc, thumb, hsr=esr))
        elif intno == 7:                # BKPT: a debug event, taken as a prefetch abort
            if cpu.mode == HYP:
                self._take(Exc("pabt", pc, thumb, hsr=S.hsr(S.EC_IABT_HYP, 0x22, il=False)))
            else:
                self._take(Exc("pabt", pc, thumb, fault_regs={"IFSR": 0x2}))
        elif intno == 4:                # an exclusive access that is not aligned
            self._take(self._alignment_fault(pc, thumb))
        else:
            self._request_stop(Stop("fault", f"unexpected exception {intno} at {pc:#010x}"))
        cpu.write_id(UC_ARM_REG_ESR, ESR_SENTINEL)

    def _on_invalid(self, uc: object, _d: object) -> bool:
        cpu = self.cpu
        pc, esr, thumb = cpu.pc, cpu.esr, cpu.thumb
        # An UNDEF writes ESR 0x02000000 and a trap a syndrome of its class; WFE and YIELD
        # write nothing (ESR keeps a stale value, often a load/store template) and leave
        # PC past themselves.
        if esr != UNDEF_ESR and S.ec_of(esr) not in _TRAP_ECS:
            hint = self._wfe_or_yield_before(pc, thumb)
            if hint is not None:
                self._sync_count(pc)
                size, word, is_wfe = hint
                if is_wfe and cpu.mode != HYP and cpu.sysreg("HCR") & (1 << 14):
                    cond = 0xE if thumb else word >> 28
                    self._take(Exc("trap", pc - size, thumb,
                                   hsr=S.hsr(S.EC_WFX, S.wfx_iss(cond, True), size == 4)))
                return True
        self._sync_count(pc)
        ec = S.ec_of(esr)
        if ec == S.EC_UNKNOWN:
            hcptr = self._hcptr_trap(pc, thumb)
            if hcptr is not None:
                self._take(Exc("trap", pc, thumb, hsr=hcptr))
            else:
                self._take(Exc("undef", pc, thumb, hsr=0))
        else:
            if ec == S.EC_WFX and not thumb:
                cond = self._insn_word(pc, False, 4) >> 28
                esr = (esr & ~(0xF << 20)) | (cond << 20)
            self._take(Exc("trap", pc, thumb, hsr=esr))
        uc.reg_write(UC_ARM_REG_ESR, ESR_SENTINEL)  # type: ignore[attr-defined]
        return True

    def _wfe_or_yield_before(self, pc: int, thumb: bool) -> Optional[Tuple[int, int, bool]]:
        """(size, encoding, is WFE) if the instruction before ``pc`` is WFE or YIELD."""
        for size in ((2, 4) if thumb else (4,)):
            word = self._insn_word(pc - size, thumb, size)
            if thumb:
                if word in (0xBF20, 0xF3AF8002):
                    return size, word, True
                if word in (0xBF10, 0xF3AF8001):
                    return size, word, False
            elif (word & 0x0FFFFFFF) in (0x0320F002, 0x0320F001):
                return size, word, (word & 0xF) == 2
        return None

    def _hcptr_trap(self, pc: int, thumb: bool) -> Optional[int]:
        """HSR for a VFP/Advanced SIMD instruction that HCPTR.TCP10/TCP11 traps (B4.1.73),
        or None. unicorn reports these only as UNDEF (FPEXC.EN=0), never as the trap."""
        cpu = self.cpu
        if cpu.mode == HYP:
            return None
        hcptr = cpu.sysreg("HCPTR")
        if not hcptr & (3 << 10):
            return None
        word = self._insn_word(pc, thumb, 4)
        if thumb:
            simd = (word >> 24) & 0xEF == 0xEF or (word >> 24) == 0xF9
        else:
            simd = (word >> 25) == 0b1111001 or (word >> 24) == 0xF4
        coproc = (word >> 8) & 0xF
        # VFP: CDP/MCR/MRC class (bits 27:24 = 1110) or LDC/STC class (27:25 = 110), cp10/cp11
        vfp = ((word >> 24) & 0xF == 0xE or (word >> 25) & 0x7 == 0b110) and coproc in (10, 11)
        if not simd and not vfp:
            return None
        if not hcptr & (1 << (coproc if coproc in (10, 11) else 10)):
            return None
        cond = 0xE if thumb or simd else word >> 28
        iss = S.cond_iss(cond) | (0x20 if simd else 0) | (0 if simd else coproc)
        return S.hsr(S.EC_HCPTR, iss)

    def _on_unmapped(self, uc: object, access: int, addr: int, size: int, value: int, _d: object) -> bool:
        self._unmapped = (access, addr, size)
        return False

    def _on_tlb_fill(self, uc: object, vaddr: int, access: int, entry: object, _d: object) -> bool:
        result = self._translate_fill(vaddr, access)
        if result is None:
            return False
        pa, perms = result
        mode = self.cpu.mode
        self.tlb_cache.insert(vaddr, mode, pa, perms, access == UC_MEM_FETCH)
        self.mmu.arm_native_walks(mode == HYP)
        if access != UC_MEM_FETCH:
            # Execute is granted only on a fetch fill, the one that scans the page for
            # intercepted instructions: data-only pages are never scanned.
            perms &= ~4
        entry.paddr = pa  # type: ignore[attr-defined]
        entry.perms = perms  # type: ignore[attr-defined]
        if access == UC_MEM_FETCH and mode == HYP:
            lo, hi = self._hyp_text or (vaddr, vaddr + PAGE - 1)
            self._hyp_text = (min(lo, vaddr), max(hi, vaddr + PAGE - 1))
        if perms & 4 and RAM_BASE <= pa < RAM_BASE + self.ram_size:
            data = bytes(self.uc.mem_read(pa, PAGE))
            # HCR traps never apply to Hyp mode; a change of HCR flushes the TLB, so
            # pages are filled (and scanned if need be) again under the new traps
            traps = 0 if mode == HYP else self.mmu.stage2_regs().hcr & _SOFT_TRAP_MASK
            key = (vaddr, pa, traps)
            crc = zlib.crc32(data)
            if self._scanned.get(key) != crc:      # unchanged code was scanned already
                self._scanned[key] = crc
                self.intercept.scan(vaddr, pa, data, traps)
        return True

    def _translate_fill(self, vaddr: int, access: int) -> Optional[Tuple[int, int]]:
        return self.mmu.fill(vaddr, access)

    # -- cp15 / ERET interception -------------------------------------------
    def _read_ram(self, pa: int, size: int) -> bytes:
        """RAM bytes through a preallocated buffer (the hot path of intercepted sites)."""
        if uclib.uc_mem_read(self.uc._uch, pa, self._ram_buf, size):
            return b""
        return self._ram_buf.raw[:size]

    def _wants_insn(self, insn: CpInsn, traps: int = 0) -> bool:
        """Whether to hook a cp15 access, given the HCR soft-trap bits that apply to the page."""
        if insn.is64:
            return insn.crm == 14 or (not insn.read and cp15.lookup(True, 0, insn.opc1, insn.crm, 0)
                                      is not None and cp15.lookup(True, 0, insn.opc1, insn.crm, 0).name
                                      in _TRANSLATION_REGS)
        if insn.crn == 14:
            return True
        reg = cp15.lookup(False, insn.crn, insn.opc1, insn.crm, insn.opc2)
        if insn.crn == 8 and not insn.read:
            return True                      # TLB maintenance: see _on_cp_site
        if reg is None:
            return bool(traps & (1 << cp15.HCR_TRAP_BIT["tidcp"])) and cp15.is_tidcp(False, insn.crn, insn.crm)
        if reg.name in ("MIDR", "MPIDR") or reg.name in ID_OVERRIDES:
            return insn.read
        if reg.trap in _SOFT_TRAPS:
            return bool(traps & (1 << cp15.HCR_TRAP_BIT[reg.trap]))
        return not insn.read and reg.name in _TRANSLATION_REGS

    def _on_cp_site(self, site: Site) -> bool:
        cpu = self.cpu
        cpsr = cpu.read_id(UC_ARM_REG_CPSR)
        insn = site.insn
        if insn is None:                    # ERET
            if (cpsr & MODE_MASK) == HYP:
                self._on_eret(site, cpsr)
            return False
        if site.thumb:
            if it_state(cpsr):
                return False
        elif insn.cond != 0xE and not condition_passed(insn.cond, cpsr):
            return False
        mode = cpsr & MODE_MASK
        if insn.crn == 14 or (insn.is64 and insn.crm == 14):
            return timer_access_site(self, site, insn, mode)
        reg = cp15.lookup(insn.is64, insn.crn, insn.opc1, insn.crm, insn.opc2)
        if mode != HYP:
            trap = reg.trap if reg is not None else ("tidcp" if cp15.is_tidcp(insn.is64, insn.crn, insn.crm) else "")
            if (trap in _SOFT_TRAPS or trap == "tidcp") \
                    and cpu.sysreg("HCR") & (1 << cp15.HCR_TRAP_BIT[trap]):
                self._cp_trap(site, insn)
                return True
        if reg is not None and insn.read and (reg.name in ("MIDR", "MPIDR") or reg.name in ID_OVERRIDES):
            if reg.name in ("MIDR", "MPIDR") and mode != HYP:
                value = cpu.sysreg("VPIDR" if reg.name == "MIDR" else "VMPIDR")
            elif reg.name == "MPIDR":
                value = MPIDR
            else:
                value = ID_OVERRIDES[reg.name]
            self._complete(site, {insn.rt: value})
            return True
        if insn.crn == 8 and not insn.read:
            # The instruction runs natively and flushes unicorn's TLB; the C translation
            # cache behind it is ours to flush. By address, unicorn keeps 1 KiB pages and
            # invalidates only the one holding the address, leaving the rest of a remapped
            # 4 KiB page stale: invalidate all four quarters of the 4 KiB page.
            if insn.opc2 not in (1, 3, 5):
                self.tlb_cache.flush()
            elif not (mode != HYP and cpu.sysreg("HCR") & (1 << cp15.HCR_TRAP_BIT["ttlb"])):
                value = cpu.reg(insn.rt)
                self.tlb_cache.invalidate_page(value)
                base = value & ~0xC00
                for quarter in range(4):
                    cpu.cp_write(insn.crn, insn.opc1, insn.crm, insn.opc2, base | (quarter << 10))
            return False
        if reg is not None and reg.name in _TRANSLATION_REGS and not insn.read:
            self.flush_tlb()
            if reg.name in ("HCR", "SCTLR", "HSCTLR"):
                self.counter.deadline = 0
        return False

    def _cp_trap(self, site: Site, insn: CpInsn) -> None:
        self._sync_count(site.va)
        if insn.is64:
            hsr = S.hsr(S.EC_CP15_64, S.cp15_64_iss(0xE if site.thumb else insn.cond, insn.opc1,
                                                     insn.rt2, insn.rt, insn.crm, insn.read))
        else:
            hsr = S.hsr(S.EC_CP15_32, S.cp15_32_iss(0xE if site.thumb else insn.cond, insn.opc2,
                                                     insn.opc1, insn.crn, insn.rt, insn.crm, insn.read))
        self._take(Exc("trap", site.va, site.thumb, hsr=hsr))

    def _complete(self, site: Site, results: Dict[int, int]) -> None:
        """Finish an instruction we emulated: write its results and step past it."""
        counter = self.counter
        counter.count = counter.retired(site.va) + 1
        cpu = self.cpu
        writes = [(GPR_IDS[rt], value & 0xFFFFFFFF) for rt, value in results.items() if rt != 15]
        if len(writes) > 1:
            cpu.batch(tuple(reg for reg, _ in writes)).write([value for _, value in writes])
        elif writes:
            cpu.write_id(*writes[0])
        cpu.write_id(UC_ARM_REG_PC, (site.va + 4) | int(site.thumb))

    # Entry points for the instruction emulators (timerregs).
    def sync_count(self, pc: int) -> None:
        self._sync_count(pc)

    def take(self, exc: Exc) -> Entry:
        return self._take(exc)

    def trap_cp(self, site: Site, insn: CpInsn) -> None:
        self._cp_trap(site, insn)

    complete = _complete

    def _on_eret(self, site: Site, cpsr: int) -> None:
        spsr, hcr, vttbr, hcptr, sctlr = self._eret_regs.read()
        target_mode = spsr & MODE_MASK
        if target_mode == HYP:
            return
        ctx = self._save_context(HYPERVISOR, site.va, cpsr)
        elr = self.cpu.elr_hyp_in(ctx.saved)
        self._force_fp_traps(hcptr)
        rec = self.worlds.record_eret(world_outside_hyp(hcr, vttbr), elr, self.icount)
        if self._masked_pending(hcr) or bool(sctlr & 2) != (self._align_hook is not None):
            self.counter.deadline = 0    # the world entered may take it at once (SCTLR.A: its regime)
        for check in self.on_eret:
            why = check(rec)
            if why:
                with self._stop_lock:
                    if self._stop is None:
                        self._stop = Stop("catch", why)
                self.counter.deadline = self.counter.retired(site.va) + 1

    # -- exceptions --------------------------------------------------------------
    def _take(self, exc: Exc, state: Optional[List[int]] = None) -> Entry:
        """Take ``exc``; ``state``: ``ENTRY_STATE`` if just read (see ``ExceptionEntry.take``)."""
        self._taken += 1
        return self.entry.take(exc, state)

    def _smc(self, pc: int, thumb: bool) -> None:
        cpu = self.cpu
        fid = cpu.reg(0)
        res = psci.call(fid, cpu.reg(1), cpu.reg(2), cpu.reg(3), MPIDR)
        if res.r0 is not None:
            cpu.set_reg(0, res.r0 & 0xFFFFFFFF)
        if res.action == "off":
            self._request_stop(Stop("poweroff", "PSCI SYSTEM_OFF", 0))
        elif res.action == "reset":
            self._request_stop(Stop("reset", "PSCI SYSTEM_RESET", 0))
        elif res.action == "halt":
            self._halted = True
            self.uc.emu_stop()

    def _alignment_fault(self, pc: int, thumb: bool) -> Exc:
        addr = self._data_address(pc, thumb)
        if self.cpu.mode == HYP:
            return Exc("dabt", pc, thumb, hsr=S.hsr(S.EC_DABT_HYP, 0x21, il=False),
                       hyp_fault_regs={"HDFAR": addr})
        return Exc("dabt", pc, thumb, tge_abort=True, fault_regs={"DFSR": 0x1, "DFAR": addr},
                   hsr=S.hsr(S.EC_DABT, 0x21, il=False), hyp_fault_regs={"HDFAR": addr})

    def _data_address(self, pc: int, thumb: bool) -> int:
        """Best-effort base register value of the load/store at ``pc`` (for fault addresses)."""
        word = self._insn_word(pc, thumb, 4)
        return self.cpu.reg((word >> 16) & 0xF)   # Rn: bits 19:16 in ARM and joined Thumb-2

    def _insn_word(self, va: int, thumb: bool, size: int) -> int:
        try:
            raw = self.read_virt(va, size)
        except Exception:
            return 0
        if size == 2:
            return struct.unpack("<H", raw)[0]
        if thumb:
            lo, hi = struct.unpack("<HH", raw)
            return (lo << 16) | hi
        return struct.unpack("<I", raw)[0]

    def _is_thumb32_at(self, va: int) -> bool:
        from .coproc import is_thumb32
        return is_thumb32(self._insn_word(va, True, 2))

    # -- memory -----------------------------------------------------------------
    def flush_tlb(self) -> None:
        """Forget every translation: unicorn's TLB and the MMU's register snapshots."""
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)
        self.tlb_cache.flush()
        self.mmu.invalidate()

    def read_phys(self, pa: int, size: int) -> bytes:
        """Side-effect-free physical read (RAM only; devices through their ``peek``)."""
        if RAM_BASE <= pa and pa + size <= RAM_BASE + self.ram_size:
            return bytes(self.uc.mem_read(pa, size))
        for dev in self.devices:
            if dev.base <= pa and pa + size <= dev.base + dev.size:  # type: ignore[attr-defined]
                out = b""
                for off in range(pa - dev.base, pa - dev.base + size, 4):  # type: ignore[attr-defined]
                    out += struct.pack("<I", dev.peek(off & ~3, 4))  # type: ignore[attr-defined]
                return out[:size]
        raise MemoryError(f"no memory at physical address {pa:#010x}")

    def write_phys(self, pa: int, data: bytes) -> None:
        if RAM_BASE <= pa and pa + len(data) <= RAM_BASE + self.ram_size:
            self.uc.mem_write(pa, data)
            self.tlb_cache.flush()      # written code must be scanned again when fetched
            return
        raise MemoryError(f"no RAM at physical address {pa:#010x}")

    def read_virt(self, va: int, size: int) -> bytes:
        """Read by virtual address of the current world (flat while translation is off)."""
        pa = self.virt_to_phys(va)
        return self.read_phys(pa, size)

    def debug_translate(self, addr: int, world: Optional[WorldKey], ipa: bool) -> int:
        """PA of a debugger access: no side effects, no TLB change (MemoryError if unmapped)."""
        return self.mmu.debug_translate(addr, world, ipa)

    def virt_to_phys(self, va: int) -> int:
        return self.mmu.debug_translate(va, None, False)

    # -- breakpoints and watchpoints ---------------------------------------------
    def add_breakpoint(self, addr: int) -> None:
        """A breakpoint is a code hook bound to one address: free everywhere else."""
        if addr in self.breakpoints:
            return
        handle = self._parked_breakpoints.pop(addr, None)
        if handle is not None:
            self.breakpoints[addr] = handle     # its hook is still in the translated code
            return
        self.breakpoints[addr] = hook_add(self.uc, UC_HOOK_CODE, self._on_breakpoint,
                                          begin=addr, end=addr)
        self.uc.ctl_remove_cache(addr, addr + 4)

    def remove_breakpoint(self, addr: int) -> None:
        """The breakpoint stops nothing from now on. Its hook is parked until the next ``run``:
        GDB removes every breakpoint at each stop and inserts them again before it resumes,
        and deleting and adding a hook costs a retranslation of its block each time."""
        handle = self.breakpoints.pop(addr, None)
        if handle is not None:
            self._parked_breakpoints[addr] = handle

    def _drop_parked_breakpoints(self) -> None:
        for addr, handle in self._parked_breakpoints.items():
            self.uc.hook_del(handle)
            self.uc.ctl_remove_cache(addr, addr + 4)
        self._parked_breakpoints.clear()

    def _on_breakpoint(self, uc: object, address: int, size: int, _d: object) -> None:
        if address not in self.breakpoints:
            return
        if self._bp_skip == address:
            self._bp_skip = None
            return
        self._sync_count(address)
        self._request_stop(Stop("breakpoint"))

    def add_watchpoint(self, addr: int, length: int, kind: str) -> None:
        key = (addr, length, kind)
        if key in self.watchpoints:
            return
        types = {"watch": UC_HOOK_MEM_WRITE, "rwatch": UC_HOOK_MEM_READ,
                 "awatch": UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}[kind]
        self.watchpoints[key] = self.uc.hook_add(types, self._on_watch, user_data=kind,
                                                 begin=addr, end=addr + length - 1)
        self._track_pc()

    def remove_watchpoint(self, addr: int, length: int, kind: str) -> None:
        handle = self.watchpoints.pop((addr, length, kind), None)
        if handle is not None:
            self.uc.hook_del(handle)
        self._track_pc()

    def _track_pc(self, hyp_only: bool = False) -> None:
        """Memory hooks see PC at the start of the translation block; while any memory hook
        needs the accessing instruction (watchpoints, alignment checks), the counter records
        each instruction's address: of all code, or (``hyp_only``: only Hyp's alignment
        checks need it) of the code Hyp mode has fetched, so that a hypervisor's guests
        do not pay a call per instruction."""
        track = getattr(self.counter, "track_insn_pc", None)
        if track is None:
            return
        if self.watchpoints or (self._align_hook is not None and not hyp_only):
            track()
        elif self._align_hook is not None and self._hyp_text is not None:
            track(*self._hyp_text)

    def _access_pc(self) -> int:
        """Address of the instruction making the current memory access."""
        pc = getattr(self.counter, "insn_pc", None)
        return pc if pc else self.cpu.pc

    def _on_watch(self, uc: object, access: int, address: int, size: int, value: int, kind: str) -> None:
        """Stop *before* the access, as GDB expects on ARM: the state is rolled back after
        the instruction completes (registers from a saved context, memory from the old bytes)."""
        if self._watch_hit is not None:
            return
        pc = self._access_pc()
        old = bytes(self.uc.mem_read(address, size)) if access == UC_MEM_WRITE else None
        self._watch_hit = (self.uc.context_save(), pc, address, old, self.counter.retired(pc))
        self._request_stop(Stop("watchpoint", data_addr=address, watch_kind=kind))

    def _update_alignment_check(self, want: Optional[bool] = None, hyp: Optional[bool] = None) -> None:
        """SCTLR.A / HSCTLR.A: unicorn checks no alignment, so while the regime that runs
        sets its bit a memory hook checks every access (B3.12.8); it is removed while that
        regime checks nothing, since any memory hook puts every access on unicorn's slow path.
        ``want``: whether the current regime checks, and ``hyp``: whether it is Hyp's, if the
        caller has read them. The code about to run unchecked is remembered by regime."""
        if hyp is None:
            hyp = self.cpu.mode == HYP
        if want is None:
            want = self._align_needed(HYP if hyp else SVC)
        if want and self._align_hook is None:
            if hyp in self._ran_unchecked:
                # blocks translated while no memory hook existed access memory on unicorn's
                # fast path, past any hook added later: translate this regime's code again
                self.uc.ctl_flush_tb()
                self._ran_unchecked.clear()
            if self._align_ctx is None:
                self._align_ctx = self.uc.context_save()
            native = getattr(self.counter, "align_check", None)
            if native is not None and native(self._align_ctx):
                self._align_hook = NATIVE_HOOK      # checked in C: a hypervisor may set HSCTLR.A
            else:
                self._align_hook = self.uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, self._on_align)
            self._track_pc(hyp)
        elif want and hyp:
            self._track_pc(True)            # Hyp may have fetched new code since
        elif not want and self._align_hook is not None:
            if self._align_hook == NATIVE_HOOK:
                self.counter.align_check(None)
            else:
                self.uc.hook_del(self._align_hook)
            self._align_hook = None
            self._track_pc()
        if self._align_hook is None:
            self._ran_unchecked.add(hyp)

    def _native_align_hit(self) -> None:
        """Move a misaligned access the C hook caught into ``_align_fault``."""
        take = getattr(self.counter, "take_align_hit", None)
        hit = take() if take is not None else None
        if hit is not None and self._align_fault is None:
            address, size, pc, write = hit
            self._align_fault = (self._align_ctx, pc, address, write, self.counter.retired(pc))

    def _align_needed(self, mode: int) -> bool:
        """Alignment checking is on in the regime of ``mode`` (HSCTLR.A in Hyp, else SCTLR.A)."""
        return bool(self.cpu.sysreg("HSCTLR" if mode == HYP else "SCTLR") & 2)

    def _on_align(self, uc: object, access: int, address: int, size: int, value: int, _d: object) -> None:
        if not address & (size - 1) or self._align_fault is not None:
            return
        cpu = self.cpu
        reg = "HSCTLR" if cpu.mode == HYP else "SCTLR"
        if not cpu.sysreg(reg) & 2:
            return
        pc = self._access_pc()
        self._align_fault = (self.uc.context_save(), pc, address, access == UC_MEM_WRITE,
                             self.counter.retired(pc))
        self.uc.emu_stop()

    def _take_alignment_fault(self) -> None:
        """Undo the misaligned access (it completed inside unicorn) and take the abort."""
        ctx, pc, address, write, count = self._align_fault  # type: ignore[misc]
        self._align_fault = None
        self.uc.context_restore(ctx)
        self.counter.count = count
        cpu = self.cpu
        thumb = cpu.thumb
        cpu.set_pc(pc, thumb)
        if cpu.mode == HYP:
            exc = Exc("dabt", pc, thumb, hsr=S.hsr(S.EC_DABT_HYP, 0x21 | (0x40 if write else 0), il=False),
                      hyp_fault_regs={"HDFAR": address})
        else:
            lpae = bool(cpu.sysreg("TTBCR") & (1 << 31))
            dfsr = (0x221 if lpae else 0x1) | (0x800 if write else 0)
            exc = Exc("dabt", pc, thumb, tge_abort=True, fault_regs={"DFSR": dfsr, "DFAR": address},
                      hsr=S.hsr(S.EC_DABT, 0x21 | (0x40 if write else 0), il=False),
                      hyp_fault_regs={"HDFAR": address})
        self._take(exc)

    def _undo_watched_access(self) -> None:
        ctx, pc, address, old, count = self._watch_hit  # type: ignore[misc]
        self._watch_hit = None
        self.uc.context_restore(ctx)
        self.cpu.set_pc(pc)
        if old is not None:
            self.uc.mem_write(address, old)
        self.counter.count = count

    # -- running ------------------------------------------------------------------
    def step(self, deliver_irqs: bool = False) -> Stop:
        """Execute one instruction (interrupts stay pending unless ``deliver_irqs``)."""
        cpu = self.cpu
        if deliver_irqs:
            self._deliver_interrupts()
        start = self.icount
        self._taken = 0
        pc = cpu.pc
        if pc in self.breakpoints:
            self._bp_skip = pc
        self._unmapped = None
        self.mmu.pending = None
        self.counter.deadline = 1 << 62
        self.uc.reg_write(UC_ARM_REG_ESR, ESR_SENTINEL)
        self._update_alignment_check()
        if self._ran_free:
            # Blocks translated by a free run carry no instruction-count check, and a
            # chained loop among them would never honour count=1: translate afresh.
            self.uc.ctl_flush_tb()
            self._ran_free = False
        try:
            self.uc.emu_start(pc | int(cpu.thumb), UNTIL, count=1)
        except UcError as err:
            self._emu_error(err)
            self.counter.count = start
        else:
            if self._taken == 0:
                self.counter.count = start + 1
        self._bp_skip = None
        self._native_align_hit()
        if self._align_fault is not None:
            self._take_alignment_fault()
        if self._watch_hit is not None:
            self._undo_watched_access()
        if self._stop is not None:
            stop, self._stop = self._stop, None
            if stop.kind == "breakpoint":
                return Stop("step")
            return stop
        return Stop("step")

    def run(self, max_insns: Optional[int] = None) -> Stop:
        """Run until something stops the machine (power-off, a stop request, the budget)."""
        end = None if max_insns is None else self.icount + max_insns
        self._ran_free = True
        if self._parked_breakpoints:
            self._drop_parked_breakpoints()
        pc = self.cpu.pc
        if pc in self.breakpoints:
            self._bp_skip = pc
        try:
            return self._run(end, max_insns)
        finally:
            self._external_stop = False
            self._bp_skip = None
            if self._watch_hit is not None:
                self._undo_watched_access()

    def _run(self, end: Optional[int], max_insns: Optional[int]) -> Stop:
        while True:
            if self._stop is not None:
                stop, self._stop = self._stop, None
                return stop
            if self._external_stop:
                self._external_stop = False
                return Stop("interrupted")
            if end is not None and self.icount >= end:
                return Stop("limit", f"instruction budget of {max_insns} spent")
            if self._halted:
                return Stop("fault", f"the CPU was powered off (PSCI CPU_OFF) at {self.cpu.pc:#010x}")
            if self._inputs:
                with self._stop_lock:
                    inputs, self._inputs = self._inputs, []
                for action in inputs:
                    action()
            self._deliver_interrupts()
            if self._stop is not None:
                continue
            icount = self.icount
            deadline = icount + (GROW_SLICE if self._tlb_growing else SLICE)
            if end is not None:
                deadline = min(deadline, end)
            if self.deterministic:
                nxt = self._next_timer_insns()
                if nxt is not None:
                    deadline = max(icount, min(deadline, nxt - self.idle_insns))
            else:
                deadline = min(deadline, icount + self._fast_slice())
                t0 = time.perf_counter_ns()
            self.counter.deadline = deadline
            self._slice()
            ran = self.icount - icount
            if not self.deterministic and ran:
                self._fast_rate = ran / max(1, time.perf_counter_ns() - t0)
            self._tlb_growing = self.tlb_cache.thrashed(ran)
            if self._tlb_growing:
                self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)

    def _fast_slice(self) -> int:
        """``--fast``: instructions to run before looking at the host clock again. With no
        timer armed nothing is due on that clock: a whole ``SLICE``. Otherwise about half
        of what the time left until the timer's deadline holds at the last slice's speed,
        at least ``FAST_SLICE``: the slices shorten towards the deadline, so a slower
        stretch of code delays the interrupt by a fraction of the time left, not by
        slices of a fixed length (whose every boundary costs a pass through Python)."""
        nxt = self._next_timer_insns()
        if nxt is None:
            return SLICE
        left_ns = (nxt - self.vtime) * 1_000_000_000 // INSN_HZ
        return max(FAST_SLICE, min(SLICE, int(left_ns * self._fast_rate) // 2))

    def _slice(self) -> None:
        cpu = self.cpu
        pc, cpsr, hcr, sctlr, hsctlr = self._slice_regs.read()
        if self._masked_pending(hcr):
            # Unmasking (CPSIE, MSR, an exception return) changes CPSR's masks or mode
            # and ends a translation block: the counter stops at the block after it.
            self.counter.watch_cpsr(cpsr, WATCHED_PSR)
        else:
            self.counter.watch_cpsr(0, 0)
        cpu.write_id(UC_ARM_REG_ESR, ESR_SENTINEL)
        hyp = (cpsr & MODE_MASK) == HYP
        self._update_alignment_check(bool((hsctlr if hyp else sctlr) & 2), hyp)
        begin = pc | int(bool(cpsr & CPSR_T))
        self._unmapped = None
        self.mmu.pending = None
        try:
            self.uc.emu_start(begin, UNTIL)
        except UcError as err:
            self._sync_count(cpu.pc)
            self._emu_error(err)
            return
        if self._align_hook is not None:
            self._native_align_hit()
        if self._align_fault is not None:
            self._take_alignment_fault()
            return
        if self._stop is None and not self._external_stop and self.icount < self.counter.deadline \
                and not self._halted and self._after_wfi():
            self._idle()

    def _after_wfi(self) -> bool:
        """emu_start returned on its own: true if it was a WFI (unicorn halts with PC past it)."""
        pc, thumb = self.cpu.pc, self.cpu.thumb
        if thumb:
            return self._insn_word(pc - 2, True, 2) == 0xBF30 or self._insn_word(pc - 4, True, 4) == 0xF3AF8003
        return (self._insn_word(pc - 4, False, 4) & 0x0FFFFFFF) == 0x0320F003

    def _emu_error(self, err: UcError) -> None:
        raise_kept(self.uc, err)
        cpu = self.cpu
        pc, thumb = cpu.pc, cpu.thumb
        if err.errno == UC_ERR_EXCEPTION and self.mmu.pending is not None:
            exc = self.mmu.fault_exception(pc, thumb)
            if exc is not None:
                self._take_fault(exc)
                return
        if err.errno in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED) \
                and self._unmapped is not None:
            access, addr, size = self._unmapped
            self._external_abort(pc, thumb, access, addr)
            return
        self._request_stop(Stop("fault", f"emulation error at {pc:#010x}: {err}"))

    def _external_abort(self, pc: int, thumb: bool, access: int, pa: int) -> None:
        """A synchronous external abort for an access to a hole in the physical map."""
        fetch = access == UC_MEM_FETCH or access == 21
        if fetch:
            va = pc
            exc = Exc("pabt", va, thumb, tge_abort=True, fault_regs={"IFSR": 0x8, "IFAR": va},
                      hsr=S.hsr(S.EC_IABT_HYP if self.cpu.mode == HYP else S.EC_IABT, 0x10, il=False),
                      hyp_fault_regs={"HIFAR": va})
        else:
            write = access in (UC_MEM_WRITE, 20)
            va = pa
            exc = Exc("dabt", pc, thumb, tge_abort=True,
                      fault_regs={"DFSR": 0x8 | (0x800 if write else 0), "DFAR": va},
                      hsr=S.hsr(S.EC_DABT_HYP if self.cpu.mode == HYP else S.EC_DABT,
                                0x10 | (0x40 if write else 0), il=False),
                      hyp_fault_regs={"HDFAR": va})
        self._take_fault(exc)

    def _take_fault(self, exc: Exc) -> None:
        """Take an abort, stopping with an explanation when aborts keep hitting one vector."""
        if exc.kind == "pabt" and self._last_vector is not None and exc.ret == self._last_vector:
            self._request_stop(Stop("fault", f"instruction fetch from {exc.ret:#010x} aborts, "
                                             f"and that is the abort vector itself"))
            return
        # A loop is the handler aborting again before it could do anything: the same vector
        # within a few instructions, many times over. (An MMIO emulator takes one abort per
        # access, from different instructions, and is not a loop.)
        tight = self._last_vector is not None and self.icount - self._last_fault_icount <= LOOP_INSNS
        entry = self._take(exc)
        if tight and self._last_vector == entry.vector and self._fault_loop > 8:
            self._request_stop(Stop("fault", f"exception loop: aborts keep entering the vector at "
                                             f"{entry.vector:#010x} (last at {exc.ret:#010x})"))
        self._fault_loop = self._fault_loop + 1 if tight and self._last_vector == entry.vector else 0
        self._last_vector = entry.vector
        self._last_fault_icount = self.icount

    def _idle(self) -> None:
        """The CPU executed WFI with nothing pending: skip ahead to the next timer deadline."""
        if self._interrupt_pending():
            return
        nxt = self._next_timer_insns()
        if nxt is None:
            if self.input_sources > 0:
                # only input can wake the CPU: wait for it (or for a stop request)
                self._wake.wait()
                self._wake.clear()
                return
            self._request_stop(Stop("fault", f"WFI at {self.cpu.pc - 4:#010x} with no interrupt "
                                             f"that could wake the CPU"))
            return
        if nxt > self.vtime:
            if self.deterministic:
                self.idle_insns += nxt - self.vtime
            else:
                time.sleep(min(0.05, (nxt - self.vtime) / INSN_HZ))

    def _interrupt_pending(self) -> bool:
        if self.gic is None:
            return bool(self.cpu.sysreg("HCR") & 0xC0)
        return bool(self.gic.irq_line() or self.gic.fiq_line() or self.gic.virq_line()
                    or self.gic.vfiq_line())

    def _next_timer_insns(self) -> Optional[int]:
        if self.timer is None:
            return None
        ticks = self.timer.next_deadline()
        if ticks is None:
            return None
        return ticks * INSNS_PER_TICK

    def _deliver_interrupts(self) -> None:
        """Physical IRQ/FIQ from the GIC to PL1 or Hyp (B1.8.6); the GIC's virtual
        IRQ/FIQ lines are ORed into HCR.VI/VF, which unicorn then takes natively."""
        gic = self.gic
        if gic is None:
            return
        timer = self.timer
        if timer is not None:
            # Outputs that move now are dealt with below: not through on_change, which is
            # for moves in the middle of a slice.
            on_change, gic.on_change = gic.on_change, None
            try:
                timer.update()
            finally:
                gic.on_change = on_change
        regs = self._irq_regs.read()
        pc, cpsr = regs[0], regs[1]
        hcr = regs[2] = self._sync_virtual_lines(regs[2])
        kind = self._interrupt_taken(cpsr, hcr)
        if kind == "vabt":
            self._take_virtual_abort(hcr)
        elif kind is not None:
            self._take(Exc(kind, pc, bool(cpsr & CPSR_T)), regs[1:])

    def _interrupt_taken(self, cpsr: int, hcr: int) -> Optional[str]:
        """What the CPU takes now, with this CPSR and HCR: "vabt" (a virtual abort, B1.8.5),
        "fiq", "irq" (physical, from the GIC, B1.8.6), or None."""
        gic = self.gic
        mode = cpsr & MODE_MASK
        if hcr & HCR_VA and hcr & HCR_AMO and mode != HYP and not cpsr & CPSR_A \
                and not hcr & HCR_TGE:
            return "vabt"
        if gic.fiq_line() and routing.irq_unmasked("fiq", mode, cpsr, hcr):
            return "fiq"
        if gic.irq_line() and routing.irq_unmasked("irq", mode, cpsr, hcr):
            return "irq"
        return None

    def _sync_virtual_lines(self, hcr: Optional[int] = None) -> int:
        """OR the GIC's virtual IRQ/FIQ outputs into HCR.VI/VF (as QEMU ORs its VIRQ/VFIQ
        inputs), withdrawing only what was added here; returns the resulting HCR (``hcr``:
        HCR if the caller has just read it)."""
        gic = self.gic
        if hcr is None:
            hcr = self.cpu.sysreg("HCR")
        new = hcr
        virq, vfiq = gic.virq_line(), gic.vfiq_line()
        if virq and not hcr & HCR_VI:
            new |= HCR_VI
            self._vi_forced = True
        elif not virq and self._vi_forced:
            new &= ~HCR_VI
            self._vi_forced = False
        if vfiq and not hcr & HCR_VF:
            new |= HCR_VF
            self._vf_forced = True
        elif not vfiq and self._vf_forced:
            new &= ~HCR_VF
            self._vf_forced = False
        if new != hcr:
            self.cpu.set_sysreg("HCR", new)
        return new

    def interrupt_lines_changed(self) -> None:
        """The GIC's outputs moved (called from device accesses and timer writes, mostly in
        the middle of a slice). The virtual lines take effect at once, before unicorn can
        take a stale VIRQ at the next block. A physical interrupt (or virtual abort) the CPU
        takes now ends the slice at the next block boundary, where the run loop takes it;
        one it masks is watched for as the run loop watches at a slice start (the next
        change of CPSR's masks or mode ends a block, and the slice with it); with nothing
        pending the slice goes on, as it would after stopping there."""
        gic = self.gic
        if gic is None:
            self.counter.deadline = 0
            return
        hcr = self._sync_virtual_lines()
        if gic.irq_line() or gic.fiq_line() or (hcr & HCR_VA and hcr & HCR_AMO):
            cpsr = self.cpu.cpsr
            if self._interrupt_taken(cpsr, hcr) is not None:
                self.counter.deadline = 0
            else:
                self.counter.watch_cpsr(cpsr, WATCHED_PSR)
        else:
            self.counter.watch_cpsr(0, 0)

    def timer_moved(self) -> None:
        """A timer register was written by an intercepted instruction, its outputs pushed
        already: the running slice must also end by the timer's next deadline, which may
        now come sooner (a later one only costs a stop where the old one was). With
        ``--fast`` the deadline is on the host clock: the slice ends within what
        ``_fast_slice`` allows from here."""
        counter = self.counter
        if not self.deterministic:
            counter.deadline = min(counter.deadline, counter.count + self._fast_slice())
            return
        nxt = self._next_timer_insns()
        if nxt is not None:
            nxt -= self.idle_insns
            deadline = counter.deadline
            if nxt < deadline:
                counter.deadline = min(deadline, max(counter.count, nxt))

    def _masked_pending(self, hcr: Optional[int] = None) -> bool:
        """An interrupt or virtual abort is pending but masked where the CPU is now
        (``hcr``: HCR if the caller has it)."""
        gic = self.gic
        if gic is None:
            return False
        if gic.irq_line() or gic.fiq_line():
            return True
        if hcr is None:
            hcr = self.cpu.sysreg("HCR")
        return bool(hcr & HCR_VA and hcr & HCR_AMO)

    def _take_virtual_abort(self, hcr: int) -> None:
        """HCR.VA: an asynchronous abort taken by the guest as a Data Abort (B1.8.5); DFSR
        reports an asynchronous external abort and HCR.VA is cleared, as QEMU does."""
        cpu = self.cpu
        lpae = bool(cpu.sysreg("TTBCR") & (1 << 31))
        dfsr = 0x211 if lpae else 0x406
        cpu.set_sysreg("HCR", hcr & ~HCR_VA)
        self._take(Exc("dabt", cpu.pc, cpu.thumb, physical=False, fault_regs={"DFSR": dfsr}))

    def post_input(self, action: Callable[[], None]) -> None:
        """Thread-safe: run ``action`` (e.g. UART input) at the next slice boundary."""
        with self._stop_lock:
            self._inputs.append(action)
        self.counter.deadline = 0
        self._wake.set()

    def input_closed(self) -> None:
        """Thread-safe: an input source (stdin, a serial socket) reached its end."""
        with self._stop_lock:
            self.input_sources -= 1
        self._wake.set()

    def reevaluate(self) -> None:
        """Stop at the next block boundary so interrupt state is looked at again."""
        self.counter.deadline = 0
