"""Boot planning (core.boot) against QEMU 7.2's hw/arm/boot.c and hw/core/guest-loader.c.

Where QEMU is installed, each placement is also read back from QEMU itself: with -S
the CPU has not run, and QEMU's boot stub at the RAM base holds the values it loads
(boot.c ``bootloader``: words 4..6 are r1, r2 and the kernel entry), while
``dumpdtb=`` gives the /chosen initrd range QEMU chose.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest

from hypdbg.core import dtb
from hypdbg.core.boot import BootError, GuestLoader, parse_device, plan_boot

QEMU = "qemu-system-arm"
needs_qemu = pytest.mark.skipif(shutil.which(QEMU) is None, reason="qemu-system-arm not installed")
needs_as = pytest.mark.skipif(shutil.which("arm-none-eabi-as") is None, reason="no ARM assembler")
RAM = 0x40000000
MiB = 1 << 20
CACHE = Path(os.environ.get("HYPDBG_BOOT_CACHE",
                            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hypdbg" / "boot"))


def fake_zimage(path: Path, size: int) -> str:
    """A zImage-shaped file (magic 0x016F2818 at 0x24); neither side runs it."""
    data = bytearray(size)
    data[0x24:0x28] = (0x016F2818).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return str(path)


def blob(path: Path, size: int) -> str:
    path.write_bytes(bytes((i * 7) & 0xFF for i in range(size)))
    return str(path)


def sparse(path: Path, size: int) -> str:
    """A large file of zeros that costs no time to write."""
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def qemu_words(ram_mb: int, args: List[str], addr: int, count: int) -> List[int]:
    """``count`` words of guest memory at ``addr`` before the first instruction runs."""
    cmd = [QEMU, "-M", "virt,virtualization=on", "-cpu", "cortex-a15", "-m", str(ram_mb), "-S",
           "-display", "none", "-serial", "null", "-monitor", "stdio", *args]
    out = subprocess.run(cmd, input=f"xp /{count}wx {addr:#x}\nquit\n", capture_output=True,
                         text=True, timeout=60).stdout
    words: List[int] = []
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]{16}:(.*)$", line)
        if m:
            words += [int(w, 16) for w in re.findall(r"0x([0-9a-f]{8})", m.group(1))]
    assert len(words) == count, out
    return words


def qemu_chosen(tmp_path: Path, ram_mb: int, args: List[str]) -> dict:
    out = tmp_path / "q.dtb"
    subprocess.run([QEMU, "-M", f"virt,virtualization=on,dumpdtb={out}", "-cpu", "cortex-a15",
                    "-m", str(ram_mb), "-display", "none", "-serial", "null", *args],
                   check=True, capture_output=True, timeout=60)
    return dtb.properties(out.read_bytes())["/chosen"]


# -- Linux images ---------------------------------------------------------------

def test_zimage_follows_the_linux_boot_protocol(tmp_path: Path) -> None:
    kernel = fake_zimage(tmp_path / "zImage", 0x5000)
    plan = plan_boot(kernel, ram_mb=256)
    # boot.c: KERNEL_LOAD_ADDR = RAM + 0x10000; bootloader sets r0 = 0, r1 = board_id
    # (virt: -1), r2 = DTB address (Documentation/arm/booting.rst, "Calling the kernel image").
    assert plan.is_linux and plan.kind == "zimage"
    assert plan.entry == RAM + 0x10000 and not plan.thumb
    assert plan.registers == {0: 0, 1: 0xFFFFFFFF, 2: plan.dtb_addr}
    kernel_seg = next(s for s in plan.segments if s.name == "kernel")
    assert kernel_seg.addr == RAM + 0x10000 and kernel_seg.data == Path(kernel).read_bytes()
    dtb_seg = next(s for s in plan.segments if s.name == "dtb")
    assert dtb_seg.addr == plan.dtb_addr and dtb_seg.data[:4] == b"\xd0\x0d\xfe\xed"
    # Without an initrd the DTB sits where the initrd would start: RAM + min(RAM/2, 128 MiB).
    assert plan.dtb_addr == RAM + 128 * MiB


@pytest.mark.parametrize("ram_mb, expect", [(1024, 128 * MiB), (256, 128 * MiB), (128, 64 * MiB),
                                            (64, 32 * MiB)])
def test_initrd_placement(tmp_path: Path, ram_mb: int, expect: int) -> None:
    # boot.c: initrd_start = RAM + MIN(ram_size / 2, 128 MiB), page aligned; the DTB goes
    # after it, aligned up to 4 KiB ("some 32bit kernels trash the 4K page the initrd ends in").
    kernel = fake_zimage(tmp_path / "zImage", 0x5000)
    rd = blob(tmp_path / "rd", 5001)
    plan = plan_boot(kernel, rd, ram_mb=ram_mb)
    assert plan.initrd == (RAM + expect, RAM + expect + 5001)
    assert plan.dtb_addr == RAM + expect + 0x2000
    seg = next(s for s in plan.segments if s.name == "initrd")
    assert seg.addr == RAM + expect and seg.data == Path(rd).read_bytes()
    props = dtb.properties(plan.dtb)["/chosen"]
    assert props["linux,initrd-start"] == (RAM + expect).to_bytes(4, "big")
    assert props["linux,initrd-end"] == (RAM + expect + 5001).to_bytes(4, "big")


def test_initrd_moves_past_a_large_kernel(tmp_path: Path) -> None:
    # boot.c: initrd_start = MAX(initrd_start, image_high_addr), then TARGET_PAGE_ALIGN.
    kernel = fake_zimage(tmp_path / "zImage", 5 * MiB + 123)
    rd = blob(tmp_path / "rd", 100)
    plan = plan_boot(kernel, rd, ram_mb=8)
    end = RAM + 0x10000 + 5 * MiB + 123
    assert plan.initrd[0] == (end + 0xFFF) & ~0xFFF


@needs_qemu
@pytest.mark.parametrize("ram_mb, kernel_size, initrd_size", [
    (512, 0x4000, 1_000_000), (128, 0x4000, 4097), (8, 5 * MiB + 0x1234, 1_000_000),
    (256, 0x4000, 0), (40, 30 * MiB, 3 * MiB),
])
def test_linux_placement_matches_qemu(tmp_path: Path, ram_mb: int, kernel_size: int,
                                      initrd_size: int) -> None:
    kernel = fake_zimage(tmp_path / "zImage", kernel_size)
    args = ["-kernel", kernel, "-append", "console=ttyAMA0"]
    rd = None
    if initrd_size:
        rd = blob(tmp_path / "rd", initrd_size)
        args += ["-initrd", rd]
    plan = plan_boot(kernel, rd, "console=ttyAMA0", ram_mb=ram_mb)
    stub = qemu_words(ram_mb, args, RAM, 7)
    assert (stub[4], stub[5], stub[6]) == (plan.registers[1], plan.registers[2], plan.entry)
    chosen = qemu_chosen(tmp_path, ram_mb, args)
    if initrd_size:
        assert plan.initrd == (int.from_bytes(chosen["linux,initrd-start"], "big"),
                               int.from_bytes(chosen["linux,initrd-end"], "big"))
    else:
        assert plan.initrd is None and "linux,initrd-start" not in chosen


@needs_qemu
@pytest.mark.skipif(not (CACHE / "vmlinuz").exists(), reason="run examples/boot/make-images.sh first")
def test_debian_images_placed_as_qemu_places_them(tmp_path: Path) -> None:
    kernel, rd = str(CACHE / "vmlinuz"), str(CACHE / "initrd.gz")
    plan = plan_boot(kernel, rd, "console=ttyAMA0", ram_mb=512)
    assert plan.kind == "zimage"
    args = ["-kernel", kernel, "-initrd", rd, "-append", "console=ttyAMA0"]
    stub = qemu_words(512, args, RAM, 7)
    assert (stub[4], stub[5], stub[6]) == (plan.registers[1], plan.registers[2], plan.entry)
    # The DTB QEMU wrote at r2 carries the same /chosen as ours (seeds aside).
    chosen = qemu_chosen(tmp_path, 512, args)
    ours = dtb.properties(plan.dtb)["/chosen"]
    for key in ("bootargs", "linux,initrd-start", "linux,initrd-end", "stdout-path"):
        assert ours[key] == chosen[key], key


# -- ELF images -------------------------------------------------------------------

def build_elf(tmp_path: Path, addr: int, thumb: bool = False) -> str:
    src = tmp_path / "t.S"
    src.write_text(".syntax unified\n.global _start\n" + (".thumb\n.thumb_func\n" if thumb else ".arm\n")
                   + "_start: b _start\n")
    obj, elf = tmp_path / "t.o", tmp_path / f"t_{addr:x}.elf"
    subprocess.run(["arm-none-eabi-as", "-march=armv7-a", "-o", str(obj), str(src)], check=True)
    subprocess.run(["arm-none-eabi-ld", f"-Ttext={addr:#x}", "-o", str(elf), str(obj)], check=True)
    return str(elf)


@needs_as
def test_elf_entered_at_its_entry_with_nothing_in_registers(tmp_path: Path) -> None:
    # boot.c do_cpu_reset: a non-Linux image starts at info->entry (bit 0 = Thumb);
    # no boot stub, registers as reset leaves them.
    plan = plan_boot(build_elf(tmp_path, 0x40100000, thumb=True), initrd=blob(tmp_path / "rd", 10))
    assert plan.kind == "elf" and plan.entry == 0x40100000 and plan.thumb
    assert plan.registers == {}
    assert plan.initrd is None and not any(s.name == "initrd" for s in plan.segments)
    # arm_setup_direct_kernel_boot: room below the image -> DTB at the RAM base.
    assert plan.dtb_addr == RAM


@needs_as
@pytest.mark.parametrize("addr, has_dtb", [(0x40100000, True), (0x40000000, False),
                                           (0x40000010, False), (0x40080000, False)])
def test_elf_dtb_placement(tmp_path: Path, addr: int, has_dtb: bool) -> None:
    # The DTB goes to the RAM base only if QEMU's 1 MiB blob fits below the image.
    plan = plan_boot(build_elf(tmp_path, addr))
    assert (plan.dtb_addr == RAM) == has_dtb
    assert bool(plan.dtb) == has_dtb


@needs_qemu
@needs_as
@pytest.mark.parametrize("addr", [0x40100000, 0x40000000, 0x40080000])
def test_elf_dtb_placement_matches_qemu(tmp_path: Path, addr: int) -> None:
    elf = build_elf(tmp_path, addr)
    plan = plan_boot(elf)
    magic = qemu_words(256, ["-kernel", elf], RAM, 1)[0]
    qemu_has_dtb = magic == 0xEDFE0DD0       # the big-endian FDT magic read as a word
    assert (plan.dtb_addr == RAM) == qemu_has_dtb


# -- guest-loader -------------------------------------------------------------------

def test_parse_device_forms() -> None:
    gl = parse_device("guest-loader,addr=0x42000000,kernel=/x/Image,bootargs=console=hvc0 root=/dev/ram")
    assert gl == GuestLoader(0x42000000, "/x/Image", "kernel", "console=hvc0 root=/dev/ram")
    gl = parse_device("driver=guest-loader,initrd=/x/rd,addr=1107296256")
    assert gl == GuestLoader(0x42000000, "/x/rd", "ramdisk", None)
    # QEMU option syntax: ",," is a literal comma inside a value.
    gl = parse_device("guest-loader,addr=0x42000000,kernel=k,bootargs=a,,b")
    assert gl.bootargs == "a,b"


# Messages are QEMU 7.2's (hw/core/guest-loader.c guest_loader_realize; qdev properties).
BAD_DEVICES = [
    ("guest-loader,addr=0x42000000,kernel=k,initrd=r", "Cannot specify a kernel and initrd in same stanza"),
    ("guest-loader,addr=0x42000000", "Need to specify a kernel or initrd image"),
    ("guest-loader,addr=0x42000000,initrd=r,bootargs=x", "Boot args only relevant to kernel blobs"),
    ("guest-loader,kernel=k", "Need to specify the address of guest blob"),
    ("guest-loader,addr=0x42000000,kernel=k,foo=1", "Property 'guest-loader.foo' not found"),
    ("guest-loader,addr=zz,kernel=k", "'addr' expects"),
    ("virtio-net,addr=1", "only guest-loader is supported"),
    ("guest-loader,addr=1,kernel=k,addr=2", "given twice"),
    ("guest-loader,addr", "expected key=value"),
]


@pytest.mark.parametrize("text, message", BAD_DEVICES)
def test_parse_device_rejects(text: str, message: str) -> None:
    with pytest.raises(BootError) as err:
        parse_device(text)
    assert message in str(err.value) and "\n" not in str(err.value)


@needs_qemu
@pytest.mark.parametrize("text, message", BAD_DEVICES[:5])
def test_parse_device_messages_are_qemus(tmp_path: Path, text: str, message: str) -> None:
    for name in ("k", "r"):
        (tmp_path / name).write_bytes(b"x")
    kernel = fake_zimage(tmp_path / "zImage", 0x100)
    done = subprocess.run([QEMU, "-M", f"virt,virtualization=on,dumpdtb={tmp_path / 'o.dtb'}",
                           "-cpu", "cortex-a15", "-display", "none", "-kernel", kernel,
                           "-device", text.replace("=k", f"={tmp_path / 'k'}").replace("=r", f"={tmp_path / 'r'}")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0 and message in done.stderr


def test_guest_loader_blobs_are_loaded_and_described(tmp_path: Path) -> None:
    kernel = fake_zimage(tmp_path / "xen", 0x8000)
    dom0 = blob(tmp_path / "dom0", 3000)
    rd = blob(tmp_path / "rd", 70)
    plan = plan_boot(kernel, append="dom0_mem=64M", guest_loaders=[
        parse_device(f"guest-loader,addr=0x42000000,kernel={dom0},bootargs=console=hvc0"),
        parse_device(f"guest-loader,addr=0x43000000,initrd={rd}")])
    segs = {s.addr: s.data for s in plan.segments}
    assert segs[0x42000000] == Path(dom0).read_bytes() and segs[0x43000000] == Path(rd).read_bytes()
    chosen = dtb.properties(plan.dtb)
    # guest-loader.c: reg = <addr size> as two 64-bit numbers, compatible module + kind.
    assert chosen["/chosen/module@0x42000000"]["reg"] == (0x42000000).to_bytes(8, "big") + (3000).to_bytes(8, "big")
    assert chosen["/chosen/module@0x42000000"]["compatible"] == b"multiboot,module\0multiboot,kernel\0"
    assert chosen["/chosen/module@0x42000000"]["bootargs"] == b"console=hvc0\0"
    assert chosen["/chosen/module@0x43000000"]["compatible"] == b"multiboot,module\0multiboot,ramdisk\0"
    assert "bootargs" not in chosen["/chosen/module@0x43000000"]


# -- bad input ------------------------------------------------------------------------

def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    kernel = fake_zimage(tmp_path / "zImage", 0x4000)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    uimage = tmp_path / "uImage"
    uimage.write_bytes((0x27051956).to_bytes(4, "big") + bytes(60))
    garbage_dtb = tmp_path / "bad.dtb"
    garbage_dtb.write_bytes(b"hello")
    cases: List[Tuple[dict, str]] = [
        (dict(kernel=str(tmp_path / "missing")), "could not load kernel"),
        (dict(kernel=str(empty)), "empty file"),
        (dict(kernel=str(uimage)), "uImage"),
        (dict(kernel=kernel, initrd=str(tmp_path / "missing")), "could not load initrd"),
        (dict(kernel=kernel, initrd=sparse(tmp_path / "big", 200 * MiB), ram_mb=256), "too big to fit"),
        (dict(kernel=sparse(tmp_path / "huge", 9 * MiB), ram_mb=8), "too large to fit in RAM"),
        (dict(kernel=kernel, dtb=str(garbage_dtb)), "dtb:"),
        (dict(kernel=kernel, ram_mb=0), "RAM size"),
        (dict(kernel=kernel, guest_loaders=[GuestLoader(0x40010000, kernel, "kernel")]), "overlap"),
        (dict(kernel=kernel, guest_loaders=[GuestLoader(0x30000000, kernel, "kernel")]), "outside RAM"),
    ]
    for kwargs, message in cases:
        with pytest.raises(BootError) as err:
            plan_boot(**kwargs)
        assert message in str(err.value), (kwargs, str(err.value))
        assert "\n" not in str(err.value)


def test_plan_image_carries_everything(tmp_path: Path) -> None:
    kernel = fake_zimage(tmp_path / "zImage", 0x4000)
    plan = plan_boot(kernel, blob(tmp_path / "rd", 10), "x")
    image = plan.image()
    assert image.entry == plan.entry and not image.is_elf
    assert sorted(image.segments) == sorted((s.addr, s.data) for s in plan.segments)
