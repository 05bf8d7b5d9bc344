#include "acpi_pm.h"

#include <string.h>

#include "boot_layout.h"
#include "../../devices/power.h"

#define CNT_OFFSET (PORT_ACPI_PM1_CNT - PORT_ACPI_PM1_EVT)

void acpi_pm_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	const struct power_sink *p = opaque;
	if (!is_write) {
		/* Status and enable read 0 (no events, never woken); control reads SCI_EN so
		 * the OS sees the platform in ACPI mode and never asks for SMI_CMD. */
		memset(data, 0, len);
		if (offset == CNT_OFFSET)
			*(uint8_t *)data = ACPI_PM1_CNT_SCI_EN;
		return;
	}
	if (offset != CNT_OFFSET || len < 2)
		return; /* status is write-one-to-clear and enables change nothing here */
	uint16_t v;
	memcpy(&v, data, sizeof(v));
	if ((v & ACPI_PM1_CNT_SLP_EN) && ((v >> ACPI_PM1_CNT_TYP_SHIFT) & 7) == ACPI_SLEEP_TYP_S5)
		p->end(p->ctx, 0, "guest powered off (ACPI S5)");
}
