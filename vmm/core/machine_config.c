#include "machine_config.h"

#include <errno.h>

#include "../../util/err.h"

void machine_config_defaults(struct machine_config *c)
{
	*c = (struct machine_config){ .mem_size = MACHINE_DEFAULT_MEM, .cpus = 1, .backend = { .kind = MEM_THP },
				      .dirty_ring_entries = 4096, .dirty_clear_chunk = 1ULL << 30,
				      .downtime_limit_ms = 50, .max_passes = 30, .migration_channels = 1,
				      .virtio_transport = VIRTIO_TRANSPORT_DEFAULT };
}

unsigned int machine_config_devices(const struct machine_config *c)
{
	return c->nr_disks + (c->net_tap != NULL) + c->rng + c->balloon + c->nr_fs;
}

int machine_config_check(const struct machine_config *c, char *err, size_t errlen)
{
	if (c->mem_size < MACHINE_MIN_MEM)
		return err_set(err, errlen, -EINVAL, "--memory %llu bytes is too small: give the guest at least 2M",
			       (unsigned long long)c->mem_size);
	if (!c->cpus || c->cpus > MACHINE_MAX_CPUS)
		return err_set(err, errlen, -EINVAL, "--cpus %u is not a vCPU count: use 1 to %u", c->cpus, MACHINE_MAX_CPUS);
	if (machine_config_devices(c) > MACHINE_MAX_VIRTIO)
		return err_set(err, errlen, -EINVAL, "%u virtio devices: at most %u fit (one free interrupt line each)",
			       machine_config_devices(c), MACHINE_MAX_VIRTIO);
	if (c->initrd && !c->kernel)
		return err_set(err, errlen, -EINVAL, "--initrd needs --kernel: the built-in demo guest takes no initrd");
	if (c->backend.hugepage_size && c->backend.kind != MEM_HUGETLB && c->backend.kind != MEM_FILE)
		return err_set(err, errlen, -EINVAL, "--hugepage-size applies to --memory-backend hugetlb or file=PATH, not %s",
			       mem_backend_name(c->backend.kind));
	if (c->migration_keyed && (c->migration_key.len < MIG_KEY_MIN || c->migration_key.len > MIG_KEY_MAX))
		return err_set(err, errlen, -EINVAL, "--migration-key: %zu bytes: give 16 to 256", c->migration_key.len);
	return 0;
}
