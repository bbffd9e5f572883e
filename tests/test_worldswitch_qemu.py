"""The world-switch example (examples/worldswitch) on the reference machine.

* The committed ELFs rebuild byte for byte from the sources (skipped without
  the ARM toolchain, or with a GNU binutils other than the one they were built
  with).
* worldswitch.elf on ``qemu-system-arm -M virt,virtualization=on`` prints the
  expected transcript, every event in order and at the guest PCs the symbols
  say, and powers off through PSCI SYSTEM_OFF.
* worldswitch-broken.elf (the world switch forgets the host's r4) visibly
  goes wrong right after the first return to the host.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Sequence, Union

import pytest
from elftools.elf.elffile import ELFFile

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "worldswitch"
ELF = EXAMPLE / "worldswitch.elf"
BROKEN_ELF = EXAMPLE / "worldswitch-broken.elf"
EXPECTED = EXAMPLE / "worldswitch.expected"
BROKEN_EXPECTED = EXAMPLE / "worldswitch-broken.expected"

# The committed ELFs were built with GNU as/ld 2.40 (Debian binutils-arm-none-eabi);
# the assembler writes its version into the debug info.
BINUTILS_VERSION = "2.40"
TOOLS = ("make", "arm-none-eabi-as", "arm-none-eabi-ld", "arm-none-eabi-objcopy")

QEMU = "qemu-system-arm"
QEMU_ARGS = ["-M", "virt,virtualization=on", "-cpu", "cortex-a15", "-m", "256",
             "-nographic", "-no-reboot"]
QEMU_TIMEOUT = 60

Pattern = Union[str, "re.Pattern[str]"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def run_qemu(elf: Path) -> str:
    """Run ``elf`` until it powers the machine off; return its UART output."""
    try:
        proc = subprocess.run([QEMU, *QEMU_ARGS, "-kernel", str(elf)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=QEMU_TIMEOUT)
    except subprocess.TimeoutExpired as e:  # subprocess.run has killed QEMU
        out = (e.stdout or b"").decode(errors="replace")
        pytest.fail(f"{elf.name} did not power off within {QEMU_TIMEOUT}s; output so far:\n{out}")
    assert proc.returncode == 0, (f"qemu exited with {proc.returncode}: "
                                  f"{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode(errors="replace").replace("\r\n", "\n")


def elf_symbols(path: Path) -> Dict[str, int]:
    with path.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: s["st_value"] for s in symtab.iter_symbols() if s.name}


def expect_in_order(lines: List[str], events: Sequence[Pattern]) -> None:
    """Each event (an exact line or a compiled regex) must match a line after
    the previous event's line."""
    pos = 0
    for event in events:
        for i in range(pos, len(lines)):
            line = lines[i]
            if (event.fullmatch(line) if isinstance(event, re.Pattern) else line == event):
                pos = i + 1
                break
        else:
            shown = event.pattern if isinstance(event, re.Pattern) else event
            context = "\n".join(lines[max(0, pos - 3):pos + 3])
            pytest.fail(f"event not found after line {pos}: {shown!r}\naround there:\n{context}")


def hex8(value: int) -> str:
    return f"{value:08x}"


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def qemu() -> str:
    if shutil.which(QEMU) is None:
        pytest.skip(f"{QEMU} is not installed")
    return QEMU


@pytest.fixture(scope="module")
def transcript(qemu) -> str:
    return run_qemu(ELF)


@pytest.fixture(scope="module")
def broken_transcript(qemu) -> str:
    return run_qemu(BROKEN_ELF)


@pytest.fixture(scope="module")
def sym() -> Dict[str, int]:
    return elf_symbols(ELF)


# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------

