"""Debugger views of address translation: ``monitor s1 translate``, ``s2 translate``, ``s2 map``.

A hypervisor developer asks "where does this guest VA go, and why does it
fault?". These views answer from the live registers (the :class:`Mmu`
snapshots) and the tables in memory, with the same walkers the machine
translates with, so what they print is what the next access would do. They
read memory without side effects and never touch unicorn's TLB.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from .cpu import HYP, SVC, USR
from .fault_status import dfsr, ifsr
from .lpae import AF, OA_MASK, XN, s2_memtype, stage1_start, table_base
from .stage1 import HCR_DC, HCR_TGE, SCTLR_M, TTBCR_EAE, Stage1Regs
from .stage2.fault import hpfar_value, hyp_abort_report
from .stage2.walk import HCR_VM, Stage2Regs, stage2_params, walk_stage2
from .translation import R, W, X, Access, MemType, Translation, WalkStep

if TYPE_CHECKING:
    from .machine import Machine
    from .monitor import Monitor

ReadPhys = Callable[[int, int], Optional[int]]

_ACCESSES = ((Access.READ, "read"), (Access.WRITE, "write"), (Access.FETCH, "fetch"))
_MEMTYPE = {MemType.NORMAL: "Normal", MemType.DEVICE: "Device",
            MemType.STRONGLY_ORDERED: "Strongly-ordered"}
_LEVEL_SHIFT = {1: 30, 2: 21, 3: 12}
MAX_TABLES = 4096        # a stage-2 map walk stops here (tables that point back at themselves)


@dataclass(frozen=True)
class World:
    """The regime a VA is translated in: Hyp, or PL1&0 with stage 2 on or off."""

    kind: str                 # "hyp", "host", "guest"
    vmid: Optional[int] = None
    label: str = ""


@dataclass(frozen=True)
class S2Range:
    """A stretch of IPA space that stage 2 maps linearly to PA with one set of attributes."""

    ipa: int
    size: int
    pa: int
    perms: int
    memtype: MemType
    af: bool


# -- helpers -------------------------------------------------------------------------

def _reader(machine: "Machine") -> ReadPhys:
    """Physical reads for the walks: RAM and device peeks, None where nothing answers."""
    def read(pa: int, size: int) -> Optional[int]:
        try:
            return int.from_bytes(machine.read_phys(pa, size), "little")
        except MemoryError:
            return None
    return read


def parse_number(text: str, what: str, limit: int) -> int:
    """A number below ``limit``; ValueError with a one-line message otherwise."""
    try:
        value = int(text, 0)
    except ValueError:
        raise ValueError(f"bad {what}: {text!r}") from None
    if not 0 <= value < limit:
        raise ValueError(f"{what} {text} is out of range (0..{limit - 1:#x})")
    return value


def parse_world(machine: "Machine", text: str) -> World:
    """``host``, ``hyp``, ``guest``, ``guest:VMID`` or ``current`` as a translation regime.

    A guest is translated with the stage 2 that VTTBR/VTCR describe now; a
    VMID other than VTTBR's cannot be, since only its tables are known.
    """
    cpu = machine.cpu
    vttbr_vmid = (cpu.sysreg("VTTBR") >> 48) & 0xFF
    if text == "current":
        if cpu.mode == HYP:
            return World("hyp", label="hyp (current)")
        if cpu.sysreg("HCR") & HCR_VM:
            return World("guest", vttbr_vmid, f"guest vmid {vttbr_vmid} (current)")
        return World("host", label="host (current)")
    if text in ("host", "hyp"):
        return World(text, label=text)
    if text == "guest" or text.startswith("guest:"):
        vmid = vttbr_vmid
        if text != "guest":
            vmid = parse_number(text[6:], "VMID", 256)
            if vmid != vttbr_vmid:
                raise ValueError(f"VTTBR holds VMID {vttbr_vmid}: the tables of VMID {vmid} are not known")
        return World("guest", vmid, f"guest vmid {vmid}")
    raise ValueError(f"unknown world {text!r} (host, hyp, guest[:VMID] or current)")


def _perm_text(perms: int) -> str:
    return "".join(c if perms & bit else "-" for c, bit in (("r", R), ("w", W), ("x", X)))


def _granted(by_access: Dict[str, Translation]) -> int:
    """R|W|X for the accesses (by name) that translate without a fault."""
    return sum(bit for name, bit in (("read", R), ("write", W), ("fetch", X)) if by_access[name].ok)


def _size_text(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def _addr(value: int) -> str:
    """An address with eight hex digits, or ten above 4 GiB (40-bit PAs and IPAs)."""
    return f"{value:#012x}" if value >> 32 else f"{value:#010x}"


def _step_line(step: WalkStep, width: int, indent: str, via_ipa: bool = False) -> str:
    """One descriptor read: stage, level, where it was read, its value and its kind.

    ``via_ipa``: a stage-1 descriptor address is an IPA (stage 2 is on), shown
    with the PA it was read from.
    """
    if via_ipa:
        pa = "not translated" if step.pa is None else f"PA {_addr(step.pa)}"
        where = f"IPA {_addr(step.addr)} ({pa})"
    else:
        where = f"PA {_addr(step.addr)}"
    value = "(not read)" if step.value is None else f"{step.value:#0{width + 2}x}"
    return f"{indent}stage {step.stage} level {step.level}  desc @ {where} = {value}  {step.kind}"


def _render_steps(steps: List[WalkStep], s1_width: int, via_ipa: bool) -> Tuple[List[str], List[WalkStep]]:
    """Stage-1 steps, each followed by the stage-2 walk that found its descriptor;
    returns the lines and the stage-2 steps left over (the walk of the output IPA)."""
    lines: List[str] = []
    pending: List[WalkStep] = []
    for step in steps:
        if step.stage == 2:
            pending.append(step)
            continue
        lines.append(_step_line(step, s1_width, "  ", via_ipa))
        if pending:
            lines.append(f"      descriptor IPA {_addr(step.addr)} through stage 2:")
            lines.extend(_step_line(p, 16, "        ") for p in pending)
            pending = []
    return lines, pending


def _fault_text(t: Translation) -> str:
    f = t.fault
    assert f is not None
    where = "on the stage-1 walk (S1PTW), " if f.s1ptw else ""
    return f"stage {f.stage} {f.kind.value.replace('_', ' ')} fault, {where}level {f.level}"


def _report(t: Translation, world: World, access: Access, long_fmt: bool) -> str:
    """The registers the fault would set: the abort it is taken as, as the machine builds it."""
    f = t.fault
    assert f is not None
    va = t.va
    if world.kind == "hyp" or f.stage == 2:
        rep = hyp_abort_report(f, va, access, None, from_hyp=world.kind == "hyp")
        far = (f"HIFAR={rep.hifar:#010x}" if rep.hifar is not None else f"HDFAR={rep.hdfar:#010x}")
        hpfar = f" HPFAR={rep.hpfar:#010x}" if rep.hpfar is not None else ""
        kind = "Prefetch" if access is Access.FETCH else "Data"
        vector = f"{kind} Abort taken from Hyp" if world.kind == "hyp" else "Hyp Trap"
        return f"{vector}: HSR={rep.hsr:#010x} {far}{hpfar} (no instruction syndrome)"
    if access is Access.FETCH:
        return f"Prefetch Abort to PL1: IFSR={ifsr(f, long_fmt):#010x} IFAR={va:#010x}"
    return (f"Data Abort to PL1: DFSR={dfsr(f, access is Access.WRITE, long_fmt):#010x} "
            f"DFAR={va:#010x}")


# -- s1 translate ----------------------------------------------------------------------

def _stage1_header(va: int, s1: Stage1Regs, s2: Stage2Regs) -> str:
    """Which tables stage 1 uses for ``va``, or why it is flat."""
    if s2.hcr & (HCR_DC | HCR_TGE):
        return "stage 1 off (HCR.DC/TGE): IPA = VA"
    if not s1.sctlr & SCTLR_M:
        return "stage 1 off (SCTLR.M=0): IPA = VA"
    if s1.ttbcr & TTBCR_EAE:
        t0sz, t1sz = s1.ttbcr & 7, (s1.ttbcr >> 16) & 7
        if t0sz and not va >> (32 - t0sz):
            ttbr, tsz, name = s1.ttbr0, t0sz, "TTBR0"
        elif t1sz and va >> (32 - t1sz) == (1 << t1sz) - 1:
            ttbr, tsz, name = s1.ttbr1, t1sz, "TTBR1"
        elif not t0sz:
            ttbr, tsz, name = s1.ttbr0, t0sz, "TTBR0"
        elif not t1sz:
            ttbr, tsz, name = s1.ttbr1, t1sz, "TTBR1"
        else:
            return "stage 1 long-descriptor: VA in neither TTBR0's nor TTBR1's range"
        level, x = stage1_start(tsz)
        return (f"stage 1 long-descriptor, {name} {ttbr & 0xFFFFFFFFFFFFFFFF:#x} "
                f"(table {table_base(ttbr, x):#010x}, start level {level}, ASID "
                f"{(ttbr >> 48) & 0xFF})")
    n = s1.ttbcr & 7
    name, ttbr = ("TTBR1", s1.ttbr1) if n and va >> (32 - n) else ("TTBR0", s1.ttbr0)
    return (f"stage 1 short-descriptor, TTBCR.N={n}, {name} {ttbr & 0xFFFFFFFF:#010x}, "
            f"DACR {s1.dacr:#010x}")


def translate_view(machine: "Machine", va: int, world: World) -> str:
    """``s1 translate``: every step of stage 1 then stage 2, the result or the fault."""
    mmu = machine.mmu
    lines: List[str] = [f"VA {va:#010x} in {world.label}"]
    results: Dict[Tuple[str, str], Translation] = {}
    if world.kind == "hyp":
        hyp = mmu.hyp_regs()
        lines.append("Hyp stage 1, " + (f"HTTBR {hyp.httbr:#x}, HTCR.T0SZ={hyp.htcr & 7}"
                                        if hyp.hsctlr & SCTLR_M else "HSCTLR.M=0: PA = VA"))
        levels = (("PL2", HYP),)
        long_fmt = True
        s1_width = 16
    else:
        s1, s2 = mmu.stage1_regs(), mmu.stage2_regs()
        lines.append(_stage1_header(va, s1, s2))
        if world.kind == "guest":
            vtcr, vttbr = s2.vtcr, s2.vttbr
            on = "" if s2.hcr & HCR_VM else " (HCR.VM=0 now; shown as stage 2 would apply)"
            lines.append(f"stage 2 VTTBR {vttbr:#018x} VTCR {vtcr:#010x}{on}")
        else:
            lines.append("stage 2 off")
        levels = (("PL1", SVC), ("PL0", USR))
        long_fmt = bool(s1.ttbcr & TTBCR_EAE)
        s1_width = 16 if long_fmt else 8
    for pl, mode in levels:
        for access, name in _ACCESSES:
            hcr_vm = None if world.kind == "hyp" else world.kind == "guest"
            results[(pl, name)] = mmu.translate(va, access, mode, hcr_vm)
    main = results[(levels[0][0], "read")]
    step_lines, s2_tail = _render_steps(main.steps, s1_width, world.kind == "guest")
    lines.extend(step_lines)
    if s2_tail and main.ipa is not None:
        lines.append(f"  stage 2 for IPA {_addr(main.ipa)}:")
        lines.extend(_step_line(p, 16, "    ") for p in s2_tail)
    ok = next((t for t in results.values() if t.ok), None)
    if ok is not None and ok.pa is not None:
        ipa = "" if ok.ipa is None or world.kind != "guest" else f" -> IPA {_addr(ok.ipa)}"
        lines.append(f"result: VA {va:#010x}{ipa} -> PA {_addr(ok.pa)} "
                     f"({_size_text(ok.map_size)} mapping, {_MEMTYPE[ok.memtype]})")
    else:
        lines.append(f"result: {_fault_text(main)}")
    lines.append("permissions: " + "  ".join(
        f"{pl} {_perm_text(_granted({name: results[(pl, name)] for _, name in _ACCESSES}))}"
        for pl, _ in levels))
    for access, name in _ACCESSES:
        faults: Dict[str, List[str]] = {}
        for pl, _ in levels:
            t = results[(pl, name)]
            if not t.ok:
                faults.setdefault(f"{_fault_text(t)} -> {_report(t, world, access, long_fmt)}",
                                  []).append(pl)
        for text, pls in faults.items():
            lines.append(f"  {'/'.join(pls)} {name}: {text}")
    return "\n".join(lines) + "\n"


# -- s2 translate and s2 map ------------------------------------------------------------------

def s2_translate_view(machine: "Machine", ipa: int) -> str:
    """``s2 translate``: the stage-2 walk of one IPA under the current VTTBR/VTCR."""
    regs = machine.mmu.stage2_regs()
    read = _reader(machine)
    vmid = (regs.vttbr >> 48) & 0xFF
    lines = [f"IPA {_addr(ipa)} through stage 2: VTTBR {regs.vttbr:#018x} (VMID {vmid}), "
             f"VTCR {regs.vtcr:#010x}"]
    params = stage2_params(regs.vtcr)
    if params is None:
        lines.append("VTCR.SL0/T0SZ select no start level: every IPA faults")
    else:
        lines.append(f"{params.inputsize}-bit IPA, start level {params.level}, "
                     f"root table {_addr(table_base(regs.vttbr, params.x))}")
    results = {name: walk_stage2(ipa, access, regs, read) for access, name in _ACCESSES}
    main = results["read"]
    lines.extend(_step_line(s, 16, "  ") for s in main.steps)
    ok = next((t for t in results.values() if t.ok), None)
    if ok is not None and ok.pa is not None:
        lines.append(f"result: IPA {_addr(ipa)} -> PA {_addr(ok.pa)} ({_size_text(ok.map_size)} mapping, "
                     f"{_MEMTYPE[ok.memtype]})")
    else:
        lines.append(f"result: {_fault_text(main)}")
    lines.append("permissions: " + _perm_text(_granted(results)))
    for access, name in _ACCESSES:
        t = results[name]
        if not t.ok:
            f = t.fault
            assert f is not None
            hpfar = f" HPFAR={hpfar_value(f.ipa):#010x}" if f.ipa is not None else ""
            lines.append(f"  {name:<5}: {_fault_text(t)}{hpfar}")
    return "\n".join(lines) + "\n"


def _s2_leaf(desc: int, level: int, ipa: int) -> S2Range:
    size = 1 << _LEVEL_SHIFT[level]
    hap = (desc >> 6) & 3
    perms = (R if hap & 1 else 0) | (W if hap & 2 else 0)
    if perms & R and not desc & XN:
        perms |= X
    return S2Range(ipa, size, desc & OA_MASK & ~(size - 1), perms, s2_memtype(desc), bool(desc & AF))


def stage2_map(machine: "Machine") -> Tuple[List[S2Range], bool]:
    """Every block and page of the current VTTBR's tables, merged into maximal ranges.

    Returns the ranges (ascending IPA) and whether the walk stopped at
    MAX_TABLES. Adjacent mappings merge when both IPA and PA continue and
    permissions, memory type and access flag agree.
    """
    regs = machine.mmu.stage2_regs()
    params = stage2_params(regs.vtcr)
    if params is None:
        return [], False
    read = _reader(machine)
    leaves: List[S2Range] = []
    tables = 0

    def visit(table: int, level: int, count: int, base_ipa: int) -> bool:
        nonlocal tables
        tables += 1
        if tables > MAX_TABLES:
            return False
        shift = _LEVEL_SHIFT[level]
        for i in range(count):
            desc = read(table + 8 * i, 8)
            if desc is None:
                continue
            ipa = base_ipa + (i << shift)
            kind = desc & 3
            if kind == 3 and level < 3:
                if not visit(desc & OA_MASK, level + 1, 512, ipa):
                    return False
            elif (kind == 1 and level < 3) or (kind == 3 and level == 3):
                leaves.append(_s2_leaf(desc, level, ipa))
        return True

    root_entries = 1 << (params.inputsize - _LEVEL_SHIFT[params.level])
    complete = visit(table_base(regs.vttbr, params.x), params.level, root_entries, 0)
    merged: List[S2Range] = []
    for leaf in leaves:
        last = merged[-1] if merged else None
        if (last is not None and last.ipa + last.size == leaf.ipa and last.pa + last.size == leaf.pa
                and (last.perms, last.memtype, last.af) == (leaf.perms, leaf.memtype, leaf.af)):
            merged[-1] = S2Range(last.ipa, last.size + leaf.size, last.pa, last.perms,
                                 last.memtype, last.af)
        else:
            merged.append(leaf)
    return merged, not complete


def s2_map_view(machine: "Machine") -> str:
    """``s2 map``: the current VTTBR's mappings as merged IPA ranges -> PA, with permissions."""
    regs = machine.mmu.stage2_regs()
    params = stage2_params(regs.vtcr)
    head = (f"stage-2 map of VMID {(regs.vttbr >> 48) & 0xFF}: VTTBR {regs.vttbr:#018x}, "
            f"VTCR {regs.vtcr:#010x}")
    if params is None:
        return head + "\nVTCR.SL0/T0SZ select no start level: nothing is mapped\n"
    ranges, truncated = stage2_map(machine)
    digits = 10 if params.inputsize > 32 else 8
    lines = [head + f" ({params.inputsize}-bit IPA, start level {params.level})"]
    if not ranges:
        lines.append("no mappings")
    for r in ranges:
        flags = "" if r.af else "  AF=0 (access flag fault)"
        lines.append(f"IPA {r.ipa:#0{digits + 2}x}-{r.ipa + r.size - 1:#0{digits + 2}x} -> "
                     f"PA {r.pa:#0{digits + 2}x}-{r.pa + r.size - 1:#0{digits + 2}x}  "
                     f"{_size_text(r.size):>8}  {_perm_text(r.perms)}  {_MEMTYPE[r.memtype]}{flags}")
    if truncated:
        lines.append(f"(stopped after {MAX_TABLES} tables)")
    return "\n".join(lines) + "\n"


