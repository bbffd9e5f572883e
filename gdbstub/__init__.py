"""gdbstub package."""
