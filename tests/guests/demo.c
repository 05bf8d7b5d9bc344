/* The built-in demo guest that `pagoda run` boots without -k: says hello, shows what it
 * was given (CPUs, memory map, command line, CPU vendor) and powers off. */
#include "rt/rt.h"

static const char *e820_type(uint32_t t)
{
	return t == 1 ? "usable" : t == 2 ? "reserved" : "other";
}

static void print_vendor(void)
{
	uint32_t v[4];
	__asm__ volatile("cpuid" : "=a"(v[3]), "=b"(v[0]), "=c"(v[2]), "=d"(v[1]) : "a"(0));
	char s[13];
	for (int i = 0; i < 12; i++)
		s[i] = (char)(v[i / 4] >> (8 * (i % 4)));
	s[12] = 0;
	rt_printf("  cpu vendor: %s\n", s);
}

int main(void)
{
	rt_printf("\nHello from pagoda's demo guest!\n");
	uint8_t ids[64];
	unsigned int n = rt_mp_cpus(ids, 64);
	rt_printf("  cpus: %u (from the MP table)\n", n);
	print_vendor();
	const struct rt_e820 *e;
	unsigned int ne = rt_e820(&e);
	uint64_t usable = 0;
	rt_printf("  memory map:\n");
	for (unsigned int i = 0; i < ne; i++) {
		rt_printf("    %016lx-%016lx %s\n", e[i].addr, e[i].addr + e[i].size - 1, e820_type(e[i].type));
		if (e[i].type == 1)
			usable += e[i].size;
	}
	rt_printf("  usable RAM: %lu MiB\n", usable >> 20);
	rt_printf("  command line: %s\n", rt_cmdline());
	rt_printf("Powering off.\n");
	return 0;
}
