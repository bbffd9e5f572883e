"""hypdbg: a GDB-integrated debugging backend for ARMv7-A hypervisor code."""

__version__ = "0.1.0"
