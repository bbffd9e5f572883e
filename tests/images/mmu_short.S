@ PL1&0 stage 1 with short descriptors (ARM ARM B3.5), stage 2 off.
@
@ Hyp code builds the tables in RAM and turns the guest's MMU on
@ (TTBCR.N=1: TTBR0 below 2 GiB, TTBR1 above); the cases run in SVC, then
@ User, then SVC with SCTLR.AFE=1.  Sections, a supersection, small and
@ large pages alias the image's RAM; each working access prints VAL (a
@ word that holds its own physical address) or RET (a function that
@ returns the address it ran at); each fault is printed by mmu.inc's
@ handlers.  DACR: domain 0 and 3 client, 1 no access, 2 manager.

	.include "lib.inc"
	.include "mmu.inc"
	.include "mmu_setup.inc"

	.equ RAM,         0x40000000
	.equ UART_SEC,    0x09000000
	.equ ALIAS_SEC,   0x10000000   @ section -> RAM, AP=011
	.equ DOM1_SEC,    0x11000000   @ section in domain 1 (no access)
	.equ MGR_SEC,     0x12000000   @ section in domain 2 (manager), AP=000
	.equ RO_SEC,      0x13000000   @ AP=101: PL1 read-only, PL0 none
	.equ XN_SEC,      0x14000000   @ XN
	.equ PXN_SEC,     0x15000000   @ PXN
	.equ AF_SEC,      0x17000000   @ AP=010: AP[0]=0, the access flag under AFE
	.equ SUPER_VA,    0x20000000   @ supersection -> RAM
	.equ PAGES_VA,    0x30000000   @ page table s_l2_a, domain 3
	.equ DOM1_PAGES,  0x31000000   @ page table s_l2_b, domain 1
	.equ PXN_PAGES,   0x32000000   @ page table s_l2_c, PXN
	.equ HOLE_VA,     0x50000000   @ nothing
	.equ TTBR1_SEC,   0x80000000   @ TTBR1: section -> RAM
	.equ TTBR1_HOLE,  0x80100000   @ TTBR1: nothing
	.equ DACR_VALUE,  0x71         @ D0 client, D1 none, D2 manager, D3 client
	.equ TTBCR_VALUE, 1            @ N=1

	.equ SEC_RAM,  SD_SECTION | SD_NORMAL | SD_AP_011

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MMU_VECTORS_ON
	bl build_tables
	MOV32 r0, TTBCR_VALUE
	mcr p15, 0, r0, c2, c0, 2
	MOV32 r0, s_l1_0
	mcr p15, 0, r0, c2, c0, 0
	MOV32 r0, s_l1_1
	mcr p15, 0, r0, c2, c0, 1
	mov r0, #DACR_VALUE
	mcr p15, 0, r0, c3, c0, 0
	TLB_FLUSH_FROM_HYP
	MMU_ON
	RUN_GUEST svc_cases, MODE_SVC
	RUN_GUEST usr_cases, MODE_USR
	RUN_GUEST afe_cases, MODE_SVC
	MMU_OFF
	b finish

build_tables:
	push {r4, lr}
	ZERO s_l1_0, 0x4000
	ZERO s_l1_1, 0x4000
	ZERO s_l2_a, 0x400
	ZERO s_l2_b, 0x400
	ZERO s_l2_c, 0x400
	@ TTBR0 table, indexed by VA[30:20] (N=1).
	PUT32 s_l1_0 + (UART_SEC >> 20) * 4, UART_SEC | SD_SECTION | SD_DEVICE | SD_XN | SD_AP_011
	PUT32 s_l1_0 + (RAM >> 20) * 4, RAM | SEC_RAM
	PUT32 s_l1_0 + (ALIAS_SEC >> 20) * 4, RAM | SEC_RAM
	PUT32 s_l1_0 + (DOM1_SEC >> 20) * 4, RAM | SEC_RAM | (1 << 5)
	PUT32 s_l1_0 + (MGR_SEC >> 20) * 4, RAM | SD_SECTION | SD_NORMAL | SD_AP_000 | (2 << 5)
	PUT32 s_l1_0 + (RO_SEC >> 20) * 4, RAM | SD_SECTION | SD_NORMAL | SD_AP_101
	PUT32 s_l1_0 + (XN_SEC >> 20) * 4, RAM | SEC_RAM | SD_XN
	PUT32 s_l1_0 + (PXN_SEC >> 20) * 4, RAM | SEC_RAM | SD_PXN
	PUT32 s_l1_0 + (AF_SEC >> 20) * 4, RAM | SD_SECTION | SD_NORMAL | SD_AP_010
	PUT32N s_l1_0 + (SUPER_VA >> 20) * 4, RAM | SD_SUPER | SD_NORMAL | SD_AP_011, 16
	PUT32 s_l1_0 + (PAGES_VA >> 20) * 4, s_l2_a + SD_TABLE + (3 << 5)
	PUT32 s_l1_0 + (DOM1_PAGES >> 20) * 4, s_l2_b + SD_TABLE + (1 << 5)
	PUT32 s_l1_0 + (PXN_PAGES >> 20) * 4, s_l2_c + SD_TABLE + SD_TABLE_PXN
	@ Second-level table s_l2_a (PAGES_VA), indexed by VA[19:12].
	PUT32 s_l2_a + 0x00 * 4, page_a + SD_SMALL + SD_SMALL_NORMAL + SP_AP_011
	PUT32 s_l2_a + 0x01 * 4, page_a + SD_SMALL + SD_SMALL_NORMAL + SP_AP_010
	PUT32 s_l2_a + 0x02 * 4, exec_page + SD_SMALL + SD_SMALL_NORMAL + SP_AP_011 + SD_SMALL_XN
	PUT32 s_l2_a + 0x03 * 4, exec_page + SD_SMALL + SD_SMALL_NORMAL + SP_AP_011
	PUT32 s_l2_a + 0x05 * 4, page_a + SD_SMALL + SD_SMALL_NORMAL + SP_AP_010
	PUT32N s_l2_a + 0x10 * 4, RAM | SD_LARGE | SD_LARGE_NORMAL | SP_AP_011, 16
	PUT32 s_l2_b + 0x00 * 4, page_a + SD_SMALL + SD_SMALL_NORMAL + SP_AP_011
	PUT32 s_l2_c + 0x00 * 4, exec_page + SD_SMALL + SD_SMALL_NORMAL + SP_AP_011
	@ TTBR1 table, indexed by VA[31:20].
	PUT32 s_l1_1 + (TTBR1_SEC >> 20) * 4, RAM | SEC_RAM
	pop {r4, pc}

