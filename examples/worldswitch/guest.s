@ guest.s - the guest: a tiny kernel in NS SVC mode, running under stage 2.
@
@ Its RAM starts at IPA 0x40200000 (stage 2 puts it at PA 0x40400000); it
@ is linked there, so every guest symbol is a guest address.  It has no
@ UART: it prints by hypercall and the host writes the text.  In order, it
@
@   1. says hello                          hvc #1 (HC_PUTS)
@   2. computes fib(24), prints it         hvc #2 (HC_PUTHEX)
@   3. reads and writes its distributor    stage-2 data aborts, emulated by the host
@   4. programs its GIC CPU interface      GICC at 0x08010000 is really GICV: no exit
@   5. waits for an interrupt              wfi, trapped (HCR.TWI); the host injects
@                                          virtual IRQ 42 through a list register
@   6. turns on its own MMU                short-descriptor sections, 1:1, plus an alias
@   7. waits for the host's timer tick     hvc #3; the host's physical timer IRQ
@                                          arrives while the guest spins (IRQ exit)
@   8. says it is done                     hvc #4 (HC_DONE); the host powers off
@
@ Register r4 holds &guest_state from reset to the end.

        .include "defs.inc"

@ guest_state fields
        .equ    GS_LAST_IRQ,        0           @ INTID read from GICC_IAR by the IRQ handler
        .equ    GS_TICK_SLOT,       4           @ where the wait loop jumps; the host rewrites it
        .equ    GS_IIDR,            8           @ what the distributor said

@ Guest stage-1 section descriptors (short format, domain 0, AP = 11 full access).
        .equ    GUEST_SECT_NORMAL,  0x00001C0E  @ section, TEX=001 C=1 B=1: Normal write-back
        .equ    GUEST_SECT_DEVICE,  0x00000C16  @ section, B=1 XN=1: Device
        .equ    GUEST_ALIAS_VA,     0x90000000  @ a second view of the guest's first MiB
        .equ    GUEST_MAGIC,        0x600DCAFE

@ ===========================================================================
@ Guest vector table (VBAR).  The VCPU starts at its reset entry.
@ ===========================================================================
        .section .guest.vectors, "ax"
        .align  5
        .global guest_vectors
        .type   guest_vectors, %function
guest_vectors:
        b       guest_reset                 @ 0x00 the VCPU's first instruction
        b       guest_vector_undef          @ 0x04
        b       guest_vector_svc            @ 0x08
        b       guest_vector_pabt           @ 0x0C
        b       guest_vector_dabt           @ 0x10
        b       guest_vector_unused         @ 0x14
        b       guest_vector_irq            @ 0x18 virtual IRQs arrive here
        b       guest_vector_fiq            @ 0x1C
        .size   guest_vectors, . - guest_vectors

        .section .guest.text, "ax"

@ ===========================================================================
@ guest_reset / guest_main
@ ===========================================================================
        .global guest_reset
        .type   guest_reset, %function
guest_reset:
        ldr     sp, =guest_svc_stack_top
        cps     #MODE_IRQ
        ldr     sp, =guest_irq_stack_top
        cps     #MODE_SVC
        ldr     r0, =guest_vectors
        mcr     p15, 0, r0, c12, c0, 0      @ VBAR
        isb
        ldr     r4, =guest_state
        .size   guest_reset, . - guest_reset
        @ fall through

        .global guest_main
        .type   guest_main, %function
guest_main:
        ldr     r0, =str_hello
        bl      guest_puts
        bl      guest_compute
        bl      guest_probe_gicd
        bl      guest_enable_gicv
        bl      guest_wait_for_interrupt
        bl      guest_mmu_on
        bl      guest_wait_for_tick
        mov     r0, #0
        b       guest_done
        .size   guest_main, . - guest_main

@ ===========================================================================
@ Hypercalls
@ ===========================================================================

@ guest_puts(r0 = string)
        .global guest_puts
        .type   guest_puts, %function
