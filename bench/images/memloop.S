@ Memory-touching loop: PASSES passes over a 4 MiB buffer at 0x40100000, one
@ load and one store every 64 bytes (65536 per pass, 5 instructions each).
@ Retired instructions: 1 + PASSES * (2 + 5 * 65536 + 2) + 2.
        .include "common.inc"
        .equ BUF, 0x40100000
        .equ BUF_END, BUF + 0x400000
        .global _start
_start:
        ldr     r4, =PASSES
outer:  ldr     r0, =BUF
        ldr     r1, =BUF_END
inner:  ldr     r2, [r0]
        add     r2, r2, r4
        str     r2, [r0], #64
        cmp     r0, r1
        blo     inner
        subs    r4, r4, #1
        bne     outer
        system_off
        .ltorg
