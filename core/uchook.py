"""Python hooks registered with unicorn with one Python frame per call.

The binding's ``Uc.hook_add`` calls a hook through three Python frames (an
exception guard taking ``*args, **kwargs``, a per-kind adapter, then the
callback). Every entry to Hyp, every intercepted ERET or cp15 access and every
TLB fill walked in Python pays that, so the machine's hot hooks are registered
here instead, with a guard of the hook kind's exact arity that does what the
binding's does: an exception is kept on the ``Uc`` (``emu_start`` raises it
once it returns) and emulation stops. The callback keeps the binding's
signature (``uc`` first, ``user_data`` last), and the handle is the binding's
kind: ``Uc.hook_del`` removes it.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Dict

from unicorn import (UC_HOOK_CODE, UC_HOOK_INSN_INVALID, UC_HOOK_INTR, UC_HOOK_MEM_READ_UNMAPPED,
                     UC_HOOK_MEM_WRITE_UNMAPPED, UC_HOOK_MEM_FETCH_UNMAPPED, UC_HOOK_TLB_FILL, Uc,
                     UcError)
from unicorn.unicorn_py3.unicorn import (HOOK_CODE_CFUNC, HOOK_INSN_INVALID_CFUNC,
                                         HOOK_INTR_CFUNC, HOOK_MEM_INVALID_CFUNC,
                                         HOOK_TLB_FILL_CFUNC, uc_hook_h, uclib)

_UNMAPPED = UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED


def _keep(uc: Uc, exc: BaseException) -> None:
    if uc._hook_exception is None:
        uc._hook_exception = exc
    uc.emu_stop()


def raise_kept(uc: Uc, err: UcError) -> None:
    """After ``emu_start`` raised ``err``: raise instead the exception a hook kept, if any.

    The binding checks its status before the kept exception, so a hook that failed and
    made unicorn stop with an error of its own (a fill hook that raised counts as a
    refused fill) would otherwise show as an error of the guest's."""
    kept = getattr(uc, "_hook_exception", None)
    if kept is not None:
        uc._hook_exception = None
        raise kept from err


def _intr(uc: Uc, fn: Callable[..., Any], data: Any) -> Any:
    def cb(_h: int, intno: int, _k: int) -> None:
        try:
            fn(uc, intno, data)
        except BaseException as e:
            _keep(uc, e)
    return HOOK_INTR_CFUNC(cb)


def _code(uc: Uc, fn: Callable[..., Any], data: Any) -> Any:
    def cb(_h: int, address: int, size: int, _k: int) -> None:
        try:
            fn(uc, address, size, data)
        except BaseException as e:
            _keep(uc, e)
    return HOOK_CODE_CFUNC(cb)


def _invalid_insn(uc: Uc, fn: Callable[..., Any], data: Any) -> Any:
    def cb(_h: int, _k: int) -> bool:
        try:
            return fn(uc, data)
        except BaseException as e:
            _keep(uc, e)
            return False
    return HOOK_INSN_INVALID_CFUNC(cb)


def _invalid_mem(uc: Uc, fn: Callable[..., Any], data: Any) -> Any:
    def cb(_h: int, access: int, address: int, size: int, value: int, _k: int) -> bool:
        try:
            return fn(uc, access, address, size, value, data)
        except BaseException as e:
            _keep(uc, e)
            return False
    return HOOK_MEM_INVALID_CFUNC(cb)


def _tlb_fill(uc: Uc, fn: Callable[..., Any], data: Any) -> Any:
    def cb(_h: int, vaddr: int, access: int, entry: Any, _k: int) -> bool:
        try:
            return fn(uc, vaddr, access, entry.contents, data)
        except BaseException as e:
            _keep(uc, e)
            return False
    return HOOK_TLB_FILL_CFUNC(cb)


_MAKERS: Dict[int, Callable[[Uc, Callable[..., Any], Any], Any]] = {
    UC_HOOK_INTR: _intr,
    UC_HOOK_CODE: _code,
    UC_HOOK_INSN_INVALID: _invalid_insn,
    UC_HOOK_TLB_FILL: _tlb_fill,
}


def hook_add(uc: Uc, kind: int, fn: Callable[..., Any], user_data: Any = None,
             begin: int = 1, end: int = 0) -> int:
    """``uc.hook_add(kind, fn, user_data, begin, end)`` for the kinds above and the
    unmapped-access kinds, called through one frame."""
    maker = _invalid_mem if kind & _UNMAPPED == kind else _MAKERS[kind]
    fptr = maker(uc, fn, user_data)
    handle = uc_hook_h()
    err = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), kind, fptr, ctypes.c_void_p(0),
                            ctypes.c_uint64(begin), ctypes.c_uint64(end))
    if err:
        raise UcError(err)
    uc._callbacks[handle.value] = fptr      # kept alive, and what Uc.hook_del releases
    return handle.value
