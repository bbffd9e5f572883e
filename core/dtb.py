"""The device tree QEMU's ``-M virt,virtualization=on -cpu cortex-a15`` hands to a kernel,
restricted to what hypdbg's board has (RAM, one Cortex-A15, PSCI over SMC, the
generic timer, the GICv2 with its virtualization interface, the PL011 UART).

Node names, property values and phandles are QEMU 7.2's (hw/arm/virt.c; compare
``qemu-system-arm -M virt,virtualization=on,dumpdtb=virt.dtb``), so that a kernel
sees the same description on both. QEMU's flash, virtio-mmio, PCIe, fw-cfg, RTC,
GPIO and GICv2m nodes are left out: hypdbg has none of those devices. With one
CPU, virt gives the cpu node no enable-method (it adds "psci" only for SMP), and
neither do we. QEMU's blob is 1 MiB with free space at the end; ours is packed.

The flattened format is written and read by the ``fdt`` package.
"""
from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import fdt

RAM_BASE = 0x40000000
GICD_BASE, GICC_BASE, GICH_BASE, GICV_BASE = 0x08000000, 0x08010000, 0x08030000, 0x08040000
GIC_REGION_SIZE = 0x10000          # virt's size for each of the four GIC frames
UART_BASE, UART_SIZE = 0x09000000, 0x1000
UART_SPI = 1
CLOCK_HZ = 24000000                # virt's apb-pclk, "clk24mhz"
PHANDLE_CLOCK, PHANDLE_CPU0, PHANDLE_GIC = 0x8000, 0x8001, 0x8002

# Interrupt specifier cells (Linux's arm,gic binding): type, number, flags.
GIC_SPI, GIC_PPI = 0, 1
IRQ_LEVEL_HIGH = 4
PPI_CPU_MASK_1 = 1 << 8            # bits 15:8 = CPUs the PPI is wired to; one CPU
PPI_MAINTENANCE = 9
PPI_SEC_PHYS, PPI_NS_PHYS, PPI_VIRT, PPI_HYP = 13, 14, 11, 10

# PSCI 0.1 function IDs virt keeps in the node for old kernels (they equal the 0.2 ones).
PSCI_IDS = (("cpu_suspend", 0x84000001), ("cpu_off", 0x84000002), ("cpu_on", 0x84000003),
            ("migrate", 0x84000005))


class DtbError(ValueError):
    """A blob that cannot be read or changed (one-line message)."""


@dataclass(frozen=True)
class Module:
    """A ``/chosen/module@`` node as QEMU's ``-device guest-loader`` creates it (Xen's
    multiboot binding: docs/misc/arm/device-tree/booting.txt)."""

    addr: int
    size: int
    kind: str                       # "kernel" or "ramdisk"
    bootargs: Optional[str] = None

    @property
    def node_name(self) -> str:
        """QEMU 7.2 spells the unit address with ``0x`` and eight digits (hw/core/guest-loader.c)."""
        return f"module@0x{self.addr:08x}"


def _cells(value: int, count: int) -> List[int]:
    return [(value >> (32 * (count - 1 - i))) & 0xFFFFFFFF for i in range(count)]


def _seed(seed: int, label: str, size: int) -> List[int]:
    """Fixed pseudo-random words: QEMU draws rng-seed and kaslr-seed from the host; a
    deterministic machine gives the same ones on every run."""
    digest = hashlib.sha256(f"hypdbg-{label}-{seed}".encode()).digest()[:size]
    return list(struct.unpack(f">{size // 4}I", digest))


def _node(name: str, *props: Tuple[str, object]) -> fdt.Node:
    node = fdt.Node(name)
    for key, value in props:
        _set(node, key, value)
    return node


def _set(node: fdt.Node, key: str, value: object) -> None:
    """Set a property: None is empty, an int or list of ints is cells, str/tuple of str are strings."""
    if value is None:
        prop = fdt.Property(key)
    elif isinstance(value, int):
        prop = fdt.PropWords(key, value)
    elif isinstance(value, list):
        prop = fdt.PropWords(key, *value)
    elif isinstance(value, str):
        prop = fdt.PropStrings(key, value)
    elif isinstance(value, tuple):
        prop = fdt.PropStrings(key, *value)
    else:
        raise TypeError(f"property {key}: unsupported value {value!r}")
    old = node.get_property(key)
    if old is not None:
        node.remove_property(key)
    node.append(prop)


def _ppi(num: int, flags: int) -> List[int]:
    return [GIC_PPI, num, flags]


