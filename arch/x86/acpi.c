#include "acpi.h"

#include <stdbool.h>
#include <string.h>

#include "boot_layout.h"

struct __attribute__((packed)) acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
};

struct __attribute__((packed)) acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t ext_checksum;
	uint8_t reserved[3];
};

struct __attribute__((packed)) acpi_gas {
	uint8_t space_id, bit_width, bit_offset, access_size;
	uint64_t address;
};

/* FADT revision 6 (ACPI 6.x): the fields pagoda sets, by their offsets in the spec. */
struct __attribute__((packed)) acpi_fadt {
	struct acpi_header h;          /* 0 */
	uint32_t firmware_ctrl;        /* 36 */
	uint32_t dsdt;                 /* 40 */
	uint8_t reserved0;             /* 44 */
	uint8_t pm_profile;            /* 45 */
	uint16_t sci_int;              /* 46 */
	uint32_t smi_cmd;              /* 48: 0, no mode switch: always in ACPI mode */
	uint8_t unused0[56 - 52];      /* 52: ACPI_ENABLE .. PSTATE_CNT */
	uint32_t pm1a_evt_blk;         /* 56 */
	uint32_t pm1b_evt_blk;         /* 60 */
	uint32_t pm1a_cnt_blk;         /* 64 */
	uint8_t unused1[88 - 68];      /* 68: PM1b_CNT .. GPE1_BLK */
	uint8_t pm1_evt_len;           /* 88 */
	uint8_t pm1_cnt_len;           /* 89 */
	uint8_t unused2[109 - 90];     /* 90: PM2_CNT_LEN .. CENTURY */
	uint16_t iapc_boot_arch;       /* 109 */
	uint8_t reserved1;             /* 111 */
	uint32_t flags;                /* 112 */
	struct acpi_gas reset_reg;     /* 116 */
	uint8_t reset_value;           /* 128 */
	uint16_t arm_boot_arch;        /* 129 */
	uint8_t minor_version;         /* 131 */
	uint64_t x_firmware_ctrl;      /* 132 */
	uint64_t x_dsdt;               /* 140 */
	struct acpi_gas x_blocks[8];   /* 148: X_PM1a_EVT .. X_GPE1, unused */
	struct acpi_gas sleep_control; /* 244: HW-reduced only, unused */
	struct acpi_gas sleep_status;  /* 256 */
	uint64_t hypervisor_id;        /* 268 */
};

struct __attribute__((packed)) acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_waking_vector;
	uint8_t version;
	uint8_t reserved[31];
};

#define FADT_WBINVD          (1u << 0)
#define FADT_PWR_BUTTON      (1u << 4)   /* no fixed-feature power button */
#define FADT_SLP_BUTTON      (1u << 5)   /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP   (1u << 10)
#define IAPC_LEGACY_DEVICES  (1u << 0)
#define IAPC_NO_VGA          (1u << 2)
#define GAS_SYSTEM_IO        1
#define GAS_ACCESS_BYTE      1

_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS layout");

/* AML for: Name (\_S5, Package (4) { 5, 5, 0, 0 }) */
static const uint8_t dsdt_aml[] = {
	0x08, '_', 'S', '5', '_',         /* NameOp, NameString */
	0x12, 0x08, 0x04,                 /* PackageOp, PkgLength 8, NumElements 4 */
	0x0a, ACPI_SLEEP_TYP_S5,          /* BytePrefix 5 (SLP_TYPa) */
	0x0a, ACPI_SLEEP_TYP_S5,          /* BytePrefix 5 (SLP_TYPb) */
	0x00, 0x00,                       /* Zero, Zero */
};

/* --- AML for the PCI host bridge (ACPI 6.x, 20.2) ---------------------------------- */

