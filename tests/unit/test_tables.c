/* The boot tables Linux and the test guests read: checksums, the CPU and interrupt
 * entries, and the ACPI pieces poweroff depends on. */
#include <stdbool.h>

#include "../../arch/x86/acpi.h"
#include "../../arch/x86/boot_layout.h"
#include "../../arch/x86/mptable.h"
#include "check.h"

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static uint32_t u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void mptable(void)
{
	uint8_t buf[4096];
	size_t n = mptable_build(buf, sizeof(buf), BOOT_MPTABLE_GPA, 4);
	CHECK(n > 0);
	CHECK(!memcmp(buf, "_MP_", 4));
	CHECK_EQ(sum(buf, 16), 0);
	CHECK_EQ(u32(buf + 4), BOOT_MPTABLE_GPA + 16);
	const uint8_t *t = buf + 16;
	CHECK(!memcmp(t, "PCMP", 4));
	uint16_t len = (uint16_t)(t[4] | t[5] << 8);
	CHECK_EQ(sum(t, len), 0);
	unsigned int cpus = 0, bsp = 0, pin2 = 0;
	const uint8_t *e = t + 44;
	for (uint16_t i = 0; i < (uint16_t)(t[34] | t[35] << 8); i++) {
		if (e[0] == 0) {
			cpus++;
			bsp += (e[3] & 2) != 0;
			e += 20;
		} else {
			if (e[0] == 3 && e[5] == 0 && e[1] == 0)
				pin2 = e[7]; /* ISA IRQ 0 -> pin */
			e += 8;
		}
	}
	CHECK_EQ(cpus, 4);
	CHECK_EQ(bsp, 1);
	CHECK_EQ(pin2, 2);
	CHECK_EQ(mptable_build(buf, 100, BOOT_MPTABLE_GPA, 4), 0); /* too small: refused */
}

static const uint8_t *table(const uint8_t *buf, uint64_t base, uint64_t gpa)
{
	return buf + (gpa - base);
}

static void acpi(void)
{
	uint8_t buf[8192];
	const uint64_t base = BOOT_ACPI_GPA;
	size_t n = acpi_build(buf, sizeof(buf), base, 3, NULL);
	CHECK(n > 0);
	CHECK(!memcmp(buf, "RSD PTR ", 8));
	CHECK_EQ(sum(buf, 20), 0);
	CHECK_EQ(sum(buf, 36), 0);
	uint64_t xsdt_gpa;
	memcpy(&xsdt_gpa, buf + 24, 8);
	const uint8_t *xsdt = table(buf, base, xsdt_gpa);
	CHECK(!memcmp(xsdt, "XSDT", 4));
	CHECK_EQ(sum(xsdt, u32(xsdt + 4)), 0);
	uint64_t fadt_gpa, madt_gpa;
	memcpy(&fadt_gpa, xsdt + 36, 8);
	memcpy(&madt_gpa, xsdt + 44, 8);
	const uint8_t *fadt = table(buf, base, fadt_gpa);
	CHECK(!memcmp(fadt, "FACP", 4));
	CHECK_EQ(u32(fadt + 4), 276);
	CHECK_EQ(sum(fadt, 276), 0);
	CHECK(!(u32(fadt + 112) & (1u << 20)));          /* not HW-reduced: keeps the ISA IRQs */
	CHECK_EQ(u32(fadt + 112) & (3u << 4), 3u << 4);  /* no fixed power or sleep button */
	/* IAPC_BOOT_ARCH: legacy devices (the 8250, the RTC), no 8042 for Linux to probe */
	CHECK_EQ(fadt[109] | fadt[110] << 8, 1u << 0 | 1u << 2);
	CHECK_EQ(u32(fadt + 56), PORT_ACPI_PM1_EVT);
	CHECK_EQ(u32(fadt + 64), PORT_ACPI_PM1_CNT);
	CHECK_EQ(fadt[88], 4);
	CHECK_EQ(fadt[89], 2);
	const uint8_t *facs = table(buf, base, u32(fadt + 36));
	CHECK(!memcmp(facs, "FACS", 4));
	CHECK_EQ(u32(fadt + 36) % 64, 0);
	const uint8_t *dsdt = table(buf, base, u32(fadt + 40));
	CHECK(!memcmp(dsdt, "DSDT", 4));
	CHECK_EQ(sum(dsdt, u32(dsdt + 4)), 0);
	CHECK(memmem(dsdt, u32(dsdt + 4), "_S5_", 4) != NULL);
	const uint8_t *madt = table(buf, base, madt_gpa);
	CHECK(!memcmp(madt, "APIC", 4));
	CHECK_EQ(sum(madt, u32(madt + 4)), 0);
	unsigned int lapics = 0, ioapics = 0;
	for (uint32_t off = 44; off < u32(madt + 4); off += madt[off + 1]) {
		lapics += madt[off] == 0 && (madt[off + 4] & 1);
		ioapics += madt[off] == 1;
		if (madt[off + 1] == 0)
			break;
	}
	CHECK_EQ(lapics, 3);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(acpi_build(buf, 200, base, 3, NULL), 0);
	CHECK_EQ(u32(xsdt + 4), 36 + 2 * 8); /* no MCFG without PCI */
	CHECK(memmem(dsdt, u32(dsdt + 4), "PCI0", 4) == NULL);
}

