@ Exceptions taken to PL1 from Non-secure SVC mode (ARM ARM B1.8, B1.9):
@ Undefined Instruction and SVC in ARM and Thumb state, a BKPT Prefetch
@ Abort in both states, an alignment-fault Data Abort (SCTLR.A=1), and,
@ with SCTLR.TE=1, handlers entered in Thumb state.  The handlers in lib.S
@ print VEC, LR, SPSR, CPSR and IFSR or DFSR/DFAR.  Every case sets the
@ flags to N=1 C=1 first, so that SPSR shows they were saved.

	.include "lib.inc"

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, pl1_cases
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest

	@ SCTLR.TE=1 and a Thumb vector table: handlers start in Thumb state.
	mrc p15, 0, r4, c1, c0, 0
	orr r0, r4, #1 << 30
	mcr p15, 0, r0, c1, c0, 0
	MOV32 r0, pl1_vectors_thumb
	mcr p15, 0, r0, c12, c0, 0
	isb
	MOV32 r0, te_cases
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	mcr p15, 0, r4, c1, c0, 0
	MOV32 r0, pl1_vectors
	mcr p15, 0, r0, c12, c0, 0
	isb
	b finish

@ SVC mode, ARM state.
pl1_cases:
	CASE "udf_arm"
	SET_FLAGS_NC r0
udf_arm_insn:
	udf #0x1234

	CASE "svc_arm"
	SET_FLAGS_NC r0
svc_arm_insn:
	svc #0x123456

	CASE "bkpt_arm"
	SET_FLAGS_NC r0
bkpt_arm_insn:
	bkpt #0x42

	blx thumb_cases

	CASE "align_ldr"
	mrc p15, 0, r4, c1, c0, 0
	orr r0, r4, #2
	mcr p15, 0, r0, c1, c0, 0
	isb
	MOV32 r2, align_word + 1
	SET_FLAGS_NC r0
align_ldr_insn:
	ldr r1, [r2]
	mcr p15, 0, r4, c1, c0, 0
	isb
	GUEST_RETURN

@ SVC mode, Thumb state (16-bit encodings).
	.thumb
	.type thumb_cases, %function
thumb_cases:
	push {r4, lr}
	CASE "udf_thumb"
	SET_FLAGS_NC r0
udf_thumb_insn:
	udf #0x56

	CASE "svc_thumb"
	SET_FLAGS_NC r0
svc_thumb_insn:
	svc #0x78

	CASE "bkpt_thumb"
	SET_FLAGS_NC r0
bkpt_thumb_insn:
	bkpt #0x9a
	pop {r4, pc}
	.arm

@ SVC mode, ARM state, with SCTLR.TE=1.
te_cases:
	CASE "svc_te"
	SET_FLAGS_NC r0
svc_te_insn:
	svc #0x9a

	CASE "udf_te"
	SET_FLAGS_NC r0
udf_te_insn:
	udf #0xbc
	GUEST_RETURN

	.data
	.balign 4
align_word:
	.word 0x11223344
