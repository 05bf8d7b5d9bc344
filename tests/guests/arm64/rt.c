#include "rt.h"

#define UART_LSR 5
#define LSR_THRE 0x20
#define PSCI_CPU_ON    0xc4000003ULL
#define PSCI_SYS_OFF   0x84000008ULL

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4
#define FDT_END        9

static const uint8_t *dtb;
static uint64_t stopwatch_t0;

void rt_start(const uint8_t *fdt);
void rt_start(const uint8_t *fdt)
{
	dtb = fdt;
	rt_finish(main());
}

void rt_secondary_start(unsigned int index);
void rt_secondary_start(unsigned int index)
{
	rt_secondary_main(index);
}

__attribute__((weak)) void rt_secondary_main(unsigned int index)
{
	(void)index;
}

void rt_putc(char c)
{
	volatile uint8_t *uart = (volatile uint8_t *)(uintptr_t)ARM64_UART_GPA;
	while (!(uart[UART_LSR] & LSR_THRE))
		cpu_relax();
	uart[0] = (uint8_t)c;
}

bool rt_input_ready(void)
{
	return ((volatile uint8_t *)(uintptr_t)ARM64_UART_GPA)[UART_LSR] & 1;
}

static int64_t hvc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
	register uint64_t x0 __asm__("x0") = fn, x1 __asm__("x1") = a1, x2 __asm__("x2") = a2,
					       x3 __asm__("x3") = a3;
	__asm__ volatile("hvc #0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x3) : "memory");
	return (int64_t)x0;
}

void rt_exit(unsigned int code)
{
	mmio_write32(ARM64_DEBUG_EXIT_GPA, code);
	for (;;)
		__asm__ volatile("wfi");
}

void rt_poweroff(void)
{
	hvc(PSCI_SYS_OFF, 0, 0, 0);
	for (;;)
		__asm__ volatile("wfi");
}

extern char rt_secondary_entry[];
int64_t rt_psci_cpu_on(uint64_t mpidr, unsigned int index)
{
	return hvc(PSCI_CPU_ON, mpidr, (uint64_t)(uintptr_t)rt_secondary_entry, index);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool str_starts(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* Calls fn for every property of every node whose name starts with node_prefix, at any
 * depth; node names include the unit address ("memory@40000000"). */
typedef void (*prop_fn)(void *ctx, const char *node, const char *prop, const uint8_t *val, uint32_t len);
static void fdt_walk(const char *node_prefix, prop_fn fn, void *ctx)
{
	if (!dtb || be32(dtb) != FDT_MAGIC)
		return;
	const uint8_t *p = dtb + be32(dtb + 8);
	const char *strings = (const char *)dtb + be32(dtb + 12);
	const char *stack[16];
	int depth = -1;
	for (;;) {
		uint32_t tok = be32(p);
		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			if (depth < 15)
				stack[++depth] = name;
			while (*p)
				p++;
			p = (const uint8_t *)(((uintptr_t)p + 4) & ~(uintptr_t)3);
		} else if (tok == FDT_END_NODE) {
			depth--;
		} else if (tok == FDT_PROP) {
			uint32_t len = be32(p), off = be32(p + 4);
			const uint8_t *val = p + 8;
			if (depth >= 0 && str_starts(stack[depth], node_prefix))
				fn(ctx, stack[depth], strings + off, val, len);
			p = val + ((len + 3) & ~3u);
		} else if (tok != FDT_NOP) {
			return;
		}
	}
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

struct mem_found { uint64_t base, size; };
static void on_memory(void *ctx, const char *node, const char *prop, const uint8_t *val, uint32_t len)
{
	struct mem_found *m = ctx;
	(void)node;
	if (str_eq(prop, "reg") && len >= 16) {
		m->base = be64(val);
		m->size = be64(val + 8);
	}
}

bool rt_ram_range(unsigned int *idx, uint64_t *lo, uint64_t *hi)
{
	if (*idx > 0)
		return false;
	struct mem_found m = { 0, 0 };
	fdt_walk("memory@", on_memory, &m);
	uint64_t start = ((uint64_t)(uintptr_t)_end + 4095) & ~4095ULL;
	uint64_t end = (uint64_t)(uintptr_t)dtb & ~4095ULL; /* the device tree, then the top of RAM */
	if (!m.size || end <= start || end > m.base + m.size)
		return false;
	*lo = start;
	*hi = end;
	(*idx)++;
	return true;
}

struct cpus_found { uint64_t *mpidr; unsigned int n, max; };
static void on_cpu(void *ctx, const char *node, const char *prop, const uint8_t *val, uint32_t len)
{
	struct cpus_found *c = ctx;
	(void)node;
	if (str_eq(prop, "reg") && len == 8 && c->n < c->max)
		c->mpidr[c->n++] = be64(val);
}

unsigned int rt_cpus(uint64_t *mpidr, unsigned int max)
{
	struct cpus_found c = { mpidr, 0, max };
	fdt_walk("cpu@", on_cpu, &c);
	return c.n;
}

static const char *bootargs = "";
static void on_chosen(void *ctx, const char *node, const char *prop, const uint8_t *val, uint32_t len)
{
	(void)ctx, (void)node;
	if (str_eq(prop, "bootargs") && len > 0 && val[len - 1] == 0)
		bootargs = (const char *)val;
}

const char *rt_cmdline(void)
{
	static bool looked;
	if (!looked) {
		fdt_walk("chosen", on_chosen, 0);
		looked = true;
	}
	return bootargs;
}

void rt_stopwatch_start(void)
{
	__asm__ volatile("isb");
	stopwatch_t0 = read_sysreg(cntvct_el0);
}

uint64_t rt_stopwatch_us(void)
{
	__asm__ volatile("isb");
	uint64_t ticks = read_sysreg(cntvct_el0) - stopwatch_t0, hz = read_sysreg(cntfrq_el0);
	return hz ? ticks / hz * 1000000 + ticks % hz * 1000000 / hz : 0;
}

void rt_test_sync(const void *record)
{
	mmio_write32(ARM64_TEST_SYNC_GPA, (uint32_t)(uintptr_t)record);
}
