/* Timer interrupts arrive: the LAPIC timer (periodic) and the PIT through the IOAPIC. */
#include "rt/rt.h"

#define TICKS 5
#define VEC_LAPIC 32
#define VEC_PIT 33

static volatile unsigned int lapic_ticks, pit_ticks;

static void on_lapic(struct rt_frame *f)
{
	(void)f;
	lapic_ticks++;
	lapic_eoi();
}

static void on_pit(struct rt_frame *f)
{
	(void)f;
	pit_ticks++;
	lapic_eoi();
}

static void ioapic_route(unsigned int pin, uint8_t vector)
{
	volatile uint32_t *sel = (volatile uint32_t *)(uintptr_t)IOAPIC_GPA;
	volatile uint32_t *win = (volatile uint32_t *)(uintptr_t)(IOAPIC_GPA + 0x10);
	*sel = 0x10 + 2 * pin + 1;
	*win = 0;          /* destination: APIC id 0 */
	*sel = 0x10 + 2 * pin;
	*win = vector;     /* fixed, edge, active high, unmasked */
}

static void pit_start(void)
{
	uint16_t count = 11932; /* 1193182 Hz / 100 */
	outb(0x43, 0x34);       /* channel 0, lo/hi, mode 2 */
	outb(0x40, (uint8_t)count);
	outb(0x40, (uint8_t)(count >> 8));
}

int main(void)
{
	rt_idt_init();
	rt_set_handler(VEC_LAPIC, on_lapic);
	rt_set_handler(VEC_PIT, on_pit);
	rt_set_handler(0xff, NULL);
	lapic_enable();
	outb(0x21, 0xff); /* mask the 8259s: the IOAPIC delivers */
	outb(0xa1, 0xff);

	lapic_write(0x3e0, 0xb);                     /* divide by 1 */
	lapic_write(0x320, VEC_LAPIC | (1u << 17));  /* periodic */
	lapic_write(0x380, 2000000);                 /* 2 ms at KVM's 1 GHz APIC bus */
	__asm__ volatile("sti");
	while (lapic_ticks < TICKS)
		__asm__ volatile("hlt");
	lapic_write(0x320, 1u << 16);                /* masked */
	rt_printf("lapic timer: %u ticks\n", lapic_ticks);

	ioapic_route(2, VEC_PIT);                    /* ISA IRQ 0 is on pin 2 (MP table) */
	pit_start();
	while (pit_ticks < TICKS)
		__asm__ volatile("hlt");
	__asm__ volatile("cli");
	rt_printf("pit via ioapic: %u ticks\n", pit_ticks);
	rt_printf("timer ok\n");
	return 0;
}
