#include "pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 1u

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static struct virtq *selected(struct virtio_pci *t)
{
	return t->queue_sel < t->dev->ops->nr_queues ? &t->dev->vqs[t->queue_sel] : NULL;
}

/* --- MSI-X --------------------------------------------------------------------------- */

static bool vector_masked(const struct virtio_pci *t, unsigned int v)
{
	return t->msix_masked || (t->msix[v].ctrl & MSIX_ENTRY_MASKED);
}

/* Points the vector's GSI at the message the driver wrote, when that changed. */
static void route_vector(struct virtio_pci *t, unsigned int v)
{
	const struct virtio_host *h = t->dev->host;
	uint64_t addr = (uint64_t)t->msix[v].addr_hi << 32 | t->msix[v].addr_lo;
	uint32_t data = t->msix[v].data;
	if (t->irq_fd[v] < 0 || (t->routed[v] && t->routed_addr[v] == addr && t->routed_data[v] == data))
		return;
	int e = h->msi_route(h->ctx, t->gsi[v], addr, data, t->func.devfn); /* requester ID: bus 0 */
	if (e) {
		char why[96];
		snprintf(why, sizeof(why), "MSI-X vector %u: KVM refused its route: %s", v, strerror(-e));
		virtio_dev_broken(t->dev, why);
		return;
	}
	t->routed[v] = true;
	t->routed_addr[v] = addr;
	t->routed_data[v] = data;
}

static void fire(struct virtio_pci *t, unsigned int v)
{
	route_vector(t, v);
	uint64_t one = 1;
	if (t->routed[v] && write(t->irq_fd[v], &one, sizeof(one)) != sizeof(one))
		t->pending |= 1u << v; /* the counter is full: the guest has it pending anyway */
}

static void interrupt(struct virtio_dev *d, int q)
{
	struct virtio_pci *t = d->transport;
	unsigned int v = q < 0 ? t->config_vector : t->queue_vector[q];
	if (!t->msix_enabled || v >= VIRTIO_PCI_VECTORS)
		return; /* no vector: the driver polls the ISR or the rings */
	if (vector_masked(t, v)) {
		t->pending |= 1u << v;
		t->nr_masked++;
		return;
	}
	fire(t, v);
}

static void deliver_pending(struct virtio_pci *t)
{
	for (unsigned int v = 0; v < VIRTIO_PCI_VECTORS && t->msix_enabled; v++) {
		if ((t->pending >> v & 1) && !vector_masked(t, v)) {
			t->pending &= ~(1u << v);
			fire(t, v);
		}
	}
}

static void msix_table_write(struct virtio_pci *t, uint64_t off, uint32_t val)
{
	unsigned int v = (unsigned int)(off / 16);
	struct virtio_pci_vector *e = &t->msix[v];
	switch (off % 16) {
	case 0: e->addr_lo = val; break;
	case 4: e->addr_hi = val; break;
	case 8: e->data = val; break;
	case 12: e->ctrl = val & MSIX_ENTRY_MASKED; break;
	}
	if (!(e->ctrl & MSIX_ENTRY_MASKED))
		route_vector(t, v);
	deliver_pending(t);
}

static uint32_t msix_table_read(const struct virtio_pci *t, uint64_t off)
{
	const struct virtio_pci_vector *e = &t->msix[off / 16];
	const uint32_t f[4] = { e->addr_lo, e->addr_hi, e->data, e->ctrl };
	return f[off % 16 / 4];
}

/* --- BAR 0 --------------------------------------------------------------------------- */

static void common_read(struct virtio_pci *t, uint64_t off, void *data, uint32_t len)
{
	struct virtio_dev *d = t->dev;
	struct virtq *vq = selected(t);
	uint8_t img[VIRTIO_PCI_COMMON_LEN] = { 0 };
	uint32_t fs = t->device_features_sel, ds = t->driver_features_sel;
	put32(img + 0x00, fs);
	put32(img + 0x04, fs < 2 ? (uint32_t)(d->features >> (32 * fs)) : 0);
	put32(img + 0x08, ds);
	put32(img + 0x0c, ds < 2 ? (uint32_t)(d->driver_features >> (32 * ds)) : 0);
	put16(img + 0x10, t->config_vector);
	put16(img + 0x12, (uint16_t)d->ops->nr_queues);
	img[0x14] = d->status;
	img[0x15] = (uint8_t)d->config_generation;
	put16(img + 0x16, t->queue_sel);
	if (vq) { /* an unavailable queue reads size 0 */
		put16(img + 0x18, vq->num);
		put16(img + 0x1a, t->queue_vector[t->queue_sel]);
		put16(img + 0x1c, vq->ready);
		put16(img + 0x1e, t->queue_sel);
		put64(img + 0x20, vq->desc_gpa);
		put64(img + 0x28, vq->avail_gpa);
		put64(img + 0x30, vq->used_gpa);
	}
	memcpy(data, img + off, len);
}

