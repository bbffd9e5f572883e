@ Software-generated interrupts to this CPU through GICD_SGIR (ARM IHI
@ 0048B 4.3): TargetListFilter 0b10 (this CPU only) and 0b00 with this
@ CPU's bit in CPUTargetList make the SGI pending, with this CPU as its
@ source; 0b01 (every other CPU) and an empty target list make nothing
@ pending on a uniprocessor.  Hyp polls with IRQs masked: the pending
@ state in GICD_ISPENDR0 and GICD_SPENDSGIRn, GICC_HPPIR, then GICC_IAR,
@ whose CPUID field [12:10] names the source CPU, the active state, and
@ completion through GICC_EOIR.  Then priorities (a pending SGI that cannot
@ preempt the running priority is not acknowledged) and grouping (a Group 1
@ SGI is not forwarded while Group 1 is disabled).  Last, Non-secure SVC
@ code sends an SGI to itself with IRQs unmasked and takes it at VBAR+0x18.

	.include "lib.inc"
	.include "irq.inc"

	.equ SGI_PRIO, 0x90
	.equ SGIR_SELF, 2 << 24
	.equ SGIR_OTHERS, 1 << 24
	.equ SGIR_LIST_CPU0, 1 << 16

@ Send GICD_SGIR = \value and print what the GIC shows before and after
@ the acknowledge.
.macro SGI_CASE name, value
	CASE "\name"
	MMIO_WRITE GICD_BASE, GICD_SGIR, \value
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND", r4
	MMIO_READ r4, GICD_BASE, GICD_SPENDSGIR + 4
	PUTKV "SPENDSGIR1", r4
	MMIO_READ r4, GICC_BASE, GICC_HPPIR
	PUTKV "HPPIR", r4
	bl ack_and_complete
.endm

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, sgi_vectors
	mcr p15, 0, r0, c12, c0, 0
	@ SGI priorities, and enables (whether SGIs can be disabled at all is
	@ IMPLEMENTATION DEFINED, IHI 0048B GICD_ISENABLERn).
	MOV32 r12, GICD_BASE + GICD_IPRIORITYR
	MOV32 r1, SGI_PRIO * 0x01010101
	str r1, [r12]
	str r1, [r12, #4]
	str r1, [r12, #8]
	str r1, [r12, #12]
	MMIO_WRITE GICD_BASE, GICD_ISENABLER, 0xffff
	MMIO_READ r4, GICD_BASE, GICD_ISENABLER
	CASE "enabled"
	PUTKV "ENABLER0", r4
	GIC_ON

	SGI_CASE "self", SGIR_SELF | 5
	SGI_CASE "list", SGIR_LIST_CPU0 | 6
	SGI_CASE "others", SGIR_OTHERS | 7
	SGI_CASE "empty_list", 4

	@ Two SGIs, the later one at a higher priority (lower value): IAR
	@ returns the higher priority first.
	CASE "priority"
	MOV32 r12, GICD_BASE + GICD_IPRIORITYR + 4
	mov r0, #0x40
	strb r0, [r12, #1]
	MMIO_WRITE GICD_BASE, GICD_SGIR, SGIR_SELF | 4
	MMIO_WRITE GICD_BASE, GICD_SGIR, SGIR_SELF | 5
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND", r4
	MMIO_READ r5, GICC_BASE, GICC_IAR
	PUTKV "IAR_FIRST", r5
	MMIO_READ r4, GICC_BASE, GICC_RPR
	PUTKV "RPR", r4
	MMIO_READ r6, GICC_BASE, GICC_IAR
	PUTKV "IAR_SECOND", r6
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r5
	MMIO_READ r6, GICC_BASE, GICC_IAR
	PUTKV "IAR_AFTER_EOI", r6
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r6
	MMIO_READ r4, GICD_BASE, GICD_ISACTIVER
	PUTKV "ACTIVE", r4

	@ A Group 1 SGI of higher priority while Group 1 is disabled in
	@ GICD_CTLR: the distributor does not forward it (IHI 0048B, interrupt grouping),
	@ so the Group 0 SGI is the highest priority pending interrupt.
	CASE "group1_disabled"
	MMIO_WRITE GICD_BASE, GICD_IGROUPR, 1 << 10
	MOV32 r12, GICD_BASE + GICD_IPRIORITYR + 8
	mov r0, #0x20
	strb r0, [r12, #2]
	MMIO_WRITE GICD_BASE, GICD_SGIR, SGIR_SELF | 10
	MMIO_WRITE GICD_BASE, GICD_SGIR, SGIR_SELF | 11
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND", r4
	MMIO_READ r4, GICC_BASE, GICC_HPPIR
	PUTKV "HPPIR", r4
	MMIO_READ r5, GICC_BASE, GICC_IAR
	PUTKV "IAR", r5
	MOV32 r0, SPURIOUS
	cmp r5, r0
	beq 1f
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r5
1:	MMIO_WRITE GICD_BASE, GICD_CPENDSGIR + 8, 0x01010000
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND_CLEARED", r4
	MMIO_WRITE GICD_BASE, GICD_IGROUPR, 0

	@ Taken as an IRQ by Non-secure SVC code (HCR.IMO clear).
	CASE "irq"
	MOV32 r0, sgi_guest
	mov r1, #MODE_SVC | PSR_A | PSR_F
	bl run_guest
	b finish

@ ack_and_complete: print IAR, the active state and the pending state
@ after acknowledging; complete a real interrupt; print the active state
@ after completion.
ack_and_complete:
	push {r4, r5, lr}
	MMIO_READ r5, GICC_BASE, GICC_IAR
	PUTKV "IAR", r5
	MMIO_READ r4, GICD_BASE, GICD_ISACTIVER
	PUTKV "ACTIVE", r4
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND_ACKED", r4
	MOV32 r0, SPURIOUS
	cmp r5, r0
	beq 1f
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r5
	MMIO_READ r4, GICD_BASE, GICD_ISACTIVER
	PUTKV "ACTIVE_EOI", r4
1:	pop {r4, r5, pc}

sgi_guest:
	MMIO_WRITE GICD_BASE, GICD_SGIR, SGIR_SELF | 9
	.global sgi_sent
sgi_sent:
	isb
	.global sgi_window
sgi_window:
	nop
	nop
	nop
	nop
	.global sgi_window_end
sgi_window_end:
	GUEST_RETURN

	PL1_VECTORS_IRQ sgi_vectors, sgi_irq

sgi_irq:
	push {r0-r12, lr}
	mov r5, lr
	mrs r6, spsr
	mrs r7, cpsr
	PUTKV "LR", r5
	PUTKV "SPSR", r6
	PUTKV "CPSR", r7
	MMIO_READ r8, GICC_BASE, GICC_IAR
	PUTKV "IAR", r8
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r8
	pop {r0-r12, lr}
	subs pc, lr, #4
