/* Pass 0 (vmm/persist/mig_stream.h) with the real KVM's dirty log: sent whole and as each
 * channel's share (--migration-channels), every page of RAM goes exactly once, a zero page
 * as a marker and any other with its bytes, and each share's records stay inside its own
 * chunks (mig_share_holds), in a memslot whose size is not a whole number of chunks. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../mem/dirty.h"
#include "../../mem/layout.h"
#include "../../mem/ram.h"
#include "../../vmm/persist/mig_order.h"
#include "../../vmm/persist/mig_stream.h"
#include "check.h"

#define RAM ((64u << 20) + 12 * SZ_4K) /* 16396 pages: the last chunk holds 12 */

static struct guest_mem mem;
static struct mig_chan tx, rx;

struct reader {
	struct mig_share share;
	uint8_t *seen;             /* per page: how many times it came */
	int bad;                   /* records outside the share, or wrong bytes */
};

/* Reads page records until MIG_PASS_END, checking each against guest memory. */
static void *read_pass(void *arg)
{
	struct reader *rd = arg;
	static uint8_t buf[MIG_BATCH * SZ_4K];
	struct ram_region r = ram_region(&mem, 0);
	struct mig_rec rec;
	while (!mig_recv_rec(&rx, &rec) && rec.type != MIG_PASS_END) {
		struct mig_pages_hdr h;
		if (rec.type == MIG_HINT) {
			struct mig_hint hint;
			rd->bad += mig_recv_hint(&rx, &rec, &hint) != 0;
			continue;
		}
		if (rec.type != MIG_PAGES || mig_recv_pages_hdr(&rx, &rec, &h) || h.count > MIG_BATCH ||
		    (!h.zero && mig_recv(&rx, buf, (uint64_t)h.count * SZ_4K))) {
			rd->bad++;
			break;
		}
		uint64_t first = (h.gpa - r.gpa) / SZ_4K;
		rd->bad += !mig_share_holds(&rd->share, first, h.count) || first + h.count > r.pages;
		for (uint32_t k = 0; k < h.count && first + k < r.pages; k++) {
			const uint8_t *page = ram_pages(&mem, &r, first + k, 1);
			rd->seen[first + k]++;
			if (h.zero)
				rd->bad += !page_is_zero(page);
			else
				rd->bad += memcmp(page, buf + k * SZ_4K, SZ_4K) != 0;
		}
	}
	uint32_t v;
	rd->bad += mig_recv_u32(&rx, &rec, &v) != 0;
	return NULL;
}

/* One pass 0 (share NULL: all of it) into rd. */
static void send_pass0(struct mig_stream *st, const struct mig_share *share, struct reader *rd)
{
	pthread_t t;
	pthread_create(&t, NULL, read_pass, rd);
	CHECK_EQ(mig_stream_all_ram(st, share), 0);
	CHECK_EQ(mig_send_u32(&tx, MIG_PASS_END, 0), 0);
	CHECK_EQ(mig_flush(&tx), 0);
	pthread_join(t, NULL);
}

static void every_page_once(struct mig_stream *st, uint32_t n)
{
	uint64_t pages = ram_region(&mem, 0).pages;
	struct reader rd = { .seen = calloc(pages, 1) };
	for (uint32_t k = 0; k < n; k++) {
		rd.share = (struct mig_share){ k, n };
		send_pass0(st, n > 1 ? &rd.share : NULL, &rd);
	}
	uint64_t once = 0;
	for (uint64_t p = 0; p < pages; p++)
		once += rd.seen[p] == 1;
	CHECK_EQ(once, pages);
	CHECK_EQ(rd.bad, 0);
	free(rd.seen);
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	struct mem_layout l;
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = vm, .max_slots = 8 };
	char err[256] = "";
	if (vm < 0 || layout_x86(RAM, SZ_4K, &l) || guest_mem_create(&mem, &l, &o, err, sizeof(err))) {
		fprintf(stderr, "a VM with guest memory: %s\n", err[0] ? err : strerror(errno));
		return 1;
	}
	struct ram_region r = ram_region(&mem, 0);
	for (uint64_t p = 0; p < r.pages; p += 37) /* data here and there, zero elsewhere */
		memset(ram_pages(&mem, &r, p, 1), (int)(p % 251) + 1, SZ_4K);
	struct dirty_log d;
	int sv[2];
	struct mig_order order;
	if (dirty_log_init(&d, DIRTY_BITMAP, vm, 0, 0, err, sizeof(err)) || dirty_log_start(&d, &mem) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    mig_order_init(&order, PRECOPY_ADDRESS, &mem, NULL)) {
		fprintf(stderr, "dirty log or socket: %s\n", err);
		return 1;
	}
	tx = (struct mig_chan){ .fd = sv[0] };
	rx = (struct mig_chan){ .fd = sv[1] };
	mig_order_pass0(&order);
	struct mig_pass count = { 0 };
	struct mig_stream st = { .ch = &tx, .mem = &mem, .dirty = &d, .order = &order, .count = &count };
	static const uint32_t channels[] = { 1, 3, 5, MIG_MAX_CHANNELS };
	for (unsigned int i = 0; i < 4; i++) {
		CHECK_EQ(dirty_log_harvest_deferred(&d), 0);
		every_page_once(&st, channels[i]);
	}
	CHECK_EQ(count.pages, 4 * r.pages);
	mig_order_free(&order);
	dirty_log_stop(&d);
	dirty_log_destroy(&d);
	close(sv[0]);
	close(sv[1]);
	guest_mem_destroy(&mem);
	close(vm);
	close(kvm);
	return check_result("mig_stream");
}
