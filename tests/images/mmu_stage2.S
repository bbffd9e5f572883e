@ Stage 2 (VTCR, VTTBR, HCR.VM; ARM ARM B3.6) and the aborts it reports to Hyp.
@
@ Phase A, VMID 1: VTCR.T0SZ=0, SL0=01, a level-1 root with four entries;
@ 1 GiB and 2 MiB blocks and 4 KiB pages, HAP, XN, the access flag.  The
@ guest (SVC) first runs with its stage 1 on (short descriptors in RAM):
@ two-stage walks, a stage-1 fault under stage 2, stage-2 faults on
@ stage-1 walks (S1PTW), then HCR.PTW.
@ Phase B, VMID 2: SL0=00 with T0SZ=0, four concatenated level-2 tables.
@ Phase C, VMID 3: T0SZ=-8 (40-bit IPA), two concatenated level-1 tables,
@ reached through a long-descriptor guest stage 1 that outputs IPAs
@ above 4 GiB.
@ Phase A again with the guest's stage 1 off (VA = IPA): block and page
@ mappings, HAP, XN, access flag, and MMIO-style accesses to an IPA hole
@ that show ISV, SAS, SSE, SRT and WnR, one after another as an MMIO
@ emulator sees them.
@ The stage-2 faults are printed by mmu.inc's Hyp Trap handler (HSR,
@ HDFAR/HIFAR, HPFAR, ELR, SPSR); stage-1 faults by its PL1 handlers.
@ view_s1_on, view_concat and view_ipa40 label the Hyp code just before
@ the guest runs in each configuration (debugger-view tests stop there).

	.include "lib.inc"
	.include "mmu.inc"
	.include "mmu_setup.inc"

	.equ RAM,          0x40000000
	.equ UART_IPA,     0x09000000
	@ Phase A IPA map (s2_l1: IPA[31:30]; s2_l2_a/b: IPA[29:21]; s2_l3_a: IPA[20:12]).
	.equ MMIO_IPA,     0x0a000000   @ s2_l2_a[0x50]: invalid (a device to emulate)
	.equ HOLE_TBL_IPA, 0x0b000000   @ s2_l2_a[0x58]: invalid (guest tables "there")
	.equ PAGES_IPA,    0x00400000   @ s2_l2_a[2] -> s2_l3_a
	.equ ALIAS_IPA,    0x40200000   @ s2_l2_b[1]: 2 MiB block -> RAM
	.equ DEVICE_IPA,   0x40400000   @ s2_l2_b[2]: 2 MiB block -> RAM, Device
	.equ NOAF_IPA,     0x40600000   @ s2_l2_b[3]: AF=0
	.equ GIB_IPA,      0x80000000   @ s2_l1[2]: 1 GiB block -> RAM
	.equ HOLE_L1_IPA,  0xc0000000   @ s2_l1[3]: invalid
	@ Guest stage 1 (short descriptors, TTBCR.N=1; all domains client).
	.equ G_S1PTW_VA,   0x30000000   @ page table at HOLE_TBL_IPA + 0x100000
	.equ G_S1PERM_VA,  0x31000000   @ page table at PAGES_IPA + 0x8000 (HAP none)
	.equ G_DEVTBL_VA,  0x32000000   @ page table g_l2 seen through DEVICE_IPA
	.equ G_PAGES_VA,   0x33000000   @ page table g_l2
	.equ G_MMIO_VA,    0x34000000   @ section -> MMIO_IPA
	.equ G_HOLE_VA,    0x50000000   @ nothing
	.equ G_TTBR1_VA,   0x80000000   @ TTBR1 table at HOLE_TBL_IPA
	@ Phase B (level-2 root s2c_root: IPA[31:21]).
	.equ C_BLOCK_IPA,  0xc0200000   @ block -> RAM
	.equ C_PAGES_IPA,  0xc0400000   @ -> s2c_l3
	.equ C_HOLE_IPA,   0xc0800000
	@ Phase C: guest VA -> 40-bit IPA.
	.equ W_HIGH_VA,    0x80000000   @ -> IPA 0x80_0000_0000 -> RAM
	.equ W_HOLE_VA,    0xc0000000   @ -> IPA 0x01_4000_0000: nothing

	.equ VTCR_RES1,    1 << 31
	.equ VTCR_A,       VTCR_RES1 | (1 << 6)          @ T0SZ=0, SL0=01
	.equ VTCR_B,       VTCR_RES1 | (0 << 6)          @ T0SZ=0, SL0=00
	.equ VTCR_C,       VTCR_RES1 | (1 << 6) | 0x18   @ T0SZ=-8 (S=1), SL0=01

	.equ S2_BLK_RAM,   LD_BLOCK | LD_AF | LD_SH_IS | S2_NORMAL | S2_HAP_RW
	.equ S2_PG_RAM,    LD_PAGE | LD_AF | LD_SH_IS | S2_NORMAL
	.equ S2_BLK_DEV,   LD_BLOCK | LD_AF | S2_DEVICE | S2_HAP_RW
	.equ G_SEC_RAM,    SD_SECTION | SD_NORMAL | SD_AP_011
	.equ G_SMALL_RAM,  SD_SMALL + SD_SMALL_NORMAL + SP_AP_011

