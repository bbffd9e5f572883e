@ UART echo through a hypervisor call, for record/replay and reverse
@ execution.  Hyp code runs a Non-secure SVC guest that spins, counting
@ iterations in r5 and storing the count into one of 64 KiB of table
@ (a different 1 KiB page each time, PL011 RXFE polled each turn, DDI 0183
@ 3.3.3), until a character arrives.  It then passes the character (r0) and
@ the count (r1) to Hyp with HVC #1, whose handler keeps a running sum
@ (sum = sum * 33 + char + count) and returns it in r0, and prints
@ "<char>:<count>:<sum>".  After 'q' it returns to Hyp, which prints
@ SUM=<sum> and powers off.  The count printed depends on the instruction
@ at which each character arrived, so the output fixes the input timing.

	.include "lib.inc"

	.equ UART_DR, 0x00
	.equ UART_FR, 0x18
	.equ FR_RXFE, 0x10
	.equ TABLE, 0x40100000

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, echo_hyp_vectors
	mcr p15, 4, r0, c12, c0, 0
	STR_ADDR r0, "ECHO"
	bl print_line
	MOV32 r0, echo_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	MOV32 r4, hyp_sum
	ldr r4, [r4]
	PUTKV "SUM", r4
	b finish

	.global echo_guest
echo_guest:
	mov r5, #0
	MOV32 r7, UART_BASE
	MOV32 r8, TABLE
	.global echo_wait
echo_wait:
	add r5, r5, #1
	and r0, r5, #63
	str r5, [r8, r0, lsl #10]
	ldr r0, [r7, #UART_FR]
	tst r0, #FR_RXFE
	bne echo_wait
	ldr r4, [r7, #UART_DR]
	and r4, r4, #0xff
	mov r0, r4
	mov r1, r5
	.global echo_hvc
echo_hvc:
	hvc #1
	.global echo_after_hvc
echo_after_hvc:
	mov r6, r0
	mov r0, r4
	bl uart_putc
	mov r0, #':'
	bl uart_putc
	mov r0, r5
	bl print_hex
	mov r0, #':'
	bl uart_putc
	mov r0, r6
	bl print_hex
	mov r0, #'\n'
	bl uart_putc
	cmp r4, #'q'
	bne echo_wait
	GUEST_RETURN

@ Hyp vectors: the trap entry (0x14) takes HVC #1; GUEST_RETURN goes on to
@ lib.S's table, which returns to run_guest's caller.
	.balign 32
echo_hyp_vectors:
	b .
	b .
	b .
	b .
	b .
	b echo_hyp_trap
	b .
	b .
	.global echo_hyp_trap
echo_hyp_trap:
	push {r2, r3}
	mrc p15, 4, r2, c5, c2, 0
	ubfx r3, r2, #0, #16
	movw r2, #GUEST_DONE
	cmp r3, r2
	pop {r2, r3}
	beq hyp_vectors + 0x14
	push {r2, r3}
	MOV32 r2, hyp_sum
	ldr r3, [r2]
	add r3, r3, r3, lsl #5
	add r3, r3, r0
	add r3, r3, r1
	.global echo_sum_store
echo_sum_store:
	str r3, [r2]
	mov r0, r3
	pop {r2, r3}
	eret

	.data
	.balign 4
	.global hyp_sum
hyp_sum:
	.word 0
