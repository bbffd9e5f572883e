@ A well-formed image that build_bad_image("outside_ram") links at
@ 0x20000000, an address of QEMU's virt map with no RAM.  Were it ever run,
@ it would print "RUNNING" and power off.

	.include "lib.inc"

	.section .text.boot, "ax"
	.global _start
_start:
	bl lib_init
	STR_ADDR r0, "RUNNING"
	bl print_line
	b finish
