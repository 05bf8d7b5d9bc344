/* Just enough of the i8042 keyboard controller: no keyboard, and the reset line (0xfe to
 * port 0x64) that Linux's `reboot=k` pulls. Reset ends the VM with exit code 0. */
#ifndef PAGODA_X86_I8042_H
#define PAGODA_X86_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "../../devices/power.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64

void i8042_io(void *power_sink, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
