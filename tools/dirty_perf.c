/* In the spirit of KVM's dirty_log_perf_test (which dies on a PVM host): for a guest size,
 * backend and dirty mode, the time to enable logging (and what it did to KVM's 2M
 * mappings), each iteration's harvest split into time inside KVM's ioctls and pagoda's own
 * time, the pages found, the guest's write pass after logging started, and the time to
 * disable logging. pagoda's overhead is reported as a ratio to the bare ioctl time.
 *
 *   dirty-perf DIRTYPERF_ELF [pagoda run options] [-p "passes=N pages=N"]
 * e.g. dirty-perf build/tests/guests/dirtyperf.elf -m 4G --dirty-log clear -p "passes=5 pages=20000" */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../mem/kvm_stats.h"
#include "../vmm/front/cli.h"
#include "../vmm/core/machine.h"

#define PERF_SYNC_MAGIC 0x46524550u
#define MAX_PASSES 64

struct perf_sync {
	uint32_t magic;
	uint32_t pass;
	uint64_t pass_us;
	uint64_t pages;
};

struct iteration {
	uint64_t guest_us, guest_pages, found, kvm_ns, total_ns;
};

struct perf {
	struct machine m;
	struct kvm_stats ks;
	uint64_t touch_us, p2m_before, p2m_after_enable, p2m_end, enable_ns, disable_ns;
	struct iteration it[MAX_PASSES + 1];
	unsigned int passes;
	int failed;
};

#define NO_STAT UINT64_MAX /* arm64 KVM counts no mappings by size */

static uint64_t pages_2m(struct perf *p)
{
	uint64_t v = 0;
	return kvm_stats_get(&p->ks, "pages_2m", &v) ? NO_STAT : v;
}

static const char *stat_str(uint64_t v, char *buf, size_t len)
{
	if (v == NO_STAT)
		return "n/a";
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/* The guest is stopped in this port write while we enable, harvest or disable. */
static void on_sync(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct perf *p = opaque;
	uint32_t gpa;
	(void)offset;
	if (!is_write || len != 4)
		return;
	memcpy(&gpa, data, 4);
	const struct perf_sync *s = guest_mem_ptr(&p->m.vm.mem, gpa, sizeof(*s), GUEST_READ);
	if (!s || s->magic != PERF_SYNC_MAGIC || s->pass > MAX_PASSES) {
		p->failed = 1;
		return;
	}
	if (s->pass == 0) {
		p->touch_us = s->pass_us;
		p->p2m_before = pages_2m(p);
		uint64_t t0 = now_ns();
		p->failed |= dirty_log_start(&p->m.dirty, &p->m.vm.mem) != 0;
		p->enable_ns = now_ns() - t0;
		p->p2m_after_enable = pages_2m(p);
		return;
	}
	struct iteration *it = &p->it[s->pass];
	it->guest_us = s->pass_us;
	it->guest_pages = s->pages;
	p->failed |= dirty_log_harvest(&p->m.dirty) != 0;
	it->found = p->m.dirty.st.pages;
	it->kvm_ns = p->m.dirty.st.kvm_ns;
	it->total_ns = p->m.dirty.st.total_ns;
	p->passes = s->pass;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(struct perf *p)
{
	const struct machine_config *c = &p->m.cfg;
	printf("dirty-perf: %llu MiB %s, mode %s, %u vCPU%s\n", (unsigned long long)(c->mem_size >> 20),
	       p->m.vm.mem.backend.desc, dirty_mode_name(p->m.dirty.mode), p->m.vm.nr_vcpus,
	       p->m.vm.nr_vcpus == 1 ? "" : "s (arm64: -p vcpus=N makes them all write)");
	char b[24];
	printf("first touch of all RAM by the guest: %.1f ms; KVM pages_2m then %s\n", p->touch_us / 1e3,
	       stat_str(p->p2m_before, b, sizeof(b)));
	printf("enable logging: %.3f ms; pages_2m after: %s\n", p->enable_ns / 1e6,
	       stat_str(p->p2m_after_enable, b, sizeof(b)));
	printf("%4s %14s %12s %10s %12s %12s %12s\n", "iter", "guest pass ms", "guest pages", "found",
	       "harvest ms", "kvm ioctl ms", "pagoda ms");
	double ratio[MAX_PASSES];
	unsigned int n = 0;
	for (unsigned int i = 1; i <= p->passes; i++) {
		const struct iteration *it = &p->it[i];
		double own = (double)(it->total_ns - it->kvm_ns);
		printf("%4u %14.1f %12llu %10llu %12.3f %12.3f %12.3f\n", i, it->guest_us / 1e3,
		       (unsigned long long)it->guest_pages, (unsigned long long)it->found,
		       it->total_ns / 1e6, it->kvm_ns / 1e6, own / 1e6);
		if (it->kvm_ns)
			ratio[n++] = own / (double)it->kvm_ns;
	}
	printf("disable logging: %.3f ms; pages_2m at the end: %s\n", p->disable_ns / 1e6,
	       stat_str(p->p2m_end, b, sizeof(b)));
	if (n) {
		qsort(ratio, n, sizeof(double), cmp);
		printf("pagoda's own harvest time / KVM ioctl time: median %.1f%%\n", ratio[n / 2] * 100);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: dirty-perf DIRTYPERF_ELF [pagoda run options] [-p \"passes=N pages=N\"]\n");
		return 2;
	}
	struct run_config cfg;
	char err[256];
	const char *guest = argv[1];
	argv[1] = "run"; /* what follows the guest are pagoda run's options */
	if (cli_parse_run(argc - 1, argv + 1, &cfg, err, sizeof(err))) {
		fprintf(stderr, "dirty-perf: %s\n", err);
		return 2;
	}
	cfg.m.kernel = guest;
	cfg.m.dirty_wanted = true;
	struct perf *p = calloc(1, sizeof(*p));
	p->ks.fd = -1;
	int code = 1;
	if (machine_setup(&p->m, &cfg.m, STDOUT_FILENO) || kvm_stats_open(&p->ks, p->m.vm.vm_fd) ||
	    machine_arch_add_test_sync(&p->m, on_sync, p) || machine_start(&p->m)) {
		fprintf(stderr, "dirty-perf: setup: %s\n", p->m.err);
		goto out;
	}
	int exit_code = machine_wait_exit(&p->m);
	machine_stop(&p->m);
	uint64_t t0 = now_ns();
	p->failed |= dirty_log_stop(&p->m.dirty) != 0;
	p->disable_ns = now_ns() - t0;
	p->p2m_end = pages_2m(p);
	if (exit_code != 0 || p->failed) {
		fprintf(stderr, "dirty-perf: the run failed (%s)\n", p->m.vm.exit_reason);
		goto out;
	}
	report(p);
	code = 0;
out:
	kvm_stats_close(&p->ks);
	machine_destroy(&p->m);
	free(p);
	return code;
}