@ Stage 2 through the table at \root, VTCR = \vtcr, VMID \vmid (VTTBR[55:48]).
.macro VM_STAGE2 vtcr, root, vmid
	MOV32 r0, \vtcr
	mcr p15, 4, r0, c2, c1, 2        @ VTCR
	MOV32 r0, \root
	mov r1, #\vmid << 16
	mcrr p15, 6, r0, r1, c2          @ VTTBR
.endm

@ Phase A's stage 2 (level-1 root s2_l1, VMID 1) on, HCR.VM set.
.macro PHASE_A_STAGE2
	VM_STAGE2 VTCR_A, s2_l1, 1
	mov r0, #HCR_VM
	mcr p15, 4, r0, c1, c1, 0
	TLB_FLUSH_FROM_HYP
.endm

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	MMU_VECTORS_ON
	bl build_stage2_a
	bl build_guest_s1

	@ Phase A: level-1 root, VMID 1.
	PHASE_A_STAGE2
	@ Guest stage 1 on.
	mov r0, #1
	mcr p15, 0, r0, c2, c0, 2        @ TTBCR.N=1
	MOV32 r0, g_l1
	mcr p15, 0, r0, c2, c0, 0        @ TTBR0
	MOV32 r0, HOLE_TBL_IPA
	mcr p15, 0, r0, c2, c0, 1        @ TTBR1: a table stage 2 does not map
	MOV32 r0, 0x55555555
	mcr p15, 0, r0, c3, c0, 0        @ DACR: all client
	TLB_FLUSH_FROM_HYP
	MMU_ON
view_s1_on:
	RUN_GUEST cases_s1_on, MODE_SVC
	@ HCR.PTW: a stage-1 walk into stage-2 Device memory faults.
	mov r0, #HCR_VM | HCR_PTW
	mcr p15, 4, r0, c1, c1, 0
	TLB_FLUSH_FROM_HYP
	RUN_GUEST cases_ptw, MODE_SVC
	mov r0, #HCR_VM
	mcr p15, 4, r0, c1, c1, 0
	MMU_OFF

	@ Phase B: concatenated level-2 root.
	bl build_stage2_b
	VM_STAGE2 VTCR_B, s2c_root, 2
	TLB_FLUSH_FROM_HYP
view_concat:
	RUN_GUEST cases_concat, MODE_SVC

	@ Phase C: 40-bit IPA under a long-descriptor guest stage 1.
	bl build_stage2_c
	VM_STAGE2 VTCR_C, s2w_root, 3
	LPAE_STAGE1 TTBCR_EAE, g_lpae    @ T0SZ=0: TTBR0 covers every VA
	TLB_FLUSH_FROM_HYP
	MMU_ON
