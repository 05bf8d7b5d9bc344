#include "mig_order.h"

#include <errno.h>
#include <string.h>

#include "../../mem/ram.h"
#include "../../mem/wss/working_set.h"
#include "../../util/bitmap.h"

int precopy_order_parse(const char *s, enum precopy_order *o)
{
	if (!strcmp(s, "cold-first"))
		*o = PRECOPY_COLD_FIRST;
	else if (!strcmp(s, "address"))
		*o = PRECOPY_ADDRESS;
	else
		return -EINVAL;
	return 0;
}

const char *precopy_order_name(enum precopy_order o)
{
	return o == PRECOPY_ADDRESS ? "address" : "cold-first";
}

int mig_order_init(struct mig_order *o, enum precopy_order order, const struct guest_mem *mem,
		   struct working_set *wss)
{
	*o = (struct mig_order){ .order = order, .wss = wss, .mem = mem };
	if (order == PRECOPY_ADDRESS)
		return 0;
	o->prev = ram_bitmaps_alloc(mem);
	o->hot = ram_bitmaps_alloc(mem);
	if (o->prev && o->hot)
		return 0;
	mig_order_free(o);
	return -ENOMEM;
}

const uint64_t *mig_order_hot(struct mig_order *o, uint32_t i, const uint64_t *want, uint64_t *n)
{
	*n = 0;
	if (o->order == PRECOPY_ADDRESS || i >= ram_nr_regions(o->mem))
		return NULL;
	uint64_t pages = ram_region(o->mem, i).pages, words = bitmap_words(pages), *hot = o->hot[i];
	memset(hot, 0, words * 8);
	/* A working set that cannot answer leaves only the repeat test. */
	if (o->wss && working_set_recent(o->wss, i, hot, pages, MIG_HOT_WINDOWS))
		memset(hot, 0, words * 8);
	for (uint64_t w = 0; want && w < words; w++)
		hot[w] = (hot[w] | o->prev[i][w]) & want[w];
	*n = bitmap_count(hot, 0, pages);
	return *n ? hot : NULL;
}

void mig_order_pass0(struct mig_order *o)
{
	uint64_t n;
	for (uint32_t i = 0; i < ram_nr_regions(o->mem); i++)
		(void)mig_order_hot(o, i, NULL, &n);
}

const uint64_t *mig_order_pass0_hot(const struct mig_order *o, uint32_t i)
{
	if (o->order == PRECOPY_ADDRESS || i >= ram_nr_regions(o->mem))
		return NULL;
	uint64_t pages = ram_region(o->mem, i).pages;
	return bitmap_count(o->hot[i], 0, pages) ? o->hot[i] : NULL;
}

void mig_order_sent(struct mig_order *o, uint32_t i, const uint64_t *want)
{
	if (o->prev && i < ram_nr_regions(o->mem))
		memcpy(o->prev[i], want, bitmap_words(ram_region(o->mem, i).pages) * 8);
}

void mig_order_free(struct mig_order *o)
{
	if (o->mem) {
		ram_bitmaps_free(o->mem, o->prev);
		ram_bitmaps_free(o->mem, o->hot);
	}
	o->prev = o->hot = NULL;
}
