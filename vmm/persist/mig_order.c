#include "mig_order.h"

#include <errno.h>
#include <string.h>

#include "../../mem/working_set.h"
#include "../../util/page.h"

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

int mig_order_init(struct mig_order *o, enum precopy_order order, const struct memslot_table *t,
		   struct working_set *wss)
{
	*o = (struct mig_order){ .order = order, .wss = wss, .t = t };
	if (order == PRECOPY_ADDRESS)
		return 0;
	o->prev = memslot_bitmaps_alloc(t);
	o->hot = memslot_bitmaps_alloc(t);
	if (o->prev && o->hot)
		return 0;
	mig_order_free(o);
	return -ENOMEM;
}

const uint64_t *mig_order_hot(struct mig_order *o, uint32_t i, const uint64_t *want, uint64_t *n)
{
	*n = 0;
	if (o->order == PRECOPY_ADDRESS || i >= o->t->nr)
		return NULL;
	const struct memslot *sl = &o->t->slots[i];
	uint64_t words = memslot_bitmap_words(sl), *hot = o->hot[i];
	memset(hot, 0, words * 8);
	/* A working set that cannot answer leaves only the repeat test. */
	if (o->wss && working_set_recent(o->wss, i, hot, sl->size / SZ_4K, MIG_HOT_WINDOWS))
		memset(hot, 0, words * 8);
	for (uint64_t w = 0; w < words; w++) {
		if (want)
			hot[w] = (hot[w] | o->prev[i][w]) & want[w];
		*n += (uint64_t)__builtin_popcountll(hot[w]);
	}
	return *n ? hot : NULL;
}

void mig_order_sent(struct mig_order *o, uint32_t i, const uint64_t *want)
{
	if (o->prev && i < o->t->nr)
		memcpy(o->prev[i], want, memslot_bitmap_words(&o->t->slots[i]) * 8);
}

void mig_order_free(struct mig_order *o)
{
	memslot_bitmaps_free(o->prev, o->t ? o->t->nr : 0);
	memslot_bitmaps_free(o->hot, o->t ? o->t->nr : 0);
	o->prev = o->hot = NULL;
}
