@ Many interrupt exits: a hypervisor's periodic tick forwarded to a guest.
@ The physical timer (PPI 30) fires every PERIOD ticks while Non-secure SVC
@ code computes with HCR.IMO set, so each tick is taken to Hyp at
@ HVBAR+0x18 (ARM ARM B1.8).  Hyp re-arms the timer and injects virtual
@ ID VID through GICH_LR0 with EOI=1 (ARM IHI 0048B 5.3); the guest
@ takes the virtual IRQ, acknowledges and completes it through GICV, and
@ its completion raises the maintenance interrupt (PPI 25), another exit
@ to Hyp, where Hyp empties LR0.  The guest stops after NVIRQ virtual
@ interrupts, masking IRQs as it returns from the last one (ticks still
@ exit to Hyp; their virtual interrupts stay pending).  Only the counts are printed: how many instructions run
@ between ticks depends on the machine's speed on QEMU.

	.include "lib.inc"
	.include "irq.inc"

	.equ NVIRQ, 100
	.equ PERIOD, 2000
	.equ VID, 0x2b
	.equ LR_VALUE, LR_PENDING | (0xa0 >> 3) << LR_PRIO_SHIFT | LR_EOI | VID

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, storm_hyp_vectors
	mcr p15, 4, r0, c12, c0, 0
	MOV32 r0, storm_guest_vectors
	mcr p15, 0, r0, c12, c0, 0
	GIC_ENABLE INTID_MAINT, 0x80
	GIC_ENABLE INTID_PTIMER, 0xa0
	GIC_ON
	MMIO_WRITE GICH_BASE, GICH_HCR, 1
	MOV32 r0, HCR_IMO
	mcr p15, 4, r0, c1, c1, 0
	isb
	MOV32 r0, PERIOD
	CNTP_TVAL_W r0
	mov r0, #1
	CNTP_CTL_W r0
	MOV32 r0, storm_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	mov r0, #0
	CNTP_CTL_W r0
	MMIO_WRITE GICH_BASE, GICH_HCR, 0
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 0
	isb
	CASE "storm"
	PUT_WORD "GUEST_IRQS", guest_irqs
	PUT_WORD "MAINT", maint_irqs
	PUT_WORD "WRONG_IDS", wrong_ids
	b finish

@ Non-secure SVC: enable the virtual CPU interface, unmask, compute until
@ NVIRQ virtual interrupts have been handled.
storm_guest:
	MMIO_WRITE GICV_BASE, GICC_PMR, 0xf8
	MMIO_WRITE GICV_BASE, GICC_CTLR, 1
	cpsie i
	mov r4, #1
	MOV32 r6, guest_irqs
1:	add r4, r4, r4, lsl #3
	eor r4, r4, r4, lsr #7
	add r4, r4, #0x55
	ldr r5, [r6]
	cmp r5, #NVIRQ
	blo 1b
	cpsid i
	GUEST_RETURN

	PL1_VECTORS_IRQ storm_guest_vectors, guest_irq

guest_irq:
	push {r0-r12, lr}
	MMIO_READ r8, GICV_BASE, GICC_IAR
	cmp r8, #VID
	beq 1f
	INC_WORD wrong_ids
1:	INC_WORD guest_irqs
	@ The last one: return with IRQs masked, so that no tick that is
	@ already due can deliver one more before the loop sees the count.
	cmp r1, #NVIRQ
	blo 2f
	mrs r0, spsr
	orr r0, r0, #PSR_I
	msr spsr_fsxc, r0
2:	MMIO_WRITE_REG GICV_BASE, GICC_EOIR, r8
	pop {r0-r12, lr}
	subs pc, lr, #4

	HYP_VECTORS_IRQ storm_hyp_vectors, hyp_irq

@ HVBAR+0x18: a tick (inject, re-arm) or a maintenance interrupt (empty LR0).
hyp_irq:
	push {r0-r12, lr}
	MMIO_READ r8, GICC_BASE, GICC_IAR
	cmp r8, #INTID_MAINT
	beq 2f
	cmp r8, #INTID_PTIMER
	bne 3f
	MOV32 r0, PERIOD
	CNTP_TVAL_W r0
	@ Inject only into an empty LR0 (GICH_ELRSR0 bit 0).
	MMIO_READ r0, GICH_BASE, GICH_ELRSR0
	tst r0, #1
	beq 3f
	MMIO_WRITE GICH_BASE, GICH_LR0, LR_VALUE
	b 3f
2:	MMIO_WRITE GICH_BASE, GICH_LR0, 0
	INC_WORD maint_irqs
3:	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r8
	pop {r0-r12, lr}
	eret

	.data
	.balign 4
guest_irqs:	.word 0
maint_irqs:	.word 0
wrong_ids:	.word 0
