@ Host in SVC calls HVC #0x12, then SVC #0x42, then an UNDEF; prints A-E over the UART.
.syntax unified
.arm
.global _start
_start:
  ldr sp, =0x40080000
  ldr r0, =hyp_vectors
  mcr p15, 4, r0, c12, c0, 0     @ HVBAR
  ldr r0, =svc_vectors
  mcr p15, 0, r0, c12, c0, 0     @ VBAR
  mov r0, #0x1d3
  msr SPSR_fsxc, r0
  ldr r0, =svc_entry
  msr ELR_hyp, r0
  eret
svc_entry:
  ldr sp, =0x40070000
  mov r0, #'A'
  bl putc
  hvc #0x12
after_hvc:
  mov r0, #'C'
  bl putc
  svc #0x42
after_svc:
  mov r0, #'E'
  bl putc
  udf #0
after_udf:
  ldr r0, =0x84000008
  smc #0
  b .
putc:
  ldr r1, =0x09000000
  str r0, [r1]
  bx lr
.align 5
hyp_vectors:
  b .
  b .
  b .
  b .
  b .
  b hyp_trap
  b .
  b .
hyp_trap:
  push {r0, r1, lr}
  mov r0, #'B'
  bl putc
  mrc p15, 4, r0, c5, c2, 0
  pop {r0, r1, lr}
  eret
.align 5
svc_vectors:
  b .
  b und_h
  b svc_h
  b .
  b .
  b .
  b .
  b .
svc_h:
  push {r0,r1,lr}
  mov r0, #'D'
  bl putc
  pop {r0,r1,lr}
  movs pc, lr
und_h:
  push {r0,r1,lr}
  mov r0, #'U'
  bl putc
  pop {r0,r1,lr}
  movs pc, lr
.ltorg