/* Bytes of AML under construction; an overflow is caught once, at the end. */
struct aml {
	uint8_t b[256];
	size_t n;
	bool overflow;
};

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->n + n > sizeof(a->b)) {
		a->overflow = true;
		return;
	}
	memcpy(a->b + a->n, p, n);
	a->n += n;
}

static void aml_byte(struct aml *a, uint8_t v) { aml_bytes(a, &v, 1); }

/* PkgLength counts itself: one byte up to 63, two bytes (low nibble first) up to 4095. */
static void aml_pkg(struct aml *a, const struct aml *body)
{
	size_t total = body->n + 1;
	if (total < 64) {
		aml_byte(a, (uint8_t)total);
	} else {
		total++;
		aml_byte(a, (uint8_t)(0x40 | (total & 0xf)));
		aml_byte(a, (uint8_t)(total >> 4));
	}
	aml_bytes(a, body->b, body->n);
	a->overflow |= body->overflow;
}

/* Name (SEG, Integer): Zero, or a DWordConst. */
static void aml_name_int(struct aml *a, const char seg[4], uint32_t v)
{
	aml_byte(a, 0x08); /* NameOp */
	aml_bytes(a, seg, 4);
	if (v == 0) {
		aml_byte(a, 0x00); /* ZeroOp */
	} else {
		aml_byte(a, 0x0c); /* DWordPrefix */
		aml_bytes(a, &v, 4);
	}
}

#define EISAID_PNP0A08 0x080ad041u /* PCI Express root bridge */
#define EISAID_PNP0A03 0x030ad041u /* PCI root bridge */

/* _CRS: bus 0 only, the config ports, the BAR window (32-bit, producer, fixed). */
static void aml_pci_crs(struct aml *a, uint64_t base, uint64_t size)
{
	struct aml buf = { .n = 0 };
	const uint8_t bus[16] = { 0x88, 13, 0, 2 /* bus range */, 0x0c /* min, max fixed */, 0,
				  0, 0, 0, 0, 0, 0, 0, 0, 1, 0 /* granularity, min, max, offset, length 1 */ };
	aml_bytes(&buf, bus, sizeof(bus));
	const uint8_t io[8] = { 0x47, 1, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8 }; /* IO (Decode16, 0xcf8, 0xcf8, 1, 8) */
	aml_bytes(&buf, io, sizeof(io));
	uint8_t mem[26] = { 0x87, 23, 0, 0 /* memory */, 0x0c, 0x01 /* read-write, not cacheable */ };
	uint32_t f[5] = { 0, (uint32_t)base, (uint32_t)(base + size - 1), 0, (uint32_t)size };
	memcpy(mem + 6, f, sizeof(f));
	aml_bytes(&buf, mem, sizeof(mem));
	aml_bytes(&buf, (const uint8_t[]){ 0x79, 0 }, 2); /* EndTag */
	struct aml body = { .n = 0 };
	aml_byte(&body, 0x0a); /* BufferSize: BytePrefix n */
	aml_byte(&body, (uint8_t)buf.n);
	aml_bytes(&body, buf.b, buf.n);
	aml_byte(a, 0x08);
	aml_bytes(a, "_CRS", 4);
	aml_byte(a, 0x11); /* BufferOp */
	aml_pkg(a, &body);
}

/* Scope (\_SB) { Device (PCI0) { _HID, _CID, _SEG, _BBN, _UID, _CRS } } */
static void aml_pci_root(struct aml *a, uint64_t base, uint64_t size)
{
	struct aml dev = { .n = 0 };
	aml_bytes(&dev, "PCI0", 4);
	aml_name_int(&dev, "_HID", EISAID_PNP0A08);
	aml_name_int(&dev, "_CID", EISAID_PNP0A03);
	aml_name_int(&dev, "_SEG", 0);
	aml_name_int(&dev, "_BBN", 0);
	aml_name_int(&dev, "_UID", 0);
	aml_pci_crs(&dev, base, size);
	struct aml scope = { .n = 0 };
	aml_bytes(&scope, "\\_SB_", 5);
	aml_bytes(&scope, (const uint8_t[]){ 0x5b, 0x82 }, 2); /* DeviceOp */
	aml_pkg(&scope, &dev);
	aml_byte(a, 0x10); /* ScopeOp */
	aml_pkg(a, &scope);
}