view_ipa40:
	RUN_GUEST cases_ipa40, MODE_SVC
	mov r0, #0
	mcr p15, 0, r0, c2, c0, 2        @ TTBCR: short descriptors again
	MMU_OFF

	@ Phase A again, guest stage 1 off: VA = IPA.
	PHASE_A_STAGE2
	RUN_GUEST cases_s1_off, MODE_SVC
	mov r0, #0
	mcr p15, 4, r0, c1, c1, 0
	isb
	b finish


build_stage2_a:
	push {r4, lr}
	ZERO s2_l1, 0x1000
	ZERO s2_l2_a, 0x1000
	ZERO s2_l2_b, 0x1000
	ZERO s2_l3_a, 0x1000
	PUT64 s2_l1 + 0 * 8, s2_l2_a + LD_TABLE, 0
	PUT64 s2_l1 + 1 * 8, s2_l2_b + LD_TABLE, 0
	PUT64 s2_l1 + 2 * 8, RAM | S2_BLK_RAM, 0
	PUT64 s2_l2_a + (UART_IPA >> 21) * 8, UART_IPA | S2_BLK_DEV, LD_HI_XN
	PUT64 s2_l2_a + (PAGES_IPA >> 21) * 8, s2_l3_a + LD_TABLE, 0
	PUT64 s2_l2_b + 0 * 8, RAM | S2_BLK_RAM, 0
	PUT64 s2_l2_b + 1 * 8, RAM | S2_BLK_RAM, 0
	PUT64 s2_l2_b + 2 * 8, RAM | S2_BLK_DEV, LD_HI_XN
	PUT64 s2_l2_b + 3 * 8, RAM | LD_BLOCK | LD_SH_IS | S2_NORMAL | S2_HAP_RW, 0
	PUT64 s2_l3_a + 0 * 8, page_a + S2_PG_RAM + S2_HAP_RW, 0
	PUT64 s2_l3_a + 1 * 8, page_a + S2_PG_RAM + S2_HAP_RO, 0
	PUT64 s2_l3_a + 2 * 8, page_a + S2_PG_RAM + S2_HAP_WO, 0
	PUT64 s2_l3_a + 3 * 8, page_a + S2_PG_RAM + S2_HAP_NONE, 0
	PUT64 s2_l3_a + 4 * 8, exec_page + S2_PG_RAM + S2_HAP_RW, LD_HI_XN
	PUT64 s2_l3_a + 5 * 8, exec_page + S2_PG_RAM + S2_HAP_RW, 0
	PUT64 s2_l3_a + 7 * 8, page_a + LD_PAGE + LD_SH_IS + S2_NORMAL + S2_HAP_RW, 0
	PUT64 s2_l3_a + 8 * 8, g_l2_none + S2_PG_RAM + S2_HAP_NONE, 0
	pop {r4, pc}

build_guest_s1:
	push {r4, lr}
	ZERO g_l1, 0x4000
	ZERO g_l2, 0x400
	ZERO g_l2_none, 0x400
	PUT32 g_l1 + (UART_IPA >> 20) * 4, UART_IPA | SD_SECTION | SD_DEVICE | SD_XN | SD_AP_011
	PUT32 g_l1 + (RAM >> 20) * 4, RAM | G_SEC_RAM
	PUT32 g_l1 + (G_S1PTW_VA >> 20) * 4, HOLE_TBL_IPA + 0x100000 + SD_TABLE
	PUT32 g_l1 + (G_S1PERM_VA >> 20) * 4, PAGES_IPA + 0x8000 + SD_TABLE
	PUT32 g_l1 + (G_PAGES_VA >> 20) * 4, g_l2 + SD_TABLE
	PUT32 g_l1 + (G_MMIO_VA >> 20) * 4, MMIO_IPA | G_SEC_RAM
	PUT32 g_l2 + 0 * 4, page_a + G_SMALL_RAM
	PUT32 g_l2 + 1 * 4, PAGES_IPA + G_SMALL_RAM
	@ The page table g_l2 again, at its alias in stage-2 Device memory.
	MOV32 r0, g_l2 + SD_TABLE
	MOV32 r1, DEVICE_IPA - RAM
	add r1, r0, r1
	MOV32 r0, g_l1 + (G_DEVTBL_VA >> 20) * 4
	str r1, [r0]
	pop {r4, pc}

