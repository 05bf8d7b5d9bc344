#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../mem/ram.h"
#include "../../util/bitmap.h"
#include "../../util/io.h"
#include "../../util/page.h"

/* Page p (counted over the regions back to back) is in a diff snapshot. */
static bool in_diff(const uint64_t *pages, uint64_t p)
{
	return !pages || bitmap_test(pages, p);
}

/* Runs of non-zero pages are written; zero pages stay holes of the sparse file. A diff
 * writes only the pages in its bitmap (those that became zero are holes it names). */
static int write_memory(const struct guest_mem *mem, const uint64_t *pages, int fd)
{
	for (uint32_t i = 0; i < ram_nr_regions(mem); i++) {
		struct ram_region r = ram_region(mem, i);
		const uint8_t *base = ram_pages(mem, &r, 0, r.pages);
		uint64_t off = r.file_offset, size = r.pages * SZ_4K;
		for (uint64_t p = 0; p < size;) {
			if (!in_diff(pages, (off + p) / SZ_4K) || page_is_zero(base + p)) {
				p += SZ_4K;
				continue;
			}
			uint64_t q = p + SZ_4K;
			while (q < size && q - p < (64ULL << 20) && in_diff(pages, (off + q) / SZ_4K) && !page_is_zero(base + q))
				q += SZ_4K;
			int e = write_all_at(fd, base + p, q - p, (off_t)(off + p));
			if (e)
				return e;
			p = q;
		}
	}
	return ftruncate(fd, (off_t)mem->layout.ram_size) ? -errno : 0;
}

struct file_body {
	const void *data;               /* bytes to write, or */
	size_t len;
	const struct guest_mem *mem;    /* guest memory (with pages: only those) */
	const uint64_t *pages;
};

/* name in the snapshot directory dfd (dir: its path, for messages). */
static int write_file(int dfd, const char *dir, const char *name, const struct file_body *b, char *err,
		      size_t errlen)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	/* A fresh file of our own: whatever stands at tmp (a stale file, or a link planted to
	 * make us overwrite another file) goes first, and O_EXCL|O_NOFOLLOW refuses anything
	 * that appears there meanwhile. */
	if (unlinkat(dfd, tmp, 0) && errno != ENOENT) {
		snprintf(err, errlen, "snapshot: removing %s/%s: %s", dir, tmp, strerror(errno));
		return -errno;
	}
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int e = fd < 0 ? -errno : 0;
	if (!e)
		e = b->mem ? write_memory(b->mem, b->pages, fd) : write_all_at(fd, b->data, b->len, 0);
	if (!e && fsync(fd))
		e = -errno;
	if (fd >= 0)
		close(fd);
	if (!e && renameat(dfd, tmp, dfd, name))
		e = -errno;
	if (e) {
		unlinkat(dfd, tmp, 0);
		snprintf(err, errlen, "snapshot: writing %s/%s: %s", dir, name, strerror(-e));
	}
	return e;
}

/* The snapshot directory, made if missing, opened once without following a link: every
 * file is written relative to it, so a link at DIR (or one swapped in meanwhile) never
 * sends the snapshot elsewhere. The fd, or -errno with the reason in err. */
static int open_snapshot_dir(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "snapshot: creating %s: %s", dir, strerror(errno));
		return -errno;
	}
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		snprintf(err, errlen, "snapshot: %s: %s", dir,
			 e == ELOOP || e == ENOTDIR ? "a symbolic link or not a directory: give the directory itself"
						     : strerror(e));
		return -e;
	}
	return dfd;
}

/* The last harvest as one bitmap over RAM pages, regions back to back as in the memory
 * file. */
static uint64_t *diff_pages(const struct machine *m)
{
	uint64_t *pages = calloc(bitmap_words(m->vm.mem.layout.ram_size / SZ_4K), 8);
	for (unsigned int i = 0; pages && i < ram_nr_regions(&m->vm.mem); i++) {
		const uint64_t *bits = dirty_log_bitmap(&m->dirty, i);
		if (!bits)
			continue;
		struct ram_region r = ram_region(&m->vm.mem, i);
		struct bit_run run;
		for_each_bit_run(run, bits, 0, r.pages, 0)
			bitmap_set_range(pages, r.file_offset / SZ_4K + run.first, run.n);
	}
	return pages;
}

