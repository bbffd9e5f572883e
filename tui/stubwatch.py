"""``python -m hypdbg.tui.stubwatch serve ...``: ``hypdbg serve`` that dies with the TUI.

The TUI holds the write end of this process's stdin and never writes to it.
When the TUI ends in any way (quit, a crash, SIGKILL, its terminal closing),
the pipe closes and the stub exits, so no orphaned stub keeps its port.
``serve`` reads stdin only when given ``--serial stdio`` or ``--stdio``, which
the TUI does not pass (its UART output goes to stdout, input can come from a
TCP serial port).
"""
from __future__ import annotations

import os
import sys
import threading
from typing import List


def _exit_on_eof() -> None:
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main(argv: List[str]) -> int:
    """Start the stdin watch, then run the ``hypdbg`` command line with ``argv``."""
    threading.Thread(target=_exit_on_eof, name="stdin-watch", daemon=True).start()
    from hypdbg.cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
