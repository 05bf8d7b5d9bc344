/* Minimal ACPI: RSDP, XSDT, FADT (PM1a event and control blocks for S5, reset register
 * on the i8042), FACS, DSDT with \_S5, MADT with the CPUs and the IOAPIC: so that a
 * guest's `poweroff` ends the VM. With PCI also the host bridge in the DSDT (\_SB.PCI0:
 * bus 0, the config ports, the BAR window) and an MCFG naming the ECAM region: on x86
 * Linux scans PCI only through ACPI once ACPI is on. */
#ifndef PAGODA_X86_ACPI_H
#define PAGODA_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi_pci {
	uint64_t ecam_base;           /* bus 0's 1 MiB */
	uint64_t mmio_base, mmio_size; /* where BARs decode, below 4 GiB */
};

/* Builds the tables into buf, placed at gpa (pci NULL: no PCI). Returns the size used
 * (the RSDP is at gpa), or 0 when buflen is too small. */
size_t acpi_build(uint8_t *buf, size_t buflen, uint64_t gpa, unsigned int nr_cpus, const struct acpi_pci *pci);

#endif
