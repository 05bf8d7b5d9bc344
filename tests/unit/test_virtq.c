/* The virtqueue and the virtio-mmio transport on rings built in guest memory (a plain
 * mapping, no KVM): well-formed chains come out as the driver made them, and every
 * hostile one is refused without touching memory outside RAM. */
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_blk.h>
#include <unistd.h>

#include "../../virtio/balloon.h"
#include "../../virtio/blk.h"
#include "../../virtio/mmio.h"
#include "../../virtio/rng.h"
#include "check.h"

#define RAM (16ULL << 20)
#define DESC 0x10000ULL
#define AVAIL 0x11000ULL
#define USED 0x12000ULL
#define BUF 0x20000ULL
#define QN 8

static struct guest_mem mem;
static struct virtq vq;
static struct virtq_chain chain;

static void *gp(uint64_t gpa)
{
	return guest_mem_ptr(&mem, gpa, 1, GUEST_READ);
}

static struct vring_desc *desc(unsigned int i) { return (struct vring_desc *)gp(DESC) + i; }
static struct vring_avail *avail(void) { return gp(AVAIL); }
static struct vring_used *used(void) { return gp(USED); }

static void fresh_queue(bool event_idx)
{
	memset(gp(0), 0, 0x20000);
	virtq_reset(&vq, &mem);
	vq.num = QN;
	vq.desc_gpa = DESC;
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	vq.event_idx = event_idx;
	const char *why = NULL;
	CHECK_EQ(virtq_enable(&vq, &why), 0);
}

static void set_desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*desc(i) = (struct vring_desc){ addr, len, flags, next };
}

static void make_avail(uint16_t head)
{
	struct vring_avail *a = avail();
	a->ring[a->idx % QN] = head;
	a->idx++;
}

/* -EINVAL, with a reason that mentions `word`. */
static void expect_refused(const char *word)
{
	const char *why = "";
	CHECK_EQ(virtq_pop(&vq, &chain, &why), (uint64_t)-EINVAL);
	CHECK_MSG(why, word);
}

