/* The pre-copy order (vmm/persist/mig_order.h): by address nothing is ever hot; cold-first,
 * a page is hot when the previous pass sent it too (written over and over), only among
 * the pages the pass sends; pass 0's hot maps are asked once and then only read. */
#include <stdlib.h>

#include "../../mem/guest_mem.h"
#include "../../mem/layout.h"
#include "../../mem/ram.h"
#include "../../util/bitmap.h"
#include "../../vmm/persist/mig_order.h"
#include "check.h"

static struct guest_mem mem;

static bool make_mem(void)
{
	struct mem_layout l;
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = -1, .max_slots = 8 };
	char err[256];
	if (layout_x86(64 << 20, SZ_4K, &l) || guest_mem_create(&mem, &l, &o, err, sizeof(err))) {
		fprintf(stderr, "guest memory: %s\n", err);
		return false;
	}
	return true;
}

static void address_order(void)
{
	struct mig_order o;
	CHECK_EQ(mig_order_init(&o, PRECOPY_ADDRESS, &mem, NULL), 0);
	uint64_t want[1] = { ~0ull }, n = 7;
	CHECK(!mig_order_hot(&o, 0, want, &n) && n == 0);
	mig_order_sent(&o, 0, want);
	CHECK(!mig_order_hot(&o, 0, want, &n) && n == 0);
	mig_order_pass0(&o);
	CHECK(!mig_order_pass0_hot(&o, 0));
	mig_order_free(&o);
}

/* Pass by pass: what was sent in the pass before and is dirty again is hot. */
static void written_over_and_over(void)
{
	struct mig_order o;
	CHECK_EQ(mig_order_init(&o, PRECOPY_COLD_FIRST, &mem, NULL), 0);
	uint64_t pages = ram_region(&mem, 0).pages, n;
	uint64_t *want = calloc(bitmap_words(pages), 8);
	mig_order_pass0(&o);
	CHECK(!mig_order_pass0_hot(&o, 0)); /* no working set, nothing sent yet */

	bitmap_set_range(want, 10, 10);
	bitmap_set(want, 100);
	CHECK(!mig_order_hot(&o, 0, want, &n) && n == 0); /* the first pass after pass 0 */
	mig_order_sent(&o, 0, want);

	memset(want, 0, bitmap_words(pages) * 8);
	bitmap_set_range(want, 15, 11);
	const uint64_t *hot = mig_order_hot(&o, 0, want, &n);
	CHECK(hot && n == 5 && bitmap_count(hot, 15, 5) == 5 && !bitmap_test(hot, 20) && !bitmap_test(hot, 100));
	mig_order_sent(&o, 0, want);

	memset(want, 0, bitmap_words(pages) * 8);
	bitmap_set(want, 20);
	bitmap_set(want, 100); /* sent two passes ago, not in the last one: cold */
	hot = mig_order_hot(&o, 0, want, &n);
	CHECK(hot && n == 1 && bitmap_test(hot, 20) && !bitmap_test(hot, 100));

	CHECK(!mig_order_hot(&o, ram_nr_regions(&mem), want, &n) && n == 0);
	CHECK(!mig_order_pass0_hot(&o, ram_nr_regions(&mem)));
	free(want);
	mig_order_free(&o);
}

int main(void)
{
	if (!make_mem())
		return 1;
	address_order();
	written_over_and_over();
	guest_mem_destroy(&mem);
	return check_result("mig_order");
}
