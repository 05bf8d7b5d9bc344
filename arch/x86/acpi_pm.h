/* ACPI fixed-hardware power management: the PM1a event block (status, enable) and the
 * PM1a control block. Linux's poweroff writes SLP_TYP=S5 | SLP_EN to PM1a_CNT and the VM
 * ends with exit code 0. Registered as one 6-byte range: EVT at 0-3, CNT at 4-5. */
#ifndef PAGODA_X86_ACPI_PM_H
#define PAGODA_X86_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_PM_PORTS 6

void acpi_pm_io(void *power_sink, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
