@ Tight Thumb-2 loop (16- and 32-bit instructions), entered from ARM state.
@ Retired instructions: 3 + 6 * ITERS + 1 + 2 (set-up and blx, the loop, bx lr, exit).
        .include "common.inc"
        .global _start
_start:
        ldr     r4, =ITERS
        adr     r5, body + 1
        blx     r5
        system_off
        .ltorg
        .thumb
        .align 2
body:   adds    r1, r1, r4
        eor.w   r2, r2, r1, lsl #3
        add.w   r3, r3, r2, lsr #5
        movs    r0, r3
        subs    r4, r4, #1
        bne     body
        bx      lr
