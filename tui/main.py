"""``hypdbg tui [--connect HOST:PORT | IMAGE]``: the full-screen debugger.

Given an IMAGE, the TUI serves it itself (``hypdbg serve`` in a child
process whose UART output it shows) and stops that process on exit; with
``--connect`` it attaches to a running stub (hypdbg's or QEMU's).
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import List, Optional

from .gdbmi import MIError, find_gdb
from .stub import ServedImage, StubError

EXIT_ERROR = 2
EXIT_USAGE = 64


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hypdbg tui", description=__doc__.splitlines()[0])
    p.add_argument("image", nargs="?", help="ELF image to serve and debug")
    p.add_argument("--connect", metavar="HOST:PORT", help="attach to a running GDB stub instead")
    p.add_argument("--elf", help="ELF file for symbols when using --connect")
    p.add_argument("--gdb", help="GDB to use (default: gdb-multiarch, then arm-none-eabi-gdb)")
    return p


def _fail(message: str, status: int = EXIT_ERROR) -> int:
    print(f"hypdbg tui: {message}", file=sys.stderr)
    return status


def _exit_on_signal(signum: int, frame: object) -> None:
    """A closed terminal or a ``kill``: leave through the normal clean-up (stub, GDB)."""
    raise SystemExit(128 + signum)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the TUI until the user quits; the exit status for the shell."""
    args = build_parser().parse_args(argv)
    if bool(args.image) == bool(args.connect):
        return _fail("give either an IMAGE or --connect HOST:PORT", EXIT_USAGE)
    gdb = args.gdb or find_gdb()
    if gdb is None:
        return _fail("no ARM GDB found (install gdb-multiarch or arm-none-eabi-gdb)")
    from .app import TuiApp
    from .session import Session
    stub: Optional[ServedImage] = None
    try:
        if args.image:
            stub = ServedImage(args.image)
            target, elf = stub.address, args.image
        else:
            target, elf = args.connect, args.elf
        session = Session(target, elf, gdb=gdb)
    except (StubError, MIError, OSError) as e:
        if stub is not None:
            stub.close()
        return _fail(str(e))
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, _exit_on_signal)
    try:
        tui = TuiApp(session, uart=stub.uart_text if stub is not None else None)
        session.start()
        tui.app.run()
    finally:
        session.close()
        if stub is not None:
            stub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
