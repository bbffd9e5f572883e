"""Recordings: what makes a run reproducible, in a JSON file.

A deterministic run depends only on the image, the machine options and what
came from outside: UART input, at the position (instructions retired,
exception entries) where the run loop applied it, and, in a debugging
session, where execution was single-stepped or resumed (see
``core.timetravel``). A recording holds exactly that, plus the image's
SHA-256 so that it is not replayed against another image, and how the run
ended (position, stop, and the size and SHA-256 of its UART output) so that
a replay can tell whether it reproduced the run.

Input is recorded when it is an :class:`UartInput` (bytes for a named
device); other actions given to ``Machine.post_input`` cannot be written
down, and recording one is an error.

Format (``FORMAT``, ``VERSION`` 1)::

    {"format": "hypdbg-record", "version": 1,
     "image": {"path": "...", "sha256": "..."},
     "options": {"ram_mb": 256, "load_addr": null, "reset_mode": "hyp"},
     "events": [{"icount": 0, "entries": 0, "kind": "resume"},
                {"icount": 51234, "entries": 7, "kind": "input", "device": "uart", "data": "710a"},
                {"icount": 60000, "entries": 9, "kind": "step", "deliver": false}],
     "end": {"icount": 90000, "entries": 12, "stop": "poweroff", "exit_code": 0,
             "output_bytes": 120, "output_sha256": "..."}}

``data`` is hex.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from .machine import Machine, Stop
from .timetravel import Event, Position, TimeTravel

FORMAT = "hypdbg-record"
VERSION = 1


class RecordError(Exception):
    """A recording that cannot be written, read or replayed here (one-line message)."""


class UartInput:
    """Bytes arriving on a named serial device: an input action that can be recorded."""

    def __init__(self, device: str, target: Any, data: bytes) -> None:
        self.device = device
        self.target = target
        self.data = bytes(data)

    def __call__(self) -> None:
        self.target.feed(self.data)


def post_uart(machine: Machine, device: str, target: Any, data: bytes) -> None:
    """Queue ``data`` for ``target`` (a UART with ``feed``) at the next slice boundary."""
    machine.post_input(UartInput(device, target, data))


def file_sha256(path: Union[str, Path]) -> str:
    import hashlib   # here and below: hashlib and json cost 4-6 ms of every launch otherwise
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class End:
    """How the recorded run ended."""

    pos: Position
    stop: str
    exit_code: Optional[int] = None
    output_bytes: Optional[int] = None
    output_sha256: Optional[str] = None


@dataclass
class Recording:
    image: str
    sha256: str
    options: Dict[str, Any]
    events: List[Dict[str, Any]] = field(default_factory=list)
    end: Optional[End] = None

    # -- files ------------------------------------------------------------------
    def to_json(self) -> Dict[str, Any]:
        end = None
        if self.end is not None:
            end = {"icount": self.end.pos.icount, "entries": self.end.pos.entries,
                   "stop": self.end.stop, "exit_code": self.end.exit_code,
                   "output_bytes": self.end.output_bytes, "output_sha256": self.end.output_sha256}
        return {"format": FORMAT, "version": VERSION,
                "image": {"path": self.image, "sha256": self.sha256},
                "options": self.options, "events": self.events, "end": end}

    def save(self, path: Union[str, Path]) -> None:
        import json
        text = json.dumps(self.to_json(), indent=1) + "\n"
        try:
            Path(path).write_text(text)
        except OSError as e:
            raise RecordError(f"{path}: {e.strerror or e}") from None

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Recording":
        import json
        try:
            doc = json.loads(Path(path).read_text())
        except OSError as e:
            raise RecordError(f"{path}: {e.strerror or e}") from None
        except ValueError as e:
            raise RecordError(f"{path}: not JSON ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise RecordError(f"{path}: not a hypdbg recording")
        if doc.get("version") != VERSION:
            raise RecordError(f"{path}: recording version {doc.get('version')}, "
                              f"this hypdbg reads version {VERSION}")
        try:
            end = doc.get("end")
            rec = cls(image=str(doc["image"]["path"]), sha256=str(doc["image"]["sha256"]),
                      options=dict(doc.get("options") or {}), events=list(doc.get("events") or []))
            if end is not None:
                rec.end = End(Position(int(end["icount"]), int(end["entries"])), str(end["stop"]),
                              end.get("exit_code"), end.get("output_bytes"), end.get("output_sha256"))
            for ev in rec.events:
                _check_event(ev)
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError(f"{path}: malformed recording ({e})") from None
        return rec

    def check_image(self, path: Optional[Union[str, Path]] = None) -> str:
        """The image to replay (``path`` or the recorded one), checked against the SHA-256."""
        image = str(path) if path is not None else self.image
        try:
            digest = file_sha256(image)
        except OSError as e:
            raise RecordError(f"{image}: {e.strerror or e}") from None
        if digest != self.sha256:
            raise RecordError(f"{image}: SHA-256 {digest[:16]}... is not the recorded image's "
                              f"{self.sha256[:16]}...")
        return image

    # -- to and from a history ----------------------------------------------------
    def history(self, devices: Mapping[str, Any]) -> List[Event]:
        """The events, with inputs bound to ``devices`` (name -> object with ``feed``)."""
        out: List[Event] = []
        for ev in self.events:
            pos = Position(int(ev["icount"]), int(ev["entries"]))
            if ev["kind"] == "input":
                name = ev["device"]
                if name not in devices:
                    raise RecordError(f"the recording feeds device {name!r}, which this board lacks")
                out.append(Event(pos, "input", UartInput(name, devices[name], bytes.fromhex(ev["data"]))))
            elif ev["kind"] == "step":
                out.append(Event(pos, "step", deliver=bool(ev.get("deliver", False))))
            else:
                out.append(Event(pos, "resume"))
        return out


def _check_event(ev: Dict[str, Any]) -> None:
    int(ev["icount"])
    int(ev["entries"])
    if ev["kind"] not in ("input", "resume", "step"):
        raise ValueError(f"unknown event kind {ev['kind']!r}")
    if ev["kind"] == "input":
        bytes.fromhex(ev["data"])
        str(ev["device"])


def events_of(history: List[Event]) -> List[Dict[str, Any]]:
    """JSON events of a history (RecordError for an input that is not ``UartInput``)."""
    out: List[Dict[str, Any]] = []
    for ev in history:
        item: Dict[str, Any] = {"icount": ev.pos.icount, "entries": ev.pos.entries, "kind": ev.kind}
        if ev.kind == "input":
            action = ev.action
            if not isinstance(action, UartInput):
                raise RecordError(f"input at {tuple(ev.pos)} cannot be recorded: "
                                  f"{type(action).__name__} is not a UartInput")
            item["device"] = action.device
            item["data"] = action.data.hex()
        elif ev.kind == "step":
            item["deliver"] = ev.deliver
        out.append(item)
    return out


class OutputDigest:
    """Hashes what a UART transmits (wrapped around its ``on_tx``) to fingerprint a run."""

    def __init__(self, uart: Any) -> None:
        import hashlib
        self.uart = uart
        self.sha = hashlib.sha256()
        self.count = 0
        self._tx: Optional[Callable[[int], None]] = uart.on_tx
        uart.on_tx = self._on_tx

    def _on_tx(self, byte: int) -> None:
        self.sha.update(bytes((byte,)))
        self.count += 1
        if self._tx is not None:
            self._tx(byte)

    def close(self) -> None:
        if self.uart.on_tx == self._on_tx:
            self.uart.on_tx = self._tx


class Recorder:
    """Records a run of one machine: attach before it starts, ``finish`` when it stopped."""

    def __init__(self, machine: Machine, image: Union[str, Path], options: Dict[str, Any],
                 uart: Any = None, checkpoints: bool = False) -> None:
        self.m = machine
        self.image = str(image)
        self.sha256 = file_sha256(image)
        self.options = dict(options)
        self.tt = TimeTravel(machine, checkpoints=checkpoints)
        self.output = OutputDigest(uart) if uart is not None else None

    def run(self, max_insns: Optional[int] = None) -> Stop:
        return self.tt.run(max_insns=max_insns)

    def recording(self, stop: Optional[Stop] = None) -> Recording:
        rec = Recording(self.image, self.sha256, self.options, events_of(self.tt.events))
        out = self.output
        rec.end = End(self.tt.end, stop.kind if stop is not None else "limit",
                      stop.exit_code if stop is not None and stop.kind == "poweroff" else None,
                      out.count if out is not None else None,
                      out.sha.hexdigest() if out is not None else None)
        return rec

    def finish(self, path: Union[str, Path], stop: Optional[Stop] = None) -> Recording:
        """Write the recording to ``path`` and detach."""
        rec = self.recording(stop)
        rec.save(path)
        self.close()
        return rec

    def close(self) -> None:
        if self.output is not None:
            self.output.close()
        self.tt.close()


def replay_history(machine: Machine, recording: Recording, devices: Mapping[str, Any],
                   checkpoints: bool = True) -> TimeTravel:
    """A time-travel history for a freshly built ``machine`` that follows ``recording``:
    running it applies the recorded inputs where they were applied, and goes on live
    after the recorded end."""
    tt = TimeTravel(machine, checkpoints=checkpoints)
    end = recording.end.pos if recording.end is not None else Position(0, 0)
    tt.seed(recording.history(devices), end)
    return tt


def board_options(recording: Recording) -> Dict[str, Any]:
    """``build_board`` keyword arguments for the recorded machine."""
    opts = recording.options
    return {"ram_mb": int(opts.get("ram_mb", 256)), "load_addr": opts.get("load_addr"),
            "reset_mode": str(opts.get("reset_mode", "hyp"))}