/* A vector number the driver may use, or NO_VECTOR (which it reads back as a refusal). */
static uint16_t vector_or_none(uint32_t v)
{
	return v < VIRTIO_PCI_VECTORS ? (uint16_t)v : VIRTIO_PCI_NO_VECTOR;
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	*v = high ? (*v & 0xffffffffULL) | ((uint64_t)val << 32) : (*v & ~0xffffffffULL) | val;
}

static void reset_transport(struct virtio_pci *t)
{
	t->device_features_sel = t->driver_features_sel = 0;
	t->queue_sel = 0;
	t->config_vector = VIRTIO_PCI_NO_VECTOR;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = VIRTIO_PCI_NO_VECTOR;
}

/* The queue registers: only while the selected queue is not live. */
static void queue_write(struct virtio_pci *t, uint64_t off, uint32_t len, uint32_t val)
{
	struct virtq *vq = selected(t);
	if (!vq)
		return;
	if (off == 0x1c && len == 2) {
		virtio_dev_write_queue_ready(t->dev, t->queue_sel, val);
		return;
	}
	if (off == 0x1a && len == 2) {
		t->queue_vector[t->queue_sel] = vector_or_none(val);
		return;
	}
	if (vq->ready)
		return; /* the driver may not move a live queue */
	if (off == 0x18 && len == 2)
		vq->num = (uint16_t)val;
	else if (len == 4 && off >= 0x20 && off < 0x38) {
		uint64_t *field = off < 0x28 ? &vq->desc_gpa : off < 0x30 ? &vq->avail_gpa : &vq->used_gpa;
		set_half(field, off % 8 == 4, val);
	}
}

static void common_write(struct virtio_pci *t, uint64_t off, uint32_t len, uint32_t val)
{
	struct virtio_dev *d = t->dev;
	if (len == 4 && off == 0x00) {
		t->device_features_sel = val;
	} else if (len == 4 && off == 0x08) {
		t->driver_features_sel = val;
	} else if (len == 4 && off == 0x0c) {
		if (t->driver_features_sel < 2 && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&d->driver_features, t->driver_features_sel == 1, val);
	} else if (len == 2 && off == 0x10) {
		t->config_vector = vector_or_none(val);
	} else if (len == 1 && off == 0x14) {
		if (virtio_dev_write_status(d, val))
			reset_transport(t);
	} else if (len == 2 && off == 0x16) {
		t->queue_sel = (uint16_t)val;
	} else if (off >= 0x18) {
		queue_write(t, off, len, val);
	}
}

