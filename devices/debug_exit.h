/* The test guests' way out, as QEMU's isa-debug-exit: writing v to it (x86: port 0x501,
 * arm64: a register on MMIO) ends the VM with exit code (v << 1) | 1, so a guest's codes
 * never collide with pagoda's (even). Writing a byte s to the next address (x86: port
 * 0x502) ends it with exit code s exactly: how pagoda exec's init hands back the
 * command's status (0-255, which may then look like one of pagoda's own codes). */
#ifndef PAGODA_DEVICES_DEBUG_EXIT_H
#define PAGODA_DEVICES_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

void debug_exit_io(void *power_sink, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
