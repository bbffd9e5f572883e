@ PL1&0 stage 1 with long descriptors (TTBCR.EAE=1, ARM ARM B3.6), stage 2 off.
@
@ T0SZ=1 and T1SZ=1: TTBR0 translates VA [0, 2 GiB) and TTBR1 [2 GiB, 4 GiB),
@ both walks starting at level 1 with two entries (B3.6.4, B3.6.5).  The
@ tables hold a 1 GiB block (TTBR1), 2 MiB blocks, 4 KiB pages, table
@ descriptors with XNTable and APTable[1], AP, XN, PXN and the access flag.
@ MAIR0: Attr0 Normal write-back, Attr1 Device.  Cases run in SVC, then User.

	.include "lib.inc"
	.include "mmu.inc"
	.include "mmu_setup.inc"

	.equ RAM,         0x40000000
	.equ UART_BLOCK,  0x09000000
	.equ PAGES_VA,    0x00400000   @ l_l2_a[2] -> l_l3_a
	.equ HOLE_L2_VA,  0x00600000   @ l_l2_a[3]: invalid
	.equ PXN_BLOCK,   0x00800000   @ l_l2_a[4]: 2 MiB block -> RAM, PXN
	.equ PL1_BLOCK,   0x00a00000   @ l_l2_a[5]: AP=00 (PL1 only)
	.equ NOAF_BLOCK,  0x00c00000   @ l_l2_a[6]: AF=0
	.equ XNT_VA,      0x00e00000   @ l_l2_a[7] -> l_l3_b under XNTable
	.equ APT_VA,      0x01000000   @ l_l2_a[8] -> l_l3_c under APTable[1]
	.equ ALIAS_BLOCK, 0x40200000   @ l_l2_b[1]: 2 MiB block -> RAM
	.equ GIB_BLOCK,   0x80000000   @ TTBR1 l_l1_1[0]: 1 GiB block -> RAM
	.equ HOLE_L1_VA,  0xc0000000   @ TTBR1 l_l1_1[1]: invalid
	.equ TTBCR_VALUE, TTBCR_EAE | (1 << 16) | 1

	.equ BLK_RAM,  LD_BLOCK | LD_AF | LD_SH_IS | LD_ATTR0 | LD_AP_RW_ALL
	.equ PG_RAM,   LD_PAGE | LD_AF | LD_SH_IS | LD_ATTR0 | LD_AP_RW_ALL

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MMU_VECTORS_ON
	bl build_tables
	LPAE_STAGE1 TTBCR_VALUE, l_l1_0, l_l1_1
	TLB_FLUSH_FROM_HYP
	MMU_ON
	RUN_GUEST svc_cases, MODE_SVC
	RUN_GUEST usr_cases, MODE_USR
	MMU_OFF
	b finish

