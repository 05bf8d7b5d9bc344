/* The ways an arm64 guest ends its VM, chosen by "action=": off (PSCI SYSTEM_OFF), reset
 * (PSCI SYSTEM_RESET), exit (the debug-exit register with "code=N"), cpu-off (every CPU
 * calls PSCI CPU_OFF: nothing is left to run, only --timeout ends the VM), bad-mmio (a
 * store pair to the UART, which KVM cannot hand to the VMM as one access). */
#include "rt.h"

#define PSCI_CPU_OFF   0x84000002ULL
#define PSCI_SYS_RESET 0x84000009ULL

static int64_t psci(uint64_t fn)
{
	register uint64_t x0 __asm__("x0") = fn;
	__asm__ volatile("hvc #0" : "+r"(x0) : : "memory");
	return (int64_t)x0;
}

static bool is(const char *v, const char *want)
{
	while (*want && *v == *want)
		v++, want++;
	return !*want && (*v == 0 || *v == ' ');
}

int main(void)
{
	const char *a = rt_param("action");
	if (!a)
		return 2;
	rt_printf("power: %s\n", a);
	if (is(a, "off"))
		rt_poweroff();
	if (is(a, "reset"))
		psci(PSCI_SYS_RESET);
	if (is(a, "exit"))
		rt_exit((unsigned int)rt_param_u64("code", 1));
	if (is(a, "bad-mmio"))
		__asm__ volatile("stp xzr, xzr, [%0]" ::"r"(ARM64_UART_GPA) : "memory");
	if (is(a, "cpu-off"))
		rt_printf("CPU_OFF returned %ld\n", psci(PSCI_CPU_OFF));
	return 3;
}