int snapshot_save(struct machine *m, const char *dir, const char *parent, char *err, size_t errlen)
{
	int dfd = open_snapshot_dir(dir, err, errlen);
	if (dfd < 0)
		return dfd;
	struct state_buf st;
	state_buf_init(&st);
	/* Before the state and the memory file: what KVM keeps in guest RAM goes with it. */
	int e = machine_arch_flush_to_ram(m, err, errlen);
	if (!e)
		e = machine_state_save(m, &st, err, errlen);
	uint64_t *pages = NULL;
	if (!e && parent && !(pages = diff_pages(m)))
		e = -ENOMEM;
	/* Memory first: a state file next to an older memory file would restore garbage. */
	unlinkat(dfd, "state", 0);
	struct file_body mem = { .mem = &m->vm.mem, .pages = pages };
	struct file_body bits = { .data = pages, .len = (m->vm.mem.layout.ram_size / SZ_4K + 63) / 64 * 8 };
	struct file_body par = { .data = parent, .len = parent ? strlen(parent) : 0 };
	struct file_body state = { .data = st.data, .len = st.len };
	if (!e)
		e = write_file(dfd, dir, "memory", &mem, err, errlen);
	if (!e && parent)
		e = write_file(dfd, dir, "pages", &bits, err, errlen);
	if (!e && parent)
		e = write_file(dfd, dir, "parent", &par, err, errlen);
	if (!e && !parent)
		unlinkat(dfd, "parent", 0); /* a full snapshot over an old diff */
	if (!e)
		e = write_file(dfd, dir, "state", &state, err, errlen);
	close(dfd);
	free(pages);
	state_buf_free(&st);
	return e;
}

/* The header first: it says how large the rest may be, so a file of any size is never
 * read whole into memory on its word. */
static int read_state_file(int fd, const char *path, struct state_buf *in, struct state_header *h,
			   char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "snapshot %s: not a regular file", path);
		return -EINVAL;
	}
	uint8_t head[8 + sizeof(*h)];
	ssize_t k = pread(fd, head, sizeof(head), 0);
	struct state_buf hb = { .data = head, .len = k > 0 ? (size_t)k : 0 };
	int e = machine_state_peek_header(&hb, h, err, errlen);
	if (e)
		return e;
	if ((uint64_t)st.st_size > machine_state_max_len(h->nr_vcpus)) {
		snprintf(err, errlen, "snapshot %s: %llu bytes, more than any state of %u vCPUs", path,
			 (unsigned long long)st.st_size, h->nr_vcpus);
		return -EBADMSG;
	}
	in->len = in->cap = (size_t)st.st_size;
	in->data = malloc(in->len);
	k = in->data ? pread(fd, in->data, in->len, 0) : -1;
	if (k != (ssize_t)in->len) {
		snprintf(err, errlen, "snapshot %s: could not read it", path);
		return -EIO;
	}
	return 0;
}

int snapshot_read_state(const char *dir, struct state_buf *in, struct state_header *h,
			char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/state", dir);
	state_buf_init(in);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
	if (fd < 0) {
		int e = -errno;
		snprintf(err, errlen, "snapshot %s: %s%s", path, strerror(errno),
			 errno == ENOENT ? " (not a snapshot directory, or an unfinished snapshot)" : "");
		return e;
	}
	int e = read_state_file(fd, path, in, h, err, errlen);
	close(fd);
	return e;
}

static int copy_extents(int fd, uint8_t *dst, uint64_t off, uint64_t size)
{
	for (off_t pos = (off_t)off; pos < (off_t)(off + size);) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 || data >= (off_t)(off + size))
			break; /* the rest is a hole: zeros, as fresh guest RAM is */
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > (off_t)(off + size))
			hole = (off_t)(off + size);
		for (off_t p = data; p < hole;) {
			ssize_t k = pread(fd, dst + (p - (off_t)off), (size_t)(hole - p), p);
			if (k <= 0)
				return k < 0 ? -errno : -EIO;
			p += k;
		}
		pos = hole;
	}
	return 0;
}

