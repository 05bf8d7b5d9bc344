/* A virtio-pci driver for pagoda's PCI bus (--virtio-transport pci --rng), first honest,
 * then hostile. It finds the host bridge and the rng through both config mechanisms
 * (ECAM and ports 0xcf8/0xcfc), walks the capabilities, sizes and enables BAR 0, drives
 * the rng through the common configuration and a notification address, and takes its
 * interrupts through MSI-X (delivered, held in the PBA while masked, delivered on
 * unmask). Then it misprograms: BARs outside the window (over RAM, over ECAM) and moved
 * while live, vectors past the table, an MSI-X message to nowhere, misaligned and out-of-range
 * config accesses, read-only bits, the PCI-config access window with bad lengths, a
 * queue of a bad size. After each the VM must run on and the device must work again.
 * Any failure ends the guest with status 1 and a FAIL line.
 * "loop=1": after the honest part, rng requests forever, each answered by an MSI-X
 * interrupt, "cycle N ok" every 16 (the snapshot and migration tests move the VM, BAR,
 * vectors and all, between cycles). */
#include "rt/rt.h"
#include "rt/vio.h"

#define ECAM_DEV(d) (PCI_ECAM_GPA + ((uint64_t)(d) << 15))
#define RNG_ID 0x10441af4u /* virtio vendor, modern device 0x1040 + 4 */
#define VEC 0x50
#define NO_VECTOR 0xffff
#define BAR_SIZE 0x8000

static void fail(const char *what)
{
	rt_printf("FAIL: %s\n", what);
	rt_finish(1);
}

static void check(bool ok, const char *what)
{
	if (!ok)
		fail(what);
}

static volatile uint32_t *r32(uint64_t a) { return (volatile uint32_t *)(uintptr_t)a; }
static volatile uint16_t *r16(uint64_t a) { return (volatile uint16_t *)(uintptr_t)a; }
static volatile uint8_t *r8(uint64_t a) { return (volatile uint8_t *)(uintptr_t)a; }

static uint32_t cf8_read(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off)
{
	outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc));
	return inl(0xcfc);
}

static unsigned int dev;          /* the rng's device number */
static uint64_t bar;              /* where BAR 0 is now */
static uint32_t common, notify, isr, cfgwin, msix; /* offsets of the capabilities */
static uint32_t notify_mult;

static uint32_t cfg32(unsigned int off) { return *r32(ECAM_DEV(dev) + off); }
static void cfg32_set(unsigned int off, uint32_t v) { *r32(ECAM_DEV(dev) + off) = v; }
static void cfg16_set(unsigned int off, uint16_t v) { *r16(ECAM_DEV(dev) + off) = v; }
static void cfg8_set(unsigned int off, uint8_t v) { *r8(ECAM_DEV(dev) + off) = v; }

/* --- finding things ------------------------------------------------------------------ */

static void find_devices(void)
{
	check(cf8_read(0, 0, 0, 0) == 0x00081b36, "no host bridge 1b36:0008 at 00.0 through port 0xcf8");
	check(cf8_read(0, 0, 0, 8) >> 8 == 0x060000, "00.0 is not of the host bridge class");
	for (dev = 1; dev < 32; dev++)
		if (*r32(ECAM_DEV(dev)) == RNG_ID)
			break;
	check(dev < 32, "no virtio-rng (1af4:1044) on bus 0 through ECAM");
	check(cf8_read(0, dev, 0, 0) == RNG_ID, "ports 0xcf8/0xcfc disagree with ECAM");
	check(*r32(ECAM_DEV(dev) + (1u << 12)) == 0xffffffff, "function 1 of a single-function device answers");
	check(cf8_read(1, dev, 0, 0) == 0xffffffff, "bus 1 answers");
	check(*r32(ECAM_DEV(31)) == 0xffffffff, "an empty slot answers");
	rt_printf("pci: host bridge at 00.0, virtio-rng at %02x.0\n", dev);
}

