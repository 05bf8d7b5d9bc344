/* A polling virtio-blk driver. Default: writes "count" sectors (default 2048) with a
 * pattern the host test checks in the image, flushes, reads them back and verifies, asks
 * for the serial, and checks that a read past the end fails. "ro=1": the device is
 * read-only, so a write must fail with IOERR while reads work.
 * "loop=1": write-flush-read-verify cycles forever, "cycle N ok" after each (the
 * snapshot and migration tests move the VM, driver state and all, between cycles).
 * "bench=read|write bs=BYTES qd=N total=BYTES": keeps N requests in flight and prints the
 * throughput (the block benchmark); the requests cycle over the disk until total is moved. */
#include "rt/rt.h"
#include "rt/vio.h"

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };
#define SECTOR 512
#define MAX_QD 64

struct req_hdr { uint32_t type, reserved; uint64_t sector; };

static struct req_hdr hdrs[MAX_QD];
static volatile uint8_t statuses[MAX_QD];
static struct vio dev;

static uint64_t pattern(uint64_t sector, uint64_t word)
{
	return 0x9e3779b97f4a7c15ULL * (sector * 64 + word + 1);
}

/* Chain of slot s: header, data (if any), status; heads are 3 * s. */
static void post(unsigned int s, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	struct vio_desc *d = &dev.desc[3 * s];
	hdrs[s] = (struct req_hdr){ type, 0, sector };
	statuses[s] = 0xff;
	d[0] = (struct vio_desc){ (uint64_t)(uintptr_t)&hdrs[s], sizeof(hdrs[s]), VIO_DESC_NEXT, (uint16_t)(3 * s + 1) };
	bool out = type == T_OUT || type == T_DISCARD;
	d[1] = (struct vio_desc){ (uint64_t)(uintptr_t)buf, len, (uint16_t)(VIO_DESC_NEXT | (out ? 0 : VIO_DESC_WRITE)), (uint16_t)(3 * s + 2) };
	d[2] = (struct vio_desc){ (uint64_t)(uintptr_t)&statuses[s], 1, VIO_DESC_WRITE, 0 };
	if (!len) /* no data: header straight to status */
		d[0].next = (uint16_t)(3 * s + 2);
	vio_submit(&dev, (uint16_t)(3 * s));
}

static int request(uint32_t type, uint64_t sector, void *buf, uint32_t len, uint32_t *used_len)
{
	post(0, type, sector, buf, len);
	struct vio_used_elem e;
	if (!vio_wait(&dev, &e)) {
		rt_printf("FAIL: device needs reset after a type %u request\n", type);
		rt_finish(1);
	}
	if (used_len)
		*used_len = e.len;
	return statuses[0];
}

static uint64_t buf_area(void)
{
	unsigned int idx = 0;
	uint64_t lo, hi;
	rt_ram_range(&idx, &lo, &hi);
	return lo;
}

static void fill(uint64_t *w, uint64_t first, unsigned int sectors)
{
	for (unsigned int s = 0; s < sectors; s++)
		for (unsigned int i = 0; i < SECTOR / 8; i++)
			w[s * (SECTOR / 8) + i] = pattern(first + s, i);
}

static int check(const uint64_t *w, uint64_t first, unsigned int sectors)
{
	for (unsigned int s = 0; s < sectors; s++)
		for (unsigned int i = 0; i < SECTOR / 8; i++)
			if (w[s * (SECTOR / 8) + i] != pattern(first + s, i)) {
				rt_printf("FAIL: sector %lu word %u reads %lx\n", first + s, i, w[s * (SECTOR / 8) + i]);
				return 1;
			}
	return 0;
}

static int read_write(uint64_t capacity, uint64_t *buf)
{
	uint64_t count = rt_param_u64("count", 2048);
	if (count > capacity)
		count = capacity;
	for (uint64_t s = 0; s < count; s += 8) {
		unsigned int n = count - s < 8 ? (unsigned int)(count - s) : 8;
		fill(buf, s, n);
		if (request(T_OUT, s, buf, n * SECTOR, NULL) != S_OK) {
			rt_printf("FAIL: write of sector %lu\n", s);
			return 1;
		}
	}
	if (request(T_FLUSH, 0, 0, 0, NULL) != S_OK) {
		rt_printf("FAIL: flush\n");
		return 1;
	}
	for (uint64_t s = 0; s < count; s += 8) {
		unsigned int n = count - s < 8 ? (unsigned int)(count - s) : 8;
		uint32_t used;
		if (request(T_IN, s, buf, n * SECTOR, &used) != S_OK || used != n * SECTOR + 1) {
			rt_printf("FAIL: read of sector %lu (used length %u)\n", s, used);
			return 1;
		}
		if (check(buf, s, n))
			return 1;
	}
	rt_printf("wrote, flushed and verified %lu sectors\n", count);
	return 0;
}

