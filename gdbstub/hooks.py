"""Optional target hooks: methods a DebugTarget may offer beyond the protocol.

The stub looks for them at run time and only advertises what exists, so a
target without reverse execution never sees ``bc``/``bs`` (the qSupported
reply lacks ReverseStep/ReverseContinue).
"""
from __future__ import annotations

from typing import Any, Optional, Protocol, runtime_checkable

from hypdbg.core.debug import StopEvent

STEP_IRQ = "step_irq"
"""Option name: True lets a single step enter a pending interrupt (default False: masked)."""


@runtime_checkable
class ReverseExecution(Protocol):
    """Reverse execution (``bs``/``bc``), e.g. from snapshots and an instruction count."""

    def reverse_step(self) -> StopEvent:
        """Undo one instruction; HISTORY_END at the start of history."""

    def reverse_resume(self) -> StopEvent:
        """Run backwards to the previous breakpoint/watchpoint or to the start of history."""


@runtime_checkable
class RuntimeOptions(Protocol):
    """Machine options that the stub's monitor commands can change."""

    def set_option(self, name: str, value: Any) -> None:
        """Set an option; ValueError for an unknown name or a bad value."""

    def get_option(self, name: str) -> Any:
        """Current value; ValueError for an unknown name."""


def supports_reverse(target: object) -> bool:
    """True if the target implements both reverse-execution hooks."""
    return callable(getattr(target, "reverse_step", None)) and callable(
        getattr(target, "reverse_resume", None))


def set_option(target: object, name: str, value: Any) -> bool:
    """Set an option if the target has ``set_option``; False if it has none."""
    setter = getattr(target, "set_option", None)
    if not callable(setter):
        return False
    setter(name, value)
    return True


def get_option(target: object, name: str) -> Optional[Any]:
    """An option's value, or None if the target cannot report it."""
    getter = getattr(target, "get_option", None)
    if not callable(getter):
        return None
    try:
        return getter(name)
    except (ValueError, KeyError):
        return None
