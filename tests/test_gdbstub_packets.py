"""Each packet against the fake target; expected replies per GDB's manual.

"Manual" below is GDB's Remote Protocol appendix (sections Packets, Stop
Reply Packets, General Query Packets, Target Description Format, Binary
Data). Register numbers follow GDB's features/arm/arm-core.xml.
"""
from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from typing import List

import pytest

from gdbstub_fake import (B_SELF, ENTRY, GUEST, HOST, HYPW, NOP, RAM0, RAM0_SIZE, RAM1,
                          UDF, FakeTarget, ReversibleFakeTarget)
from hypdbg.core.debug import StopEvent, StopKind
from hypdbg.gdbstub.codec import Decoder, Packet, frame
from hypdbg.gdbstub.session import PACKET_SIZE, Session

HVC_1 = 0xE1400071
SVC_2A = 0xEF00002A
STR_R0_R1 = 0xE5810000  # str r0, [r1]
LDR_R2_R1 = 0xE5912000  # ldr r2, [r1]


def make(target: FakeTarget = None, gdb_features: bytes = b"swbreak+;hwbreak+") -> Session:
    t = target if target is not None else FakeTarget(max_run=10_000)
    s = Session(t)
    s.handle(b"qSupported:" + gdb_features)
    return s


def ask(s: Session, payload: bytes) -> List[bytes]:
    return s.handle(payload)


def one(s: Session, payload: bytes) -> bytes:
    replies = s.handle(payload)
    assert len(replies) == 1, replies
    return replies[0]


def fields(stop: bytes) -> dict:
    """The n:r; fields of a T stop reply."""
    out = {}
    for item in stop[3:].split(b";"):
        if item:
            k, _, v = item.partition(b":")
            out[k.decode()] = v.decode()
    return out


# --- ack handling, framing on the wire -----------------------------------------------

def test_ack_then_reply_and_no_ack_mode() -> None:
    # Overview: each packet is acknowledged with '+'. QStartNoAckMode: the packet and its
    # OK reply are still acknowledged, later packets are not.
    s = Session(FakeTarget())
    assert s.feed(frame(b"vMustReplyEmpty")) == b"+$#00"
    assert s.feed(frame(b"QStartNoAckMode")) == b"+$OK#9a"
    assert s.feed(b"+") == b""  # GDB's ack of our OK is swallowed
    assert s.feed(frame(b"qAttached")) == b"$1#31"


def test_nak_resends_last_packet_and_bad_checksum_is_naked() -> None:
    # Overview: '-' requests retransmission; a bad checksum is answered with '-'.
    s = Session(FakeTarget())
    assert s.feed(frame(b"qAttached")) == b"+$1#31"
    assert s.feed(b"-") == b"$1#31"
    assert s.feed(b"$qAttached#00") == b"-"


def test_intact_but_oversized_packet_gets_an_error() -> None:
    s = Session(FakeTarget())
    assert s.feed(frame(b"M40000000,1:" + b"00" * PACKET_SIZE)) == b"+" + frame(b"E22")


# --- qSupported and friends --------------------------------------------------------

def test_qsupported_features() -> None:
    # General Query Packets, qSupported: name=value / name+ separated by ';'.
    s = Session(FakeTarget())
    reply = one(s, b"qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+")
    feats = reply.split(b";")
    assert b"PacketSize=%x" % PACKET_SIZE in feats
    for f in (b"QStartNoAckMode+", b"swbreak+", b"hwbreak+", b"vContSupported+",
              b"qXfer:features:read+", b"qXfer:threads:read+"):
        assert f in feats
    assert b"ReverseStep+" not in feats and b"ReverseContinue+" not in feats
    assert b"multiprocess+" not in feats  # not offered: GDB must not use pPID.TID ids


def test_qsupported_reverse_only_when_target_has_it() -> None:
    s = Session(ReversibleFakeTarget())
    feats = one(s, b"qSupported").split(b";")
    assert b"ReverseStep+" in feats and b"ReverseContinue+" in feats


