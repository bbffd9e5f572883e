@ hyp.s - the hypervisor: Hyp-mode vectors and the world switch.
@
@ The shape follows the published KVM/ARM design for 32-bit ARM:
@
@   host (SVC)                        Hyp                               guest (SVC, stage 2)
@   ----------                        ---                               --------------------
@   hvc #0, r0 = hyp_vcpu_run  --->   0x14 hyp_vector_trap, VMID == 0:
@                                     hyp_host_call pushes host CPSR and LR_usr,
@                                     hyp_vcpu_run saves the rest of the host
@                                     on the Hyp stack, loads the guest from
@                                     the VCPU, sets HCR and VTTBR, ERET  --->  runs
@                                                                        <---  trap (HVC, WFI,
@                                     0x14 hyp_vector_trap (VMID != 0)          stage-2 abort)
@                                     0x18 hyp_vector_irq                <---  physical IRQ
@                                     hyp_guest_exit saves the guest into
@                                     the VCPU, VTTBR = 0, HCR = 0, restores
@                                     the host from the Hyp stack, then
@                                     executes hvc #1 in Hyp:
@                                     0x08 hyp_vector_hvc unwinds the last
@   r0 = exit code             <---   three words of the Hyp stack, ERET
@
@ Register use: Hyp has no LR of its own; LR in Hyp mode is LR_usr of
@ whichever world was interrupted, so it is saved before anything uses it.
@
@ Hyp stack while a guest runs (offsets from Hyp_SP, the SP value at which
@ hyp_vcpu_run starts; the stack grows down):
@
@   Hyp_SP+4          host LR_usr                 pushed by hyp_host_call
@   Hyp_SP+0          host CPSR (SPSR_hyp: SVC)   pushed by hyp_host_call
@   Hyp_SP-4          host return address (ELR_hyp: after the host's hvc)
@   Hyp_SP-40..-8     host r4..r12 (r4 at -40)
@   Hyp_SP-44         host SP_usr
@   Hyp_SP-56..-48    host SP_svc, LR_svc, SPSR_svc
@   Hyp_SP-68..-60    host SP_abt, LR_abt, SPSR_abt
@   Hyp_SP-80..-72    host SP_und, LR_und, SPSR_und
@   Hyp_SP-92..-84    host SP_irq, LR_irq, SPSR_irq
@   Hyp_SP-124..-96   host r8_fiq..r12_fiq, SP_fiq, LR_fiq, SPSR_fiq
@   Hyp_SP-188..-128  host cp15: SCTLR, TTBCR, DACR, PRRR, NMRR, VBAR,
@                     CONTEXTIDR, DFSR, IFSR, DFAR, IFAR, TPIDRPRW,
@                     TTBR0 (low, high), TTBR1 (low, high)
@   Hyp_SP-188        <- SP while the guest runs
@
@ The VCPU layout (struct vcpu) is in defs.inc.

        .include "defs.inc"

@ ===========================================================================
@ Hyp vector table (HVBAR)
@ ===========================================================================
        .section .hyp.vectors, "ax"
        .align  5
        .global hyp_vectors
        .type   hyp_vectors, %function
hyp_vectors:
        b       hyp_vector_reset            @ 0x00 not used in Hyp
        b       hyp_vector_undef            @ 0x04 undefined instruction in Hyp
        b       hyp_vector_hvc              @ 0x08 HVC executed in Hyp: end of a guest run
        b       hyp_vector_pabt             @ 0x0C prefetch abort in Hyp
        b       hyp_vector_dabt             @ 0x10 data abort in Hyp
        b       hyp_vector_trap             @ 0x14 Hyp trap: host call, or a guest exit
        b       hyp_vector_irq              @ 0x18 physical IRQ while the guest runs
        b       hyp_vector_fiq              @ 0x1C FIQ (never enabled)
        .size   hyp_vectors, . - hyp_vectors

        .section .hyp.text, "ax"

@ ===========================================================================
@ Push / pop helpers for the host frame (scratch: r1-r3 only)
@ ===========================================================================

@ SP, LR and SPSR of one PL1 mode, e.g. "push_banked svc".
        .macro  push_banked mode
        mrs     r1, SP_\mode
        mrs     r2, LR_\mode
        mrs     r3, SPSR_\mode
        push    {r1-r3}
        .endm

        .macro  pop_banked mode
        pop     {r1-r3}
        msr     SP_\mode, r1
        msr     LR_\mode, r2
        msr     SPSR_\mode, r3
        .endm

@ The FIQ bank: r8_fiq..r12_fiq, SP_fiq, LR_fiq, SPSR_fiq (lowest address first).
        .macro  push_fiq_bank
        mrs     r1, LR_fiq
        mrs     r2, SPSR_fiq
        push    {r1, r2}
        mrs     r1, r11_fiq
        mrs     r2, r12_fiq
        mrs     r3, SP_fiq
        push    {r1-r3}
        mrs     r1, r8_fiq
        mrs     r2, r9_fiq
        mrs     r3, r10_fiq
        push    {r1-r3}
        .endm

        .macro  pop_fiq_bank
        pop     {r1-r3}
        msr     r8_fiq, r1
        msr     r9_fiq, r2
        msr     r10_fiq, r3
        pop     {r1-r3}
        msr     r11_fiq, r1
        msr     r12_fiq, r2
        msr     SP_fiq, r3
        pop     {r1, r2}
        msr     LR_fiq, r1
        msr     SPSR_fiq, r2
        .endm

@ The PL1 cp15 state the guest may change (lowest address first:
@ SCTLR, TTBCR, DACR, PRRR, NMRR, VBAR, CONTEXTIDR, DFSR, IFSR, DFAR, IFAR,
@ TPIDRPRW, TTBR0 low/high, TTBR1 low/high).
        .macro  push_cp15
        mrrc    p15, 1, r1, r2, c2          @ TTBR1
        push    {r1, r2}
        mrrc    p15, 0, r1, r2, c2          @ TTBR0
        push    {r1, r2}
        mrc     p15, 0, r1, c6, c0, 0       @ DFAR
        mrc     p15, 0, r2, c6, c0, 2       @ IFAR
        mrc     p15, 0, r3, c13, c0, 4      @ TPIDRPRW
        push    {r1-r3}
        mrc     p15, 0, r1, c13, c0, 1      @ CONTEXTIDR
        mrc     p15, 0, r2, c5, c0, 0       @ DFSR
        mrc     p15, 0, r3, c5, c0, 1       @ IFSR
        push    {r1-r3}
        mrc     p15, 0, r1, c10, c2, 0      @ PRRR
        mrc     p15, 0, r2, c10, c2, 1      @ NMRR
        mrc     p15, 0, r3, c12, c0, 0      @ VBAR
        push    {r1-r3}
        mrc     p15, 0, r1, c1, c0, 0       @ SCTLR
        mrc     p15, 0, r2, c2, c0, 2       @ TTBCR
        mrc     p15, 0, r3, c3, c0, 0       @ DACR
        push    {r1-r3}
        .endm

        .macro  pop_cp15
        pop     {r1-r3}
        mcr     p15, 0, r1, c1, c0, 0       @ SCTLR
        mcr     p15, 0, r2, c2, c0, 2       @ TTBCR
        mcr     p15, 0, r3, c3, c0, 0       @ DACR
        pop     {r1-r3}
        mcr     p15, 0, r1, c10, c2, 0      @ PRRR
        mcr     p15, 0, r2, c10, c2, 1      @ NMRR
        mcr     p15, 0, r3, c12, c0, 0      @ VBAR
        pop     {r1-r3}
        mcr     p15, 0, r1, c13, c0, 1      @ CONTEXTIDR
        mcr     p15, 0, r2, c5, c0, 0       @ DFSR
        mcr     p15, 0, r3, c5, c0, 1       @ IFSR
        pop     {r1-r3}
        mcr     p15, 0, r1, c6, c0, 0       @ DFAR
        mcr     p15, 0, r2, c6, c0, 2       @ IFAR
        mcr     p15, 0, r3, c13, c0, 4      @ TPIDRPRW
        pop     {r1, r2}
        mcrr    p15, 0, r1, r2, c2          @ TTBR0
        pop     {r1, r2}
        mcrr    p15, 1, r1, r2, c2          @ TTBR1
        .endm

@ ===========================================================================
@ VCPU load / store helpers (r0 = vcpu, scratch: r1-r3)
@ ===========================================================================

        .macro  load_banked mode, offset
        ldr     r1, [r0, #\offset]
        ldr     r2, [r0, #(\offset + 4)]
        ldr     r3, [r0, #(\offset + 8)]
        msr     SP_\mode, r1
        msr     LR_\mode, r2
        msr     SPSR_\mode, r3
        .endm

        .macro  store_banked mode, offset
        mrs     r1, SP_\mode
        mrs     r2, LR_\mode
        mrs     r3, SPSR_\mode
        str     r1, [r0, #\offset]
        str     r2, [r0, #(\offset + 4)]
        str     r3, [r0, #(\offset + 8)]
        .endm

        .macro  load_fiq_bank
        add     r3, r0, #VCPU_R8_FIQ
        ldr     r1, [r3], #4
        msr     r8_fiq, r1
        ldr     r1, [r3], #4
        msr     r9_fiq, r1
        ldr     r1, [r3], #4
        msr     r10_fiq, r1
        ldr     r1, [r3], #4
        msr     r11_fiq, r1
        ldr     r1, [r3], #4
        msr     r12_fiq, r1
        ldr     r1, [r3], #4
        msr     SP_fiq, r1
        ldr     r1, [r3], #4
        msr     LR_fiq, r1
        ldr     r1, [r3], #4
        msr     SPSR_fiq, r1
        .endm

        .macro  store_fiq_bank
        add     r3, r0, #VCPU_R8_FIQ
        mrs     r1, r8_fiq
        str     r1, [r3], #4
        mrs     r1, r9_fiq
        str     r1, [r3], #4
        mrs     r1, r10_fiq
        str     r1, [r3], #4
        mrs     r1, r11_fiq
        str     r1, [r3], #4
        mrs     r1, r12_fiq
        str     r1, [r3], #4
        mrs     r1, SP_fiq
        str     r1, [r3], #4
        mrs     r1, LR_fiq
        str     r1, [r3], #4
        mrs     r1, SPSR_fiq
        str     r1, [r3], #4
        .endm

@ ===========================================================================
@ hyp_init: called once by the boot code, in Hyp mode with the MMU off.
@ Installs the vectors, turns on Hyp's own stage-1 MMU and fixes the shape
@ of stage 2.  Afterwards the host runs in SVC mode with no traps (HCR = 0)
@ and VMID 0 in VTTBR.
@ ===========================================================================
        .global hyp_init
        .type   hyp_init, %function
hyp_init:
        ldr     r0, =hyp_vectors
        mcr     p15, 4, r0, c12, c0, 0      @ HVBAR
        mov     r0, #0
        mcr     p15, 4, r0, c1, c1, 0       @ HCR = 0: nothing trapped while the host runs
        mcr     p15, 4, r0, c1, c1, 3       @ HSTR = 0
        mcr     p15, 4, r0, c1, c1, 2       @ HCPTR = 0
        mcrr    p15, 6, r0, r0, c2          @ VTTBR = 0: VMID 0 means "the host"
        mov     r0, #(CNTHCTL_PL1PCTEN | CNTHCTL_PL1PCEN)
        mcr     p15, 4, r0, c14, c1, 0      @ CNTHCTL: the host may use the physical timer
        mov     r0, #0
        mcrr    p15, 4, r0, r0, c14         @ CNTVOFF = 0

        @ Stage 2: 32-bit IPA space, walks start at level 1 (VTCR.T0SZ = 0, SL0 = 01).
        mrc     p15, 4, r0, c2, c1, 2       @ VTCR
        ldr     r1, =VTCR_FIELDS
        bic     r0, r0, r1
        orr     r0, r0, #VTCR_SL0_L1
        mcr     p15, 4, r0, c2, c1, 2

        @ Hyp stage 1: 1:1 map from hyp_pgd (memory attributes in HMAIR0).
        ldr     r0, =HMAIR0_VALUE
        mcr     p15, 4, r0, c10, c2, 0      @ HMAIR0
        mrc     p15, 4, r0, c2, c0, 2       @ HTCR: T0SZ = 0, non-cacheable walks
        ldr     r1, =HTCR_FIELDS
        bic     r0, r0, r1
        mcr     p15, 4, r0, c2, c0, 2
        ldr     r0, =hyp_pgd
        mov     r1, #0
        mcrr    p15, 4, r0, r1, c2          @ HTTBR
        isb
        mcr     p15, 4, r0, c8, c7, 0       @ TLBIALLH
        dsb
        isb
        mrc     p15, 4, r0, c1, c0, 0       @ HSCTLR
        ldr     r1, =(SCTLR_M | SCTLR_C | SCTLR_I)
        orr     r0, r0, r1
        mcr     p15, 4, r0, c1, c0, 0       @ Hyp MMU on
        isb
        bx      lr
        .size   hyp_init, . - hyp_init

@ ===========================================================================
@ 0x14: Hyp trap.  Either the host calling into Hyp (HVC with VMID 0) or
@ the guest leaving (any trap while VTTBR.VMID != 0).
@ ===========================================================================
        .global hyp_vector_trap
        .type   hyp_vector_trap, %function
hyp_vector_trap:
        push    {r0-r2}
        mrc     p15, 4, r1, c5, c2, 0       @ HSR
        lsr     r1, r1, #HSR_EC_SHIFT
        cmp     r1, #HSR_EC_HVC
        bne     hyp_guest_trap              @ not an HVC: only a guest can trap
        mrrc    p15, 6, r1, r2, c2          @ VTTBR: r2 = high word, VMID in [23:16]
        lsr     r2, r2, #16
        ands    r2, r2, #0xFF
        bne     hyp_guest_trap              @ HVC from the guest: a hypercall

@ hyp_host_call: the host ran "hvc #0" with r0 = a Hyp function, r1-r3 = its
@ arguments.  Call it in Hyp mode with the arguments in r0-r2.
        .global hyp_host_call
hyp_host_call:
        pop     {r0-r2}
        push    {lr}                        @ Hyp_SP+4: host LR_usr
        mrs     lr, SPSR
        push    {lr}                        @ Hyp_SP+0: host CPSR
        mov     lr, r0
        mov     r0, r1
        mov     r1, r2
        mov     r2, r3
        blx     lr                          @ hyp_vcpu_run never comes back here: its
                                            @ return is the hvc #1 in hyp_return_to_host
        .global hyp_host_call_return
hyp_host_call_return:
        pop     {lr}
        msr     SPSR_fsxc, lr
        pop     {lr}
        eret
        .size   hyp_vector_trap, . - hyp_vector_trap

@ ===========================================================================
@ hyp_vcpu_run(r0 = vcpu): world switch host -> guest.  Called through
@ hyp_host_call; "returns" to the host via hyp_guest_exit with r0 = exit code.
@ ===========================================================================
        .global hyp_vcpu_run
        .type   hyp_vcpu_run, %function
hyp_vcpu_run:
        mcr     p15, 4, r0, c13, c0, 2      @ HTPIDR = vcpu, found again at exit

@ Step 1: save the host on the Hyp stack (layout at the top of this file).
        .global hyp_save_host
hyp_save_host:
        mrs     r1, ELR_hyp
        push    {r1}                        @ where the host's hvc returns
        push    {r4-r12}                    @ the host's callee-saved registers
        mrs     r1, SP_usr
        push    {r1}
        push_banked svc
        push_banked abt
        push_banked und
        push_banked irq
        push_fiq_bank
        push_cp15

@ Step 2: load the guest's virtual GIC interface and cp15 state.
        .global hyp_load_guest
hyp_load_guest:
        bl      hyp_restore_vgic
        bl      hyp_load_guest_cp15

@ Step 3: trap configuration and stage 2 for this guest.
        .global hyp_set_guest_traps
hyp_set_guest_traps:
        ldr     r1, [r0, #VCPU_HCR]
        mcr     p15, 4, r1, c1, c1, 0       @ HCR: VM, IMO, FMO, AMO, TWI, TSC
        ldr     r1, [r0, #VCPU_VTTBR]
        ldr     r2, [r0, #(VCPU_VTTBR + 4)]
        mcrr    p15, 6, r1, r2, c2          @ VTTBR: stage-2 root, VMID 1
        isb

@ Step 4: the guest's registers, then ERET into the guest.
        .global hyp_enter_guest
hyp_enter_guest:
        load_banked svc, VCPU_SP_SVC
        load_banked abt, VCPU_SP_ABT
        load_banked und, VCPU_SP_UND
        load_banked irq, VCPU_SP_IRQ
        load_fiq_bank
        ldr     r1, [r0, #VCPU_SP_USR]
        msr     SP_usr, r1
        ldr     lr, [r0, #VCPU_LR_USR]      @ LR in Hyp mode is LR_usr
        ldr     r1, [r0, #VCPU_PC]
        msr     ELR_hyp, r1
        ldr     r1, [r0, #VCPU_CPSR]
        msr     SPSR_fsxc, r1
        clrex
        ldm     r0, {r0-r12}                @ last: r0 itself
        .global hyp_eret_to_guest
hyp_eret_to_guest:
        eret
        .size   hyp_vcpu_run, . - hyp_vcpu_run

@ ===========================================================================
@ Guest exits
@ ===========================================================================

@ A synchronous trap from the guest (entered through hyp_vector_trap, guest
@ r0-r2 on the Hyp stack).
        .global hyp_guest_trap
        .type   hyp_guest_trap, %function
hyp_guest_trap:
        mov     r1, #EXIT_TRAP
        b       hyp_guest_exit
        .size   hyp_guest_trap, . - hyp_guest_trap

@ 0x18: a physical IRQ while the guest runs (HCR.IMO = 1 routes it here,
@ whatever the guest's CPSR.I).  It is not acknowledged here: it stays
@ pending at the GIC and the host takes it once it unmasks IRQs.
        .global hyp_vector_irq
        .type   hyp_vector_irq, %function
hyp_vector_irq:
        push    {r0-r2}
        mov     r1, #EXIT_IRQ
        @ fall through
        .size   hyp_vector_irq, . - hyp_vector_irq

@ hyp_guest_exit(r1 = exit code; guest r0-r2 on the Hyp stack): world switch
@ guest -> host.  From here on only r0-r3 and lr are used as scratch, so the
@ host's r4-r12 come only from the Hyp stack.
        .global hyp_guest_exit
        .type   hyp_guest_exit, %function
hyp_guest_exit:
        mrc     p15, 4, r0, c13, c0, 2      @ r0 = vcpu (HTPIDR)
        str     r1, [r0, #VCPU_EXIT_CODE]

@ Step 1: save the guest into the VCPU.
        .global hyp_save_guest
hyp_save_guest:
        add     r1, r0, #VCPU_R3
        stm     r1, {r3-r12}                @ guest r3-r12
        pop     {r1-r3}                     @ guest r0-r2, pushed by the vector
        stm     r0, {r1-r3}
        str     lr, [r0, #VCPU_LR_USR]
        mrs     r1, SP_usr
        str     r1, [r0, #VCPU_SP_USR]
        store_banked svc, VCPU_SP_SVC
        store_banked abt, VCPU_SP_ABT
        store_banked und, VCPU_SP_UND
        store_banked irq, VCPU_SP_IRQ
        store_fiq_bank
        mrs     r1, ELR_hyp
        str     r1, [r0, #VCPU_PC]          @ HVC: the next instruction; traps: the trapping one
        mrs     r1, SPSR
        str     r1, [r0, #VCPU_CPSR]
        ldr     r1, [r0, #VCPU_EXIT_CODE]
        cmp     r1, #EXIT_TRAP
        bleq    hyp_save_exit_syndrome

@ Step 2: back to the host's view of the machine.
        .global hyp_leave_guest_context
hyp_leave_guest_context:
        mov     r1, #0
        mcrr    p15, 6, r1, r1, c2          @ VTTBR = 0: VMID 0, the host again
        mcr     p15, 4, r1, c1, c1, 0       @ HCR = 0: no stage 2, no traps, IRQs to SVC
        isb
        bl      hyp_save_guest_cp15
        bl      hyp_save_vgic

@ Step 3: restore the host from the Hyp stack.
        .global hyp_restore_host
hyp_restore_host:
        pop_cp15
        pop_fiq_bank
        pop_banked irq
        pop_banked und
        pop_banked abt
        pop_banked svc
        pop     {r1}
        msr     SP_usr, r1
        ldr     r0, [r0, #VCPU_EXIT_CODE]   @ the host's return value
.ifdef BROKEN
        @ BROKEN build: a typo in the register list (r3 for r4).  The host's
        @ saved r4 lands in r3, a scratch register, and r4 keeps the guest's
        @ value.  The frame is still unwound correctly, so nothing fails here:
        @ the host misbehaves later, when it uses r4.
        pop     {r3, r5-r12}
.else
        pop     {r4-r12}                    @ the host's callee-saved registers
.endif

@ Step 4: hvc in Hyp mode, taken at HVBAR + 0x08 (hyp_vector_hvc), which
@ ERETs to the host.
        .global hyp_return_to_host
hyp_return_to_host:
        hvc     #HVC_RETURN_TO_HOST
        b       hyp_return_failed           @ not reached
        .size   hyp_guest_exit, . - hyp_guest_exit

@ ===========================================================================
@ 0x08: HVC executed in Hyp mode.  The only one is in hyp_return_to_host:
@ unwind the last three words of the host frame and return to the host.
@ ===========================================================================
        .global hyp_vector_hvc
        .type   hyp_vector_hvc, %function
hyp_vector_hvc:
        mrc     p15, 4, r1, c5, c2, 0       @ HSR must say "hvc #HVC_RETURN_TO_HOST"
        lsr     r2, r1, #HSR_EC_SHIFT
        cmp     r2, #HSR_EC_HVC
        bne     hyp_bad_hvc
        uxth    r2, r1
        cmp     r2, #HVC_RETURN_TO_HOST
        bne     hyp_bad_hvc
        pop     {r1}
        msr     ELR_hyp, r1                 @ Hyp_SP-4: after the host's hvc
        pop     {r1}
        msr     SPSR_fsxc, r1               @ Hyp_SP+0: the host's CPSR (SVC mode)
        pop     {lr}                        @ Hyp_SP+4: the host's LR_usr
        .global hyp_eret_to_host
hyp_eret_to_host:
        eret                                @ r0 = exit code
        .size   hyp_vector_hvc, . - hyp_vector_hvc

@ ===========================================================================
@ World-switch helpers (leaf functions: r0 = vcpu, scratch r1-r3)
@ ===========================================================================

@ hyp_save_exit_syndrome: HSR, and for aborts the fault addresses.
        .global hyp_save_exit_syndrome
        .type   hyp_save_exit_syndrome, %function
hyp_save_exit_syndrome:
        mrc     p15, 4, r1, c5, c2, 0       @ HSR
        str     r1, [r0, #VCPU_HSR]
        lsr     r1, r1, #HSR_EC_SHIFT
        cmp     r1, #HSR_EC_DABT
        beq     1f
        cmp     r1, #HSR_EC_IABT
        bxne    lr
        mrc     p15, 4, r2, c6, c0, 2       @ HIFAR: faulting instruction's VA
        str     r2, [r0, #VCPU_HIFAR]
        b       2f
1:      mrc     p15, 4, r2, c6, c0, 0       @ HDFAR: faulting data VA
        str     r2, [r0, #VCPU_HDFAR]
2:      mrc     p15, 4, r2, c6, c0, 4       @ HPFAR: IPA[39:12] << 4
        str     r2, [r0, #VCPU_HPFAR]
        bx      lr
        .size   hyp_save_exit_syndrome, . - hyp_save_exit_syndrome

@ hyp_load_guest_cp15: the guest's PL1 cp15 state from the VCPU.
        .global hyp_load_guest_cp15
        .type   hyp_load_guest_cp15, %function
hyp_load_guest_cp15:
        ldr     r1, [r0, #VCPU_TTBR0]
        ldr     r2, [r0, #(VCPU_TTBR0 + 4)]
        mcrr    p15, 0, r1, r2, c2          @ TTBR0
        ldr     r1, [r0, #VCPU_TTBR1]
        ldr     r2, [r0, #(VCPU_TTBR1 + 4)]
        mcrr    p15, 1, r1, r2, c2          @ TTBR1
        ldr     r1, [r0, #VCPU_TTBCR]
        mcr     p15, 0, r1, c2, c0, 2
        ldr     r1, [r0, #VCPU_DACR]
        mcr     p15, 0, r1, c3, c0, 0
        ldr     r1, [r0, #VCPU_PRRR]
        mcr     p15, 0, r1, c10, c2, 0
        ldr     r1, [r0, #VCPU_NMRR]
        mcr     p15, 0, r1, c10, c2, 1
        ldr     r1, [r0, #VCPU_VBAR]
        mcr     p15, 0, r1, c12, c0, 0
        ldr     r1, [r0, #VCPU_CONTEXTIDR]
        mcr     p15, 0, r1, c13, c0, 1
        ldr     r1, [r0, #VCPU_DFSR]
        mcr     p15, 0, r1, c5, c0, 0
        ldr     r1, [r0, #VCPU_IFSR]
        mcr     p15, 0, r1, c5, c0, 1
        ldr     r1, [r0, #VCPU_DFAR]
        mcr     p15, 0, r1, c6, c0, 0
        ldr     r1, [r0, #VCPU_IFAR]
        mcr     p15, 0, r1, c6, c0, 2
        ldr     r1, [r0, #VCPU_TPIDRPRW]
        mcr     p15, 0, r1, c13, c0, 4
        ldr     r1, [r0, #VCPU_SCTLR]
        mcr     p15, 0, r1, c1, c0, 0       @ last: the guest's MMU switch
        bx      lr
        .size   hyp_load_guest_cp15, . - hyp_load_guest_cp15

@ hyp_save_guest_cp15: the guest's PL1 cp15 state into the VCPU.
        .global hyp_save_guest_cp15
        .type   hyp_save_guest_cp15, %function
hyp_save_guest_cp15:
        mrc     p15, 0, r1, c1, c0, 0
        str     r1, [r0, #VCPU_SCTLR]
        mrc     p15, 0, r1, c2, c0, 2
        str     r1, [r0, #VCPU_TTBCR]
        mrc     p15, 0, r1, c3, c0, 0
        str     r1, [r0, #VCPU_DACR]
        mrc     p15, 0, r1, c10, c2, 0
        str     r1, [r0, #VCPU_PRRR]
        mrc     p15, 0, r1, c10, c2, 1
        str     r1, [r0, #VCPU_NMRR]
        mrc     p15, 0, r1, c12, c0, 0
        str     r1, [r0, #VCPU_VBAR]
        mrc     p15, 0, r1, c13, c0, 1
        str     r1, [r0, #VCPU_CONTEXTIDR]
        mrc     p15, 0, r1, c5, c0, 0
        str     r1, [r0, #VCPU_DFSR]
        mrc     p15, 0, r1, c5, c0, 1
        str     r1, [r0, #VCPU_IFSR]
        mrc     p15, 0, r1, c6, c0, 0
        str     r1, [r0, #VCPU_DFAR]
        mrc     p15, 0, r1, c6, c0, 2
        str     r1, [r0, #VCPU_IFAR]
        mrc     p15, 0, r1, c13, c0, 4
        str     r1, [r0, #VCPU_TPIDRPRW]
        mrrc    p15, 0, r1, r2, c2          @ TTBR0
        str     r1, [r0, #VCPU_TTBR0]
        str     r2, [r0, #(VCPU_TTBR0 + 4)]
        mrrc    p15, 1, r1, r2, c2          @ TTBR1
        str     r1, [r0, #VCPU_TTBR1]
        str     r2, [r0, #(VCPU_TTBR1 + 4)]
        bx      lr
        .size   hyp_save_guest_cp15, . - hyp_save_guest_cp15

@ hyp_restore_vgic: the guest's virtual CPU interface from the VCPU into
@ GICH.  The list registers are what the host filled in to inject interrupts.
        .global hyp_restore_vgic
        .type   hyp_restore_vgic, %function
hyp_restore_vgic:
        ldr     r3, =GICH_BASE
        ldr     r1, [r0, #VCPU_VGIC_VMCR]
        str     r1, [r3, #GICH_VMCR]
        ldr     r1, [r0, #VCPU_VGIC_APR]
        str     r1, [r3, #GICH_APR]
        ldr     r1, [r0, #(VCPU_VGIC_LR0 + 0)]
        str     r1, [r3, #(GICH_LR0 + 0)]
        ldr     r1, [r0, #(VCPU_VGIC_LR0 + 4)]
        str     r1, [r3, #(GICH_LR0 + 4)]
        ldr     r1, [r0, #(VCPU_VGIC_LR0 + 8)]
        str     r1, [r3, #(GICH_LR0 + 8)]
        ldr     r1, [r0, #(VCPU_VGIC_LR0 + 12)]
        str     r1, [r3, #(GICH_LR0 + 12)]
        ldr     r1, [r0, #VCPU_VGIC_HCR]
        str     r1, [r3, #GICH_HCR]         @ last: En = 1 turns the interface on
        bx      lr
        .size   hyp_restore_vgic, . - hyp_restore_vgic

@ hyp_save_vgic: GICH into the VCPU, then the virtual interface off.
        .global hyp_save_vgic
        .type   hyp_save_vgic, %function
hyp_save_vgic:
        ldr     r3, =GICH_BASE
        ldr     r1, [r3, #GICH_HCR]
        str     r1, [r0, #VCPU_VGIC_HCR]
        ldr     r1, [r3, #GICH_VMCR]
        str     r1, [r0, #VCPU_VGIC_VMCR]
        ldr     r1, [r3, #GICH_APR]
        str     r1, [r0, #VCPU_VGIC_APR]
        ldr     r1, [r3, #GICH_ELRSR0]
        str     r1, [r0, #VCPU_VGIC_ELRSR0]
        ldr     r1, [r3, #(GICH_LR0 + 0)]
        str     r1, [r0, #(VCPU_VGIC_LR0 + 0)]
        ldr     r1, [r3, #(GICH_LR0 + 4)]
        str     r1, [r0, #(VCPU_VGIC_LR0 + 4)]
        ldr     r1, [r3, #(GICH_LR0 + 8)]
        str     r1, [r0, #(VCPU_VGIC_LR0 + 8)]
        ldr     r1, [r3, #(GICH_LR0 + 12)]
        str     r1, [r0, #(VCPU_VGIC_LR0 + 12)]
        mov     r1, #0
        str     r1, [r3, #GICH_HCR]
        bx      lr
        .size   hyp_save_vgic, . - hyp_save_vgic

@ ===========================================================================
@ hyp_flush_vm_context(): host call, forget every non-Hyp TLB entry (after
@ the host has built or changed stage-2 tables).  Returns normally, through
@ hyp_host_call_return.
@ ===========================================================================
        .global hyp_flush_vm_context
        .type   hyp_flush_vm_context, %function
hyp_flush_vm_context:
        mcr     p15, 4, r0, c8, c7, 4       @ TLBIALLNSNH
        mcr     p15, 0, r0, c7, c5, 0       @ ICIALLU
        dsb
        isb
        bx      lr
        .size   hyp_flush_vm_context, . - hyp_flush_vm_context

@ ===========================================================================
@ Exceptions that must never happen: report and power off.
@ ===========================================================================
        .type   hyp_vector_reset, %function
hyp_vector_reset:
        ldr     r0, =msg_hyp_reset
        b       hyp_panic
        .type   hyp_vector_undef, %function
hyp_vector_undef:
        ldr     r0, =msg_hyp_undef
        b       hyp_panic
        .type   hyp_vector_pabt, %function
hyp_vector_pabt:
        ldr     r0, =msg_hyp_pabt
        b       hyp_panic
        .type   hyp_vector_dabt, %function
hyp_vector_dabt:
        ldr     r0, =msg_hyp_dabt
        b       hyp_panic
        .type   hyp_vector_fiq, %function
hyp_vector_fiq:
        ldr     r0, =msg_hyp_fiq
        b       hyp_panic
        .type   hyp_bad_hvc, %function
hyp_bad_hvc:
        ldr     r0, =msg_hyp_bad_hvc
        b       hyp_panic
        .type   hyp_return_failed, %function
hyp_return_failed:
        ldr     r0, =msg_hyp_return_failed
        b       hyp_panic

@ hyp_panic(r0 = message): print it with HSR and ELR_hyp, then PSCI SYSTEM_OFF.
        .global hyp_panic
        .type   hyp_panic, %function
hyp_panic:
        bl      uart_puts
        ldr     r0, =msg_hyp_hsr
        bl      uart_puts
        mrc     p15, 4, r0, c5, c2, 0
        bl      uart_puthex32
        ldr     r0, =msg_hyp_elr
        bl      uart_puts
        mrs     r0, ELR_hyp
        bl      uart_puthex32
        bl      uart_newline
        ldr     r0, =PSCI_SYSTEM_OFF
        smc     #0
        b       .
        .size   hyp_panic, . - hyp_panic

        .ltorg

        .section .hyp.rodata, "a"
msg_hyp_reset:          .asciz  "hyp: panic: exception at vector 0x00"
msg_hyp_undef:          .asciz  "hyp: panic: undefined instruction in hyp mode"
msg_hyp_pabt:           .asciz  "hyp: panic: prefetch abort in hyp mode"
msg_hyp_dabt:           .asciz  "hyp: panic: data abort in hyp mode"
msg_hyp_fiq:            .asciz  "hyp: panic: fiq"
msg_hyp_bad_hvc:        .asciz  "hyp: panic: unexpected hvc/svc in hyp mode"
msg_hyp_return_failed:  .asciz  "hyp: panic: hvc #1 did not return to the host"
msg_hyp_hsr:            .asciz  " hsr="
msg_hyp_elr:            .asciz  " elr="

@ ===========================================================================
@ Hyp stage-1 translation tables (LPAE, HTCR.T0SZ = 0: level 1 has 4 entries
@ of 1 GiB).  A 1:1 map of exactly what Hyp touches:
@   0x08000000-0x081FFFFF  GIC (GICH)          Device, execute-never
@   0x09000000-0x091FFFFF  UART (panic output) Device, execute-never
@   0x40000000-0x401FFFFF  host + Hyp          Normal non-cacheable
@                          (the VCPU lives in host memory; Hyp code and stack)
@ Anything else, guest memory included, is a Hyp data abort.
@ ===========================================================================
        .section .hyp.data, "aw"
        .align  12
        .global hyp_pmd_low
hyp_pmd_low:                                @ level 2 for VA 0x00000000-0x3FFFFFFF
        .space  (0x08000000 >> 21) * 8
        .word   0x08000000 | HYP_DEVICE_BLOCK, DESC_XN_HI       @ [0x40] GIC
        .space  ((0x09000000 >> 21) - (0x08000000 >> 21) - 1) * 8
        .word   0x09000000 | HYP_DEVICE_BLOCK, DESC_XN_HI       @ [0x48] UART
        .space  (512 - (0x09000000 >> 21) - 1) * 8

        .align  12
        .global hyp_pmd_ram
hyp_pmd_ram:                                @ level 2 for VA 0x40000000-0x7FFFFFFF
        .word   HOST_BASE | HYP_NORMAL_BLOCK, 0                 @ [0] host + Hyp
        .space  511 * 8

        .align  5
        .global hyp_pgd
hyp_pgd:                                    @ level 1 (HTTBR), 32-byte aligned
        .word   hyp_pmd_low + DESC_TABLE, 0                     @ [0] 0x00000000-0x3FFFFFFF
        .word   hyp_pmd_ram + DESC_TABLE, 0                     @ [1] 0x40000000-0x7FFFFFFF
        .word   0, 0                                            @ [2] unmapped
        .word   0, 0                                            @ [3] unmapped

@ ===========================================================================
@ Hyp stack
@ ===========================================================================
        .section .hyp.bss, "aw", %nobits
        .align  12
        .global hyp_stack
hyp_stack:
        .space  4096
        .global hyp_stack_top
hyp_stack_top:
