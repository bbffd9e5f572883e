@ A timer tick in the host (ARM ARM B8 generic timer, B1.8 IRQ
@ exception; GICv2 IHI 0048B 3.2 interrupt handling): Non-secure SVC code
@ with HCR.IMO clear programs the physical timer (PPI 30) for a periodic
@ tick and waits for NTICKS ticks, each with the usual idle sequence:
@ CPSID I, WFI, CPSIE I; the IRQ is taken in the window after CPSIE.
@ The IRQ handler acknowledges through GICC_IAR, moves the compare value far
@ away through CNTP_TVAL (which lowers the timer's level output), completes
@ through GICC_EOIR and only then sets the next tick, printing what the timer
@ and the GIC report at each step.  Nothing printed depends on how fast the
@ machine runs: QEMU's counter follows the host clock.

	.include "lib.inc"
	.include "irq.inc"

	.equ NTICKS, 4
	.equ TICK_INTERVAL, 62500        @ 1 ms at 62.5 MHz
	.equ TIMER_PRIO, 0xa0
	.equ FAR_AWAY, 0x7fffffff        @ 34 s: a compare value no run reaches

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, tick_vectors
	mcr p15, 0, r0, c12, c0, 0
	GIC_ENABLE INTID_PTIMER, TIMER_PRIO
	GIC_ON
	MOV32 r0, tick_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	CASE "done"
	PUT_WORD "TICKS", ticks
	CNTP_CTL_R r4
	PUTKV "CTL", r4
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND", r4
	MMIO_READ r4, GICD_BASE, GICD_ISACTIVER
	PUTKV "ACTIVE", r4
	b finish

@ Non-secure SVC, IRQs masked on entry.
tick_guest:
	MOV32 r4, TICK_INTERVAL
	CNTP_TVAL_W r4
	mov r4, #1
	CNTP_CTL_W r4
1:	MOV32 r0, ticks
	ldr r0, [r0]
	cmp r0, #NTICKS
	bhs 2f
	wfi
	cpsie i
	.global tick_window
tick_window:
	nop
	nop
	nop
	nop
	.global tick_window_end
tick_window_end:
	cpsid i
	b 1b
2:	mov r4, #0
	CNTP_CTL_W r4
	GUEST_RETURN

	PL1_VECTORS_IRQ tick_vectors, tick_irq

@ IRQ mode: print the tick's case, then acknowledge, re-arm, complete.
tick_irq:
	push {r0-r12, lr}
	mov r5, lr
	mrs r6, spsr
	mrs r7, cpsr
	MOV32 r0, ticks
	ldr r0, [r0]
	CASE_N "tick"
	PUTKV "LR", r5
	PUTKV "SPSR", r6
	PUTKV "CPSR", r7
	MMIO_READ r8, GICC_BASE, GICC_IAR
	PUTKV "IAR", r8
	CNTP_CTL_R r4
	PUTKV "CTL", r4
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND", r4
	MMIO_READ r4, GICD_BASE, GICD_ISACTIVER
	PUTKV "ACTIVE", r4
	MMIO_READ r4, GICC_BASE, GICC_RPR
	PUTKV "RPR", r4
	MMIO_READ r4, GICC_BASE, GICC_IAR
	PUTKV "IAR_AGAIN", r4
	MOV32 r4, FAR_AWAY
	CNTP_TVAL_W r4
	isb
	CNTP_CTL_R r4
	PUTKV "CTL_REARMED", r4
	MMIO_READ r4, GICD_BASE, GICD_ISPENDR
	PUTKV "PEND_REARMED", r4
	MMIO_READ r4, GICC_BASE, GICC_HPPIR
	PUTKV "HPPIR", r4
	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r8
	MMIO_READ r4, GICC_BASE, GICC_RPR
	PUTKV "RPR_EOI", r4
	MMIO_READ r4, GICD_BASE, GICD_ISACTIVER
	PUTKV "ACTIVE_EOI", r4
	MOV32 r4, TICK_INTERVAL
	CNTP_TVAL_W r4
	INC_WORD ticks
	pop {r0-r12, lr}
	subs pc, lr, #4

	.data
	.balign 4
ticks:	.word 0
