/* Minimal ACPI: RSDP, XSDT, FADT (PM1a event and control blocks for S5, reset register
 * on the i8042), FACS, DSDT with \_S5, MADT with the CPUs and the IOAPIC. It exists so
 * that a guest's `poweroff` ends the VM. */
#ifndef PAGODA_X86_ACPI_H
#define PAGODA_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* Builds the tables into buf, placed at gpa. Returns the size used (the RSDP is at gpa),
 * or 0 when buflen is too small. */
size_t acpi_build(uint8_t *buf, size_t buflen, uint64_t gpa, unsigned int nr_cpus);

#endif
