/* The nodes of one FUSE server: the files the guest has looked up, one per host inode
 * (hard links share one), each found by its path below the share's root and counted as
 * FUSE counts lookups, so that a FORGET frees it. Nodeid N is slots[N - 1]; nodeid 1
 * (FUSE_ROOT_ID) is the root, never forgotten. */
#ifndef PAGODA_VIRTIO_FS_FUSE_NODES_H
#define PAGODA_VIRTIO_FS_FUSE_NODES_H

#include <stdint.h>
#include <sys/stat.h>

struct fuse_node {
	char *rel;          /* the path below the root; NULL: a free slot */
	uint64_t nlookup;   /* lookups the guest has not forgotten */
	uint64_t dev, ino;
	uint32_t next;      /* live: the hash chain; free: the free list (index + 1, 0 ends) */
};

struct fuse_nodes {
	struct fuse_node *slots;
	uint32_t nr_slots, cap, free_head, nr_live;
	uint32_t *buckets;  /* (dev, ino) -> index + 1 */
};

/* The table with the root alone, which root describes. 0, or -ENOMEM. */
int fuse_nodes_init(struct fuse_nodes *t, const struct stat *root);
/* Forgets every node but the root (a device reset, FUSE_DESTROY). */
void fuse_nodes_clear(struct fuse_nodes *t);
void fuse_nodes_free(struct fuse_nodes *t);
/* The live node nodeid, or NULL. */
struct fuse_node *fuse_node_of(struct fuse_nodes *t, uint64_t nodeid);
/* One more lookup of the file at rel (taken), which st describes: its nodeid, or 0 when
 * the table is full. A file seen again by another name (a hard link, a rename the server
 * did not make) is the same node, found again by that name from now on. */
uint64_t fuse_node_lookup(struct fuse_nodes *t, char *rel, const struct stat *st);
/* count lookups fewer; the node goes at none. */
void fuse_node_forget(struct fuse_nodes *t, uint64_t nodeid, uint64_t count);
/* After a rename the server made, every node below the old path follows it. */
void fuse_nodes_follow_rename(struct fuse_nodes *t, const char *from, const char *to);

#endif
