/* The fids of one 9P server: the guest's 32-bit names for files below the share, in an
 * open-addressing table of 2 * P9_MAX_FIDS slots. Each descriptor a fid keeps is charged
 * to the process's budget (share_fd_charge) and given back when the fid goes. */
#ifndef PAGODA_VIRTIO_FS_P9_FIDS_H
#define PAGODA_VIRTIO_FS_P9_FIDS_H

#include <stdbool.h>
#include <stdint.h>

struct p9_fid {
	uint32_t id;
	enum { P9_FID_FREE, P9_FID_USED, P9_FID_GONE } state; /* GONE: a tombstone in the hash table */
	int path_fd;      /* O_PATH: the file itself, for stat and as a directory's dirfd;
			   * -1 for a mount point's directory (hollow), so that every call
			   * that would make or change something there fails */
	bool hollow;      /* a mount point below the share: an empty directory */
	int open_fd;      /* after Tlopen or Tlcreate, else -1 */
	uint32_t uid;     /* who attached: owner of what this fid creates */
	char *rel;        /* the path below the share's root, "" for the root */
};

struct p9_fids {
	struct p9_fid *slots;
	unsigned int nr_used, nr_gone;
};

/* 0, or -ENOMEM. */
int p9_fids_init(struct p9_fids *t);
/* Forgets every fid, closing what they keep (a Tversion, a device reset). */
void p9_fids_clear(struct p9_fids *t);
void p9_fids_free(struct p9_fids *t);
/* The fid the guest calls id, or NULL. */
struct p9_fid *p9_fid_get(struct p9_fids *t, uint32_t id);
/* A new fid (id must be free); takes ownership of rel and path_fd. ENFILE when full,
 * EINVAL for NOFID. */
int p9_fid_new(struct p9_fids *t, uint32_t id, char *rel, int path_fd, uint32_t uid);
/* Closes what the fid keeps; the fid stays (a walk or create gives it another file). */
void p9_fid_close(struct p9_fid *f);
/* Closes and frees the fid (Tclunk). */
void p9_fid_drop(struct p9_fids *t, struct p9_fid *f);
/* Keeps fd in *slot, charged to the budget; fd -1 (a mount point's directory) costs
 * nothing. ENFILE, fd closed, when the budget is spent. */
int p9_keep_fd(int *slot, int fd);
/* After a rename, every fid below the old path follows it (their next open is by path). */
void p9_fids_follow_rename(struct p9_fids *t, const char *from, const char *to);

#endif
