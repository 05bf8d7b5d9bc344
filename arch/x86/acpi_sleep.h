/* The sleep control register of pagoda's HW-reduced ACPI (FADT SLEEP_CONTROL_REG):
 * Linux's poweroff writes SLP_TYP=S5 | SLP_EN here and the VM ends with exit code 0. */
#ifndef PAGODA_X86_ACPI_SLEEP_H
#define PAGODA_X86_ACPI_SLEEP_H

#include <stdbool.h>
#include <stdint.h>

void acpi_sleep_io(void *power_sink, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
