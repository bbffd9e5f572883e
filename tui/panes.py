"""Each pane of the TUI as prompt_toolkit formatted text, rendered from plain data.

Nothing here talks to GDB: the functions take registers, code bytes and log
lines and return (style, text) fragments, so they are tested directly.
Values that changed since the last stop carry the ``changed`` style.
"""
from __future__ import annotations

from typing import Collection, Iterable, List, Mapping, Optional, Sequence, Tuple

from prompt_toolkit.formatted_text import StyleAndTextTuples, split_lines

from hypdbg.core.hyp import syndrome
from hypdbg.core.hypview import describe_hcr, describe_psr

from .disasm import around
from .state import World
from .symbols import SymbolTable

CORE_LEFT = [f"r{n}" for n in range(8)]
CORE_RIGHT = ["r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"]
#: Banked registers of the hyp feature: (mode, has SP/LR/SPSR names).
BANKED_MODES = ("usr", "svc", "abt", "und", "irq", "fiq", "hyp")
PSR_T = 1 << 5

KEYS = (("F5", "continue"), ("F10", "next"), ("F11", "stepi"), ("F7", "back"), ("^C", "interrupt"),
        ("Tab", "complete"), ("^D", "quit"))

Fragments = StyleAndTextTuples
#: A fragment with this style puts the window's cursor there (prompt_toolkit scrolls to it).
CURSOR = "[SetCursorPosition]"


def plain_text(fragments: Iterable[Tuple[str, str]]) -> str:
    """The text of some fragments, styles dropped."""
    return "".join(f[1] for f in fragments)


def _value(name: str, regs: Mapping[str, int], prev: Optional[Mapping[str, int]], width: int = 8) -> Tuple[str, str]:
    if name not in regs:
        return ("class:dim", "-".rjust(width + 2))
    value = regs[name]
    changed = prev is not None and name in prev and prev[name] != value
    return ("class:changed" if changed else "class:value", f"{value:#0{width + 2}x}")


def context_title(world: Optional[World], role: str) -> str:
    """Frame title of a context pane: role, thread id, and whether it is live or saved."""
    if world is None:
        return f" {role} "
    state = "LIVE" if world.live else ("not run yet" if not world.has_run else
                                       f"saved @{world.saved_at}" if world.saved_at >= 0 else "saved")
    return f" {world.name} (thread {world.tid}) {state} "


def registers_pane(world: Optional[World], previous: Optional[Mapping[str, int]] = None,
                   symbols: Optional[SymbolTable] = None, empty: str = "no such world yet") -> Fragments:
    """r0-r15, CPSR decoded with its mode, and banked SP/LR/SPSR of every mode."""
    if world is None:
        return [("class:dim", empty + "\n")]
    if not world.has_run:
        return [("class:dim", f"{world.name} has not run yet\n")]
    regs = world.regs
    if not regs:
        return [("class:dim", "registers unavailable\n")]
    out: Fragments = []
    if world.live:
        out.append(("class:live", "* live world *\n"))
    for left, right in zip(CORE_LEFT, CORE_RIGHT):
        out += [("class:name", f"{left:<4}"), _value(left, regs, previous), ("", "  "),
                ("class:name", f"{right:<4}"), _value(right, regs, previous), ("", "\n")]
    if "cpsr" in regs:
        cpsr = regs["cpsr"]
        changed = previous is not None and previous.get("cpsr", cpsr) != cpsr
        out += [("class:name", "cpsr "), ("class:changed" if changed else "class:value", describe_psr(cpsr)),
                ("", "\n")]
    pc = regs.get("pc")
    if symbols is not None and pc is not None and symbols.describe(pc):
        out += [("class:name", "at   "), ("class:sym", symbols.describe(pc)), ("", "\n")]
    if world.live:
        out += banked_rows(regs, previous)
    elif any(f"sp_{m}" in regs for m in BANKED_MODES):
        out.append(("class:dim", "banked SP/LR/SPSR: see the live world\n"))
    return out


def banked_rows(regs: Mapping[str, int], previous: Optional[Mapping[str, int]] = None) -> Fragments:
    """SP, LR and SPSR of every mode as the CPU holds them now (the live world's view).

    A saved world has no banked copies of its own: they are the CPU's, so they
    are shown once, with the world that is running.
    """
    if not any(f"sp_{m}" in regs for m in BANKED_MODES):
        return []
    out: Fragments = [("class:dim", "     sp         lr         spsr\n")]
    mode_now = _mode_of(regs)
    for mode in BANKED_MODES:
        out.append(("class:live" if mode == mode_now else "class:name", f"{mode:<4} "))
        for n in (f"sp_{mode}", f"lr_{mode}", f"spsr_{mode}"):
            out += [_value(n, regs, previous) if n in regs else ("", " " * 10), ("", " ")]
        out.append(("", "\n"))
    return out