def virt_tree(ram_size: int, bootargs: Optional[str] = None,
              initrd: Optional[Tuple[int, int]] = None, modules: Sequence[Module] = (),
              seed: int = 0) -> fdt.FDT:
    """The tree as an ``fdt.FDT`` (see ``virt_dtb``)."""
    ppi_flags = PPI_CPU_MASK_1 | IRQ_LEVEL_HIGH
    root = _node("/", ("interrupt-parent", PHANDLE_GIC), ("model", "linux,dummy-virt"),
                 ("#size-cells", 2), ("#address-cells", 2), ("compatible", "linux,dummy-virt"))
    psci = _node("psci", *((name, fid) for name, fid in PSCI_IDS), ("method", "smc"),
                 ("compatible", ("arm,psci-1.0", "arm,psci-0.2", "arm,psci")))
    memory = _node(f"memory@{RAM_BASE:x}", ("reg", _cells(RAM_BASE, 2) + _cells(ram_size, 2)),
                   ("device_type", "memory"))
    uart = _node(f"pl011@{UART_BASE:x}", ("clock-names", ("uartclk", "apb_pclk")),
                 ("clocks", [PHANDLE_CLOCK, PHANDLE_CLOCK]),
                 ("interrupts", [GIC_SPI, UART_SPI, IRQ_LEVEL_HIGH]),
                 ("reg", _cells(UART_BASE, 2) + _cells(UART_SIZE, 2)),
                 ("compatible", ("arm,pl011", "arm,primecell")))
    gic_reg: List[int] = []
    for base in (GICD_BASE, GICC_BASE, GICH_BASE, GICV_BASE):
        gic_reg += _cells(base, 2) + _cells(GIC_REGION_SIZE, 2)
    gic = _node(f"intc@{GICD_BASE:x}", ("phandle", PHANDLE_GIC),
                ("interrupts", _ppi(PPI_MAINTENANCE, IRQ_LEVEL_HIGH)), ("reg", gic_reg),
                ("compatible", "arm,cortex-a15-gic"), ("ranges", None), ("#size-cells", 2),
                ("#address-cells", 2), ("interrupt-controller", None), ("#interrupt-cells", 3))
    core0 = _node("core0", ("cpu", PHANDLE_CPU0))
    cpu_map = _node("cpu-map")
    socket0, cluster0 = _node("socket0"), _node("cluster0")
    cluster0.append(core0)
    socket0.append(cluster0)
    cpu_map.append(socket0)
    cpus = _node("cpus", ("#size-cells", 0), ("#address-cells", 1))
    cpus.append(cpu_map)
    cpus.append(_node("cpu@0", ("phandle", PHANDLE_CPU0), ("reg", 0),
                      ("compatible", "arm,cortex-a15"), ("device_type", "cpu")))
    timer = _node("timer", ("interrupts", _ppi(PPI_SEC_PHYS, ppi_flags) + _ppi(PPI_NS_PHYS, ppi_flags)
                            + _ppi(PPI_VIRT, ppi_flags) + _ppi(PPI_HYP, ppi_flags)),
                  ("always-on", None), ("compatible", "arm,armv7-timer"))
    clock = _node("apb-pclk", ("phandle", PHANDLE_CLOCK), ("clock-output-names", "clk24mhz"),
                  ("clock-frequency", CLOCK_HZ), ("#clock-cells", 0), ("compatible", "fixed-clock"))
    chosen = _node("chosen", ("stdout-path", f"/pl011@{UART_BASE:x}"),
                   ("rng-seed", _seed(seed, "rng", 32)), ("kaslr-seed", _seed(seed, "kaslr", 8)))
    for node in (psci, memory, uart, gic, cpus, timer, clock, chosen):
        root.append(node)
    tree = fdt.FDT()
    tree.header.version = 17
    tree.root = root
    _apply_boot(tree, RAM_BASE, ram_size, bootargs, initrd)
    for module in modules:
        add_module(tree, module)
    return tree


def virt_dtb(ram_size: int, bootargs: Optional[str] = None,
             initrd: Optional[Tuple[int, int]] = None, modules: Sequence[Module] = (),
             seed: int = 0) -> bytes:
    """QEMU virt's device tree for ``ram_size`` bytes of RAM at 0x40000000.

    ``initrd`` is (start, end) for /chosen linux,initrd-start/-end; ``modules`` are
    the guest-loader blobs; ``seed`` picks the fixed rng-seed and kaslr-seed.
    """
    return virt_tree(ram_size, bootargs, initrd, modules, seed).to_dtb(version=17)


def _chosen(tree: fdt.FDT) -> fdt.Node:
    node = tree.root.get_subnode("chosen")
    if node is None:
        node = fdt.Node("chosen")
        tree.root.append(node)
    return node


def _root_cells(tree: fdt.FDT) -> Tuple[int, int]:
    def cell(name: str) -> int:
        prop = tree.root.get_property(name)
        return prop.value if isinstance(prop, fdt.PropWords) and prop.data else 0
    return cell("#address-cells"), cell("#size-cells")


