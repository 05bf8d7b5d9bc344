#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "hugetlb_pool.h"
#include "layout.h"

const char *mem_backend_name(enum mem_backend_kind k)
{
	static const char *const names[] = { "anon", "thp", "hugetlb", "memfd", "file" };
	return k <= MEM_FILE ? names[k] : "?";
}

/* The file system under path (the directory itself, or the file's). */
static int statfs_path(const char *path, struct statfs *fs, char *err, size_t errlen)
{
	if (statfs(path, fs) == 0)
		return 0;
	int e = errno;
	if (e == ENOENT) {
		/* a file to be created: look at its directory */
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = 0;
		else
			snprintf(dir, sizeof(dir), ".");
		if (statfs(dir, fs) == 0)
			return 0;
	}
	snprintf(err, errlen, "--memory-backend file=%s: %s", path, strerror(e));
	return -e;
}

uint64_t mem_backend_page_size(const struct mem_backend_config *cfg, char *err, size_t errlen)
{
	switch (cfg->kind) {
	case MEM_ANON:
	case MEM_THP:
	case MEM_MEMFD:
		return SZ_4K;
	case MEM_HUGETLB:
		return cfg->hugepage_size ? cfg->hugepage_size : SZ_2M;
	case MEM_FILE:
		break;
	}
	struct statfs fs;
	if (statfs_path(cfg->path, &fs, err, errlen))
		return 0;
	bool huge = (uint32_t)fs.f_type == (uint32_t)HUGETLBFS_MAGIC;
	char want[16], have[16];
	layout_size_str(cfg->hugepage_size, want, sizeof(want));
	if (cfg->hugepage_size && !huge) {
		snprintf(err, errlen, "--memory-backend file=%s is not on hugetlbfs, but --hugepage-size %s asks for huge pages: mount -t hugetlbfs -o pagesize=%s none DIR and use file=DIR",
			 cfg->path, want, want);
		return 0;
	}
	if (huge && cfg->hugepage_size && (uint64_t)fs.f_bsize != cfg->hugepage_size) {
		snprintf(err, errlen, "--memory-backend file=%s is on a hugetlbfs of %s pages, not %s: use a mount with pagesize=%s",
			 cfg->path, layout_size_str((uint64_t)fs.f_bsize, have, sizeof(have)), want, want);
		return 0;
	}
	return huge ? (uint64_t)fs.f_bsize : SZ_4K;
}

static int open_file(struct mem_backend *b, uint64_t size, char *err, size_t errlen)
{
	const char *path = b->cfg.path;
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* a directory (typically a hugetlbfs mount): a private, unlinked file there */
		char tmpl[4096];
		snprintf(tmpl, sizeof(tmpl), "%s/pagoda-ram-XXXXXX", path);
		b->fd = mkostemp(tmpl, O_CLOEXEC);
		if (b->fd >= 0)
			unlink(tmpl);
	} else {
		b->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	if (b->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "--memory-backend file=%s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(b->fd, &st) == 0 && (uint64_t)st.st_size < size && ftruncate(b->fd, (off_t)size) < 0) {
		int e = errno;
		snprintf(err, errlen, "--memory-backend file=%s: cannot grow it to %" PRIu64 " MiB: %s",
			 path, size >> 20, strerror(e));
		return -e;
	}
	return 0;
}

static int open_memfd(struct mem_backend *b, uint64_t size, unsigned int flags, char *err,
		      size_t errlen)
{
	b->fd = memfd_create("pagoda-ram", MFD_CLOEXEC | flags);
	if (b->fd < 0 || ftruncate(b->fd, (off_t)size) < 0) {
		int e = errno;
		snprintf(err, errlen, "memfd for guest RAM (%" PRIu64 " MiB): %s", size >> 20, strerror(e));
		return -e;
	}
	return 0;
}

static int check_pool(uint64_t page_size, uint64_t size, char *err, size_t errlen)
{
	struct hugetlb_pool pool;
	int r = hugetlb_pool_read(page_size, &pool);
	if (r) {
		char ps[16];
		snprintf(err, errlen, "this host has no hugetlb pool of %s pages: use --hugepage-size 2M, or another --memory-backend",
			 layout_size_str(page_size, ps, sizeof(ps)));
		return r;
	}
	return hugetlb_pool_check(&pool, size / page_size, err, errlen);
}

int mem_backend_open(struct mem_backend *b, const struct mem_backend_config *cfg, uint64_t size,
		     char *err, size_t errlen)
{
	*b = (struct mem_backend){ .cfg = *cfg, .fd = -1 };
	b->page_size = mem_backend_page_size(cfg, err, errlen);
	if (!b->page_size)
		return -EINVAL;
	b->on_hugetlbfs = cfg->kind == MEM_HUGETLB || (cfg->kind == MEM_FILE && b->page_size > SZ_4K);
	if (b->on_hugetlbfs) {
		int r = check_pool(b->page_size, size, err, errlen);
		if (r)
			return r;
	}
	int r = 0;
	switch (cfg->kind) {
	case MEM_ANON:
	case MEM_THP:
		break;
	case MEM_HUGETLB:
		r = open_memfd(b, size, MFD_HUGETLB | (b->page_size == SZ_1G ? MFD_HUGE_1GB : MFD_HUGE_2MB),
			       err, errlen);
		break;
	case MEM_MEMFD:
		r = open_memfd(b, size, 0, err, errlen);
		break;
	case MEM_FILE:
		r = open_file(b, size, err, errlen);
		break;
	}
	if (r) {
		mem_backend_close(b);
		return r;
	}
	char ps[16];
	snprintf(b->desc, sizeof(b->desc), "%s %s%s", mem_backend_name(cfg->kind),
		 cfg->kind == MEM_THP ? "2M-transparent" : layout_size_str(b->page_size, ps, sizeof(ps)),
		 mem_backend_is_shared(b) ? " shared" : " private");
	return 0;
}

/* A memfd is only useful shared; a file= is private unless --shared (like QEMU's
 * share=off); anonymous memory is shared only when asked. hugetlb mappings reserve their
 * pages at mmap (no MAP_NORESERVE), so the pool cannot run dry under the guest later. */
bool mem_backend_is_shared(const struct mem_backend *b)
{
	return b->cfg.shared || b->cfg.kind == MEM_MEMFD || b->cfg.kind == MEM_HUGETLB;
}

int mem_backend_map(const struct mem_backend *b, void *hva, uint64_t len, uint64_t offset)
{
	int flags = (mem_backend_is_shared(b) ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED;
	if (b->fd < 0)
		flags |= MAP_ANONYMOUS | MAP_NORESERVE;
	void *p = mmap(hva, len, PROT_READ | PROT_WRITE, flags, b->fd, b->fd >= 0 ? (off_t)offset : 0);
	if (p == MAP_FAILED)
		return -errno;
	if (b->cfg.kind == MEM_THP && madvise(p, len, MADV_HUGEPAGE) < 0)
		return -errno;
	if (b->cfg.kind == MEM_ANON && madvise(p, len, MADV_NOHUGEPAGE) < 0)
		return -errno;
	return 0;
}

void mem_backend_close(struct mem_backend *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}
