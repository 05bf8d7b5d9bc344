/* PCI bus 0: a host bridge and up to 31 single-function devices, their configuration
 * space reached through ECAM (a 1 MiB MMIO window, described by ACPI MCFG or the device
 * tree) and on x86 also through the legacy ports 0xcf8/0xcfc, and their 32-bit memory BARs
 * decoded inside one MMIO window the bus owns. The bus keeps every function's config
 * header: the driver writes only the bits a function marks writable, BARs read back their
 * size mask, and a BAR decodes only while memory decoding is on and it lies wholly inside
 * the window, so a driver that misprograms them loses its device, never the VMM.
 *
 * The bus registers nothing itself: the caller puts pci_ecam_io, pci_cf8_io and
 * pci_window_io on its buses. */
#ifndef PAGODA_DEVICES_PCI_H
#define PAGODA_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_MAX_DEVICES 32      /* device numbers on bus 0; 0 is the host bridge */
#define PCI_CFG_SIZE 256        /* conventional config space; ECAM's rest reads 0 */
#define PCI_ECAM_SIZE (1u << 20) /* bus 0 only */
#define PCI_NR_BARS 6
#define PCI_CF8_PORT 0xcf8
#define PCI_CF8_LEN 8           /* 0xcf8 address, 0xcfc-0xcff data */

/* Config header offsets and bits pagoda uses. */
enum {
	PCI_VENDOR = 0x00, PCI_DEVICE = 0x02, PCI_COMMAND = 0x04, PCI_STATUS = 0x06,
	PCI_REVISION = 0x08, PCI_CLASS = 0x09, PCI_HEADER_TYPE = 0x0e, PCI_BAR0 = 0x10,
	PCI_SUBSYS_VENDOR = 0x2c, PCI_SUBSYS_ID = 0x2e, PCI_CAP_PTR = 0x34,
	PCI_INT_LINE = 0x3c, PCI_INT_PIN = 0x3d,
};
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

struct pci_func;

struct pci_func_ops {
	/* An access to [off, off+len) of BAR bar (lock of the bus held for reading). */
	void (*bar_io)(struct pci_func *f, unsigned int bar, uint64_t off, void *data, uint32_t len,
		       bool is_write);
	/* The driver wrote config bytes [off, off+len) (already applied through the write
	 * mask; lock of the bus held for writing): capabilities react here. Optional. */
	void (*config_written)(struct pci_func *f, uint32_t off, uint32_t len);
	/* Reading config bytes [off, off+len): a function whose config reads have effects
	 * fills data itself and returns true. Optional. */
	bool (*config_read)(struct pci_func *f, uint32_t off, void *data, uint32_t len);
	/* Where BAR bar decodes changed (0: nowhere now): move what KVM knows of it
	 * (ioeventfds). Optional. */
	void (*bar_moved)(struct pci_func *f, unsigned int bar, uint64_t addr);
};

struct pci_func {
	const struct pci_func_ops *ops;
	void *opaque;
	uint8_t cfg[PCI_CFG_SIZE];      /* what the driver reads */
	uint8_t wmask[PCI_CFG_SIZE];    /* bits the driver may change */
	uint32_t bar_size[PCI_NR_BARS]; /* 0: no BAR; else a power of two >= 4 KiB */
	uint64_t bar_decoded[PCI_NR_BARS]; /* where it decodes now, 0: nowhere */
	uint8_t cap_end;                /* where the next capability goes */
	unsigned int devfn;
	char name[32];
};

struct pci_bus {
	pthread_rwlock_t lock;
	uint64_t window_base, window_size; /* where BARs may decode */
	uint64_t next_bar;                 /* the next free address, for pci_bus_add */
	uint32_t cf8;                      /* the legacy address latch */
	struct pci_func *funcs[PCI_MAX_DEVICES];
	struct pci_func host_bridge;
};

void pci_bus_init(struct pci_bus *b, uint64_t window_base, uint64_t window_size);
void pci_bus_destroy(struct pci_bus *b);

/* The header of a function pagoda offers: vendor, device, class (24 bits), subsystem;
 * a status with the capability list, the rest 0 and read-only. */
void pci_func_init(struct pci_func *f, const char *name, uint16_t vendor, uint16_t device,
		   uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id);
/* A 32-bit memory BAR of size bytes (a power of two, at least 4 KiB). */
void pci_func_add_bar(struct pci_func *f, unsigned int bar, uint32_t size);
/* Links a capability of len bytes (id first, next pointer filled in) into the list;
 * returns its offset in config space, 0 if it does not fit. */
uint8_t pci_func_add_cap(struct pci_func *f, const void *cap, uint8_t len);

/* Puts f on the next free device number and its BARs at the next free addresses of the
 * window, as firmware would (memory decoding off until the driver turns it on). -ENOSPC
 * when the bus or the window is full. */
int pci_bus_add(struct pci_bus *b, struct pci_func *f);

/* Bus callbacks (struct bus_range's io): ECAM window, legacy ports, BAR window. */
void pci_ecam_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write);
void pci_cf8_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write);
void pci_window_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write);

/* A config access of function devfn (bus 0), as from ECAM; for tests and fuzzing. */
void pci_config_access(struct pci_bus *b, unsigned int devfn, uint32_t off, void *data, uint32_t len,
		       bool is_write);

/* For snapshots: the header and where BARs decode are all of a function's bus state. */
struct pci_func_state {
	uint8_t cfg[PCI_CFG_SIZE];
};
void pci_func_save(struct pci_bus *b, struct pci_func *f, struct pci_func_state *st);
/* Takes only what the write mask allows (read-only bytes must match: -EINVAL with why). */
int pci_func_restore(struct pci_bus *b, struct pci_func *f, const struct pci_func_state *st,
		     const char **why);

#endif
