@ Support code linked into every test image: PL011 output, PSCI power-off,
@ stacks, a Hyp vector table and PL1 vector tables (ARM and Thumb) whose
@ handlers print what the exception left in the registers and resume, and
@ run_guest, which lets Hyp code run a piece of PL1/PL0 code and get
@ control back.

	.include "lib.inc"

	.equ STACK_SIZE, 1024
	.equ UART_FR, 0x18
	.equ UART_CR, 0x30
	.equ UART_FR_TXFF, 0x20

	.text
	.arm

@ uart_putc(r0 = character).  Waits while the transmit FIFO is full.
	.global uart_putc
	.type uart_putc, %function
uart_putc:
	MOV32 r1, UART_BASE
1:	ldr r2, [r1, #UART_FR]
	tst r2, #UART_FR_TXFF
	bne 1b
	str r0, [r1]
	bx lr

@ uart_puts(r0 = NUL-terminated string).
	.global uart_puts
	.type uart_puts, %function
uart_puts:
	push {r4, lr}
	mov r4, r0
1:	ldrb r0, [r4], #1
	cmp r0, #0
	popeq {r4, pc}
	bl uart_putc
	b 1b

@ print_hex(r0): eight lower-case hex digits.
	.global print_hex
	.type print_hex, %function
print_hex:
	push {r4, r5, r6, lr}
	mov r4, r0
	mov r5, #28
1:	lsr r0, r4, r5
	and r0, r0, #0xf
	cmp r0, #10
	addlo r0, r0, #'0'
	addhs r0, r0, #'a' - 10
	bl uart_putc
	subs r5, r5, #4
	bpl 1b
	pop {r4, r5, r6, pc}

@ print_kv(r0 = key string, r1 = value): "key=xxxxxxxx\n".
	.global print_kv
	.type print_kv, %function
print_kv:
	push {r4, lr}
	mov r4, r1
	bl uart_puts
	mov r0, #'='
	bl uart_putc
	mov r0, r4
	bl print_hex
	mov r0, #'\n'
	bl uart_putc
	pop {r4, pc}

@ print_line(r0 = string): the string and a newline.
	.global print_line
	.type print_line, %function
print_line:
	push {r4, lr}
	bl uart_puts
	mov r0, #'\n'
	bl uart_putc
	pop {r4, pc}

@ print_case(r0 = name): "CASE name\n".
	.global print_case
	.type print_case, %function
print_case:
	push {r4, lr}
	mov r4, r0
	STR_ADDR r0, "CASE "
	bl uart_puts
	mov r0, r4
	bl print_line
	pop {r4, pc}

@ finish: print "END" and power off through PSCI SYSTEM_OFF.  Called from
@ Hyp (or from PL1 with HCR.TSC clear), where QEMU's firmware answers SMC.
	.global finish
	.type finish, %function
finish:
	STR_ADDR r0, "END"
	bl print_line
	MOV32 r0, PSCI_SYSTEM_OFF
	smc #0
	STR_ADDR r0, "SYSTEM_OFF returned"
	bl print_line
1:	wfi
	b 1b

@ lib_init, called in Hyp mode: stacks for every mode, HVBAR and VBAR
@ pointing at the printing vector tables, PL011 enabled.
	.global lib_init
	.type lib_init, %function
lib_init:
	MOV32 r0, stack_hyp + STACK_SIZE
	mov sp, r0
	MOV32 r0, stack_svc + STACK_SIZE
	msr SP_svc, r0
	MOV32 r0, stack_und + STACK_SIZE
	msr SP_und, r0
	MOV32 r0, stack_abt + STACK_SIZE
	msr SP_abt, r0
	MOV32 r0, stack_irq + STACK_SIZE
	msr SP_irq, r0
	MOV32 r0, stack_fiq + STACK_SIZE
	msr SP_fiq, r0
	MOV32 r0, stack_usr + STACK_SIZE
	msr SP_usr, r0
	MOV32 r0, hyp_vectors
	mcr p15, 4, r0, c12, c0, 0
	MOV32 r0, pl1_vectors
	mcr p15, 0, r0, c12, c0, 0
	MOV32 r0, UART_BASE
	movw r1, #0x301
	str r1, [r0, #UART_CR]
	isb
	bx lr

@ run_guest(r0 = entry, r1 = SPSR): ERET from Hyp to entry in the mode and
@ state given by r1.  Returns when the guest code executes GUEST_RETURN
@ (or, at PL0 under HCR.TGE, svc #GUEST_DONE).  Not reentrant.
	.global run_guest
	.type run_guest, %function
run_guest:
	push {r4-r12, lr}
	MOV32 r2, run_guest_sp
	str sp, [r2]
	bic r0, r0, #1
	msr ELR_hyp, r0
	msr SPSR_fsxc, r1
	eret

guest_done:
	MOV32 r0, run_guest_sp
	ldr sp, [r0]
	pop {r4-r12, pc}

@ insn_size(r0 = address, r1 = PSR of the code there): 2 or 4.
	.type insn_size, %function
insn_size:
	tst r1, #0x20
	moveq r0, #4
	bxeq lr
	ldrh r2, [r0]
	lsr r2, r2, #11
	cmp r2, #0x1d
	movhs r0, #4
	movlo r0, #2
	bx lr

@ Hyp vector table.  Every entry saves r0-r12 and LR (LR_usr: Hyp has no
@ LR of its own) and passes its offset to hyp_common.
.macro HYP_STUB offset
hyp_vec_\offset:
	push {r0-r12, lr}
	mov r0, #\offset
	b hyp_common
.endm

	.balign 32
	.global hyp_vectors
hyp_vectors:
	b hyp_vec_0x00
	b hyp_vec_0x04
	b hyp_vec_0x08
	b hyp_vec_0x0c
	b hyp_vec_0x10
	b hyp_vec_0x14
	b hyp_vec_0x18
	b hyp_vec_0x1c
	HYP_STUB 0x00
	HYP_STUB 0x04
	HYP_STUB 0x08
	HYP_STUB 0x0c
	HYP_STUB 0x10
	HYP_STUB 0x14
	HYP_STUB 0x18
	HYP_STUB 0x1c

@ hyp_common(r0 = vector offset): print VEC, HSR, ELR (ELR_hyp) and SPSR
@ (SPSR_hyp).  An HVC or SVC with immediate GUEST_DONE is run_guest's
@ return instead and prints nothing.  Undefined Instruction (0x04), HVC/SVC
@ in Hyp (0x08) and Hyp Trap (0x14) resume: HVC and SVC at ELR_hyp (the next
@ instruction), anything else after the instruction at ELR_hyp.  The other
@ entries are not expected by any image and end the run.
hyp_common:
	mov r4, r0
	mrc p15, 4, r5, c5, c2, 0
	mrs r6, ELR_hyp
	mrs r7, SPSR
	lsr r8, r5, #26
	cmp r8, #0x11
	cmpne r8, #0x12
	bne 1f
	movw r0, #GUEST_DONE
	uxth r1, r5
	cmp r0, r1
	beq guest_done
1:	cmp r4, #0x04
	cmpne r4, #0x08
	cmpne r4, #0x14
	beq 2f
	STR_ADDR r0, "UNEXPECTED"
	bl print_line
2:	PUTKV "VEC", r4
	PUTKV "HSR", r5
	PUTKV "ELR", r6
	PUTKV "SPSR", r7
	cmp r4, #0x04
	cmpne r4, #0x08
	cmpne r4, #0x14
	bne finish
	cmp r8, #0x11
	cmpne r8, #0x12
	beq 3f
	mov r0, r6
	mov r1, r7
	bl insn_size
	add r6, r6, r0
3:	msr ELR_hyp, r6
	pop {r0-r12, lr}
	eret

@ PL1 vector tables.  Every entry saves r0-r12 and LR_mode, reads CPSR as
@ the exception left it and passes offset and CPSR to pl1_common.
.macro PL1_STUB offset
pl1_vec_\offset:
	push {r0-r12, lr}
	mrs r1, cpsr
	mov r0, #\offset
	b pl1_common
.endm

	.balign 32
	.global pl1_vectors
pl1_vectors:
	b pl1_vec_0x00
	b pl1_vec_0x04
	b pl1_vec_0x08
	b pl1_vec_0x0c
	b pl1_vec_0x10
	b pl1_vec_0x14
	b pl1_vec_0x18
	b pl1_vec_0x1c
	PL1_STUB 0x00
	PL1_STUB 0x04
	PL1_STUB 0x08
	PL1_STUB 0x0c
	PL1_STUB 0x10
	PL1_STUB 0x14
	PL1_STUB 0x18
	PL1_STUB 0x1c

@ The same in Thumb, for SCTLR.TE=1 (exceptions taken to PL1 in Thumb state).
@ MRS reads CPSR.T as 0 (ARM ARM B9.3, MRS); these stubs, which run only if the
@ exception was entered in Thumb state, put it back.
	.thumb
.macro PL1_TSTUB offset
pl1_tvec_\offset:
	push {r0-r12, lr}
	mrs r1, cpsr
	orr r1, r1, #0x20
	mov r0, #\offset
	MOV32 r2, pl1_common
	bx r2
.endm

	.balign 32
	.global pl1_vectors_thumb
pl1_vectors_thumb:
	b.w pl1_tvec_0x00
	b.w pl1_tvec_0x04
	b.w pl1_tvec_0x08
	b.w pl1_tvec_0x0c
	b.w pl1_tvec_0x10
	b.w pl1_tvec_0x14
	b.w pl1_tvec_0x18
	b.w pl1_tvec_0x1c
	PL1_TSTUB 0x00
	PL1_TSTUB 0x04
	PL1_TSTUB 0x08
	PL1_TSTUB 0x0c
	PL1_TSTUB 0x10
	PL1_TSTUB 0x14
	PL1_TSTUB 0x18
	PL1_TSTUB 0x1c
	.arm

@ pl1_common(r0 = vector offset, r1 = CPSR at entry), in the exception's
@ mode: print VEC, LR, SPSR, CPSR, and IFSR (prefetch abort) or DFSR and
@ DFAR (data abort); then resume.  Undefined Instruction, Prefetch Abort
@ and synchronous Data Abort resume after the instruction concerned, SVC at
@ LR; IRQ, FIQ and an asynchronous abort resume at the interrupted
@ instruction with that class masked, since a virtual interrupt stays
@ pending until Hyp code withdraws it.
	.type pl1_common, %function
pl1_common:
	mov r4, r0
	mov r7, r1
	mov r5, lr
	mrs r6, spsr
	cmp r4, #0x00
	cmpne r4, #0x14
	bne 1f
	STR_ADDR r0, "UNEXPECTED"
	bl print_line
1:	PUTKV "VEC", r4
	PUTKV "LR", r5
	PUTKV "SPSR", r6
	PUTKV "CPSR", r7
	cmp r4, #0x00
	cmpne r4, #0x14
	beq finish
	cmp r4, #0x0c
	bne 2f
	mrc p15, 0, r8, c5, c0, 1
	PUTKV "IFSR", r8
2:	cmp r4, #0x10
	bne 3f
	mrc p15, 0, r8, c5, c0, 0
	PUTKV "DFSR", r8
	mrc p15, 0, r9, c6, c0, 0
	PUTKV "DFAR", r9
3:	cmp r4, #0x08
	beq .Lresume
	cmp r4, #0x18
	beq .Lirq
	cmp r4, #0x1c
	beq .Lfiq
	cmp r4, #0x04
	bne 4f
	tst r6, #0x20
	subeq r0, r5, #4
	subne r0, r5, #2
	b .Lskip
4:	cmp r4, #0x0c
	subeq r0, r5, #4
	beq .Lskip
	orr r6, r6, #PSR_A
	sub r0, r5, #8
	movw r1, #0x40f
	and r1, r8, r1
	movw r2, #0x406
	cmp r1, r2
	moveq r5, r0
	beq .Lresume
.Lskip:
	mov r5, r0
	mov r1, r6
	bl insn_size
	add r5, r5, r0
	b .Lresume
.Lirq:
	sub r5, r5, #4
	orr r6, r6, #PSR_I
	b .Lresume
.Lfiq:
	sub r5, r5, #4
	orr r6, r6, #PSR_F
.Lresume:
	msr spsr_fsxc, r6
	str r5, [sp, #52]
	ldm sp!, {r0-r12, lr}
	movs pc, lr

	.data
	.balign 4
run_guest_sp:
	.word 0

	.bss
	.balign 8
stack_hyp: .space STACK_SIZE
stack_svc: .space STACK_SIZE
stack_und: .space STACK_SIZE
stack_abt: .space STACK_SIZE
stack_irq: .space STACK_SIZE
stack_fiq: .space STACK_SIZE
stack_usr: .space STACK_SIZE
