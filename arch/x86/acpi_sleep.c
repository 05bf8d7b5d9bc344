#include "acpi_sleep.h"

#include <string.h>

#include "boot_layout.h"
#include "power.h"

/* Offset 0: sleep control, offset 1: sleep status (always reads 0: never woken). */
void acpi_sleep_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	const struct power_sink *p = opaque;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	uint8_t v = *(uint8_t *)data;
	if (offset == 0 && (v & ACPI_SLEEP_EN) && ((v >> 2) & 7) == ACPI_SLEEP_TYP_S5)
		p->end(p->ctx, 0, "guest powered off (ACPI S5)");
}
