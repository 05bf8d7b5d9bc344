// SPDX-License-Identifier: GPL-2.0
/*
 * access_log_test: KVM_GET_ACCESS_LOG (kvm/patches) against what a vCPU did.
 *
 * For each backing (4K pages, THP, hugetlb 2M and 1G), a vCPU first writes
 * every page of a memslot, so that all of it is mapped at stage 2; a clearing
 * call then resets the log and the vCPU touches a known subset.  The log must
 * hold exactly that subset, rounded out to the size of the mapping that holds
 * each page (at most the backing's page), and nothing the vCPU left alone; the
 * count returned must be the bits set; TEST_ONLY must leave the bits as they
 * are.  Then the answers to bad arguments, a memslot deleted while another
 * thread reads its log, and reads racing a vCPU that faults pages in under
 * dirty logging (which splits huge mappings eagerly).
 *
 * Built by kvm/build-patched-kvm.sh against the patched tree's selftests
 * library, run in pagoda's labs; its KTAP output is counted by test.sh.
 * "access_log_test --measure-flush" instead measures what the TLB flush
 * after clearing buys and costs (no test results).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define TEST_SLOT	1
#define SMALL_SLOT_SIZE	SZ_64M
/*
 * Touch every STRIDE'th 4K page: prime, and above 512 where mappings are huge,
 * so that some 2M blocks hold a touched page and others none.
 */
#define STRIDE_4K	3
#define STRIDE_HUGE	1543

static uint64_t guest_pages;
static uint64_t guest_stride;

/* Writes one word of every guest_stride'th page, then reports to the host. */
static void guest_code(uint64_t gva)
{
	uint64_t i;

	for (;;) {
		for (i = 0; i < READ_ONCE(guest_pages); i += READ_ONCE(guest_stride))
			WRITE_ONCE(*(uint64_t *)(gva + i * SZ_4K), i);
		GUEST_SYNC(0);
	}
}

struct test_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	uint64_t npages;	/* 4K pages in TEST_SLOT */
	unsigned long *log;
};

/* A log of npages bits, in the 64-bit words KVM writes, with one word to spare. */
static size_t bitmap_bytes(uint64_t npages)
{
	return (npages / 64 + 1) * sizeof(uint64_t);
}

static int get_access_log(struct kvm_vm *vm, uint32_t slot, uint32_t flags,
			  uint64_t first, uint64_t n, void *bitmap)
{
	struct kvm_access_log log = {
		.slot = slot,
		.flags = flags,
		.first_page = first,
		.num_pages = n,
		.bitmap = (uint64_t)bitmap,
	};
	int r = __vm_ioctl(vm, KVM_GET_ACCESS_LOG, &log);

	return r < 0 ? -errno : r;
}

/* Lets the vCPU run one pass over its pages with this stride. */
static void run_pass(struct kvm_vcpu *vcpu, uint64_t stride)
{
	struct ucall uc;

	guest_stride = stride;
	sync_global_to_guest(vcpu->vm, guest_stride);
	vcpu_run(vcpu);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		return;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected exit %s", exit_reason_str(vcpu->run->exit_reason));
	}
}

static struct test_vm create_test_vm(enum vm_mem_backing_src_type src, uint64_t size)
{
	uint64_t npages = size / SZ_4K;
	struct test_vm t = { .npages = npages };
	uint64_t gpa, gva;

	/* Sized by the slot's pages: memslot 0 then holds their guest page tables. */
	t.vm = __vm_create_with_one_vcpu(&t.vcpu, npages, guest_code);
	gpa = align_down((t.vm->max_gfn + 1) * t.vm->page_size - size - SZ_1G, SZ_1G);
	gva = gpa & ((1ULL << (t.vm->va_bits - 1)) - 1);
	vm_userspace_mem_region_add(t.vm, src, gpa, TEST_SLOT, npages * SZ_4K / t.vm->page_size, 0);
	virt_map(t.vm, gva, gpa, npages * SZ_4K / t.vm->page_size);
	vcpu_args_set(t.vcpu, 1, gva);
	guest_pages = npages;
	sync_global_to_guest(t.vm, guest_pages);
	t.log = calloc(1, bitmap_bytes(npages));
	TEST_ASSERT(t.log, "no memory for the log");
	return t;
}

static void free_test_vm(struct test_vm *t)
{
	kvm_vm_free(t->vm);
	free(t->log);
}

/* Whether the pages [block, block + gran) hold one the guest touched. */
static bool block_touched(uint64_t block, uint64_t gran, uint64_t stride, uint64_t npages)
{
	uint64_t first = DIV_ROUND_UP(block, stride) * stride;

	return first < block + gran && first < npages;
}

/*
 * The log against a pass with this stride: every touched page must be in it,
 * and no page outside the touched set rounded out to gran pages (the largest
 * mapping the backing allows).  Prints what differs.
 */
