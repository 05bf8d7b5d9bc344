/* The Intel MultiProcessor table (spec 1.4): CPUs, the IOAPIC and ISA interrupt routing.
 * Linux prefers ACPI's MADT when it has ACPI; the tiny guests and ACPI-less kernels read this. */
#ifndef PAGODA_X86_MPTABLE_H
#define PAGODA_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

/* Builds the table for nr_cpus into buf (which is placed at gpa); returns its size, or 0
 * when it does not fit in buflen. */
size_t mptable_build(uint8_t *buf, size_t buflen, uint64_t gpa, unsigned int nr_cpus);

#endif
