@ Entries to Hyp mode (ARM ARM B1.8 "Exception handling", Hyp vector table;
@ TakeHypTrapException; B3.13.6 HSR):
@ HVC from Non-secure SVC (ARM and Thumb; Hyp Trap entry, 0x14), HVC and
@ SVC executed in Hyp (0x08), an Undefined Instruction in Hyp (0x04), and,
@ with HCR.TGE=1, an SVC and an Undefined Instruction from User mode routed
@ to Hyp (0x14).  The Hyp handler in lib.S prints VEC, HSR, ELR, SPSR.

	.include "lib.inc"

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init

	CASE "hvc_svc"
	MOV32 r0, hvc_svc_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest

	CASE "hvc_svc_thumb"
	MOV32 r0, hvc_thumb_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F | 0x20
	bl run_guest

	CASE "hvc_hyp"
	SET_FLAGS_NC r0
hvc_hyp_insn:
	hvc #0x4321
hvc_hyp_next:

	CASE "svc_hyp"
	SET_FLAGS_NC r0
svc_hyp_insn:
	svc #0x65432
svc_hyp_next:

	CASE "udf_hyp"
	SET_FLAGS_NC r0
udf_hyp_insn:
	udf #0x99

	@ HCR.TGE, with AMO/IMO/FMO set as well: TGE routes asynchronous
	@ exceptions to Hyp as those bits do.
	MOV32 r0, HCR_TGE | HCR_AMO | HCR_IMO | HCR_FMO
	mcr p15, 4, r0, c1, c1, 0
	isb
	CASE "tge_svc_usr"
	MOV32 r0, tge_usr_guest
	mov r1, #MODE_USR | PSR_A | PSR_I | PSR_F
	bl run_guest
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 0
	isb
	b finish

hvc_svc_guest:
	SET_FLAGS_NC r0
hvc_svc_insn:
	hvc #0x1234
hvc_svc_next:
	GUEST_RETURN

	.thumb
hvc_thumb_guest:
	SET_FLAGS_NC r0
hvc_thumb_insn:
	hvc #0xabcd
hvc_thumb_next:
	GUEST_RETURN
	.arm

@ User mode under HCR.TGE: returns to Hyp with an SVC, as HVC is UNDEFINED
@ at PL0.
tge_usr_guest:
	SET_FLAGS_NC r0
tge_svc_insn:
	svc #0x777
tge_svc_next:
	CASE "tge_udf_usr"
	SET_FLAGS_NC r0
tge_udf_insn:
	udf #0x88
	svc #GUEST_DONE
