#include "io.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

int write_all_at(int fd, const void *p, size_t len, off_t off)
{
	while (len) {
		ssize_t k = pwrite(fd, p, len, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p = (const uint8_t *)p + k;
		len -= (size_t)k;
		off += k;
	}
	return 0;
}