build_tables:
	push {r4, lr}
	ZERO l_l1_0, 0x1000
	ZERO l_l1_1, 0x1000
	ZERO l_l2_a, 0x1000
	ZERO l_l2_b, 0x1000
	ZERO l_l3_a, 0x1000
	ZERO l_l3_b, 0x1000
	ZERO l_l3_c, 0x1000
	@ TTBR0 level 1: VA[30] selects one of two entries.
	PUT64 l_l1_0 + 0 * 8, l_l2_a + LD_TABLE, 0
	PUT64 l_l1_0 + 1 * 8, l_l2_b + LD_TABLE, 0
	@ Level 2 for VA [0, 1 GiB): VA[29:21].
	PUT64 l_l2_a + (UART_BLOCK >> 21) * 8, UART_BLOCK | LD_BLOCK | LD_AF | LD_ATTR1 | LD_AP_RW_ALL, LD_HI_XN | LD_HI_PXN
	PUT64 l_l2_a + (PAGES_VA >> 21) * 8, l_l3_a + LD_TABLE, 0
	PUT64 l_l2_a + (PXN_BLOCK >> 21) * 8, RAM | BLK_RAM, LD_HI_PXN
	PUT64 l_l2_a + (PL1_BLOCK >> 21) * 8, RAM | LD_BLOCK | LD_AF | LD_SH_IS | LD_ATTR0 | LD_AP_RW_PL1, 0
	PUT64 l_l2_a + (NOAF_BLOCK >> 21) * 8, RAM | LD_BLOCK | LD_SH_IS | LD_ATTR0 | LD_AP_RW_ALL, 0
	PUT64 l_l2_a + (XNT_VA >> 21) * 8, l_l3_b + LD_TABLE, LD_HI_XNTABLE
	PUT64 l_l2_a + (APT_VA >> 21) * 8, l_l3_c + LD_TABLE, LD_HI_APTABLE1
	@ Level 2 for VA [1 GiB, 2 GiB).
	PUT64 l_l2_b + 0 * 8, RAM | BLK_RAM, 0
	PUT64 l_l2_b + 1 * 8, RAM | BLK_RAM, 0
	@ Level 3 under PAGES_VA: VA[20:12].
	PUT64 l_l3_a + 0 * 8, page_a + PG_RAM, 0
	PUT64 l_l3_a + 1 * 8, page_a + LD_PAGE + LD_AF + LD_SH_IS + LD_ATTR0 + LD_AP_RO_PL1, 0
	PUT64 l_l3_a + 2 * 8, exec_page + PG_RAM, LD_HI_XN
	PUT64 l_l3_a + 3 * 8, exec_page + PG_RAM, 0
	PUT64 l_l3_a + 5 * 8, page_a + LD_PAGE + LD_SH_IS + LD_ATTR0 + LD_AP_RW_ALL, 0
	PUT64 l_l3_a + 6 * 8, page_a + PG_RAM - 2, 0    @ bits[1:0] = 01: reserved at level 3
	PUT64 l_l3_b + 0 * 8, exec_page + PG_RAM, 0
	PUT64 l_l3_c + 0 * 8, page_a + PG_RAM, 0
	@ TTBR1 level 1: VA[30] again.
	PUT64 l_l1_1 + 0 * 8, RAM | LD_BLOCK | LD_AF | LD_SH_IS | LD_ATTR0 | LD_AP_RW_ALL, 0
	pop {r4, pc}

svc_cases:
	READ_OK l1_block_read, sec_marker, GIB_BLOCK - RAM
	READ_OK l2_block_read, sec_marker, ALIAS_BLOCK - RAM
	READ_OK l3_page_read, PAGES_VA + page_a_marker - page_a
	READ_FAULT l1_translation, HOLE_L1_VA + 0x10
	READ_FAULT l2_translation, HOLE_L2_VA + 0x2220
	READ_FAULT l3_translation, PAGES_VA + 0x4000 + 0x44
	READ_FAULT l3_reserved, PAGES_VA + 0x6000 + 0x48
	WRITE_FAULT page_permission_write, PAGES_VA + 0x1000 + page_a_marker - page_a, 0, 0x1234
	READ_OK page_ro_read, PAGES_VA + 0x1000 + page_a_marker - page_a
	READ_FAULT block_access_flag, NOAF_BLOCK + 0x1230
	READ_FAULT page_access_flag, PAGES_VA + 0x5000 + 0x50
	FETCH page_xn_fetch, PAGES_VA + 0x2000
	FETCH page_exec, PAGES_VA + 0x3000
	FETCH block_pxn_fetch, exec_page, PXN_BLOCK - RAM
	FETCH xntable_fetch, XNT_VA
	WRITE_FAULT aptable_write, APT_VA + page_a_marker - page_a, 0, 0x4321
	READ_OK aptable_read, APT_VA + page_a_marker - page_a
	GUEST_RETURN

usr_cases:
	READ_FAULT usr_block_pl1_only, sec_marker, PL1_BLOCK - RAM
	READ_OK usr_block_read, sec_marker, ALIAS_BLOCK - RAM
	FETCH usr_pxn_exec, exec_page, PXN_BLOCK - RAM
	svc #0

	MMU_SUPPORT
	MMU_PAGES

	.bss
	.balign 4096
l_l1_0:	.space 4096
l_l1_1:	.space 4096
l_l2_a:	.space 4096
l_l2_b:	.space 4096
l_l3_a:	.space 4096
l_l3_b:	.space 4096
l_l3_c:	.space 4096