# -- monitor commands ---------------------------------------------------------------------

S1_USAGE = "s1 translate VA [host|hyp|guest[:VMID]|current]"
S2_USAGE = "s2 translate IPA | s2 map"


def s1_command(machine: "Machine", args: List[str]) -> str:
    """``monitor s1 ...``; ValueError with a one-line message for bad input."""
    if not args or args[0] != "translate" or len(args) not in (2, 3):
        raise ValueError(f"usage: {S1_USAGE}")
    va = parse_number(args[1], "address", 1 << 32)
    world = parse_world(machine, args[2] if len(args) == 3 else "current")
    return translate_view(machine, va, world)


def s2_command(machine: "Machine", args: List[str]) -> str:
    """``monitor s2 ...``; ValueError with a one-line message for bad input."""
    if args == ["map"]:
        return s2_map_view(machine)
    if len(args) == 2 and args[0] == "translate":
        return s2_translate_view(machine, parse_number(args[1], "IPA", 1 << 40))
    raise ValueError(f"usage: {S2_USAGE}")


def register(monitor: "Monitor") -> None:
    """Add the ``s1`` and ``s2`` commands to a machine's monitor."""
    from .monitor import Command
    monitor.extend(Command("s1", S1_USAGE,
                           "walk a VA through stage 1 and stage 2: every descriptor, the PA, "
                           "permissions and the faults it would raise",
                           lambda args: s1_command(monitor.t.m, args)))
    monitor.extend(Command("s2", S2_USAGE,
                           "walk an IPA through stage 2, or list the stage-2 map of VTTBR",
                           lambda args: s2_command(monitor.t.m, args)))
