/* The snapshot/migration state reader: any bytes as a state stream are walked record by
 * record, the header checked, and the vCPU and VM records parsed (their ioctls go to a
 * closed fd and fail: the parsing before them is what is under test). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../arch/x86/saved_state.h"
#include "../../vmm/persist/machine_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_buf b = { .data = malloc(size ? size : 1), .len = size, .cap = size };
	memcpy(b.data, data, size);
	struct state_header h;
	char err[256];
	machine_state_peek_header(&b, &h, err, sizeof(err));
	struct state_rec r;
	b.pos = 0;
	while (state_next(&b, &r) > 0) {
		if (r.payload + r.len > b.data + b.len)
			__builtin_trap();
		if (r.type == REC_X86_VCPU)
			x86_vcpu_restore(-1, -1, r.payload, r.len, err, sizeof(err));
		else if (r.type == REC_X86_VM)
			x86_vm_restore(-1, r.payload, r.len, err, sizeof(err));
	}
	state_crc32(b.data, b.len, 0);
	free(b.data);
	return 0;
}
