/* Dirty tracking against the real KVM, one mode per run: builds a VM in-process
 * (vmm/core/machine.c) with the dirty test guest, harvests at each of the guest's sync points
 * and checks the harvested set exactly:
 *   - every page the guest wrote this round is there;
 *   - nothing else is, beyond the guest's own writable image (data, bss, stack), pagoda's
 *     identity-map page tables (the CPU sets accessed/dirty bits in them), and the page
 *     the host itself wrote through guest_mem_ptr at the previous sync, which must be there.
 * Rounds write disjoint pages, so a page written only in round N shows up in round N only.
 * With --live, logging is switched on, off and on again while the vCPU writes, and the
 * final harvest must hold every page (all were written after the last switch-on).
 * With --deferred, harvests are migration's (dirty_log_harvest_deferred): after each, every
 * 2 MiB chunk is taken (dirty_log_take) but one, the chunk of the round's first page; its
 * pages must all be in the next harvest, and no page taken may come back unwritten.
 *
 *   dirty_test GUEST_ELF MODE [--ring N] [--chunk SIZE] [--live] [--deferred] [--cpus N] [-p PARAMS]
 * Exit 0 when the guest reported success and the host saw nothing wrong. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include "../arch/x86/boot_layout.h"
#endif
#include "../mem/ram.h"
#include "../vmm/front/cli.h"
#include "../vmm/core/machine.h"
#include "guests/dirty_sync.h"

#define PAGE 4096ULL
#define HOLD_PAGES 512ULL

struct test {
	struct machine m;
	uint64_t sync_gpa;       /* the guest's record, once it told us */
	uint64_t vmm_pending;    /* the page we wrote at the last sync, to be seen next */
	int failures;
	int harvests;
	bool deferred;
	uint32_t held_slot;      /* --deferred: the chunk left untaken at the last harvest */
	uint64_t held_first;
	uint64_t held[HOLD_PAGES / 64];
	bool holding;
};

static bool allowed(const struct dirty_sync *s, uint64_t gpa)
{
	if (gpa >= s->rw_lo && gpa < s->rw_hi)
		return true;
#if defined(__x86_64__)
	if (gpa == BOOT_PML4_GPA || gpa == BOOT_PDPT_GPA)
		return true;
	return gpa >= BOOT_PD_GPA && gpa < BOOT_PD_GPA + BOOT_PD_PAGES * PAGE;
#else
	return false; /* the arm64 guest's page table is in its bss, and no hardware A/D updates */
#endif
}

static bool written(const struct dirty_sync *s, uint64_t gpa)
{
	if (gpa < s->base || (gpa - s->base) % (s->stride * PAGE))
		return false;
	uint64_t idx = (gpa - s->base) / (s->stride * PAGE);
	return idx >= (uint64_t)s->round * s->count && idx < ((uint64_t)s->round + 1) * s->count;
}

/* Classifies every harvested page; returns the verdict in s. */
static bool held(const struct test *t, uint32_t slot, uint64_t p)
{
	return t->holding && slot == t->held_slot && p >= t->held_first && p - t->held_first < HOLD_PAGES &&
	       (t->held[(p - t->held_first) / 64] >> ((p - t->held_first) % 64) & 1);
}

static uint64_t held_count(const struct test *t)
{
	uint64_t n = 0;
	for (unsigned int w = 0; t->holding && w < HOLD_PAGES / 64; w++)
		n += (uint64_t)__builtin_popcountll(t->held[w]);
	return n;
}

static void check_harvest(struct test *t, struct dirty_sync *s)
{
	uint64_t found = 0, extra = 0, total = 0, vmm_seen = 0, held_seen = 0;
	for (unsigned int i = 0;; i++) {
		const uint64_t *bits = dirty_log_bitmap(&t->m.dirty, i);
		if (!bits)
			break;
		struct ram_region slot = ram_region(t->m.dirty.mem, i);
		for (uint64_t p = 0; p < slot.pages; p++) {
			if (!(bits[p / 64] & (1ULL << (p % 64))))
				continue;
			uint64_t gpa = slot.gpa + p * PAGE;
			total++;
			bool was_held = held(t, i, p);
			held_seen += was_held;
			if (written(s, gpa))
				found++;
			else if (was_held)
				continue; /* kept from the last harvest: counted above */
			else if (gpa == t->vmm_pending)
				vmm_seen++;
			else if (!allowed(s, gpa)) {
				if (extra++ < 5)
					fprintf(stderr, "dirty_test: round %u: page 0x%llx dirty but never written\n",
						s->round, (unsigned long long)gpa);
			} else if (s->round == 0)
				printf("dirty_test: round 0 also dirtied 0x%llx (%s)\n", (unsigned long long)gpa,
				       gpa >= s->rw_lo && gpa < s->rw_hi ? "guest data/bss/stack" : "identity-map page table");
		}
	}
	if (held_seen != held_count(t)) {
		fprintf(stderr, "dirty_test: round %u: %llu of the %llu pages left untaken are gone\n", s->round,
			(unsigned long long)(held_count(t) - held_seen), (unsigned long long)held_count(t));
		t->failures++;
	}
	s->harvested = total;
	s->missing = s->count - found;
	s->extra = extra;
	s->vmm_seen = vmm_seen;
}