guest_puts:
        hvc     #HC_PUTS
        bx      lr
        .size   guest_puts, . - guest_puts

@ guest_puthex(r0 = label, r1 = value)
        .global guest_puthex
        .type   guest_puthex, %function
guest_puthex:
        hvc     #HC_PUTHEX
        bx      lr
        .size   guest_puthex, . - guest_puthex

@ guest_done(r0 = status): the last thing the guest does.
        .global guest_done
        .type   guest_done, %function
guest_done:
        hvc     #HC_DONE
        b       .                           @ the host never runs us again
        .size   guest_done, . - guest_done

@ ===========================================================================
@ 2. Some work of our own
@ ===========================================================================
        .global guest_compute
        .type   guest_compute, %function
guest_compute:
        push    {lr}
        mov     r0, #24
        bl      guest_fib
        mov     r1, r0
        ldr     r0, =str_fib
        bl      guest_puthex
        pop     {pc}
        .size   guest_compute, . - guest_compute

@ guest_fib(r0 = n) -> r0 = fib(n), iteratively.
        .global guest_fib
        .type   guest_fib, %function
guest_fib:
        mov     r1, #0                      @ fib(i)
        mov     r2, #1                      @ fib(i + 1)
1:      cmp     r0, #0
        beq     2f
        add     r3, r1, r2
        mov     r1, r2
        mov     r2, r3
        sub     r0, r0, #1
        b       1b
2:      mov     r0, r1
        bx      lr
        .size   guest_fib, . - guest_fib

@ ===========================================================================
@ 3. The distributor: its page is not mapped by stage 2, so every access
@ traps to Hyp as a data abort and the host emulates it.
@ ===========================================================================
        .global guest_probe_gicd
        .type   guest_probe_gicd, %function
guest_probe_gicd:
        push    {lr}
        ldr     r1, =GUEST_GICD_IPA
        .global guest_mmio_read
