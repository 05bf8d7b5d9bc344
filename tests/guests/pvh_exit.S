/* The smallest PVH guest: its 32-bit entry writes 0 to the debug-exit port (0x501, as
 * QEMU's isa-debug-exit). Boots unchanged in pagoda and in QEMU, so tools/boot-bench
 * can time both VMMs from start to exit on the same guest. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4, 4, 18
	.asciz "Xen"
	.balign 4
	.long pvh_start
	.text
	.code32
	.globl pvh_start
pvh_start:
	mov $0x501, %dx
	xor %eax, %eax
	out %al, %dx
1:	hlt
	jmp 1b
	.section .note.GNU-stack, "", @progbits
