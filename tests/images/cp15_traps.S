@ CP15 accesses from Non-secure SVC trapped to Hyp (ARM ARM B1.14; HCR and
@ HSTR in B4.1; HSR ISS for EC 0x03 and 0x04 in B3.13.6): HCR.TVM,
@ TID2, TID3, TAC, TTLB, TSW, TPC, TPU, TIDCP, and HSTR.T1, T15 and T2 (a
@ 64-bit MCRR).  Each access uses a different Rt so that HSR.Rt is checked.
@ The Hyp handler in lib.S prints VEC, HSR, ELR, SPSR and skips the access.

	.include "lib.inc"

@ Run \guest in SVC mode with HCR = \hcr and HSTR = \hstr, then clear both.
.macro TRAP_CASE name, hcr, hstr, guest
	CASE "\name"
	MOV32 r0, \hcr
	mcr p15, 4, r0, c1, c1, 0
	MOV32 r0, \hstr
	mcr p15, 4, r0, c1, c1, 3
	isb
	MOV32 r0, \guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 0
	mcr p15, 4, r0, c1, c1, 3
	isb
.endm

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	@ The same guest code run untrapped, trapped, untrapped: a trap set after the
	@ code first ran must still be taken, and not once it is cleared again.
	TRAP_CASE "tpc_off_first", 0, 0, tpc_toggle_guest
	TRAP_CASE "tpc_on_after", HCR_TPC, 0, tpc_toggle_guest
	TRAP_CASE "tpc_off_again", 0, 0, tpc_toggle_guest
	TRAP_CASE "tvm_sctlr_write", HCR_TVM, 0, tvm_guest
	TRAP_CASE "tid2_ctr", HCR_TID2, 0, tid2_guest
	TRAP_CASE "tid3_id_pfr0", HCR_TID3, 0, tid3_guest
	TRAP_CASE "tac_actlr", HCR_TAC, 0, tac_guest
	TRAP_CASE "ttlb_tlbiall", HCR_TTLB, 0, ttlb_guest
	TRAP_CASE "tsw_dcisw", HCR_TSW, 0, tsw_guest
	TRAP_CASE "tpc_dccmvac", HCR_TPC, 0, tpc_guest
	TRAP_CASE "tpu_iciallu", HCR_TPU, 0, tpu_guest
	TRAP_CASE "tidcp_l2ctlr", HCR_TIDCP, 0, tidcp_guest
	TRAP_CASE "hstr_t1_sctlr", 0, 1 << 1, hstr_t1_guest
	TRAP_CASE "hstr_t15_cbar", 0, 1 << 15, hstr_t15_guest
	TRAP_CASE "hstr_t2_ttbr0", 0, 1 << 2, hstr_t2_guest
	b finish

@ TVM traps writes only: the read of SCTLR before it is not trapped.
tvm_guest:
	mrc p15, 0, r3, c1, c0, 0
tvm_insn:
	mcr p15, 0, r3, c1, c0, 0
	GUEST_RETURN

tid2_guest:
tid2_insn:
	mrc p15, 0, r2, c0, c0, 1		@ CTR
	GUEST_RETURN

tid3_guest:
tid3_insn:
	mrc p15, 0, r4, c0, c1, 0		@ ID_PFR0
	GUEST_RETURN

tac_guest:
tac_insn:
	mrc p15, 0, r5, c1, c0, 1		@ ACTLR
	GUEST_RETURN

ttlb_guest:
	mov r6, #0
ttlb_insn:
	mcr p15, 0, r6, c8, c7, 0		@ TLBIALL
	GUEST_RETURN

tsw_guest:
	mov r7, #0
tsw_insn:
	mcr p15, 0, r7, c7, c6, 2		@ DCISW
	GUEST_RETURN

@ On a 1 KiB page (unicorn's page size) of its own, run only by these cases.
	.balign 1024
tpc_toggle_guest:
	MOV32 r8, tpc_toggle_guest
tpc_toggle_insn:
	mcr p15, 0, r8, c7, c10, 1		@ DCCMVAC
	GUEST_RETURN
	.balign 1024

tpc_guest:
	MOV32 r8, tpc_guest
tpc_insn:
	mcr p15, 0, r8, c7, c10, 1		@ DCCMVAC
	GUEST_RETURN

tpu_guest:
	mov r9, #0
tpu_insn:
	mcr p15, 0, r9, c7, c5, 0		@ ICIALLU
	GUEST_RETURN

@ Cortex-A15 L2CTLR: CRn=c9, opc1=1, CRm=c0, one of the IMPLEMENTATION
@ DEFINED encodings TIDCP covers.
tidcp_guest:
tidcp_insn:
	mrc p15, 1, r10, c9, c0, 2
	GUEST_RETURN

hstr_t1_guest:
hstr_t1_insn:
	mrc p15, 0, r12, c1, c0, 0		@ SCTLR
	GUEST_RETURN

@ Cortex-A15 CBAR: CRn=c15, opc1=4.
hstr_t15_guest:
hstr_t15_insn:
	mrc p15, 4, r11, c15, c0, 0
	GUEST_RETURN

@ A 64-bit write of TTBR0 (MCRR with CRm=c2).  Should it not be trapped it
@ writes zero, the reset value, with the MMU off.
hstr_t2_guest:
	mov r2, #0
	mov r3, #0
hstr_t2_insn:
	mcrr p15, 0, r2, r3, c2
	GUEST_RETURN
