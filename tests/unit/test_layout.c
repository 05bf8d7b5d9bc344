#include "../../mem/layout.h"
#include "check.h"

static void sizes_around_the_hole(void)
{
	struct mem_layout l;
	CHECK_EQ(layout_x86(3 * SZ_1G - SZ_4K, SZ_4K, &l), 0);
	CHECK_EQ(l.nr_ram, 1);
	CHECK_EQ(l.ram[0].size, 3 * SZ_1G - SZ_4K);

	CHECK_EQ(layout_x86(3 * SZ_1G, SZ_4K, &l), 0);
	CHECK_EQ(l.nr_ram, 1);
	CHECK_EQ(layout_ram_end(&l), 3 * SZ_1G);

	CHECK_EQ(layout_x86(3 * SZ_1G + SZ_4K, SZ_4K, &l), 0);
	CHECK_EQ(l.nr_ram, 2);
	CHECK_EQ(l.ram[1].gpa, 4 * SZ_1G);
	CHECK_EQ(l.ram[1].size, SZ_4K);

	CHECK_EQ(layout_x86(4 * SZ_1G, SZ_4K, &l), 0);
	CHECK_EQ(l.ram[0].size, 3 * SZ_1G);
	CHECK_EQ(l.ram[1].size, SZ_1G);
	CHECK_EQ(layout_ram_end(&l), 5 * SZ_1G);
	CHECK_EQ(l.ram_size, 4 * SZ_1G);
	CHECK_EQ(l.mmio_hole.gpa, 3 * SZ_1G);
	CHECK_EQ(l.mmio_hole.size, SZ_1G);
}

static void page_sizes(void)
{
	struct mem_layout l;
	CHECK(layout_x86(SZ_1G + SZ_2M, SZ_1G, &l) < 0);   /* not a multiple of 1G */
	CHECK(layout_x86(SZ_2M + SZ_4K, SZ_2M, &l) < 0);   /* not a multiple of 2M */
	CHECK(layout_x86(12345, SZ_4K, &l) < 0);           /* odd size */
	CHECK(layout_x86(0, SZ_4K, &l) < 0);
	CHECK(layout_x86(SZ_2M, 3 * SZ_4K, &l) < 0);       /* page size not a power of 2 */
	CHECK_EQ(layout_x86(5 * SZ_1G, SZ_1G, &l), 0);
	for (unsigned int i = 0; i < l.nr_ram; i++) {      /* every boundary 1G aligned */
		CHECK_EQ(l.ram[i].gpa % SZ_1G, 0);
		CHECK_EQ(l.ram[i].size % SZ_1G, 0);
	}
	CHECK_EQ(layout_x86(SZ_1G + SZ_2M, SZ_2M, &l), 0);
}

static void is_ram(void)
{
	struct mem_layout l;
	CHECK_EQ(layout_x86(4 * SZ_1G, SZ_4K, &l), 0);
	CHECK(layout_is_ram(&l, 0, SZ_4K));
	CHECK(layout_is_ram(&l, 3 * SZ_1G - 8, 8));
	CHECK(!layout_is_ram(&l, 3 * SZ_1G - 8, 9));        /* runs into the hole */
	CHECK(!layout_is_ram(&l, 3 * SZ_1G, 1));            /* in the hole */
	CHECK(layout_is_ram(&l, 4 * SZ_1G, SZ_1G));
	CHECK(!layout_is_ram(&l, 5 * SZ_1G, 1));            /* past the end */
	CHECK(!layout_is_ram(&l, 4 * SZ_1G, UINT64_MAX));   /* no overflow */
}

/* arm64: one RAM region from 1 GiB, whatever the size; MMIO below it. */
static void arm64(void)
{
	struct mem_layout l;
	CHECK_EQ(layout_arm64(5 * SZ_1G, SZ_1G, &l), 0);
	CHECK_EQ(l.nr_ram, 1);
	CHECK_EQ(l.ram[0].gpa, SZ_1G);
	CHECK_EQ(l.ram[0].size, 5 * SZ_1G);
	CHECK_EQ(l.mmio_hole.gpa, 0);
	CHECK_EQ(l.mmio_hole.size, SZ_1G);
	CHECK_EQ(layout_ram_end(&l), 6 * SZ_1G);
	CHECK(!layout_is_ram(&l, SZ_1G - 8, 8));
	CHECK(layout_is_ram(&l, SZ_1G, 8));
	CHECK(layout_arm64(SZ_2M + SZ_4K, SZ_2M, &l) < 0);  /* not whole pages */
	CHECK(layout_arm64(0, SZ_4K, &l) < 0);
	CHECK(layout_arm64(1ULL << 48, SZ_1G, &l) < 0);     /* past what pagoda maps */
}

int main(void)
{
	sizes_around_the_hole();
	page_sizes();
	is_ram();
	arm64();
	return check_result("layout");
}
