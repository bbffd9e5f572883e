"""The ``hypdbg`` command: run, serve, demo, gdb.

Every user error (a bad image, a bad option, a machine that cannot go on) is
one line on stderr and a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import List, Optional

EXIT_FAULT = 2
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130          # 128 + SIGINT, as a shell reports a process Ctrl-C ended


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _add_machine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", nargs="?", help="ELF file, or a raw binary with --load-addr")
    p.add_argument("-kernel", dest="kernel", help="image to boot (QEMU spelling)")
    p.add_argument("-m", dest="mem", type=_int, default=256, help="RAM size in MiB (default 256)")
    p.add_argument("--load-addr", type=_int, help="load address of a raw binary")
    p.add_argument("--reset-mode", choices=("hyp", "svc"), default="hyp",
                   help="mode at reset (default hyp, as QEMU with virtualization=on)")
    p.add_argument("--fast", action="store_true",
                   help="free-running slices and host-clock time instead of deterministic time")
    p.add_argument("-nographic", action="store_true", help="accepted for QEMU compatibility")
    p.add_argument("-initrd", dest="initrd", help="initial ramdisk (QEMU's meaning on -M virt)")
    p.add_argument("-append", dest="append", help="kernel command line (QEMU's meaning)")
    p.add_argument("-dtb", dest="dtb", help="device tree blob to pass instead of the generated one")
    p.add_argument("-device", dest="device", action="append", default=[],
                   help="guest-loader,addr=ADDR,kernel=FILE|initrd=FILE[,bootargs=...]")
    p.add_argument("-no-reboot", dest="no_reboot", action="store_true",
                   help="exit on a reset request instead of restarting")
    p.add_argument("--serial", default=None,
                   help="UART backend: stdio, tcp:PORT or none (run: stdio by default; serve: "
                        "output only unless --serial is given)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hypdbg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run an image to power-off, printing its UART output")
    _add_machine_options(run)
    run.add_argument("--max-insns", type=_int, help="stop after this many instructions")
    run.add_argument("--exits", action="store_true", help="print the exit log on stderr at the end")
    run.add_argument("--record", metavar="FILE", help="write what makes this run reproducible "
                     "(image hash, options, input events at their instruction counts)")
    run.add_argument("--replay", metavar="FILE", help="replay a recorded run")
    serve = sub.add_parser("serve", help="serve an image to GDB over the remote protocol")
    _add_machine_options(serve)
    serve.add_argument("--port", type=_int, default=1234)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--stdio", action="store_true", help="speak the protocol on stdin/stdout")
    serve.add_argument("--replay", metavar="FILE", help="serve a recorded run (from hypdbg run --record)")
    serve.add_argument("--no-history", action="store_true",
                       help="keep no execution history (no reverse-stepi/reverse-continue)")
    gdb = sub.add_parser("gdb", help="serve an image and start GDB connected to it")
    _add_machine_options(gdb)
    gdb.add_argument("--gdb", help="the GDB to run (default gdb-multiarch or arm-none-eabi-gdb)")
    gdb.add_argument("--ex", action="append", default=[], metavar="CMD",
                     help="a GDB command to run after connecting (repeatable)")
    gdb.add_argument("--batch", action="store_true", help="run GDB in batch mode")
    sub.add_parser("tui", help="full-screen debugger: host and guest contexts side by side "
                               "(hypdbg tui [IMAGE | --connect HOST:PORT])", add_help=False)
    dtb = sub.add_parser("dtb", help="the device tree hypdbg gives a kernel")
    dtb.add_argument("--dump", action="store_true", help="print it as source (the default)")
    dtb.add_argument("-m", dest="mem", type=_int, default=256)
    dtb.add_argument("-append", dest="append")
    dtb.add_argument("file", nargs="?", help="a .dtb file to print instead")
    demo = sub.add_parser("demo", help="the built-in world-switch demo in the TUI (or served)")
    demo.add_argument("--no-tui", action="store_true")
    demo.add_argument("--broken", action="store_true", help="the variant with a world-switch bug")
    demo.add_argument("--port", type=_int, default=1234)
    demo.add_argument("--host", default="127.0.0.1")
    return parser


def _image_path(args: argparse.Namespace) -> str:
    path = args.kernel or args.image
    if not path:
        raise SystemExit(_fail("no image given", EXIT_USAGE))
    return path


def _stop_on_interrupt(machine: object) -> None:
    """Ctrl-C stops the run between two slices, so that a hung guest is reported like any
    other stop: where the CPU is and what the console printed last."""
    def handler(signum: int, frame: object) -> None:
        machine.request_stop()  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, handler)


def _fail(message: str, status: int = EXIT_FAULT) -> int:
    print(f"hypdbg: {message}", file=sys.stderr)
    return status


def boot_image(args: argparse.Namespace, path: str):
    """The image to run: a plain ELF or raw binary as given, or a Linux-style boot plan
    (zImage, initrd, command line, device tree, guest-loader modules) as QEMU builds it."""
    with open(path, "rb") as f:
        is_elf = f.read(4) == b"\x7fELF"
    if not (args.initrd or args.append or args.dtb or args.device) and (is_elf or args.load_addr is not None):
        return None
    from .core.boot import parse_device, plan_boot
    loaders = [parse_device(text) for text in args.device]
    return plan_boot(path, initrd=args.initrd, append=args.append, dtb=args.dtb,
                     ram_mb=args.mem, guest_loaders=loaders).image()


def cmd_dtb(args: argparse.Namespace) -> int:
    from .core.dtb import DtbError, dump_dts, virt_dtb
    try:
        if args.file:
            with open(args.file, "rb") as f:
                blob = f.read()
        else:
            blob = virt_dtb(args.mem << 20, bootargs=args.append)
        print(dump_dts(blob), end="")
    except (OSError, DtbError) as e:
        return _fail(str(e))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .core.board import BoardError, build_board, connect_serial
    from .core.loader import ImageError
    from .core.record import RecordError, Recorder, Recording, board_options, replay_history
    if (args.record or args.replay) and args.fast:
        return _fail("--record and --replay need deterministic time: drop --fast", EXIT_USAGE)
    try:
        if args.replay:
            recording = Recording.load(args.replay)
            image = recording.check_image(args.kernel or args.image)
            board = build_board(str(image), serial="none", **board_options(recording))
            stop = replay_history(board.machine, recording, {"uart": board.uart},
                                  checkpoints=False).run(max_insns=args.max_insns)
        else:
            image = _image_path(args)
            board = build_board(image, ram_mb=args.mem, load_addr=args.load_addr,
                                reset_mode=args.reset_mode, deterministic=not args.fast,
                                serial="none" if args.record else args.serial or "stdio",
                                image=boot_image(args, image))
            if args.record:
                rec = Recorder(board.machine, image, {"ram_mb": args.mem, "load_addr": args.load_addr,
                                                      "reset_mode": args.reset_mode}, uart=board.uart)
                connect_serial(board, args.serial or "stdio")
                stop = rec.run(args.max_insns)
                rec.finish(args.record, stop)
            else:
                _stop_on_interrupt(board.machine)
                stop = board.run(max_insns=args.max_insns)
                while stop.kind == "reset" and not args.no_reboot:
                    board.machine.reset()             # PSCI SYSTEM_RESET reboots, as QEMU does
                    stop = board.run(max_insns=args.max_insns)
    except (ImageError, BoardError, RecordError, ValueError, OSError) as e:
        return _fail(str(e) if not isinstance(e, OSError) else f"{e.filename}: {e.strerror}")
    sys.stdout.flush()
    if args.exits:
        for rec in board.machine.worlds.log:
            print(f"[{rec.icount}] {rec.describe()}", file=sys.stderr)
    if stop.kind == "poweroff":
        return stop.exit_code
    m = board.machine
    where = f"PC {m.cpu.pc:#010x}, mode {m.cpu.mode:#x}, after {m.icount} instructions"
    tail = board.console.tail() if board.console is not None else []
    if tail:
        where += "; last console lines: " + " | ".join(line.strip() for line in tail)
    if stop.kind == "limit":
        return _fail(f"stopped: {stop.message} ({where})")
    if stop.kind == "reset":
        return _fail(f"the machine asked for a reset ({where}); not rebooting")
    if stop.kind == "interrupted":
        return _fail(f"interrupted ({where})", EXIT_INTERRUPTED)
    return _fail(f"stopped: {stop.message} ({where})")


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "tui":
        from .tui.main import main as tui_main
        return tui_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "serve":
            from .serve import cmd_serve
            return cmd_serve(args)
        if args.command == "dtb":
            return cmd_dtb(args)
        if args.command == "gdb":
            from .serve import cmd_gdb
            return cmd_gdb(args)
        if args.command == "demo":
            from .serve import cmd_demo
            return cmd_demo(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