def test_simple_queries() -> None:
    s = make()
    assert one(s, b"qAttached") == b"1"  # attached to an existing process
    assert one(s, b"qAttached:1") == b"1"
    assert one(s, b"vMustReplyEmpty") == b""  # must be answered empty
    assert one(s, b"qC") == b"QC%x" % HYPW


@pytest.mark.parametrize("payload", [b"qOffsets", b"qTStatus", b"vFile:open:", b"!", b"R00",
                                     b"vCont", b"qfoo", b"jThreadsInfo", b"y", b"\x00"])
def test_unknown_packets_get_empty_reply(payload: bytes) -> None:
    # Packets: "For any command not supported by the stub, an empty response ($#00)".
    s = make()
    reply = s.handle(payload)
    if payload == b"vCont":  # known packet, missing actions: malformed
        assert reply == [b"E22"]
    else:
        assert reply == [b""]


@pytest.mark.parametrize("payload", [b"m", b"mzz,4", b"m1", b"M1,2:0", b"M1,1:zz", b"X1,2:a",
                                     b"Z0,1", b"z0,x,4", b"P", b"P0", b"pq", b"Hgq", b"Hx1",
                                     b"qXfer:features:read:target.xml:0", b"qRcmd,6",
                                     b"vCont;q", b"vCont;r1", b"C", b"Sxx", b"G0", b"T"])
def test_malformed_packets_get_e22(payload: bytes) -> None:
    # Packets: errors are "E NN"; nothing escapes as an exception.
    assert make().handle(payload) == [b"E22"]


# --- registers -------------------------------------------------------------------

def test_g_layout_is_core_block() -> None:
    # Packets, g: register bytes in target order, in register-number order; arm-core.xml
    # numbers r0-r15 as 0-15 and cpsr as 25 (16-24 do not exist), so 17 words.
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    t.regs.update(r0=0x11223344, pc=0x40000010)
    g = one(s, b"g")
    assert len(g) == 17 * 8
    assert g[0:8] == b"44332211"
    assert g[15 * 8:16 * 8] == b"10000040"
    assert g[16 * 8:] == b"da010000"


def test_G_writes_registers() -> None:
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    g = bytearray(one(s, b"g"))
    g[8:16] = b"78563412"  # r1
    assert one(s, b"G" + bytes(g)) == b"OK"
    assert t.regs["r1"] == 0x12345678
    assert one(s, b"G" + bytes(g[:-2])) == b"E22"  # ends inside a register


def test_p_and_P() -> None:
    # Packets, p/P: one register by number, hex in target byte order.
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    assert one(s, b"p19") == b"da010000"  # cpsr = 25 = 0x19
    assert one(s, b"pf") == b"00000040"  # pc
    assert one(s, b"p1a") == b"0" * 16  # d0 follows cpsr, 64 bits
    assert one(s, b"P1=efbeadde") == b"OK"
    assert t.regs["r1"] == 0xDEADBEEF
    assert one(s, b"P1a=0100000000000080") == b"OK"
    assert t.regs["d0"] == 0x8000000000000001
    assert one(s, b"P1=ef") == b"E22"  # wrong size
    assert one(s, b"p400") == b"E01"  # no such register


def test_read_only_register_refuses_write() -> None:
    s = make()
    hsr = s.regmap.by_name["hsr"].regnum
    assert one(s, b"p%x" % hsr) == b"1200004a"
    assert one(s, b"P%x=00000000" % hsr) == b"E01"


