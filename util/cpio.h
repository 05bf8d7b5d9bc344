/* A cpio archive in the "newc" format Linux unpacks as an initramfs, built in memory. */
#ifndef PAGODA_UTIL_CPIO_H
#define PAGODA_UTIL_CPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state_buf.h"

struct cpio {
	struct state_buf buf; /* the archive so far (buf.failed: out of memory, unusable) */
	unsigned int ino;
};

/* A directory, or a regular file of len bytes, or a character device node (mode:
 * permission bits). */
void cpio_add_dir(struct cpio *c, const char *name, uint32_t mode);
void cpio_add_chardev(struct cpio *c, const char *name, uint32_t mode, uint32_t major, uint32_t minor);
void cpio_add_file(struct cpio *c, const char *name, uint32_t mode, const void *data, size_t len);
/* Ends the archive (the TRAILER!!! entry). 0, or -ENOMEM if anything failed. */
int cpio_finish(struct cpio *c);
void cpio_free(struct cpio *c);

#endif