/* With PCI: the XSDT's third table is an MCFG for bus 0's ECAM, and the DSDT holds
 * \_SB.PCI0 as a PCI Express root bridge whose _CRS gives the BAR window. */
static void acpi_pci(void)
{
	uint8_t buf[8192];
	const uint64_t base = BOOT_ACPI_GPA;
	struct acpi_pci pci = { .ecam_base = PCI_ECAM_GPA, .mmio_base = PCI_MMIO_GPA, .mmio_size = PCI_MMIO_SIZE };
	size_t n = acpi_build(buf, sizeof(buf), base, 254, &pci);
	CHECK(n > 0 && n <= BOOT_MPTABLE_GPA - BOOT_ACPI_GPA);
	uint64_t xsdt_gpa, fadt_gpa, mcfg_gpa;
	memcpy(&xsdt_gpa, buf + 24, 8);
	const uint8_t *xsdt = table(buf, base, xsdt_gpa);
	CHECK_EQ(u32(xsdt + 4), 36 + 3 * 8);
	CHECK_EQ(sum(xsdt, u32(xsdt + 4)), 0);
	memcpy(&fadt_gpa, xsdt + 36, 8);
	memcpy(&mcfg_gpa, xsdt + 52, 8);
	const uint8_t *mcfg = table(buf, base, mcfg_gpa);
	CHECK(!memcmp(mcfg, "MCFG", 4));
	CHECK_EQ(u32(mcfg + 4), 36 + 8 + 16);
	CHECK_EQ(sum(mcfg, u32(mcfg + 4)), 0);
	uint64_t ecam;
	memcpy(&ecam, mcfg + 44, 8);
	CHECK_EQ(ecam, PCI_ECAM_GPA);
	CHECK_EQ(mcfg[44 + 10], 0); /* start bus */
	CHECK_EQ(mcfg[44 + 11], 0); /* end bus */
	const uint8_t *dsdt = table(buf, base, u32(table(buf, base, fadt_gpa) + 40));
	uint32_t len = u32(dsdt + 4);
	CHECK_EQ(sum(dsdt, len), 0);
	CHECK(memmem(dsdt, len, "_S5_", 4) != NULL);
	const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 }; /* EISAID ("PNP0A08") */
	CHECK(memmem(dsdt, len, hid, sizeof(hid)) != NULL);
	/* Scope (\_SB) runs exactly to the table's end: its PkgLength (one or two bytes,
	 * counting itself) is right. */
	const uint8_t *scope = memmem(dsdt, len, "\\_SB_", 5);
	CHECK(scope != NULL);
	if (scope) {
		bool two = scope[-3] == 0x10 && scope[-2] >> 6 == 1;
		const uint8_t *pkg = two ? scope - 2 : scope - 1;
		uint32_t v = two ? (uint32_t)(scope[-2] & 0xf) | (uint32_t)scope[-1] << 4 : scope[-1];
		CHECK(two || scope[-2] == 0x10);
		CHECK_EQ((size_t)(pkg - dsdt) + v, len);
	}
	const uint8_t *mem = memmem(dsdt, len, (const uint8_t[]){ 0x87, 23, 0, 0 }, 4);
	CHECK(mem != NULL);
	if (mem) {
		CHECK_EQ(u32(mem + 10), PCI_MMIO_GPA);
		CHECK_EQ(u32(mem + 14), PCI_MMIO_GPA + PCI_MMIO_SIZE - 1);
		CHECK_EQ(u32(mem + 22), PCI_MMIO_SIZE);
	}
}

int main(void)
{
	mptable();
	acpi();
	acpi_pci();
	return check_result("tables");
}
