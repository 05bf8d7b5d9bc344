/* A file mapped read-only: kernels and initrds are read straight from the page cache. */
#ifndef PAGODA_VMM_IMAGE_H
#define PAGODA_VMM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct image {
	const uint8_t *data;
	size_t len;
	void *map;
};

/* what: "kernel" or "initrd", for the message in err. */
int image_open(struct image *img, const char *path, const char *what, char *err, size_t errlen);
void image_close(struct image *img);

#endif
