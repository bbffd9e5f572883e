@ Virtual exceptions (ARM ARM B1.8, virtual exceptions of the Virtualization
@ Extensions; HCR in B4.1):
@ HCR.VI with IMO, HCR.VF with FMO and HCR.VA with AMO, each taken by
@ Non-secure SVC code as soon as it unmasks the class with CPS, at VBAR+0x18,
@ +0x1C and +0x10.  The PL1 handler returns with the class masked; the Hyp
@ code then withdraws the virtual exception.  After the virtual abort, Hyp
@ prints HCR, whose VA bit the taken abort clears.

	.include "lib.inc"

.macro VIRTUAL_CASE name, hcr, guest
	CASE "\name"
	MOV32 r0, \hcr
	mcr p15, 4, r0, c1, c1, 0
	isb
	MOV32 r0, \guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
.endm

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	VIRTUAL_CASE "virq", HCR_IMO | HCR_VI, virq_guest
	VIRTUAL_CASE "vfiq", HCR_FMO | HCR_VF, vfiq_guest
	VIRTUAL_CASE "vabt", HCR_AMO | HCR_VA, vabt_guest
	mrc p15, 4, r4, c1, c1, 0
	PUTKV "HCR_AFTER", r4
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 0
	isb
	b finish

virq_guest:
	SET_FLAGS_NC r0
	cpsie i
virq_window:
	nop
	nop
	nop
	nop
virq_window_end:
	GUEST_RETURN

vfiq_guest:
	SET_FLAGS_NC r0
	cpsie f
vfiq_window:
	nop
	nop
	nop
	nop
vfiq_window_end:
	GUEST_RETURN

vabt_guest:
	SET_FLAGS_NC r0
	cpsie a
vabt_window:
	nop
	nop
	nop
	nop
vabt_window_end:
	GUEST_RETURN
