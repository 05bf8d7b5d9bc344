#include "pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CAP_START 0x40
#define BAR_TYPE_BITS 0xfu     /* memory, 32-bit, not prefetchable: all 0, read-only */
#define CF8_ENABLE (1u << 31)

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

void pci_func_init(struct pci_func *f, const char *name, uint16_t vendor, uint16_t device,
		   uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	put16(f->cfg + PCI_VENDOR, vendor);
	put16(f->cfg + PCI_DEVICE, device);
	put16(f->cfg + PCI_STATUS, PCI_STATUS_CAP_LIST);
	f->cfg[PCI_REVISION] = 1;
	f->cfg[PCI_CLASS] = (uint8_t)class_code;
	f->cfg[PCI_CLASS + 1] = (uint8_t)(class_code >> 8);
	f->cfg[PCI_CLASS + 2] = (uint8_t)(class_code >> 16);
	put16(f->cfg + PCI_SUBSYS_VENDOR, subsys_vendor);
	put16(f->cfg + PCI_SUBSYS_ID, subsys_id);
	put16(f->wmask + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	f->wmask[PCI_INT_LINE] = 0xff; /* scratch for the OS; no INTx pin */
	f->cap_end = CAP_START;
}

void pci_func_add_bar(struct pci_func *f, unsigned int bar, uint32_t size)
{
	f->bar_size[bar] = size;
	put32(f->wmask + PCI_BAR0 + 4 * bar, ~(size - 1) & ~BAR_TYPE_BITS);
}

uint8_t pci_func_add_cap(struct pci_func *f, const void *cap, uint8_t len)
{
	unsigned int at = (f->cap_end + 3u) & ~3u;
	if (len < 2 || at + len > PCI_CFG_SIZE)
		return 0;
	memcpy(f->cfg + at, cap, len);
	f->cfg[at + 1] = 0;
	/* The new one goes last: find the current last's next pointer. */
	uint8_t *link = f->cfg + PCI_CAP_PTR;
	while (*link)
		link = f->cfg + *link + 1;
	*link = (uint8_t)at;
	f->cap_end = (uint8_t)(at + len < PCI_CFG_SIZE ? at + len : PCI_CFG_SIZE - 1);
	return (uint8_t)at;
}

void pci_bus_init(struct pci_bus *b, uint64_t window_base, uint64_t window_size)
{
	memset(b, 0, sizeof(*b));
	pthread_rwlock_init(&b->lock, NULL);
	b->window_base = window_base;
	b->window_size = window_size;
	b->next_bar = window_base;
	/* Red Hat's "QEMU PCIe host bridge" IDs: guests know them as a plain host bridge. */
	pci_func_init(&b->host_bridge, "pci host bridge", 0x1b36, 0x0008, 0x060000, 0x1b36, 0x0008);
	put16(b->host_bridge.cfg + PCI_STATUS, 0);
	b->funcs[0] = &b->host_bridge;
}

void pci_bus_destroy(struct pci_bus *b)
{
	pthread_rwlock_destroy(&b->lock);
}

int pci_bus_add(struct pci_bus *b, struct pci_func *f)
{
	unsigned int dev = 1;
	while (dev < PCI_MAX_DEVICES && b->funcs[dev])
		dev++;
	if (dev == PCI_MAX_DEVICES)
		return -ENOSPC;
	uint64_t at = b->next_bar;
	uint32_t addr[PCI_NR_BARS] = { 0 };
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		uint32_t size = f->bar_size[i];
		if (!size)
			continue;
		at = (at + size - 1) & ~(uint64_t)(size - 1);
		if (at + size > b->window_base + b->window_size)
			return -ENOSPC;
		addr[i] = (uint32_t)at;
		at += size;
	}
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		put32(f->cfg + PCI_BAR0 + 4 * i, addr[i]);
	b->next_bar = at;
	f->devfn = dev << 3;
	b->funcs[dev] = f;
	return 0;
}

static struct pci_func *func_at(struct pci_bus *b, unsigned int devfn)
{
	return devfn % 8 || devfn / 8 >= PCI_MAX_DEVICES ? NULL : b->funcs[devfn / 8];
}

/* Where a BAR decodes: memory decoding on and the BAR wholly inside the window. */
static uint64_t bar_decode(const struct pci_bus *b, const struct pci_func *f, unsigned int bar)
{
	uint32_t size = f->bar_size[bar];
	uint64_t addr = get32(f->cfg + PCI_BAR0 + 4 * bar) & ~(uint64_t)BAR_TYPE_BITS;
	if (!size || !(get16(f->cfg + PCI_COMMAND) & PCI_COMMAND_MEMORY) || addr < b->window_base ||
	    addr + size > b->window_base + b->window_size)
		return 0;
	return addr;
}

