@ PSCI over SMC, the conduit of QEMU's virt board with virtualization=on:
@ PSCI_VERSION from SVC and from Hyp, PSCI_FEATURES of a known and of an
@ unknown function, an SMC whose function ID the firmware does not know
@ (SMCCC: returns NOT_SUPPORTED), and SYSTEM_OFF, after which nothing more
@ may be printed.  Each call's r0 is printed as R0.

	.include "lib.inc"

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MOV32 r0, psci_guest
	mov r1, #MODE_SVC | PSR_A | PSR_I | PSR_F
	bl run_guest

	CASE "version_hyp"
	MOV32 r0, PSCI_VERSION
	smc #0
	mov r4, r0
	PUTKV "R0", r4

	CASE "system_off"
	MOV32 r0, PSCI_SYSTEM_OFF
	smc #0
	STR_ADDR r0, "AFTER_OFF"
	bl print_line
1:	wfi
	b 1b

psci_guest:
	CASE "version_svc"
	MOV32 r0, PSCI_VERSION
	smc #0
	mov r4, r0
	PUTKV "R0", r4

	CASE "features_version"
	MOV32 r0, PSCI_FEATURES
	MOV32 r1, PSCI_VERSION
	smc #0
	mov r4, r0
	PUTKV "R0", r4

	CASE "features_unknown"
	MOV32 r0, PSCI_FEATURES
	MOV32 r1, 0x8400ff00
	smc #0
	mov r4, r0
	PUTKV "R0", r4

	CASE "unknown_fid"
	MOV32 r0, 0x8400ff00
	smc #0
	mov r4, r0
	PUTKV "R0", r4
	GUEST_RETURN
