/* The working set's accounting (mem/working_set.h): what a DAMON region adds to each
 * memslot's "touched in the last window" and to the idle-age histogram, clipped to guest
 * RAM; how the access log's per-page bitmaps age pages; the report as JSON; and what a
 * stock KVM answers to method=access-log. DAMON and the patched KVM run in the lab
 * (tests/lab/working_set.sh); this host's kernel has neither. */
#include <fcntl.h>
#include <linux/kernel-page-flags.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../mem/wss/working_set.h"
#include "../../mem/wss/wss_backend.h"
#include "../../util/bitmap.h"
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
		      strstr(err, "KVM_GET_ACCESS_LOG") && strstr(err, "DAMON") && strstr(err, "page idle"));
	guest_mem_destroy(&m);
	close(vm);
	close(kvm);
}

static void put_u64(int fd, uint64_t index, uint64_t v)
{
	CHECK(pwrite(fd, &v, 8, (off_t)(index * 8)) == 8);
}

static uint64_t get_u64(int fd, uint64_t index)
{
	uint64_t v = 0;
	CHECK(pread(fd, &v, 8, (off_t)(index * 8)) == 8);
	return v;
}

/* The page-idle reader over faked /proc/self/pagemap, /proc/kpageflags and page_idle
 * bitmap files (no kernel here has page idle tracking; the arm64 lab's patched kernel
 * runs the real thing, tests/lab/working_set.sh): which pages count as accessed, and
 * which are marked idle for the next window. */