static uint8_t checksum(const void *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ((const uint8_t *)p)[i];
	return (uint8_t)-sum;
}

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, "PAGODA", 6);
	memcpy(h->oem_table_id, "PAGODAVM", 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "PGDA", 4);
	h->creator_revision = 1;
}

static void finish(void *table)
{
	struct acpi_header *h = table;
	h->checksum = 0;
	h->checksum = checksum(h, h->length);
}

static size_t build_madt(uint8_t *p, unsigned int nr_cpus)
{
	size_t off = sizeof(struct acpi_header) + 8; /* local APIC address, flags */
	uint32_t lapic = (uint32_t)LAPIC_GPA, flags = 1; /* PCAT_COMPAT: 8259s present */
	memcpy(p + sizeof(struct acpi_header), &lapic, 4);
	memcpy(p + sizeof(struct acpi_header) + 4, &flags, 4);
	for (unsigned int i = 0; i < nr_cpus; i++) {
		uint8_t e[8] = { 0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0 }; /* enabled */
		memcpy(p + off, e, sizeof(e));
		off += sizeof(e);
	}
	uint8_t io[12] = { 1, 12, (uint8_t)nr_cpus, 0 };
	uint32_t ioaddr = (uint32_t)IOAPIC_GPA;
	memcpy(io + 4, &ioaddr, 4); /* GSI base 0 follows */
	memcpy(p + off, io, sizeof(io));
	off += sizeof(io);
	uint8_t iso[10] = { 2, 10, 0, 0, 2, 0, 0, 0, 0, 0 }; /* ISA IRQ 0 -> GSI 2 */
	memcpy(p + off, iso, sizeof(iso));
	off += sizeof(iso);
	uint8_t nmi[6] = { 4, 6, 0xff, 0, 0, 1 }; /* LINT1 of every CPU is NMI */
	memcpy(p + off, nmi, sizeof(nmi));
	off += sizeof(nmi);
	header((struct acpi_header *)p, "APIC", (uint32_t)off, 5);
	finish(p);
	return off;
}

/* Fixed-hardware ACPI, not HW-reduced: x86 Linux drops the legacy PIC and with it the
 * ISA IRQs (the 8250's IRQ 4) on a HW-reduced platform. */
static void build_fadt(struct acpi_fadt *f, uint64_t dsdt_gpa, uint64_t facs_gpa)
{
	memset(f, 0, sizeof(*f));
	header(&f->h, "FACP", sizeof(*f), 6);
	f->firmware_ctrl = (uint32_t)facs_gpa;
	f->dsdt = (uint32_t)dsdt_gpa;
	f->x_dsdt = dsdt_gpa;
	f->sci_int = ACPI_SCI_IRQ;
	f->pm1a_evt_blk = PORT_ACPI_PM1_EVT;
	f->pm1a_cnt_blk = PORT_ACPI_PM1_CNT;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	/* No 8042: pagoda's is only its reset line (reboot=k, and the reset register below).
	 * Saying one is there made Linux probe it for a keyboard, 1.1 s in the x86 lab
	 * ("i8042: Can't read CTR"); told it is absent, Linux does not look. */
	f->iapc_boot_arch = IAPC_LEGACY_DEVICES | IAPC_NO_VGA;
	/* Nor fixed power and sleep buttons: nothing presses them, and Linux's attempt to
	 * enable their events failed with two errors each. */
	f->flags = FADT_WBINVD | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP;
	f->reset_reg = (struct acpi_gas){ GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE, 0x64 };
	f->reset_value = 0xfe;
	memcpy(&f->hypervisor_id, "PAGODA", 6);
	finish(f);
}

