"""The device tree of core.dtb against QEMU 7.2's own for ``-M virt,virtualization=on
-cpu cortex-a15`` (``dumpdtb=``): every node hypdbg describes must be QEMU's node with
QEMU's properties, and what it describes must be what core.board wires."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from hypdbg.core import dtb, timer, vgic
from hypdbg.core.board import UART_INTID
from hypdbg.core.boot import parse_device, plan_boot

QEMU = "qemu-system-arm"
needs_qemu = pytest.mark.skipif(shutil.which(QEMU) is None, reason="qemu-system-arm not installed")
# QEMU fills these from the host's random source on every run (hw/arm/virt.c create_fdt).
RANDOM_PROPS = {"rng-seed", "kaslr-seed"}


def fake_zimage(path: Path, size: int = 0x3000) -> str:
    """A file QEMU and plan_boot both take for a Linux zImage (magic at 0x24); never run."""
    data = bytearray(size)
    data[0x24:0x28] = (0x016F2818).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return str(path)


def qemu_dtb(tmp_path: Path, ram_mb: int, *args: str) -> bytes:
    out = tmp_path / "qemu.dtb"
    subprocess.run([QEMU, "-M", f"virt,virtualization=on,dumpdtb={out}", "-cpu", "cortex-a15",
                    "-m", str(ram_mb), "-display", "none", "-serial", "null", *args],
                   check=True, capture_output=True, timeout=60)
    return out.read_bytes()


def assert_shared_nodes_equal(ours: Dict[str, Dict[str, bytes]],
                              theirs: Dict[str, Dict[str, bytes]]) -> None:
    for path, props in ours.items():
        assert path in theirs, f"{path}: QEMU's tree has no such node"
        for name in set(props) | set(theirs[path]):
            if name in RANDOM_PROPS:
                assert (name in props) == (name in theirs[path]), f"{path} {name}"
                continue
            assert props.get(name) == theirs[path].get(name), f"{path} property {name}"


@needs_qemu
@pytest.mark.parametrize("ram_mb", [256, 1024])
def test_linux_boot_tree_matches_qemu(tmp_path: Path, ram_mb: int) -> None:
    kernel = fake_zimage(tmp_path / "zImage")
    rd = tmp_path / "initrd"
    rd.write_bytes(b"\x1f\x8b" + bytes(5000))
    args = ["-kernel", kernel, "-initrd", str(rd), "-append", "console=ttyAMA0 quiet"]
    theirs = dtb.properties(qemu_dtb(tmp_path, ram_mb, *args))
    plan = plan_boot(kernel, str(rd), "console=ttyAMA0 quiet", ram_mb=ram_mb)
    ours = dtb.properties(plan.dtb)
    assert_shared_nodes_equal(ours, theirs)
    # The nodes Linux needs on this board are all there (virt.c: fdt_add_* for each).
    for path in ("/psci", "/memory@40000000", "/cpus/cpu@0", "/timer", "/intc@8000000",
                 "/pl011@9000000", "/apb-pclk", "/chosen"):
        assert path in ours


@needs_qemu
def test_guest_loader_modules_match_qemu(tmp_path: Path) -> None:
    # hw/core/guest-loader.c: one /chosen/module@0x<addr> node per -device guest-loader.
    kernel = fake_zimage(tmp_path / "xen")
    (tmp_path / "dom0").write_bytes(b"K" * 1234)
    (tmp_path / "rd").write_bytes(b"R" * 77)
    devices = [f"guest-loader,addr=0x42000000,kernel={tmp_path / 'dom0'},bootargs=console=hvc0 earlyprintk",
               f"guest-loader,addr=0x47000000,initrd={tmp_path / 'rd'}"]
    qargs: List[str] = ["-kernel", kernel, "-append", "dom0_mem=128M"]
    for d in devices:
        qargs += ["-device", d]
    theirs = dtb.properties(qemu_dtb(tmp_path, 256, *qargs))
    plan = plan_boot(kernel, append="dom0_mem=128M", guest_loaders=[parse_device(d) for d in devices])
    ours = dtb.properties(plan.dtb)
    assert "/chosen/module@0x42000000" in ours and "/chosen/module@0x47000000" in ours
    assert_shared_nodes_equal(ours, theirs)


@needs_qemu
def test_user_dtb_updated_as_qemu_does(tmp_path: Path) -> None:
    # boot.c arm_load_dtb: a -dtb file gets /memory reg, /chosen bootargs and the initrd
    # range; virt does not add guest-loader modules to it.
    user = tmp_path / "user.dtb"
    user.write_bytes(qemu_dtb(tmp_path, 128))
    kernel = fake_zimage(tmp_path / "zImage")
    rd = tmp_path / "initrd"
    rd.write_bytes(bytes(3000))
    args = ["-kernel", kernel, "-initrd", str(rd), "-append", "root=/dev/ram", "-dtb", str(user)]
    theirs = dtb.properties(qemu_dtb(tmp_path, 512, *args))
    plan = plan_boot(kernel, str(rd), "root=/dev/ram", str(user), ram_mb=512)
    ours = dtb.properties(plan.dtb)
    assert set(ours) == set(theirs)
    for path in ours:
        assert ours[path] == theirs[path], path


def test_interrupts_are_the_ones_the_board_wires() -> None:
    # Linux's arm,gic binding: <type number flags>, SPI n = INTID 32 + n, PPI n = INTID 16 + n;
    # PPI flags carry the CPU mask in bits 15:8 (one CPU: 0x100) and level-high = 4.
    props = dtb.properties(dtb.virt_dtb(256 << 20))
    words = lambda raw: [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw), 4)]
    assert words(props["/pl011@9000000"]["interrupts"]) == [0, UART_INTID - 32, 4]
    timer_irqs = words(props["/timer"]["interrupts"])
    # arm,arch_timer binding order: secure phys, non-secure phys, virtual, hyp.
    assert [16 + timer_irqs[i] for i in (1, 4, 7, 10)] == [
        timer.PPI_SECURE_PHYS, timer.PPI_PHYS, timer.PPI_VIRT, timer.PPI_HYP]
    assert all(timer_irqs[i] == 1 and timer_irqs[i + 2] == 0x104 for i in (0, 3, 6, 9))
    gic = words(props["/intc@8000000"]["interrupts"])
    assert gic[0] == 1 and 16 + gic[1] == vgic.MAINTENANCE_PPI and gic[2] == 4
    # arm,gic binding: GICD, GICC, GICH, GICV, each as <address size> with 2+2 cells.
    reg = words(props["/intc@8000000"]["reg"])
    assert reg[1::4] == [0x08000000, 0x08010000, 0x08030000, 0x08040000]


def test_memory_and_chosen_follow_arguments() -> None:
    # boot.c arm_load_dtb: /memory reg = <RAM base, size>, initrd start/end one cell each.
    blob = dtb.virt_dtb(3072 << 20, "console=ttyAMA0", (0x48000000, 0x48001234))
    props = dtb.properties(blob)
    assert props["/memory@40000000"]["reg"] == bytes.fromhex("00000000 40000000 00000000 c0000000")
    assert props["/chosen"]["bootargs"] == b"console=ttyAMA0\0"
    assert props["/chosen"]["linux,initrd-start"] == bytes.fromhex("48000000")
    assert props["/chosen"]["linux,initrd-end"] == bytes.fromhex("48001234")
    assert props["/chosen"]["stdout-path"] == b"/pl011@9000000\0"
    # A deterministic machine: the same seed gives the same blob.
    assert dtb.virt_dtb(256 << 20, seed=3) == dtb.virt_dtb(256 << 20, seed=3)
    assert dtb.virt_dtb(256 << 20, seed=3) != dtb.virt_dtb(256 << 20, seed=4)


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc not installed")
def test_dump_dts_reads_back_with_dtc(tmp_path: Path) -> None:
    # The dump is device tree source: dtc compiles it back to the same properties.
    blob = dtb.virt_dtb(256 << 20, "a b", (0x48000000, 0x48000010),
                        [dtb.Module(0x42000000, 16, "kernel", "x=y")])
    src = tmp_path / "t.dts"
    src.write_text(dtb.dump_dts(blob))
    out = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", str(src)], check=True,
                         capture_output=True).stdout
    assert dtb.properties(out) == dtb.properties(blob)


@pytest.mark.parametrize("blob, message", [
    (b"", "bad magic"),
    (b"\xd0\x0d\xfe\xed\x00\x00\x10\x00" + bytes(56), "truncated"),
    # A header whose structure block starts with an unknown tag (0x0000000f).
    (b"\xd0\x0d\xfe\xed\x00\x00\x00\x40\x00\x00\x00\x38\x00\x00\x00\x40\x00\x00\x00\x28"
     b"\x00\x00\x00\x11\x00\x00\x00\x10" + bytes(28) + b"\x00\x00\x00\x0f" + bytes(4), "malformed"),
    (b"not a device tree at all, just some text", "bad magic"),
])
def test_bad_blobs_are_one_line_errors(blob: bytes, message: str) -> None:
    with pytest.raises(dtb.DtbError) as err:
        dtb.dump_dts(blob)
    assert message in str(err.value) and "\n" not in str(err.value)