guest_mmio_read:
        ldr     r3, [r1, #GICD_IIDR]        @ trap: read, SRT = 3
        str     r3, [r4, #GS_IIDR]
        mov     r2, #1
        .global guest_mmio_write_ctlr
guest_mmio_write_ctlr:
        str     r2, [r1, #GICD_CTLR]        @ trap: write 1, SRT = 2
        mov     r2, #(1 << (VIRQ_INTID - 32))
        .global guest_mmio_write_enable
guest_mmio_write_enable:
        str     r2, [r1, #GICD_ISENABLER1]  @ trap: write, enable INTID 42
        ldr     r0, =str_iidr
        ldr     r1, [r4, #GS_IIDR]
        bl      guest_puthex
        pop     {pc}
        .size   guest_probe_gicd, . - guest_probe_gicd

@ ===========================================================================
@ 4. The CPU interface: stage 2 maps it onto the GIC's virtual CPU
@ interface (GICV), so these stores never leave the guest.
@ ===========================================================================
        .global guest_enable_gicv
        .type   guest_enable_gicv, %function
guest_enable_gicv:
        ldr     r1, =GUEST_GICC_IPA
        mov     r0, #GIC_PRIO_MASK
        str     r0, [r1, #GICC_PMR]
        mov     r0, #1
        str     r0, [r1, #GICC_CTLR]        @ enable group 0: virtual IRQs
        bx      lr
        .size   guest_enable_gicv, . - guest_enable_gicv

@ ===========================================================================
@ 5. Sleep until an interrupt.  The WFI traps; the host skips it and puts
@ virtual IRQ 42 in a list register; we take it at once (guest_vector_irq).
@ ===========================================================================
        .global guest_wait_for_interrupt
        .type   guest_wait_for_interrupt, %function
guest_wait_for_interrupt:
        push    {lr}
        mov     r0, #0
        str     r0, [r4, #GS_LAST_IRQ]
        cpsie   i
        .global guest_wfi
guest_wfi:
        wfi                                 @ trap: HSR.EC = 0x01
1:      ldr     r0, [r4, #GS_LAST_IRQ]      @ the handler has run by now; make sure
        cmp     r0, #0
        beq     1b
        cpsid   i
        ldr     r0, =str_virq
        ldr     r1, [r4, #GS_LAST_IRQ]
        bl      guest_puthex
        pop     {pc}
        .size   guest_wait_for_interrupt, . - guest_wait_for_interrupt

@ guest_vector_irq: acknowledge through GICC_IAR (the list register goes
@ pending -> active), remember the INTID, end it through GICC_EOIR (the list
@ register becomes invalid).  No exit: all of it is GICV.
        .global guest_vector_irq
        .type   guest_vector_irq, %function
guest_vector_irq:
        sub     lr, lr, #4
        push    {r0-r2, lr}
        ldr     r1, =GUEST_GICC_IPA
        ldr     r0, [r1, #GICC_IAR]
        ldr     r2, =guest_state
        str     r0, [r2, #GS_LAST_IRQ]
        str     r0, [r1, #GICC_EOIR]
        ldm     sp!, {r0-r2, pc}^
        .size   guest_vector_irq, . - guest_vector_irq

@ ===========================================================================
@ 6. Our own stage 1: short-descriptor sections.
@   VA 0x40200000-0x405FFFFF -> IPA 0x40200000 (1:1, Normal)
@   VA 0x08000000-0x080FFFFF -> IPA 0x08000000 (1:1, Device: GICD, GICC)
@   VA 0x90000000-0x900FFFFF -> IPA 0x40200000 (an alias of the first MiB)
@ ===========================================================================
        .global guest_mmu_on
        .type   guest_mmu_on, %function
guest_mmu_on:
        push    {r5, lr}
        ldr     r5, =guest_l1_table
        mov     r0, r5                      @ start with every entry a fault
        mov     r1, #0
        mov     r2, #4096
1:      str     r1, [r0], #4
        subs    r2, r2, #1
        bne     1b
        ldr     r0, =GUEST_IPA_BASE         @ guest RAM, 4 sections
        ldr     r1, =(GUEST_IPA_BASE | GUEST_SECT_NORMAL)
        mov     r2, #(GUEST_RAM_SIZE >> 20)
        bl      guest_map_sections
        ldr     r0, =GUEST_GICD_IPA         @ the GIC
        ldr     r1, =(GUEST_GICD_IPA | GUEST_SECT_DEVICE)
        mov     r2, #1
        bl      guest_map_sections
        ldr     r0, =GUEST_ALIAS_VA         @ the alias
        ldr     r1, =(GUEST_IPA_BASE | GUEST_SECT_NORMAL)
        mov     r2, #1
        bl      guest_map_sections
        mov     r0, #1
        mcr     p15, 0, r0, c3, c0, 0       @ DACR: domain 0 client
        mov     r0, #0
        mcr     p15, 0, r0, c2, c0, 2       @ TTBCR: short descriptors, TTBR0 only
        mcr     p15, 0, r5, c2, c0, 0       @ TTBR0 (32-bit form)
        mcr     p15, 0, r0, c8, c7, 0       @ TLBIALL
        dsb
        isb
        mrc     p15, 0, r0, c1, c0, 0
        ldr     r1, =(SCTLR_M | SCTLR_C | SCTLR_I)
        orr     r0, r0, r1
        .global guest_sctlr_write
guest_sctlr_write:
        mcr     p15, 0, r0, c1, c0, 0       @ SCTLR.M = 1
        isb
        .global guest_mmu_is_on
guest_mmu_is_on:
        ldr     r0, =(GUEST_ALIAS_VA + (guest_magic - GUEST_IPA_BASE))
        ldr     r1, [r0]                    @ guest_magic, read through the alias
        ldr     r0, =str_mmu_on
        bl      guest_puthex
        pop     {r5, pc}
        .size   guest_mmu_on, . - guest_mmu_on

@ guest_map_sections(r0 = VA, r1 = first descriptor, r2 = count), table in r5
        .global guest_map_sections
        .type   guest_map_sections, %function
guest_map_sections:
        add     r0, r5, r0, lsr #(20 - 2)   @ &table[VA >> 20]
1:      str     r1, [r0], #4
        add     r1, r1, #0x100000
        subs    r2, r2, #1
        bne     1b
        bx      lr
        .size   guest_map_sections, . - guest_map_sections

@ ===========================================================================
@ 7. Wait for the host's timer tick.  guest_tick_wait is one instruction
@ that jumps to the address in the tick slot: first itself, so it spins;
@ the host's timer IRQ handler then writes guest_tick_arrived there.  The
@ timer IRQ exits the guest while it spins, and since the spin is a single
@ instruction the guest PC at that exit is always guest_tick_wait.
@ ===========================================================================
        .global guest_wait_for_tick
        .type   guest_wait_for_tick, %function
guest_wait_for_tick:
        push    {lr}
        adr     r1, guest_tick_wait
        str     r1, [r4, #GS_TICK_SLOT]     @ slot = the wait instruction itself
        add     r0, r4, #GS_TICK_SLOT       @ r0 = IPA of the slot (stage 1 is 1:1 here)
        adr     r1, guest_tick_arrived      @ r1 = where the host's tick sends us
        .global guest_request_tick
guest_request_tick:
        hvc     #HC_REQUEST_TICK
        .global guest_tick_wait
guest_tick_wait:
        ldr     pc, [r4, #GS_TICK_SLOT]
        .global guest_tick_arrived
guest_tick_arrived:
        ldr     r0, =str_tick
        bl      guest_puts
        pop     {pc}
        .size   guest_wait_for_tick, . - guest_wait_for_tick

@ ===========================================================================
@ Exceptions the guest never expects: report the vector as the exit status.
@ ===========================================================================
        .type   guest_vector_undef, %function
guest_vector_undef:
        ldr     r0, =0xBAD00004
        b       guest_done
        .type   guest_vector_svc, %function
guest_vector_svc:
        ldr     r0, =0xBAD00008
        b       guest_done
        .type   guest_vector_pabt, %function
guest_vector_pabt:
        ldr     r0, =0xBAD0000C
        b       guest_done
        .type   guest_vector_dabt, %function
guest_vector_dabt:
        ldr     r0, =0xBAD00010
        b       guest_done
        .type   guest_vector_unused, %function
guest_vector_unused:
        ldr     r0, =0xBAD00014
        b       guest_done
        .type   guest_vector_fiq, %function
guest_vector_fiq:
        ldr     r0, =0xBAD0001C
        b       guest_done

        .ltorg

        .section .guest.rodata, "a"
str_hello:      .asciz  "hello from the guest at ipa 40200000"
str_fib:        .asciz  "fib(24)="
str_iidr:       .asciz  "gicd iidr="
str_virq:       .asciz  "woke up from wfi by virtual irq "
str_mmu_on:     .asciz  "mmu on, magic read through alias va 90000000: "
str_tick:       .asciz  "tick received after the host timer irq"

        .section .guest.data, "aw"
        .align  2
        .global guest_state
        .type   guest_state, %object
guest_state:
        .word   0                           @ GS_LAST_IRQ
        .word   0                           @ GS_TICK_SLOT
        .word   0                           @ GS_IIDR
        .size   guest_state, . - guest_state
        .global guest_magic
        .type   guest_magic, %object
guest_magic:
        .word   GUEST_MAGIC
        .size   guest_magic, . - guest_magic

        .section .guest.bss, "aw", %nobits
        .align  14
        .global guest_l1_table
guest_l1_table:                             @ 4096 section entries, 16 KiB aligned
        .space  16384
guest_irq_stack:
        .space  1024
guest_irq_stack_top:
guest_svc_stack:
        .space  4096
        .global guest_svc_stack_top
guest_svc_stack_top:
