#include "mem_stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_stats.h"

static uint64_t field_kb(const char *line, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(line, name, n) || line[n] != ':')
		return UINT64_MAX;
	return strtoull(line + n + 1, NULL, 10) << 10;
}

void smaps_usage(const char *text, uint64_t start, uint64_t end, struct region_usage *u)
{
	*u = (struct region_usage){ 0 };
	bool inside = false;
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long long lo, hi;
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = lo >= start && hi <= end;
			continue;
		}
		if (!inside)
			continue;
		uint64_t v;
		if ((v = field_kb(line, "Rss")) != UINT64_MAX)
			u->rss += v;
		else if ((v = field_kb(line, "AnonHugePages")) != UINT64_MAX ||
			 (v = field_kb(line, "ShmemPmdMapped")) != UINT64_MAX ||
			 (v = field_kb(line, "FilePmdMapped")) != UINT64_MAX)
			u->huge += v;
		else if ((v = field_kb(line, "Shared_Hugetlb")) != UINT64_MAX ||
			 (v = field_kb(line, "Private_Hugetlb")) != UINT64_MAX) {
			u->huge += v;
			u->rss += v;
		} else if ((v = field_kb(line, "Shared_Clean")) != UINT64_MAX ||
			   (v = field_kb(line, "Shared_Dirty")) != UINT64_MAX) {
			u->shared += v;
		} else if ((v = field_kb(line, "Private_Clean")) != UINT64_MAX ||
			   (v = field_kb(line, "Private_Dirty")) != UINT64_MAX) {
			u->private_ += v;
		} else if ((v = field_kb(line, "Pss")) != UINT64_MAX) {
			u->pss += v;
		} else if ((v = field_kb(line, "KernelPageSize")) != UINT64_MAX && !u->kernel_page)
			u->kernel_page = v;
	}
}

static char *read_smaps(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = 0;
	return buf;
}

/* KVM's page counters into u; -errno when KVM has no binary stats. */
static int read_kvm_pages(int vm_fd, struct mem_usage *u)
{
	struct kvm_stats ks;
	int e = kvm_stats_open(&ks, vm_fd);
	if (e)
		return e;
	kvm_stats_get(&ks, "pages_4k", &u->pages_4k);
	kvm_stats_get(&ks, "pages_2m", &u->pages_2m);
	kvm_stats_get(&ks, "pages_1g", &u->pages_1g);
	kvm_stats_close(&ks);
	return 0;
}

/* Region i of m in smaps (all zeros without smaps). */
static struct region_usage region_usage(const struct guest_mem *m, const char *smaps, unsigned int i)
{
	const struct mem_range *r = &m->layout.ram[i];
	uint64_t hva = (uint64_t)(uintptr_t)(m->base + r->gpa);
	struct region_usage u = { 0 };
	if (smaps)
		smaps_usage(smaps, hva, hva + r->size, &u);
	return u;
}

void mem_stats_print(const struct guest_mem *m, int vm_fd, FILE *out)
{
	fprintf(out, "stats: backend=%s size=%" PRIu64 "M regions=%u\n", m->backend.desc,
		m->layout.ram_size >> 20, m->layout.nr_ram);
	char *smaps = read_smaps();
	for (unsigned int i = 0; i < m->layout.nr_ram; i++) {
		const struct mem_range *r = &m->layout.ram[i];
		struct region_usage u = region_usage(m, smaps, i);
		fprintf(out, "stats: region gpa=0x%" PRIx64 " size=%" PRIu64 "M hva=0x%" PRIx64
			" resident=%" PRIu64 "M huge=%" PRIu64 "M kernel_page=%" PRIu64 "kB private=%" PRIu64
			"K shared=%" PRIu64 "K pss=%" PRIu64 "K\n",
			r->gpa, r->size >> 20, (uint64_t)(uintptr_t)(m->base + r->gpa), u.rss >> 20, u.huge >> 20,
			u.kernel_page >> 10, u.private_ >> 10, u.shared >> 10, u.pss >> 10);
	}
	free(smaps);
	struct mem_usage k = { 0 };
	if (vm_fd < 0)
		return;
	if (read_kvm_pages(vm_fd, &k))
		fprintf(out, "stats: kvm binary stats unavailable\n");
	else
		fprintf(out, "stats: kvm pages_4k=%" PRIu64 " pages_2m=%" PRIu64 " pages_1g=%" PRIu64 "\n",
			k.pages_4k, k.pages_2m, k.pages_1g);
}

void mem_stats_collect(const struct guest_mem *m, int vm_fd, struct mem_usage *u)
{
	*u = (struct mem_usage){ 0 };
	char *smaps = read_smaps();
	for (unsigned int i = 0; smaps && i < m->layout.nr_ram; i++) {
		struct region_usage ru = region_usage(m, smaps, i);
		u->rss += ru.rss;
		u->huge += ru.huge;
		u->shared += ru.shared;
		u->private_ += ru.private_;
		u->pss += ru.pss;
	}
	free(smaps);
	if (vm_fd >= 0)
		read_kvm_pages(vm_fd, u);
}