static void update_decoding(struct pci_bus *b, struct pci_func *f)
{
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		uint64_t now = bar_decode(b, f, i);
		if (now == f->bar_decoded[i])
			continue;
		f->bar_decoded[i] = now;
		if (f->ops && f->ops->bar_moved)
			f->ops->bar_moved(f, i, now);
	}
}

static bool access_ok(uint32_t off, uint32_t len)
{
	return (len == 1 || len == 2 || len == 4) && off % len == 0 && off < PCI_CFG_SIZE;
}

/* Called with the lock held for writing. */
static void config_write(struct pci_bus *b, struct pci_func *f, uint32_t off, const uint8_t *v, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		f->cfg[off + i] = (uint8_t)((f->cfg[off + i] & ~f->wmask[off + i]) | (v[i] & f->wmask[off + i]));
	if (f->ops && f->ops->config_written)
		f->ops->config_written(f, off, len);
	update_decoding(b, f);
}

void pci_config_access(struct pci_bus *b, unsigned int devfn, uint32_t off, void *data, uint32_t len,
		       bool is_write)
{
	if (!is_write)
		memset(data, 0xff, len); /* nothing there: all ones, as on real buses */
	if (is_write)
		pthread_rwlock_wrlock(&b->lock);
	else
		pthread_rwlock_rdlock(&b->lock);
	struct pci_func *f = func_at(b, devfn);
	if (f && off >= PCI_CFG_SIZE && !is_write && len <= 4) {
		memset(data, 0, len); /* no extended capabilities */
	} else if (f && access_ok(off, len)) {
		if (is_write)
			config_write(b, f, off, data, len);
		else if (!(f->ops && f->ops->config_read && f->ops->config_read(f, off, data, len)))
			memcpy(data, f->cfg + off, len);
	}
	pthread_rwlock_unlock(&b->lock);
}

void pci_ecam_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	if (offset >= PCI_ECAM_SIZE) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(opaque, (unsigned int)(offset >> 12), (uint32_t)(offset & 0xfff), data, len, is_write);
}

void pci_cf8_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct pci_bus *b = opaque;
	if (offset < 4) {
		/* The address latch takes whole dwords only (byte writes are how guests probe
		 * for the older mechanism #2, which pagoda does not have). */
		if (offset == 0 && len == 4) {
			if (is_write)
				memcpy(&b->cf8, data, 4);
			else
				memcpy(data, &b->cf8, 4);
		} else if (!is_write) {
			memset(data, 0xff, len);
		}
		return;
	}
	uint32_t cf8 = b->cf8;
	uint32_t reg = (cf8 & 0xfc) + (uint32_t)(offset - 4);
	if (!(cf8 & CF8_ENABLE) || (cf8 >> 16 & 0xff) != 0 || reg % len) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(b, cf8 >> 8 & 0xff, reg, data, len, is_write);
}

void pci_window_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct pci_bus *b = opaque;
	uint64_t addr = b->window_base + offset;
	pthread_rwlock_rdlock(&b->lock);
	for (unsigned int d = 1; d < PCI_MAX_DEVICES; d++) {
		struct pci_func *f = b->funcs[d];
		for (unsigned int i = 0; f && i < PCI_NR_BARS; i++) {
			uint64_t base = f->bar_decoded[i];
			if (!base || addr < base || addr + len > base + f->bar_size[i])
				continue;
			f->ops->bar_io(f, i, addr - base, data, len, is_write);
			pthread_rwlock_unlock(&b->lock);
			return;
		}
	}
	pthread_rwlock_unlock(&b->lock);
	if (!is_write)
		memset(data, 0xff, len);
}

void pci_func_save(struct pci_bus *b, struct pci_func *f, struct pci_func_state *st)
{
	pthread_rwlock_rdlock(&b->lock);
	memcpy(st->cfg, f->cfg, PCI_CFG_SIZE);
	pthread_rwlock_unlock(&b->lock);
}

int pci_func_restore(struct pci_bus *b, struct pci_func *f, const struct pci_func_state *st,
		     const char **why)
{
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++) {
		if ((st->cfg[i] ^ f->cfg[i]) & ~f->wmask[i]) {
			*why = "its saved PCI config space differs from this device's in read-only bits";
			return -EINVAL;
		}
	}
	pthread_rwlock_wrlock(&b->lock);
	memcpy(f->cfg, st->cfg, PCI_CFG_SIZE);
	update_decoding(b, f);
	pthread_rwlock_unlock(&b->lock);
	return 0;
}
