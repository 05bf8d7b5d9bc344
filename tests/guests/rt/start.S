/* Entry from pagoda: long mode, identity map, rsi = zero page. */
	.section .text.start, "ax"
	.globl _start
_start:
	lea	rt_stack_top(%rip), %rsp
	mov	%rsi, %rdi
	call	rt_start
1:	cli
	hlt
	jmp	1b

	.bss
	.balign 16
	.space	32768
	.globl	rt_stack_top
rt_stack_top:

	.section .note.GNU-stack, "", @progbits
