@ PL011 receive (ARM DDI 0183: UARTFR.RXFE, the receive interrupt UARTRXINTR):
@ Non-secure SVC code echoes the characters it reads from the UART.  The
@ first line is read by polling FR.RXFE; the second with the receive
@ interrupt (UARTIMSC.RXIM, SPI 1 = INTID 33 on QEMU virt): the code idles
@ with CPSID I, WFI, CPSIE I and the IRQ handler drains the receive FIFO.
@ After each line it prints how many characters it read; after the second,
@ the interrupt ID the handler acknowledged and the raw and masked
@ interrupt status.  Nothing printed depends on when input arrives.

	.include "lib.inc"
	.include "irq.inc"

	.equ UART_PRIO, 0xa0

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, echo_vectors
	mcr p15, 0, r0, c12, c0, 0
	GIC_ENABLE INTID_UART, UART_PRIO
	GIC_ON
	MOV32 r0, echo_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	b finish

@ Non-secure SVC, IRQs masked.
echo_guest:
	CASE "poll"
	mov r5, #0
1:	MMIO_READ r0, UART_BASE, UART_FR
	tst r0, #UART_FR_RXFE
	bne 1b
	MMIO_READ r4, UART_BASE, UART_DR
	and r4, r4, #0xff
	mov r0, r4
	bl uart_putc
	add r5, r5, #1
	cmp r4, #'\n'
	bne 1b
	PUTKV "CHARS", r5

	CASE "irq"
	MMIO_WRITE UART_BASE, UART_IMSC, UART_INT_RX
2:	MOV32 r0, line_done
	ldr r0, [r0]
	cmp r0, #0
	bne 3f
	wfi
	cpsie i
	nop
	cpsid i
	b 2b
3:	MMIO_WRITE UART_BASE, UART_IMSC, 0
	PUT_WORD "CHARS", irq_chars
	PUT_WORD "IAR", first_iar
	MMIO_READ r4, UART_BASE, UART_RIS
	and r4, r4, #UART_INT_RX
	PUTKV "RIS_RX", r4
	MMIO_READ r4, UART_BASE, UART_MIS
	PUTKV "MIS", r4
	GUEST_RETURN

	PL1_VECTORS_IRQ echo_vectors, echo_irq

@ IRQ mode: acknowledge, echo every character in the FIFO, complete.  At
@ the newline the line is done and the receive interrupt is masked, so that
@ characters after it cannot keep the level-sensitive IRQ asserted.
echo_irq:
	push {r0-r12, lr}
	MMIO_READ r8, GICC_BASE, GICC_IAR
	MOV32 r0, first_iar
	ldr r1, [r0]
	cmp r1, #0
	streq r8, [r0]
1:	MOV32 r0, line_done
	ldr r0, [r0]
	cmp r0, #0
	bne 2f
	MMIO_READ r0, UART_BASE, UART_FR
	tst r0, #UART_FR_RXFE
	bne 2f
	MMIO_READ r4, UART_BASE, UART_DR
	and r4, r4, #0xff
	mov r0, r4
	bl uart_putc
	INC_WORD irq_chars
	cmp r4, #'\n'
	bne 1b
	MOV32 r0, line_done
	mov r1, #1
	str r1, [r0]
	MMIO_WRITE UART_BASE, UART_IMSC, 0
2:	MMIO_WRITE_REG GICC_BASE, GICC_EOIR, r8
	pop {r0-r12, lr}
	subs pc, lr, #4

	.data
	.balign 4
line_done:	.word 0
irq_chars:	.word 0
first_iar:	.word 0
