/* Giving guest pages back to the host: what the guest then reads (zeros: the host dropped
 * the page) and what it does not (a hugetlb page stays until all of it was given). */
#include <stdlib.h>

#include "../../mem/discard.h"
#include "check.h"
#include "test_pool.h"

#define RAM (64ULL << 20)


static bool make_mem(struct guest_mem *m, enum mem_backend_kind kind, uint64_t page)
{
	struct mem_layout l;
	struct guest_mem_opts o = { .backend = { .kind = kind }, .vm_fd = -1, .max_slots = 8 };
	char err[256];
	if (layout_x86(RAM, page, &l) || guest_mem_create(m, &l, &o, err, sizeof(err))) {
		fprintf(stderr, "skipping %s: %s\n", mem_backend_name(kind), err);
		skipped_cases++; /* a backing this host could not give */
		return false;
	}
	return true;
}

static uint64_t *word(struct guest_mem *m, uint64_t gpa)
{
	return guest_mem_ptr(m, gpa, 8, GUEST_READ);
}

static void fill(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (uint64_t a = gpa; a < gpa + len; a += SZ_4K)
		*word(m, a) = a | 1;
}

/* 4K backings: each given page reads as zero at once, its neighbours keep their data. */
static void small_pages(enum mem_backend_kind kind)
{
	struct guest_mem m;
	if (!make_mem(&m, kind, SZ_4K))
		return;
	struct mem_discard d;
	CHECK_EQ(mem_discard_init(&d, &m), 0);
	fill(&m, 0x100000, 0x10000);
	CHECK_EQ(mem_discard_give(&d, 0x101000, 0x2000), 0);
	CHECK_EQ(*word(&m, 0x100000), 0x100001);
	CHECK_EQ(*word(&m, 0x101000), 0);
	CHECK_EQ(*word(&m, 0x102000), 0);
	CHECK_EQ(*word(&m, 0x103000), 0x103001);
	CHECK_EQ(d.freed_bytes, 0x2000);
	/* Not RAM, not aligned: refused, nothing freed. */
	CHECK_EQ(mem_discard_give(&d, RAM, 0x1000), (uint64_t)-EFAULT);
	CHECK_EQ(mem_discard_give(&d, 0x104800, 0x1000), (uint64_t)-EFAULT);
	CHECK_EQ(mem_discard_give(&d, RAM - 0x1000, 0x2000), (uint64_t)-EFAULT);
	CHECK_EQ(*word(&m, 0x104000), 0x104001);
	/* Reporting frees the whole pages inside the range only. */
	CHECK_EQ(mem_discard_range(&d, 0x105800, 0x2000), 0);
	CHECK_EQ(*word(&m, 0x105000), 0x105001);
	CHECK_EQ(*word(&m, 0x106000), 0);
	CHECK_EQ(*word(&m, 0x107000), 0x107001);
	mem_discard_destroy(&d);
	guest_mem_destroy(&m);
}

/* hugetlb 2M: a huge page goes back only when every 4K page of it was given. */
static void huge_pages(void)
{
	struct guest_mem m;
	if (!make_mem(&m, MEM_HUGETLB, SZ_2M))
		return;
	struct mem_discard d;
	CHECK_EQ(mem_discard_init(&d, &m), 0);
	CHECK_EQ(d.granule, SZ_2M);
	uint64_t hp = 4 * SZ_2M;
	fill(&m, hp, SZ_2M);
	CHECK_EQ(mem_discard_give(&d, hp, SZ_2M - SZ_4K), 0);
	CHECK_EQ(*word(&m, hp), hp | 1); /* 511 of 512 given: still there */
	CHECK_EQ(d.freed_bytes, 0);
	mem_discard_take_back(&d, hp, SZ_4K);
	CHECK_EQ(mem_discard_give(&d, hp + SZ_2M - SZ_4K, SZ_4K), 0);
	CHECK_EQ(*word(&m, hp), hp | 1); /* the first page was taken back */
	CHECK_EQ(mem_discard_give(&d, hp, SZ_4K), 0);
	CHECK_EQ(*word(&m, hp), 0);      /* now all 512: the huge page went back */
	CHECK_EQ(*word(&m, hp + SZ_2M - SZ_4K), 0);
	CHECK_EQ(d.freed_bytes, SZ_2M);
	/* Reporting a range smaller than a huge page frees nothing. */
	fill(&m, hp + SZ_2M, SZ_2M);
	CHECK_EQ(mem_discard_range(&d, hp + SZ_2M, SZ_2M / 2), 0);
	CHECK_EQ(*word(&m, hp + SZ_2M), (hp + SZ_2M) | 1);
	mem_discard_destroy(&d);
	guest_mem_destroy(&m);
}

int main(void)
{
	small_pages(MEM_ANON);
	small_pages(MEM_THP);
	small_pages(MEM_MEMFD);
	struct test_pool pool = test_pool_grow(32);
	huge_pages();
	test_pool_restore(&pool);
	return check_result_or_skip("discard");
}
