@ Instruction traps to Hyp from Non-secure SVC (ARM ARM B1.14 "Traps to the
@ hypervisor", B3.13.6 HSR): WFI under HCR.TWI (unconditional, and WFINE
@ with its condition passing), WFE under HCR.TWE, SMC under HCR.TSC, a VFP
@ instruction under HCPTR.TCP10/TCP11, and generic-timer accesses under
@ CNTHCTL.PL1PCTEN / PL1PCEN = 0.  The Hyp handler in lib.S prints VEC, HSR,
@ ELR, SPSR and resumes after the trapped instruction.

	.include "lib.inc"

@ Run \guest in SVC mode with HCR = \hcr, then clear HCR.
.macro HCR_CASE name, hcr, guest
	CASE "\name"
	MOV32 r0, \hcr
	mcr p15, 4, r0, c1, c1, 0
	isb
	MOV32 r0, \guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 0
	isb
.endm

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	HCR_CASE "wfi_twi", HCR_TWI, wfi_guest
	HCR_CASE "wfi_cond_twi", HCR_TWI, wfine_guest
	HCR_CASE "wfe_twe", HCR_TWE, wfe_guest
	HCR_CASE "smc_tsc", HCR_TSC, smc_guest

	@ VFP usable at PL1 (CPACR cp10/cp11 full access, FPEXC.EN), then
	@ trapped by HCPTR.TCP10|TCP11.
	CASE "vfp_hcptr"
	mov r0, #0xf << 20
	mcr p15, 0, r0, c1, c0, 2
	isb
	mov r0, #1 << 30
	vmsr fpexc, r0
	mov r0, #3 << 10
	mcr p15, 4, r0, c1, c1, 2
	isb
	MOV32 r0, vfp_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 2
	isb

	@ CNTHCTL = 0: PL1PCTEN and PL1PCEN both clear.
	mov r0, #0
	mcr p15, 4, r0, c14, c1, 0
	isb
	CASE "cntpct_pl1pcten"
	MOV32 r0, cntpct_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	CASE "cntp_ctl_pl1pcen"
	MOV32 r0, cntp_ctl_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest
	mov r0, #3
	mcr p15, 4, r0, c14, c1, 0
	isb
	b finish

wfi_guest:
wfi_insn:
	wfi
	GUEST_RETURN

@ Z is clear, so WFINE passes its condition check.
wfine_guest:
	SET_FLAGS_NC r0
wfine_insn:
	wfine
	GUEST_RETURN

@ SEV sets the Event Register, the first WFE clears it without suspending;
@ the second would suspend, so it is the one trapped.
wfe_guest:
	sev
	wfe
wfe_insn:
	wfe
	GUEST_RETURN

smc_guest:
	MOV32 r0, PSCI_VERSION
smc_insn:
	smc #0
	GUEST_RETURN

vfp_guest:
vfp_insn:
	vadd.f32 s0, s1, s2
	GUEST_RETURN

cntpct_guest:
cntpct_insn:
	mrrc p15, 0, r4, r5, c14
	GUEST_RETURN

cntp_ctl_guest:
cntp_ctl_insn:
	mrc p15, 0, r6, c14, c2, 1
	GUEST_RETURN
