/* Ways out of a VM, one per run, chosen with "action=...": the test suite checks that
 * each gives its documented exit code.
 *   exit code=N   debug-exit port with value N  -> (N << 1) | 1
 *   reset         i8042 reset line              -> 0
 *   poweroff      ACPI S5                       -> 0
 *   triple-fault  an exception with no IDT      -> 4
 *   hang          spin forever                  -> 124 with --timeout
 *   halt-cli      cli; hlt: nothing can wake it -> 14 (pagoda's watchdog)
 *   echo          prints what arrives on the serial port until a '.'
 *   clock         prints the RTC's date and time (as a distribution kernel reads it) */
#include "rt/rt.h"

static int str_eq(const char *a, const char *b)
{
	while (*b && *a == *b)
		a++, b++;
	return !*b && (*a == 0 || *a == ' ');
}

static void echo(void)
{
	rt_printf("echo ready\n");
	for (;;) {
		while (!(inb(0x3f8 + 5) & 1))
			cpu_relax();
		char c = (char)inb(0x3f8);
		if (c == '.')
			break;
		rt_putc(c);
	}
	rt_printf("\necho done\n");
}

static unsigned int cmos(uint8_t idx)
{
	outb(0x70, idx);
	unsigned int v = inb(0x71);
	return (v >> 4) * 10 + (v & 0xf); /* BCD */
}

static void clock(void)
{
	rt_printf("rtc: %u%02u-%02u-%02u %02u:%02u:%02u\n", cmos(0x32), cmos(9), cmos(8), cmos(7), cmos(4), cmos(2),
		  cmos(0));
}

int main(void)
{
	const char *a = rt_param("action");
	if (!a)
		return 2;
	if (str_eq(a, "exit"))
		rt_exit((unsigned int)rt_param_u64("code", 0));
	if (str_eq(a, "reset"))
		outb(0x64, 0xfe);
	if (str_eq(a, "poweroff"))
		rt_poweroff();
	if (str_eq(a, "triple-fault")) {
		struct { uint16_t limit; uint64_t base; } __attribute__((packed)) none = { 0, 0 };
		__asm__ volatile("lidt %0; ud2" ::"m"(none));
	}
	if (str_eq(a, "hang"))
		for (;;)
			cpu_relax();
	if (str_eq(a, "halt-cli"))
		for (;;)
			__asm__ volatile("cli; hlt");
	if (str_eq(a, "clock")) {
		clock();
		return 0;
	}
	if (str_eq(a, "echo")) {
		echo();
		return 0;
	}
	rt_printf("unknown action\n");
	return 2;
}