static bool in(uint64_t off, uint32_t len, uint64_t start, uint64_t size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

/* A notify written through a vCPU exit (its ioeventfd not taken by KVM: the BAR where
 * another device claims the address) goes to the I/O thread through the queue's eventfd,
 * as KVM would have sent it: device work, a file server's above all, stays on the thread
 * whose filter allows it (vmm/core/sandbox.c). Served here only without one. */
static void notify_by_exit(struct virtio_pci *t, unsigned int q)
{
	if (q < VIRTIO_MAX_QUEUES && t->notify[q].fd >= 0 && eventfd_write(t->notify[q].fd, 1) == 0)
		return;
	virtio_dev_notify(t->dev, q);
}

static void bar_access(struct virtio_pci *t, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct virtio_dev *d = t->dev;
	uint32_t val = 0;
	if (is_write && len <= 4)
		memcpy(&val, data, len);
	else if (!is_write)
		memset(data, 0, len);
	bool sized = (len == 1 || len == 2 || len == 4 || len == 8) && off % len == 0;
	if (!sized)
		return; /* registers are naturally aligned; anything else is dropped */
	if (in(off, len, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN) && len <= 4) {
		if (is_write)
			common_write(t, off, len, val);
		else
			common_read(t, off, data, len);
	} else if (in(off, len, VIRTIO_PCI_ISR_OFF, 4)) {
		if (!is_write && off == VIRTIO_PCI_ISR_OFF) /* reading it acknowledges */
			*(uint8_t *)data = (uint8_t)atomic_exchange(&d->isr, 0);
	} else if (in(off, len, VIRTIO_PCI_DEVCFG_OFF, 0x1000)) {
		virtio_dev_config_access(d, off - VIRTIO_PCI_DEVCFG_OFF, data, len, is_write);
	} else if (in(off, len, VIRTIO_PCI_NOTIFY_OFF, VIRTIO_PCI_NOTIFY_MULT * d->ops->nr_queues)) {
		if (is_write)
			notify_by_exit(t, (unsigned int)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT));
	} else if (in(off, len, VIRTIO_PCI_MSIX_OFF, 16 * VIRTIO_PCI_VECTORS) && len == 4) {
		if (is_write)
			msix_table_write(t, off - VIRTIO_PCI_MSIX_OFF, val);
		else
			put32(data, msix_table_read(t, off - VIRTIO_PCI_MSIX_OFF));
	} else if (in(off, len, VIRTIO_PCI_PBA_OFF, 8) && !is_write) {
		uint64_t pba = t->pending;
		memcpy(data, (uint8_t *)&pba + (off - VIRTIO_PCI_PBA_OFF), len);
	}
}

static void bar_io(struct pci_func *f, unsigned int bar, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct virtio_pci *t = f->opaque;
	(void)bar; /* BAR 0 is the only one */
	pthread_mutex_lock(&t->dev->lock);
	bar_access(t, off, data, len, is_write);
	pthread_mutex_unlock(&t->dev->lock);
}

/* --- config space: MSI-X control and the PCI-config access window -------------------- */

static bool overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t size)
{
	return off < start + size && start < off + len;
}

/* The window's access, if its bar/offset/length make one: the spec allows 1, 2 or 4 bytes,
 * naturally aligned, inside BAR 0. */
static bool window_access(const struct pci_func *f, uint8_t cap, uint32_t *off, uint32_t *len)
{
	*off = get32(f->cfg + cap + 8);
	*len = get32(f->cfg + cap + 12);
	return f->cfg[cap + 4] == 0 && (*len == 1 || *len == 2 || *len == 4) && *off % *len == 0 &&
	       *off <= VIRTIO_PCI_BAR_SIZE - *len;
}

static void config_written(struct pci_func *f, uint32_t off, uint32_t len)
{
	struct virtio_pci *t = f->opaque;
	pthread_mutex_lock(&t->dev->lock);
	if (overlaps(off, len, t->msix_cap + 2u, 2)) {
		uint16_t ctrl = (uint16_t)(f->cfg[t->msix_cap + 2] | f->cfg[t->msix_cap + 3] << 8);
		t->msix_enabled = ctrl & MSIX_CTRL_ENABLE;
		t->msix_masked = ctrl & MSIX_CTRL_MASKALL;
		deliver_pending(t);
	}
	uint32_t woff, wlen;
	if (overlaps(off, len, t->cfg_cap + 16u, 4) && window_access(f, t->cfg_cap, &woff, &wlen))
		bar_access(t, woff, f->cfg + t->cfg_cap + 16, wlen, true);
	pthread_mutex_unlock(&t->dev->lock);
}

static bool config_read(struct pci_func *f, uint32_t off, void *data, uint32_t len)
{
	struct virtio_pci *t = f->opaque;
	uint32_t woff, wlen;
	if (!overlaps(off, len, t->cfg_cap + 16u, 4) || !window_access(f, t->cfg_cap, &woff, &wlen))
		return false;
	uint8_t window[4] = { 0 };
	pthread_mutex_lock(&t->dev->lock);
	bar_access(t, woff, window, wlen, false);
	pthread_mutex_unlock(&t->dev->lock);
	uint8_t cfg[PCI_CFG_SIZE]; /* the read sees the window's bytes in place */
	memcpy(cfg, f->cfg, PCI_CFG_SIZE);
	memcpy(cfg + t->cfg_cap + 16, window, 4);
	memcpy(data, cfg + off, len);
	return true;
}