static void find_caps(void)
{
	check(cfg32(4) >> 16 & 0x10, "the status register has no capability list");
	unsigned int found = 0;
	for (unsigned int p = cfg32(0x34) & 0xff, n = 0; p && n < 48; p = cfg32(p) >> 8 & 0xff, n++) {
		uint32_t head = cfg32(p);
		if ((head & 0xff) == 0x11)
			msix = p;
		if ((head & 0xff) != 0x09)
			continue;
		uint32_t type = head >> 24, off = cfg32(p + 8);
		check((cfg32(p + 4) & 0xff) == 0, "a virtio capability names a BAR other than 0");
		found |= 1u << type;
		if (type == 1) common = off;
		if (type == 2) { notify = off; notify_mult = cfg32(p + 16); }
		if (type == 3) isr = off;
		if (type == 5) cfgwin = p;
	}
	check((found & 0x2e) == 0x2e && msix, "a virtio or MSI-X capability is missing");
	check((cfg32(msix) >> 16 & 0x7ff) + 1 >= 2, "the MSI-X table has fewer than 2 vectors");
}

static void setup_bar(void)
{
	uint32_t orig = cfg32(0x10);
	cfg32_set(0x10, 0xffffffff);
	check(cfg32(0x10) == (uint32_t)~(BAR_SIZE - 1), "BAR 0 does not size as 32 KiB of 32-bit memory");
	cfg32_set(0x10, orig);
	bar = orig & ~0xfu;
	check(bar >= PCI_MMIO_GPA && bar + BAR_SIZE <= PCI_MMIO_GPA + PCI_MMIO_SIZE, "BAR 0 was not placed in the window");
	cfg16_set(4, 0x6); /* memory decoding, bus master */
}

/* --- the rng through the common configuration ---------------------------------------- */

static uint64_t C(unsigned int off) { return bar + common + off; }

static uint8_t status(void) { return *r8(C(0x14)); }

static struct vio q;
static uint8_t buf[64] __attribute__((aligned(64)));

static void set64(unsigned int off, const void *p)
{
	uint64_t a = (uint64_t)(uintptr_t)p;
	*r32(C(off)) = (uint32_t)a;
	*r32(C(off + 4)) = (uint32_t)(a >> 32);
}

static bool queue_setup(uint16_t size)
{
	*r16(C(0x16)) = 0;
	check(*r16(C(0x18)) == VIO_QSIZE, "queue 0's size does not read 256 after a reset");
	*r16(C(0x18)) = size;
	set64(0x20, q.desc);
	set64(0x28, q.avail);
	set64(0x30, q.used);
	*r16(C(0x1a)) = 0; /* vector 0 */
	*r16(C(0x1c)) = 1;
	return !(status() & VIO_S_NEEDS_RESET) && *r16(C(0x1c)) == 1;
}

static void init_rng(void)
{
	static struct vio_desc desc[VIO_QSIZE] __attribute__((aligned(4096)));
	static struct vio_avail avail __attribute__((aligned(4096)));
	static struct vio_used used __attribute__((aligned(4096)));
	q = (struct vio){ .desc = desc, .avail = &avail, .used = &used };
	for (unsigned int i = 0; i < sizeof(avail); i++)
		((volatile uint8_t *)&avail)[i] = 0;
	for (unsigned int i = 0; i < sizeof(used); i++)
		((volatile uint8_t *)&used)[i] = 0;
	*r8(C(0x14)) = 0;
	check(status() == 0, "the device did not reset");
	*r8(C(0x14)) = VIO_S_ACK | VIO_S_DRIVER;
	*r32(C(0x00)) = 1;
	check(*r32(C(0x04)) & 1, "VERSION_1 is not offered");
	*r32(C(0x08)) = 1;
	*r32(C(0x0c)) = 1;
	*r32(C(0x08)) = 0;
	*r32(C(0x0c)) = 0;
	*r8(C(0x14)) = VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK;
	check(status() & VIO_S_FEATURES_OK, "FEATURES_OK refused");
	check(*r16(C(0x12)) == 1, "the rng has not exactly one queue");
	*r16(C(0x10)) = NO_VECTOR;
	check(queue_setup(VIO_QSIZE), "queue 0 refused");
	check(*r16(C(0x1a)) == 0, "queue 0 did not take vector 0");
	*r8(C(0x14)) = VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK | VIO_S_DRIVER_OK;
}

/* One request for 64 random bytes, rung at the notification address; true when it came
 * back filled. */