def test_hg_selects_world_for_registers() -> None:
    # Packets, H: Hg selects the thread for later g/p; unknown threads are an error.
    s = make()
    assert one(s, b"Hg%x" % GUEST) == b"OK"
    assert one(s, b"pf") == b"00000080"  # the guest's saved pc
    assert one(s, b"p1") == b"xxxxxxxx"  # not saved: unavailable (Packets, p/g: 'x')
    assert one(s, b"P0=01000000") == b"E01"  # saved contexts are read-only
    assert one(s, b"Hg0") == b"OK"
    assert one(s, b"pf") == b"00000040"
    assert one(s, b"Hg63") == b"E01"
    assert one(s, b"Hc-1") == b"OK"


def test_g_of_other_world_marks_unsaved_registers() -> None:
    s = make()
    one(s, b"Hg%x" % HOST)
    g = one(s, b"g")
    assert g[0:8] == b"11000000" and g[8:16] == b"xxxxxxxx"
    assert g[15 * 8:16 * 8] == b"00100040"


# --- memory ----------------------------------------------------------------------

def test_m_reads_and_partial_reads() -> None:
    # Packets, m: "The reply may contain fewer addressable memory units than requested
    # if the server was able to read only part of the region"; E NN if none.
    s = make()
    s.target.write_memory(RAM0, b"\x01\x02\x03\x04")
    assert one(s, b"m%x,4" % RAM0) == b"01020304"
    assert one(s, b"m%x,10" % (RAM0 + RAM0_SIZE - 4)) == b"00000000"
    assert one(s, b"m%x,4" % (RAM0 + RAM0_SIZE)) == b"E14"
    assert one(s, b"m0,1") == b"E14"


def test_M_and_X_write() -> None:
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    assert one(s, b"M%x,3:aabbcc" % RAM0) == b"OK"
    assert t.mem[RAM0][:3] == b"\xaa\xbb\xcc"
    assert one(s, b"M%x,2:aabbcc" % RAM0) == b"E22"
    assert one(s, b"M0,1:00") == b"E14"
    # Binary Data: X carries escaped binary; '}' '#' '$' '*' arrive escaped from GDB.
    out = s.feed(frame(b"X%x,4:}]}\x03}\x04}\x0a" % RAM1))
    assert out == b"+$OK#9a"
    assert t.mem[RAM1][:4] == b"}#$*"
    assert one(s, b"X%x,0:" % RAM1) == b"OK"  # zero-length probe


def test_x_binary_read() -> None:
    # Packets, x: reply "b" followed by the bytes as binary data (escaped on the wire).
    s = make()
    s.target.write_memory(RAM1, b"a#$}*")
    wire = s.feed(frame(b"x%x,5" % RAM1))
    events = Decoder().feed(wire[1:])
    assert events == [Packet(b"ba#$}*")]
    assert one(s, b"x0,4") == b"E14"
    assert one(s, b"x%x,0" % RAM1) == b"b"


def test_big_read_is_clamped_not_refused() -> None:
    s = make()
    reply = one(s, b"m%x,100000" % RAM0)
    assert len(reply) == PACKET_SIZE


def test_monitor_space_switches_memory_reads() -> None:
    s = make()
    assert one(s, b"m1000,2") == b"E14"
    out = ask(s, b"qRcmd," + b"space phys".hex().encode())
    assert out[-1] == b"OK"
    assert one(s, b"m1000,2") == b"0000"


# --- breakpoints and running -------------------------------------------------------

def test_breakpoint_stop_reports_swbreak_and_expedited_registers() -> None:
    # Stop Reply Packets: T AA n:r;... with thread: and swbreak: when GDB announced it.
    s = make()
    s.target.load(ENTRY, [NOP, NOP, NOP, B_SELF])
    assert one(s, b"Z0,%x,4" % (ENTRY + 8)) == b"OK"
    stop = one(s, b"c")
    assert stop.startswith(b"T05")
    f = fields(stop)
    assert f["f"] == "08000040" and f["d"] == "00000140" and f["19"] == "da010000"
    assert f["thread"] == "%x" % HYPW
    assert "swbreak" in f
    assert one(s, b"z0,%x,4" % (ENTRY + 8)) == b"OK"
    assert s.target.breakpoints == set()


