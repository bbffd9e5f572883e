@ Reset state as the CPU leaves it for an ELF image: the first
@ instructions save r0-r2, SP, LR, CPSR and the system registers before
@ lib_init changes any of them, then everything is printed.

	.include "lib.inc"

.macro SAVE_CP15 slot, op1, crn, crm, op2
	mrc p15, \op1, r0, \crn, \crm, \op2
	str r0, [r3, #\slot * 4]
.endm

	.section .text.boot, "ax"
	.global _start
_start:
	MOV32 r3, saved
	str r0, [r3, #0]
	str r1, [r3, #4]
	str r2, [r3, #8]
	str sp, [r3, #12]
	str lr, [r3, #16]
	mrs r0, cpsr
	str r0, [r3, #20]
	SAVE_CP15 6, 0, c1, c0, 0	@ SCTLR
	SAVE_CP15 7, 4, c1, c0, 0	@ HSCTLR
	SAVE_CP15 8, 4, c1, c1, 0	@ HCR
	SAVE_CP15 9, 0, c0, c0, 0	@ MIDR
	SAVE_CP15 10, 0, c0, c0, 5	@ MPIDR
	SAVE_CP15 11, 0, c0, c1, 1	@ ID_PFR1
	SAVE_CP15 12, 0, c12, c0, 0	@ VBAR
	SAVE_CP15 13, 4, c12, c0, 0	@ HVBAR
	SAVE_CP15 14, 0, c14, c0, 0	@ CNTFRQ
	SAVE_CP15 15, 4, c0, c0, 0	@ VPIDR
	SAVE_CP15 16, 4, c0, c0, 5	@ VMPIDR
	SAVE_CP15 17, 4, c1, c1, 2	@ HCPTR
	SAVE_CP15 18, 4, c1, c1, 3	@ HSTR
	SAVE_CP15 19, 4, c1, c1, 1	@ HDCR
	SAVE_CP15 20, 4, c14, c1, 0	@ CNTHCTL
	SAVE_CP15 21, 0, c1, c0, 2	@ CPACR
	SAVE_CP15 23, 0, c0, c0, 1	@ CTR
	SAVE_CP15 24, 0, c0, c1, 0	@ ID_PFR0
	SAVE_CP15 25, 0, c2, c0, 2	@ TTBCR

	bl lib_init
	MOV32 r4, saved
	ldr r5, [r4, #20]
	PUTKV "CPSR", r5
	ldr r5, [r4, #0]
	PUTKV "R0", r5
	ldr r5, [r4, #4]
	PUTKV "R1", r5
	ldr r5, [r4, #8]
	PUTKV "R2", r5
	ldr r5, [r4, #12]
	PUTKV "SP", r5
	ldr r5, [r4, #16]
	PUTKV "LR", r5
	ldr r5, [r4, #6 * 4]
	PUTKV "SCTLR", r5
	ldr r5, [r4, #7 * 4]
	PUTKV "HSCTLR", r5
	ldr r5, [r4, #8 * 4]
	PUTKV "HCR", r5
	ldr r5, [r4, #9 * 4]
	PUTKV "MIDR", r5
	ldr r5, [r4, #10 * 4]
	PUTKV "MPIDR", r5
	ldr r5, [r4, #11 * 4]
	PUTKV "ID_PFR1", r5
	ldr r5, [r4, #12 * 4]
	PUTKV "VBAR", r5
	ldr r5, [r4, #13 * 4]
	PUTKV "HVBAR", r5
	ldr r5, [r4, #14 * 4]
	PUTKV "CNTFRQ", r5
	ldr r5, [r4, #15 * 4]
	PUTKV "VPIDR", r5
	ldr r5, [r4, #16 * 4]
	PUTKV "VMPIDR", r5
	ldr r5, [r4, #17 * 4]
	PUTKV "HCPTR", r5
	ldr r5, [r4, #18 * 4]
	PUTKV "HSTR", r5
	ldr r5, [r4, #19 * 4]
	PUTKV "HDCR", r5
	ldr r5, [r4, #20 * 4]
	PUTKV "CNTHCTL", r5
	ldr r5, [r4, #21 * 4]
	PUTKV "CPACR", r5
	ldr r5, [r4, #23 * 4]
	PUTKV "CTR", r5
	ldr r5, [r4, #24 * 4]
	PUTKV "ID_PFR0", r5
	ldr r5, [r4, #25 * 4]
	PUTKV "TTBCR", r5
	b finish

	.bss
	.balign 4
saved:	.space 26 * 4