static bool log_matches(struct test_vm *t, uint64_t stride, uint64_t gran, const char *what)
{
	uint64_t missing = 0, extra = 0, p;

	for (p = 0; p < t->npages; p++) {
		bool in_log = test_bit(p, t->log);

		if (p % stride == 0 && !in_log)
			missing++;
		if (in_log && !block_touched(p / gran * gran, gran, stride, t->npages))
			extra++;
	}
	if (missing || extra)
		ksft_print_msg("%s: %lu touched pages missing, %lu untouched pages reported\n",
			       what, missing, extra);
	return !missing && !extra;
}

static uint64_t bits_set(struct test_vm *t)
{
	uint64_t p, n = 0;

	for (p = 0; p < t->npages; p++)
		n += test_bit(p, t->log);
	return n;
}

static int read_log(struct test_vm *t, uint32_t flags)
{
	memset(t->log, 0xa5, bitmap_bytes(t->npages));
	return get_access_log(t->vm, TEST_SLOT, flags, 0, t->npages, t->log);
}

struct backing {
	const char *name;
	enum vm_mem_backing_src_type src;
	uint64_t size;
};

static const struct backing backings[] = {
	{ "4K", VM_MEM_SRC_ANONYMOUS, SMALL_SLOT_SIZE },
	{ "THP", VM_MEM_SRC_ANONYMOUS_THP, SMALL_SLOT_SIZE },
	{ "hugetlb 2M", VM_MEM_SRC_ANONYMOUS_HUGETLB_2MB, SMALL_SLOT_SIZE },
	{ "hugetlb 1G", VM_MEM_SRC_ANONYMOUS_HUGETLB_1GB, SZ_1G },
};

#define TESTS_PER_BACKING 4

/* Why a backing cannot be tested here, or NULL. */
static const char *backing_missing(const struct backing *b)
{
	char path[96];
	unsigned long free_pages = 0;
	FILE *f;

	if (b->src == VM_MEM_SRC_ANONYMOUS)
		return NULL;
	if (b->src == VM_MEM_SRC_ANONYMOUS_THP)
		return thp_configured() ? NULL : "THP is not configured";
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
		 get_backing_src_pagesz(b->src) / SZ_1K);
	f = fopen(path, "r");
	if (f && fscanf(f, "%lu", &free_pages) != 1)
		free_pages = 0;
	if (f)
		fclose(f);
	if (free_pages * get_backing_src_pagesz(b->src) < b->size)
		return "not enough free hugetlb pages of that size";
	return NULL;
}

static void test_backing(const struct backing *b)
{
	const char *missing = backing_missing(b);
	uint64_t gran = get_backing_src_pagesz(b->src) / SZ_4K;
	uint64_t stride = gran > 1 ? STRIDE_HUGE : STRIDE_4K;
	struct test_vm t;
	bool ok;
	int n, i;

	if (missing) {
		for (i = 0; i < TESTS_PER_BACKING; i++)
			ksft_test_result_skip("%s: %s\n", b->name, missing);
		return;
	}
	t = create_test_vm(b->src, b->size);

	/* Every page mapped, then the log read (and cleared) once. */
	run_pass(t.vcpu, 1);
	n = read_log(&t, 0);
	ksft_test_result(n >= 0 && log_matches(&t, 1, gran, b->name) && n == (int)bits_set(&t),
			 "%s: every page written reads accessed, the count is the bits set (%d)\n",
			 b->name, n);

	n = read_log(&t, 0);
	ksft_test_result(n == 0 && bits_set(&t) == 0,
			 "%s: nothing accessed since the last call reads idle (%d)\n", b->name, n);

	run_pass(t.vcpu, stride);
	n = read_log(&t, KVM_ACCESS_LOG_TEST_ONLY);
	ok = n > 0 && log_matches(&t, stride, gran, b->name) && n == (int)bits_set(&t);
	ksft_test_result(ok, "%s: the log is the pages touched, rounded out to the mapping (%d)\n",
			 b->name, n);

	/* TEST_ONLY cleared nothing: the same answer again, then cleared, then idle. */
	ok = read_log(&t, KVM_ACCESS_LOG_TEST_ONLY) == n && log_matches(&t, stride, gran, b->name);
	ok = ok && read_log(&t, 0) == n && log_matches(&t, stride, gran, b->name);
	ok = ok && read_log(&t, 0) == 0;
	ksft_test_result(ok, "%s: TEST_ONLY leaves the bits set\n", b->name);
	free_test_vm(&t);
}

