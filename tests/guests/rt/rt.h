/* The tiny guests' runtime: port I/O, a serial printf, ways to end the VM, the boot
 * information pagoda hands over (zero page, MP table), an IDT and the local APIC.
 * Freestanding, integer-only: the PVM host's emulator rejects SSE. */
#ifndef PAGODA_GUEST_RT_H
#define PAGODA_GUEST_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../../arch/x86/boot_layout.h"
#include "common.h"

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint64_t read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }

#define RT_RAM_BASE 0ULL

/* The harness's sync port: the guest stops there while the host looks at its record. */
static inline void rt_test_sync(const void *record) { outl(PORT_TEST_SYNC, (uint32_t)(uintptr_t)record); }
/* A byte waits on the serial port. */
static inline bool rt_input_ready(void) { return inb(0x3f8 + 5) & 1; }

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

#endif