def _mode_of(regs: Mapping[str, int]) -> str:
    if "cpsr" not in regs:
        return ""
    return describe_psr(regs["cpsr"]).split()[-1]


def hyp_pane(hyp: Mapping[str, int], previous: Optional[Mapping[str, int]] = None,
             hyp_world: Optional[World] = None, last_exit: str = "",
             symbols: Optional[SymbolTable] = None,
             previous_banked: Optional[Mapping[str, int]] = None) -> Fragments:
    """HCR and HSR decoded, VTTBR/VMID, ELR_hyp, SPSR_hyp, the hyp's own PC/SP/LR, the last exit.

    While the hypervisor runs, the CPU's banked registers follow (``previous_banked``:
    the hyp world's registers at the last stop, for change marks).
    """
    if not hyp:
        return [("class:dim", "no hyp registers on this stub\n")]
    out: Fragments = []

    def row(label: str, name: str, note: str = "", width: int = 8) -> None:
        out.extend([("class:name", f"{label:<9}"), _value(name, hyp, previous, width)])
        if note:
            out.extend([("", "  "), ("class:note", note)])
        out.append(("", "\n"))

    if "hcr" in hyp:
        bits = _chunks(describe_hcr(hyp["hcr"]).split(), 40)
        row("HCR", "hcr", bits[0])
        for more in bits[1:]:
            out += [("", " " * 21), ("class:note", more), ("", "\n")]
    if "hsr" in hyp:
        hsr = hyp["hsr"]
        ec = syndrome.ec_of(hsr)
        row("HSR", "hsr", f"EC {ec:#04x} {syndrome.EC_NAMES.get(ec, '?')} IL {(hsr >> 25) & 1}: "
                          f"{syndrome.describe(hsr)}")
    if "vttbr" in hyp:
        vttbr = hyp["vttbr"]
        row("VTTBR", "vttbr", f"VMID {(vttbr >> 48) & 0xFF}", width=16)
    if "vtcr" in hyp or "hvbar" in hyp:
        out.append(("class:name", f"{'VTCR':<9}"))
        out.append(_value("vtcr", hyp, previous))
        out += [("class:name", "  HVBAR "), _value("hvbar", hyp, previous), ("", "\n")]
    if "elr_hyp" in hyp:
        row("ELR_hyp", "elr_hyp", symbols.describe(hyp["elr_hyp"]) if symbols else "")
    if "spsr_hyp" in hyp:
        row("SPSR_hyp", "spsr_hyp", describe_psr(hyp["spsr_hyp"]).split(" ", 1)[1])
    if hyp_world is not None and hyp_world.regs and hyp_world.has_run:
        regs = hyp_world.regs
        out.append(("class:live" if hyp_world.live else "class:name",
                    f"{'hyp live' if hyp_world.live else 'hyp saved':<9}"))
        note = symbols.describe(regs["pc"]) if symbols and "pc" in regs else ""
        out += [("class:name", "pc "), _value("pc", regs, previous_banked)]
        out += [("", "  "), ("class:sym", note), ("", "\n")] if note else [("", "\n")]
        out.append(("", " " * 9))
        for name in ("sp", "lr"):
            out += [("class:name", f"{name} "), _value(name, regs, previous_banked), ("", " ")]
        out.append(("", "\n"))
    out += [("class:name", "last exit "),
            ("class:note", f"{last_exit.replace('hyp exit: ', '') or 'none'}\n")]
    if hyp_world is not None and hyp_world.live:
        out += banked_rows(hyp_world.regs, previous_banked)
    return out


def _chunks(words: List[str], width: int) -> List[str]:
    """Words joined into lines of at most ``width`` characters (at least one line)."""
    lines: List[str] = []
    for w in words:
        if lines and len(lines[-1]) + 1 + len(w) <= width:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return lines or [""]