def test_swbreak_omitted_unless_gdb_announced_it() -> None:
    # Stop Reply Packets: swbreak "should not be sent by default"; GDB requests it in qSupported.
    s = make(gdb_features=b"multiprocess+")
    s.target.load(ENTRY, [NOP, NOP, B_SELF])
    one(s, b"Z0,%x,4" % (ENTRY + 4))
    assert b"swbreak" not in one(s, b"c")


def test_hardware_breakpoint_reports_hwbreak() -> None:
    s = make()
    s.target.load(ENTRY, [NOP, NOP, B_SELF])
    assert one(s, b"Z1,%x,4" % (ENTRY + 4)) == b"OK"
    assert b"hwbreak:;" in one(s, b"c")


def test_z_is_idempotent_and_shared_per_address() -> None:
    # Packets, Z/z: "the operations should be implemented in an idempotent way".
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    for _ in range(2):
        assert one(s, b"Z0,40000008,4") == b"OK"
    assert one(s, b"Z1,40000008,4") == b"OK"
    assert one(s, b"z0,40000008,4") == b"OK"
    assert t.breakpoints == {0x40000008}
    assert one(s, b"z1,40000008,4") == b"OK"
    assert one(s, b"z1,40000008,4") == b"OK"
    assert t.breakpoints == set()


def test_unknown_z_type_is_unsupported() -> None:
    # Packets, Z: "return an empty string for an unrecognized breakpoint or watchpoint type".
    assert make().handle(b"Z5,0,4") == [b""]


@pytest.mark.parametrize("ztype,kind,insn", [(2, "watch", STR_R0_R1), (3, "rwatch", LDR_R2_R1),
                                             (4, "awatch", STR_R0_R1)])
def test_watchpoint_stop_reply(ztype: int, kind: str, insn: int) -> None:
    # Stop Reply Packets: watch/rwatch/awatch:addr; with the data address in hex.
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    t.regs["r1"] = RAM1 + 0x10
    t.load(ENTRY, [NOP, insn, B_SELF])
    assert one(s, b"Z%d,%x,4" % (ztype, RAM1 + 0x10)) == b"OK"
    stop = one(s, b"c")
    assert fields(stop)[kind] == "%x" % (RAM1 + 0x10)
    # GDB treats ARM watchpoints as non-steppable: the stop comes before the access, at
    # the accessing instruction, and GDB steps over it (QEMU: gdb_stop_before_watchpoint).
    assert fields(stop)["f"] == "04000040"
    assert one(s, b"z%d,%x,4" % (ztype, RAM1 + 0x10)) == b"OK"
    assert t.watchpoints == set()


def test_step_and_step_at_address() -> None:
    s = make()
    stop = one(s, b"s")
    assert stop.startswith(b"T05") and fields(stop)["f"] == "04000040"
    stop = one(s, b"s%x" % (ENTRY + 0x100))  # Packets, s addr: resume at addr
    assert fields(stop)["f"] == "04010040"
    assert one(s, b"S05").startswith(b"T05")


def test_continue_at_address_and_with_signal() -> None:
    s = make()
    s.target.load(ENTRY + 0x20, [NOP, B_SELF])
    one(s, b"Z0,%x,4" % (ENTRY + 0x24))
    assert fields(one(s, b"c%x" % (ENTRY + 0x20)))["f"] == "24000040"
    s.target.write_register("pc", ENTRY + 0x20)
    assert fields(one(s, b"C0b;%x" % (ENTRY + 0x20)))["f"] == "24000040"


def test_vcont_query_lists_all_actions() -> None:
    # Packets, vCont?: supported actions; C and S must be there (GDB bug 28440).
    assert one(make(), b"vCont?") == b"vCont;c;C;s;S;r"


