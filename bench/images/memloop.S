@ Memory-touching loop: PASSES passes over a BUFSZ-byte buffer at 0x40100000
@ (default 4 MiB), one load and one store every 64 bytes, 5 instructions each.
@ Retired instructions: 1 + PASSES * (2 + 5 * (BUFSZ / 64) + 2) + 2.
        .include "common.inc"
        .ifndef BUFSZ
        .equ BUFSZ, 0x400000
        .endif
        .equ BUF, 0x40100000
        .global _start
_start:
        ldr     r4, =PASSES
outer:  ldr     r0, =BUF
        ldr     r1, =BUF + BUFSZ
inner:  ldr     r2, [r0]
        add     r2, r2, r4
        str     r2, [r0], #64
        cmp     r0, r1
        blo     inner
        subs    r4, r4, #1
        bne     outer
        system_off
        .ltorg
