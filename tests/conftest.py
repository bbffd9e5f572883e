"""Shared fixtures: the scripted-GDB session factory from ``hypdbg.testing``."""
from hypdbg.testing import hyp_session  # noqa: F401  (pytest fixture)
