/* Prefault throughput: pagoda's mem_prefault over guest RAM laid out and backed as pagoda
 * does it, against a bare MADV_POPULATE_WRITE of the same amount of the same kind of
 * memory with no VMM around it (the host's limit), with 1 and 2 threads; GiB/s, median of
 * N runs, and the ratio. Grows the hugetlb pools it needs and puts them back.
 *
 *   prefault-bench [--runs N] [--size 4G]                                               */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../mem/guest_mem.h"
#include "../mem/prefault.h"
#include "../util/clock.h"
#include "../util/sizes.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static double now_s(void)
{
	return (double)now_ns() / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct bare_part {
	uint8_t *p;
	size_t len;
};

static void *bare_populate(void *arg)
{
	struct bare_part *b = arg;
	if (madvise(b->p, b->len, MADV_POPULATE_WRITE))
		perror("madvise");
	return NULL;
}

/* The host's limit: one fresh mapping of the same kind, populated by `threads` threads. */
static double bare_once(const struct mem_backend_config *c, uint64_t size, unsigned int threads)
{
	int fd = -1, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	if (c->kind == MEM_HUGETLB) {
		fd = memfd_create("bare", MFD_HUGETLB | (c->hugepage_size == SZ_1G ? (30 << 26) : (21 << 26)));
		if (fd < 0 || ftruncate(fd, (off_t)size))
			return -1;
		flags = MAP_SHARED;
	}
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	if (c->kind == MEM_THP)
		madvise(p, size, MADV_HUGEPAGE);
	if (c->kind == MEM_ANON)
		madvise(p, size, MADV_NOHUGEPAGE);
	struct bare_part parts[2] = { { p, size / threads }, { p + size / threads, size - size / threads } };
	pthread_t t;
	double t0 = now_s();
	if (threads == 2)
		pthread_create(&t, NULL, bare_populate, &parts[1]);
	bare_populate(&parts[0]);
	if (threads == 2)
		pthread_join(t, NULL);
	double dt = now_s() - t0;
	munmap(p, size);
	if (fd >= 0)
		close(fd);
	return dt;
}

static double pagoda_once(const struct mem_backend_config *c, uint64_t size, unsigned int threads)
{
	struct mem_layout l;
	struct guest_mem m;
	char err[256];
	struct guest_mem_opts o = { .backend = *c, .vm_fd = -1, .max_slots = 8 };
	uint64_t page = c->kind == MEM_HUGETLB ? c->hugepage_size : SZ_4K;
	if (layout_x86(size, page, &l) || guest_mem_create(&m, &l, &o, err, sizeof(err))) {
		fprintf(stderr, "guest memory: %s\n", err);
		return -1;
	}
	double t0 = now_s();
	int r = mem_prefault(&m, threads);
	double dt = now_s() - t0;
	guest_mem_destroy(&m);
	return r ? -1 : dt;
}

/* Sets the pool of page-sized huge pages to n and returns what it was. */
static long set_pool(uint64_t page, long n)
{
	char path[128];
	long old = 0;
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages",
		 (unsigned long long)(page >> 10));
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &old) != 1)
			old = 0;
		fclose(f);
	}
	/* 1 GiB pages need 1 GiB of contiguous memory, which the page cache of a build
	 * usually breaks up: drop clean caches and compact first (a benchmark host only). */
	const char *const prep[] = { "/proc/sys/vm/drop_caches", "/proc/sys/vm/compact_memory" };
	const char *const val[] = { "3\n", "1\n" };
	for (int i = 0; i < 2 && n > old; i++) {
		f = fopen(prep[i], "w");
		if (f) {
			fputs(val[i], f);
			fclose(f);
		}
	}
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%ld\n", n);
		fclose(f);
	}
	return old;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp);
	return v[n / 2];
}

/* Pairs a pagoda run with a bare run, alternating which goes first: on a VM host the
 * second of a pair reuses pages the first just freed, already backed by the outer
 * hypervisor, and is up to 1.7x faster (measured with anon 4K, 2 threads). Medians in
 * GiB/s; -1 when a run could not get the memory. */
static int measure(const struct mem_backend_config *c, uint64_t size, unsigned int threads,
		   int runs, double *pagoda, double *bare)
{
	double p[64], b[64], gib = (double)size / (1ULL << 30);
	for (int i = 0; i < runs; i++) {
		double dp, db;
		if (i % 2) {
			db = bare_once(c, size, threads);
			dp = pagoda_once(c, size, threads);
		} else {
			dp = pagoda_once(c, size, threads);
			db = bare_once(c, size, threads);
		}
		if (dp <= 0 || db <= 0)
			return -1;
		p[i] = gib / dp;
		b[i] = gib / db;
	}
	*pagoda = median(p, runs);
	*bare = median(b, runs);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 5;
	uint64_t size = 4ULL << 30;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--runs"))
			runs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--size") && size_parse(argv[i + 1], &size))
			size = 0;
	}
	if (runs < 1 || runs > 64 || size < SZ_1G || size % SZ_1G) {
		fprintf(stderr, "usage: prefault-bench [--runs 1-64] [--size NG (whole GiB)]\n");
		return 2;
	}
	const struct { const char *name; struct mem_backend_config c; } kinds[] = {
		{ "anon 4K", { .kind = MEM_ANON } },
		{ "thp", { .kind = MEM_THP } },
		{ "hugetlb 2M", { .kind = MEM_HUGETLB, .hugepage_size = SZ_2M } },
		{ "hugetlb 1G", { .kind = MEM_HUGETLB, .hugepage_size = SZ_1G } },
	};
	long old1g = set_pool(SZ_1G, (long)(size / SZ_1G)); /* first: it needs contiguous memory */
	long old2m = set_pool(SZ_2M, (long)(size / SZ_2M));
	printf("prefault of %llu GiB, median of %d runs, pagoda and bare alternating (GiB/s)\n\n", (unsigned long long)(size >> 30), runs);
	printf("%-12s %7s %10s %10s %7s\n", "backing", "threads", "pagoda", "bare", "ratio");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (unsigned int t = 1; t <= 2; t++) {
			double p, b;
			if (measure(&kinds[k].c, size, t, runs, &p, &b))
				printf("%-12s %7u %10s %10s %7s   (could not get the memory)\n", kinds[k].name, t, "-", "-", "-");
			else
				printf("%-12s %7u %10.2f %10.2f %7.2f\n", kinds[k].name, t, p, b, p / b);
		}
	}
	set_pool(SZ_2M, old2m);
	set_pool(SZ_1G, old1g);
	return 0;
}
