@ Hyp stage 1: HTTBR, HTCR, HMAIR0, HSCTLR.M (ARM ARM B3.6, B3.7).
@
@ HTCR.T0SZ=0: one walk from level 1 with four entries.  The cases run in
@ Hyp mode with the Hyp MMU on: a 1 GiB block, 2 MiB blocks and 4 KiB pages
@ that work; translation faults at levels 1-3, AP[2] read-only, access flag,
@ XN, XNTable and APTable[1] faults, taken as Data Aborts (HVBAR
@ + 0x10, HSR EC 0x25) and Prefetch Aborts (HVBAR + 0x0C, EC 0x21) from Hyp.

	.include "lib.inc"
	.include "mmu.inc"
	.include "mmu_setup.inc"

	.equ RAM,         0x40000000
	.equ UART_BLOCK,  0x09000000
	.equ PAGES_VA,    0x00400000   @ h_l2_a[2] -> h_l3_a
	.equ HOLE_L2_VA,  0x00600000   @ h_l2_a[3]: invalid
	.equ NOAF_BLOCK,  0x00800000   @ h_l2_a[4]: AF=0
	.equ RO_BLOCK,    0x00a00000   @ h_l2_a[5]: AP[2]=1
	.equ XNT_VA,      0x00e00000   @ h_l2_a[7] -> h_l3_b under XNTable
	.equ APT_VA,      0x01000000   @ h_l2_a[8] -> h_l3_c under APTable[1]
	.equ GIB_BLOCK,   0x80000000   @ h_l1[2]: 1 GiB block -> RAM
	.equ HOLE_L1_VA,  0xc0000000   @ h_l1[3]: invalid

	.equ BLK_RAM,  LD_BLOCK | LD_AF | LD_SH_IS | LD_ATTR0
	.equ PG_RAM,   LD_PAGE | LD_AF | LD_SH_IS | LD_ATTR0

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MMU_VECTORS_ON
	bl build_tables
	MOV32 r0, MAIR0_VALUE
	mcr p15, 4, r0, c10, c2, 0       @ HMAIR0
	mov r0, #0
	mcr p15, 4, r0, c2, c0, 2        @ HTCR: T0SZ=0
	MOV32 r0, h_l1
	mov r1, #0
	mcrr p15, 4, r0, r1, c2          @ HTTBR
	TLB_FLUSH_FROM_HYP
	MMU_ON 4                         @ HSCTLR.M

	READ_OK hyp_l1_block_read, sec_marker, GIB_BLOCK - RAM
	READ_OK hyp_l3_page_read, PAGES_VA + page_a_marker - page_a
	READ_FAULT hyp_l1_translation, HOLE_L1_VA + 0x10
	READ_FAULT hyp_l2_translation, HOLE_L2_VA + 0x2220
	READ_FAULT hyp_l3_translation, PAGES_VA + 0x4000 + 0x44
	WRITE_FAULT hyp_page_write_ro, PAGES_VA + 0x1000 + page_a_marker - page_a, 0, 0x1234
	READ_OK hyp_page_ro_read, PAGES_VA + 0x1000 + page_a_marker - page_a
	WRITE_FAULT hyp_block_write_ro, sec_marker, RO_BLOCK - RAM, 0x2345
	READ_FAULT hyp_block_access_flag, NOAF_BLOCK + 0x1230
	READ_FAULT hyp_page_access_flag, PAGES_VA + 0x5000 + 0x50
	FETCH hyp_page_xn_fetch, PAGES_VA + 0x2000
	FETCH hyp_page_exec, PAGES_VA + 0x3000
	FETCH hyp_fetch_translation, HOLE_L1_VA + 0x1000
	FETCH hyp_xntable_fetch, XNT_VA
	WRITE_FAULT hyp_aptable_write, APT_VA + page_a_marker - page_a, 0, 0x4321
	READ_OK hyp_aptable_read, APT_VA + page_a_marker - page_a

	MMU_OFF 4
	b finish

build_tables:
	push {r4, lr}
	ZERO h_l1, 0x1000
	ZERO h_l2_a, 0x1000
	ZERO h_l2_b, 0x1000
	ZERO h_l3_a, 0x1000
	ZERO h_l3_b, 0x1000
	ZERO h_l3_c, 0x1000
	@ Level 1: VA[31:30].
	PUT64 h_l1 + 0 * 8, h_l2_a + LD_TABLE, 0
	PUT64 h_l1 + 1 * 8, h_l2_b + LD_TABLE, 0
	PUT64 h_l1 + 2 * 8, RAM | BLK_RAM, 0
	@ Level 2 for VA [0, 1 GiB): VA[29:21].
	PUT64 h_l2_a + (UART_BLOCK >> 21) * 8, UART_BLOCK | LD_BLOCK | LD_AF | LD_ATTR1, LD_HI_XN
	PUT64 h_l2_a + (PAGES_VA >> 21) * 8, h_l3_a + LD_TABLE, 0
	PUT64 h_l2_a + (NOAF_BLOCK >> 21) * 8, RAM | LD_BLOCK | LD_SH_IS | LD_ATTR0, 0
	PUT64 h_l2_a + (RO_BLOCK >> 21) * 8, RAM | BLK_RAM | LD_AP_RO_PL1, 0
	PUT64 h_l2_a + (XNT_VA >> 21) * 8, h_l3_b + LD_TABLE, LD_HI_XNTABLE
	PUT64 h_l2_a + (APT_VA >> 21) * 8, h_l3_c + LD_TABLE, LD_HI_APTABLE1
	@ Level 2 for VA [1 GiB, 2 GiB): the image's RAM, flat.
	PUT64 h_l2_b + 0 * 8, RAM | BLK_RAM, 0
	@ Level 3 under PAGES_VA: VA[20:12].
	PUT64 h_l3_a + 0 * 8, page_a + PG_RAM, 0
	PUT64 h_l3_a + 1 * 8, page_a + PG_RAM + LD_AP_RO_PL1, 0
	PUT64 h_l3_a + 2 * 8, exec_page + PG_RAM, LD_HI_XN
	PUT64 h_l3_a + 3 * 8, exec_page + PG_RAM, 0
	PUT64 h_l3_a + 5 * 8, page_a + LD_PAGE + LD_SH_IS + LD_ATTR0, 0
	PUT64 h_l3_b + 0 * 8, exec_page + PG_RAM, 0
	PUT64 h_l3_c + 0 * 8, page_a + PG_RAM, 0
	pop {r4, pc}

	MMU_SUPPORT
	MMU_PAGES

	.bss
	.balign 4096
h_l1:	.space 4096
h_l2_a:	.space 4096
h_l2_b:	.space 4096
h_l3_a:	.space 4096
h_l3_b:	.space 4096
h_l3_c:	.space 4096
