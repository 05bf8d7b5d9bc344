#include "mptable.h"

#include <string.h>

#include "boot_layout.h"

#define APIC_VERSION   0x14
#define IOAPIC_VERSION 0x11

struct __attribute__((packed)) mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length;
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
};

struct __attribute__((packed)) mpc_table {
	char signature[4];
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
};

struct __attribute__((packed)) mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature, featureflag;
	uint32_t reserved[2];
};

struct __attribute__((packed)) mpc_bus {
	uint8_t type, busid;
	char bustype[6];
};

struct __attribute__((packed)) mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
};

struct __attribute__((packed)) mpc_intsrc {
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
};

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

static uint8_t checksum(const void *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ((const uint8_t *)p)[i];
	return (uint8_t)-sum;
}

struct writer {
	uint8_t *buf;
	size_t len, cap;
	uint16_t count;
};

static void put(struct writer *w, const void *entry, size_t n)
{
	if (w->len + n <= w->cap)
		memcpy(w->buf + w->len, entry, n);
	w->len += n;
	w->count++;
}

static void put_intsrc(struct writer *w, uint8_t type, uint8_t irq, uint8_t apic, uint8_t pin)
{
	struct mpc_intsrc e = { .type = MP_INTSRC, .irqtype = type, .srcbus = 0,
				.srcbusirq = irq, .dstapic = apic, .dstirq = pin };
	put(w, &e, sizeof(e));
}

size_t mptable_build(uint8_t *buf, size_t buflen, uint64_t gpa, unsigned int nr_cpus)
{
	size_t hdr = sizeof(struct mpf_intel) + sizeof(struct mpc_table);
	if (buflen < hdr)
		return 0;
	memset(buf, 0, buflen);
	struct writer w = { .buf = buf + hdr, .cap = buflen - hdr };
	uint8_t ioapic_id = (uint8_t)nr_cpus;

	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct mpc_cpu c = { .type = MP_PROCESSOR, .apicid = (uint8_t)i,
				     .apicver = APIC_VERSION, .cpuflag = 1 | (i == 0 ? 2 : 0),
				     .cpufeature = 0x600, .featureflag = 0x201 };
		put(&w, &c, sizeof(c));
	}
	struct mpc_bus bus = { .type = MP_BUS, .busid = 0, .bustype = "ISA   " };
	put(&w, &bus, sizeof(bus));
	struct mpc_ioapic io = { .type = MP_IOAPIC, .apicid = ioapic_id, .apicver = IOAPIC_VERSION,
				 .flags = 1, .apicaddr = (uint32_t)IOAPIC_GPA };
	put(&w, &io, sizeof(io));
	put_intsrc(&w, MP_EXTINT, 0, ioapic_id, 0);
	for (uint8_t irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue; /* the cascade; IRQ 0 takes its pin */
		put_intsrc(&w, MP_INT, irq, ioapic_id, irq == 0 ? 2 : irq);
	}
	struct mpc_intsrc lint0 = { .type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xff, .dstirq = 0 };
	struct mpc_intsrc lint1 = { .type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xff, .dstirq = 1 };
	put(&w, &lint0, sizeof(lint0));
	put(&w, &lint1, sizeof(lint1));
	if (w.len > w.cap)
		return 0;

	struct mpc_table *t = (struct mpc_table *)(buf + sizeof(struct mpf_intel));
	memcpy(t->signature, "PCMP", 4);
	t->length = (uint16_t)(sizeof(*t) + w.len);
	t->spec = 4;
	memcpy(t->oem, "PAGODA  ", 8);
	memcpy(t->product, "PAGODA VM   ", 12);
	t->oemcount = w.count;
	t->lapic = (uint32_t)LAPIC_GPA;
	t->checksum = checksum(t, t->length);

	struct mpf_intel *f = (struct mpf_intel *)buf;
	memcpy(f->signature, "_MP_", 4);
	f->physptr = (uint32_t)(gpa + sizeof(*f));
	f->length = 1;
	f->specification = 4;
	f->checksum = checksum(f, sizeof(*f));
	return hdr + w.len;
}