static void good_chains(void)
{
	fresh_queue(false);
	const char *why = NULL;
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 0); /* nothing available */
	set_desc(0, BUF, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF + 0x1000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(2, BUF + 0x2000, 1, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	CHECK(chain.head == 0 && chain.nr_out == 1 && chain.nr_in == 2);
	CHECK(chain.out_len == 16 && chain.in_len == 513);
	CHECK(chain.in[0].iov_base == gp(BUF + 0x1000) && chain.in_gpa[1] == BUF + 0x2000);
	virtq_push(&vq, &chain, 513);
	CHECK(used()->idx == 1 && used()->ring[0].id == 0 && used()->ring[0].len == 513);
	CHECK(virtq_should_notify(&vq));
	CHECK(!virtq_should_notify(&vq)); /* nothing new pushed */

	/* An indirect table of three entries behind descriptor 3. */
	struct vring_desc *t = gp(BUF + 0x3000);
	t[0] = (struct vring_desc){ BUF, 8, VRING_DESC_F_NEXT, 2 };
	t[2] = (struct vring_desc){ BUF + 0x100, 8, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF + 0x200, 4, VRING_DESC_F_WRITE, 0 };
	set_desc(3, BUF + 0x3000, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	make_avail(3);
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	CHECK(chain.head == 3 && chain.nr_out == 2 && chain.nr_in == 1 && chain.in_len == 4);
	/* A zero-length buffer moves nothing and is not an error. */
	set_desc(4, BUF, 0, 0, 0);
	make_avail(4);
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	CHECK(chain.nr_out == 0 && chain.nr_in == 0);
	/* Nothing more, then unpop gives the last one back. */
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 0);
	virtq_unpop(&vq);
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	CHECK_EQ(chain.head, 4);
}

static void hostile_chains(void)
{
	fresh_queue(false);
	set_desc(0, BUF, 8, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF, 8, VRING_DESC_F_NEXT, 0); /* 0 -> 1 -> 0 ... */
	make_avail(0);
	expect_refused("loops");

	fresh_queue(false);
	set_desc(0, BUF, 8, VRING_DESC_F_NEXT, QN);
	make_avail(0);
	expect_refused("outside the queue");

	fresh_queue(false);
	make_avail(QN + 3);
	expect_refused("outside the queue");

	fresh_queue(false);
	avail()->idx = QN + 1; /* claims more entries than the queue has */
	expect_refused("ahead");

	fresh_queue(false);
	set_desc(0, RAM - 8, 16, 0, 0); /* runs off the end of RAM */
	make_avail(0);
	expect_refused("outside guest RAM");

	fresh_queue(false);
	set_desc(0, 0xc0000000ULL, 16, 0, 0); /* the MMIO hole */
	make_avail(0);
	expect_refused("outside guest RAM");

	fresh_queue(false);
	set_desc(0, BUF, 0xffffffffu, 0, 0); /* 4 GiB from a 16 MiB guest */
	make_avail(0);
	expect_refused("outside guest RAM");

	fresh_queue(false);
	set_desc(0, BUF, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(1, BUF, 8, 0, 0);
	make_avail(0);
	expect_refused("readable descriptor after");
}

static void hostile_indirect(void)
{
	struct vring_desc *t = gp(BUF + 0x3000);
	const uint16_t IND = VRING_DESC_F_INDIRECT;
	fresh_queue(false);
	t[0] = (struct vring_desc){ BUF, 8, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF, 8, VRING_DESC_F_NEXT, 0 };
	set_desc(0, BUF + 0x3000, 2 * 16, IND, 0);
	make_avail(0);
	expect_refused("loops");

	fresh_queue(false);
	t[0] = (struct vring_desc){ BUF + 0x3000, 16, IND, 0 };
	set_desc(0, BUF + 0x3000, 16, IND, 0);
	make_avail(0);
	expect_refused("inside an indirect");

	fresh_queue(false);
	set_desc(0, BUF + 0x3000, 20, IND, 0);
	make_avail(0);
	expect_refused("bad length");

	fresh_queue(false);
	set_desc(0, BUF + 0x3000, 16, IND | VRING_DESC_F_NEXT, 1);
	make_avail(0);
	expect_refused("flags");

	fresh_queue(false);
	set_desc(0, BUF + 0x3000, 16 * (VIRTQ_MAX_SEGS + 1), IND, 0);
	make_avail(0);
	expect_refused("bad length");

	fresh_queue(false);
	t[0] = (struct vring_desc){ BUF, 8, VRING_DESC_F_NEXT, 5 };
	set_desc(0, BUF + 0x3000, 2 * 16, IND, 0);
	make_avail(0);
	expect_refused("outside its table");

	fresh_queue(false);
	set_desc(0, RAM - 16, 32, IND, 0);
	make_avail(0);
	expect_refused("outside guest RAM");

	/* A chain of indirect tables' worth of segments beyond the device's limit. */
	fresh_queue(false);
	for (unsigned int i = 0; i < VIRTQ_MAX_SEGS; i++)
		t[i] = (struct vring_desc){ BUF, 8, (uint16_t)(i + 1 < VIRTQ_MAX_SEGS ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1) };
	set_desc(0, BUF, 8, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF + 0x3000, 16 * VIRTQ_MAX_SEGS, IND, 0);
	make_avail(0);
	expect_refused("longer than the device accepts");
}

static bool vmm_dirty(uint64_t gpa)
{
	const struct memslot *sl = memslot_find(&mem.slots, gpa);
	uint64_t p = (gpa - sl->gpa) / 4096;
	return (sl->vmm_dirty[p / 64] >> (p % 64)) & 1;
}

/* What a device writes into guest memory must reach dirty tracking: KVM never sees it. */
static void device_writes_are_dirty(void)
{
	fresh_queue(false);
	const struct memslot *sl = memslot_find(&mem.slots, 0);
	memset(sl->vmm_dirty, 0, (sl->size / 4096 + 63) / 64 * 8);
	mem.vmm_dirty_on = true;
	set_desc(0, BUF + 0x5000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF + 0x7000, 0x2000, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	const char *why;
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	memset(sl->vmm_dirty, 0, (sl->size / 4096 + 63) / 64 * 8); /* as if harvested meanwhile */
	virtq_push(&vq, &chain, 0x2000);
	CHECK(vmm_dirty(BUF + 0x7000) && vmm_dirty(BUF + 0x8000)); /* the data, written late */
	CHECK(vmm_dirty(USED));                                     /* the used ring */
	CHECK(!vmm_dirty(BUF + 0x5000) && !vmm_dirty(BUF + 0x9000)); /* read-only, untouched */
	mem.vmm_dirty_on = false;
}

static void enable_checks(void)
{
	const char *why = "";
	struct { uint16_t num; uint64_t d, a, u; const char *word; } bad[] = {
		{ 0, DESC, AVAIL, USED, "power of two" },
		{ 6, DESC, AVAIL, USED, "power of two" },
		{ 512, DESC, AVAIL, USED, "power of two" },
		{ 8, DESC + 8, AVAIL, USED, "misaligned" },
		{ 8, DESC, AVAIL + 1, USED, "misaligned" },
		{ 8, DESC, AVAIL, USED + 2, "misaligned" },
		{ 8, RAM - 64, AVAIL, USED, "outside guest RAM" },
		{ 8, DESC, AVAIL, 0xfee00000ULL, "outside guest RAM" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		virtq_reset(&vq, &mem);
		vq.num = bad[i].num;
		vq.desc_gpa = bad[i].d;
		vq.avail_gpa = bad[i].a;
		vq.used_gpa = bad[i].u;
		CHECK_EQ(virtq_enable(&vq, &why), (uint64_t)-EINVAL);
		CHECK_MSG(why, bad[i].word);
		CHECK(!vq.ready);
	}
}

static void event_idx(void)
{
	fresh_queue(true);
	const char *why;
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(i, BUF, 8, VRING_DESC_F_WRITE, 0);
		make_avail(i);
	}
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	uint16_t avail_event;
	memcpy(&avail_event, (uint8_t *)used() + 4 + 8 * QN, 2);
	CHECK_EQ(avail_event, 1); /* avail_event: wake me after entry 1 */
	avail()->ring[QN] = 2;                        /* used_event: interrupt me after the 3rd */
	virtq_push(&vq, &chain, 0);
	CHECK(virtq_should_notify(&vq));              /* the first one always goes */
	virtq_pop(&vq, &chain, &why);
	virtq_push(&vq, &chain, 0);
	CHECK(!virtq_should_notify(&vq));             /* used idx 2: not past used_event yet */
	virtq_pop(&vq, &chain, &why);
	virtq_push(&vq, &chain, 0);
	CHECK(virtq_should_notify(&vq));              /* used idx 3 crossed used_event 2 */
}

/* The transport: a device the driver feeds garbage stops (NEEDS_RESET) and works again
 * after a reset; register values out of range change nothing. */
static int pulses;
static int count_pulse(void *ctx, uint32_t gsi)
{
	(void)ctx;
	(void)gsi;
	pulses++;
	return 0;
}

static uint32_t reg(struct virtio_mmio *t, uint64_t off)
{
	uint32_t v = 0;
	virtio_mmio_io(t, off, &v, 4, false);
	return v;
}

static void wreg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_io(t, off, &v, 4, true);
}

static void setup_queue(struct virtio_mmio *t, uint64_t features_hi)
{
	wreg(t, 0x70, 0);
	wreg(t, 0x70, 3);
	wreg(t, 0x24, 1);
	wreg(t, 0x20, (uint32_t)features_hi);
	wreg(t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
	wreg(t, 0x30, 0);
	wreg(t, 0x38, QN);
	wreg(t, 0x80, DESC);
	wreg(t, 0x90, AVAIL);
	wreg(t, 0xa0, USED);
	wreg(t, 0x44, 1);
	wreg(t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void transport(void)
{
	struct virtio_host h = { .mem = &mem, .vm_fd = -1, .irq_pulse = count_pulse };
	struct virtio_dev *d = virtio_rng_create(&h);
	struct virtio_mmio t;
	CHECK_EQ(virtio_mmio_init(&t, d, 0xc0000000ULL, 5), 0);
	CHECK_EQ(reg(&t, 0), 0x74726976);
	CHECK_EQ(reg(&t, 4), 2);
	CHECK_EQ(reg(&t, 8), 4);
	uint8_t byte = 0x55;
	virtio_mmio_io(&t, 0x70, &byte, 1, false); /* not a 32-bit access: reads 0 */
	CHECK_EQ(byte, 0);

	/* No VERSION_1: FEATURES_OK does not stick, and the DRIVER_OK that follows it breaks
	 * the device instead of making it live (a config interrupt says so). */
	memset(gp(0), 0, 0x20000);
	setup_queue(&t, 0);
	CHECK(!(reg(&t, 0x70) & VIRTIO_CONFIG_S_FEATURES_OK));
	CHECK(reg(&t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(pulses, 1);
	pulses = 0;

	/* A working request: 16 random bytes. */
	memset(gp(0), 0, 0x20000);
	setup_queue(&t, 1);
	CHECK(reg(&t, 0x70) & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(reg(&t, 0x34), VIRTQ_MAX_SIZE);
	set_desc(0, BUF, 16, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	wreg(&t, 0x50, 0);
	CHECK(used()->idx == 1 && used()->ring[0].len == 16);
	CHECK(pulses == 1 && (reg(&t, 0x60) & 1));
	wreg(&t, 0x64, 1);
	CHECK_EQ(reg(&t, 0x60), 0);

	/* A looping chain: NEEDS_RESET, a config interrupt, nothing more consumed. */
	set_desc(1, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	make_avail(1);
	wreg(&t, 0x50, 0);
	CHECK(reg(&t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(reg(&t, 0x60) & 2);
	set_desc(2, BUF, 16, VRING_DESC_F_WRITE, 0);
	make_avail(2);
	wreg(&t, 0x50, 0);
	CHECK_EQ(used()->idx, 1);
	/* A notify for a queue that does not exist, a queue select out of range: ignored. */
	wreg(&t, 0x50, 7);
	wreg(&t, 0x30, 9);
	CHECK_EQ(reg(&t, 0x34), 0);
	wreg(&t, 0x44, 1);

	/* Reset brings it back. */
	memset(gp(0), 0, 0x20000);
	setup_queue(&t, 1);
	CHECK(!(reg(&t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET));
	set_desc(0, BUF, 16, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	wreg(&t, 0x50, 0);
	CHECK_EQ(used()->idx, 1);

	/* Rings outside RAM at QueueReady: NEEDS_RESET straight away. */
	wreg(&t, 0x70, 0);
	wreg(&t, 0x70, 3);
	wreg(&t, 0x24, 1);
	wreg(&t, 0x20, 1);
	wreg(&t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
	wreg(&t, 0x30, 0);
	wreg(&t, 0x38, QN);
	wreg(&t, 0x80, 0xfffff000u);
	wreg(&t, 0x44, 1);
	CHECK(reg(&t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(reg(&t, 0x44), 0);
	virtio_mmio_destroy(&t);
	d->ops->destroy(d);
}

/* A chain popped before the driver reset or disabled its queue is never pushed: the
 * rings may have moved (a new size, an address outside RAM) since. */
static void dead_chains_are_dropped(void)
{
	const char *why;
	fresh_queue(false);
	set_desc(0, BUF, 64, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	virtq_disable(&vq);
	vq.num = 0;                /* what the driver may now write */
	vq.used_gpa = 1ULL << 40;
	CHECK(!virtq_push(&vq, &chain, 64));
	CHECK(!virtq_should_notify(&vq));
	CHECK_EQ(used()->idx, 0);

	fresh_queue(false);
	make_avail(0);
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	struct virtq_chain old = chain;
	virtq_reset(&vq, &mem);    /* the device was reset */
	CHECK(!virtq_push(&vq, &old, 64));
	vq.num = QN;
	vq.desc_gpa = DESC;
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	CHECK_EQ(virtq_enable(&vq, &why), 0);
	CHECK(!virtq_push(&vq, &old, 64)); /* re-enabled: still another queue */
	CHECK_EQ(used()->idx, 0);

	/* A device that claims more than the buffers hold is capped at their size. */
	fresh_queue(false);
	set_desc(0, BUF, 64, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	CHECK_EQ(virtq_pop(&vq, &chain, &why), 1);
	CHECK(virtq_push(&vq, &chain, 100000));
	CHECK(used()->idx == 1 && used()->ring[0].len == 64);
}

static void driver_setup(struct virtio_mmio *t, uint32_t features_lo)
{
	memset(gp(0), 0, 0x20000);
	setup_queue(t, 1);
	wreg(t, 0x70, 0);
	wreg(t, 0x70, 3);
	wreg(t, 0x24, 0);
	wreg(t, 0x20, features_lo);
	wreg(t, 0x24, 1);
	wreg(t, 0x20, 1);
	wreg(t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK);
}

static void queue_at(struct virtio_mmio *t, unsigned int q, uint64_t off)
{
	wreg(t, 0x30, q);
	wreg(t, 0x38, QN);
	wreg(t, 0x80, (uint32_t)(DESC + off));
	wreg(t, 0x90, (uint32_t)(AVAIL + off));
	wreg(t, 0xa0, (uint32_t)(USED + off));
	wreg(t, 0x44, 1);
}

/* The driver disables the queue and shrinks it to 0 while the device holds its buffer;
 * then a snapshot quiesces the device (which hands held buffers back). */
static void shrink_queue(struct virtio_mmio *t, unsigned int q)
{
	wreg(t, 0x30, q);
	wreg(t, 0x44, 0);
	wreg(t, 0x38, 0);
	wreg(t, 0xa0, 0xfffff000u);
}

static void balloon_stats_queue_reset(void)
{
	struct virtio_host h = { .mem = &mem, .vm_fd = -1, .irq_pulse = count_pulse };
	struct virtio_dev *d = virtio_balloon_create(&h, 0, 0, false);
	struct virtio_mmio t;
	CHECK_EQ(virtio_mmio_init(&t, d, 0xc0000000ULL, 5), 0);
	driver_setup(&t, 1u << VIRTIO_BALLOON_F_STATS_VQ);
	queue_at(&t, 2, 0);
	wreg(&t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	set_desc(0, BUF, 10, 0, 0);
	make_avail(0);
	wreg(&t, 0x50, 2);
	CHECK_EQ(d->vqs[2].last_avail, 1); /* held until the host wants fresh statistics */
	shrink_queue(&t, 2);
	d->ops->quiesce(d);
	CHECK_EQ(used()->idx, 0);
	CHECK(!(reg(&t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET));
	/* The driver sets the queue up again: a new stats buffer is taken. */
	queue_at(&t, 2, 0);
	make_avail(0);
	wreg(&t, 0x50, 2);
	CHECK_EQ(d->vqs[2].last_avail, 1);
	virtio_mmio_destroy(&t);
	d->ops->destroy(d);
}

/* Reads of a 1 MiB image; nothing reaps completions here (no I/O thread) until the
 * device is quiesced, so what is in flight stays in flight. */
static void blk_inflight_and_queue_reset(void)
{
	char path[] = "/tmp/pagoda-test-blk-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	struct virtio_host h = { .mem = &mem, .vm_fd = -1, .irq_pulse = count_pulse };
	struct blk_options o = { .path = path };
	char err[256] = "";
	struct virtio_blk *b = virtio_blk_create(&h, &o, "vda", err, sizeof(err));
	unlink(path);
	CHECK(b != NULL);
	if (!b)
		return;
	struct virtio_dev *d = virtio_blk_dev(b);
	struct virtio_mmio t;
	CHECK_EQ(virtio_mmio_init(&t, d, 0xc0000000ULL, 5), 0);
	driver_setup(&t, 0);
	queue_at(&t, 0, 0);
	wreg(&t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	struct virtio_blk_outhdr *hdr = gp(BUF);
	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 0 };
	set_desc(0, BUF, sizeof(*hdr), VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF + 0x1000, 4096, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(2, BUF + 0x3000, 1, VRING_DESC_F_WRITE, 0);
	/* The same chain posted a queue's worth of times, then again: the device takes no
	 * more than the queue holds until something completes. */
	for (int i = 0; i < QN; i++)
		make_avail(0);
	wreg(&t, 0x50, 0);
	CHECK_EQ(d->vqs[0].last_avail, QN);
	for (int i = 0; i < QN; i++)
		make_avail(0);
	wreg(&t, 0x50, 0);
	CHECK_EQ(d->vqs[0].last_avail, QN);
	d->ops->quiesce(d);        /* completes the first QN */
	CHECK_EQ(used()->idx, QN);
	CHECK(!(reg(&t, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET));

	/* A request in flight when the driver shrinks its queue: completed, dropped. */
	driver_setup(&t, 0);
	queue_at(&t, 0, 0);
	wreg(&t, 0x70, 3 | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	set_desc(0, BUF, sizeof(*hdr), VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF + 0x1000, 4096, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(2, BUF + 0x3000, 1, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	wreg(&t, 0x50, 0);
	CHECK_EQ(d->vqs[0].last_avail, 1);
	shrink_queue(&t, 0);
	d->ops->quiesce(d);
	CHECK_EQ(used()->idx, 0);
	virtio_mmio_destroy(&t);
	d->ops->destroy(d);
}

int main(void)
{
	struct mem_layout l;
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = -1, .max_slots = 8 };
	char err[256];
	if (layout_x86(RAM, SZ_4K, &l) || guest_mem_create(&mem, &l, &o, err, sizeof(err))) {
		fprintf(stderr, "guest memory: %s\n", err);
		return 1;
	}
	good_chains();
	hostile_chains();
	hostile_indirect();
	enable_checks();
	event_idx();
	device_writes_are_dirty();
	transport();
	dead_chains_are_dropped();
	balloon_stats_queue_reset();
	blk_inflight_and_queue_reset();
	guest_mem_destroy(&mem);
	return check_result("virtq");
}