/* Every bad argument is refused without touching the log. */
static void test_bad_arguments(void)
{
	struct test_vm t = create_test_vm(VM_MEM_SRC_ANONYMOUS, SZ_2M);
	uint64_t pages = t.npages, bm[SZ_2M / SZ_4K / 64 + 1];
	struct kvm_access_log log = {
		.slot = TEST_SLOT,
		.num_pages = pages,
		.bitmap = (uint64_t)bm,
	};
	int r;

	ksft_test_result(get_access_log(t.vm, TEST_SLOT, 1U << 2, 0, pages, bm) == -EINVAL,
			 "bad argument: an unknown flag\n");
	log.reserved[1] = 1;
	r = __vm_ioctl(t.vm, KVM_GET_ACCESS_LOG, &log);
	ksft_test_result(r == -1 && errno == EINVAL, "bad argument: a reserved word not zero\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT + 1, 0, 0, pages, bm) == -ENOENT,
			 "bad argument: no such memslot\n");
	ksft_test_result(get_access_log(t.vm, 0xffff, 0, 0, pages, bm) == -EINVAL,
			 "bad argument: a slot id past the user slots\n");
	ksft_test_result(get_access_log(t.vm, 7U << 16 | TEST_SLOT, 0, 0, pages, bm) == -EINVAL,
			 "bad argument: no such address space\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, 0, 0, 0, bm) == -EINVAL,
			 "bad argument: zero pages\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, 0, 0,
					KVM_ACCESS_LOG_MAX_PAGES + 1, bm) == -EINVAL,
			 "bad argument: more pages than KVM_ACCESS_LOG_MAX_PAGES\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, 0, 1, pages, bm) == -EINVAL,
			 "bad argument: a range past the memslot's end\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, 0, pages, 1, bm) == -EINVAL,
			 "bad argument: a first page past the memslot\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, 0, 8, UINT64_MAX - 4, bm) == -EINVAL,
			 "bad argument: a range that wraps around\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, KVM_ACCESS_LOG_TEST_ONLY, 0, pages,
					(void *)16) == -EFAULT,
			 "bad argument: a bitmap at an unmapped address\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, 0, 0, pages, (void *)-4096UL) == -EFAULT,
			 "bad argument: a bitmap in kernel space\n");
	ksft_test_result(get_access_log(t.vm, TEST_SLOT, KVM_ACCESS_LOG_NO_FLUSH, 0,
					pages, bm) >= 0,
			 "KVM_ACCESS_LOG_NO_FLUSH is accepted\n");
	free_test_vm(&t);
}

#define BAD_ARGUMENT_TESTS 13

struct reader {
	struct kvm_vm *vm;
	uint64_t npages;
	bool stop;	/* READ_ONCE/WRITE_ONCE: another thread sets it */
	unsigned long calls, enoent, other;
};

/* Reads the log over and over, counting what came back, until told to stop. */
static void *read_log_loop(void *arg)
{
	struct reader *r = arg;
	unsigned long *bm = calloc(1, bitmap_bytes(r->npages));
	int n;

	TEST_ASSERT(bm, "no memory for the log");
	while (!READ_ONCE(r->stop)) {
		n = get_access_log(r->vm, TEST_SLOT, 0, 0, r->npages, bm);
		WRITE_ONCE(r->calls, r->calls + 1);
		if (n == -ENOENT)
			r->enoent++;
		else if (n < 0)
			r->other++;
	}
	free(bm);
	return NULL;
}

/*
 * A memslot deleted while another thread reads its log: each call either
 * answers or finds no memslot.
 */
static void test_slot_deleted(void)
{
	struct test_vm t = create_test_vm(VM_MEM_SRC_ANONYMOUS, SMALL_SLOT_SIZE);
	struct reader r = { .vm = t.vm, .npages = t.npages };
	pthread_t thread;
	unsigned long before;

	run_pass(t.vcpu, 1);
	pthread_create(&thread, NULL, read_log_loop, &r);
	while (READ_ONCE(r.calls) < 20)
		usleep(1000);
	before = READ_ONCE(r.calls);
	vm_mem_region_delete(t.vm, TEST_SLOT);
	while (READ_ONCE(r.calls) < before + 20)
		usleep(1000);
	WRITE_ONCE(r.stop, true);
	pthread_join(thread, NULL);
	ksft_test_result(r.enoent > 0 && r.other == 0,
			 "a memslot deleted during calls: %lu calls, %lu ENOENT, %lu other errors\n",
			 r.calls, r.enoent, r.other);
	free_test_vm(&t);
}

struct writer {
	struct kvm_vcpu *vcpu;
	bool stop;	/* READ_ONCE/WRITE_ONCE: another thread sets it */
	unsigned long passes;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;

	while (!READ_ONCE(w->stop)) {
		run_pass(w->vcpu, 1);
		WRITE_ONCE(w->passes, w->passes + 1);
	}
	return NULL;
}

