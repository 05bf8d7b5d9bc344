/* A balloon driver in a few lines: touches "touch" MiB of RAM (default 64), then gives
 * the host "give" MiB of it (default 32) through the inflate queue, every "stride"th page
 * (default 1: contiguous). Powers off; the test reads pagoda's --stats: guest RAM resident
 * and what the balloon freed. */
#include "rt/rt.h"
#include "rt/vio.h"

#define PAGE 4096UL
#define PFNS_PER_BUF 256

static uint32_t pfns[PFNS_PER_BUF];

int main(void)
{
	uint64_t touch = rt_param_u64("touch", 64) << 20, give = rt_param_u64("give", 32) << 20;
	uint64_t stride = rt_param_u64("stride", 1);
	unsigned int idx = 0;
	uint64_t lo, hi;
	rt_ram_range(&idx, &lo, &hi);
	lo = (lo + (2UL << 20) - 1) & ~((2UL << 20) - 1); /* whole huge pages from here */
	if (hi - lo < touch || give * stride > touch || !stride) {
		rt_printf("FAIL: bad parameters\n");
		return 1;
	}
	for (uint64_t a = lo; a < lo + touch; a += PAGE)
		*(volatile uint64_t *)(uintptr_t)a = a;
	struct vio dev;
	uint64_t base = vio_find(5, 0);
	if (!base || !vio_init(&dev, base, 0, 0)) {
		rt_printf("FAIL: no virtio-balloon device\n");
		return 1;
	}
	uint64_t n = give / PAGE, sent = 0;
	while (sent < n) {
		unsigned int k = 0;
		for (; k < PFNS_PER_BUF && sent < n; k++, sent++)
			pfns[k] = (uint32_t)((lo + sent * stride * PAGE) / PAGE);
		dev.desc[0] = (struct vio_desc){ (uint64_t)(uintptr_t)pfns, k * 4, 0, 0 };
		vio_submit(&dev, 0);
		struct vio_used_elem e;
		if (!vio_wait(&dev, &e)) {
			rt_printf("FAIL: the balloon device broke\n");
			return 1;
		}
	}
	rt_printf("touched %lu MiB, gave %lu pages (stride %lu)\n", touch >> 20, n, stride);
	return 0;
}
