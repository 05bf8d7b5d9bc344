#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int image_open(struct image *img, const char *path, const char *what, char *err, size_t errlen)
{
	*img = (struct image){ 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
		return -e;
	}
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-r));
	} else if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "%s %s is not a regular file", what, path);
	} else if (st.st_size == 0) {
		r = -EINVAL;
		snprintf(err, errlen, "%s %s is empty", what, path);
	} else {
		img->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (img->map == MAP_FAILED) {
			r = -errno;
			img->map = NULL;
			snprintf(err, errlen, "%s %s: mmap: %s", what, path, strerror(-r));
		} else {
			img->data = img->map;
			img->len = (size_t)st.st_size;
		}
	}
	close(fd);
	return r;
}

void image_close(struct image *img)
{
	if (img->map)
		munmap(img->map, img->len);
	*img = (struct image){ 0 };
}
