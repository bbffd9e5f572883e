"""The stub over the real machine: register blocks and memory through Hyp translation.

The fast paths of ``g`` (one batch read of the core registers) and of memory
packets (one translation per 4 KiB page, kept while the machine is halted)
must answer exactly what the slow paths would: ``g`` the same values as
``p`` (GDB manual, "Packets": g reads the registers in register-number
order), and ``m``/``M`` at a virtual address what the translation tables in
force say, however the tables and registers were changed since the last
access (by the debugger or by the program).

The tables are Hyp stage-1 long descriptors (ARM ARM DDI 0406C, B3.6.1 for
the table, block and page formats; B3.6.6 for HTCR.T0SZ = 0, a first lookup
at level 1 indexed by VA[31:30], 1 GiB blocks, and level 2 indexed by
VA[29:21], 2 MiB blocks; HSCTLR.M enables it, B4.1.67).
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict

import pytest

from asmutil import AS, assemble
from hypdbg.core.board import build_board
from hypdbg.core.target import MachineTarget
from hypdbg.gdbstub.codec import Decoder, Packet, frame
from hypdbg.gdbstub.session import Session

pytestmark = pytest.mark.skipif(AS is None, reason="arm-none-eabi-as is not installed")

RAM = 0x40000000
L1 = 0x40100000          # first-level table: 4 entries (T0SZ = 0)
L2 = 0x40101000          # second-level table for VA 0x80000000-0xBFFFFFFF
LOW = 0x40200000         # what VA 0x80000000 maps to first
VA = 0x80000000
AF = 1 << 10             # access flag (B3.6.1: a block with AF = 0 faults)
BLOCK = 0x1              # bits[1:0] = 0b01: block descriptor at levels 1 and 2
TABLE = 0x3              # bits[1:0] = 0b11: table descriptor at level 1


def one(s: Session, payload: bytes) -> bytes:
    events = Decoder().feed(s.feed(frame(payload)))
    packets = [e.payload for e in events if isinstance(e, Packet)]
    assert len(packets) == 1, events
    return packets[0]


@pytest.fixture
def stub(tmp_path: Path) -> Session:
    # str r1, [r0] ; b .
    code = assemble(["str r1, [r0]", "b ."])
    image = tmp_path / "code.bin"
    image.write_bytes(code)
    board = build_board(str(image), load_addr=RAM, serial="none")
    s = Session(MachineTarget(board.machine))
    s.no_ack = True
    return s


def write_reg(s: Session, name: str, value: int) -> None:
    slot = s.regmap.by_name[name]
    data = value.to_bytes(slot.nbytes, "little").hex().encode()
    assert one(s, b"P%x=%s" % (slot.regnum, data)) == b"OK"


def write_mem(s: Session, addr: int, data: bytes) -> None:
    assert one(s, b"M%x,%x:%s" % (addr, len(data), data.hex().encode())) == b"OK"


def read_mem(s: Session, addr: int, length: int) -> bytes:
    reply = one(s, b"m%x,%x" % (addr, length))
    assert not (len(reply) == 3 and reply.startswith(b"E")), reply
    return bytes.fromhex(reply.decode())


def enable_hyp_mmu(s: Session, l2: Dict[int, int]) -> None:
    """Identity-map VA 0x40000000 (1 GiB block) and VA 0x80000000 through a level-2 table."""
    l1 = [0, RAM | AF | BLOCK, L2 | TABLE, 0]
    write_mem(s, L1, struct.pack("<4Q", *l1))
    write_mem(s, L2, bytes(4096))
    for index, pa in l2.items():
        write_mem(s, L2 + 8 * index, struct.pack("<Q", pa | AF | BLOCK))
    write_reg(s, "httbr", L1)
    write_reg(s, "htcr", 0)
    write_reg(s, "hsctlr", 1)          # M


def test_g_agrees_with_p(stub: Session) -> None:
    # Packets, g: the registers in number order, each as p would send it.
    for n in range(13):
        write_reg(stub, f"r{n}", 0x11111111 * (n % 15) + n)
    g = one(stub, b"g")
    layout = stub.regmap.g_layout
    assert len(g) == 2 * stub.regmap.g_size
    offset = 0
    for slot in layout:
        width = 2 * slot.nbytes
        assert g[offset:offset + width] == one(stub, b"p%x" % slot.regnum), slot.name
        offset += width


def test_reads_follow_the_tables(stub: Session) -> None:
    marks = {LOW: b"low page", RAM + 0x100: b"ram page"}
    for pa, data in marks.items():
        write_mem(stub, pa, data)
    enable_hyp_mmu(stub, {0: LOW, 1: RAM})
    assert read_mem(stub, VA, 8) == b"low page"
    assert read_mem(stub, VA + 0x200000 + 0x100, 8) == b"ram page"
    # A read across the two 2 MiB blocks: the halves come from unrelated physical pages.
    write_mem(stub, LOW + 0x1FFFFC, b"tail")
    write_mem(stub, RAM, b"head")
    assert read_mem(stub, VA + 0x1FFFFC, 8) == b"tailhead"
    # A write through the same translation lands in the block's memory.
    write_mem(stub, VA + 0x200000 + 0x300, b"via va")
    assert read_mem(stub, RAM + 0x300, 6) == b"via va"


def test_a_debugger_write_to_a_table_changes_later_reads(stub: Session) -> None:
    write_mem(stub, LOW + 0x10, b"first")
    write_mem(stub, RAM + 0x10, b"other")
    enable_hyp_mmu(stub, {0: LOW})
    assert read_mem(stub, VA + 0x10, 5) == b"first"
    # Point the level-2 block at RAM instead: the next read of that page must walk again.
    write_mem(stub, L2, struct.pack("<Q", RAM | AF | BLOCK))
    assert read_mem(stub, VA + 0x10, 5) == b"other"


def test_a_register_write_changes_later_reads(stub: Session) -> None:
    write_mem(stub, LOW, b"mapped")
    enable_hyp_mmu(stub, {0: LOW})
    assert read_mem(stub, VA, 6) == b"mapped"
    write_reg(stub, "hsctlr", 0)        # MMU off: VA = PA, and nothing is at PA 0x80000000
    assert one(stub, b"m%x,6" % VA) == b"E14"
    write_reg(stub, "hsctlr", 1)
    assert read_mem(stub, VA, 6) == b"mapped"


def test_the_program_changing_a_table_changes_later_reads(stub: Session) -> None:
    write_mem(stub, LOW + 0x20, b"before")
    write_mem(stub, RAM + 0x20, b"after!")
    enable_hyp_mmu(stub, {0: LOW})
    assert read_mem(stub, VA + 0x20, 6) == b"before"
    # The program (str r1, [r0]) rewrites the level-2 descriptor; one step runs it.
    write_reg(stub, "r0", L2)
    write_reg(stub, "r1", RAM | AF | BLOCK)
    write_reg(stub, "pc", RAM)
    assert one(stub, b"vCont;s").startswith(b"T05")
    assert read_mem(stub, VA + 0x20, 6) == b"after!"


def test_written_code_runs(stub: Session) -> None:
    # A write over code that has been translated must be what runs next (the machine
    # does not see it as a store of the program): b . becomes mov r2, #0x5a.
    write_reg(stub, "pc", RAM + 4)
    for _ in range(3):
        assert one(stub, b"vCont;s").startswith(b"T05")      # b . runs, and stays at RAM + 4
    assert one(stub, b"pf") == b"04000040"
    write_mem(stub, RAM + 4, assemble(["mov r2, #0x5a"]))
    assert one(stub, b"vCont;s").startswith(b"T05")
    assert one(stub, b"p2") == b"5a000000"
    assert one(stub, b"pf") == b"08000040"


def test_the_program_storing_to_ram_changes_later_reads(stub: Session) -> None:
    # RAM reads are kept while the machine is halted (GDB reads the same words several
    # times after each stop); a store by the program must show in the next read.
    write_mem(stub, RAM + 0x40, b"\x11\x11\x11\x11")
    assert read_mem(stub, RAM + 0x40, 4) == b"\x11\x11\x11\x11"
    assert read_mem(stub, RAM + 0x40, 4) == b"\x11\x11\x11\x11"
    write_reg(stub, "r0", RAM + 0x40)
    write_reg(stub, "r1", 0x22222222)
    write_reg(stub, "pc", RAM)
    assert one(stub, b"vCont;s").startswith(b"T05")
    assert read_mem(stub, RAM + 0x40, 4) == b"\x22\x22\x22\x22"


def test_device_registers_are_read_afresh(stub: Session) -> None:
    # A device register may change while the machine is halted (a character arriving at
    # the PL011 clears FR.RXFE, bit 4; ARM DDI 0183G, 3.3.3): every read asks the device.
    uart = next(d for d in stub.target.m.devices if d.base == 0x09000000)
    before = int.from_bytes(read_mem(stub, 0x09000018, 4), "little")
    assert before & 0x10
    assert int.from_bytes(read_mem(stub, 0x09000018, 4), "little") == before
    uart.feed(b"x")
    assert not int.from_bytes(read_mem(stub, 0x09000018, 4), "little") & 0x10
