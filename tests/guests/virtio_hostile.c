/* A hostile virtio driver: feeds the block device bad descriptor chains and bad register
 * values, one case at a time, and checks after each that the device says NEEDS_RESET (or,
 * for register values, refuses them) while the VM runs on: the guest keeps executing, the
 * rng device next to it keeps working, and a reset brings the block device back. */
#include "rt/rt.h"
#include "rt/vio.h"

static struct vio blk;
static uint8_t data[4096] __attribute__((aligned(4096)));
static struct vio_desc table[8] __attribute__((aligned(16)));
static uint8_t hdr[16], status;

static bool needs_reset(void)
{
	for (int i = 0; i < 1000; i++) { /* the device may still be on its I/O thread */
		if (vio_read(&blk, VIO_STATUS) & VIO_S_NEEDS_RESET)
			return true;
	}
	return false;
}

static void fresh(uint64_t base)
{
	if (!vio_init(&blk, base, 1ULL << 28 /* INDIRECT_DESC */, 0)) {
		rt_printf("FAIL: the block device did not come back after a reset\n");
		rt_finish(1);
	}
}

static void desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	blk.desc[i] = (struct vio_desc){ addr, len, flags, next };
}

static uint64_t a(const void *p) { return (uint64_t)(uintptr_t)p; }

/* Each case sets up descriptors and publishes; the device must break. */
static void chain_loop(void) { desc(0, a(data), 16, VIO_DESC_WRITE | VIO_DESC_NEXT, 1); desc(1, a(data), 512, VIO_DESC_NEXT | VIO_DESC_WRITE, 0); vio_submit(&blk, 0); }
static void next_out_of_queue(void) { desc(0, a(hdr), 16, VIO_DESC_NEXT, 999); vio_submit(&blk, 0); }
static void head_out_of_queue(void) { vio_submit(&blk, 4000); }
static void buffer_in_mmio_hole(void) { desc(0, 0xc0000000ULL, 16, 0, 0); vio_submit(&blk, 0); }
static void buffer_past_ram(void) { desc(0, 1ULL << 40, 16, 0, 0); vio_submit(&blk, 0); }
static void length_wraps(void) { desc(0, a(data), 0xfffffff0u, 0, 0); vio_submit(&blk, 0); }
static void readable_after_writable(void) { desc(0, a(&status), 1, VIO_DESC_WRITE | VIO_DESC_NEXT, 1); desc(1, a(hdr), 16, 0, 0); vio_submit(&blk, 0); }
static void no_status_byte(void) { desc(0, a(hdr), 16, 0, 0); vio_submit(&blk, 0); }
static void indirect_loop(void)
{
	table[0] = (struct vio_desc){ a(hdr), 16, VIO_DESC_NEXT, 1 };
	table[1] = (struct vio_desc){ a(data), 16, VIO_DESC_NEXT, 0 };
	desc(0, a(table), 2 * 16, VIO_DESC_INDIRECT, 0);
	vio_submit(&blk, 0);
}
static void indirect_nested(void)
{
	table[0] = (struct vio_desc){ a(table), 16, VIO_DESC_INDIRECT, 0 };
	desc(0, a(table), 16, VIO_DESC_INDIRECT, 0);
	vio_submit(&blk, 0);
}
static void indirect_bad_len(void) { desc(0, a(table), 24, VIO_DESC_INDIRECT, 0); vio_submit(&blk, 0); }
static void avail_idx_jump(void)
{
	blk.avail->idx = 1000;
	vio_write(&blk, VIO_QUEUE_NOTIFY, 0);
}
static void queue_size_odd(void)
{
	vio_write(&blk, VIO_STATUS, 0);
	vio_write(&blk, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER);
	vio_write(&blk, VIO_DRV_FEATURES_SEL, 1);
	vio_write(&blk, VIO_DRV_FEATURES, 1);
	vio_write(&blk, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK);
	vio_write(&blk, VIO_QUEUE_NUM, 3);
	vio_write(&blk, VIO_QUEUE_READY, 1);
}
static void ring_in_mmio_hole(void)
{
	vio_write(&blk, VIO_STATUS, 0);
	vio_write(&blk, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER);
	vio_write(&blk, VIO_DRV_FEATURES_SEL, 1);
	vio_write(&blk, VIO_DRV_FEATURES, 1);
	vio_write(&blk, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK);
	vio_write(&blk, VIO_QUEUE_NUM, 8);
	vio_write(&blk, VIO_QUEUE_DESC, 0xfee00000u);
	vio_write(&blk, VIO_QUEUE_READY, 1);
}

