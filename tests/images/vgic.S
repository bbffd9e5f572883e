@ A virtual interrupt through the GIC virtualization extensions (ARM IHI
@ 0048B chapter 5; HCR.IMO in ARM ARM B4.1.65, virtual IRQs in B1.8).
@ Hyp loads GICH_LR0 with virtual ID VID, pending, Group 0, EOI=1; the
@ Non-secure SVC guest (HCR.IMO set) enables its GICV interface and unmasks
@ IRQs, takes the virtual IRQ at VBAR+0x18, acknowledges it through GICV_IAR
@ and completes it through GICV_EOIR.  The list register then holds no
@ interrupt but asks for EOI maintenance, so GICH_MISR.EOI and GICH_EISR0
@ bit 0 are set and the maintenance interrupt (PPI 25) is taken to Hyp at
@ HVBAR+0x18 while the guest is still in its IRQ handler with IRQs masked.
@ Hyp empties the list register, which ends the maintenance request.

	.include "lib.inc"
	.include "irq.inc"

	.equ VID, 0x2a
	.equ VPRIO, 0xa0
	.equ MAINT_PRIO, 0x80
	.equ LR_VALUE, LR_PENDING | (VPRIO >> 3) << LR_PRIO_SHIFT | LR_EOI | VID

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, vgic_hyp_vectors
	mcr p15, 4, r0, c12, c0, 0
	MOV32 r0, vgic_guest_vectors
	mcr p15, 0, r0, c12, c0, 0
	GIC_ENABLE INTID_MAINT, MAINT_PRIO
	GIC_ON
	MOV32 r0, HCR_IMO
	mcr p15, 4, r0, c1, c1, 0
	isb

	@ GICH_LR4: the GIC has four list registers (GICH_VTR.ListRegs = 3); the
	@ locations of the others are reserved, RAZ/WI.
	CASE "lr4"
	MMIO_WRITE GICH_BASE, GICH_LR0 + 16, LR_VALUE
	MMIO_READ r4, GICH_BASE, GICH_LR0 + 16
	PUTKV "LR4", r4
	MMIO_WRITE GICH_BASE, GICH_LR0 + 16, 0

	CASE "inject"
	MMIO_READ r4, GICH_BASE, GICH_VTR
	PUTKV "VTR", r4
	MMIO_READ r4, GICH_BASE, GICH_ELRSR0
	PUTKV "ELRSR_EMPTY", r4
	MMIO_WRITE GICH_BASE, GICH_HCR, 1
	MMIO_WRITE GICH_BASE, GICH_LR0, LR_VALUE
	MMIO_READ r4, GICH_BASE, GICH_LR0
	PUTKV "LR0", r4
	MMIO_READ r4, GICH_BASE, GICH_ELRSR0
	PUTKV "ELRSR", r4
	MMIO_READ r4, GICH_BASE, GICH_MISR
	PUTKV "MISR", r4
	MMIO_READ r4, GICH_BASE, GICH_EISR0
	PUTKV "EISR", r4
	MOV32 r0, vgic_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest

	CASE "after"
	PUT_WORD "MAINT_TAKEN", maint_taken
	MMIO_READ r4, GICH_BASE, GICH_LR0
	PUTKV "LR0", r4
	MMIO_READ r4, GICH_BASE, GICH_MISR
	PUTKV "MISR", r4
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND", r4
	MMIO_READ r4, GICD_BASE, GICD_ISACTIVER
	PUTKV "ACTIVE", r4
	MMIO_WRITE GICH_BASE, GICH_HCR, 0
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 0
	isb
	b finish

@ Non-secure SVC, IRQs masked on entry: enable the virtual CPU interface,
@ then unmask.
vgic_guest:
	MMIO_WRITE GICV_BASE, GICC_PMR, 0xf8
	MMIO_WRITE GICV_BASE, GICC_CTLR, 1
	cpsie i
	.global virq_window
virq_window:
	nop
	nop
	nop
	nop
	.global virq_window_end
virq_window_end:
	GUEST_RETURN

	PL1_VECTORS_IRQ vgic_guest_vectors, guest_irq

@ The guest's IRQ handler (VBAR+0x18).
guest_irq:
	push {r0-r12, lr}
	mov r5, lr
	mrs r6, spsr
	mrs r7, cpsr
	CASE "guest_irq"
	PUTKV "LR", r5
	PUTKV "SPSR", r6
	PUTKV "CPSR", r7
	MMIO_READ r8, GICV_BASE, GICC_IAR
	PUTKV "IAR", r8
	MMIO_READ r4, GICV_BASE, GICC_RPR
	PUTKV "RPR", r4
	MMIO_READ r4, GICV_BASE, GICC_IAR
	PUTKV "IAR_AGAIN", r4
	MMIO_READ r4, GICH_BASE, GICH_LR0
	PUTKV "LR0_ACTIVE", r4
	MMIO_READ r4, GICH_BASE, GICH_APR
	PUTKV "APR", r4
	MMIO_WRITE_REG GICV_BASE, GICC_EOIR, r8
	.global maint_sent
maint_sent:
	isb
	.global maint_window
maint_window:
	nop
	nop
	nop
	nop
	.global maint_window_end
maint_window_end:
	CASE "guest_eoi"
	MMIO_READ r4, GICV_BASE, GICC_RPR
	PUTKV "RPR", r4
	pop {r0-r12, lr}
	subs pc, lr, #4

	HYP_VECTORS_IRQ vgic_hyp_vectors, hyp_irq

@ HVBAR+0x18: the maintenance interrupt.  Print the entry state and the
@ maintenance status, empty LR0, complete.
hyp_irq:
	push {r0-r12, lr}
	mrs r5, ELR_hyp
	mrs r6, SPSR
	mrs r7, cpsr
	CASE "maintenance"
	mov r4, #0x18
	PUTKV "VEC", r4
	PUTKV "ELR", r5
	PUTKV "SPSR", r6
	PUTKV "CPSR", r7
	MMIO_READ r8, GICC_BASE, GICC_IAR
	PUTKV "IAR", r8
	MMIO_READ r4, GICH_BASE, GICH_MISR
	PUTKV "MISR", r4
	MMIO_READ r4, GICH_BASE, GICH_EISR0
	PUTKV "EISR", r4
	MMIO_READ r4, GICH_BASE, GICH_ELRSR0
	PUTKV "ELRSR", r4
	MMIO_READ r4, GICH_BASE, GICH_LR0
	PUTKV "LR0", r4
	MMIO_READ r4, GICH_BASE, GICH_APR
	PUTKV "APR", r4
	MMIO_WRITE GICH_BASE, GICH_LR0, 0
	MMIO_READ r4, GICH_BASE, GICH_MISR
	PUTKV "MISR_CLEARED", r4
	MMIO_READ r4, GICH_BASE, GICH_EISR0
	PUTKV "EISR_CLEARED", r4
	MMIO_READ r4, GICH_BASE, GICH_ELRSR0
	PUTKV "ELRSR_CLEARED", r4
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r8
	INC_WORD maint_taken
	pop {r0-r12, lr}
	eret

	.data
	.balign 4
maint_taken:	.word 0
