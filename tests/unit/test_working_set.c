/* The working set's accounting of DAMON regions (mem/working_set.h): what a region adds
 * to each memslot's "touched in the last window" and to the idle-age histogram, clipped
 * to guest RAM; and the report as JSON. DAMON itself runs in the lab
 * (tests/lab/working_set.sh); this host's kernel lacks its vaddr operations. */
#include <stdlib.h>

#include "../../mem/working_set.h"
#include "check.h"

#define MiB (1ULL << 20)

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
	guest_mem_destroy(&m);
	return check_result("working_set");
}