def test_vcont_step_and_continue() -> None:
    # Packets, vCont: the leftmost action that matches a thread applies to it.
    s = make()
    s.target.load(ENTRY, [NOP, NOP, NOP, NOP, B_SELF])
    stop = one(s, b"vCont;s:%x;c" % HYPW)
    assert fields(stop)["f"] == "04000040"
    one(s, b"Z0,%x,4" % (ENTRY + 0xC))
    assert fields(one(s, b"vCont;c"))["f"] == "0c000040"
    assert fields(one(s, b"vCont;S05:%x;c" % HYPW))["f"] == "10000040"
    assert one(s, b"vCont;t") == b"E22"  # non-stop only


def test_vcont_step_of_saved_world_steps_the_cpu() -> None:
    # Packets, vCont: "s:1;c" steps thread 1 and lets the others run; with one CPU the
    # named thread's step is what the user asked for, so the CPU steps once.
    s = make()
    s.target.load(ENTRY, [NOP, NOP, NOP, B_SELF])
    stop = one(s, b"vCont;s:%x;c" % HOST)
    assert fields(stop)["f"] == "04000040" and s.target.count == 1


def test_vcont_range_step() -> None:
    # Packets, vCont r start,end: step while pc in [start, end), then report a stop.
    s = make()
    s.target.load(ENTRY, [NOP] * 8 + [B_SELF])
    stop = one(s, b"vCont;r%x,%x:%x" % (ENTRY, ENTRY + 0x10, HYPW))
    assert stop.startswith(b"T05") and fields(stop)["f"] == "10000040"
    # "If the range is empty (start == end), then the action becomes equivalent to 's'".
    stop = one(s, b"vCont;r0,0")
    assert fields(stop)["f"] == "14000040"


def test_poweroff_is_exit() -> None:
    # Stop Reply Packets: W AA = the process exited with status AA.
    s = make()
    s.target.load(ENTRY, [NOP, SVC_2A])
    assert ask(s, b"c") == [b"W2a"]
    assert one(s, b"?") == b"W2a"


def test_fault_sends_console_message_then_signal() -> None:
    # Stop Reply Packets: O XX... is console output, allowed before the final stop reply.
    s = make()
    s.target.load(ENTRY, [NOP, UDF])
    out = ask(s, b"c")
    assert out[0] == b"O" + b"undefined instruction\n".hex().encode()
    assert out[-1].startswith(b"T04")  # SIGILL
    s.target.write_register("pc", 0x10)
    out = ask(s, b"s")
    assert out[-1].startswith(b"T0b")  # SIGSEGV
    assert bytes.fromhex(out[0][1:].decode()).startswith(b"prefetch abort")


def test_catch_sends_message_then_sigtrap() -> None:
    s = make()
    s.target.load(ENTRY, [NOP, HVC_1, B_SELF])
    out = ask(s, b"c")
    assert len(out) == 2 and bytes.fromhex(out[0][1:].decode()) == b"hvc #0x1 from hyp\n"
    assert out[1].startswith(b"T05") and fields(out[1])["f"] == "08000040"
    # the T reply carries the reason too, in a pair GDB skips (Stop Reply Packets)
    assert bytes.fromhex(fields(out[1])["hypdbg-catch"]) == b"hvc #0x1 from hyp"
    assert one(s, b"?").startswith(b"T05")  # '?' repeats the stop without the O packet


def test_limit_reports_sigxcpu() -> None:
    s = make(FakeTarget(max_run=50))
    s.target.load(ENTRY, [B_SELF])
    assert one(s, b"c").startswith(b"T18")


def test_interrupt_while_running() -> None:
    # Overview: 0x03 interrupts a running target; GDB expects a T02 (SIGINT) stop.
    s = make(FakeTarget())
    t: FakeTarget = s.target  # type: ignore[assignment]
    t.load(ENTRY, [B_SELF])
    result: List[bytes] = []
    th = threading.Thread(target=lambda: result.append(s.process(Packet(b"c"))))
    assert s.on_received(Packet(b"c"))
    th.start()
    assert t.running.wait(5)
    time.sleep(0.01)
    s.interrupt()
    th.join(5)
    assert not th.is_alive()
    assert result[0].startswith(b"+$T02")


