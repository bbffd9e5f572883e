@ No work: measures start-up and exit. Retired instructions: 2.
        .include "common.inc"
        .global _start
_start:
        system_off
        .ltorg
