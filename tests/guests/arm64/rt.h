/* The tiny arm64 guests' runtime: the 16550 console and the exits on pagoda's arm64
 * platform, PSCI, the device tree pagoda hands over (memory, cpus, bootargs), the
 * architected counter, and the GICv3's CPU interface. Integer-only, MMU on with an
 * identity map (start.S). */
#ifndef PAGODA_GUEST_ARM64_RT_H
#define PAGODA_GUEST_ARM64_RT_H

#include "../../../arch/arm64/platform.h"
#include "../rt/common.h"

#define RT_RAM_BASE ARM64_RAM_GPA

#define read_sysreg(r) ({ uint64_t v_; __asm__ volatile("mrs %0, " #r : "=r"(v_)); v_; })
#define write_sysreg(r, v) __asm__ volatile("msr " #r ", %0" ::"r"((uint64_t)(v)))

static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }

extern char _end[];

/* The guest RAM a test may use, range by range (above this image, below the device tree
 * at the top of RAM), as [*lo, *hi). Start with *idx = 0; false at the end. */
bool rt_ram_range(unsigned int *idx, uint64_t *lo, uint64_t *hi);
/* The cpu nodes' MPIDRs; returns how many. */
unsigned int rt_cpus(uint64_t *mpidr, unsigned int max);

/* PSCI through hvc: returns PSCI's status (0 success). */
int64_t rt_psci_cpu_on(uint64_t mpidr, unsigned int index);
/* Where CPU_ON'ed CPUs run (with index as given), on a stack of their own. */
void rt_secondary_main(unsigned int index);
#define RT_MAX_CPUS 8

/* A stopwatch on the virtual counter (CNTVCT_EL0 at CNTFRQ_EL0 Hz). */
void rt_stopwatch_start(void);
uint64_t rt_stopwatch_us(void);

/* A byte waits on the console. */
bool rt_input_ready(void);

/* The harness's sync register: the guest stops there while the host looks at it. */
void rt_test_sync(const void *record);

#endif
