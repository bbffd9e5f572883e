"""Monitor commands: self-describing registry, forwarding to the machine, one-line errors.

Output travels as qRcmd replies (GDB manual, General Query Packets, qRcmd:
"O" console packets, then OK or E NN).
"""
from __future__ import annotations

from typing import List

import pytest

from gdbstub_fake import FakeTarget
from hypdbg.gdbstub.monitor import MonitorCommand, MonitorError, default_registry
from hypdbg.gdbstub.session import Session


def _session() -> Session:
    return Session(FakeTarget())


def test_help_writes_itself_from_registered_commands() -> None:
    s = _session()
    s.monitor.add(MonitorCommand("echo", "echo WORDS...", "print the words back",
                                 lambda sess, args: " ".join(args) + "\n"))
    text = s.monitor.run(s, "help")
    assert "echo WORDS..." in text and "print the words back" in text
    assert s.monitor.run(s, "echo a b") == "a b\n"
    assert s.monitor.run(s, "help echo").startswith("echo WORDS...")
    assert s.monitor.run(s, "") == text  # a bare "monitor" shows help


def test_unknown_goes_to_machine_and_errors_are_one_line() -> None:
    s = _session()
    assert s.monitor.run(s, "hyp").startswith("HCR=")
    with pytest.raises(MonitorError) as err:
        s.monitor.run(s, "frobnicate now")
    assert "\n" not in str(err.value) and "frobnicate" in str(err.value)


def test_bad_arguments_are_errors() -> None:
    s = _session()
    for line in ("step-irq sideways", "step-irq on off", "space nowhere"):
        with pytest.raises(MonitorError):
            s.monitor.run(s, line)


def test_space_command_changes_session_memory_space() -> None:
    s = _session()
    assert "virt" in s.monitor.run(s, "space")
    assert "ipa" in s.monitor.run(s, "space ipa")
    assert s.memory_space.value == "ipa"


def test_machine_returning_nothing_is_not_an_error() -> None:
    class Quiet(FakeTarget):
        def monitor(self, command: str) -> str:
            return None  # type: ignore[return-value]

    s = Session(Quiet())
    out: List[bytes] = s.handle(b"qRcmd," + b"anything".hex().encode())
    assert out == [b"OK"]


def test_default_registry_is_sorted_and_complete() -> None:
    names = [c.name for c in default_registry().commands()]
    assert names == sorted(names) and {"help", "step-irq", "space"} <= set(names)
