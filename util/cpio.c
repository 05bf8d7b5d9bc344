#include "cpio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* newc pads the header plus name, and the data, to 4 bytes. */
static void pad4(struct cpio *c)
{
	static const uint8_t zero[4];
	state_buf_append(&c->buf, zero, (4 - c->buf.len % 4) % 4);
}

static void entry(struct cpio *c, const char *name, uint32_t mode, const void *data, size_t len,
		  uint32_t rmajor, uint32_t rminor)
{
	char hdr[111];
	size_t namesize = strlen(name) + 1;
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ++c->ino, mode,
		 0u, 0u, 1u, 0u, (unsigned int)len, 0u, 0u, rmajor, rminor, (unsigned int)namesize, 0u);
	state_buf_append(&c->buf, hdr, 110);
	state_buf_append(&c->buf, name, namesize);
	pad4(c);
	state_buf_append(&c->buf, data, len);
	pad4(c);
}

void cpio_add_dir(struct cpio *c, const char *name, uint32_t mode)
{
	entry(c, name, S_IFDIR | (mode & 07777), NULL, 0, 0, 0);
}

void cpio_add_chardev(struct cpio *c, const char *name, uint32_t mode, uint32_t major, uint32_t minor)
{
	entry(c, name, S_IFCHR | (mode & 07777), NULL, 0, major, minor);
}

void cpio_add_file(struct cpio *c, const char *name, uint32_t mode, const void *data, size_t len)
{
	if (len > UINT32_MAX)
		c->buf.failed = true;
	entry(c, name, S_IFREG | (mode & 07777), data, len, 0, 0);
}

int cpio_finish(struct cpio *c)
{
	entry(c, "TRAILER!!!", 0, NULL, 0, 0, 0);
	return c->buf.failed ? -ENOMEM : 0;
}

void cpio_free(struct cpio *c)
{
	state_buf_free(&c->buf);
	c->ino = 0;
}
