"""One GDB client's protocol state over the machine, and the bytes-in/bytes-out engine.

A :class:`Session` turns decoder events into the bytes to send back (acks,
framed replies). It does no I/O itself: the transport feeds it, and the
fuzz tests drive it with :meth:`Session.feed`. While the target runs, the
transport's reader thread calls :meth:`Session.on_received` and
:meth:`Session.interrupt`, which are thread-safe.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, List, Optional, Protocol

from hypdbg.core.debug import (DebugTarget, MemoryAccessError, RegisterError, Space, StopEvent,
                               StopKind)

from .breakpoints import BreakpointTable
from .codec import INTERRUPT, NAK, BadPacket, Decoder, Event, Packet, ProtocolError, frame
from .monitor import MonitorRegistry, default_registry
from .packets import dispatch, is_resume_packet
from .replies import E_FAULT, E_GENERIC, E_INVAL, Malformed, as_list
from .stopreply import stop_packets, stop_reply
from .tdesc import RegisterMap

log = logging.getLogger(__name__)

_SLOW_TO_ANSWER = b"qRcmd"
"""Besides resumes, the packet whose handling may outlast GDB's ack timeout (``monitor goto``)."""

PACKET_SIZE = 0x4000
"""Largest packet we accept (advertised as PacketSize): 8 KiB of memory per ``m``/``M``."""


class RunWatch(Protocol):
    """What lets a Ctrl-C reach a running machine: the transport watches its client meanwhile."""

    def arm(self) -> None:
        """The machine is about to run."""

    def disarm(self) -> None:
        """The machine stopped; from now on the session loop reads the client."""


@dataclass
class MachineState:
    """What outlives one client: how the machine last stopped."""

    last_stop: Optional[StopEvent] = None