def test_rebuild_is_byte_identical(tmp_path):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"toolchain not installed: {', '.join(missing)}")
    proc = subprocess.run(["make", "-s", "-C", str(EXAMPLE), f"O={tmp_path}"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")
    for name in ("worldswitch.elf", "worldswitch-broken.elf"):
        built = (tmp_path / name).read_bytes()
        committed = (EXAMPLE / name).read_bytes()
        if built == committed:
            continue
        version = subprocess.run(["arm-none-eabi-as", "--version"], stdout=subprocess.PIPE,
                                 text=True).stdout.splitlines()[0]
        if not re.search(rf"\b{re.escape(BINUTILS_VERSION)}\b", version):
            pytest.skip(f"committed ELFs come from binutils {BINUTILS_VERSION}; "
                        f"this toolchain is {version!r}")
        pytest.fail(f"{name}: rebuilt image differs from the committed one "
                    f"({len(built)} vs {len(committed)} bytes); rebuild and commit it")


def test_broken_variant_is_the_same_image_but_the_world_switch():
    def section(path: Path, name: str) -> bytes:
        with path.open("rb") as f:
            return ELFFile(f).get_section_by_name(name).data()

    for name in (".host.text", ".host.rodata", ".guest.text", ".guest.rodata", ".hyp.data"):
        assert section(ELF, name) == section(BROKEN_ELF, name), name
    assert section(ELF, ".hyp.text") != section(BROKEN_ELF, ".hyp.text")
    good, broken = elf_symbols(ELF), elf_symbols(BROKEN_ELF)
    for name in ("hyp_restore_host", "hyp_return_to_host", "hyp_vector_hvc",
                 "host_run_loop", "guest_tick_wait"):
        assert good[name] == broken[name], name


def test_symbol_layout(sym):
    """The addresses the README and the debugger tests rely on."""
    assert sym["_start"] == 0x40000000
    assert sym["hyp_vectors"] == 0x40100000
    assert sym["guest_vectors"] == 0x40200000
    assert sym["hyp_vector_trap"] > sym["hyp_vectors"]
    # no two functions or labels share an address across host, hyp and guest
    names_by_addr: Dict[int, List[str]] = {}
    for name, addr in sym.items():
        if name.startswith("$") or name.endswith(".s"):
            continue
        names_by_addr.setdefault(addr, []).append(name)
    worlds = {a: {n.split("_")[0] for n in names} for a, names in names_by_addr.items()}
    assert not [a for a, w in worlds.items() if {"host", "guest"} <= w or {"hyp", "guest"} <= w]


# ---------------------------------------------------------------------------
# worldswitch.elf on QEMU
# ---------------------------------------------------------------------------

def test_transcript_is_the_expected_one(transcript):
    assert transcript == EXPECTED.read_text()


def test_events_in_order(transcript, sym):
    lines = transcript.splitlines()
    hvc_puts = hex8(sym["guest_puts"] + 4)          # HVC exits report the next instruction
    hvc_puthex = hex8(sym["guest_puthex"] + 4)
    tick_wait = hex8(sym["guest_tick_wait"])
    expect_in_order(lines, [
        re.compile(r"boot: hyp vectors installed, hyp mmu on, .*"),
        re.compile(r"host: stage 2: ipa 40200000-405fffff -> pa 40400000, "
                   r"gicc 08010000 -> gicv 08040000, gicd 08000000 emulated"),
        f"host: vcpu 0: vttbr=00010000{hex8(sym['s2_pgd'])}",
        # first entry, at the guest's reset vector
        f"host: run vcpu pc={hex8(sym['guest_vectors'])}",
        # hypercall 1: puts
        f"host: exit HVC imm=0001 r0={hex8(sym['str_hello'])} pc={hvc_puts}",
        "guest: hello from the guest at ipa 40200000",
        f"host: run vcpu pc={hvc_puts}",
        # hypercall 2: puthex of fib(24)
        f"host: exit HVC imm=0002 r0={hex8(sym['str_fib'])} pc={hvc_puthex}",
        "guest: fib(24)=0000b520",
        # stage-2 data aborts on the distributor page, emulated from the syndrome
        f"host: exit DABT hsr=93830007 pc={hex8(sym['guest_mmio_read'])}",
        "host: mmio read ipa=08000008 size=4 r3=4800043b",
        f"host: run vcpu pc={hex8(sym['guest_mmio_read'] + 4)}",
        f"host: exit DABT hsr=93820047 pc={hex8(sym['guest_mmio_write_ctlr'])}",
        "host: mmio write ipa=08000000 size=4 r2=00000001",
        f"host: run vcpu pc={hex8(sym['guest_mmio_write_ctlr'] + 4)}",
        f"host: exit DABT hsr=93820047 pc={hex8(sym['guest_mmio_write_enable'])}",
        "host: mmio write ipa=08000104 size=4 r2=00000400",
        f"host: run vcpu pc={hex8(sym['guest_mmio_write_enable'] + 4)}",
        "guest: gicd iidr=4800043b",
        # trapped WFI, skipped, virtual IRQ 42 injected through a list register
        f"host: exit WFI hsr=07e00000 pc={hex8(sym['guest_wfi'])}",
        "host: wfi: inject virtual irq 42, GICH_LR0=1a00002a",
        f"host: run vcpu pc={hex8(sym['guest_wfi'] + 4)}",
        "guest: woke up from wfi by virtual irq 0000002a",
        # the guest's own stage 1
        "guest: mmu on, magic read through alias va 90000000: 600dcafe",
        # the host's timer IRQ while the guest spins on one instruction
        f"host: exit HVC imm=0003 r0={hex8(sym['guest_state'] + 4)} pc={tick_wait}",
        "host: guest waits for a tick: arming the host timer",
        f"host: run vcpu pc={tick_wait}",
        f"host: exit IRQ pc={tick_wait}",
        "host: timer irq",
        f"host: run vcpu pc={tick_wait}",
        "guest: tick received after the host timer irq",
        # done: hypercall 4, then PSCI SYSTEM_OFF
        f"host: exit HVC imm=0004 r0=00000000 pc={hex8(sym['guest_done'] + 4)}",
        "host: guest done, status=00000000",
        "host: psci system off",
    ])
    assert lines[-1] == "host: psci system off"


def test_every_exit_is_traced_between_entries(transcript):
    """Entries and exits alternate: each "run vcpu" is followed by one exit."""
    kinds = [("run" if line.startswith("host: run vcpu") else "exit")
             for line in transcript.splitlines()
             if line.startswith(("host: run vcpu", "host: exit "))]
    assert kinds == ["run", "exit"] * (len(kinds) // 2)
    assert len(kinds) == 2 * 13   # 12 traps and one IRQ exit


# ---------------------------------------------------------------------------
# worldswitch-broken.elf on QEMU
# ---------------------------------------------------------------------------

def test_broken_variant_goes_wrong_after_the_first_exit(transcript, broken_transcript):
    good, bad = transcript.splitlines(), broken_transcript.splitlines()
    first_run = next(i for i, line in enumerate(good) if line.startswith("host: run vcpu"))
    # identical up to and including the first entry into the guest ...
    assert bad[:first_run + 1] == good[:first_run + 1]
    # ... then the host reads its "vcpu" through the guest's r4 (guest_state,
    # an IPA, which in the host's physical space is empty RAM): a nonsense exit
    assert bad[first_run + 1:] == [
        "host: exit TRAP hsr=00000000 pc=00000000",
        "host: unhandled exit, stopping the guest",
        "host: psci system off",
    ]
    assert not any(line.startswith("guest: ") for line in bad)
    assert broken_transcript == BROKEN_EXPECTED.read_text()
