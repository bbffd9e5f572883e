/* The program of the GDB session run against hypdbg and QEMU
 * (tests/test_gdb_vs_qemu.py).
 *
 * Built with arm-none-eabi-gcc -O0 -g -ffreestanding -nostdlib, linked at
 * 0x40000000 by tests/images/image.ld and entered in Hyp mode, as QEMU's
 * -M virt,virtualization=on starts an ELF. It powers off through PSCI
 * SYSTEM_OFF (smc #0 with r0 = 0x84000008). Every global is initialised in
 * .data (-fno-zero-initialized-in-bss), so GDB's `load` restores them all.
 */

volatile unsigned int seed = 5;
volatile unsigned int watched = 0x11;
volatile unsigned int go = 0;
volatile unsigned int ticks = 0;
unsigned int table[8] = {
	0x11111111, 0x22222222, 0x33333333, 0x44444444,
	0x55555555, 0x66666666, 0x77777777, 0x88888888,
};

__asm__(
"	.section .text.boot, \"ax\"\n"
"	.global _start\n"
"_start:\n"
"	ldr	sp, =0x40100000\n"
"	bl	main\n"
"	ldr	r0, =0x84000008\n"
"	smc	#0\n"
"1:	b	1b\n"
"	.ltorg\n"
"	.text\n");

/* A leaf with a frame, for `break scale` and `finish`. */
unsigned int scale(unsigned int x)
{
	unsigned int y = x * 3 + 1;
	return y;
}

/* Runs until the debugger sets `go`: the loop that Ctrl-C stops. */
void spin(void)
{
	while (!go)
		ticks++;
}

void reached_end(void)
{
}

int main(void)
{
	unsigned int r = scale(seed);
	table[0] = r;
	watched = r + 5;
	table[1] = watched;
	spin();
	reached_end();
	return 0;
}
