@ Branchy loop: a linear congruential generator picks, per iteration, one of two
@ paths at each of two data-dependent branches; both paths of a branch retire the
@ same number of instructions, so the total does not depend on the data:
@ 3 (LCG) + 1 + 3 + 1 + 3 + 2 (loop) = 13 per iteration, in 4 to 5 short blocks.
@ Retired instructions: 3 + 13 * ITERS + 2.
        .include "common.inc"
        .global _start
_start:
        ldr     r4, =ITERS
        ldr     r6, =1664525
        ldr     r7, =1013904223
loop:   mul     r1, r1, r6
        add     r1, r1, r7
        mov     r0, r1
        tst     r0, #0x10000
        beq     1f
        add     r2, r2, #1
        b       2f
1:      sub     r3, r3, #1
        nop
2:      tst     r0, #0x20000000
        bne     3f
        eor     r5, r5, r0
        b       4f
3:      add     r5, r5, r0, ror #7
        nop
4:      subs    r4, r4, #1
        bne     loop
        system_off
        .ltorg
