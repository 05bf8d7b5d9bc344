#include "rt.h"

#include <stdarg.h>

#define COM1 0x3f8
#define LSR_THRE 0x20

static const uint8_t *zero_page;
static struct rt_lock print_lock;

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

static void put_str(const char *s)
{
	while (*s)
		rt_putc(*s++);
}

static void put_num(uint64_t v, unsigned int base, int width, char pad, bool neg)
{
	char buf[24];
	int n = 0;
	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	for (int i = n; i < width; i++)
		rt_putc(pad);
	while (n)
		rt_putc(buf[--n]);
}

static void vprint(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			rt_putc(*fmt);
			continue;
		}
		char pad = ' ';
		int width = 0, longs = 0;
		if (*++fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z')
			longs++, fmt++;
		uint64_t u;
		int64_t s;
		switch (*fmt) {
		case 'd':
			s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(s < 0 ? (uint64_t)-s : (uint64_t)s, 10, width, pad, s < 0);
			break;
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(u, *fmt == 'x' ? 16 : 10, width, pad, false);
			break;
		case 'p':
			put_str("0x");
			put_num((uint64_t)va_arg(ap, void *), 16, width, pad, false);
			break;
		case 's': put_str(va_arg(ap, const char *)); break;
		case 'c': rt_putc((char)va_arg(ap, int)); break;
		case '%': rt_putc('%'); break;
		default: rt_putc('?'); break;
		}
	}
}

void rt_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_lock(&print_lock);
	vprint(fmt, ap);
	rt_unlock(&print_lock);
	va_end(ap);
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

void rt_finish(int status)
{
	if (status == 0)
		rt_poweroff();
	rt_printf("FAIL: status %d\n", status);
	rt_exit((unsigned int)status);
}

const char *rt_cmdline(void)
{
	uint32_t ptr = *(const uint32_t *)(zero_page + 0x228); /* hdr.cmd_line_ptr */
	return ptr ? (const char *)(uintptr_t)ptr : "";
}

const char *rt_param(const char *name)
{
	const char *p = rt_cmdline();
	while (*p) {
		while (*p == ' ')
			p++;
		const char *n = name, *q = p;
		while (*n && *q == *n)
			n++, q++;
		if (!*n && *q == '=')
			return q + 1;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

uint64_t rt_param_u64(const char *name, uint64_t fallback)
{
	const char *v = rt_param(name);
	if (!v || *v < '0' || *v > '9')
		return fallback;
	uint64_t r = 0;
	while (*v >= '0' && *v <= '9')
		r = r * 10 + (uint64_t)(*v++ - '0');
	return r;
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

void rt_lock(struct rt_lock *l)
{
	while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
		while (l->v)
			cpu_relax();
}

void rt_unlock(struct rt_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}
