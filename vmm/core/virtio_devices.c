#include "virtio_devices.h"

#include <errno.h>
#include <string.h>

#include "../../virtio/balloon.h"
#include "../../virtio/blk.h"
#include "../../virtio/net.h"
#include "../../virtio/p9.h"
#include "../../virtio/virtiofs.h"
#include "../../virtio/rng.h"

static const uint32_t virtio_irqs[MACHINE_MAX_VIRTIO] = MACHINE_ARCH_VIRTIO_IRQS;

static int irq_pulse(void *ctx, uint32_t gsi)
{
	struct virtio_devices *v = ctx;
	int e = vm_irq_line(v->vm, gsi, 1);
	return e ? e : vm_irq_line(v->vm, gsi, 0);
}

static int watch(void *ctx, int fd, uint32_t events, virtio_watch_fn fn, void *opaque)
{
	struct virtio_devices *v = ctx;
	return io_thread_watch(&v->io, fd, events, fn, opaque);
}

static int rewatch(void *ctx, int fd, uint32_t events)
{
	struct virtio_devices *v = ctx;
	return io_thread_rewatch(&v->io, fd, events);
}

static int msi_alloc(void *ctx, uint32_t *gsi)
{
	struct virtio_devices *v = ctx;
	return irq_routes_msi_alloc(&v->vm->routes, gsi);
}

static int msi_route(void *ctx, uint32_t gsi, uint64_t addr, uint32_t data, uint32_t devid)
{
	struct virtio_devices *v = ctx;
	return irq_routes_msi_set(&v->vm->routes, gsi, addr, data, devid);
}

static int attach_pci(struct virtio_devices *v, struct virtio_slot *s, char *err, size_t errlen)
{
	int e = virtio_pci_init(&s->pci, s->dev);
	s->transport_inited = true;
	if (!e)
		e = pci_bus_add(&v->pci, &s->pci.func);
	if (e)
		snprintf(err, errlen, "%s: setting up its virtio-pci transport: %s", s->dev->name, strerror(-e));
	return e;
}

static int attach(struct virtio_devices *v, struct vm *vm, enum virtio_kind kind, struct virtio_dev *dev,
		  char *err, size_t errlen)
{
	unsigned int i = v->nr++;
	struct virtio_slot *s = &v->slots[i];
	*s = (struct virtio_slot){ .kind = kind, .dev = dev };
	if (v->pci_on)
		return attach_pci(v, s, err, errlen);
	uint64_t base = MACHINE_ARCH_VIRTIO_GPA + i * MACHINE_ARCH_VIRTIO_STRIDE;
	int e = virtio_mmio_init(&s->mmio, dev, base, virtio_irqs[i]);
	s->transport_inited = true;
	if (!e)
		e = bus_register(&vm->mmio, base, VIRTIO_MMIO_WINDOW, virtio_mmio_io, &s->mmio, dev->name);
	if (e) {
		snprintf(err, errlen, "%s: setting up its virtio-mmio transport: %s", dev->name, strerror(-e));
		return e;
	}
	if (!MACHINE_ARCH_VIRTIO_ON_CMDLINE)
		return 0; /* the device tree names them */
	size_t n = strlen(v->cmdline);
	snprintf(v->cmdline + n, sizeof(v->cmdline) - n, "%svirtio_mmio.device=%u@0x%llx:%u", n ? " " : "",
		 (unsigned int)VIRTIO_MMIO_WINDOW, (unsigned long long)base, virtio_irqs[i]);
	return 0;
}

static int add_disks(struct virtio_devices *v, struct vm *vm, const struct machine_config *cfg,
		     char *err, size_t errlen)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		char name[8] = "vda";
		name[2] = (char)('a' + i);
		struct virtio_blk *b = virtio_blk_create(&v->host, &cfg->disks[i], name, err, errlen);
		if (!b)
			return -EINVAL;
		int e = attach(v, vm, VDEV_BLK, virtio_blk_dev(b), err, errlen);
		if (e)
			return e;
	}
	return 0;
}

