"""Target description XML and the GDB register numbering behind ``g``/``p``.

GDB numbers registers as the target description says: a ``<reg>`` without
``regnum`` is one more than the register before it (GDB manual, "Target
Description Format"). The ``g`` packet holds registers in that order with
nothing for numbers that do not exist, so our ``g`` carries the core feature
(r0-r15, cpsr = 25, as GDB's arm-core.xml numbers it) and GDB fetches the
rest with ``p``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from hypdbg.core.debug import RegisterInfo, WorldInfo

from .codec import escape_binary

ARM_CORE = "org.gnu.gdb.arm.core"
ARM_VFP = "org.gnu.gdb.arm.vfp"
HYP_FEATURE = "org.hypdbg.arm.hyp"
CPSR_REGNUM = 25  # fixed by GDB's features/arm/arm-core.xml


def escape(text: str) -> str:
    """XML character data: ``&``, ``<`` and ``>`` as entities (``xml.sax`` drags in urllib)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    """An XML attribute value with its quotes, as ``xml.sax.saxutils.quoteattr`` writes it."""
    text = escape(text).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return '"%s"' % text.replace('"', "&quot;")


@dataclass(frozen=True)
class RegSlot:
    """One register as the protocol addresses it."""

    regnum: int
    name: str
    nbytes: int
    writable: bool
    info: RegisterInfo


class RegisterMap:
    """GDB register numbers <-> machine register names, and the ``g`` layout."""

    def __init__(self, infos: Sequence[RegisterInfo]) -> None:
        slots: List[RegSlot] = []
        nxt = 0
        for info in infos:
            num = info.regnum
            if num is None and info.feature == ARM_CORE and info.name == "cpsr":
                num = CPSR_REGNUM
            if num is None:
                num = nxt
            slots.append(RegSlot(num, info.name, (info.bitsize + 7) // 8, info.writable, info))
            nxt = num + 1
        self.slots: Tuple[RegSlot, ...] = tuple(slots)
        self.by_num: Dict[int, RegSlot] = {s.regnum: s for s in slots}
        self.by_name: Dict[str, RegSlot] = {s.name: s for s in slots}
        core = [s.regnum for s in slots if s.info.feature == ARM_CORE]
        last = max(core) if core else max(self.by_num, default=-1)
        self.g_layout: Tuple[RegSlot, ...] = tuple(
            sorted((s for s in slots if s.regnum <= last), key=lambda s: s.regnum))
        self.g_size = sum(s.nbytes for s in self.g_layout)
        self.g_names: Tuple[str, ...] = tuple(s.name for s in self.g_layout)
        self.expedited: Tuple[RegSlot, ...] = tuple(
            self.by_name[n] for n in ("sp", "pc", "cpsr") if n in self.by_name)
        self.pc: Optional[RegSlot] = self.by_name.get("pc")


def _features_in_order(slots: Iterable[RegSlot]) -> List[Tuple[str, List[RegSlot]]]:
    """Registers grouped by feature, features in order of first appearance."""
    groups: Dict[str, List[RegSlot]] = {}
    for s in slots:
        groups.setdefault(s.info.feature, []).append(s)
    return list(groups.items())


def target_xml(regmap: RegisterMap, architecture: str = "arm") -> bytes:
    """The whole target description as one document (no xi:include)."""
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
        '<target version="1.0">',
        f"  <architecture>{escape(architecture)}</architecture>",
    ]
    expect = 0
    for feature, regs in _features_in_order(regmap.slots):
        lines.append(f"  <feature name={quoteattr(feature)}>")
        for s in regs:
            attrs = [f"name={quoteattr(s.name)}", f'bitsize="{s.info.bitsize}"']
            if s.regnum != expect:
                attrs.append(f'regnum="{s.regnum}"')
            attrs.append(f"type={quoteattr(s.info.type)}")
            if s.info.group:
                attrs.append(f"group={quoteattr(s.info.group)}")
            lines.append(f"    <reg {' '.join(attrs)}/>")
            expect = s.regnum + 1
        lines.append("  </feature>")
    lines.append("</target>")
    return ("\n".join(lines) + "\n").encode()


def threads_xml(worlds: Sequence[WorldInfo]) -> bytes:
    """``qXfer:threads:read`` document: one thread per world, extra info as text."""
    lines = ['<?xml version="1.0"?>', "<threads>"]
    for w in worlds:
        lines.append(f'  <thread id="{w.tid:x}" core="0" name={quoteattr(w.name)}>'
                     f"{escape(thread_extra(w))}</thread>")
    lines.append("</threads>")
    return ("\n".join(lines) + "\n").encode()


def thread_extra(world: WorldInfo) -> str:
    """The text GDB shows beside a thread: the machine's own, else whether the CPU is in it."""
    if world.extra:
        return world.extra
    return "live" if world.live else "saved"


def xfer_chunk(document: bytes, offset: int, length: int) -> bytes:
    """A ``qXfer`` read reply: ``m`` + data if more follows, ``l`` + data for the last part."""
    part = document[offset:offset + length]
    more = offset + length < len(document)
    return (b"m" if more else b"l") + escape_binary(part)