def disassembly_pane(code: bytes, base: int, pc: Optional[int], thumb: bool,
                     breakpoints: Collection[int] = (), symbols: Optional[SymbolTable] = None,
                     before: int = 6, after: int = 12) -> Fragments:
    """Instructions around PC: ``=>`` at PC, ``b`` at breakpoints, symbol labels, branch targets."""
    if pc is None:
        return [("class:dim", "no PC\n")]
    insns = around(code, base, pc, thumb, before, after)
    if not insns:
        return [("class:dim", f"cannot read code at {pc:#010x}\n")]
    out: Fragments = [("class:dim", f"{'Thumb' if thumb else 'ARM'}\n")]
    for insn in insns:
        label = symbols.at(insn.addr) if symbols else None
        if label:
            out.append(("class:sym", f"{label}:\n"))
        here = insn.addr == pc
        mark = ("=>" if here else "  ") + ("b" if insn.addr in breakpoints else " ")
        style = "class:pc" if here else ("class:bp" if insn.addr in breakpoints else "")
        raw = insn.raw[::-1].hex() if len(insn.raw) != 4 or not thumb else \
            insn.raw[1::-1].hex() + insn.raw[:1:-1].hex()
        text = f"{mark} {insn.addr:#010x}  {raw:<8}  {insn.mnemonic:<7} {insn.op_str}"
        target = _branch_target(insn.mnemonic, insn.op_str)
        note = symbols.describe(target) if symbols and target is not None else ""
        if here:
            out.append((CURSOR, ""))
        out.append((style, text))
        if note:
            out.append(("class:sym", f" <{note}>"))
        out.append(("", "\n"))
    return out


def _branch_target(mnemonic: str, op_str: str) -> Optional[int]:
    """The immediate target of a direct branch (b, bl, blx, cbz, ...), if it has one."""
    if not mnemonic.startswith(("b", "cb")) or mnemonic.startswith(("bic", "bfc", "bfi", "bkpt")):
        return None
    last = op_str.split(",")[-1].strip()
    if last.startswith("#"):
        try:
            return int(last[1:], 0)
        except ValueError:
            return None
    return None


def lines_pane(lines: Sequence[str], empty: str = "", highlight_last: bool = False) -> Fragments:
    """A list of lines (exit log, messages), the newest last."""
    if not lines:
        return [("class:dim", empty + "\n")] if empty else []
    out: Fragments = [("", line + "\n") for line in lines[:-1]]
    out.append(("class:changed" if highlight_last else "", lines[-1] + "\n"))
    return out


def exits_pane(lines: Sequence[str]) -> Fragments:
    """The stub's exit log, newest last and highlighted; "hyp exit: " is implied by the pane."""
    return lines_pane([line.replace("hyp exit: ", "") for line in lines], "no exits yet", highlight_last=True)


def uart_pane(text: str, max_lines: int = 500) -> Fragments:
    """The guest-visible serial output, last ``max_lines`` lines, control characters dropped."""
    if not text:
        return [("class:dim", "no UART output yet\n")]
    clean = "".join(ch for ch in text if ch == "\n" or ch == "\t" or ch >= " ")
    return [("", "\n".join(clean.split("\n")[-max_lines:]))]


def line_count(fragments: Fragments) -> int:
    """How many lines some fragments take (for sizing a pane to its content)."""
    return plain_text(fragments).rstrip("\n").count("\n") + 1


def cursor_at_end(fragments: Fragments) -> Fragments:
    """The fragments with the cursor at the start of their last line, so a window scrolls to it."""
    lines = list(split_lines(fragments))
    while len(lines) > 1 and not plain_text(lines[-1]):
        lines.pop()
    out: Fragments = []
    for i, line in enumerate(lines):
        if i == len(lines) - 1:
            out.append((CURSOR, ""))
        out.extend(line)
        if i < len(lines) - 1:
            out.append(("", "\n"))
    return out


def footer(status: str = "") -> Fragments:
    """The key bindings, then the session's status."""
    out: Fragments = []
    for key, what in KEYS:
        out += [("class:key", f" {key} "), ("class:footer", f"{what} ")]
    if status:
        out += [("class:footer", " | "), ("class:status", status)]
    return out


def thumb_state(cpsr: Optional[int]) -> bool:
    """CPSR.T: the instruction set the disassembly must use (ARM ARM B1.3.3)."""
    return bool(cpsr is not None and cpsr & PSR_T)


def word_lines(addr: int, words: List[int], per_line: int = 4) -> List[str]:
    """Memory as ``addr: w0 w1 w2 w3`` lines (the ``x`` command's output)."""
    return [f"{addr + 4 * i:#010x}: " + " ".join(f"{w:#010x}" for w in words[i:i + per_line])
            for i in range(0, len(words), per_line)]
