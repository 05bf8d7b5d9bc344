/* Every vCPU reports in: the BSP wakes each AP from the MP table with INIT/SIPI through
 * the in-kernel LAPIC; each AP reaches long mode through the real-mode trampoline and
 * prints its APIC id. */
#include "rt/rt.h"

#define TRAMP_BASE 0x8000
#define MAX_CPUS 64
#define AP_STACK 8192

extern const uint8_t rt_tramp_start[], rt_tramp_end[], rt_tramp_cr3[], rt_tramp_stack[],
	rt_tramp_entry[];
static uint8_t ap_stacks[MAX_CPUS][AP_STACK] __attribute__((aligned(16)));
static volatile unsigned int reported;

static void ap_main(void)
{
	uint32_t id = lapic_read(0x20) >> 24;
	rt_printf("cpu with apic id %u is up\n", id);
	__atomic_add_fetch(&reported, 1, __ATOMIC_SEQ_CST);
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void put_u64(const uint8_t *field, uint64_t v)
{
	*(volatile uint64_t *)(uintptr_t)(TRAMP_BASE + (field - rt_tramp_start)) = v;
}

static void send_ipi(uint8_t apic_id, uint32_t icr)
{
	lapic_write(0x310, (uint32_t)apic_id << 24);
	lapic_write(0x300, icr);
	while (lapic_read(0x300) & (1u << 12)) /* delivery pending */
		cpu_relax();
}

int main(void)
{
	uint8_t ids[MAX_CPUS];
	unsigned int n = rt_mp_cpus(ids, MAX_CPUS);
	if (n == 0 || n > MAX_CPUS)
		return 2;
	lapic_enable();
	uint8_t *t = (uint8_t *)TRAMP_BASE;
	for (const uint8_t *s = rt_tramp_start; s < rt_tramp_end; s++)
		*t++ = *s;
	put_u64(rt_tramp_cr3, read_cr3());
	put_u64(rt_tramp_entry, (uint64_t)(uintptr_t)ap_main);
	uint32_t self = lapic_read(0x20) >> 24;
	rt_printf("bsp apic id %u, %u cpus in the MP table\n", self, n);
	unsigned int expected = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (ids[i] == self)
			continue;
		put_u64(rt_tramp_stack, (uint64_t)(uintptr_t)(ap_stacks[i] + AP_STACK));
		send_ipi(ids[i], 0x4500);                     /* INIT */
		send_ipi(ids[i], 0x4600 | (TRAMP_BASE >> 12)); /* STARTUP */
		expected++;
		while (__atomic_load_n(&reported, __ATOMIC_SEQ_CST) < expected)
			cpu_relax();
	}
	rt_printf("all %u cpus reported\n", expected + 1);
	return 0;
}
