/* Every vCPU reports in: the boot CPU starts each other cpu node through PSCI CPU_ON
 * (KVM answers it), each prints its MPIDR and counts itself. */
#include "rt.h"

static volatile unsigned int reported;

void rt_secondary_main(unsigned int index)
{
	rt_printf("cpu %u is up (mpidr %lx)\n", index, read_sysreg(mpidr_el1) & 0xff00ffffffUL);
	__atomic_add_fetch(&reported, 1, __ATOMIC_SEQ_CST);
	for (;;)
		__asm__ volatile("wfi");
}

int main(void)
{
	uint64_t mpidr[RT_MAX_CPUS];
	unsigned int n = rt_cpus(mpidr, RT_MAX_CPUS);
	uint64_t self = read_sysreg(mpidr_el1) & 0xff00ffffffUL;
	rt_printf("boot cpu mpidr %lx, %u cpus in the device tree\n", self, n);
	if (n == 0)
		return 2;
	unsigned int started = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (mpidr[i] == self)
			continue;
		int64_t r = rt_psci_cpu_on(mpidr[i], i);
		if (r) {
			rt_printf("FAIL: PSCI CPU_ON of %lx: %ld\n", mpidr[i], r);
			return 3;
		}
		started++;
	}
	/* A second CPU_ON of a running CPU must be refused (ALREADY_ON, -4). */
	if (n > 1) {
		while (!reported)
			cpu_relax();
		int64_t again = rt_psci_cpu_on(mpidr[1], 1);
		rt_printf("CPU_ON of a running cpu: %ld\n", again);
		if (again != -4)
			return 4;
	}
	rt_stopwatch_start();
	while (__atomic_load_n(&reported, __ATOMIC_SEQ_CST) < started && rt_stopwatch_us() < 10000000)
		cpu_relax();
	if (reported != started) {
		rt_printf("FAIL: %u of %u cpus reported\n", reported, started);
		return 5;
	}
	rt_printf("all %u cpus reported\n", n);
	return 0;
}