static bool rng_request(void)
{
	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = 0;
	q.desc[0] = (struct vio_desc){ (uint64_t)(uintptr_t)buf, sizeof(buf), VIO_DESC_WRITE, 0 };
	volatile struct vio_avail *a = q.avail;
	a->ring[a->idx % VIO_QSIZE] = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	a->idx = a->idx + 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*r16(bar + notify + notify_mult * *r16(C(0x1e))) = 0;
	volatile struct vio_used *u = q.used;
	for (unsigned int spin = 0; u->idx == q.used_seen; spin++)
		if (spin > 50000000)
			return false;
	uint32_t len = u->ring[q.used_seen % VIO_QSIZE].len;
	q.used_seen++;
	unsigned int nonzero = 0;
	for (unsigned int i = 0; i < sizeof(buf); i++)
		nonzero += buf[i] != 0;
	return len == sizeof(buf) && nonzero > 32;
}

/* --- MSI-X --------------------------------------------------------------------------- */

static volatile unsigned int msis;

static void on_msi(struct rt_frame *f)
{
	(void)f;
	msis++;
	lapic_eoi();
}

static uint64_t T(unsigned int v, unsigned int field) { return bar + 0x4000 + 16 * v + 4 * field; }
static uint32_t pba(void) { return *r32(bar + 0x5000); }

static bool wait_msis(unsigned int n, unsigned int spins)
{
	for (unsigned int spin = 0; spin < spins; spin++)
		if (msis >= n)
			return true;
	return msis >= n;
}

static void msix_checks(void)
{
	check((cfg32(msix + 4) & 7) == 0 && (cfg32(msix + 4) & ~7u) == 0x4000, "the MSI-X table is not at BAR 0 + 0x4000");
	rt_idt_init();
	rt_set_handler(VEC, on_msi);
	lapic_enable();
	__asm__ volatile("sti");
	*r32(T(0, 0)) = 0xfee00000; /* to APIC 0 */
	*r32(T(0, 1)) = 0;
	*r32(T(0, 2)) = VEC;
	*r32(T(0, 3)) = 0;
	cfg16_set(msix + 2, 0x8000); /* enable */
	check(rng_request(), "rng request with MSI-X on");
	check(wait_msis(1, 50000000), "no MSI-X interrupt for a used buffer");
	rt_printf("msi-x: vector 0 delivered %u interrupt\n", msis);
	unsigned int before = msis;
	*r32(T(0, 3)) = 1; /* masked */
	check(rng_request(), "rng request with vector 0 masked");
	check(!wait_msis(before + 1, 1000000), "a masked vector interrupted");
	check(pba() & 1, "the masked vector's interrupt is not pending in the PBA");
	*r32(T(0, 3)) = 0;
	check(wait_msis(before + 1, 50000000), "unmasking did not deliver the pending interrupt");
	check(!(pba() & 1), "the PBA still shows the delivered interrupt");
	rt_printf("msi-x: masked vector held its interrupt in the PBA, delivered on unmask\n");
}

/* --- a hostile driver ---------------------------------------------------------------- */

static void move_bar(uint64_t to)
{
	cfg32_set(0x10, (uint32_t)to);
}

static void bar_abuse(void)
{
	uint64_t home = bar;
	move_bar(0x200000); /* over RAM, outside the window: not decoded */
	check(*r32(home + common + 0x10) == 0xffffffff, "the old BAR address still answers after a move");
	move_bar(PCI_ECAM_GPA); /* over config space itself: not decoded, ECAM unharmed */
	check(cfg32(0) == RNG_ID && *r32(ECAM_DEV(0)) == 0x00081b36, "a BAR over ECAM hid config space");
	bar = home + 0x100000; /* a legal new home: the device follows, notifications too */
	move_bar(bar);
	check(*r16(C(0x12)) == 1 && rng_request(), "the rng does not work after its BAR moved");
	cfg16_set(4, 0x4); /* memory decoding off */
	check(*r32(C(0x10)) == 0xffffffff, "BAR 0 decodes with memory decoding off");
	cfg16_set(4, 0x6);
	bar = home;
	move_bar(bar);
	check(rng_request(), "the rng does not work back at its first address");
	rt_printf("hostile: BARs over RAM and over ECAM refused, a BAR moved while live followed\n");
}