def _apply_boot(tree: fdt.FDT, ram_base: int, ram_size: int, bootargs: Optional[str],
                initrd: Optional[Tuple[int, int]]) -> None:
    """What QEMU's arm_load_dtb writes into any tree, its own or a ``-dtb`` file: the
    /memory reg, /chosen bootargs (if non-empty) and the initrd range (one cell each)."""
    acells, scells = _root_cells(tree)
    if acells == 0 or scells == 0:
        raise DtbError("dtb file invalid (#address-cells or #size-cells 0)")
    if scells < 2 and ram_size >= 1 << 32:
        raise DtbError("dtb file not compatible with RAM size > 4GB")
    memory = next((n for n in tree.root.nodes if n.name == "memory" or n.name.startswith("memory@")),
                  None)
    if memory is None:
        memory = _node("memory", ("device_type", "memory"))
        tree.root.append(memory)
    _set(memory, "reg", _cells(ram_base, acells) + _cells(ram_size, scells))
    chosen = _chosen(tree)
    if bootargs:
        _set(chosen, "bootargs", bootargs)
    if initrd is not None:
        _set(chosen, "linux,initrd-start", initrd[0] & 0xFFFFFFFF)
        _set(chosen, "linux,initrd-end", initrd[1] & 0xFFFFFFFF)


def add_module(tree: fdt.FDT, module: Module) -> None:
    """Add a guest-loader node: compatible "multiboot,module" then "multiboot,<kind>", reg
    as two 64-bit numbers (address, size) and, for a kernel, its bootargs."""
    if module.kind not in ("kernel", "ramdisk"):
        raise DtbError(f"module kind {module.kind!r}: expected kernel or ramdisk")
    node = _node(module.node_name, ("reg", _cells(module.addr, 2) + _cells(module.size, 2)),
                 ("compatible", ("multiboot,module", f"multiboot,{module.kind}")))
    if module.kind == "kernel" and module.bootargs:
        _set(node, "bootargs", module.bootargs)
    _chosen(tree).append(node)


def parse(blob: bytes) -> fdt.FDT:
    """Read a flattened device tree; DtbError with a one-line reason if it is not one."""
    if len(blob) < 40 or struct.unpack_from(">I", blob)[0] != 0xD00DFEED:
        raise DtbError("not a flattened device tree (bad magic)")
    total = struct.unpack_from(">I", blob, 4)[0]
    if total > len(blob):
        raise DtbError(f"truncated device tree ({len(blob)} of {total} bytes)")
    try:
        tree = fdt.parse_dtb(bytes(blob))
    except Exception as e:  # the library raises bare Exceptions and struct/index errors
        if str(e) != "Unknown Tag: 4":
            raise DtbError(f"malformed device tree ({e})") from None
        try:
            tree = fdt.parse_dtb(_without_nops(blob))
        except DtbError:
            raise
        except Exception as e2:
            raise DtbError(f"malformed device tree ({e2})") from None
    if tree.root is None:
        raise DtbError("device tree has no root node")
    return tree


def _without_nops(blob: bytes) -> bytes:
    """The same tree without FDT_NOP tokens, which libfdt leaves behind when it edits a
    blob in place (QEMU's -dtb handling does) and the ``fdt`` package cannot read:
    rewritten by dtc, the device tree compiler."""
    dtc = shutil.which("dtc")
    if dtc is None:
        raise DtbError("device tree has FDT_NOP tokens (edited by libfdt); install dtc "
                       "or rewrite it with 'dtc -I dtb -O dtb'")
    try:
        done = subprocess.run([dtc, "-q", "-I", "dtb", "-O", "dtb", "-"], input=bytes(blob),
                              capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise DtbError(f"dtc could not rewrite the device tree ({e})") from None
    return done.stdout


def update_dtb(blob: bytes, ram_size: int, bootargs: Optional[str] = None,
               initrd: Optional[Tuple[int, int]] = None) -> bytes:
    """A user's ``-dtb`` file as QEMU passes it on: only memory, bootargs and initrd change."""
    tree = parse(blob)
    _apply_boot(tree, RAM_BASE, ram_size, bootargs, initrd)
    return tree.to_dtb(version=17)


def _walk(node: fdt.Node, path: str) -> Iterator[Tuple[str, fdt.Node]]:
    yield path, node
    for child in node.nodes:
        yield from _walk(child, (path.rstrip("/") + "/" + child.name))


def _raw(prop: fdt.Property) -> bytes:
    """A property's value bytes, as the library encodes them (12-byte FDT_PROP header cut off)."""
    data, _strings, _pos = prop.to_dtb("", 0, 17)
    length = struct.unpack_from(">I", data, 4)[0]
    return bytes(data[12:12 + length])


def properties(blob: bytes) -> Dict[str, Dict[str, bytes]]:
    """Every node path mapped to its properties' raw values (for comparing two trees)."""
    tree = parse(blob)
    return {path: {p.name: _raw(p) for p in node.props} for path, node in _walk(tree.root, "/")}


def dump_dts(blob: bytes) -> str:
    """Source form of a blob, for ``hypdbg dtb --dump``."""
    return parse(blob).to_dts(tabsize=4)
