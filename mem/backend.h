/* Where guest RAM comes from: anonymous memory (4K pages or THP), hugetlbfs (2M, 1G) via
 * memfd or a file on a hugetlbfs mount, a shared memfd, or any file. A backend opens once
 * for the whole of RAM, then maps each region at a fixed host address and file offset. */
#ifndef PAGODA_MEM_BACKEND_H
#define PAGODA_MEM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mem_backend_kind {
	MEM_ANON,     /* 4K pages: MADV_NOHUGEPAGE, whatever the THP setting */
	MEM_THP,      /* anonymous with MADV_HUGEPAGE */
	MEM_HUGETLB,  /* memfd_create(MFD_HUGETLB | size) */
	MEM_MEMFD,    /* a shared memfd (4K): memory another process can map */
	MEM_FILE,     /* a file, or a new unlinked file in a directory (hugetlbfs, tmpfs...) */
};

struct mem_backend_config {
	enum mem_backend_kind kind;
	uint64_t hugepage_size; /* hugetlb: 2M or 1G; file: 0 (any fs) or the size it must have */
	const char *path;       /* MEM_FILE */
	bool shared;            /* MAP_SHARED; memfd and hugetlb are always shared */
};

struct mem_backend {
	struct mem_backend_config cfg;
	int fd;                 /* -1 for anonymous memory */
	uint64_t page_size;     /* the page size the backing gives */
	bool on_hugetlbfs;
	char desc[64];          /* "hugetlb 2M (memfd)", for messages and statistics */
};

/* The page size cfg will give (for MEM_FILE, from the file system); 0 with a message in err
 * when it cannot. Does not allocate. */
uint64_t mem_backend_page_size(const struct mem_backend_config *cfg, char *err, size_t errlen);
/* Opens the backing for size bytes (checks the hugetlb pool first). */
int mem_backend_open(struct mem_backend *b, const struct mem_backend_config *cfg, uint64_t size,
		     char *err, size_t errlen);
/* Maps [offset, offset+len) of the backing at hva (MAP_FIXED). */
int mem_backend_map(const struct mem_backend *b, void *hva, uint64_t len, uint64_t offset);
void mem_backend_close(struct mem_backend *b);
/* Whether guest RAM is mapped MAP_SHARED (another process, a snapshot file see it). */
bool mem_backend_is_shared(const struct mem_backend *b);

const char *mem_backend_name(enum mem_backend_kind k);

#endif
