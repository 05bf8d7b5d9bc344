#include "p9_fids.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "p9_wire.h"
#include "share_dir.h"

#define SLOTS (2 * P9_MAX_FIDS)

int p9_fids_init(struct p9_fids *t)
{
	*t = (struct p9_fids){ .slots = calloc(SLOTS, sizeof(*t->slots)) };
	return t->slots ? 0 : -ENOMEM;
}

void p9_fids_clear(struct p9_fids *t)
{
	for (unsigned int i = 0; i < SLOTS; i++) {
		if (t->slots[i].state == P9_FID_USED)
			p9_fid_close(&t->slots[i]);
		t->slots[i].state = P9_FID_FREE;
	}
	t->nr_used = t->nr_gone = 0;
}

void p9_fids_free(struct p9_fids *t)
{
	if (t->slots)
		p9_fids_clear(t);
	free(t->slots);
	t->slots = NULL;
}

static struct p9_fid *fid_slot(struct p9_fids *t, uint32_t id, bool for_insert)
{
	struct p9_fid *tomb = NULL;
	for (unsigned int i = 0, h = (id * 2654435761u) % SLOTS; i < SLOTS; i++, h = (h + 1) % SLOTS) {
		struct p9_fid *f = &t->slots[h];
		if (f->state == P9_FID_USED && f->id == id)
			return f;
		if (f->state == P9_FID_GONE && !tomb)
			tomb = f;
		if (f->state == P9_FID_FREE)
			return for_insert ? (tomb ? tomb : f) : NULL;
	}
	return for_insert ? tomb : NULL;
}

struct p9_fid *p9_fid_get(struct p9_fids *t, uint32_t id)
{
	return fid_slot(t, id, false);
}

int p9_keep_fd(int *slot, int fd)
{
	if (fd >= 0 && !share_fd_charge(1)) {
		close(fd);
		return ENFILE;
	}
	*slot = fd;
	return 0;
}

void p9_fid_close(struct p9_fid *f)
{
	if (f->path_fd >= 0) {
		close(f->path_fd);
		share_fd_refund(1);
	}
	if (f->open_fd >= 0) {
		close(f->open_fd);
		share_fd_refund(1);
	}
	free(f->rel);
	f->path_fd = f->open_fd = -1;
	f->rel = NULL;
}

void p9_fid_drop(struct p9_fids *t, struct p9_fid *f)
{
	p9_fid_close(f);
	f->state = P9_FID_GONE;
	t->nr_used--;
	t->nr_gone++;
}

/* Tombstones pile up under a guest that makes and drops fids forever: rebuild then. */
static void fid_rehash(struct p9_fids *t)
{
	struct p9_fid *old = t->slots;
	struct p9_fid *fresh = calloc(SLOTS, sizeof(*fresh));
	if (!fresh)
		return;
	t->slots = fresh;
	for (unsigned int i = 0; i < SLOTS; i++) {
		if (old[i].state != P9_FID_USED)
			continue;
		*fid_slot(t, old[i].id, true) = old[i];
	}
	t->nr_gone = 0;
	free(old);
}

int p9_fid_new(struct p9_fids *t, uint32_t id, char *rel, int path_fd, uint32_t uid)
{
	if (t->nr_used >= P9_MAX_FIDS || id == NOFID || (path_fd >= 0 && !share_fd_charge(1))) {
		free(rel);
		if (path_fd >= 0)
			close(path_fd);
		return id == NOFID ? EINVAL : ENFILE;
	}
	if (t->nr_used + t->nr_gone > SLOTS * 3 / 4)
		fid_rehash(t);
	struct p9_fid *f = fid_slot(t, id, true);
	if (f->state == P9_FID_GONE)
		t->nr_gone--;
	*f = (struct p9_fid){ .id = id, .state = P9_FID_USED, .path_fd = path_fd, .open_fd = -1, .uid = uid, .rel = rel };
	t->nr_used++;
	return 0;
}

void p9_fids_follow_rename(struct p9_fids *t, const char *from, const char *to)
{
	for (unsigned int i = 0; i < SLOTS; i++) {
		struct p9_fid *f = &t->slots[i];
		char *moved = f->state == P9_FID_USED ? share_moved(f->rel, from, to) : NULL;
		if (moved) {
			free(f->rel);
			f->rel = moved;
		}
	}
}

