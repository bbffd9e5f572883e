@ Tight integer loop, ITERS iterations of 5 instructions in one block.
@ Retired instructions: 1 + 5 * ITERS + 2.
        .include "common.inc"
        .global _start
_start:
        ldr     r4, =ITERS
1:      add     r1, r1, r4
        eor     r2, r2, r1, lsl #3
        add     r3, r3, r2, lsr #5
        subs    r4, r4, #1
        bne     1b
        system_off
        .ltorg
