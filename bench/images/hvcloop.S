@ HVC round trips: the host, in SVC, calls `hvc #0` ITERS times; the Hyp handler at
@ HVBAR+0x14 returns at once with ERET. ITERS comes from `--defsym ITERS=N`.
        .include "common.inc"
        .global _start
_start:
        ldr     r0, =hyp_vectors
        mcr     p15, 4, r0, c12, c0, 0          @ HVBAR
        mov     r0, #0x1d3                      @ SVC, A/I/F masked
        msr     SPSR_fsxc, r0
        adr     r0, host
        msr     ELR_hyp, r0
        eret
host:
        ldr     r4, =ITERS
        cmp     r4, #0
        beq     2f
1:      hvc     #0
        subs    r4, r4, #1
        bne     1b
2:      system_off                              @ SMC from SVC: PSCI
        .align  5
hyp_vectors:
        b       .
        b       .
        b       .
        b       .
        b       .
        eret                                    @ 0x14: Hyp Trap (an HVC from SVC)
        b       .
        b       .
        .ltorg
