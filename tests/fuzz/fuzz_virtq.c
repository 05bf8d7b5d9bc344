/* The virtqueue chain walker on rings the input writes: the first 8 KiB of input become
 * the descriptor table, avail and used rings; then chains are popped until the queue is
 * empty or broken. Every buffer handed out must lie inside guest RAM. */
#include <stdint.h>
#include <string.h>

#include "../../virtio/virtq.h"
#include "fuzz_common.h"

#define RINGS 0x10000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *m = fuzz_mem();
	if (size < 2)
		return 0;
	uint8_t *rings = guest_mem_ptr(m, RINGS, 0x3000, GUEST_WRITE);
	memset(rings, 0, 0x3000);
	memcpy(rings, data + 2, size - 2 > 0x3000 ? 0x3000 : size - 2);
	struct virtq vq;
	virtq_reset(&vq, m);
	vq.num = (uint16_t)(1u << (data[0] % 9)); /* 1..256 */
	vq.desc_gpa = RINGS;
	vq.avail_gpa = RINGS + 0x1000;
	vq.used_gpa = RINGS + 0x2000;
	vq.event_idx = data[1] & 1;
	const char *why;
	if (virtq_enable(&vq, &why))
		return 0;
	static struct virtq_chain c;
	for (int i = 0; i < 512; i++) {
		int r = virtq_pop(&vq, &c, &why);
		if (r <= 0)
			break;
		for (unsigned int k = 0; k < c.nr_in; k++)
			if (!guest_mem_ptr(m, c.in_gpa[k], c.in[k].iov_len, GUEST_READ))
				__builtin_trap();
		virtq_push(&vq, &c, (uint32_t)c.in_len);
		virtq_should_notify(&vq);
	}
	return 0;
}
