/* The working set's accounting (mem/working_set.h): what a DAMON region adds to each
 * memslot's "touched in the last window" and to the idle-age histogram, clipped to guest
 * RAM; how the access log's per-page bitmaps age pages; the report as JSON; and what a
 * stock KVM answers to method=access-log. DAMON and the patched KVM run in the lab
 * (tests/lab/working_set.sh); this host's kernel has neither. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../mem/working_set.h"
#include "check.h"

#define MiB (1ULL << 20)

/* 200 pages: the last bitmap word is partly beyond the slot, and set there on purpose. */
static void check_ages(void)
{
	enum { PAGES = 200 };
	uint8_t ages[PAGES];
	uint64_t bits[4] = { 0 };
	struct wss_slot s = { 0 };
	memset(ages, 255, sizeof(ages));
	bits[0] = 0x3ff;                      /* pages 0-9 */
	bits[3] = ~0ull << (PAGES % 64);      /* past the end: must not count */
	wss_age_pages(&s, ages, bits, PAGES);
	CHECK_EQ(s.touched, 10 * 4096);
	CHECK_EQ(s.within[7], 10 * 4096);     /* never-seen pages are in no bucket */
	bits[0] = 0x3ff << 5;                 /* pages 5-14 */
	wss_age_pages(&s, ages, bits, PAGES);
	CHECK_EQ(s.touched, 10 * 4096);
	CHECK_EQ(s.within[0], 10 * 4096);
	CHECK_EQ(s.within[1], 15 * 4096);     /* 0-4 were touched one window ago */
	memset(bits, 0, sizeof(bits));
	for (int i = 0; i < 2; i++)
		wss_age_pages(&s, ages, bits, PAGES);
	CHECK_EQ(s.touched, 0);
	CHECK_EQ(s.within[1], 0);             /* 3 and 4 windows idle */
	CHECK_EQ(s.within[2], 15 * 4096);
	for (int i = 0; i < 300; i++)
		wss_age_pages(&s, ages, bits, PAGES);
	CHECK_EQ(s.within[7], 0);             /* the age saturates past the last bucket */
	CHECK_EQ(ages[0], 255);
}

/* A stock KVM (this host's) has no KVM_GET_ACCESS_LOG: asked for, the method is refused
 * naming the patched KVM; auto falls through to DAMON and says what is missing there. */
static void check_stock_kvm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	CHECK(vm >= 0);
	struct mem_layout l;
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = vm, .max_slots = 8 };
	struct guest_mem m;
	struct working_set *w = NULL;
	char err[512];
	CHECK(layout_x86(64 * MiB, SZ_4K, &l) == 0);
	CHECK(guest_mem_create(&m, &l, &o, err, sizeof(err)) == 0);
	CHECK(working_set_start(&w, &m, 1, WSS_ACCESS_LOG, err, sizeof(err)) == -ENOTSUP);
	CHECK(strstr(err, "patched KVM") != NULL);
	int e = working_set_start(&w, &m, 1, WSS_AUTO, err, sizeof(err));
	if (e == 0) /* a host with DAMON's vaddr operations */
		working_set_stop(w);
	else /* this host runs a kdamond of its own (paddr): busy; elsewhere: none */
		CHECK((e == -EBUSY || e == -ENOTSUP) && strstr(err, "no method works here") &&
		      strstr(err, "KVM_GET_ACCESS_LOG") && strstr(err, "DAMON"));
	guest_mem_destroy(&m);
	close(vm);
	close(kvm);
}

int main(void)
{
	struct mem_layout l;
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = -1, .max_slots = 8 };
	struct guest_mem m;
	char err[256];
	CHECK(layout_x86(256 * MiB, SZ_4K, &l) == 0);
	CHECK(guest_mem_create(&m, &l, &o, err, sizeof(err)) == 0);
	uint64_t base = (uint64_t)(uintptr_t)m.slots.slots[0].hva, size = m.slots.slots[0].size;

	struct wss_report r = { .method = "damon-vaddr", .window_s = 1 };
	wss_account(&r, &m, base, base + 64 * MiB, 5, 0);              /* touched now */
	wss_account(&r, &m, base + 64 * MiB, base + 96 * MiB, 0, 2);   /* idle for 3 windows */
	wss_account(&r, &m, base + size - MiB, base + size + 8 * MiB, 1, 0); /* runs past the slot */
	wss_account(&r, &m, base - 16 * MiB, base - 8 * MiB, 9, 0);    /* not guest RAM */
	CHECK_EQ(r.nr_slots, 1);
	CHECK_EQ(r.regions, 3);
	CHECK_EQ(r.slot[0].touched, 65 * MiB);
	CHECK_EQ(r.slot[0].within[0], 65 * MiB);  /* the last window */
	CHECK_EQ(r.slot[0].within[1], 65 * MiB);  /* 2 windows: the idle region is older */
	CHECK_EQ(r.slot[0].within[2], 97 * MiB);  /* 4 windows: now it counts */
	CHECK_EQ(r.slot[0].size, size);

	char json[2048];
	CHECK(wss_report_json(&r, json, sizeof(json)) == 0);
	char want[64];
	snprintf(want, sizeof(want), "\"touched\": %llu, \"within_windows\"", 65ULL * MiB);
	CHECK(strstr(json, want) != NULL);
	CHECK(strstr(json, "\"method\": \"damon-vaddr\"") != NULL);
	char small[32];
	CHECK(wss_report_json(&r, small, sizeof(small)) == -ENOSPC); /* cut, and says so */

	/* The same regions as pages used lately (pre-copy's and post-copy's hot set): the ones
	 * touched in the last window, every page a region covers even in part; nothing
	 * outside the slot. */
	const struct memslot *sl = &m.slots.slots[0];
	uint64_t words = memslot_bitmap_words(sl), *bits = calloc(words, 8), n = 0;
	wss_mark_recent(sl, bits, base + 100, base + 64 * MiB, 5);
	wss_mark_recent(sl, bits, base + 64 * MiB, base + 96 * MiB, 0);   /* idle */
	wss_mark_recent(sl, bits, base + size - MiB, base + size + 8 * MiB, 1);
	wss_mark_recent(sl, bits, base - 16 * MiB, base - 8 * MiB, 9);
	for (uint64_t w = 0; w < words; w++)
		n += (uint64_t)__builtin_popcountll(bits[w]);
	CHECK_EQ(n, (65 * MiB) / SZ_4K);
	CHECK(memslot_bit(bits, 0) && memslot_bit(bits, 64 * MiB / SZ_4K - 1) && !memslot_bit(bits, 64 * MiB / SZ_4K));
	CHECK(memslot_bit(bits, size / SZ_4K - 1) && !memslot_bit(bits, size / SZ_4K - MiB / SZ_4K - 1));
	free(bits);
	guest_mem_destroy(&m);
	check_ages();
	check_stock_kvm();
	return check_result("working_set");
}
