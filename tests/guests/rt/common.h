/* What every architecture's tiny-guest runtime offers (common.c has the shared half; the
 * arch's rt.c the console, the exits, the command line and cpu_relax). */
#ifndef PAGODA_GUEST_COMMON_H
#define PAGODA_GUEST_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void cpu_relax(void)
{
#if defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#else
	__asm__ volatile("pause" ::: "memory");
#endif
}

/* Guest entry: the test's main; its return value becomes the debug-exit value. */
int main(void);

void rt_putc(char c);
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the VM: pagoda exits with (code << 1) | 1. */
__attribute__((noreturn)) void rt_exit(unsigned int code);
/* Ends the VM with exit code 0 the way Linux powers off (x86: ACPI S5, arm64: PSCI). */
__attribute__((noreturn)) void rt_poweroff(void);
/* Test guests end this way: 0 powers off (exit 0), anything else is a failure code. */
__attribute__((noreturn)) void rt_finish(int status);

/* The kernel command line; rt_param("n") finds "n=VALUE" and returns VALUE (or NULL). */
const char *rt_cmdline(void);
const char *rt_param(const char *name);
uint64_t rt_param_u64(const char *name, uint64_t fallback);

struct rt_lock { volatile int v; };
void rt_lock(struct rt_lock *l);
void rt_unlock(struct rt_lock *l);

#endif