/* f is in the zeroed buffer already. */
static void build_facs(struct acpi_facs *f)
{
	memcpy(f->signature, "FACS", 4);
	f->length = sizeof(*f);
	f->version = 2;
}

#define ALIGN16(x) (((x) + 15) & ~(size_t)15)
#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

/* MCFG: one ECAM region, segment 0, bus 0. */
static size_t build_mcfg(uint8_t *p, uint64_t ecam)
{
	size_t len = sizeof(struct acpi_header) + 8 + 16;
	memset(p, 0, len);
	uint8_t *e = p + sizeof(struct acpi_header) + 8;
	memcpy(e, &ecam, 8); /* segment 0, buses 0 to 0 follow as zeroes */
	header((struct acpi_header *)p, "MCFG", (uint32_t)len, 1);
	finish(p);
	return len;
}

static size_t build_dsdt(uint8_t *p, size_t room, const struct acpi_pci *pci)
{
	struct aml a = { .n = 0 };
	aml_bytes(&a, dsdt_aml, sizeof(dsdt_aml));
	if (pci)
		aml_pci_root(&a, pci->mmio_base, pci->mmio_size);
	size_t len = sizeof(struct acpi_header) + a.n;
	if (a.overflow || len > room)
		return 0;
	memcpy(p + sizeof(struct acpi_header), a.b, a.n);
	header((struct acpi_header *)p, "DSDT", (uint32_t)len, 2);
	finish(p);
	return len;
}

size_t acpi_build(uint8_t *buf, size_t buflen, uint64_t gpa, unsigned int nr_cpus, const struct acpi_pci *pci)
{
	enum { MAX_TABLES = 3 };
	size_t need = 0x400 + 8 * (size_t)nr_cpus; /* every table but the MADT's CPUs fits 1 KiB */
	if (need > buflen)
		return 0;
	memset(buf, 0, need);
	size_t facs_off = ALIGN64(sizeof(struct acpi_rsdp)); /* the spec wants 64-byte alignment */
	build_facs((struct acpi_facs *)(buf + facs_off));
	size_t dsdt_off = ALIGN16(facs_off + sizeof(struct acpi_facs));
	size_t dsdt_len = build_dsdt(buf + dsdt_off, buflen - dsdt_off, pci);
	size_t fadt_off = ALIGN16(dsdt_off + dsdt_len);
	build_fadt((struct acpi_fadt *)(buf + fadt_off), gpa + dsdt_off, gpa + facs_off);
	size_t madt_off = ALIGN16(fadt_off + sizeof(struct acpi_fadt));
	size_t madt_len = build_madt(buf + madt_off, nr_cpus);
	uint64_t entries[MAX_TABLES] = { gpa + fadt_off, gpa + madt_off };
	unsigned int nr = 2;
	size_t end = ALIGN16(madt_off + madt_len);
	if (pci) {
		entries[nr++] = gpa + end;
		end = ALIGN16(end + build_mcfg(buf + end, pci->ecam_base));
	}
	size_t xsdt_off = end;
	size_t xsdt_len = sizeof(struct acpi_header) + nr * 8;
	memcpy(buf + xsdt_off + sizeof(struct acpi_header), entries, nr * 8);
	header((struct acpi_header *)(buf + xsdt_off), "XSDT", (uint32_t)xsdt_len, 1);
	finish(buf + xsdt_off);
	if (!dsdt_len || xsdt_off + xsdt_len > need)
		return 0;

	struct acpi_rsdp *r = (struct acpi_rsdp *)buf;
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, "PAGODA", 6);
	r->revision = 2;
	r->length = sizeof(*r);
	r->xsdt_address = gpa + xsdt_off;
	r->checksum = checksum(r, 20);
	r->ext_checksum = checksum(r, sizeof(*r));
	return xsdt_off + xsdt_len;
}