static const struct { const char *name; void (*fn)(void); } cases[] = {
	{ "chain loops", chain_loop }, { "next outside the queue", next_out_of_queue },
	{ "head outside the queue", head_out_of_queue }, { "buffer in the MMIO hole", buffer_in_mmio_hole },
	{ "buffer past RAM", buffer_past_ram }, { "length runs off RAM", length_wraps },
	{ "readable after writable", readable_after_writable }, { "no status byte", no_status_byte },
	{ "indirect table loops", indirect_loop }, { "indirect inside indirect", indirect_nested },
	{ "indirect table length", indirect_bad_len }, { "available index jumps", avail_idx_jump },
	{ "queue size 3", queue_size_odd }, { "ring in the MMIO hole", ring_in_mmio_hole },
};

/* Register values the device must refuse or ignore without breaking. */
static int register_abuse(uint64_t base)
{
	vio_write(&blk, VIO_STATUS, 0);
	vio_write(&blk, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER);
	vio_write(&blk, VIO_DRV_FEATURES_SEL, 0);
	vio_write(&blk, VIO_DRV_FEATURES, 0xffffffffu); /* features never offered */
	vio_write(&blk, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK);
	if (vio_read(&blk, VIO_STATUS) & VIO_S_FEATURES_OK) {
		rt_printf("FAIL: FEATURES_OK accepted with features the device never offered\n");
		return 1;
	}
	/* The same features, FEATURES_OK skipped: the device must not go live on them (it
	 * did, and a VM so driven could no longer be snapshotted or migrated). */
	vio_write(&blk, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_DRIVER_OK);
	if (!(vio_read(&blk, VIO_STATUS) & VIO_S_NEEDS_RESET)) {
		rt_printf("FAIL: DRIVER_OK without FEATURES_OK made the device live\n");
		return 1;
	}
	fresh(base);
	vio_write(&blk, VIO_QUEUE_SEL, 77);
	uint32_t max = vio_read(&blk, VIO_QUEUE_NUM_MAX);
	vio_write(&blk, VIO_QUEUE_READY, 1);
	vio_write(&blk, VIO_QUEUE_NOTIFY, 77);
	vio_write(&blk, 0x1fc, 0xdeadbeef);              /* past the config space */
	*(volatile uint8_t *)(uintptr_t)(base + 0x71) = 0xff; /* a byte inside a register */
	*(volatile uint16_t *)(uintptr_t)(base + 0x100) = 1;  /* config space is read-only */
	if (max != 0 || (vio_read(&blk, VIO_STATUS) & VIO_S_NEEDS_RESET) ||
	    vio_read(&blk, VIO_CONFIG) == 1) {
		rt_printf("FAIL: out-of-range register values changed the device (max %u)\n", max);
		return 1;
	}
	rt_printf("register abuse refused, device intact\n");
	return 0;
}

static int rng_still_works(void)
{
	struct vio rng;
	uint64_t base = vio_find(4, 0);
	if (!base || !vio_init(&rng, base, 0, 1))
		return 1;
	rng.desc[0] = (struct vio_desc){ a(data), 64, VIO_DESC_WRITE, 0 };
	vio_submit(&rng, 0);
	struct vio_used_elem e;
	if (!vio_wait(&rng, &e) || e.len == 0)
		return 1;
	rt_printf("rng still works: %u bytes\n", e.len);
	return 0;
}

static int blk_works_again(uint64_t base)
{
	fresh(base);
	struct { uint32_t type, reserved; uint64_t sector; } h = { 0, 0, 0 };
	for (int i = 0; i < 16; i++)
		hdr[i] = ((uint8_t *)&h)[i];
	status = 0xff;
	desc(0, a(hdr), 16, VIO_DESC_NEXT, 1);
	desc(1, a(data), 512, VIO_DESC_NEXT | VIO_DESC_WRITE, 2);
	desc(2, a(&status), 1, VIO_DESC_WRITE, 0);
	vio_submit(&blk, 0);
	struct vio_used_elem e;
	if (!vio_wait(&blk, &e) || status != 0)
		return 1;
	rt_printf("block device works after reset\n");
	return 0;
}

int main(void)
{
	uint64_t base = vio_find(2, 0);
	if (!base) {
		rt_printf("FAIL: no virtio-blk device\n");
		return 1;
	}
	unsigned int n = sizeof(cases) / sizeof(cases[0]), ok = 0;
	for (unsigned int i = 0; i < n; i++) {
		fresh(base);
		cases[i].fn();
		bool broke = needs_reset();
		rt_printf("hostile %s: %s\n", cases[i].name, broke ? "device needs reset" : "NOT REFUSED");
		ok += broke;
	}
	if (ok != n) {
		rt_printf("FAIL: %u of %u hostile cases not refused\n", n - ok, n);
		return 1;
	}
	rt_printf("all %u hostile cases refused\n", n);
	if (register_abuse(base) || rng_still_works() || blk_works_again(base))
		return 1;
	return 0;
}
