#include "kvm_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_compat.h"

int kvm_stats_open(struct kvm_stats *s, int fd)
{
	*s = (struct kvm_stats){ .fd = -1 };
	s->fd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	if (s->fd < 0)
		return -errno;
	struct kvm_stats_header h;
	if (pread(s->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > 65536 ||
	    h.name_size > 4096) {
		kvm_stats_close(s);
		return -EIO;
	}
	s->name_size = h.name_size;
	s->num_desc = h.num_desc;
	s->desc_offset = h.desc_offset;
	s->data_offset = h.data_offset;
	size_t len = (size_t)h.num_desc * (sizeof(struct kvm_stats_desc) + h.name_size);
	s->descs = malloc(len ? len : 1);
	if (!s->descs || pread(s->fd, s->descs, len, h.desc_offset) != (ssize_t)len) {
		kvm_stats_close(s);
		return -EIO;
	}
	return 0;
}

int kvm_stats_get(const struct kvm_stats *s, const char *name, uint64_t *value)
{
	size_t stride = sizeof(struct kvm_stats_desc) + s->name_size;
	for (uint32_t i = 0; i < s->num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(s->descs + i * stride);
		if (strncmp(d->name, name, s->name_size))
			continue;
		if (pread(s->fd, value, sizeof(*value), s->data_offset + d->offset) != (ssize_t)sizeof(*value))
			return -EIO;
		return 0;
	}
	return -ENOENT;
}

void kvm_stats_close(struct kvm_stats *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->descs);
	*s = (struct kvm_stats){ .fd = -1 };
}