class Session:
    """Protocol state of one connection: ack mode, negotiated features, threads, breakpoints."""

    def __init__(self, target: DebugTarget, *, packet_size: int = PACKET_SIZE,
                 monitor: Optional[MonitorRegistry] = None,
                 machine: Optional[MachineState] = None) -> None:
        self.target = target
        self.packet_size = packet_size
        self.decoder = Decoder(packet_size)
        self.regmap = RegisterMap(target.registers())
        self.monitor = monitor if monitor is not None else default_registry()
        self.machine = machine if machine is not None else MachineState()
        self.points = BreakpointTable(target)
        self.no_ack = False
        self.gdb_features: FrozenSet[str] = frozenset()
        self.g_thread: Optional[int] = None
        self.memory_space = Space.VIRT
        self.xfer_cache: Dict[str, bytes] = {}
        self.closed = False
        self._last_frame = b""
        self._lock = threading.Lock()
        self._running = False
        self._pending_interrupt = False
        self._resumes_queued = 0
        self.run_watch: Optional[RunWatch] = None

    # --- reader-thread side -------------------------------------------------

    def on_received(self, event: Event) -> bool:
        """Note an event as it arrives; False if it was handled here (an interrupt)."""
        if event is INTERRUPT:
            self.interrupt()
            return False
        if isinstance(event, Packet) and is_resume_packet(event.payload):
            with self._lock:
                self._resumes_queued += 1
        return True

    def interrupt(self) -> None:
        """GDB's Ctrl-C: stop a running target, or stop the resume about to start."""
        with self._lock:
            if self._running:
                self.target.request_stop()
            elif self._resumes_queued:
                self._pending_interrupt = True

    def abort(self) -> None:
        """The client vanished: end the session and let a running target stop."""
        with self._lock:
            self.closed = True
            if self._running:
                self.target.request_stop()

    # --- main side ----------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Decode ``data`` and process every event; the bytes to send back."""
        out = []
        for event in self.decoder.feed(data):
            if self.on_received(event):
                out.append(self.process(event))
        return b"".join(out)

    def process(self, event: Event, send_ack: Optional[Callable[[bytes], None]] = None) -> bytes:
        """Bytes answering one event; raises only what ``send_ack`` raises.

        With ``send_ack`` the ``+`` for a packet that may take long (a resume,
        answered only when the machine stops, or a monitor command) goes out
        before the packet is handled: GDB resends a packet whose ack does not
        come within its timeout. Any other packet's ``+`` leaves with its reply.
        """
        if isinstance(event, Packet):
            payload = event.payload
            resume = is_resume_packet(payload)
            ack = b"" if self.no_ack else b"+"
            if ack and send_ack is not None and (resume or payload.startswith(_SLOW_TO_ANSWER)):
                send_ack(ack)
                ack = b""
            payloads = self.handle(payload)
            if resume:
                with self._lock:  # a Ctrl-C that crossed this stop reply is void
                    self._resumes_queued = max(0, self._resumes_queued - 1)
                    if not self._resumes_queued:
                        self._pending_interrupt = False
            return ack + self._frames(payloads)
        if event is NAK:
            return b"" if self.no_ack else self._last_frame
        if isinstance(event, BadPacket):
            log.debug("bad packet: %s", event.reason)
            if not event.checksum_ok:
                return b"" if self.no_ack else b"-"
            return (b"" if self.no_ack else b"+") + self._frames([E_INVAL])
        if event is INTERRUPT:
            self.interrupt()
        return b""

    def _frames(self, payloads: List[bytes]) -> bytes:
        if len(payloads) == 1:
            self._last_frame = frame(payloads[0])
            return self._last_frame
        if not payloads:
            return b""
        frames = [frame(p) for p in payloads]
        self._last_frame = frames[-1]
        return b"".join(frames)

    def handle(self, payload: bytes) -> List[bytes]:
        """Reply payloads for one packet; every failure becomes an ``E NN`` reply."""
        try:
            return as_list(dispatch(self, payload))
        except (Malformed, ProtocolError, ValueError, IndexError, OverflowError):
            return [E_INVAL]
        except MemoryAccessError:
            return [E_FAULT]
        except RegisterError:
            return [E_GENERIC]
        except Exception:
            log.exception("packet %r failed", payload[:64])
            return [E_GENERIC]

    # --- services for the handlers -----------------------------------------

    def access_world(self) -> Optional[int]:
        """World for register and memory access: None means the live one."""
        tid = self.g_thread
        if tid is None or tid == self.target.current_world():
            return None
        return tid

    def run(self, action: Callable[[], StopEvent], interruptible: bool = True) -> StopEvent:
        """Run or step the target, honouring a Ctrl-C that came before it started."""
        with self._lock:
            pending = self._pending_interrupt
            self._pending_interrupt = False
            self._running = interruptible and not pending
            watch = self.run_watch if self._running else None
        if watch is not None:
            watch.arm()
        try:
            if pending:
                event = self.halted_event(StopKind.INTERRUPTED)
            else:
                event = action()
        finally:
            if watch is not None:
                watch.disarm()
            with self._lock:
                self._running = False
                self._pending_interrupt = False
        return event

    def halted_event(self, kind: StopKind) -> StopEvent:
        """A stop event for the machine as it stands now."""
        pc = self.target.read_register(self.regmap.pc.name) if self.regmap.pc else 0
        return StopEvent(kind=kind, pc=pc, world=self.target.current_world())

    def report(self, event: StopEvent) -> List[bytes]:
        """Record a stop; the answer to the resume: ``O`` console text, then the stop reply.

        GDB takes the thread named in a stop reply as the stub's general thread from then
        on (it sends no ``Hg`` for it), so the stub must too."""
        self.machine.last_stop = event
        self.g_thread = None
        return stop_packets(self.target, self.regmap, event,
                            swbreak="swbreak+" in self.gdb_features,
                            hwbreak="hwbreak+" in self.gdb_features,
                            hw_addrs=self.points.hw_only)

    def last_stop_reply(self) -> bytes:
        """The reply to ``?``: the last stop, without console text."""
        return stop_reply(self.target, self.regmap, self.machine.last_stop,
                          swbreak="swbreak+" in self.gdb_features,
                          hwbreak="hwbreak+" in self.gdb_features,
                          hw_addrs=self.points.hw_only)

    def close(self) -> None:
        """End the session: take out the breakpoints and watchpoints this client put in."""
        self.closed = True
        try:
            self.points.clear()
        except Exception:
            log.exception("removing breakpoints at session end failed")