/* --- notifications: ioeventfds at the BAR's current place ---------------------------- */

static int ioeventfd(struct virtio_pci *t, unsigned int q, uint64_t base, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = base + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, .len = 2,
		.fd = t->notify[q].fd, .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	return ioctl(t->dev->host->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Only queues whose ioeventfd KVM took are rung through it; the others (an address
 * another device claims) still work through vCPU exits. */
static void bar_moved(struct pci_func *f, unsigned int bar, uint64_t addr)
{
	struct virtio_pci *t = f->opaque;
	(void)bar;
	for (unsigned int q = 0; q < t->dev->ops->nr_queues && t->notify_addr; q++)
		if (t->notify[q].fd >= 0)
			ioeventfd(t, q, t->notify_addr, false);
	t->notify_addr = addr;
	for (unsigned int q = 0; q < t->dev->ops->nr_queues && addr; q++)
		if (t->notify[q].fd >= 0)
			ioeventfd(t, q, addr, true);
}

static const struct pci_func_ops virtio_pci_ops = {
	.bar_io = bar_io, .config_written = config_written, .config_read = config_read,
	.bar_moved = bar_moved,
};

/* --- setup --------------------------------------------------------------------------- */

static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK: return 0x018000;  /* mass storage, other */
	case VIRTIO_ID_NET: return 0x020000;    /* ethernet */
	default: return 0xff0000;               /* unassigned class */
	}
}

static void add_caps(struct virtio_pci *t)
{
	struct pci_func *f = &t->func;
	struct virtio_dev *d = t->dev;
	struct virtio_pci_cap c = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(c), .bar = 0 };
	c.cfg_type = VIRTIO_PCI_CAP_COMMON_CFG, c.offset = VIRTIO_PCI_COMMON_OFF, c.length = VIRTIO_PCI_COMMON_LEN;
	pci_func_add_cap(f, &c, sizeof(c));
	struct virtio_pci_notify_cap n = { .cap = c, .notify_off_multiplier = VIRTIO_PCI_NOTIFY_MULT };
	n.cap.cap_len = sizeof(n), n.cap.cfg_type = VIRTIO_PCI_CAP_NOTIFY_CFG;
	n.cap.offset = VIRTIO_PCI_NOTIFY_OFF, n.cap.length = VIRTIO_PCI_NOTIFY_MULT * d->ops->nr_queues;
	pci_func_add_cap(f, &n, sizeof(n));
	c.cfg_type = VIRTIO_PCI_CAP_ISR_CFG, c.offset = VIRTIO_PCI_ISR_OFF, c.length = 1;
	pci_func_add_cap(f, &c, sizeof(c));
	if (d->config_len) {
		c.cfg_type = VIRTIO_PCI_CAP_DEVICE_CFG, c.offset = VIRTIO_PCI_DEVCFG_OFF, c.length = d->config_len;
		pci_func_add_cap(f, &c, sizeof(c));
	}
	struct virtio_pci_cfg_cap w = { .cap = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(w),
						 .cfg_type = VIRTIO_PCI_CAP_PCI_CFG } };
	t->cfg_cap = pci_func_add_cap(f, &w, sizeof(w));
	memset(f->wmask + t->cfg_cap + 4, 0xff, 1);  /* bar */
	memset(f->wmask + t->cfg_cap + 8, 0xff, 12); /* offset, length, data */
	uint8_t m[12] = { PCI_CAP_ID_MSIX, 0, VIRTIO_PCI_VECTORS - 1, 0 };
	put32(m + 4, VIRTIO_PCI_MSIX_OFF); /* BIR 0 */
	put32(m + 8, VIRTIO_PCI_PBA_OFF);
	t->msix_cap = pci_func_add_cap(f, m, sizeof(m));
	f->wmask[t->msix_cap + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
}

static int setup_vector(struct virtio_pci *t, unsigned int v)
{
	const struct virtio_host *h = t->dev->host;
	int e = h->msi_alloc(h->ctx, &t->gsi[v]);
	int fd = e ? e : virtio_irqfd_open(h->vm_fd, t->gsi[v]);
	if (fd < 0)
		return fd;
	t->irq_fd[v] = fd;
	return 0;
}

