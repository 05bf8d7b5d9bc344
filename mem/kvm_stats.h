/* KVM's binary statistics (KVM_GET_STATS_FD): how KVM itself maps guest memory
 * (pages_4k, pages_2m, pages_1g) and other counters, read by name. */
#ifndef PAGODA_MEM_KVM_STATS_H
#define PAGODA_MEM_KVM_STATS_H

#include <stdint.h>

struct kvm_stats {
	int fd;
	uint32_t name_size, num_desc, desc_offset, data_offset;
	uint8_t *descs;
};

/* fd: a VM or vCPU fd. -errno when KVM has no binary stats. */
int kvm_stats_open(struct kvm_stats *s, int fd);
/* The first value of the statistic called name; -ENOENT when KVM has none by that name. */
int kvm_stats_get(const struct kvm_stats *s, const char *name, uint64_t *value);
void kvm_stats_close(struct kvm_stats *s);

#endif
