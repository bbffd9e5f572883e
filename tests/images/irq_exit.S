@ Physical IRQs and Hyp mode (ARM ARM B1.8 asynchronous exception
@ routing and masking, the Hyp vector table; HCR.IMO in B4.1.65):
@ the physical timer (PPI 30) fires while Non-secure SVC code runs with
@ HCR.IMO set.  The IRQ is taken to Hyp at HVBAR+0x18 whatever the guest's
@ CPSR.I says; the Hyp handler prints VEC, ELR (ELR_hyp), SPSR (SPSR_hyp)
@ and CPSR (HSR is UNKNOWN for an IRQ), acknowledges the interrupt, turns
@ the timer off, completes the interrupt and returns.  Then the same IRQ
@ pending while in Hyp, with and without IMO: CPSR.I holds it until Hyp
@ unmasks, and then it is taken to Hyp.

	.include "lib.inc"
	.include "irq.inc"

	.equ TIMER_PRIO, 0xa0
	.equ WFI_DELAY, 625000           @ 10 ms at 62.5 MHz

.macro TIMER_FIRED
	mov r0, #0
	CNTP_TVAL_W r0
	mov r0, #1
	CNTP_CTL_W r0
	isb
.endm

.macro SET_HCR value
	MOV32 r0, \value
	mcr p15, 4, r0, c1, c1, 0
	isb
.endm

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, exit_vectors
	mcr p15, 4, r0, c12, c0, 0
	GIC_ENABLE INTID_PTIMER, TIMER_PRIO
	GIC_ON

	@ The timer has fired before the guest is entered, with its IRQs masked.
	CASE "imo_masked"
	SET_HCR HCR_IMO
	TIMER_FIRED
	MOV32 r0, masked_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest

	@ The same with the guest's IRQs unmasked: still Hyp, not VBAR+0x18.
	CASE "imo_unmasked"
	TIMER_FIRED
	MOV32 r0, unmasked_guest
	mov r1, #MODE_SVC | PSR_A | PSR_F
	bl run_guest

	@ The guest arms the timer and waits with WFI, IRQs masked.
	CASE "imo_wfi"
	MOV32 r0, wfi_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest

	@ Pending in Hyp with IMO set: taken only once Hyp clears CPSR.I.
	CASE "hyp_imo"
	TIMER_FIRED
	MMIO_READ r4, GICC_BASE, GICC_HPPIR
	PUTKV "HPPIR", r4
	PUT_WORD "TAKEN", taken
	cpsie i
	.global hyp_imo_window
hyp_imo_window:
	nop
	nop
	nop
	nop
	.global hyp_imo_window_end
hyp_imo_window_end:
	cpsid i
	PUT_WORD "TAKEN_AFTER", taken

	@ Pending in Hyp with IMO clear: taken to Hyp all the same, since in
	@ Hyp mode every physical IRQ routes to Hyp (TakePhysicalIRQException:
	@ route_to_hyp includes CPSR.M == Hyp) and only CPSR.I masks it.
	CASE "hyp_no_imo"
	SET_HCR 0
	TIMER_FIRED
	cpsie i
	.global hyp_no_imo_window
hyp_no_imo_window:
	nop
	nop
	nop
	nop
	.global hyp_no_imo_window_end
hyp_no_imo_window_end:
	cpsid i
	PUT_WORD "TAKEN", taken
	MMIO_READ r4, GICC_BASE, GICC_HPPIR
	PUTKV "HPPIR", r4
	mov r0, #0
	CNTP_CTL_W r0
	isb
	MMIO_READ r4, GICC_BASE, GICC_HPPIR
	PUTKV "HPPIR_OFF", r4
	b finish

masked_guest:
	.global masked_window
masked_window:
	nop
	nop
	nop
	nop
	.global masked_window_end
masked_window_end:
	GUEST_RETURN

unmasked_guest:
	.global unmasked_window
unmasked_window:
	nop
	nop
	nop
	nop
	.global unmasked_window_end
unmasked_window_end:
	GUEST_RETURN

wfi_guest:
	MOV32 r0, WFI_DELAY
	CNTP_TVAL_W r0
	mov r0, #1
	CNTP_CTL_W r0
	isb
	.global wfi_insn
wfi_insn:
	wfi
	GUEST_RETURN

	HYP_VECTORS_IRQ exit_vectors, hyp_irq

@ HVBAR+0x18: print the entry state, acknowledge, stop the timer, complete.
hyp_irq:
	push {r0-r12, lr}
	mrs r5, ELR_hyp
	mrs r6, SPSR
	mrs r7, cpsr
	mov r4, #0x18
	PUTKV "VEC", r4
	PUTKV "ELR", r5
	PUTKV "SPSR", r6
	PUTKV "CPSR", r7
	MMIO_READ r8, GICC_BASE, GICC_IAR
	PUTKV "IAR", r8
	mov r0, #0
	CNTP_CTL_W r0
	isb
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r8
	INC_WORD taken
	pop {r0-r12, lr}
	eret

	.data
	.balign 4
taken:	.word 0
