"""Builds the bare-metal test images in tests/images and runs them on QEMU and on hypdbg.

QEMU (`qemu-system-arm -M virt,virtualization=on -cpu cortex-a15`) is the
reference machine: an image prints what it observed over the PL011 and
powers off through PSCI SYSTEM_OFF, so the same ELF can be run on both and
the UART text compared.  Built ELFs are cached in tests/.build/, named by a
hash of everything that goes into them, so that a test run assembles only
what changed and parallel runs never see a half-written file.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

TESTS_DIR = Path(__file__).resolve().parent
IMAGES_DIR = TESTS_DIR / "images"
BUILD_DIR = TESTS_DIR / ".build"
REPO_DIR = TESTS_DIR.parent

AS = "arm-none-eabi-as"
LD = "arm-none-eabi-ld"
HOST_AS = "as"
QEMU = "qemu-system-arm"

RAM_BASE = 0x40000000
ASFLAGS = ("-march=armv7ve", "-mfpu=neon-vfpv4")
LIB_SOURCES = ("lib.S",)
SHARED_INPUTS = ("lib.S", "lib.inc", "image.ld", "irq.inc", "mmu.inc", "mmu_setup.inc")

QEMU_MACHINE = ("-M", "virt,virtualization=on", "-cpu", "cortex-a15", "-m", "256")
QEMU_IO = ("-nographic", "-monitor", "none", "-serial", "stdio")

# build_bad_image("truncated") keeps the ELF header (52 bytes) whole and cuts
# the one program header it announces at offset 52 after 8 of its 32 bytes.
TRUNCATE_AT = 60

_LINE = re.compile(r"^([A-Za-z0-9_.]+)=([0-9a-f]{8})$")


class BuildError(RuntimeError):
    """Assembling or linking an image failed; the message carries the tool's output."""


class RunTimeout(RuntimeError):
    """An image did not power off in time; ``output`` holds what it printed until then."""

    def __init__(self, what: str, timeout: float, output: str) -> None:
        super().__init__(f"{what} did not power off within {timeout:g} s; "
                         f"UART output so far:\n{output}")
        self.output = output


class QemuError(RuntimeError):
    """QEMU refused the image or exited with an error status."""


def missing_tools(*extra: str) -> List[str]:
    """The tools needed to build and run images that are not on PATH."""
    return [t for t in (AS, LD, QEMU, *extra) if shutil.which(t) is None]


@lru_cache(maxsize=None)
def _tool_version(tool: str) -> str:
    """First line of ``tool --version``: part of the cache key."""
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else tool


def _run_tool(cmd: Sequence[str]) -> None:
    """Run one build step; raise BuildError with its output if it fails."""
    res = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")


def _cache_key(parts: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:16]


def _publish(tmp: Path, dest: Path) -> Path:
    """Move a finished file into the cache atomically."""
    os.replace(tmp, dest)
    return dest


def build_image(name: str, base: int = RAM_BASE) -> Path:
    """Assemble tests/images/<name>.S with lib.S and link it at ``base``; return the ELF.

    ``name`` may name a subdirectory (``"bad/jump_unmapped"``).  The result is
    cached under tests/.build/ by a hash of the sources, linker script, base
    address and tool versions.
    """
    src = IMAGES_DIR / f"{name}.S"
    if not src.is_file():
        raise BuildError(f"no image source {src}")
    key = _cache_key([src.read_bytes(), f"{base:#x}".encode(), " ".join(ASFLAGS).encode(),
                      _tool_version(AS).encode(), _tool_version(LD).encode()]
                     + [(IMAGES_DIR / f).read_bytes() for f in SHARED_INPUTS])
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    dest = BUILD_DIR / f"{name.replace('/', '_')}-{key}.elf"
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory(dir=BUILD_DIR) as tmpdir:
        tmp = Path(tmpdir)
        objs = []
        for source in (src, *(IMAGES_DIR / s for s in LIB_SOURCES)):
            obj = tmp / f"{source.stem}.o"
            _run_tool([AS, *ASFLAGS, "-I", str(IMAGES_DIR), "-o", str(obj), str(source)])
            objs.append(str(obj))
        elf = tmp / "image.elf"
        _run_tool([LD, "-T", str(IMAGES_DIR / "image.ld"), "--defsym", f"IMAGE_BASE={base:#x}",
                   "-z", "max-page-size=0x1000", "--no-warn-rwx-segments",
                   "-o", str(elf), *objs])
        return _publish(elf, dest)


def build_bad_image(kind: str) -> Path:
    """Build one of the malformed inputs for the CLI's error paths.

    ``truncated``: a valid image cut inside its program header table.
    ``x86_64``: an x86-64 relocatable object made with the host assembler.
    ``outside_ram``: a valid ARM image linked at 0x20000000, outside RAM.
    ``jump_unmapped``: a valid image that branches to 0x20000000 with no
    handler installed.
    """
    if kind == "outside_ram":
        return build_image("bad/outside_ram", base=0x20000000)
    if kind == "jump_unmapped":
        return build_image("bad/jump_unmapped")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    if kind == "truncated":
        good = build_image("bad/jump_unmapped")
        dest = BUILD_DIR / f"bad_truncated{TRUNCATE_AT}-{good.stem.rsplit('-', 1)[1]}.elf"
        if not dest.is_file():
            fd, tmp = tempfile.mkstemp(dir=BUILD_DIR)
            with os.fdopen(fd, "wb") as f:
                f.write(good.read_bytes()[:TRUNCATE_AT])
            _publish(Path(tmp), dest)
        return dest
    if kind == "x86_64":
        src = IMAGES_DIR / "bad" / "x86_64.s"
        key = _cache_key([src.read_bytes(), _tool_version(HOST_AS).encode()])
        dest = BUILD_DIR / f"bad_x86_64-{key}.o"
        if not dest.is_file():
            with tempfile.TemporaryDirectory(dir=BUILD_DIR) as tmpdir:
                obj = Path(tmpdir) / "x86_64.o"
                _run_tool([HOST_AS, "--64", "-o", str(obj), str(src)])
                _publish(obj, dest)
        return dest
    raise ValueError(f"unknown bad image kind {kind!r}")