build_stage2_b:
	push {r4, lr}
	ZERO s2c_root, 0x4000
	ZERO s2c_l3, 0x1000
	PUT64 s2c_root + (UART_IPA >> 21) * 8, UART_IPA | S2_BLK_DEV, LD_HI_XN
	PUT64 s2c_root + (RAM >> 21) * 8, RAM | S2_BLK_RAM, 0
	PUT64 s2c_root + (C_BLOCK_IPA >> 21) * 8, RAM | S2_BLK_RAM, 0
	PUT64 s2c_root + (C_PAGES_IPA >> 21) * 8, s2c_l3 + LD_TABLE, 0
	PUT64 s2c_l3 + 0 * 8, page_a + S2_PG_RAM + S2_HAP_RW, 0
	PUT64 s2c_l3 + 1 * 8, page_a + 0x1000 + S2_PG_RAM + S2_HAP_RW, 0   @ PA follows on
	pop {r4, pc}

build_stage2_c:
	push {r4, lr}
	ZERO s2w_root, 0x2000
	ZERO g_lpae, 0x20
	@ Two concatenated level-1 tables: IPA[39:30] indexes 1024 entries.
	PUT64 s2w_root + 0 * 8, 0 | S2_BLK_DEV, LD_HI_XN
	PUT64 s2w_root + 1 * 8, RAM | S2_BLK_RAM, 0
	PUT64 s2w_root + 512 * 8, RAM | S2_BLK_RAM, 0
	@ Guest level 1 (T0SZ=0): four 1 GiB blocks, the top two to IPAs above 4 GiB.
	PUT64 g_lpae + 0 * 8, 0 | LD_BLOCK | LD_AF | LD_ATTR1 | LD_AP_RW_ALL, LD_HI_XN
	PUT64 g_lpae + 1 * 8, RAM | LD_BLOCK | LD_AF | LD_SH_IS | LD_ATTR0 | LD_AP_RW_ALL, 0
	PUT64 g_lpae + 2 * 8, 0 | LD_BLOCK | LD_AF | LD_SH_IS | LD_ATTR0 | LD_AP_RW_ALL, 0x80
	PUT64 g_lpae + 3 * 8, 0x40000000 | LD_BLOCK | LD_AF | LD_SH_IS | LD_ATTR0 | LD_AP_RW_ALL, 0x01
	pop {r4, pc}

@ Guest, stage 1 off: VA = IPA.
cases_s1_off:
	READ_OK s2_l1_block_read, sec_marker, GIB_IPA - RAM
	READ_OK s2_l2_block_read, sec_marker, ALIAS_IPA - RAM
	READ_OK s2_l3_page_read, PAGES_IPA + page_a_marker - page_a
	READ_FAULT s2_l1_translation, HOLE_L1_IPA + 0x10
	READ_FAULT s2_l3_translation, PAGES_IPA + 0x6000 + 0x64

	@ MMIO-style accesses to the IPA hole: the syndrome an emulator needs.
	MOV32 r4, MMIO_IPA + 0x40
	TCASE mmio_ldr
mmio_ldr_insn:
	ldr r5, [r4]
	TCASE mmio_str
	MOV32 r6, 0xcafe