/* Discards sectors [0, 8): they must read back as zeros (the host checks the hole). */
static int discard(uint64_t *buf)
{
	struct { uint64_t sector; uint32_t num, flags; } seg = { 0, 8, 0 };
	int st = request(T_DISCARD, 0, &seg, sizeof(seg), NULL);
	if (st != S_OK) {
		rt_printf("FAIL: discard status %d\n", st);
		return 1;
	}
	request(T_IN, 0, buf, 8 * SECTOR, NULL);
	for (unsigned int i = 0; i < 8 * SECTOR / 8; i++)
		if (buf[i]) {
			rt_printf("FAIL: discarded sectors do not read as zeros\n");
			return 1;
		}
	rt_printf("discarded sectors 0-7\n");
	return 0;
}

static int bench(uint64_t capacity, uint8_t *buf)
{
	const char *op = rt_param("bench");
	bool write = op && op[0] == 'w';
	uint64_t bs = rt_param_u64("bs", 65536), qd = rt_param_u64("qd", 32);
	uint64_t total = rt_param_u64("total", capacity * SECTOR);
	if (qd > MAX_QD || bs % SECTOR || bs == 0 || bs > capacity * SECTOR) {
		rt_printf("FAIL: bad bench parameters\n");
		return 1;
	}
	uint64_t nreq = total / bs, issued = 0, done = 0, span = capacity * SECTOR / bs;
	rt_stopwatch_start();
	for (; issued < qd && issued < nreq; issued++)
		post((unsigned int)issued, write ? T_OUT : T_IN, (issued % span) * (bs / SECTOR), buf + issued * bs, (uint32_t)bs);
	while (done < nreq) {
		struct vio_used_elem e;
		if (!vio_wait(&dev, &e)) {
			rt_printf("FAIL: device broke in the benchmark\n");
			return 1;
		}
		unsigned int s = e.id / 3;
		if (statuses[s] != S_OK) {
			rt_printf("FAIL: request failed with status %u\n", statuses[s]);
			return 1;
		}
		done++;
		if (issued < nreq) {
			post(s, write ? T_OUT : T_IN, (issued % span) * (bs / SECTOR), buf + s * bs, (uint32_t)bs);
			issued++;
		}
	}
	uint64_t us = rt_stopwatch_us();
	if (!us)
		us = 1;
	rt_printf("blk-bench: op=%s bs=%lu qd=%lu bytes=%lu us=%lu MiBps=%lu IOPS=%lu\n", write ? "write" : "read",
		  bs, qd, nreq * bs, us, nreq * bs / us * 1000000 / (1 << 20), nreq * 1000000 / us);
	return 0;
}

int main(void)
{
	uint64_t base = vio_find(2, 0);
	if (!base) {
		rt_printf("FAIL: no virtio-blk device\n");
		return 1;
	}
	if (!vio_init(&dev, base, 0, 0)) {
		rt_printf("FAIL: virtio-blk refused the driver\n");
		return 1;
	}
	uint64_t capacity = vio_read(&dev, VIO_CONFIG) | (uint64_t)vio_read(&dev, VIO_CONFIG + 4) << 32;
	rt_printf("virtio-blk at %lx: %lu sectors\n", base, capacity);
	uint8_t *buf = (uint8_t *)(uintptr_t)buf_area();
	if (rt_param("bench"))
		return bench(capacity, buf);
	if (rt_param_u64("ro", 0)) {
		int st = request(T_OUT, 0, buf, SECTOR, NULL);
		int rd = request(T_IN, 0, buf, SECTOR, NULL);
		rt_printf("read-only disk: write status %d, read status %d\n", st, rd);
		return st == S_IOERR && rd == S_OK ? 0 : 1;
	}
	for (uint64_t cycle = 1; rt_param_u64("loop", 0); cycle++) {
		if (read_write(capacity, (uint64_t *)buf))
			return 1;
		rt_printf("cycle %lu ok\n", cycle);
	}
	if (read_write(capacity, (uint64_t *)buf) || discard((uint64_t *)buf))
		return 1;
	char serial[21] = { 0 };
	request(T_GET_ID, 0, serial, 20, NULL);
	int past = request(T_IN, capacity, buf, SECTOR, NULL);
	rt_printf("serial: %s, read past the end: status %d\n", serial, past);
	return past == S_IOERR ? 0 : 1;
}