/* --deferred: takes every chunk of the harvest but the one holding gpa, which is kept. */
static void take_all_but(struct test *t, uint64_t gpa)
{
	t->holding = false;
	for (uint32_t i = 0;; i++) {
		const uint64_t *bits = dirty_log_bitmap(&t->m.dirty, i);
		if (!bits)
			break;
		struct ram_region slot = ram_region(t->m.dirty.mem, i);
		uint64_t pages = slot.pages;
		for (uint64_t first = 0; first < pages; first += HOLD_PAGES) {
			uint64_t n = pages - first < HOLD_PAGES ? pages - first : HOLD_PAGES, mask[HOLD_PAGES / 64] = { 0 };
			memcpy(mask, bits + first / 64, (n + 63) / 64 * 8);
			if (gpa >= slot.gpa + first * PAGE && gpa < slot.gpa + (first + n) * PAGE) {
				t->holding = true;
				t->held_slot = i;
				t->held_first = first;
				memcpy(t->held, mask, sizeof(mask));
			} else if (dirty_log_take(&t->m.dirty, i, first, n, mask)) {
				fprintf(stderr, "dirty_test: taking pages %llu+%llu failed\n", (unsigned long long)first,
					(unsigned long long)n);
				t->failures++;
			}
		}
	}
}

/* The guest's sync point: it is stopped in this port write while we work. */
static void on_sync(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct test *t = opaque;
	(void)offset;
	if (!is_write || len != 4)
		return;
	uint32_t gpa;
	memcpy(&gpa, data, 4);
	struct dirty_sync *s = guest_mem_ptr(&t->m.vm.mem, gpa, sizeof(*s), GUEST_WRITE);
	if (!s || s->magic != DIRTY_SYNC_MAGIC) {
		t->failures++;
		return;
	}
	__atomic_store_n(&t->sync_gpa, gpa, __ATOMIC_RELEASE);
	if (!t->m.dirty.active)
		return;
	if (t->deferred ? dirty_log_harvest_deferred(&t->m.dirty) : dirty_log_harvest(&t->m.dirty)) {
		fprintf(stderr, "dirty_test: harvest failed\n");
		t->failures++;
		return;
	}
	t->harvests++;
	if (s->round != DIRTY_ROUND_BASELINE)
		check_harvest(t, s);
	if (t->deferred)
		take_all_but(t, s->base + (uint64_t)(s->round == DIRTY_ROUND_BASELINE ? 0 : s->round) * s->count *
					    s->stride * PAGE);
	/* a device-style write the guest never makes: the next harvest must show it */
	uint64_t *v = guest_mem_ptr(&t->m.vm.mem, s->vmm_page, 8, GUEST_WRITE);
	if (v)
		*v = s->round;
	t->vmm_pending = s->vmm_page;
}

/* The guest's sync record, once it said where (NULL before). */
static struct dirty_sync *sync_record(struct test *t, enum guest_access access)
{
	uint64_t gpa = __atomic_load_n(&t->sync_gpa, __ATOMIC_ACQUIRE);
	return gpa ? guest_mem_ptr(&t->m.vm.mem, gpa, sizeof(struct dirty_sync), access) : NULL;
}

static uint64_t passes(struct test *t)
{
	struct dirty_sync *s = sync_record(t, GUEST_READ);
	return s ? __atomic_load_n(&s->passes, __ATOMIC_ACQUIRE) : 0;
}

