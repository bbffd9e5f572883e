"""Deterministic instruction counting: a block hook that counts and stops at a deadline.

Virtual time in hypdbg is the number of retired instructions. ``count=`` on
``emu_start`` costs a hook per instruction and breaks block chaining; a
``UC_HOOK_BLOCK`` hook costs one call per translation block. The C version of
that hook (``fastcount.c``, built here with gcc and loaded with ctypes) adds
each block's instruction count before the block runs and calls
``uc_emu_stop`` at the first block that starts at or past a deadline; that
block is then not executed and not counted. A pure-Python hook with the same
behaviour is used when no compiler is available.

Semantics (measured on unicorn 2.1.4, see ``tests/test_fastcount.py``):

* After a deadline stop, ``count`` is exact and ``count >= deadline``; the
  overshoot is less than one block. PC is the start of the refused block and
  ``stopped_at_deadline`` is true. Setting ``deadline = 0`` from a hook stops
  at the next block boundary.
* A block that ends early has been counted whole: ``retired(pc)`` is the
  exact count, to be stored back with ``count = retired(pc)``. That covers an
  exception or trap reported to a hook (PC at the instruction, or after it
  for SVC/HVC/SMC), a code hook that calls ``emu_stop`` (emulation ends before
  that instruction), a memory hook that calls ``emu_stop`` (PC stays at the
  accessing instruction, which runs again on resume), ``count=`` running out, and an error raised by
  ``emu_start``. Call it inside the hook, or after ``emu_start`` returned,
  while that block is the last one the counter saw. Setting ``count``
  forgets the block, so a second correction changes nothing.
* ``uc.emu_stop()`` from another thread takes effect at whichever check comes
  next, so whether to correct is a race; use ``request_stop()`` instead,
  which the next block hook turns into a deadline stop.
* ``emu_start(count=N)`` with the counter enabled: whole blocks are still
  counted and ``count = retired(pc)`` afterwards is exact (keep the deadline
  out of the way). Or ``pause()`` the counter and add the steps yourself.
* Thumb blocks are counted by decoding their halfwords. Each block's count
  and state (CPSR.T, read on a miss) are cached by start address and size;
  call ``flush_cache`` after code was rewritten in place with other
  instruction widths at the same block size.

``python -m hypdbg.core.fastcount --build`` compiles the helper (exit status 0
on success); ``--info`` prints which implementation would be used.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import unicorn
from unicorn import (UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE,
                     UC_PROT_EXEC, Uc, UcError)
from unicorn.arm_const import UC_ARM_REG_CPSR

NO_DEADLINE = 1 << 63
ABI = 6
CACHE_BITS = 14
CACHE_SIZE = 1 << CACHE_BITS
SHAPE_THUMB = 0x8000
SHAPE_INSNS = 0x3FFF
REFUSED = 0x4000      # in last_shape: the block was not counted
CPSR_T = 1 << 5
MAX_BLOCK = 4096
_SOURCES = [Path(__file__).with_name(name) for name in ("fastcount.c", "tlbcache.c")]
_CFLAGS = ["-O2", "-shared", "-fPIC", "-fvisibility=default"]
_ENV_MODE = "HYPDBG_FASTCOUNT"   # "python" forces the fallback, "native" makes a failed load an error


class _State(ctypes.Structure):
    """Mirror of ``fc_state`` in fastcount.c (checked against ``fc_state_size``)."""

    _fields_ = [
        ("count", ctypes.c_uint64),
        ("limit", ctypes.c_uint64),
        ("last_shape", ctypes.c_uint64),
        ("deadline", ctypes.c_uint64),
        ("enabled", ctypes.c_uint32),
        ("stop_request", ctypes.c_uint32),
        ("exact", ctypes.c_uint32),
        ("watch", ctypes.c_uint32),
        ("misses", ctypes.c_uint64),
        ("read_errors", ctypes.c_uint64),
        ("emu_stop", ctypes.c_void_p),
        ("reg_read", ctypes.c_void_p),
        ("vmem_read", ctypes.c_void_p),
        ("cache", ctypes.c_uint64 * CACHE_SIZE),
        ("insn_pc", ctypes.c_uint64),
        ("align_addr", ctypes.c_uint64),
        ("align_pc", ctypes.c_uint64),
        ("align_size", ctypes.c_uint32),
        ("align_write", ctypes.c_uint32),
        ("align_hit", ctypes.c_uint32),
        ("align_on", ctypes.c_uint32),
        ("align_ctx", ctypes.c_void_p),
        ("ctx_save", ctypes.c_void_p),
    ]


def _uclib() -> ctypes.CDLL:
    """The libunicorn the Python binding loaded (hooks must be added through the same copy)."""
    from unicorn.unicorn_py3 import unicorn as binding
    return binding.uclib


def add_native_hook(uc: Uc, kind: int, fn: object, state: ctypes.Structure,
                    begin: int = 1, end: int = 0) -> int:
    """Register a C callback of the helper for hook ``kind`` over [begin, end] (all by
    default) with ``state`` as its user data (which must outlive the hook); the handle."""
    handle = ctypes.c_size_t()
    err = _uclib().uc_hook_add(uc._uch, ctypes.byref(handle), kind, ctypes.cast(fn, ctypes.c_void_p),
                               ctypes.c_void_p(ctypes.addressof(state)),
                               ctypes.c_uint64(begin), ctypes.c_uint64(end))
    if err != 0:
        raise UcError(err)
    return handle.value


def _hook_del(uc: Uc, handle: int) -> None:
    """Delete a hook added with ``add_native_hook``."""
    err = _uclib().uc_hook_del(uc._uch, ctypes.c_size_t(handle))
    if err != 0:
        raise UcError(err)


def _vmem_read_fn() -> Optional[Callable[..., int]]:
    """``uc_vmem_read`` with its own prototype (the binding does not wrap it)."""
    lib = _uclib()
    if not hasattr(lib, "uc_vmem_read"):
        return None
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int,
                             ctypes.c_void_p, ctypes.c_size_t)
    return proto(("uc_vmem_read", lib))


def _unicorn_dir() -> Path:
    return Path(unicorn.__file__).resolve().parent


def _build_tag() -> str:
    """Checksum of what the object depends on: sources, flags, unicorn version, interpreter
    word size. CRC-32 (zlib is loaded anyway): a cache key, computed at every launch, where
    hashlib would cost 2-4 ms to import."""
    crc = 0
    for source in _SOURCES:
        crc = zlib.crc32(source.read_bytes(), crc)
    crc = zlib.crc32(" ".join(_CFLAGS + _defines()).encode(), crc)
    crc = zlib.crc32(unicorn.__version__.encode() if hasattr(unicorn, "__version__") else b"", crc)
    crc = zlib.crc32(str(ctypes.sizeof(ctypes.c_void_p)).encode(), crc)
    return f"{crc:08x}"


def _defines() -> List[str]:
    return [f"-DFC_REG_CPSR={UC_ARM_REG_CPSR}", f"-DFC_PROT_EXEC={UC_PROT_EXEC}"]


def cache_dirs() -> List[Path]:
    """Where the built object may live: beside this module, then the user's cache."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(__file__).resolve().parent, Path(base) / "hypdbg"]


