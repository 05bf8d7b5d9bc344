/* A guest that abuses the machine, then leaves by the way "exit" names:
 *   every I/O port read at 1, 2 and 4 bytes and written with all ones (except those that
 *   end the VM: debug-exit 0x501-0x504, the i8042 command port, ACPI PM1 control; and the
 *   UART's data register, so the console stays readable);
 *   nonsense into every register of the UART, the CMOS RTC and the ACPI PM block;
 *   all ones and random words into every register of every virtio-mmio window;
 *   reads and writes across the whole MMIO hole, 64 KiB apart, outside LAPIC/IOAPIC.
 * Then prints how much it did and takes "exit=poweroff|triple|halt-cli" (default
 * poweroff). The VMM must survive all of it and end with that exit's code. */
#include "rt/rt.h"

static uint32_t rnd = 0x12345678;

static uint32_t next(void)
{
	rnd ^= rnd << 13;
	rnd ^= rnd >> 17;
	rnd ^= rnd << 5;
	return rnd;
}

static int str_eq(const char *a, const char *b)
{
	while (*b && *a == *b)
		a++, b++;
	return !*b && (*a == 0 || *a == ' ');
}

static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static bool ends_vm(uint32_t port)
{
	return (port >= PORT_DEBUG_EXIT && port < PORT_DEBUG_EXIT + 4) || port == 0x64 || (port >= PORT_ACPI_PM1_CNT && port < PORT_ACPI_PM1_CNT + 2) ||
	       port == 0x3f8;
}

static unsigned int ports(void)
{
	unsigned int n = 0;
	for (uint32_t p = 0; p < 0x10000; p++) {
		(void)inb((uint16_t)p);
		(void)inw((uint16_t)p);
		(void)inl((uint16_t)p);
		if (!ends_vm(p))
			outb((uint16_t)p, 0xff);
		n++;
	}
	return n;
}

static void devices(void)
{
	for (int i = 0; i < 64; i++) {
		outb((uint16_t)(0x3f9 + next() % 7), (uint8_t)next()); /* UART, not its data port */
		outb(0x70, (uint8_t)next());
		outb(0x71, (uint8_t)next());
		outw(PORT_ACPI_PM1_EVT, (uint16_t)next());
		outw(PORT_ACPI_PM1_EVT + 2, (uint16_t)next());
	}
	outb(0x3fb, 0x03); /* 8N1 again, so the summary line reaches the console */
	outb(0x3f9, 0x00);
}

static unsigned int virtio_windows(void)
{
	unsigned int n = 0;
	for (uint64_t w = 0; w < 8; w++) {
		volatile uint32_t *r = (volatile uint32_t *)(uintptr_t)(VIRTIO_MMIO_GPA + w * VIRTIO_MMIO_STRIDE);
		for (unsigned int off = 0; off < 0x200 / 4; off++, n++) {
			(void)r[off];
			r[off] = 0xffffffffu;
			r[off] = next();
		}
	}
	return n;
}

static unsigned int mmio_hole(void)
{
	unsigned int n = 0;
	for (uint64_t a = VIRTIO_MMIO_GPA + 0x8000; a < 0x100000000ULL; a += 0x10000) {
		if ((a >= IOAPIC_GPA && a < IOAPIC_GPA + 0x10000) || (a >= LAPIC_GPA && a < LAPIC_GPA + 0x10000) ||
		    a >= 0xfffbc000ULL)
			continue; /* in-kernel devices, KVM's TSS and identity map */
		volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)a;
		(void)*p;
		*p = next();
		n++;
	}
	return n;
}

int main(void)
{
	unsigned int np = ports();
	devices();
	unsigned int nv = virtio_windows(), nm = mmio_hole();
	rt_printf("hammered %u ports, %u virtio registers, %u MMIO addresses: still alive\n", np, nv, nm);
	const char *how = rt_param("exit");
	if (how && str_eq(how, "triple")) {
		struct { uint16_t limit; uint64_t base; } __attribute__((packed)) none = { 0, 0 };
		__asm__ volatile("lidt %0; ud2" ::"m"(none));
	}
	if (how && str_eq(how, "halt-cli"))
		for (;;)
			__asm__ volatile("cli; hlt");
	return 0;
}
