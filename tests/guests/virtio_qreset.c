/* A driver that resets a queue while the device still holds its buffers, then moves the
 * queue (QueueNum 0, the used ring outside RAM): a device that later hands those buffers
 * back must drop them, not write to the moved ring or divide by the new size, and the
 * VM runs on.
 * - The balloon's stats queue: the device keeps the stats buffer until its timer
 *   (--balloon=stats=0.2) wants fresh numbers; the timer fires after the reset.
 * - The block device's queue ("rounds" times, default 10): a 1 MiB read is taken by the
 *   device (EVENT_IDX: it writes avail_event when it pops), the queue is reset at once and
 *   the read completes after.
 * Then both devices are reset and must work: an inflate, a read. */
#include "rt/rt.h"
#include "rt/vio.h"

#define F_EVENT_IDX (1ULL << 29)
#define BALLOON_F_STATS_VQ (1ULL << 1)
#define CHUNK (1u << 20)

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };

static struct { uint16_t tag; uint64_t val; } __attribute__((packed)) stats[10];
static uint32_t pfn;
static struct blk_hdr hdr;
static volatile uint8_t status;

static void fail(const char *what)
{
	rt_printf("FAIL: %s\n", what);
	rt_finish(1);
}

static void sleep_ms(uint64_t ms)
{
	rt_stopwatch_start();
	while (rt_stopwatch_us() < ms * 1000)
		cpu_relax();
}

/* The driver moves queue q while the device may hold its buffers. */
static void move_queue(const struct vio *d, uint32_t q)
{
	vio_write(d, VIO_QUEUE_SEL, q);
	vio_write(d, VIO_QUEUE_READY, 0);
	vio_write(d, VIO_QUEUE_NUM, 0);
	vio_write(d, VIO_QUEUE_USED, 0xfffff000u);
	vio_write(d, VIO_QUEUE_USED + 4, 0);
}

static void balloon_case(void)
{
	struct vio dev, st;
	uint64_t base = vio_find(5, 0);
	if (!base || !vio_init(&dev, base, BALLOON_F_STATS_VQ, 0) || !vio_add_queue(&st, &dev, 2, 1))
		fail("no virtio-balloon with a stats queue");
	st.desc[0] = (struct vio_desc){ (uint64_t)(uintptr_t)stats, sizeof(stats), 0, 0 };
	vio_submit(&st, 0);
	sleep_ms(50);          /* the device takes it and holds it */
	move_queue(&dev, 2);
	sleep_ms(700);         /* the stats timer fires three times */
	if (vio_read(&dev, VIO_STATUS) & VIO_S_NEEDS_RESET)
		fail("the balloon broke over a queue the driver was allowed to reset");
	if (!vio_init(&dev, base, 0, 0))
		fail("the balloon did not come back after a reset");
	pfn = (uint32_t)(((uint64_t)(uintptr_t)_end + 0x200000) >> 12);
	dev.desc[0] = (struct vio_desc){ (uint64_t)(uintptr_t)&pfn, 4, 0, 0 };
	vio_submit(&dev, 0);
	struct vio_used_elem e;
	if (!vio_wait(&dev, &e))
		fail("the balloon did not take a page after its reset");
	rt_printf("balloon: stats queue moved while its buffer was held; works after reset\n");
}

static void post_read(struct vio *d, uint64_t buf)
{
	hdr = (struct blk_hdr){ 0, 0, 0 };
	status = 0xff;
	d->desc[0] = (struct vio_desc){ (uint64_t)(uintptr_t)&hdr, sizeof(hdr), VIO_DESC_NEXT, 1 };
	d->desc[1] = (struct vio_desc){ buf, CHUNK, VIO_DESC_NEXT | VIO_DESC_WRITE, 2 };
	d->desc[2] = (struct vio_desc){ (uint64_t)(uintptr_t)&status, 1, VIO_DESC_WRITE, 0 };
	vio_submit(d, 0);
}

static void blk_case(unsigned int rounds)
{
	struct vio dev;
	uint64_t base = vio_find(2, 0);
	unsigned int idx = 0;
	uint64_t lo, hi;
	rt_ram_range(&idx, &lo, &hi);
	if (!base || hi - lo < CHUNK)
		fail("no virtio-blk device or no room for a buffer");
	for (unsigned int r = 0; r < rounds; r++) {
		if (!vio_init(&dev, base, F_EVENT_IDX, 0))
			fail("the block device did not come back after a reset");
		post_read(&dev, lo);
		volatile uint16_t *avail_event = &dev.used->avail_event;
		for (unsigned int spin = 0; *avail_event != 1; spin++)
			if (spin > 50000000)
				fail("the block device never took the read");
		move_queue(&dev, 0);
	}
	sleep_ms(200);         /* the last reads complete against moved queues */
	if (!vio_init(&dev, base, 0, 0))
		fail("the block device did not come back after the resets");
	post_read(&dev, lo);
	struct vio_used_elem e;
	if (!vio_wait(&dev, &e) || status != 0)
		fail("a read after the resets failed");
	rt_printf("blk: %u queues moved under a read in flight; a read works after reset\n", rounds);
}

int main(void)
{
	balloon_case();
	blk_case((unsigned int)rt_param_u64("rounds", 10));
	return 0;
}