def library_name() -> str:
    return f"_fastcount-{_build_tag()}.so"


def find_library() -> Optional[Path]:
    """The built object for the current source, if one exists."""
    name = library_name()
    for d in cache_dirs():
        if (d / name).is_file():
            return d / name
    return None


def build(verbose: bool = False) -> Path:
    """Compile fastcount.c and tlbcache.c into the first writable cache directory; raise RuntimeError if impossible."""
    import subprocess   # only here: a launch that finds the helper built need not load it
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler (gcc or cc) on PATH")
    include = _unicorn_dir() / "include"
    args = [cc] + _CFLAGS + _defines()
    if (include / "unicorn" / "unicorn.h").is_file():
        args.append(f"-I{include}")
    else:
        args.append("-DFC_OWN_DECLS")
    errors = []
    for d in cache_dirs():
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".fastcount-", suffix=".so", dir=d)
            os.close(fd)
        except OSError as e:
            errors.append(f"{d}: {e.strerror or e}")
            continue
        cmd = args + ["-o", tmp] + [str(source) for source in _SOURCES]
        if verbose:
            print(" ".join(cmd), file=sys.stderr)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"{cc} failed:\n{res.stderr.strip()}")
        target = d / library_name()
        os.replace(tmp, target)
        for stale in d.glob("_fastcount-*.so"):
            if stale != target:
                try:
                    stale.unlink()
                except OSError:
                    pass
        return target
    raise RuntimeError("no writable cache directory: " + "; ".join(errors))


