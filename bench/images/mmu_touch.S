@ Page-touching workload under two stages of translation.
@
@ Hyp code builds a stage-2 map (VTCR.T0SZ=0, SL0=01; 4 KiB pages for the
@ buffer) and a short-descriptor guest stage 1 (small pages), then enters
@ the guest in SVC.  The guest makes PASSES passes over PAGES distinct 4 KiB
@ pages: VA BUF_VA + i * 4 KiB -> IPA BUF_IPA + i * 4 KiB -> PA BUF_PA + i * 4 KiB,
@ one load and one store per page, 5 instructions per page.  Then PSCI
@ SYSTEM_OFF by SMC from the guest.  With EMPTY defined the image powers
@ off at once (start-up and exit cost).
@ PAGES is a multiple of 256 (one guest second-level table each) or below 256.
        .syntax unified
        .arch armv7ve
        .arm
        .ifndef PAGES
        .equ PAGES, 1024
        .endif
        .ifndef PASSES
        .equ PASSES, 100
        .endif
        .equ PSCI_SYSTEM_OFF, 0x84000008
        .equ RAM,      0x40000000
        .equ BUF_VA,   0x10000000
        .equ BUF_IPA,  0x50000000
        .equ BUF_PA,   0x40400000
        @ Tables, inside the 2 MiB at RAM that both stages map flat.
        .equ S2_L1,    0x40100000       @ 4 entries (IPA[31:30])
        .equ S2_L2,    0x40101000       @ IPA [1 GiB, 2 GiB)
        .equ S2_L3,    0x40102000       @ one 4 KiB table per 512 buffer pages
        .equ G_L1,     0x40110000       @ guest TTBR0 (TTBCR.N=0), 16 KiB
        .equ G_L2,     0x40114000       @ one 1 KiB table per 256 buffer pages
        .equ S2_BLOCK, 0x7fd            @ block, MemAttr Normal WB, HAP RW, SH, AF
        .equ S2_PAGE,  0x7ff            @ page, same attributes
        .equ G_SECTION, 0x1c0e          @ section, TEX=001 C B, AP=011
        .equ G_SMALL,  0x7e             @ small page, TEX=001 C B, AP=011

        .global _start
_start:
        .ifdef EMPTY
        ldr     r0, =PSCI_SYSTEM_OFF
        smc     #0
        .else
        @ Clear the tables that are only partly written.
        ldr     r0, =S2_L1
        ldr     r1, =S2_L2 + 0x1000
        bl      zero
        ldr     r0, =G_L1
        ldr     r1, =G_L1 + 0x4000
        bl      zero
        @ Stage 2: IPA [1 GiB, 2 GiB) through S2_L2; RAM's first 2 MiB flat,
        @ the buffer IPAs through level-3 pages.
        ldr     r0, =S2_L1 + 8
        ldr     r2, =S2_L2 + 3
        mov     r3, #0
        strd    r2, r3, [r0]
        ldr     r0, =S2_L2
        ldr     r2, =RAM + S2_BLOCK
        strd    r2, r3, [r0]
        ldr     r0, =S2_L2 + ((BUF_IPA >> 21) & 0x1ff) * 8
        ldr     r2, =S2_L3 + 3
        ldr     r4, =(PAGES + 511) / 512
1:      strd    r2, r3, [r0], #8
        add     r2, r2, #0x1000
        subs    r4, r4, #1
        bne     1b
        ldr     r0, =S2_L3
        ldr     r2, =BUF_PA + S2_PAGE
        ldr     r4, =PAGES
2:      strd    r2, r3, [r0], #8
        add     r2, r2, #0x1000
        subs    r4, r4, #1
        bne     2b
        @ Guest stage 1: RAM's first MiB flat, the buffer VAs through small pages.
        ldr     r0, =G_L1 + (RAM >> 20) * 4
        ldr     r2, =RAM + G_SECTION
        str     r2, [r0]
        ldr     r0, =G_L1 + (BUF_VA >> 20) * 4
        ldr     r2, =G_L2 + 1
        ldr     r4, =(PAGES + 255) / 256
3:      str     r2, [r0], #4
        add     r2, r2, #0x400
        subs    r4, r4, #1
        bne     3b
        ldr     r0, =G_L2
        ldr     r2, =BUF_IPA + G_SMALL
        ldr     r4, =PAGES
4:      str     r2, [r0], #4
        add     r2, r2, #0x1000
        subs    r4, r4, #1
        bne     4b
        @ Translation registers, then into the guest.
        ldr     r0, =0x80000040
        mcr     p15, 4, r0, c2, c1, 2    @ VTCR: T0SZ=0, SL0=01
        ldr     r0, =S2_L1
        mov     r1, #1 << 16
        mcrr    p15, 6, r0, r1, c2       @ VTTBR, VMID 1
        mov     r0, #1
        mcr     p15, 4, r0, c1, c1, 0    @ HCR.VM
        mov     r0, #0
        mcr     p15, 0, r0, c2, c0, 2    @ TTBCR
        ldr     r0, =G_L1
        mcr     p15, 0, r0, c2, c0, 0    @ TTBR0
        ldr     r0, =0x55555555
        mcr     p15, 0, r0, c3, c0, 0    @ DACR: all client
        mcr     p15, 4, r0, c8, c7, 4    @ TLBIALLNSNH
        dsb
        mrc     p15, 0, r0, c1, c0, 0
        orr     r0, r0, #1
        mcr     p15, 0, r0, c1, c0, 0    @ SCTLR.M
        isb
        ldr     r0, =guest
        msr     ELR_hyp, r0
        mov     r0, #0x1d3               @ SVC, A I F masked
        msr     SPSR_fsxc, r0
        eret

zero:   mov     r2, #0
5:      str     r2, [r0], #4
        cmp     r0, r1
        blo     5b
        bx      lr

guest:
        ldr     r4, =PASSES
        mov     r3, #0x1000
6:      ldr     r0, =BUF_VA
        ldr     r1, =BUF_VA + PAGES * 0x1000
7:      ldr     r2, [r0]
        add     r2, r2, #1
        str     r2, [r0], r3
        cmp     r0, r1
        blo     7b
        subs    r4, r4, #1
        bne     6b
        ldr     r0, =PSCI_SYSTEM_OFF
        smc     #0
        .endif
8:      b       8b
        .ltorg