def test_interrupt_before_resume_starts_is_not_lost() -> None:
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    t.load(ENTRY, [B_SELF])
    assert s.on_received(Packet(b"vCont;c")) is True
    from hypdbg.gdbstub.codec import INTERRUPT
    assert s.on_received(INTERRUPT) is False
    out = s.process(Packet(b"vCont;c"))
    assert out.startswith(b"+$T02")
    assert t.count == 0


def test_stray_interrupt_while_halted_is_ignored() -> None:
    s = make()
    s.target.load(ENTRY, [NOP, NOP, B_SELF])
    one(s, b"Z0,%x,4" % (ENTRY + 4))
    s.interrupt()
    assert one(s, b"c").startswith(b"T05")


def test_reverse_execution() -> None:
    # Packets, bc/bs; Stop Reply Packets: replaylog:begin at the start of the log.
    s = make(ReversibleFakeTarget())
    one(s, b"s")
    one(s, b"s")
    assert fields(one(s, b"bs"))["f"] == "04000040"
    stop = one(s, b"bc")
    assert "replaylog" in fields(stop) and fields(stop)["replaylog"] == "begin"
    assert make().handle(b"bs") == [b""]


def test_kill_resets_without_reply_and_detach_says_ok() -> None:
    # Packets, k: "the k packet has no reply"; D: reply OK.
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    before = t.reset_count
    assert s.feed(frame(b"k")) == b"+"
    assert t.reset_count == before + 1 and s.closed
    s2 = make()
    assert one(s2, b"D") == b"OK" and s2.closed
    assert one(make(), b"vKill;1") == b"OK"


def test_session_close_removes_its_breakpoints() -> None:
    s = make()
    one(s, b"Z0,40000000,4")
    one(s, b"Z2,40020000,4")
    s.close()
    assert s.target.breakpoints == set() and s.target.watchpoints == set()


# --- threads -----------------------------------------------------------------------

def test_thread_queries() -> None:
    s = make()
    assert one(s, b"qfThreadInfo") == b"m1,2,3"
    assert one(s, b"qsThreadInfo") == b"l"
    assert one(s, b"T3") == b"OK"  # Packets, T: OK if the thread is alive
    assert one(s, b"T9") == b"E01"
    assert bytes.fromhex(one(s, b"qThreadExtraInfo,3").decode()) == b"guest vmid 1 (saved)"
    assert bytes.fromhex(one(s, b"qThreadExtraInfo,2").decode()) == b"live"
    assert one(s, b"qThreadExtraInfo,9") == b"E01"


def test_qxfer_threads() -> None:
    s = make()
    doc = one(s, b"qXfer:threads:read::0,1000")
    assert doc.startswith(b"l")
    root = ET.fromstring(doc[1:])
    assert [(t.get("id"), t.get("name")) for t in root] == [
        ("1", "host"), ("2", "hyp"), ("3", "guest vmid 1")]


# --- target description ------------------------------------------------------------

def _read_xfer(s: Session, annex: bytes, chunk: int) -> bytes:
    # General Query Packets, qXfer read: 'm' = more data follows, 'l' = last part.
    data = b""
    while True:
        reply = s.feed(frame(b"qXfer:features:read:%s:%x,%x" % (annex, len(data), chunk)))
        events = Decoder().feed(reply[1:])
        payload = events[0].payload  # type: ignore[union-attr]
        assert payload[:1] in (b"m", b"l")
        data += payload[1:]
        if payload[:1] == b"l":
            return data