static void vector_abuse(void)
{
	*r16(C(0x16)) = 0;
	*r16(C(0x1a)) = 77;
	check(*r16(C(0x1a)) == NO_VECTOR, "a vector past the table was taken");
	*r16(C(0x10)) = 5000;
	check(*r16(C(0x10)) == NO_VECTOR, "a config vector past the table was taken");
	*r32(T(0, 0)) = 0x12345678; /* a message to nowhere */
	*r32(T(0, 2)) = 0;
	*r16(C(0x1a)) = 0;
	rng_request(); /* the queue is live: the buffer comes back, the interrupt goes nowhere */
	*r32(T(0, 0)) = 0xfee00000;
	*r32(T(0, 2)) = VEC;
	*r32(T(9, 0)) = 1;   /* past the table: dropped */
	check(*r32(T(9, 0)) == 0, "the MSI-X table reads past its end");
	unsigned int before = msis;
	check(rng_request() && wait_msis(before + 1, 50000000), "interrupts did not come back after a bad message");
	rt_printf("hostile: vectors past the table refused, a message to nowhere survived\n");
}

static void config_abuse(void)
{
	check(*r32(ECAM_DEV(dev) + 2) == 0xffffffff, "a misaligned config read answered");
	cfg32_set(0, 0x12345678);
	check(cfg32(0) == RNG_ID, "the vendor and device IDs are writable");
	check(*r32(ECAM_DEV(dev) + 0x100) == 0, "extended config space is not empty");
	cfg8_set(0x3d, 1);
	check((cfg32(0x3c) >> 8 & 0xff) == 0, "the interrupt pin is writable");
	/* The PCI-config window: num_queues through it, then nonsense lengths and BARs. */
	cfg8_set(cfgwin + 4, 0);
	cfg32_set(cfgwin + 8, common + 0x12);
	cfg32_set(cfgwin + 12, 2);
	check((cfg32(cfgwin + 16) & 0xffff) == 1, "num_queues through the PCI-config window");
	cfg32_set(cfgwin + 12, 3);
	(void)cfg32(cfgwin + 16);
	cfg32_set(cfgwin + 16, 0);
	cfg8_set(cfgwin + 4, 9);
	cfg32_set(cfgwin + 12, 4);
	cfg32_set(cfgwin + 8, 0xfffffffc);
	(void)cfg32(cfgwin + 16);
	cfg32_set(cfgwin + 16, 0);
	check(*r16(C(0x12)) == 1 && status() & VIO_S_DRIVER_OK, "bad window accesses reached the device");
	/* A good write through the window: device_status 0 resets the device. */
	cfg8_set(cfgwin + 4, 0);
	cfg32_set(cfgwin + 8, common + 0x14);
	cfg32_set(cfgwin + 12, 1);
	cfg32_set(cfgwin + 16, 0);
	check(status() == 0, "a reset through the PCI-config window did not reset");
	rt_printf("hostile: config space abuse refused, the PCI-config window works\n");
}

static void queue_abuse(void)
{
	init_rng();
	*r8(C(0x14)) = 0;
	*r8(C(0x14)) = VIO_S_ACK | VIO_S_DRIVER;
	*r32(C(0x08)) = 1;
	*r32(C(0x0c)) = 1;
	*r8(C(0x14)) = VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK;
	check(!queue_setup(3), "a queue of 3 entries was enabled");
	check(status() & VIO_S_NEEDS_RESET, "a bad queue size did not break the device");
	init_rng();
	check(rng_request(), "the rng does not work after a reset");
	rt_printf("hostile: a bad queue broke the device, a reset brought it back\n");
}

int main(void)
{
	find_devices();
	find_caps();
	setup_bar();
	init_rng();
	check(rng_request(), "the first rng request did not come back filled");
	rt_printf("virtio-pci: rng gave 64 bytes through the common configuration\n");
	msix_checks();
	for (uint64_t cycle = 1; rt_param_u64("loop", 0); cycle++) {
		for (unsigned int i = 0; i < 16; i++) {
			unsigned int before = msis;
			check(rng_request(), "an rng request did not come back filled");
			check(wait_msis(before + 1, 50000000), "no MSI-X interrupt for a used buffer");
		}
		rt_printf("cycle %llu ok\n", (unsigned long long)cycle);
	}
	bar_abuse();
	vector_abuse();
	config_abuse();
	queue_abuse();
	rt_printf("virtio-pci: all checks passed\n");
	rt_finish(0);
}
