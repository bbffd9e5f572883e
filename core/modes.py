"""The processor modes and the CPSR.M field that selects them (ARM ARM B1.3.1).

Kept apart from ``cpu`` so that ``ucprobe``, which ``cpu`` itself needs, can
use them too.
"""
from __future__ import annotations

from typing import Dict

MODE_MASK = 0x1F
USR, FIQ, IRQ, SVC, MON, ABT, HYP, UND, SYS = 0x10, 0x11, 0x12, 0x13, 0x16, 0x17, 0x1A, 0x1B, 0x1F
MODE_NAMES: Dict[int, str] = {USR: "usr", FIQ: "fiq", IRQ: "irq", SVC: "svc", MON: "mon",
                              ABT: "abt", HYP: "hyp", UND: "und", SYS: "sys"}
