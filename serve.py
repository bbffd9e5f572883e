"""``hypdbg serve`` and ``hypdbg demo``: a machine behind the GDB stub."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent / "examples" / "worldswitch"


def _serve(image: str, args: argparse.Namespace, banner: str = "") -> int:
    from .core.board import BoardError, build_board, connect_serial
    from .core.loader import ImageError
    from .core.record import RecordError, Recording, board_options, replay_history
    from .core.target import MachineTarget
    from .core.timetravel import TimeTravel
    from .gdbstub.server import serve

    stdio = getattr(args, "stdio", False)
    out = sys.stderr.buffer if stdio else sys.stdout.buffer
    replay = getattr(args, "replay", None)
    fast = getattr(args, "fast", False)
    try:
        if replay:
            recording = Recording.load(replay)
            image = str(recording.check_image(image or None))
            board = build_board(image, serial="none", uart_out=out, **board_options(recording))
            tt = replay_history(board.machine, recording, {"uart": board.uart}, checkpoints=True)
        else:
            from .cli import boot_image
            prepared = boot_image(args, image) if hasattr(args, "initrd") else None
            board = build_board(image, ram_mb=getattr(args, "mem", 256),
                                load_addr=getattr(args, "load_addr", None),
                                reset_mode=getattr(args, "reset_mode", "hyp"),
                                deterministic=not fast,
                                serial=getattr(args, "serial", None) or "stdio", uart_out=out,
                                image=prepared)
            keep = not getattr(args, "no_history", False) and not fast
            tt = TimeTravel(board.machine) if keep else None
            if getattr(args, "serial", None) == "stdio" and not stdio:
                # asked for: the terminal types into the UART, as QEMU's -serial stdio does
                # beside -gdb. Not by default: the TUI and `hypdbg gdb` start the stub with a
                # standard input that is not the guest's (a watch pipe, GDB's terminal)
                connect_serial(board, "stdio")
    except (ImageError, BoardError, RecordError, ValueError, OSError) as e:
        print(f"hypdbg: {e}", file=sys.stderr)
        return 2
    target = MachineTarget(board.machine, timetravel=tt)

    def ready(port: int) -> None:
        if not stdio:
            print(f"hypdbg: serving {image} on {args.host}:{port}\n"
                  f"hypdbg: connect with: gdb-multiarch -ex 'set architecture arm' "
                  f"-ex 'file {image}' -ex 'target remote {args.host}:{port}'{banner}",
                  file=sys.stderr, flush=True)

    try:
        serve(target, host=getattr(args, "host", "127.0.0.1"), port=getattr(args, "port", 1234),
              stdio=stdio, ready_callback=ready)
    except OSError as e:
        print(f"hypdbg: cannot serve: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    image = args.kernel or args.image
    if not image and args.replay:
        image = ""
    elif not image:
        print("hypdbg: no image given", file=sys.stderr)
        return 64
    return _serve(image, args)


def cmd_demo(args: argparse.Namespace) -> int:
    name = "worldswitch-broken.elf" if args.broken else "worldswitch.elf"
    image = DEMO_DIR / name
    if not image.exists():
        print(f"hypdbg: demo image {image} is missing", file=sys.stderr)
        return 2
    if not args.no_tui and sys.stdin.isatty() and sys.stdout.isatty():
        from .tui.main import main as tui_main
        return tui_main([str(image)])
    return _serve(str(image), args, banner="\nhypdbg: try 'monitor catch hvc', 'continue', "
                                           "'info threads', 'monitor exits'")


GDB_SCRIPT = Path(__file__).resolve().parent / "gdbstub" / "hypdbg.gdb"


def cmd_gdb(args: argparse.Namespace) -> int:
    """Serve IMAGE on a free loopback port and run GDB connected to it, with our commands."""
    import shutil
    import socket
    import subprocess
    import time

    image = args.kernel or args.image
    if not image:
        print("hypdbg: no image given", file=sys.stderr)
        return 64
    gdb = args.gdb or shutil.which("gdb-multiarch") or shutil.which("arm-none-eabi-gdb")
    if gdb is None:
        print("hypdbg: neither gdb-multiarch nor arm-none-eabi-gdb is installed", file=sys.stderr)
        return 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "hypdbg.cli", "serve", image, "--port", str(port), "-m", str(args.mem),
           "--reset-mode", args.reset_mode]
    if args.load_addr is not None:
        cmd += ["--load-addr", hex(args.load_addr)]
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while True:
            if server.poll() is not None:
                sys.stderr.write(server.stderr.read().decode() if server.stderr else "")
                return 2
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    print("hypdbg: the stub did not start", file=sys.stderr)
                    return 2
                time.sleep(0.05)
        gdb_cmd = [gdb, "-q", "-ex", "set architecture arm", "-x", str(GDB_SCRIPT)]
        if image.endswith(".elf") or open(image, "rb").read(4) == b"\x7fELF":
            gdb_cmd += ["-ex", f"file {image}"]
        gdb_cmd += ["-ex", f"target remote 127.0.0.1:{port}"]
        for command in args.ex:
            gdb_cmd += ["-ex", command]
        if args.batch:
            gdb_cmd.insert(1, "-batch")
        return subprocess.call(gdb_cmd)
    finally:
        server.kill()
        server.wait()
