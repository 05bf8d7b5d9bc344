#include "i8042.h"

#include <string.h>

#define CMD_PULSE_RESET 0xfe

/* Registered at port 0x60 with length 5, so offset 4 is the command/status port. */
void i8042_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	const struct power_sink *p = opaque;
	if (!is_write) {
		/* Status 0: output buffer empty, input buffer empty; data reads 0. */
		memset(data, 0, len);
		return;
	}
	if (offset == I8042_CMD_PORT - I8042_DATA_PORT && len == 1 &&
	    *(uint8_t *)data == CMD_PULSE_RESET)
		p->end(p->ctx, 0, "guest reset through the i8042");
}
