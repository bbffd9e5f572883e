@ Prints "JUMPING" and branches to 0x20000000, where the virt map has no
@ RAM and no device, with HVBAR still at its reset value: nothing is set
@ up to handle the resulting abort.

	.include "lib.inc"

	.section .text.boot, "ax"
	.global _start
_start:
	MOV32 sp, jump_stack + 256
	STR_ADDR r0, "JUMPING"
	bl print_line
	MOV32 r0, 0x20000000
jump_insn:
	bx r0

	.bss
	.balign 8
jump_stack:
	.space 256