def qemu_command(elf: Path, extra_args: Sequence[str] = ()) -> List[str]:
    """The QEMU command line for an image: the reference machine, UART on stdout."""
    return [QEMU, *QEMU_MACHINE, *QEMU_IO, "-kernel", str(elf), *extra_args]


def _text(data: Optional[bytes]) -> str:
    return (data or b"").decode("utf-8", "replace").replace("\r\n", "\n")


def run_qemu(elf: Path, timeout: float = 10, extra_args: Sequence[str] = ()) -> str:
    """Run an image on QEMU until it powers off; return the UART text.

    Raises RunTimeout if it is still running after ``timeout`` seconds (QEMU
    is killed), QemuError if QEMU exits with a non-zero status.
    """
    cmd = qemu_command(elf, extra_args)
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise RunTimeout(f"QEMU ({elf.name})", timeout, _text(e.stdout)) from None
    if res.returncode != 0:
        raise QemuError(f"{' '.join(cmd)} exited with {res.returncode}:\n"
                        f"{_text(res.stderr)}\nUART output:\n{_text(res.stdout)}")
    return _text(res.stdout)


def hypdbg_command(elf: Path, extra_args: Sequence[str] = ()) -> List[str]:
    """The hypdbg command line that runs an image to power-off."""
    return [sys.executable, "-m", "hypdbg.cli", "run", str(elf), *extra_args]


def run_hypdbg(elf: Path, timeout: float = 30,
               extra_args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run an image on hypdbg (``hypdbg run``); return the finished process, text mode.

    Raises RunTimeout if it is still running after ``timeout`` seconds (it is
    killed).
    """
    cmd = hypdbg_command(elf, extra_args)
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=timeout, check=False, cwd=str(REPO_DIR))
    except subprocess.TimeoutExpired as e:
        raise RunTimeout(f"hypdbg ({elf.name})", timeout, _text(e.stdout)) from None
    return subprocess.CompletedProcess(res.args, res.returncode, _text(res.stdout),
                                       _text(res.stderr))


def symbols(elf: Path) -> Dict[str, int]:
    """Symbol name -> address from an image's symbol table (Thumb bit cleared).

    Mapping symbols ($a, $t, $d) are left out.
    """
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection
    out: Dict[str, int] = {}
    with open(elf, "rb") as f:
        for section in ELFFile(f).iter_sections():
            if not isinstance(section, SymbolTableSection):
                continue
            for sym in section.iter_symbols():
                if sym.name and not sym.name.startswith("$"):
                    out[sym.name] = sym["st_value"] & ~1
    return out


@dataclass
class UartReport:
    """An image's UART output: values grouped by case, in order.

    Values printed before the first "CASE" line belong to the case "".
    """

    lines: List[str]
    cases: Dict[str, Dict[str, int]] = field(default_factory=dict)
    order: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        """The image reached ``finish`` (printed END)."""
        return "END" in self.lines

    @property
    def stray(self) -> List[str]:
        """Lines that are neither values, CASE lines nor END."""
        return [ln for ln in self.lines
                if ln and ln != "END" and not ln.startswith("CASE ") and not _LINE.match(ln)]


def parse_uart(text: str) -> UartReport:
    """Split UART text into cases of KEY=value lines."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    report = UartReport(lines)
    current = ""
    for ln in lines:
        if ln.startswith("CASE "):
            current = ln[5:]
            report.cases.setdefault(current, {})
            report.order.append((current, ""))
            continue
        m = _LINE.match(ln)
        if m:
            report.cases.setdefault(current, {})[m.group(1)] = int(m.group(2), 16)
            report.order.append((current, m.group(1)))
    return report


# -- shared by the differential test modules -------------------------------------------

T = TypeVar("T")
_memos: Dict[Tuple[str, str], Tuple[bool, Any]] = {}


def memo(kind: str, image: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` once per (kind, image) in a test session, so each image is built and run
    once; a failure is replayed to every later caller instead of running again."""
    key = (kind, image)
    if key not in _memos:
        try:
            _memos[key] = (True, fn())
        except Exception as e:
            _memos[key] = (False, e)
    ok, value = _memos[key]
    if not ok:
        raise value
    return value


def case_params(cases: Mapping[str, Sequence[str]], runner: str,
                qemu_differences: Mapping[Tuple[str, str], str],
                hypdbg_bugs: Mapping[Tuple[str, str], str], bug_label: str = "") -> List[Any]:
    """One pytest parameter per (image, case). On QEMU a known difference from the ARM ARM
    is a strict xfail; on hypdbg so is a listed bug (``bug_label`` prefixes its reason)."""
    import pytest
    out = []
    for image, names in cases.items():
        for case in names:
            marks = []
            reason = qemu_differences.get((image, case))
            if reason and runner == "qemu":
                marks.append(pytest.mark.xfail(strict=True, reason=f"known QEMU difference: {reason}"))
            bug = hypdbg_bugs.get((image, case))
            if bug and runner == "hypdbg":
                marks.append(pytest.mark.xfail(strict=True, reason=f"{bug_label}{bug}"))
            out.append(pytest.param(image, case, marks=marks, id=f"{image}:{case or 'reset'}"))
    return out