/* Bus 0's config space (ECAM; x86 also ports 0xcf8-0xcff) and its BAR window. */
static int setup_pci_bus(struct virtio_devices *v, struct vm *vm, char *err, size_t errlen)
{
	pci_bus_init(&v->pci, MACHINE_ARCH_PCI_MMIO_GPA, MACHINE_ARCH_PCI_MMIO_SIZE);
	v->pci_on = true;
	int e = bus_register(&vm->mmio, MACHINE_ARCH_PCI_ECAM_GPA, PCI_ECAM_SIZE, pci_ecam_io, &v->pci, "pci-ecam");
	if (!e)
		e = bus_register(&vm->mmio, MACHINE_ARCH_PCI_MMIO_GPA, MACHINE_ARCH_PCI_MMIO_SIZE, pci_window_io, &v->pci,
				 "pci-bars");
	if (!e && MACHINE_ARCH_PCI_CF8)
		e = bus_register(&vm->pio, PCI_CF8_PORT, PCI_CF8_LEN, pci_cf8_io, &v->pci, "pci-cf8");
	if (e)
		snprintf(err, errlen, "PCI bus: %s", strerror(-e));
	return e;
}

int virtio_devices_setup(struct virtio_devices *v, struct vm *vm, const struct machine_config *cfg,
			 char *err, size_t errlen)
{
	*v = (struct virtio_devices){ 0 };
	int e = io_thread_init(&v->io);
	if (e) {
		snprintf(err, errlen, "I/O thread: %s", strerror(-e));
		return e;
	}
	v->vm = vm;
	v->host = (struct virtio_host){
		.mem = &vm->mem, .vm_fd = vm->vm_fd, .watch = watch, .rewatch = rewatch,
		.irq_pulse = irq_pulse, .msi_alloc = msi_alloc, .msi_route = msi_route, .ctx = v,
	};
	e = cfg->virtio_transport == VIRTIO_TRANSPORT_PCI ? setup_pci_bus(v, vm, err, errlen) : 0;
	if (!e)
		e = add_disks(v, vm, cfg, err, errlen);
	if (!e && cfg->net_tap) {
		struct virtio_dev *d = virtio_net_create(&v->host, cfg->net_tap, cfg->net_mac_set ? cfg->net_mac : NULL,
							 err, errlen);
		e = d ? attach(v, vm, VDEV_NET, d, err, errlen) : -EINVAL;
	}
	if (!e && cfg->rng) {
		struct virtio_dev *d = virtio_rng_create(&v->host);
		e = d ? attach(v, vm, VDEV_RNG, d, err, errlen) : -ENOMEM;
	}
	if (!e && cfg->balloon) {
		if (cfg->balloon_size >= vm->mem.layout.ram_size) {
			snprintf(err, errlen, "--balloon=%lluM is not less than the guest's memory (%lluM): give a smaller size",
				 (unsigned long long)(cfg->balloon_size >> 20), (unsigned long long)(vm->mem.layout.ram_size >> 20));
			return -EINVAL;
		}
		struct virtio_dev *d = virtio_balloon_create(&v->host, cfg->balloon_size, cfg->balloon_stats_s,
							   cfg->balloon_report);
		e = d ? attach(v, vm, VDEV_BALLOON, d, err, errlen) : -ENOMEM;
	}
	for (unsigned int i = 0; !e && i < cfg->nr_fs; i++) {
		bool fuse = cfg->fs[i].proto == FS_VIRTIOFS;
		struct virtio_dev *d = fuse ? virtio_fs_create(&v->host, &cfg->fs[i], err, errlen)
					    : virtio_p9_create(&v->host, &cfg->fs[i], err, errlen);
		e = d ? attach(v, vm, fuse ? VDEV_VIRTIOFS : VDEV_9P, d, err, errlen) : -EINVAL;
	}
	return e;
}

int virtio_devices_start(struct virtio_devices *v)
{
	return v->nr ? io_thread_start(&v->io) : 0;
}

void virtio_devices_stop(struct virtio_devices *v)
{
	io_thread_stop(&v->io);
}