/* Tells the live guest it may stop writing (it goes on until then). */
static void live_done(struct test *t)
{
	struct dirty_sync *s = sync_record(t, GUEST_WRITE);
	if (s)
		__atomic_store_n(&s->live_done, 1, __ATOMIC_RELEASE);
}

static bool wait_passes(struct test *t, uint64_t n)
{
	for (int i = 0; i < 60000 && !atomic_load(&t->m.vm.stopping); i++) {
		if (passes(t) >= n)
			return true;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Logging on after 2 passes, off 2 passes later, on again 1 pass after that: everything
 * the guest writes after that must be in the final harvest. */
static void live_toggle(struct test *t)
{
	int r = 0;
	if (!wait_passes(t, 2) || (r = dirty_log_start(&t->m.dirty, &t->m.vm.mem)))
		goto fail;
	uint64_t p = passes(t);
	if (!wait_passes(t, p + 2) || (r = dirty_log_stop(&t->m.dirty)))
		goto fail;
	if (!wait_passes(t, passes(t) + 1) || (r = dirty_log_start(&t->m.dirty, &t->m.vm.mem)))
		goto fail;
	fprintf(stderr, "dirty_test: logging switched on, off and on while the guest wrote (pass %llu)\n",
		(unsigned long long)passes(t));
	live_done(t);
	return;
fail:
	fprintf(stderr, "dirty_test: live toggle failed (%s, pass %llu)\n", strerror(-r),
		(unsigned long long)passes(t));
	t->failures++;
	live_done(t);
}

static int parse_args(int argc, char **argv, struct machine_config *cfg, bool *live, bool *deferred)
{
	machine_config_defaults(cfg);
	cfg->kernel = argv[1];
	cfg->dirty_wanted = true;
	cfg->cpus = 1;
	cfg->params = "pages=1000 stride=3 rounds=5";
	if (!strcmp(argv[2], "bitmap"))
		cfg->dirty_mode = DIRTY_BITMAP;
	else if (!strcmp(argv[2], "clear"))
		cfg->dirty_mode = DIRTY_CLEAR;
	else if (!strcmp(argv[2], "ring"))
		cfg->dirty_mode = DIRTY_RING;
	else
		return -1;
	for (int i = 3; i < argc; i++) {
		char err[256];
		if (!strcmp(argv[i], "--live"))
			*live = true;
		else if (!strcmp(argv[i], "--deferred"))
			*deferred = true;
		else if (!strcmp(argv[i], "--ring") && i + 1 < argc)
			cfg->dirty_ring_entries = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			size_parse(argv[++i], &cfg->dirty_clear_chunk);
		else if (!strcmp(argv[i], "--cpus") && i + 1 < argc)
			cfg->cpus = (unsigned int)atoi(argv[++i]);
		else if (!strcmp(argv[i], "-p") && i + 1 < argc)
			cfg->params = argv[++i];
		else
			return -1;
		if (machine_config_check(cfg, err, sizeof(err))) {
			fprintf(stderr, "dirty_test: %s\n", err);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct machine_config cfg;
	bool live = false, deferred = false;
	if (argc < 3 || parse_args(argc, argv, &cfg, &live, &deferred)) {
		fprintf(stderr, "usage: dirty_test GUEST_ELF bitmap|clear|ring [--ring N] [--chunk SIZE] [--live] [--deferred] "
			"[--cpus N] [-p PARAMS]\n");
		return 2;
	}
	struct test *t = calloc(1, sizeof(*t));
	t->deferred = deferred;
	int code = 1;
	if (machine_setup(&t->m, &cfg, STDOUT_FILENO) ||
	    machine_arch_add_test_sync(&t->m, on_sync, t) ||
	    (!live && dirty_log_start(&t->m.dirty, &t->m.vm.mem)) || machine_start(&t->m)) {
		fprintf(stderr, "dirty_test: setup: %s\n", t->m.err);
		goto out;
	}
	if (live)
		live_toggle(t);
	int guest = machine_wait_exit(&t->m);
	machine_stop(&t->m);
	printf("dirty_test: mode %s, guest exit %d (%s), %d harvests, %llu ring-full exits, host failures %d\n",
	       dirty_mode_name(t->m.dirty.mode), guest, t->m.vm.exit_reason, t->harvests,
	       (unsigned long long)t->m.dirty.st.ring_full_exits, t->failures);
	code = guest == 0 && t->failures == 0 && t->harvests > 0 ? 0 : 1;
out:
	machine_destroy(&t->m);
	free(t);
	return code;
}
