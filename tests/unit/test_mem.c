/* The memory manager's pieces that need no guest: pool arithmetic and its message, the
 * smaps reader, KVM's binary stats, prefault, and the backends against the real kernel. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../mem/backend.h"
#include "../../mem/hugetlb_pool.h"
#include "../../mem/kvm_stats.h"
#include "../../mem/layout.h"
#include "../../mem/mem_stats.h"
#include "../../mem/prefault.h"
#include "check.h"

static void pool_check(void)
{
	char err[256] = "";
	struct hugetlb_pool p = { .page_size = SZ_2M, .total = 100, .free = 40, .reserved = 10 };
	CHECK_EQ(hugetlb_pool_check(&p, 30, err, sizeof(err)), 0);
	CHECK(hugetlb_pool_check(&p, 31, err, sizeof(err)) < 0);
	CHECK_MSG(err, "2M pool has 30 free pages, 31 needed");
	CHECK_MSG(err, "echo 101 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
	struct hugetlb_pool g = { .page_size = SZ_1G, .total = 0, .free = 0, .reserved = 0 };
	CHECK(hugetlb_pool_check(&g, 5, err, sizeof(err)) < 0);
	CHECK_MSG(err, "1G pool has 0 free pages, 5 needed: echo 5 > /sys/kernel/mm/hugepages/hugepages-1048576kB/");
	struct hugetlb_pool odd = { .page_size = SZ_2M, .free = 3, .reserved = 9 }; /* more reserved than free */
	CHECK(hugetlb_pool_check(&odd, 1, err, sizeof(err)) < 0);
}

static void smaps_parse(void)
{
	const char *text =
		"7f0000000000-7f0040000000 rw-p 00000000 00:00 0\n"
		"Size:            1048576 kB\n"
		"KernelPageSize:        4 kB\n"
		"Rss:              524288 kB\n"
		"AnonHugePages:    262144 kB\n"
		"Shared_Hugetlb:        0 kB\n"
		"Private_Hugetlb:       0 kB\n"
		"7f0040000000-7f0080000000 rw-s 00000000 00:0e 1234 /memfd:pagoda-ram (deleted)\n"
		"KernelPageSize:     2048 kB\n"
		"Rss:                   0 kB\n"
		"Shared_Hugetlb:   1048576 kB\n"
		"7f0080000000-7f0080001000 r--p 00000000 00:00 0\n"
		"Rss:                   4 kB\n";
	struct region_usage u;
	smaps_usage(text, 0x7f0000000000, 0x7f0040000000, &u);
	CHECK_EQ(u.rss, 512ULL << 20);
	CHECK_EQ(u.huge, 256ULL << 20);
	CHECK_EQ(u.kernel_page, 4096);
	smaps_usage(text, 0x7f0040000000, 0x7f0080000000, &u);
	CHECK_EQ(u.rss, 1ULL << 30); /* hugetlb pages count as resident */
	CHECK_EQ(u.huge, 1ULL << 30);
	CHECK_EQ(u.kernel_page, SZ_2M);
	smaps_usage(text, 0x7f0000000000, 0x7f0080001000, &u);
	CHECK_EQ(u.rss, (1536ULL << 20) + 4096);
	smaps_usage(text, 0x1000, 0x2000, &u); /* nothing there */
	CHECK_EQ(u.rss, 0);
}

static void kvm_binary_stats(void)
{
	int kvm = open("/dev/kvm", O_RDWR);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	struct kvm_stats s;
	CHECK_EQ(kvm_stats_open(&s, vm), 0);
	uint64_t v = 99;
	CHECK_EQ(kvm_stats_get(&s, "pages_4k", &v), 0);
	CHECK_EQ(v, 0); /* nothing mapped in a new VM */
	CHECK_EQ(kvm_stats_get(&s, "pages_2m", &v), 0);
	CHECK_EQ(kvm_stats_get(&s, "no_such_stat", &v), -ENOENT);
	kvm_stats_close(&s);
	close(vm);
	close(kvm);
}

static void prefault(void)
{
	uint64_t len = 64ULL << 20;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_EQ(mem_prefault_range(p, len, SZ_4K, 3), 0);
	unsigned char vec[(64 << 20) / 4096];
	CHECK_EQ(mincore(p, len, vec), 0);
	unsigned int resident = 0;
	for (size_t i = 0; i < sizeof(vec); i++)
		resident += vec[i] & 1;
	CHECK_EQ(resident, sizeof(vec));
	munmap(p, len);
}

static void backends(void)
{
	char err[256];
	struct mem_backend_config c = { .kind = MEM_FILE, .path = "/dev/shm" };
	CHECK_EQ(mem_backend_page_size(&c, err, sizeof(err)), SZ_4K);
	c.hugepage_size = SZ_2M;
	CHECK_EQ(mem_backend_page_size(&c, err, sizeof(err)), 0);
	CHECK_MSG(err, "is not on hugetlbfs");
	c = (struct mem_backend_config){ .kind = MEM_FILE, .path = "/no/such/dir/file" };
	CHECK_EQ(mem_backend_page_size(&c, err, sizeof(err)), 0);
	CHECK_MSG(err, "No such file");
	c = (struct mem_backend_config){ .kind = MEM_HUGETLB, .hugepage_size = SZ_1G };
	CHECK_EQ(mem_backend_page_size(&c, err, sizeof(err)), SZ_1G);

	/* a memfd backing maps the same pages at two addresses: it is really shared */
	struct mem_backend b;
	c = (struct mem_backend_config){ .kind = MEM_MEMFD };
	CHECK_EQ(mem_backend_open(&b, &c, SZ_2M, err, sizeof(err)), 0);
	uint8_t *a = mmap(NULL, 2 * SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_EQ(mem_backend_map(&b, a, SZ_2M, 0), 0);
	CHECK_EQ(mem_backend_map(&b, a + SZ_2M, SZ_2M, 0), 0);
	/* volatile: to C these are two different objects, free to be reordered */
	volatile uint8_t *va = a;
	va[123] = 42;
	CHECK_EQ(va[SZ_2M + 123], 42);
	munmap(a, 2 * SZ_2M);
	mem_backend_close(&b);
}

int main(void)
{
	pool_check();
	smaps_parse();
	kvm_binary_stats();
	prefault();
	backends();
	return check_result("mem");
}