static void check_page_idle_reader(void)
{
	enum { PAGES = 1024 };
	const uint64_t PRESENT = 1ull << 63, SWAPPED = 1ull << 62, LRU = 1ull << KPF_LRU,
		       HEAD = 1ull << KPF_COMPOUND_HEAD | 1ull << KPF_THP | LRU,
		       TAIL = 1ull << KPF_COMPOUND_TAIL | 1ull << KPF_THP | LRU;
	char dir[] = "/tmp/pagoda-idle-XXXXXX", path[3][64];
	CHECK(mkdtemp(dir) != NULL);
	int fd[3];
	for (int i = 0; i < 3; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%d", dir, i);
		CHECK((fd[i] = open(path[i], O_RDWR | O_CREAT, 0600)) >= 0);
	}
	int pagemap = fd[0], kflags = fd[1], idle = fd[2];
	struct memslot slot = { .hva = (uint8_t *)(uintptr_t)(1ull << 30), .size = PAGES * 4096ull };
	uint64_t pm0 = (1ull << 30) / 4096;
	/* Pages 0-511: a THP at PFN 0x10000, its head accessed (bit clear), mapped whole. */
	for (uint64_t i = 0; i < 512; i++) {
		put_u64(pagemap, pm0 + i, PRESENT | (0x10000 + i));
		put_u64(kflags, 0x10000 + i, i ? TAIL : HEAD);
	}
	/* 512-639: the second quarter of a THP at 0x30000 whose head is not mapped here;
	 * the head is accessed, and set idle on disk (1) where no page of ours reads it. */
	for (uint64_t i = 0; i < 128; i++) {
		put_u64(pagemap, pm0 + 512 + i, PRESENT | (0x30080 + i));
		put_u64(kflags, 0x30080 + i, TAIL);
	}
	put_u64(kflags, 0x30000, HEAD);
	for (uint64_t i = 1; i < 0x80; i++)
		put_u64(kflags, 0x30000 + i, TAIL);
	/* 640-643: 4K pages, idle; accessed; the zero page; hugetlb (both bits clear). */
	for (uint64_t i = 0; i < 4; i++)
		put_u64(pagemap, pm0 + 640 + i, PRESENT | (0x40000 + 2 * i));
	put_u64(kflags, 0x40000, LRU);
	put_u64(kflags, 0x40002, LRU);
	put_u64(kflags, 0x40004, 1ull << KPF_ZERO_PAGE);
	put_u64(kflags, 0x40006, 1ull << KPF_HUGE | 1ull << KPF_COMPOUND_HEAD);
	put_u64(idle, 0x40000 / 64, 1ull << 0 | 1ull << 8);  /* 0x40008: someone else's page */
	put_u64(pagemap, pm0 + 700, SWAPPED | 0x50000);      /* the rest: not present */
	put_u64(pagemap, pm0 + PAGES - 1, 0);

	void *r = NULL;
	char err[256];
	CHECK(wss_page_idle_open_files(&r, path[0], path[1], path[2], err, sizeof(err)) == 0);
	uint64_t bits[PAGES / 64 + 1], most = wss_reader_page_idle.max_pages;
	CHECK(most >= 512 && PAGES % most == 0); /* reads of a THP's worth at least */
	CHECK(wss_reader_page_idle.read(r, &slot, 0, most + 1, bits) == -EINVAL);
	memset(bits, 0xff, sizeof(bits));
	for (uint64_t first = 0; first < PAGES; first += most)
		CHECK(wss_reader_page_idle.read(r, &slot, first, most, bits + first / 64) == 0);
	uint64_t n = 0;
	for (uint64_t i = 0; i < PAGES; i++)
		n += bits[i / 64] >> (i % 64) & 1;
	CHECK_EQ(n, 512 + 128 + 1);
	CHECK(bits[0] == ~0ull && bits[7] == ~0ull && bits[8] == ~0ull && bits[9] == ~0ull);
	CHECK_EQ(bits[10], 1ull << 1);                     /* page 641 */
	/* Marked idle: the THP's head (not its tails: the kernel tracks folios), the 4K
	 * pages, the outside head; not the zero page, not hugetlb, not the neighbour's page
	 * (a file keeps what is written; the kernel ignores clear bits, so the neighbour's
	 * bit is dropped here where the kernel would keep it). */
	CHECK_EQ(get_u64(idle, 0x10000 / 64), 1);
	CHECK_EQ(get_u64(idle, 0x10040 / 64), 0);
	CHECK_EQ(get_u64(idle, 0x40000 / 64), 1ull << 0 | 1ull << 2);
	CHECK_EQ(get_u64(idle, 0x30000 / 64), 1);
	/* The next window, nothing touched: everything the reader marked reads idle. */
	for (uint64_t first = 0; first < PAGES; first += most)
		CHECK(wss_reader_page_idle.read(r, &slot, first, most, bits + first / 64) == 0);
	for (uint64_t w = 0; w < PAGES / 64; w++)
		CHECK_EQ(bits[w], 0);
	/* A window whose reads start mid-slot (the engine's chunks): page 641 alone. */
	put_u64(idle, 0x40000 / 64, 1ull << 0);
	memset(bits, 0xff, sizeof(bits));
	CHECK(wss_reader_page_idle.read(r, &slot, 640, 4, bits) == 0);
	CHECK_EQ(bits[0], 1ull << 1);
	wss_reader_page_idle.close(r);

	/* A kernel without page idle tracking: refused as missing, not as forbidden. */
	char missing[80];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	CHECK(wss_page_idle_open_files(&r, path[0], path[1], missing, err, sizeof(err)) == -ENOTSUP);
	CHECK(strstr(err, "CONFIG_IDLE_PAGE_TRACKING") != NULL);
	for (int i = 0; i < 3; i++) {
		close(fd[i]);
		unlink(path[i]);
	}
	rmdir(dir);
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
	CHECK(bitmap_test(bits, 0) && bitmap_test(bits, 64 * MiB / SZ_4K - 1) && !bitmap_test(bits, 64 * MiB / SZ_4K));
	CHECK(bitmap_test(bits, size / SZ_4K - 1) && !bitmap_test(bits, size / SZ_4K - MiB / SZ_4K - 1));
	free(bits);
	guest_mem_destroy(&m);
	check_ages();
	check_page_idle_reader();
	check_stock_kvm();
	return check_result("working_set");
}