_native_lib: Optional[ctypes.CDLL] = None
_native_error: Optional[str] = None


def load_native(auto_build: bool = True) -> Optional[ctypes.CDLL]:
    """The loaded helper, building it first if needed; None (reason in ``native_error()``) if unusable."""
    global _native_lib, _native_error
    if _native_lib is not None or _native_error is not None:
        return _native_lib
    try:
        path = find_library()
        if path is None:
            if not auto_build:
                raise RuntimeError("not built (python -m hypdbg.core.fastcount --build)")
            path = build()
        lib = ctypes.CDLL(str(path))
        lib.fc_abi.restype = ctypes.c_int
        lib.fc_state_size.restype = ctypes.c_size_t
        if lib.fc_abi() != ABI or lib.fc_state_size() != ctypes.sizeof(_State):
            raise RuntimeError(f"{path}: built for another layout of the shared state")
        lib.fc_retired.restype = ctypes.c_uint64
        lib.fc_retired.argtypes = [ctypes.POINTER(_State), ctypes.c_void_p, ctypes.c_uint64]
        _native_lib = lib
    except (OSError, RuntimeError) as e:
        _native_error = str(e)
    return _native_lib


def native_error() -> Optional[str]:
    """Why the C helper is not in use (None if it is, or was never tried)."""
    return _native_error


def thumb_insns(code: bytes) -> int:
    """Thumb instructions in ``code``: a halfword whose top five bits are 0b11101..0b11111 starts a 32-bit one."""
    off = n = 0
    while off < len(code):
        off += 4 if (code[off + 1] >> 3) >= 0x1D else 2
        n += 1
    return n


def thumb_offset(code: bytes, k: int) -> int:
    """Byte offset of the ``k``-th Thumb instruction (from 0) in ``code``."""
    off = 0
    for _ in range(k):
        off += 4 if (code[off + 1] >> 3) >= 0x1D else 2
    return off


