#include "rt.h"

#define COM1 0x3f8
#define LSR_THRE 0x20

static const uint8_t *zero_page;

void rt_start(const uint8_t *boot_params);
void rt_start(const uint8_t *boot_params)
{
	zero_page = boot_params;
	rt_finish(main());
}

void rt_putc(char c)
{
	while (!(inb(COM1 + 5) & LSR_THRE))
		cpu_relax();
	outb(COM1, (uint8_t)c);
}

void rt_exit(unsigned int code)
{
	outl(PORT_DEBUG_EXIT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void rt_poweroff(void)
{
	outw(PORT_ACPI_PM1_CNT, (ACPI_SLEEP_TYP_S5 << ACPI_PM1_CNT_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN);
	for (;;)
		__asm__ volatile("cli; hlt");
}

const char *rt_cmdline(void)
{
	uint32_t ptr = *(const uint32_t *)(zero_page + 0x228); /* hdr.cmd_line_ptr */
	return ptr ? (const char *)(uintptr_t)ptr : "";
}

unsigned int rt_e820(const struct rt_e820 **table)
{
	*table = (const struct rt_e820 *)(zero_page + 0x2d0);
	return zero_page[0x1e8];
}

bool rt_ram_range(unsigned int *idx, uint64_t *lo, uint64_t *hi)
{
	const struct rt_e820 *e;
	unsigned int n = rt_e820(&e);
	uint64_t lowest = ((uint64_t)(uintptr_t)_end + 4095) & ~4095ULL;
	for (; *idx < n; (*idx)++) {
		const struct rt_e820 *r = &e[*idx];
		uint64_t a = r->addr < lowest ? lowest : r->addr, end = (r->addr + r->size) & ~4095ULL;
		if (r->type == 1 && a < end) {
			*lo = a;
			*hi = end;
			(*idx)++;
			return true;
		}
	}
	return false;
}

void rt_stopwatch_start(void)
{
	lapic_enable();
	lapic_write(0x3e0, 0x3);          /* divide by 16 */
	lapic_write(0x320, 1u << 16);     /* masked, one-shot */
	lapic_write(0x380, 0xffffffff);
}

uint64_t rt_stopwatch_us(void)
{
	return (uint64_t)(0xffffffffu - lapic_read(0x390)) * 16 / 1000;
}

unsigned int rt_mp_cpus(uint8_t *apic_ids, unsigned int max)
{
	for (uintptr_t a = BOOT_MPTABLE_GPA; a < 0x100000; a += 16) {
		const uint8_t *f = (const uint8_t *)a;
		if (f[0] != '_' || f[1] != 'M' || f[2] != 'P' || f[3] != '_')
			continue;
		const uint8_t *t = (const uint8_t *)(uintptr_t)*(const uint32_t *)(f + 4);
		uint16_t count = *(const uint16_t *)(t + 34);
		const uint8_t *e = t + 44;
		unsigned int n = 0;
		for (uint16_t i = 0; i < count; i++) {
			if (e[0] == 0) { /* processor: 20 bytes */
				if (n < max)
					apic_ids[n] = e[1];
				n++;
				e += 20;
			} else {
				e += 8;
			}
		}
		return n;
	}
	return 0;
}

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, attr;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

extern const uint8_t rt_isr_stubs[];
static struct idt_gate idt[256] __attribute__((aligned(16)));
static rt_handler handlers[256];

void rt_idt_init(void)
{
	for (unsigned int v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)(uintptr_t)(rt_isr_stubs + v * 16);
		idt[v] = (struct idt_gate){ (uint16_t)a, 0x10, 0, 0x8e, (uint16_t)(a >> 16),
					    (uint32_t)(a >> 32), 0 };
	}
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr = {
		sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

void rt_set_handler(unsigned int vector, rt_handler h)
{
	handlers[vector & 0xff] = h;
}

void rt_isr_dispatch(struct rt_frame *f);
void rt_isr_dispatch(struct rt_frame *f)
{
	rt_handler h = handlers[f->vector & 0xff];
	if (h) {
		h(f);
		return;
	}
	rt_printf("FAIL: unexpected vector %u error %lx rip %lx cr2 %lx\n", (unsigned int)f->vector,
		  f->error, f->rip, read_cr2());
	rt_exit(100);
}

uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(uintptr_t)(LAPIC_GPA + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(LAPIC_GPA + reg) = v;
}

void lapic_enable(void)
{
	lapic_write(0xf0, 0x1ff); /* spurious vector 0xff, APIC software-enabled */
}

void lapic_eoi(void)
{
	lapic_write(0xb0, 0);
}
