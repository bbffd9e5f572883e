# An x86-64 object for the CLI's "not an ARM image" check; assembled with
# the host assembler by tests/imagebuild.py (build_bad_image("x86_64")).
	.text
	.globl _start
_start:
	movl $60, %eax
	xorl %edi, %edi
	syscall
