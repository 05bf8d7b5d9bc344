#include "irq_routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static int commit(struct irq_routes *r)
{
	struct kvm_irq_routing *t = calloc(1, sizeof(*t) + r->nr * sizeof(r->e[0]));
	if (!t)
		return -ENOMEM;
	t->nr = r->nr;
	memcpy(t->entries, r->e, r->nr * sizeof(r->e[0]));
	int e = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
	free(t);
	return e;
}

int irq_routes_init(struct irq_routes *r, int vm_fd, const struct kvm_irq_routing_entry *base,
		    unsigned int nr)
{
	if (nr > IRQ_ROUTES_MAX)
		return -E2BIG;
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->vm_fd = vm_fd;
	r->msi_devid = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID) > 0;
	r->nr = nr;
	memcpy(r->e, base, nr * sizeof(base[0]));
	for (unsigned int i = 0; i < nr; i++)
		if (base[i].gsi >= r->next_gsi)
			r->next_gsi = base[i].gsi + 1;
	r->inited = true;
	return commit(r);
}

void irq_routes_destroy(struct irq_routes *r)
{
	if (r->inited)
		pthread_mutex_destroy(&r->lock);
	r->inited = false;
}

int irq_routes_msi_alloc(struct irq_routes *r, uint32_t *gsi)
{
	if (!r->inited)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&r->lock);
	int e = r->next_gsi < IRQ_ROUTES_MAX ? 0 : -ENOSPC;
	if (!e)
		*gsi = r->next_gsi++;
	pthread_mutex_unlock(&r->lock);
	return e;
}

static struct kvm_irq_routing_entry *find(struct irq_routes *r, uint32_t gsi)
{
	for (unsigned int i = 0; i < r->nr; i++)
		if (r->e[i].gsi == gsi && r->e[i].type == KVM_IRQ_ROUTING_MSI)
			return &r->e[i];
	return NULL;
}

int irq_routes_msi_set(struct irq_routes *r, uint32_t gsi, uint64_t addr, uint32_t data, uint32_t devid)
{
	if (!r->inited)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&r->lock);
	struct kvm_irq_routing_entry *e = find(r, gsi), old = { 0 };
	bool added = !e;
	if (added && r->nr == IRQ_ROUTES_MAX) {
		pthread_mutex_unlock(&r->lock);
		return -ENOSPC;
	}
	if (added)
		e = &r->e[r->nr++];
	else
		old = *e;
	*e = (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
					     .flags = r->msi_devid ? KVM_MSI_VALID_DEVID : 0,
					     .u.msi = { .address_lo = (uint32_t)addr,
							.address_hi = (uint32_t)(addr >> 32), .data = data } };
	if (r->msi_devid)
		e->u.msi.devid = devid;
	int err = commit(r);
	if (err && added)
		r->nr--;
	else if (err)
		*e = old;
	pthread_mutex_unlock(&r->lock);
	return err;
}