void virtio_devices_destroy(struct virtio_devices *v)
{
	io_thread_stop(&v->io);
	for (unsigned int i = 0; i < v->nr; i++) {
		struct virtio_slot *s = &v->slots[i];
		if (s->transport_inited && v->pci_on)
			virtio_pci_destroy(&s->pci);
		else if (s->transport_inited)
			virtio_mmio_destroy(&s->mmio);
		s->dev->ops->destroy(s->dev);
	}
	v->nr = 0;
	if (v->pci_on)
		pci_bus_destroy(&v->pci);
	v->pci_on = false;
	io_thread_destroy(&v->io);
}

void virtio_devices_print_stats(struct virtio_devices *v, FILE *out)
{
	for (unsigned int i = 0; i < v->nr; i++) {
		struct virtio_slot *s = &v->slots[i];
		if (s->dev->ops->print_stats)
			s->dev->ops->print_stats(s->dev, out);
		fprintf(out, "stats: %s notifications=%llu interrupts=%llu%s%s\n", s->dev->name,
			(unsigned long long)s->dev->nr_notifies, (unsigned long long)s->dev->nr_interrupts,
			v->pci_on ? " transport=pci" : "", (s->dev->status & 0x40) ? " NEEDS_RESET" : "");
	}
}

void virtio_devices_quiesce(struct virtio_devices *v)
{
	io_thread_stop(&v->io);
	for (unsigned int i = 0; i < v->nr; i++) {
		struct virtio_dev *d = v->slots[i].dev;
		pthread_mutex_lock(&d->lock);
		if (d->ops->quiesce)
			d->ops->quiesce(d);
		pthread_mutex_unlock(&d->lock);
	}
}

int virtio_devices_resume(struct virtio_devices *v)
{
	int e = v->nr && !v->io.started ? io_thread_start(&v->io) : 0;
	if (e) /* every device would stand still with the guest waiting on it */
		vm_request_exit(v->vm, EXIT_VMM_ERROR, "virtio devices: their I/O thread could not restart: %s", strerror(-e));
	return e;
}

void virtio_devices_save(struct virtio_devices *v, unsigned int i, struct virtio_dev_state *st)
{
	struct virtio_dev *d = v->slots[i].dev;
	pthread_mutex_lock(&d->lock);
	virtio_dev_save(d, st);
	pthread_mutex_unlock(&d->lock);
}

int virtio_devices_restore(struct virtio_devices *v, unsigned int i, const struct virtio_dev_state *st,
			   char *err, size_t errlen)
{
	if (i >= v->nr) {
		snprintf(err, errlen, "the state has a virtio device %u this VM lacks", i);
		return -EINVAL;
	}
	struct virtio_dev *d = v->slots[i].dev;
	const char *why = "";
	pthread_mutex_lock(&d->lock);
	int e = virtio_dev_restore(d, st, &why);
	pthread_mutex_unlock(&d->lock);
	if (e)
		snprintf(err, errlen, "%s: %s", d->name, why);
	return e;
}

void virtio_devices_save_pci(struct virtio_devices *v, unsigned int i, struct virtio_pci_state *st)
{
	virtio_pci_save(&v->slots[i].pci, &v->pci, st);
}

int virtio_devices_restore_pci(struct virtio_devices *v, unsigned int i, const struct virtio_pci_state *st,
			       char *err, size_t errlen)
{
	if (i >= v->nr || !v->pci_on) {
		snprintf(err, errlen, "the state has PCI transport state for virtio device %u, and this VM has %s",
			 i, v->pci_on ? "no such device" : "--virtio-transport mmio");
		return -EINVAL;
	}
	const char *why = "";
	int e = virtio_pci_restore(&v->slots[i].pci, &v->pci, st, &why);
	if (e)
		snprintf(err, errlen, "%s: %s", v->slots[i].dev->name, why);
	return e;
}

struct virtio_dev *virtio_devices_find(struct virtio_devices *v, enum virtio_kind kind)
{
	for (unsigned int i = 0; i < v->nr; i++)
		if (v->slots[i].kind == kind)
			return v->slots[i].dev;
	return NULL;
}