@ SVC mode, MMU on.
svc_cases:
	READ_OK section_read, sec_marker, ALIAS_SEC - RAM
	READ_OK supersection_read, sec_marker, SUPER_VA - RAM
	READ_OK small_page_read, PAGES_VA + page_a_marker - page_a
	READ_OK large_page_read, sec_marker, PAGES_VA + 0x10000 - RAM
	READ_OK ttbr1_section_read, sec_marker, TTBR1_SEC - RAM

	@ A manager domain skips the AP check (B3.7.3): AP=000 still writes.
	TCASE manager_write
	VA_OF r3, scratch, MGR_SEC - RAM
manager_write_insn:
	str r3, [r3]
	MOV32 r3, scratch
	ldr r2, [r3]
	PUTKV "VAL", r2

	READ_FAULT section_translation, HOLE_VA + 0x344
	READ_FAULT page_translation, PAGES_VA + 0x4000 + 0x88
	READ_FAULT ttbr1_translation, TTBR1_HOLE + 0x10
	READ_FAULT section_domain, DOM1_SEC + 0x100
	READ_FAULT page_domain, DOM1_PAGES + 0x40
	WRITE_FAULT section_permission_write, scratch, RO_SEC - RAM, 0x1234
	READ_OK section_ro_read, sec_marker, RO_SEC - RAM
	FETCH section_xn_fetch, exec_page, XN_SEC - RAM
	FETCH section_exec, exec_page, ALIAS_SEC - RAM
	FETCH section_pxn_fetch, exec_page, PXN_SEC - RAM
	FETCH page_xn_fetch, PAGES_VA + 0x2000
	FETCH page_exec, PAGES_VA + 0x3000
	FETCH table_pxn_fetch, PXN_PAGES
	FETCH fetch_translation, HOLE_VA + 0x1000
	GUEST_RETURN

@ User mode, MMU on.
usr_cases:
	READ_FAULT usr_section_pl1_only, sec_marker, RO_SEC - RAM
	WRITE_FAULT usr_page_write_ro, PAGES_VA + 0x1000 + page_a_marker - page_a, 0, 0x5678
	READ_OK usr_page_read_ro, PAGES_VA + 0x1000 + page_a_marker - page_a
	FETCH usr_pxn_exec, exec_page, PXN_SEC - RAM
	svc #0

@ SVC mode with SCTLR.AFE=1: AP[0] is the access flag (B3.7.1).
afe_cases:
	mrc p15, 0, r4, c1, c0, 0
	orr r0, r4, #SCTLR_AFE
	mcr p15, 0, r0, c1, c0, 0
	TLB_FLUSH_PL1
	READ_FAULT section_access_flag, AF_SEC + 0x200
	READ_FAULT page_access_flag, PAGES_VA + 0x5000 + 0x30
	READ_OK afe_section_read, sec_marker, ALIAS_SEC - RAM
	mcr p15, 0, r4, c1, c0, 0
	TLB_FLUSH_PL1
	GUEST_RETURN

	MMU_SUPPORT
	MMU_PAGES sec_word=scratch

	.bss
	.balign 16384
s_l1_0:	.space 16384
s_l1_1:	.space 16384
	.balign 1024
s_l2_a:	.space 1024
s_l2_b:	.space 1024
s_l2_c:	.space 1024