mmio_str_insn:
	str r6, [r4, #4]
	TCASE mmio_ldrh
mmio_ldrh_insn:
	ldrh r7, [r4, #8]
	TCASE mmio_strb
mmio_strb_insn:
	strb r8, [r4, #0xc]
	TCASE mmio_ldrsb
mmio_ldrsb_insn:
	ldrsb r9, [r4, #0x10]
	TCASE mmio_ldrd
mmio_ldrd_insn:
	ldrd r2, r3, [r4, #0x18]
	TCASE mmio_ldr_writeback
	mov r2, r4
mmio_ldr_writeback_insn:
	ldr r3, [r2, #0x20]!
	TCASE mmio_ldm
mmio_ldm_insn:
	ldm r4, {r2, r3}
	TCASE mmio_thumb_ldr
	MOV32 r4, MMIO_IPA + 0x40
	blx thumb_mmio

	WRITE_FAULT s2_hap_ro_write, PAGES_IPA + 0x1000 + page_a_marker - page_a, 0, 0x1111
	READ_OK s2_hap_ro_read, PAGES_IPA + 0x1000 + page_a_marker - page_a
	READ_FAULT s2_hap_wo_read, PAGES_IPA + 0x2000 + page_a_marker - page_a

	@ A write-only page takes the write: read it back through RAM.
	TCASE s2_hap_wo_write
	MOV32 r3, PAGES_IPA + 0x2000 + page_a_scratch - page_a
s2_hap_wo_write_insn:
	str r3, [r3]
	MOV32 r3, page_a_scratch
	ldr r2, [r3]
	PUTKV "VAL", r2

	READ_FAULT s2_hap_none_read, PAGES_IPA + 0x3000 + page_a_marker - page_a
	FETCH s2_xn_fetch, PAGES_IPA + 0x4000
	FETCH s2_exec, PAGES_IPA + 0x5000
	FETCH s2_fetch_translation, PAGES_IPA + 0x6000
	READ_FAULT s2_page_access_flag, PAGES_IPA + 0x7000 + page_a_marker - page_a
	READ_FAULT s2_block_access_flag, sec_marker, NOAF_IPA - RAM
	GUEST_RETURN

	.thumb
	.type thumb_mmio, %function
	.thumb_func
thumb_mmio:
mmio_thumb_ldr_insn:
	ldr r1, [r4, #0x24]
	bx lr
	.arm

@ Guest, stage 1 on (short descriptors) under stage 2.
cases_s1_on:
	READ_OK two_stage_read, G_PAGES_VA + 0x1000 + page_a_marker - page_a
	READ_OK two_stage_section_read, sec_marker
	READ_FAULT s1_fault_under_s2, G_HOLE_VA + 0x10
	READ_FAULT s2_fault_after_s1, G_MMIO_VA + 0x10
	READ_FAULT s1ptw_translation_read, G_S1PTW_VA + 0x40
	FETCH s1ptw_translation_fetch, G_S1PTW_VA + 0x1000
	READ_FAULT s1ptw_ttbr1_level1, G_TTBR1_VA + 0x40
	READ_FAULT s1ptw_permission, G_S1PERM_VA + 0x40
	READ_OK s1_walk_device_table, G_DEVTBL_VA + page_a_marker - page_a
	GUEST_RETURN

@ Guest, stage 1 on, HCR.PTW=1.
cases_ptw:
	READ_FAULT s1ptw_device_ptw, G_DEVTBL_VA + page_a_marker - page_a
	GUEST_RETURN

@ Guest, stage 1 off, concatenated level-2 stage-2 root.
cases_concat:
	READ_OK concat_block_read, sec_marker, C_BLOCK_IPA - RAM
	READ_OK concat_page_read, C_PAGES_IPA + page_a_marker - page_a
	READ_FAULT concat_translation, C_HOLE_IPA + 0x10
	GUEST_RETURN

@ Guest, long-descriptor stage 1 to 40-bit IPAs.
cases_ipa40:
	READ_OK ipa40_read, sec_marker, W_HIGH_VA - RAM
	READ_FAULT ipa40_translation, W_HOLE_VA + 0x10
	GUEST_RETURN

	MMU_SUPPORT
	MMU_PAGES page_word=page_a_scratch

	.bss
	.balign 16384
g_l1:	.space 16384
s2c_root: .space 16384
	.balign 8192
s2w_root: .space 8192
	.balign 4096
s2_l1:	.space 4096
s2_l2_a: .space 4096
s2_l2_b: .space 4096
s2_l3_a: .space 4096
s2c_l3:	.space 4096
g_l2_none: .space 4096
g_lpae:	.space 4096
	.balign 1024
g_l2:	.space 1024