static int setup_notify(struct virtio_pci *t, unsigned int q)
{
	const struct virtio_host *h = t->dev->host;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	t->notify[q].fd = fd;
	return h->watch(h->ctx, fd, EPOLLIN, virtio_notifier_ready, &t->notify[q]);
}

int virtio_pci_init(struct virtio_pci *t, struct virtio_dev *dev)
{
	*t = (struct virtio_pci){ .dev = dev };
	for (unsigned int i = 0; i < VIRTIO_PCI_VECTORS; i++)
		t->irq_fd[i] = -1;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->notify[q] = (struct virtio_notifier){ dev, q, -1 };
	reset_transport(t);
	uint16_t id = (uint16_t)dev->ops->device_id;
	pci_func_init(&t->func, dev->name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + id),
		      class_of(id), VIRTIO_PCI_VENDOR, id);
	t->func.ops = &virtio_pci_ops;
	t->func.opaque = t;
	pci_func_add_bar(&t->func, 0, VIRTIO_PCI_BAR_SIZE);
	add_caps(t);
	dev->interrupt = interrupt;
	dev->transport = t;
	const struct virtio_host *h = dev->host;
	if (h->vm_fd < 0)
		return 0; /* unit tests and fuzzing: registers only */
	if (!h->msi_alloc || !h->msi_route)
		return -EOPNOTSUPP;
	for (unsigned int v = 0; v < dev->ops->nr_queues + 1u; v++) {
		int e = setup_vector(t, v);
		if (e)
			return e;
	}
	for (unsigned int q = 0; q < dev->ops->nr_queues && h->watch; q++) {
		int e = setup_notify(t, q);
		if (e)
			return e;
	}
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (t->notify[q].fd < 0)
			continue;
		if (t->notify_addr)
			ioeventfd(t, q, t->notify_addr, false);
		close(t->notify[q].fd);
		t->notify[q].fd = -1;
	}
	/* Closing an irqfd's eventfd detaches it from KVM (it sees the hang-up). */
	for (unsigned int v = 0; v < VIRTIO_PCI_VECTORS; v++) {
		if (t->irq_fd[v] >= 0)
			close(t->irq_fd[v]);
		t->irq_fd[v] = -1;
	}
}

/* --- snapshots ----------------------------------------------------------------------- */

void virtio_pci_save(struct virtio_pci *t, struct pci_bus *b, struct virtio_pci_state *st)
{
	memset(st, 0, sizeof(*st));
	pci_func_save(b, &t->func, &st->func);
	pthread_mutex_lock(&t->dev->lock);
	st->device_features_sel = t->device_features_sel;
	st->driver_features_sel = t->driver_features_sel;
	st->queue_sel = t->queue_sel;
	st->config_vector = t->config_vector;
	memcpy(st->queue_vector, t->queue_vector, sizeof(st->queue_vector));
	memcpy(st->msix, t->msix, sizeof(st->msix));
	st->pending = t->pending;
	pthread_mutex_unlock(&t->dev->lock);
}

int virtio_pci_restore(struct virtio_pci *t, struct pci_bus *b, const struct virtio_pci_state *st,
		       const char **why)
{
	int e = pci_func_restore(b, &t->func, &st->func, why);
	if (e)
		return e;
	pthread_mutex_lock(&t->dev->lock);
	t->device_features_sel = st->device_features_sel;
	t->driver_features_sel = st->driver_features_sel;
	t->queue_sel = st->queue_sel;
	t->config_vector = vector_or_none(st->config_vector);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = vector_or_none(st->queue_vector[q]);
	for (unsigned int v = 0; v < VIRTIO_PCI_VECTORS; v++) {
		t->msix[v] = st->msix[v];
		t->msix[v].ctrl &= MSIX_ENTRY_MASKED;
		t->routed[v] = false;
	}
	t->pending = st->pending & ((1u << VIRTIO_PCI_VECTORS) - 1);
	uint16_t ctrl = (uint16_t)(t->func.cfg[t->msix_cap + 2] | t->func.cfg[t->msix_cap + 3] << 8);
	t->msix_enabled = ctrl & MSIX_CTRL_ENABLE;
	t->msix_masked = ctrl & MSIX_CTRL_MASKALL;
	for (unsigned int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		if (!(t->msix[v].ctrl & MSIX_ENTRY_MASKED))
			route_vector(t, v);
	pthread_mutex_unlock(&t->dev->lock);
	return 0;
}