/*
 * Reads racing a vCPU that writes every page under dirty logging: each
 * KVM_GET_DIRTY_LOG write-protects the slot again, so the vCPU keeps faulting
 * while huge mappings are split; the access log must answer throughout and,
 * once the vCPU is quiet, still equal a known pass, now at 4K.
 */
static void test_racing_faults(void)
{
	static const struct backing huge = { "hugetlb 2M", VM_MEM_SRC_ANONYMOUS_HUGETLB_2MB,
					     SMALL_SLOT_SIZE };
	enum vm_mem_backing_src_type src = huge.src;
	struct test_vm t;
	struct reader r = {};
	struct writer w = {};
	unsigned long *dirty;
	pthread_t reader, writer;
	int rounds = 0, n;

	if (backing_missing(&huge))
		src = VM_MEM_SRC_ANONYMOUS_THP;
	t = create_test_vm(src, SMALL_SLOT_SIZE);
	r.vm = t.vm;
	r.npages = t.npages;
	w.vcpu = t.vcpu;
	dirty = calloc(1, bitmap_bytes(t.npages));
	TEST_ASSERT(dirty, "no memory for the dirty log");
	run_pass(t.vcpu, 1);
	vm_mem_region_set_flags(t.vm, TEST_SLOT, KVM_MEM_LOG_DIRTY_PAGES);
	pthread_create(&writer, NULL, write_loop, &w);
	pthread_create(&reader, NULL, read_log_loop, &r);
	while (READ_ONCE(w.passes) < 5 || rounds < 20) {
		kvm_vm_get_dirty_log(t.vm, TEST_SLOT, dirty);
		rounds++;
		usleep(1000);
	}
	WRITE_ONCE(w.stop, true);
	WRITE_ONCE(r.stop, true);
	pthread_join(writer, NULL);
	pthread_join(reader, NULL);

	read_log(&t, 0);
	run_pass(t.vcpu, STRIDE_4K);
	n = read_log(&t, 0);
	ksft_test_result(r.other == 0 && r.enoent == 0 &&
			 log_matches(&t, STRIDE_4K, 1, "racing faults"),
			 "reads racing faults under dirty logging: %lu calls, %lu passes, then %d pages\n",
			 r.calls, w.passes, n);
	free(dirty);
	free_test_vm(&t);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Not a test: what the TLB flush after clearing buys and costs.  A vCPU
 * writes every page of the slot over and over while the log is read every
 * 20 ms, ROUNDS times with the flush and ROUNDS times without: every page is
 * hot, so each page a read reports idle is one a cached translation hid.
 * Prints the idle pages per read and the time per call of each mode.
 */
static void measure_flush(enum vm_mem_backing_src_type src, const char *name)
{
	enum { ROUNDS = 50 };
	static const uint32_t modes[] = { 0, KVM_ACCESS_LOG_NO_FLUSH };
	struct test_vm t = create_test_vm(src, SMALL_SLOT_SIZE);
	struct writer w = { .vcpu = t.vcpu };
	uint64_t idle[2] = {}, ns[2] = {}, t0;
	pthread_t writer;
	int m, r, n;

	run_pass(t.vcpu, 1);
	pthread_create(&writer, NULL, write_loop, &w);
	for (r = 0; r < 2 * ROUNDS; r++) {
		m = r % 2;
		usleep(20000);
		t0 = now_ns();
		n = read_log(&t, modes[m]);
		ns[m] += now_ns() - t0;
		TEST_ASSERT(n >= 0, "KVM_GET_ACCESS_LOG: %d", n);
		idle[m] += t.npages - n;
	}
	WRITE_ONCE(w.stop, true);
	pthread_join(writer, NULL);
	printf("%s: %lu passes, %lu pages, all hot\n", name, w.passes, t.npages);
	printf("%s: read idle per read: flush %.1f, no flush %.1f\n", name,
	       (double)idle[0] / ROUNDS, (double)idle[1] / ROUNDS);
	printf("%s: time per call: flush %.0f us, no flush %.0f us\n", name,
	       ns[0] / 1e3 / ROUNDS, ns[1] / 1e3 / ROUNDS);
	free_test_vm(&t);
}

int main(int argc, char *argv[])
{
	unsigned int i;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_ACCESS_LOG));

	if (argc > 1 && !strcmp(argv[1], "--measure-flush")) {
		measure_flush(VM_MEM_SRC_ANONYMOUS, "4K");
		measure_flush(VM_MEM_SRC_ANONYMOUS_THP, "THP");
		return 0;
	}

	ksft_print_header();
	ksft_set_plan(ARRAY_SIZE(backings) * TESTS_PER_BACKING + BAD_ARGUMENT_TESTS + 2);
	for (i = 0; i < ARRAY_SIZE(backings); i++)
		test_backing(&backings[i]);
	test_bad_arguments();
	test_slot_deleted();
	test_racing_faults();
	ksft_finished();
}
