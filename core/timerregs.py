"""Generic-timer register accesses intercepted from the instruction stream.

Every MRC/MCR/MRRC/MCRR to c14 reaches here (see ``intercept``): the value
comes from the machine's timer model on deterministic virtual time, and the
access rules of ARM ARM B8.1.3 (CNTKCTL for PL0, CNTHCTL for PL1, Hyp-only
registers) decide between doing it, a trap to Hyp (EC 0x03/0x04) and UNDEFINED.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple

from .coproc import CpInsn
from .cpu import HYP, USR
from .exceptions import Exc
from .hyp import syndrome as S
from .timer import Access, timer_access

if TYPE_CHECKING:
    from .intercept import Site
    from .machine import Machine

#: (CRn, opc1, CRm, opc2) of the 32-bit timer registers (armv7-virt.md section 7).
REGS32: Dict[Tuple[int, int, int, int], str] = {
    (14, 0, 0, 0): "CNTFRQ", (14, 0, 1, 0): "CNTKCTL",
    (14, 0, 2, 0): "CNTP_TVAL", (14, 0, 2, 1): "CNTP_CTL",
    (14, 0, 3, 0): "CNTV_TVAL", (14, 0, 3, 1): "CNTV_CTL",
    (14, 4, 1, 0): "CNTHCTL", (14, 4, 2, 0): "CNTHP_TVAL", (14, 4, 2, 1): "CNTHP_CTL",
}
#: opc1 of the 64-bit timer registers (MCRR/MRRC with CRm = c14).
REGS64: Dict[int, str] = {0: "CNTPCT", 1: "CNTVCT", 2: "CNTP_CVAL", 3: "CNTV_CVAL",
                          4: "CNTVOFF", 6: "CNTHP_CVAL"}
_ALLOWED = Access.ALLOWED


def register_name(insn: CpInsn) -> Optional[str]:
    if insn.is64:
        return REGS64.get(insn.opc1) if insn.crm == 14 else None
    return REGS32.get((insn.crn, insn.opc1, insn.crm, insn.opc2))


def timer_access_site(m: "Machine", site: "Site", insn: CpInsn, mode: int) -> bool:
    """Perform (or trap, or UNDEF) one intercepted timer access; True when handled."""
    name = register_name(insn)
    timer = m.timer
    if name is None or timer is None:
        return False
    pl = 2 if mode == HYP else (0 if mode == USR else 1)
    verdict = timer_access(name, pl, not insn.read, timer.cntkctl, timer.cnthctl)
    if verdict is not _ALLOWED:
        if verdict is Access.UNDEFINED:
            m.sync_count(site.va)
            m.take(Exc("undef", site.va, site.thumb, hsr=S.hsr(S.EC_UNKNOWN, 0)))
        else:
            m.trap_cp(site, insn)
        return True
    if insn.read:
        value = timer.read(name)
        if insn.is64:
            m.complete(site, {insn.rt: value & 0xFFFFFFFF, insn.rt2: (value >> 32) & 0xFFFFFFFF})
        else:
            m.complete(site, {insn.rt: value & 0xFFFFFFFF})
    else:
        reg = m.cpu.reg
        value = reg(insn.rt)
        if insn.is64:
            value |= reg(insn.rt2) << 32
        timer.write(name, value)
        m.complete(site, {})
        m.timer_moved()
    return True