class BlockCounter:
    """Counts retired instructions per translation block and stops ``emu_start`` at a deadline.

    ``native`` tells whether the C hook is active. The hook stays registered
    for the life of the ``Uc`` unless ``close()`` removes it.
    """

    def __init__(self, uc: Uc, native: Optional[bool] = None) -> None:
        self.uc = uc
        mode = os.environ.get(_ENV_MODE, "")
        if native is None:
            native = mode != "python"
            required = mode == "native"
        else:
            required = native
        self._vmem = _vmem_read_fn()
        lib = load_native() if native and self._vmem is not None else None
        if lib is None and required:
            reason = native_error() if self._vmem is not None else "this libunicorn has no uc_vmem_read"
            raise RuntimeError(f"fastcount: C helper unavailable: {reason}")
        self.native = lib is not None
        self._lib = lib
        self._st = _State()
        self._st.deadline = NO_DEADLINE
        self._st.enabled = 1
        self._refresh_limit()
        self._handle: Optional[int] = None
        self._pc_ranges: List[Tuple[int, int]] = []     # ranges of the insn_pc hooks; (1, 0): all
        self._align_handle: Optional[int] = None
        if lib is not None:
            ul = _uclib()
            self._st.emu_stop = ctypes.cast(ul.uc_emu_stop, ctypes.c_void_p).value
            self._st.reg_read = ctypes.cast(ul.uc_reg_read, ctypes.c_void_p).value
            self._st.vmem_read = ctypes.cast(self._vmem, ctypes.c_void_p).value
            self._handle = add_native_hook(uc, UC_HOOK_BLOCK, lib.fc_block, self._st)
        else:
            self._handle = uc.hook_add(UC_HOOK_BLOCK, self._on_block)
        # The engine may call the hook until it is closed: the state lives as long as the Uc.
        keep = getattr(uc, "_hypdbg_fastcount", None)
        if keep is None:
            keep = []
            setattr(uc, "_hypdbg_fastcount", keep)
        keep.append(self._st)

    # -- the Python hook (same logic and cache as fc_block) -------------------------
    def _on_block(self, uc: Uc, address: int, size: int, _data: object) -> None:
        st = self._st
        if not st.enabled:
            return
        key = (address & 0xFFFFFFFF) << 32 | (size & 0xFFFF) << 16
        if st.watch and (uc.reg_read(UC_ARM_REG_CPSR) ^ (st.watch >> 16)) & st.watch & 0xFFFF:
            st.stop_request = 1
        if st.count >= st.deadline or st.stop_request:
            st.last_shape = key | REFUSED
            st.stop_request = 0
            self._refresh_limit()
            uc.emu_stop()
            return
        shape = self._shape(address, size, key)
        n = shape & SHAPE_INSNS
        if st.exact and st.count + n > st.deadline:
            st.last_shape = key | shape | REFUSED
            uc.emu_stop()
            return
        st.last_shape = key | shape
        st.count += n

    def _refresh_limit(self) -> None:
        """``limit``: the deadline unless paused, watching or asked to stop (then 0, which
        sends every block to the C hook's slow path). Set after the fields it follows."""
        st = self._st
        st.limit = st.deadline if st.enabled and not st.watch and not st.stop_request else 0

    def _last(self) -> Tuple[int, int, bool, int, int]:
        """The last block seen: (address, size, Thumb, instructions, instructions counted)."""
        last = self._st.last_shape
        insns = last & SHAPE_INSNS
        return (last >> 32, (last >> 16) & 0xFFFF, bool(last & SHAPE_THUMB), insns,
                0 if last & REFUSED else insns)

    def _shape(self, address: int, size: int, key: int) -> int:
        """The cached shape of the block ``key`` (its address and size fields), found on a miss."""
        slot = ((address >> 1) ^ (address >> (1 + CACHE_BITS))) & (CACHE_SIZE - 1)
        e = self._st.cache[slot]
        if e & ~0xFFFF == key:
            return e & 0xFFFF
        self._st.misses += 1
        if not self.uc.reg_read(UC_ARM_REG_CPSR) & CPSR_T:
            n = size >> 2
        else:
            n = self._thumb_span(address, size)
            if n == 0:
                return SHAPE_THUMB | (size + 3) // 4
            n |= SHAPE_THUMB
        self._st.cache[slot] = key | n
        return n

    def _read_code(self, address: int, size: int) -> Optional[bytes]:
        buf = ctypes.create_string_buffer(size)
        if self._vmem is not None:
            if self._vmem(self.uc._uch, address, UC_PROT_EXEC, buf, size) == 0:
                return buf.raw
            return None
        try:
            return bytes(self.uc.mem_read(address, size))
        except UcError:
            return None

    def _thumb_span(self, address: int, size: int) -> int:
        if size == 0:
            return 0
        code = self._read_code(address, size) if size <= MAX_BLOCK else None
        if code is None:
            self._st.read_errors += 1
            return 0
        return thumb_insns(code)

    # -- public API -----------------------------------------------------------------
    @property
    def count(self) -> int:
        """Instructions counted; exact after a deadline stop, else see ``retired``."""
        return self._st.count

    @count.setter
    def count(self, value: int) -> None:
        """Set the count; the last block is forgotten so that it is not corrected again."""
        self._st.count = value
        self._forget()

    @property
    def deadline(self) -> int:
        """Stop at the first block starting with ``count >= deadline`` (``NO_DEADLINE``: never)."""
        return self._st.deadline

    @deadline.setter
    def deadline(self, value: int) -> None:
        self._st.deadline = min(max(value, 0), (1 << 64) - 1)
        self._refresh_limit()

    @property
    def enabled(self) -> bool:
        """False: blocks are neither counted nor stopped (for ``count=`` steps counted by the caller)."""
        return bool(self._st.enabled)

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._st.enabled = int(bool(value))
        self._refresh_limit()
        if not value:
            self._forget()

    def watch_cpsr(self, cpsr: int, mask: int) -> None:
        """Stop at the first block where ``CPSR & mask`` differs from ``cpsr & mask``
        (mask 0: stop watching). The interrupt masks and the mode live in CPSR[8:0], and
        every instruction that changes them ends a block."""
        self._st.watch = ((cpsr & 0xFFFF) << 16) | (mask & 0xFFFF) if mask else 0
        self._refresh_limit()

    def pause(self) -> None:
        self.enabled = False

    def resume(self) -> None:
        self.enabled = True

    @property
    def last_block(self) -> Tuple[int, int, int]:
        """(start address, size in bytes, instructions) of the last block seen (0s once forgotten)."""
        addr, size, _, insns, _ = self._last()
        return addr, size, insns

    @property
    def stopped_at_deadline(self) -> bool:
        """True if the last block seen was refused (deadline or ``request_stop``): PC is its start."""
        _, size, _, _, counted = self._last()
        return counted == 0 and size != 0

    @property
    def exact(self) -> bool:
        """True: a block that would carry the count past the deadline is refused as well."""
        return bool(self._st.exact)

    @exact.setter
    def exact(self, value: bool) -> None:
        self._st.exact = int(bool(value))

    def deadline_address(self) -> Optional[int]:
        """After an exact-mode stop short of the deadline: where, in the refused block, the count
        reaches it (the instruction that must not run yet). None if there is nothing to finish."""
        st = self._st
        addr, size, thumb, insns, _ = self._last()
        if not self.stopped_at_deadline or st.count >= st.deadline or insns == 0:
            return None
        k = st.deadline - st.count
        if k >= insns:
            return None
        if not thumb:
            return addr + 4 * k
        code = self._read_code(addr, size)
        if code is None:
            return None
        return addr + thumb_offset(code, k)

    def finish_to_deadline(self, run: Callable[[], None]) -> None:
        """Run the rest of the refused block up to the deadline exactly, through ``run()`` (the
        caller's emu_start from the current PC). A code hook bound to the deadline address stops
        there; its block is retranslated so the hook takes effect, and again afterwards. If the
        block ends early (an exception), the deadline applies at the next block as usual."""
        target = self.deadline_address()
        if target is None:
            return
        uc = self.uc

        def stop(uc_: Uc, address: int, size: int, _d: object) -> None:
            self.count = self.retired(address)
            uc_.emu_stop()

        handle = uc.hook_add(UC_HOOK_CODE, stop, begin=target, end=target)
        uc.ctl_remove_cache(target, target + 4)
        exact = self.exact
        self.exact = False
        try:
            run()
        finally:
            self.exact = exact
            uc.hook_del(handle)
            uc.ctl_remove_cache(target, target + 4)

    def retired(self, pc: int) -> int:
        """The count if execution left the last block at ``pc`` (the next instruction to run)."""
        pc &= ~1
        if self._lib is not None:
            return int(self._lib.fc_retired(ctypes.byref(self._st), self.uc._uch, pc))
        st = self._st
        addr, size, thumb, insns, counted = self._last()
        if counted == 0 or pc < addr or pc > addr + size:
            return st.count
        off = pc - addr
        if not thumb:
            done = off >> 2
        elif off == size:
            done = insns
        else:
            done = self._thumb_span(addr, off)
        return st.count - counted + done

    def request_stop(self) -> None:
        """Thread-safe: the next block hook stops emulation like a deadline (cleared when it does)."""
        self._st.stop_request = 1
        self._st.limit = 0

    def flush_cache(self) -> None:
        """Forget cached Thumb block lengths (after code was rewritten in place)."""
        ctypes.memset(self._st.cache, 0, ctypes.sizeof(self._st.cache))

    @property
    def stats(self) -> Dict[str, int]:
        st = self._st
        return {"misses": st.misses, "read_errors": st.read_errors}

    def track_insn_pc(self, begin: int = 1, end: int = 0) -> None:
        """Record the address of every instruction in [begin, end] (all code by default)
        as it starts (``insn_pc``): what a memory hook needs to know which instruction
        accesses memory. Costs a call per instruction, so it is added only once
        watchpoints or alignment checks need it, and only over the code that needs it;
        it then stays: deleting a code hook makes unicorn look up every page of the
        hook's range as an instruction fetch, which a hypervisor that sets HSCTLR.A paid
        millions of TLB fills for when this was toggled at every world switch."""
        if self._pc_covered(begin, end):
            return
        if len(self._pc_ranges) >= 8:           # a range that keeps growing: cover everything
            begin, end = 1, 0
        if self._lib is not None:
            add_native_hook(self.uc, UC_HOOK_CODE, self._lib.fc_code, self._st, begin, end)
        else:
            self.uc.hook_add(UC_HOOK_CODE, self._on_code, begin=begin, end=end)
        self._pc_ranges.append((begin, end))
        self.uc.ctl_flush_tb()

    def _pc_covered(self, begin: int, end: int) -> bool:
        for b, e in self._pc_ranges:
            if (b, e) == (1, 0) or ((begin, end) != (1, 0) and b <= begin and end <= e):
                return True
        return False

    def align_check(self, ctx: Optional[object]) -> bool:
        """Check every memory access for alignment in C (``ctx``: a UcContext to save the
        state before the first misaligned one into), or stop checking (None), which
        removes the hook: while any memory hook exists, unicorn translates every load and
        store to its slow path. False when there is no C helper: the caller then checks
        in Python."""
        if self._lib is None:
            return False
        st = self._st
        if ctx is None:
            st.align_on = 0
            if self._align_handle is not None:
                _hook_del(self.uc, self._align_handle)
                self._align_handle = None
            return True
        st.align_ctx = ctx.context.value  # type: ignore[attr-defined]
        st.ctx_save = ctypes.cast(_uclib().uc_context_save, ctypes.c_void_p).value
        st.align_hit = 0
        st.align_on = 1
        if self._align_handle is None:
            self._align_handle = add_native_hook(self.uc, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                                                 self._lib.fc_align, st)
        return True

    def take_align_hit(self) -> Optional[Tuple[int, int, int, bool]]:
        """(address, size, PC, write) of a misaligned access caught since the last call."""
        st = self._st
        if not st.align_hit:
            return None
        st.align_hit = 0
        return st.align_addr, st.align_size, st.align_pc, bool(st.align_write)

    def _on_code(self, uc: Uc, address: int, size: int, _data: object) -> None:
        self._st.insn_pc = address

    @property
    def insn_pc(self) -> int:
        return self._st.insn_pc

    def close(self) -> None:
        """Remove the hook (the ``Uc`` stays usable, without counting)."""
        if self._handle is None:
            return
        if self._lib is not None:
            _hook_del(self.uc, self._handle)
        else:
            self.uc.hook_del(self._handle)
        self._handle = None

    def _forget(self) -> None:
        self._st.last_shape = 0


def _main(argv: List[str]) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m hypdbg.core.fastcount",
                                 description="Build or inspect the C instruction-counting hook.")
    ap.add_argument("--build", action="store_true", help="compile the C helpers (exit 0 on success)")
    ap.add_argument("--info", action="store_true", help="say which implementation BlockCounter uses")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.build:
        try:
            path = build(verbose=args.verbose)
        except RuntimeError as e:
            print(f"fastcount: {e}", file=sys.stderr)
            return 1
        print(path)
        if load_native(auto_build=False) is None:
            print(f"fastcount: built but not loadable: {native_error()}", file=sys.stderr)
            return 1
        return 0
    if args.info:
        lib = load_native(auto_build=False)
        print(f"native: {lib is not None}" + ("" if lib else f" ({native_error()})"))
        print(f"object: {find_library() or 'not built'}")
        return 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