/* A file of dir as a string (parent) or bytes (pages); NULL when it does not exist. */
static char *read_small(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || st.st_size > (64 << 20)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *buf = calloc(1, (size_t)st.st_size + 1);
	if (buf && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* The full snapshot's memory: copied in, or each region mapped privately from the file. */
static int load_full(struct machine *m, int fd, bool map)
{
	struct guest_mem *mem = &m->vm.mem;
	int e = 0;
	for (uint32_t i = 0; i < ram_nr_regions(mem) && !e; i++) {
		struct ram_region r = ram_region(mem, i);
		uint8_t *hva = ram_pages(mem, &r, 0, r.pages);
		uint64_t size = r.pages * SZ_4K;
		if (map) /* KVM follows the new mapping through its MMU notifier */
			e = mmap(hva, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)r.file_offset) ==
			    MAP_FAILED ? -errno : 0;
		else
			e = copy_extents(fd, hva, r.file_offset, size);
	}
	return e;
}

/* The pages a diff holds, read over what its parents left. */
static int apply_diff(struct machine *m, const struct snapshot_layer *l)
{
	struct guest_mem *mem = &m->vm.mem;
	for (uint32_t i = 0; i < ram_nr_regions(mem); i++) {
		struct ram_region r = ram_region(mem, i);
		uint8_t *hva = ram_pages(mem, &r, 0, r.pages);
		uint64_t first = r.file_offset / SZ_4K;
		struct bit_run run;
		/* 64 MiB at most per read: pread returns short past 2 GiB. */
		for_each_bit_run(run, l->pages, first, first + r.pages, 16384) {
			ssize_t len = (ssize_t)(run.n * SZ_4K);
			if (pread(l->fd, hva + (run.first - first) * SZ_4K, (size_t)len, (off_t)(run.first * SZ_4K)) != len)
				return -EIO;
		}
	}
	return 0;
}

/* The chain is opened (and checked) as a lazy restore opens it, then read in order. */
int snapshot_load_memory(struct machine *m, const char *dir, bool map, char *err, size_t errlen)
{
	struct guest_mem *mem = &m->vm.mem;
	if (map && mem_backend_is_shared(&mem->backend)) {
		snprintf(err, errlen, "--restore-memory cow needs private guest RAM: use --memory-backend anon or thp, or copy");
		return -EINVAL;
	}
	struct snapshot_layer layers[SNAPSHOT_MAX_CHAIN];
	unsigned int n;
	int e = snapshot_open_chain(dir, mem->layout.ram_size, layers, &n, err, errlen);
	if (e)
		return e;
	e = load_full(m, layers[0].fd, map);
	for (unsigned int k = 1; k < n && !e; k++)
		e = apply_diff(m, &layers[k]);
	snapshot_close_chain(layers, n);
	if (e)
		snprintf(err, errlen, "snapshot %s: loading guest memory: %s", dir, strerror(-e));
	return e;
}

/* DIR/memory, a regular file of the guest's RAM size. */
static int open_memory(const char *dir, uint64_t ram_size, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/memory", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		snprintf(err, errlen, "snapshot %s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(err, errlen, "snapshot %s: not a regular file", path);
	else if ((uint64_t)st.st_size != ram_size)
		snprintf(err, errlen, "snapshot %s: %llu bytes, the guest has %llu: truncated or not this snapshot's",
			 path, (unsigned long long)st.st_size, (unsigned long long)ram_size);
	else
		return fd;
	if (fd >= 0)
		close(fd);
	return -EBADMSG;
}

/* One layer of dir; *parent: the next directory to read (NULL at the full snapshot). */
static int open_layer(const char *dir, uint64_t ram_size, struct snapshot_layer *l, char **parent,
		      char *err, size_t errlen)
{
	size_t len = 0, want = (ram_size / SZ_4K + 63) / 64 * 8;
	*l = (struct snapshot_layer){ .fd = -1 };
	*parent = read_small(dir, "parent", &len);
	if (*parent)
		l->pages = (uint64_t *)read_small(dir, "pages", &len);
	if (*parent && (!l->pages || len != want)) {
		snprintf(err, errlen, "diff snapshot %s: its page map is missing or not this guest's size", dir);
		return -EBADMSG;
	}
	int fd = open_memory(dir, ram_size, err, errlen);
	l->fd = fd >= 0 ? fd : -1;
	return fd < 0 ? fd : 0;
}

int snapshot_open_chain(const char *dir, uint64_t ram_size, struct snapshot_layer *layers, unsigned int *n,
			char *err, size_t errlen)
{
	struct snapshot_layer newest_first[SNAPSHOT_MAX_CHAIN];
	char *cur = strdup(dir), *parent = NULL;
	unsigned int k = 0;
	int e = cur ? 0 : -ENOMEM;
	for (; !e && cur; k++) {
		if (k == SNAPSHOT_MAX_CHAIN) {
			snprintf(err, errlen, "snapshot %s: more than 64 diffs deep (a loop of parents?)", dir);
			e = -ELOOP;
			break;
		}
		e = open_layer(cur, ram_size, &newest_first[k], &parent, err, errlen);
		free(cur);
		cur = parent;
	}
	free(cur);
	for (unsigned int i = 0; i < k; i++)
		layers[i] = newest_first[k - 1 - i];
	*n = e ? 0 : k;
	if (e)
		snapshot_close_chain(layers, k);
	return e;
}

void snapshot_close_chain(struct snapshot_layer *layers, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (layers[i].fd >= 0)
			close(layers[i].fd);
		free(layers[i].pages);
	}
}
