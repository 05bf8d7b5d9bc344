#include "fuse_nodes.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_server.h"
#include "share_dir.h"

#define BUCKETS (1u << 16)

struct fuse_node *fuse_node_of(struct fuse_nodes *t, uint64_t nodeid)
{
	if (!nodeid || nodeid > t->nr_slots)
		return NULL;
	struct fuse_node *n = &t->slots[nodeid - 1];
	return n->rel ? n : NULL;
}

static uint32_t bucket_of(uint64_t dev, uint64_t ino)
{
	return (uint32_t)(((ino ^ (dev << 32)) * 0x9e3779b97f4a7c15ull) >> 48) % BUCKETS;
}

/* A free slot's index + 1, or 0 when the table is full. */
static uint32_t node_alloc(struct fuse_nodes *t)
{
	if (t->free_head) {
		uint32_t i = t->free_head;
		t->free_head = t->slots[i - 1].next;
		return i;
	}
	if (t->nr_slots == t->cap) {
		uint32_t cap = t->cap * 2 < FUSE_SRV_MAX_NODES ? t->cap * 2 : FUSE_SRV_MAX_NODES;
		struct fuse_node *n = cap > t->cap ? realloc(t->slots, cap * sizeof(*n)) : NULL;
		if (!n)
			return 0;
		t->slots = n;
		t->cap = cap;
	}
	return ++t->nr_slots;
}

uint64_t fuse_node_lookup(struct fuse_nodes *t, char *rel, const struct stat *st)
{
	uint32_t b = bucket_of(st->st_dev, st->st_ino);
	for (uint32_t i = t->buckets[b]; i; i = t->slots[i - 1].next) {
		struct fuse_node *n = &t->slots[i - 1];
		if (n->dev != st->st_dev || n->ino != st->st_ino)
			continue;
		if (i != FUSE_ROOT_ID && strcmp(n->rel, rel)) {
			free(n->rel);
			n->rel = rel;
		} else {
			free(rel);
		}
		n->nlookup++;
		return i;
	}
	uint32_t i = node_alloc(t);
	if (!i) {
		free(rel);
		return 0;
	}
	t->slots[i - 1] = (struct fuse_node){ .rel = rel, .nlookup = 1, .dev = st->st_dev, .ino = st->st_ino,
					 .next = t->buckets[b] };
	t->buckets[b] = i;
	t->nr_live++;
	return i;
}

void fuse_node_forget(struct fuse_nodes *t, uint64_t nodeid, uint64_t count)
{
	struct fuse_node *n = fuse_node_of(t, nodeid);
	if (!n || nodeid == FUSE_ROOT_ID)
		return;
	n->nlookup -= count < n->nlookup ? count : n->nlookup;
	if (n->nlookup)
		return;
	for (uint32_t *link = &t->buckets[bucket_of(n->dev, n->ino)]; *link; link = &t->slots[*link - 1].next) {
		if (*link == nodeid) {
			*link = n->next;
			break;
		}
	}
	free(n->rel);
	*n = (struct fuse_node){ .next = t->free_head };
	t->free_head = (uint32_t)nodeid;
	t->nr_live--;
}

void fuse_nodes_follow_rename(struct fuse_nodes *t, const char *from, const char *to)
{
	for (uint32_t i = 1; i < t->nr_slots; i++) {
		struct fuse_node *n = &t->slots[i];
		char *moved = n->rel ? share_moved(n->rel, from, to) : NULL;
		if (moved) {
			free(n->rel);
			n->rel = moved;
		}
	}
}

int fuse_nodes_init(struct fuse_nodes *t, const struct stat *root)
{
	*t = (struct fuse_nodes){ .cap = 1024 };
	t->slots = calloc(t->cap, sizeof(*t->slots));
	t->buckets = calloc(BUCKETS, sizeof(*t->buckets));
	char *rel = t->slots && t->buckets ? strdup("") : NULL;
	if (!rel || fuse_node_lookup(t, rel, root) != FUSE_ROOT_ID) {
		fuse_nodes_free(t);
		return -ENOMEM;
	}
	return 0;
}

void fuse_nodes_clear(struct fuse_nodes *t)
{
	for (uint32_t i = 1; i < t->nr_slots; i++)
		free(t->slots[i].rel);
	struct fuse_node root = t->slots[0];
	memset(t->buckets, 0, BUCKETS * sizeof(*t->buckets));
	t->nr_slots = 1;
	t->free_head = 0;
	t->nr_live = 1;
	t->slots[0] = (struct fuse_node){ .rel = root.rel, .nlookup = 1, .dev = root.dev, .ino = root.ino };
	t->buckets[bucket_of(root.dev, root.ino)] = FUSE_ROOT_ID;
}

void fuse_nodes_free(struct fuse_nodes *t)
{
	for (uint32_t i = 0; t->slots && i < t->nr_slots; i++)
		free(t->slots[i].rel);
	free(t->slots);
	free(t->buckets);
	*t = (struct fuse_nodes){ 0 };
}
