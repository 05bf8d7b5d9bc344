/* Application processors start here after INIT/SIPI, in real mode at TRAMP_BASE (the
 * SIPI vector page). The BSP copies [rt_tramp_start, rt_tramp_end) there and fills in
 * cr3, the stack and the 64-bit entry. Real -> 32-bit protected -> long mode. */
	.set	TRAMP_BASE, 0x8000
	.text
	.globl	rt_tramp_start, rt_tramp_end, rt_tramp_cr3, rt_tramp_stack, rt_tramp_entry
	.code16
rt_tramp_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	(tramp_gdtr - rt_tramp_start)
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $(TRAMP_BASE + tramp32 - rt_tramp_start)

	.code32
tramp32:
	mov	$0x18, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	(TRAMP_BASE + rt_tramp_cr3 - rt_tramp_start), %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* PG */
	mov	%eax, %cr0
	ljmp	$0x10, $(TRAMP_BASE + tramp64 - rt_tramp_start)

	.code64
tramp64:
	mov	(TRAMP_BASE + rt_tramp_stack - rt_tramp_start), %rsp
	mov	(TRAMP_BASE + rt_tramp_entry - rt_tramp_start), %rax
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.balign	8
tramp_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: 32-bit code */
	.quad	0x00af9a000000ffff	/* 0x10: 64-bit code, as pagoda's boot GDT */
	.quad	0x00cf92000000ffff	/* 0x18: data */
tramp_gdtr:
	.word	4 * 8 - 1
	.long	TRAMP_BASE + tramp_gdt - rt_tramp_start
	.balign	8
rt_tramp_cr3:
	.quad	0
rt_tramp_stack:
	.quad	0
rt_tramp_entry:
	.quad	0
rt_tramp_end:

	.section .note.GNU-stack, "", @progbits
