/* The tiny guests' runtime: port I/O, a serial printf, ways to end the VM, the boot
 * information pagoda hands over (zero page, MP table), an IDT and the local APIC.
 * Freestanding, integer-only: the PVM host's emulator rejects SSE. */
#ifndef PAGODA_GUEST_RT_H
#define PAGODA_GUEST_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../../arch/x86/boot_layout.h"

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint64_t read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }

/* Guest entry: the test's main; its return value becomes the debug-exit value. */
int main(void);

void rt_putc(char c);
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the VM: pagoda exits with (code << 1) | 1. */
__attribute__((noreturn)) void rt_exit(unsigned int code);
/* Ends the VM with exit code 0 through ACPI S5, like Linux's poweroff. */
__attribute__((noreturn)) void rt_poweroff(void);
/* Test guests end this way: 0 powers off (exit 0), anything else is a failure code. */
__attribute__((noreturn)) void rt_finish(int status);

/* The kernel command line; rt_param("n") finds "n=VALUE" and returns VALUE (or NULL). */
const char *rt_cmdline(void);
const char *rt_param(const char *name);
uint64_t rt_param_u64(const char *name, uint64_t fallback);

struct rt_e820 {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));
unsigned int rt_e820(const struct rt_e820 **table);
extern char _end[]; /* end of this guest's image and bss */

/* The guest RAM a test may use, range by range: usable e820 ranges above this image,
 * page aligned, as [*lo, *hi). Start with *idx = 0; false at the end. Ranges, not pages:
 * guest code is emulated on a PVM host, so the per-page loop stays in the caller. */
bool rt_ram_range(unsigned int *idx, uint64_t *lo, uint64_t *hi);

/* A stopwatch on the LAPIC timer: KVM's APIC bus runs at 1 GHz, so with divide-by-16 a
 * tick is 16 ns and the range about 68 s. Enables the LAPIC. */
void rt_stopwatch_start(void);
uint64_t rt_stopwatch_us(void);

/* CPUs from the MP table: their APIC ids; returns how many. */
unsigned int rt_mp_cpus(uint8_t *apic_ids, unsigned int max);

struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
typedef void (*rt_handler)(struct rt_frame *f);
void rt_idt_init(void);
void rt_set_handler(unsigned int vector, rt_handler h);

uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
void lapic_enable(void);
void lapic_eoi(void);

struct rt_lock { volatile int v; };
void rt_lock(struct rt_lock *l);
void rt_unlock(struct rt_lock *l);

#endif
