@ boot.s - reset entry.
@
@ The machine starts here (ELF entry 0x40000000) in Non-secure Hyp mode with
@ the MMU off and CPSR = 0x1DA (A, I, F masked).  Like a kernel booted in Hyp
@ mode, we set Hyp up first (hyp_init: vectors, Hyp MMU, stage-2 shape,
@ timers), then drop to SVC mode, where the host kernel runs.

        .include "defs.inc"

        .section .boot, "ax"

        .global _start
        .type   _start, %function
_start:
        ldr     sp, =hyp_stack_top          @ Hyp stack, also used by the world switch
        bl      uart_init
        bl      hyp_init                    @ hyp.s: HVBAR, HTTBR/HTCR/HMAIR, HSCTLR.M, VTCR
        ldr     r0, =msg_boot
        bl      uart_puts

@ boot_enter_host: leave Hyp for the host kernel in SVC mode, interrupts masked.
        .global boot_enter_host
boot_enter_host:
        ldr     r0, =(MODE_SVC | PSR_A | PSR_I | PSR_F)
        msr     SPSR_fsxc, r0               @ in Hyp, SPSR is SPSR_hyp
        ldr     r0, =host_start
        msr     ELR_hyp, r0
        eret
        .size   _start, . - _start

        .ltorg

        .section .host.rodata, "a"
msg_boot:
        .asciz  "boot: hyp vectors installed, hyp mmu on, entering the host in svc mode\n"