def test_target_xml_chunks_and_content() -> None:
    s = make()
    whole = _read_xfer(s, b"target.xml", 0x1000)
    assert _read_xfer(s, b"target.xml", 97) == whole
    root = ET.fromstring(whole)
    assert root.find("architecture").text == "arm"
    feats = {f.get("name"): f for f in root.findall("feature")}
    core = [r.get("name") for r in feats["org.gnu.gdb.arm.core"]]
    assert core == [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "cpsr"]
    cpsr = feats["org.gnu.gdb.arm.core"].find("reg[@name='cpsr']")
    assert cpsr.get("regnum") == "25"  # as GDB's arm-core.xml
    vfp = [r.get("name") for r in feats["org.gnu.gdb.arm.vfp"]]
    assert vfp == [f"d{i}" for i in range(32)] + ["fpscr"]
    assert feats["org.gnu.gdb.arm.vfp"][0].get("bitsize") == "64"
    hyp = [r.get("name") for r in feats["org.hypdbg.arm.hyp"]]
    assert hyp == ["sp_hyp", "elr_hyp", "hcr", "vttbr", "hsr"]
    # Target Description Format: without regnum a register is one more than the one before,
    # so d0 is 26 and the p packet must agree.
    assert s.regmap.by_name["d0"].regnum == 26
    assert s.regmap.by_name["hsr"].regnum == 26 + 33 + 4


def test_qxfer_errors() -> None:
    # General Query Packets, qXfer: E00 for a bad annex; empty reply for unknown objects.
    s = make()
    assert one(s, b"qXfer:features:read:other.xml:0,10") == b"E00"
    assert one(s, b"qXfer:libraries:read::0,10") == b""
    assert one(s, b"qXfer:features:write:target.xml:0,10") == b""
    assert one(s, b"qXfer:features:read:target.xml:100000,10") == b"l"


# --- monitor -------------------------------------------------------------------------

def _console(out: List[bytes]) -> str:
    return "".join(bytes.fromhex(p[1:].decode()).decode()
                   for p in out if p.startswith(b"O") and p != b"OK")


def test_monitor_help_lists_stub_and_machine_commands() -> None:
    # General Query Packets, qRcmd: output may come as O packets, then OK.
    s = make()
    out = ask(s, b"qRcmd," + b"help".hex().encode())
    assert out[-1] == b"OK"
    text = _console(out)
    for word in ("help", "step-irq", "space", "hyp"):
        assert word in text


def test_monitor_forwards_and_reports_errors() -> None:
    s = make()
    out = ask(s, b"qRcmd," + b"hyp".hex().encode())
    assert out[-1] == b"OK" and "HSR=0x4a000012" in _console(out)
    out = ask(s, b"qRcmd," + b"nonsense".hex().encode())
    assert out[-1] == b"E01" and _console(out).count("\n") == 1
    assert "nonsense" in _console(out)


def test_monitor_step_irq_sets_target_option() -> None:
    s = make()
    t: FakeTarget = s.target  # type: ignore[assignment]
    out = ask(s, b"qRcmd," + b"step-irq on".hex().encode())
    assert out[-1] == b"OK" and t.options["step_irq"] is True
    assert "on" in _console(ask(s, b"qRcmd," + b"step-irq".hex().encode()))
    assert ask(s, b"qRcmd," + b"step-irq maybe".hex().encode())[-1] == b"E01"


def test_monitor_step_irq_without_hook() -> None:
    class Bare(FakeTarget):
        set_option = None  # type: ignore[assignment]
    s = make(Bare())
    out = ask(s, b"qRcmd," + b"step-irq on".hex().encode())
    assert out[-1] == b"E01"


def test_stop_event_of_initial_halt() -> None:
    # Packets, '?': same reply as for step/continue; at connect the machine is halted.
    s = make()
    stop = one(s, b"?")
    assert stop.startswith(b"T05") and fields(stop)["thread"] == "2"
    s.machine.last_stop = StopEvent(StopKind.INTERRUPTED, pc=ENTRY, world=HYPW)
    assert one(s, b"?").startswith(b"T02")
