@ intloop's compute loop in Non-secure SVC mode, with (TIMER=1) or without
@ (TIMER=0) a periodic physical-timer interrupt every PERIOD counter ticks.
@ PERIOD=62500 is a 1 kHz tick at 62.5 MHz; on hypdbg (one instruction per
@ virtual nanosecond, one counter tick per 16) that is 1,000,000 instructions.  The IRQ handler (VBAR+0x18)
@ acknowledges PPI 30 at the GIC, moves CNTP_CVAL on by PERIOD, counts the
@ tick in `ticks` and completes the interrupt.
@ Loop instructions: 5 * ITERS (plus 16 per tick: the vector and the handler).
        .include "common.inc"

        .equ GICD, 0x08000000
        .equ GICC, 0x08010000
        .equ PPI_PTIMER, 30
        .equ PERIOD, 62500

        .global _start
_start:
        ldr     r0, =vectors
        mcr     p15, 0, r0, c12, c0, 0          @ VBAR
        ldr     r0, =stack_irq + 256
        msr     SP_irq, r0
.if TIMER
        ldr     r0, =GICD
        mov     r1, #0xa0
        strb    r1, [r0, #0x400 + PPI_PTIMER]   @ GICD_IPRIORITYR
        mov     r1, #1 << PPI_PTIMER
        str     r1, [r0, #0x100]                @ GICD_ISENABLER0
        mov     r1, #1
        str     r1, [r0]                        @ GICD_CTLR
        ldr     r0, =GICC
        mov     r1, #0xf0
        str     r1, [r0, #0x4]                  @ GICC_PMR
        mov     r1, #1
        str     r1, [r0]                        @ GICC_CTLR
        mrrc    p15, 0, r2, r3, c14             @ CNTPCT
        ldr     r12, =PERIOD
        adds    r2, r2, r12
        adc     r3, r3, #0
        mcrr    p15, 2, r2, r3, c14             @ CNTP_CVAL
        mov     r1, #1
        mcr     p15, 0, r1, c14, c2, 1          @ CNTP_CTL: enabled, unmasked
.endif
        ldr     r0, =svc_entry
        msr     ELR_hyp, r0
        mov     r0, #0x153                      @ SVC, A and F masked, IRQs unmasked
        msr     spsr_fsxc, r0                   @ SPSR_hyp (the current mode's SPSR)
        eret

svc_entry:
        ldr     r4, =ITERS
1:      add     r1, r1, r4
        eor     r2, r2, r1, lsl #3
        add     r3, r3, r2, lsr #5
        subs    r4, r4, #1
        bne     1b
        cpsid   i
        system_off

        .balign 32
vectors:
        b       .
        b       .
        b       .
        b       .
        b       .
        b       .
        b       irq
        b       .

irq:
        push    {r0-r3, r12, lr}
        ldr     r0, =GICC
        ldr     r1, [r0, #0xc]                  @ GICC_IAR
        mrrc    p15, 2, r2, r3, c14             @ CNTP_CVAL += PERIOD
        ldr     r12, =PERIOD
        adds    r2, r2, r12
        adc     r3, r3, #0
        mcrr    p15, 2, r2, r3, c14
        ldr     r2, =ticks
        ldr     r3, [r2]
        add     r3, r3, #1
        str     r3, [r2]
        str     r1, [r0, #0x10]                 @ GICC_EOIR
        pop     {r0-r3, r12, lr}
        subs    pc, lr, #4
        .ltorg

        .data
        .balign 4
        .global ticks
ticks:  .word 0
stack_irq:
        .space 256
