@ host.s - the host kernel: runs in SVC mode with its MMU off.
@
@ It plays the part of a KVM host: it builds one VCPU and the guest's stage-2
@ tables, then loops like kvm_arch_vcpu_ioctl_run:
@
@     IRQs off -> (arm the host timer if asked) -> trace -> hvc into Hyp,
@     the guest runs -> exit code back -> trace -> IRQs on (a pending host
@     IRQ is taken here, by irq_svc) -> handle the exit -> again
@
@ Exits it handles (HSR.EC of a trap, or the IRQ exit code):
@   HVC    hypercall from the guest (number = HSR imm16, argument in r0/r1)
@   WFI    trapped by HCR.TWI: skip it, inject virtual IRQ 42 via GICH_LR0
@   DABT   stage-2 data abort on the unmapped GICD page: emulate the
@          register from HSR (ISV, SAS, SSE, SRT, WnR) and HPFAR/HDFAR
@   IRQ    the host's own timer fired while the guest ran: nothing to do,
@          irq_svc handled it when IRQs came back on
@
@ C-like calling convention: arguments in r0-r3, result in r0, r4-r11 kept.

        .include "defs.inc"

@ Values the emulated distributor (the guest's GICD page) returns.
        .equ    VGICD_TYPER_VALUE,  0x00000001  @ ITLinesNumber 1: 64 interrupts, one CPU
        .equ    VGICD_IIDR_VALUE,   0x4800043B  @ ProductID 0x48, implementer ARM (0x43B)

@ ===========================================================================
@ Host vector table (VBAR)
@ ===========================================================================
        .section .host.vectors, "ax"
        .align  5
        .global host_vectors
        .type   host_vectors, %function
host_vectors:
        b       host_vector_reset           @ 0x00
        b       host_vector_undef           @ 0x04
        b       host_vector_svc             @ 0x08
        b       host_vector_pabt            @ 0x0C
        b       host_vector_dabt            @ 0x10
        b       host_vector_unused          @ 0x14
        b       host_vector_irq             @ 0x18
        b       host_vector_fiq             @ 0x1C
        .size   host_vectors, . - host_vectors

        .section .host.text, "ax"

@ ===========================================================================
@ host_start: entered from boot_enter_host in SVC mode, IRQs masked.
@ ===========================================================================
        .global host_start
        .type   host_start, %function
host_start:
        ldr     sp, =host_svc_stack_top
        cps     #MODE_IRQ
        ldr     sp, =host_irq_stack_top
        cps     #MODE_ABT
        ldr     sp, =host_abt_stack_top
        cps     #MODE_UND
        ldr     sp, =host_und_stack_top
        cps     #MODE_SVC
        ldr     r0, =host_vectors
        mcr     p15, 0, r0, c12, c0, 0      @ VBAR
        isb
        ldr     r0, =msg_host_hello
        bl      uart_puts
        bl      host_gic_init
        ldr     r4, =vcpu0                  @ r4 = our one VCPU, kept across the run loop
        mov     r0, r4
        bl      host_vcpu_init
        mov     r0, r4
        bl      host_stage2_init
        ldr     r0, =hyp_flush_vm_context   @ a host call that returns normally
        bl      host_call_hyp
        b       host_run_loop
        .size   host_start, . - host_start

@ ===========================================================================
@ host_call_hyp(r0 = Hyp function, r1-r3 = arguments): run it in Hyp mode,
@ return its r0.  Enters Hyp at HVBAR + 0x14 (hyp_vector_trap).
@ ===========================================================================
        .global host_call_hyp
        .type   host_call_hyp, %function
host_call_hyp:
        hvc     #HVC_HOST_CALL
        bx      lr
        .size   host_call_hyp, . - host_call_hyp

@ ===========================================================================
@ host_run_loop (r4 = vcpu): the VCPU run loop.  Never returns.
@ ===========================================================================
        .global host_run_loop
        .type   host_run_loop, %function
host_run_loop:
        cpsid   i                           @ no host IRQ until the guest has run
        mov     r0, r4
        bl      host_arm_tick               @ the host timer, if the guest asked for a tick
        mov     r0, r4
        bl      host_trace_entry
        ldr     r0, =hyp_vcpu_run
        mov     r1, r4
        bl      host_call_hyp               @ world switch into the guest ...
        .global host_vcpu_exited
host_vcpu_exited:                           @ ... and back: r0 = exit code
        mov     r5, r0
        mov     r0, r4
        mov     r1, r5
        bl      host_trace_exit
        cpsie   i                           @ a pending host IRQ is taken here (irq_svc)
        mov     r0, r4
        mov     r1, r5
        bl      host_handle_exit
        cmp     r0, #0
        bne     host_run_loop
        b       host_power_off
        .size   host_run_loop, . - host_run_loop

@ ===========================================================================
@ Trace lines
@ ===========================================================================

@ host_trace_entry(r0 = vcpu): "host: run vcpu pc=<guest pc>"
        .global host_trace_entry
        .type   host_trace_entry, %function
host_trace_entry:
        push    {r4, lr}
        ldr     r1, [r0, #VCPU_PC]
        ldr     r0, =msg_run_vcpu
        bl      host_put_str_hex
        bl      uart_newline
        pop     {r4, pc}
        .size   host_trace_entry, . - host_trace_entry

@ host_trace_exit(r0 = vcpu, r1 = exit code): one line per exit.
@   host: exit HVC imm=<imm16> r0=<guest r0> pc=<guest pc>
@   host: exit <WFI|DABT|IABT|SMC|TRAP> hsr=<hsr> pc=<guest pc>
@   host: exit IRQ pc=<guest pc>
        .global host_trace_exit
        .type   host_trace_exit, %function
host_trace_exit:
        push    {r4, r5, r6, lr}
        mov     r4, r0
        mov     r5, r1
        ldr     r6, [r4, #VCPU_HSR]
        cmp     r5, #EXIT_IRQ
        beq     3f
        cmp     r5, #EXIT_TRAP
        bne     4f
        lsr     r0, r6, #HSR_EC_SHIFT
        cmp     r0, #HSR_EC_HVC
        bne     1f
        ldr     r0, =msg_exit_hvc           @ HVC: number and argument
        uxth    r1, r6
        mov     r2, #4
        bl      host_put_str_hexn
        ldr     r0, =msg_r0
        ldr     r1, [r4, #VCPU_R0]
        bl      host_put_str_hex
        b       2f
1:      bl      host_exit_name              @ other traps: class and syndrome
        bl      uart_puts
        ldr     r0, =msg_hsr
        mov     r1, r6
        bl      host_put_str_hex
        b       2f
3:      ldr     r0, =msg_exit_irq           @ the host's IRQ: HSR means nothing here
        bl      uart_puts
        b       2f
4:      ldr     r0, =msg_exit_code          @ an exit code we do not know
        mov     r1, r5
        bl      host_put_str_hex
2:      ldr     r0, =msg_pc
        ldr     r1, [r4, #VCPU_PC]
        bl      host_put_str_hex
        bl      uart_newline
        pop     {r4, r5, r6, pc}
        .size   host_trace_exit, . - host_trace_exit

@ host_exit_name(r0 = HSR.EC) -> r0 = "host: exit <class>" string
        .type   host_exit_name, %function
host_exit_name:
        cmp     r0, #HSR_EC_WFI
        ldreq   r0, =msg_exit_wfi
        bxeq    lr
        cmp     r0, #HSR_EC_DABT
        ldreq   r0, =msg_exit_dabt
        bxeq    lr
        cmp     r0, #HSR_EC_IABT
        ldreq   r0, =msg_exit_iabt
        bxeq    lr
        cmp     r0, #HSR_EC_SMC
        ldreq   r0, =msg_exit_smc
        bxeq    lr
        ldr     r0, =msg_exit_trap
        bx      lr
        .size   host_exit_name, . - host_exit_name

@ ===========================================================================
@ host_handle_exit(r0 = vcpu, r1 = exit code) -> r0 = 1 to run the guest
@ again, 0 to stop.
@ ===========================================================================
        .global host_handle_exit
        .type   host_handle_exit, %function
host_handle_exit:
        cmp     r1, #EXIT_IRQ
        moveq   r0, #1                      @ irq_svc has already handled it
        bxeq    lr
        cmp     r1, #EXIT_TRAP
        bne     host_unhandled_exit
        ldr     r1, [r0, #VCPU_HSR]
        lsr     r1, r1, #HSR_EC_SHIFT
        cmp     r1, #HSR_EC_HVC
        beq     host_handle_hvc
        cmp     r1, #HSR_EC_WFI
        beq     host_handle_wfi
        cmp     r1, #HSR_EC_DABT
        beq     host_handle_dabt
        b       host_unhandled_exit
        .size   host_handle_exit, . - host_handle_exit

@ host_unhandled_exit(r0 = vcpu) -> 0
        .global host_unhandled_exit
        .type   host_unhandled_exit, %function
host_unhandled_exit:
        push    {r4, lr}
        ldr     r0, =msg_unhandled_exit
        bl      uart_puts
        mov     r0, #0
        pop     {r4, pc}
        .size   host_unhandled_exit, . - host_unhandled_exit

@ host_skip_instruction(r0 = vcpu): step the guest past the trapped
@ instruction (4 bytes, or 2 for a 16-bit one: HSR.IL).
        .global host_skip_instruction
        .type   host_skip_instruction, %function
host_skip_instruction:
        ldr     r1, [r0, #VCPU_HSR]
        ldr     r2, [r0, #VCPU_PC]
        tst     r1, #HSR_IL
        addne   r2, r2, #4
        addeq   r2, r2, #2
        str     r2, [r0, #VCPU_PC]
        bx      lr
        .size   host_skip_instruction, . - host_skip_instruction

@ ===========================================================================
@ Hypercalls: hvc #<number> from the guest.  The guest's PC already points
@ after the hvc.  Each handler returns 1 (run again) or 0 (stop).
@ ===========================================================================
        .global host_handle_hvc
        .type   host_handle_hvc, %function
host_handle_hvc:
        push    {r4, lr}
        mov     r4, r0
        ldr     r1, [r4, #VCPU_HSR]
        uxth    r1, r1                      @ the hypercall number (imm16)
        cmp     r1, #HC_PUTS
        beq     1f
        cmp     r1, #HC_PUTHEX
        beq     2f
        cmp     r1, #HC_REQUEST_TICK
        beq     3f
        cmp     r1, #HC_DONE
        beq     4f
        bl      host_hc_unknown
        pop     {r4, pc}
1:      bl      host_hc_puts
        pop     {r4, pc}
2:      bl      host_hc_puthex
        pop     {r4, pc}
3:      bl      host_hc_request_tick
        pop     {r4, pc}
4:      bl      host_hc_done
        pop     {r4, pc}
        .size   host_handle_hvc, . - host_handle_hvc

@ HC_PUTS(r0 = IPA of a string): "guest: <string>"
        .global host_hc_puts
        .type   host_hc_puts, %function
host_hc_puts:
        push    {r4, lr}
        mov     r4, r0
        ldr     r0, =msg_guest
        bl      uart_puts
        ldr     r0, [r4, #VCPU_R0]
        bl      host_put_guest_string
        bl      uart_newline
        mov     r0, #0
        str     r0, [r4, #VCPU_R0]          @ result: 0
        mov     r0, #1
        pop     {r4, pc}
        .size   host_hc_puts, . - host_hc_puts

@ HC_PUTHEX(r0 = IPA of a label, r1 = value): "guest: <label><value>"
        .global host_hc_puthex
        .type   host_hc_puthex, %function
host_hc_puthex:
        push    {r4, lr}
        mov     r4, r0
        ldr     r0, =msg_guest
        bl      uart_puts
        ldr     r0, [r4, #VCPU_R0]
        bl      host_put_guest_string
        ldr     r0, [r4, #(VCPU_R0 + 4)]
        bl      uart_puthex32
        bl      uart_newline
        mov     r0, #0
        str     r0, [r4, #VCPU_R0]
        mov     r0, #1
        pop     {r4, pc}
        .size   host_hc_puthex, . - host_hc_puthex

@ HC_REQUEST_TICK(r0 = IPA of the guest's tick slot, r1 = value to store
@ there): the guest waits for the host's timer.  The host arms its physical
@ timer right before the next entry, with IRQs off, so the timer IRQ
@ always arrives while the guest runs; irq_svc then stores the value.
        .global host_hc_request_tick
        .type   host_hc_request_tick, %function
host_hc_request_tick:
        push    {r4, lr}
        mov     r4, r0
        ldr     r1, [r4, #VCPU_R0]
        str     r1, [r4, #VCPU_TICK_SLOT]
        ldr     r1, [r4, #(VCPU_R0 + 4)]
        str     r1, [r4, #VCPU_TICK_RESUME]
        mov     r1, #1
        str     r1, [r4, #VCPU_TICK_ARM]
        ldr     r0, =msg_tick_requested
        bl      uart_puts
        mov     r0, #0
        str     r0, [r4, #VCPU_R0]
        mov     r0, #1
        pop     {r4, pc}
        .size   host_hc_request_tick, . - host_hc_request_tick

@ HC_DONE(r0 = status): the guest has finished; stop.
        .global host_hc_done
        .type   host_hc_done, %function
host_hc_done:
        push    {r4, lr}
        mov     r4, r0
        ldr     r0, =msg_guest_done
        ldr     r1, [r4, #VCPU_R0]
        bl      host_put_str_hex
        bl      uart_newline
        mov     r0, #0
        pop     {r4, pc}
        .size   host_hc_done, . - host_hc_done

@ Any other number: answer -1 and carry on.
        .global host_hc_unknown
        .type   host_hc_unknown, %function
host_hc_unknown:
        push    {r4, lr}
        mov     r4, r0
        ldr     r0, =msg_unknown_hc
        bl      uart_puts
        mvn     r0, #0
        str     r0, [r4, #VCPU_R0]
        mov     r0, #1
        pop     {r4, pc}
        .size   host_hc_unknown, . - host_hc_unknown

@ ===========================================================================
@ host_handle_wfi(r0 = vcpu): the guest waits for an interrupt.  Skip the
@ WFI and make virtual IRQ 42 pending in list register 0; the guest takes it
@ as soon as it runs again (it has IRQs unmasked).
@ ===========================================================================
        .global host_handle_wfi
        .type   host_handle_wfi, %function
host_handle_wfi:
        push    {r4, lr}
        mov     r4, r0
        bl      host_skip_instruction
        ldr     r1, [r4, #VCPU_VGICD_CTLR]  @ the guest must have enabled its
        tst     r1, #1                      @ distributor and INTID 42 in it
        ldrne   r1, [r4, #VCPU_VGICD_ENABLE1]
        tstne   r1, #(1 << (VIRQ_INTID - 32))
        beq     1f
        ldr     r1, =VIRQ_LR_VALUE
        str     r1, [r4, #VCPU_VGIC_LR0]    @ Hyp copies it to GICH_LR0 on entry
        ldr     r0, =msg_inject
        bl      host_put_str_hex
        bl      uart_newline
        mov     r0, #1
        pop     {r4, pc}
1:      ldr     r0, =msg_wfi_forever        @ nothing could ever wake it
        bl      uart_puts
        mov     r0, #0
        pop     {r4, pc}
        .size   host_handle_wfi, . - host_handle_wfi

@ ===========================================================================
@ host_handle_dabt(r0 = vcpu): a stage-2 data abort.  The only IPA page left
@ unmapped on purpose is the guest's distributor (GUEST_GICD_IPA): emulate
@ the access from the syndrome alone, then skip the instruction.
@ ===========================================================================
        .global host_handle_dabt
        .type   host_handle_dabt, %function
host_handle_dabt:
        push    {r4-r8, lr}
        mov     r4, r0
        ldr     r5, [r4, #VCPU_HSR]
        tst     r5, #HSR_ISV                @ no valid syndrome: cannot emulate
        beq     8f
        ldr     r0, [r4, #VCPU_HPFAR]       @ IPA = HPFAR[31:4] << 8 | HDFAR[11:0]
        bic     r0, r0, #0xF
        lsl     r0, r0, #8
        ldr     r1, [r4, #VCPU_HDFAR]
        ubfx    r1, r1, #0, #12
        orr     r6, r0, r1                  @ r6 = IPA
        ldr     r0, =GUEST_GICD_IPA
        sub     r7, r6, r0                  @ r7 = offset in the device page
        cmp     r7, #0x1000
        bhs     9f
        ubfx    r8, r5, #HSR_SRT_SHIFT, #4  @ r8 = SRT, the guest register
        cmp     r8, #12                     @ r13-r15 are banked or the PC: not supported
        bhi     8f
        tst     r5, #HSR_WNR
        bne     1f
        mov     r0, r4                      @ read: device -> guest register
        mov     r1, r7
        bl      host_vgicd_read
        mov     r1, r5
        bl      host_mmio_extend            @ to the access size, sign-extended if SSE
        str     r0, [r4, r8, lsl #2]        @ vcpu->r[SRT]
        mov     r3, r0
        ldr     r0, =msg_mmio_read
        b       2f
1:      ldr     r0, [r4, r8, lsl #2]        @ write: guest register -> device
        mov     r1, r5
        bl      host_mmio_extend
        mov     r2, r0
        mov     r0, r4
        mov     r1, r7
        push    {r2}
        bl      host_vgicd_write
        pop     {r3}
        ldr     r0, =msg_mmio_write
2:      mov     r1, r6                      @ "host: mmio read|write ipa=... size=N rS=value"
        mov     r2, r5
        push    {r3}
        bl      host_trace_mmio_head
        mov     r0, r8
        bl      host_put_reg_name
        mov     r0, #'='
        bl      uart_putc
        pop     {r0}
        bl      uart_puthex32
        bl      uart_newline
        mov     r0, r4
        bl      host_skip_instruction
        mov     r0, #1
        pop     {r4-r8, pc}
8:      ldr     r0, =msg_mmio_no_syndrome
        bl      uart_puts
        mov     r0, #0
        pop     {r4-r8, pc}
9:      ldr     r0, =msg_mmio_unmapped
        mov     r1, r6
        bl      host_put_str_hex
        bl      uart_newline
        mov     r0, #0
        pop     {r4-r8, pc}
        .size   host_handle_dabt, . - host_handle_dabt

@ host_trace_mmio_head(r0 = "host: mmio read|write", r1 = IPA, r2 = HSR):
@ prints "<r0> ipa=<ipa> size=<bytes> "
        .type   host_trace_mmio_head, %function
host_trace_mmio_head:
        push    {r4, r5, r6, lr}
        mov     r4, r1
        mov     r5, r2
        bl      uart_puts
        ldr     r0, =msg_ipa
        mov     r1, r4
        bl      host_put_str_hex
        ldr     r0, =msg_size
        bl      uart_puts
        ubfx    r1, r5, #HSR_SAS_SHIFT, #2  @ SAS: 0 byte, 1 halfword, 2 word
        mov     r0, #1
        lsl     r0, r0, r1
        add     r0, r0, #'0'
        bl      uart_putc
        mov     r0, #' '
        bl      uart_putc
        pop     {r4, r5, r6, pc}
        .size   host_trace_mmio_head, . - host_trace_mmio_head

@ host_mmio_extend(r0 = value, r1 = HSR) -> r0 cut to HSR.SAS bytes,
@ sign-extended when HSR.SSE is set.
        .global host_mmio_extend
        .type   host_mmio_extend, %function
host_mmio_extend:
        ubfx    r2, r1, #HSR_SAS_SHIFT, #2
        cmp     r2, #2
        bxhs    lr                          @ word: nothing to do
        tst     r1, #HSR_SSE
        bne     1f
        cmp     r2, #0
        uxtbeq  r0, r0
        uxthne  r0, r0
        bx      lr
1:      cmp     r2, #0
        sxtbeq  r0, r0
        sxthne  r0, r0
        bx      lr
        .size   host_mmio_extend, . - host_mmio_extend

@ ===========================================================================
@ The emulated distributor: a few GICD registers, the rest RAZ/WI.
@ ===========================================================================

@ host_vgicd_read(r0 = vcpu, r1 = offset) -> r0 = value
        .global host_vgicd_read
        .type   host_vgicd_read, %function
host_vgicd_read:
        cmp     r1, #GICD_CTLR
        ldreq   r0, [r0, #VCPU_VGICD_CTLR]
        bxeq    lr
        cmp     r1, #GICD_TYPER
        ldreq   r0, =VGICD_TYPER_VALUE
        bxeq    lr
        cmp     r1, #GICD_IIDR
        ldreq   r0, =VGICD_IIDR_VALUE
        bxeq    lr
        cmp     r1, #GICD_ISENABLER1
        ldreq   r0, [r0, #VCPU_VGICD_ENABLE1]
        bxeq    lr
        mov     r0, #0
        bx      lr
        .size   host_vgicd_read, . - host_vgicd_read

@ host_vgicd_write(r0 = vcpu, r1 = offset, r2 = value)
        .global host_vgicd_write
        .type   host_vgicd_write, %function
host_vgicd_write:
        cmp     r1, #GICD_CTLR
        andeq   r2, r2, #1
        streq   r2, [r0, #VCPU_VGICD_CTLR]
        bxeq    lr
        cmp     r1, #GICD_ISENABLER1        @ set-enable: ones enable, zeros are ignored
        ldreq   r3, [r0, #VCPU_VGICD_ENABLE1]
        orreq   r3, r3, r2
        streq   r3, [r0, #VCPU_VGICD_ENABLE1]
        bx      lr
        .size   host_vgicd_write, . - host_vgicd_write

@ ===========================================================================
@ Set-up: GIC, VCPU, stage 2
@ ===========================================================================

@ host_gic_init(): distributor and CPU interface on, the timer PPI enabled.
        .global host_gic_init
        .type   host_gic_init, %function
host_gic_init:
        ldr     r0, =GICD_BASE
        mov     r1, #1
        str     r1, [r0, #GICD_CTLR]
        mov     r1, #(0xA0 << ((HOST_TIMER_INTID - 28) * 8))
        str     r1, [r0, #GICD_IPRIORITYR7] @ INTID 30 at priority 0xA0
        mov     r1, #(1 << HOST_TIMER_INTID)
        str     r1, [r0, #GICD_ISENABLER0]
        ldr     r0, =GICC_BASE
        mov     r1, #GIC_PRIO_MASK
        str     r1, [r0, #GICC_PMR]
        mov     r1, #1
        str     r1, [r0, #GICC_CTLR]
        bx      lr
        .size   host_gic_init, . - host_gic_init

@ host_vcpu_init(r0 = vcpu): a guest at its reset vector, SVC mode, MMU off.
        .global host_vcpu_init
        .type   host_vcpu_init, %function
host_vcpu_init:
        push    {r4, lr}
        mov     r4, r0
        mov     r1, #VCPU_SIZE
        bl      host_zero
        ldr     r0, =GUEST_ENTRY
        str     r0, [r4, #VCPU_PC]
        ldr     r0, =(MODE_SVC | PSR_A | PSR_I | PSR_F)
        str     r0, [r4, #VCPU_CPSR]
        ldr     r0, =SCTLR_RESET
        str     r0, [r4, #VCPU_SCTLR]
        ldr     r0, =HCR_GUEST
        str     r0, [r4, #VCPU_HCR]
        mov     r0, #GICH_HCR_EN
        str     r0, [r4, #VCPU_VGIC_HCR]
        pop     {r4, pc}
        .size   host_vcpu_init, . - host_vcpu_init

@ host_stage2_init(r0 = vcpu): build the guest's IPA -> PA tables and put
@ their root and VMID 1 in vcpu->vttbr.
@   IPA 0x40200000-0x403FFFFF -> PA 0x40400000  level-3 pages (4 KiB)
@   IPA 0x40400000-0x405FFFFF -> PA 0x40600000  one level-2 block (2 MiB)
@   IPA 0x08010000-0x08011FFF -> PA 0x08040000  GICC -> GICV, Device
@   IPA 0x08000000-0x0800FFFF  unmapped: the distributor, emulated (host_handle_dabt)
        .global host_stage2_init
        .type   host_stage2_init, %function
host_stage2_init:
        push    {r4, lr}
        mov     r4, r0
        ldr     r0, =s2_tables
        ldr     r1, =S2_TABLES_SIZE
        bl      host_zero
        @ level 1 (VTTBR root): 4 entries, IPA[31:30]
        ldr     r0, =s2_pgd
        mov     r1, #0                      @ IPA 0x00000000-0x3FFFFFFF
        ldr     r2, =(s2_pmd_low + DESC_TABLE)
        mov     r3, #0
        bl      s2_set_entry
        ldr     r0, =s2_pgd
        mov     r1, #1                      @ IPA 0x40000000-0x7FFFFFFF
        ldr     r2, =(s2_pmd_ram + DESC_TABLE)
        mov     r3, #0
        bl      s2_set_entry
        @ level 2, devices: the GIC's 2 MiB gets a page table
        ldr     r0, =s2_pmd_low
        mov     r1, #(GUEST_GICD_IPA >> 21)
        ldr     r2, =(s2_pte_gic + DESC_TABLE)
        mov     r3, #0
        bl      s2_set_entry
        @ level 3: GICC (two pages) -> GICV; the GICD pages stay invalid
        ldr     r0, =s2_pte_gic
        mov     r1, #((GUEST_GICC_IPA >> 12) & 0x1FF)
        ldr     r2, =(GICV_BASE | S2_DEVICE_PAGE)
        mov     r3, #DESC_XN_HI
        bl      s2_set_entry
        ldr     r0, =s2_pte_gic
        mov     r1, #(((GUEST_GICC_IPA >> 12) & 0x1FF) + 1)
        ldr     r2, =((GICV_BASE + 0x1000) | S2_DEVICE_PAGE)
        mov     r3, #DESC_XN_HI
        bl      s2_set_entry
        @ level 2, RAM: the first 2 MiB through a page table ...
        ldr     r0, =s2_pmd_ram
        mov     r1, #((GUEST_IPA_BASE >> 21) & 0x1FF)
        ldr     r2, =(s2_pte_ram + DESC_TABLE)
        mov     r3, #0
        bl      s2_set_entry
        ldr     r0, =s2_pte_ram
        ldr     r1, =(GUEST_PA_BASE | S2_RAM_PAGE)
        mov     r2, #512
        bl      s2_fill_pages
        @ ... the next 2 MiB as one block
        ldr     r0, =s2_pmd_ram
        mov     r1, #(((GUEST_IPA_BASE >> 21) & 0x1FF) + 1)
        ldr     r2, =((GUEST_PA_BASE + 0x200000) | S2_RAM_BLOCK)
        mov     r3, #0
        bl      s2_set_entry
        @ VTTBR = root | VMID << 48
        ldr     r0, =s2_pgd
        str     r0, [r4, #VCPU_VTTBR]
        mov     r0, #(VMID_GUEST << 16)
        str     r0, [r4, #(VCPU_VTTBR + 4)]
        ldr     r0, =msg_stage2
        bl      uart_puts
        ldr     r0, =msg_vttbr
        ldr     r1, [r4, #(VCPU_VTTBR + 4)]
        bl      host_put_str_hex
        ldr     r0, [r4, #VCPU_VTTBR]
        bl      uart_puthex32
        bl      uart_newline
        pop     {r4, pc}
        .size   host_stage2_init, . - host_stage2_init

@ s2_set_entry(r0 = table, r1 = index, r2 = descriptor low word, r3 = high word)
        .global s2_set_entry
        .type   s2_set_entry, %function
s2_set_entry:
        add     r0, r0, r1, lsl #3
        strd    r2, r3, [r0]
        bx      lr
        .size   s2_set_entry, . - s2_set_entry

@ s2_fill_pages(r0 = level-3 table, r1 = first descriptor, r2 = count):
@ consecutive 4 KiB pages from index 0.
        .global s2_fill_pages
        .type   s2_fill_pages, %function
s2_fill_pages:
        mov     r3, #0
1:      str     r1, [r0], #4                @ low word: PA | attributes
        str     r3, [r0], #4                @ high word
        add     r1, r1, #0x1000
        subs    r2, r2, #1
        bne     1b
        bx      lr
        .size   s2_fill_pages, . - s2_fill_pages

@ ===========================================================================
@ The host's timer tick
@ ===========================================================================

@ host_arm_tick(r0 = vcpu): if the guest asked for a tick, start the
@ physical timer.  Called with IRQs off, right before entering the guest.
        .global host_arm_tick
        .type   host_arm_tick, %function
host_arm_tick:
        ldr     r1, [r0, #VCPU_TICK_ARM]
        cmp     r1, #0
        bxeq    lr
        mov     r1, #0
        str     r1, [r0, #VCPU_TICK_ARM]
        ldr     r1, =HOST_TICK_DELAY
        mcr     p15, 0, r1, c14, c2, 0      @ CNTP_TVAL
        mov     r1, #CNT_CTL_ENABLE
        mcr     p15, 0, r1, c14, c2, 1      @ CNTP_CTL: enabled, not masked
        isb
        bx      lr
        .size   host_arm_tick, . - host_arm_tick

@ host_vector_irq: IRQ from SVC mode (the host has IRQs on only in its run loop).
        .global host_vector_irq
        .type   host_vector_irq, %function
host_vector_irq:
        sub     lr, lr, #4
        push    {r0-r3, r12, lr}
        bl      irq_svc
        ldm     sp!, {r0-r3, r12, pc}^      @ return, CPSR from SPSR_irq
        .size   host_vector_irq, . - host_vector_irq

@ irq_svc(): acknowledge at the GIC CPU interface, handle, end of interrupt.
        .global irq_svc
        .type   irq_svc, %function
irq_svc:
        push    {r4, r5, r6, lr}
        ldr     r4, =GICC_BASE
        ldr     r5, [r4, #GICC_IAR]         @ acknowledge
        ubfx    r6, r5, #0, #10             @ INTID
        ldr     r0, =GIC_SPURIOUS
        cmp     r6, r0
        beq     2f
        cmp     r6, #HOST_TIMER_INTID
        bne     1f
        bl      host_timer_irq
        b       3f
1:      ldr     r0, =msg_unexpected_irq
        mov     r1, r6
        bl      host_put_str_hex
        bl      uart_newline
3:      str     r5, [r4, #GICC_EOIR]        @ end of interrupt
2:      pop     {r4, r5, r6, pc}
        .size   irq_svc, . - irq_svc

@ host_timer_irq(): stop the timer and deliver the tick the guest waits for.
        .global host_timer_irq
        .type   host_timer_irq, %function
host_timer_irq:
        push    {r4, lr}
        mov     r0, #0
        mcr     p15, 0, r0, c14, c2, 1      @ CNTP_CTL = 0: the IRQ line drops
        isb
        ldr     r0, =msg_timer_irq
        bl      uart_puts
        ldr     r4, =vcpu0
        ldr     r0, [r4, #VCPU_TICK_SLOT]
        cmp     r0, #0
        beq     1f
        bl      gpa_to_hva
        cmp     r0, #0
        beq     1f
        ldr     r1, [r4, #VCPU_TICK_RESUME]
        str     r1, [r0]                    @ the guest's wait loop now jumps on
        mov     r1, #0
        str     r1, [r4, #VCPU_TICK_SLOT]
1:      pop     {r4, pc}
        .size   host_timer_irq, . - host_timer_irq

@ ===========================================================================
@ Utilities
@ ===========================================================================

@ gpa_to_hva(r0 = IPA) -> r0 = host address of that guest byte, or 0 if the
@ IPA is not guest RAM.  The host runs with its MMU off: host address = PA.
        .global gpa_to_hva
        .type   gpa_to_hva, %function
gpa_to_hva:
        ldr     r1, =GUEST_IPA_BASE
        subs    r0, r0, r1
        blo     1f
        cmp     r0, #GUEST_RAM_SIZE
        bhs     1f
        ldr     r1, =GUEST_PA_BASE
        add     r0, r0, r1
        bx      lr
1:      mov     r0, #0
        bx      lr
        .size   gpa_to_hva, . - gpa_to_hva

@ host_put_guest_string(r0 = IPA): print a guest string (at most 120 bytes).
        .global host_put_guest_string
        .type   host_put_guest_string, %function
host_put_guest_string:
        push    {r4, r5, r6, lr}
        bl      gpa_to_hva
        movs    r4, r0
        ldreq   r0, =msg_bad_guest_pointer
        beq     3f
        mov     r5, #120
1:      ldrb    r0, [r4], #1
        cmp     r0, #0
        beq     2f
        bl      uart_putc
        subs    r5, r5, #1
        bne     1b
2:      pop     {r4, r5, r6, pc}
3:      bl      uart_puts
        pop     {r4, r5, r6, pc}
        .size   host_put_guest_string, . - host_put_guest_string

@ host_put_str_hex(r0 = string, r1 = value): string, then 8 hex digits.
        .global host_put_str_hex
        .type   host_put_str_hex, %function
host_put_str_hex:
        mov     r2, #8
        @ fall through
        .size   host_put_str_hex, . - host_put_str_hex

@ host_put_str_hexn(r0 = string, r1 = value, r2 = digits)
        .global host_put_str_hexn
        .type   host_put_str_hexn, %function
host_put_str_hexn:
        push    {r4, r5, r6, lr}
        mov     r4, r1
        mov     r5, r2
        bl      uart_puts
        mov     r0, r4
        mov     r1, r5
        bl      uart_puthex
        pop     {r4, r5, r6, pc}
        .size   host_put_str_hexn, . - host_put_str_hexn

@ host_put_reg_name(r0 = 0..12): "r0" .. "r12"
        .type   host_put_reg_name, %function
host_put_reg_name:
        push    {r4, lr}
        mov     r4, r0
        mov     r0, #'r'
        bl      uart_putc
        cmp     r4, #10
        blo     1f
        mov     r0, #'1'
        bl      uart_putc
        sub     r4, r4, #10
1:      add     r0, r4, #'0'
        bl      uart_putc
        pop     {r4, pc}
        .size   host_put_reg_name, . - host_put_reg_name

@ host_zero(r0 = address, r1 = bytes, a multiple of 4)
        .global host_zero
        .type   host_zero, %function
host_zero:
        mov     r2, #0
1:      subs    r1, r1, #4
        strhs   r2, [r0], #4
        bhi     1b
        bx      lr
        .size   host_zero, . - host_zero

@ ===========================================================================
@ Power off and panics
@ ===========================================================================

@ host_power_off(): PSCI SYSTEM_OFF.  Does not return.
        .global host_power_off
        .type   host_power_off, %function
host_power_off:
        ldr     r0, =msg_power_off
        bl      uart_puts
        ldr     r0, =PSCI_SYSTEM_OFF
        .global host_psci_system_off
host_psci_system_off:
        smc     #0
        b       .
        .size   host_power_off, . - host_power_off

        .type   host_vector_reset, %function
host_vector_reset:
        ldr     r0, =msg_host_reset
        b       host_panic
        .type   host_vector_undef, %function
host_vector_undef:
        ldr     r0, =msg_host_undef
        b       host_panic
        .type   host_vector_svc, %function
host_vector_svc:
        ldr     r0, =msg_host_svc
        b       host_panic
        .type   host_vector_pabt, %function
host_vector_pabt:
        ldr     r0, =msg_host_pabt
        b       host_panic
        .type   host_vector_dabt, %function
host_vector_dabt:
        ldr     r0, =msg_host_dabt
        b       host_panic
        .type   host_vector_unused, %function
host_vector_unused:
        ldr     r0, =msg_host_unused
        b       host_panic
        .type   host_vector_fiq, %function
host_vector_fiq:
        ldr     r0, =msg_host_fiq
        b       host_panic

@ host_panic(r0 = message): print it with the exception's LR, power off.
        .global host_panic
        .type   host_panic, %function
host_panic:
        mov     r4, lr
        bl      uart_puts
        ldr     r0, =msg_lr
        mov     r1, r4
        bl      host_put_str_hex
        bl      uart_newline
        b       host_power_off
        .size   host_panic, . - host_panic

        .ltorg

@ ===========================================================================
@ Messages
@ ===========================================================================
        .section .host.rodata, "a"
msg_host_hello:         .asciz  "host: hello from the host kernel (svc mode, mmu off)\n"
msg_stage2:             .asciz  "host: stage 2: ipa 40200000-405fffff -> pa 40400000, gicc 08010000 -> gicv 08040000, gicd 08000000 emulated\n"
msg_vttbr:              .asciz  "host: vcpu 0: vttbr="
msg_run_vcpu:           .asciz  "host: run vcpu pc="
msg_exit_hvc:           .asciz  "host: exit HVC imm="
msg_exit_wfi:           .asciz  "host: exit WFI"
msg_exit_dabt:          .asciz  "host: exit DABT"
msg_exit_iabt:          .asciz  "host: exit IABT"
msg_exit_smc:           .asciz  "host: exit SMC"
msg_exit_trap:          .asciz  "host: exit TRAP"
msg_exit_irq:           .asciz  "host: exit IRQ"
msg_exit_code:          .asciz  "host: exit code="
msg_r0:                 .asciz  " r0="
msg_hsr:                .asciz  " hsr="
msg_pc:                 .asciz  " pc="
msg_lr:                 .asciz  " lr="
msg_ipa:                .asciz  " ipa="
msg_size:               .asciz  " size="
msg_guest:              .asciz  "guest: "
msg_guest_done:         .asciz  "host: guest done, status="
msg_unknown_hc:         .asciz  "host: unknown hypercall, returning -1\n"
msg_tick_requested:     .asciz  "host: guest waits for a tick: arming the host timer\n"
msg_inject:             .asciz  "host: wfi: inject virtual irq 42, GICH_LR0="
msg_wfi_forever:        .asciz  "host: wfi: no virtual interrupt enabled, the guest would sleep forever\n"
msg_mmio_read:          .asciz  "host: mmio read"
msg_mmio_write:         .asciz  "host: mmio write"
msg_mmio_no_syndrome:   .asciz  "host: stage-2 abort without a usable syndrome\n"
msg_mmio_unmapped:      .asciz  "host: stage-2 abort outside guest RAM and devices, ipa="
msg_unhandled_exit:     .asciz  "host: unhandled exit, stopping the guest\n"
msg_timer_irq:          .asciz  "host: timer irq\n"
msg_unexpected_irq:     .asciz  "host: unexpected irq "
msg_bad_guest_pointer:  .asciz  "<bad guest pointer>"
msg_power_off:          .asciz  "host: psci system off\n"
msg_host_reset:         .asciz  "host: panic: reset vector"
msg_host_undef:         .asciz  "host: panic: undefined instruction"
msg_host_svc:           .asciz  "host: panic: svc"
msg_host_pabt:          .asciz  "host: panic: prefetch abort"
msg_host_dabt:          .asciz  "host: panic: data abort"
msg_host_unused:        .asciz  "host: panic: vector 0x14"
msg_host_fiq:           .asciz  "host: panic: fiq"

@ ===========================================================================
@ The VCPU (struct vcpu, layout in defs.inc)
@ ===========================================================================
        .section .host.data, "aw"
        .align  3
        .global vcpu0
        .type   vcpu0, %object
vcpu0:
        .space  VCPU_SIZE
        .size   vcpu0, . - vcpu0

@ ===========================================================================
@ Stacks and stage-2 tables
@ ===========================================================================
        .section .host.bss, "aw", %nobits
        .align  12
        .global s2_tables
s2_tables:
        .global s2_pgd
s2_pgd:                                     @ level 1: 4 entries used (32 bytes)
        .space  4096
        .global s2_pmd_low
s2_pmd_low:                                 @ level 2: IPA 0x00000000-0x3FFFFFFF
        .space  4096
        .global s2_pmd_ram
s2_pmd_ram:                                 @ level 2: IPA 0x40000000-0x7FFFFFFF
        .space  4096
        .global s2_pte_gic
s2_pte_gic:                                 @ level 3: IPA 0x08000000-0x081FFFFF
        .space  4096
        .global s2_pte_ram
s2_pte_ram:                                 @ level 3: IPA 0x40200000-0x403FFFFF
        .space  4096
        .equ    S2_TABLES_SIZE, . - s2_tables

        .align  3
host_und_stack:
        .space  512
host_und_stack_top:
host_abt_stack:
        .space  512
host_abt_stack_top:
host_irq_stack:
        .space  1024
host_irq_stack_top:
host_svc_stack:
        .space  4096
        .global host_svc_stack_top
host_svc_stack_top:
