/* The built-in demo guest of the arm64 `pagoda run` (no -k): says hello, shows what the
 * device tree gave it (CPUs, RAM, command line), the CPU's MIDR and powers off. */
#include "rt.h"

int main(void)
{
	rt_printf("\nHello from pagoda's demo guest (arm64)!\n");
	uint64_t mpidr[RT_MAX_CPUS];
	rt_printf("  cpus: %u (from the device tree)\n", rt_cpus(mpidr, RT_MAX_CPUS));
	rt_printf("  cpu: MIDR_EL1 %lx\n", read_sysreg(midr_el1));
	unsigned int idx = 0;
	uint64_t lo, hi;
	if (rt_ram_range(&idx, &lo, &hi))
		rt_printf("  free RAM: %lx-%lx (%lu MiB)\n", lo, hi - 1, (hi - lo) >> 20);
	rt_printf("  command line: %s\n", rt_cmdline());
	rt_printf("Powering off.\n");
	return 0;
}
