"""Fixed reply payloads and error numbers shared by the packet handlers.

Error numbers follow QEMU's stub: ``E14`` (EFAULT) for memory that cannot be
accessed, ``E22`` (EINVAL) for a malformed or impossible request; GDB only
checks that an ``E NN`` reply is an error.
"""
from __future__ import annotations

from typing import List, Union

OK = b"OK"
EMPTY = b""             # "unsupported packet" (GDB manual, "Packets")
E_GENERIC = b"E01"      # the machine refused (unknown thread, read-only register, target error)
E_FAULT = b"E14"        # memory access failed
E_INVAL = b"E22"        # malformed packet or bad argument
E_ANNEX = b"E00"        # qXfer: malformed or bad annex (manual, "General Query Packets")

Reply = Union[bytes, List[bytes], None]
"""A handler's answer: one payload, several (``O`` packets, then the last), or None (no reply)."""


class Malformed(ValueError):
    """A packet whose arguments do not parse; answered with ``E22``."""


def as_list(reply: Reply) -> List[bytes]:
    """Normalise a handler's reply to the list of payloads to send."""
    if reply is None:
        return []
    if isinstance(reply, list):
        return reply
    return [reply]

