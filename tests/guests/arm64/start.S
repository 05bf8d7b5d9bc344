/* Entry of the tiny arm64 guests: the Image header, then on every CPU a stack of its own
 * and the MMU on with an identity map (below 1 GiB device memory, RAM normal cacheable
 * memory, so atomics and unaligned accesses behave), then C. */
#define STACK_SIZE 16384
#define MAX_CPUS 8

	.section .text.head, "ax"
	.global _start
_start:
	b	primary              /* code0 */
	.long	0                /* code1 */
	.quad	0                /* text_offset */
	.quad	_image_size      /* image_size, bss included (image.ld) */
	.quad	0xa              /* flags: little-endian, 4K pages, anywhere */
	.quad	0, 0, 0
	.ascii	"ARM\x64"
	.long	0

primary:
	mov	x19, x0              /* the device tree */
	/* zero bss first (page table and stacks live there; nothing uses a stack yet) */
	adrp	x0, __bss_start
	add	x0, x0, :lo12:__bss_start
	adrp	x1, _end
	add	x1, x1, :lo12:_end
1:	cmp	x0, x1
	b.hs	2f
	str	xzr, [x0], #8
	b	1b
2:	bl	build_page_table
	bl	mmu_on
	adrp	x1, stacks
	add	x1, x1, #STACK_SIZE
	mov	sp, x1
	mov	x0, x19
	bl	rt_start
3:	wfi
	b	3b

/* PSCI CPU_ON lands here with x0 = the CPU's index (its context id). */
	.global rt_secondary_entry
rt_secondary_entry:
	mov	x19, x0
	adrp	x1, stacks
	add	x2, x0, #1
	mov	x3, #STACK_SIZE
	madd	x1, x2, x3, x1
	add	x1, x1, #STACK_SIZE
	mov	sp, x1
	bl	mmu_on
	mov	x0, x19
	bl	rt_secondary_start
4:	wfi
	b	4b

/* One level-1 table, 1 GiB blocks: entry 0 device (attr 0), entries 1-511 normal (attr 1). */
build_page_table:
	adrp	x0, page_table
	mov	x1, #0
	mov	x3, #0x405           /* block, AttrIndx 1, AF */
	orr	x3, x3, #0x300       /* inner shareable */
	mov	x4, #0x401           /* block, AttrIndx 0, AF */
5:	lsl	x2, x1, #30
	cmp	x1, #0
	csel	x5, x4, x3, eq
	orr	x2, x2, x5
	str	x2, [x0, x1, lsl #3]
	add	x1, x1, #1
	cmp	x1, #512
	b.lo	5b
	dsb	sy
	ret

mmu_on:
	mov	x0, #0xff00          /* MAIR: attr0 device-nGnRnE, attr1 normal write-back */
	msr	mair_el1, x0
	/* TCR: T0SZ 25 (39-bit VA, walk from level 1), non-cacheable walks (the table was
	 * written with the caches off), inner shareable, 4K granule, TTBR1 walks off (EPD1),
	 * IPS 40 bits */
	ldr	x0, =((25) | (3 << 12) | (1 << 23) | (2 << 32))
	msr	tcr_el1, x0
	adrp	x0, page_table
	msr	ttbr0_el1, x0
	isb
	tlbi	vmalle1
	dsb	nsh
	mrs	x0, sctlr_el1
	orr	x0, x0, #1           /* M */
	orr	x0, x0, #(1 << 2)    /* C */
	orr	x0, x0, #(1 << 12)   /* I */
	msr	sctlr_el1, x0
	isb
	ret

	.section .bss
	.balign 4096
page_table:
	.space	4096
	.balign 16
	.global rt_stacks
stacks:
rt_stacks:
	.space	STACK_SIZE * (MAX_CPUS + 1)
