/* PCI config space and the virtio-pci transport as a hostile driver drives them: the
 * input is a list of accesses (ECAM, ports 0xcf8-0xcff, the BAR window; any offset,
 * length and value) against bus 0 with a host bridge and a virtio-rng (its rings in the
 * fuzzer's guest RAM), then a save and a restore of the transport's state as the input
 * left it. After every access the read-only header must be intact and every decoding BAR
 * inside the window. */
#include <stdint.h>
#include <string.h>

#include "../../devices/pci.h"
#include "../../virtio/pci.h"
#include "../../virtio/rng.h"
#include "fuzz_common.h"

#define WINDOW 0xd0000000ULL
#define WINDOW_SIZE 0x10000000ULL

struct op {
	uint8_t kind, len;
	uint16_t devfn_or_port;
	uint32_t offset, value;
} __attribute__((packed));

static void access(struct pci_bus *b, const struct op *o)
{
	uint32_t len = 1u << (o->len % 4); /* 1, 2, 4, 8 */
	uint8_t data[8] = { 0 };
	memcpy(data, &o->value, 4);
	bool write = o->kind & 0x80;
	switch (o->kind % 3) {
	case 0: pci_ecam_io(b, ((uint64_t)o->devfn_or_port << 12 | (o->offset & 0xfff)) % (PCI_ECAM_SIZE + 0x1000),
			    data, len, write); break;
	case 1: pci_cf8_io(b, o->devfn_or_port % PCI_CF8_LEN, data, len, write); break;
	case 2: pci_window_io(b, (uint64_t)o->offset % WINDOW_SIZE, data, len, write); break;
	}
}

static void check_invariants(const struct pci_bus *b, const struct virtio_pci *t)
{
	if (memcmp(t->func.cfg, "\xf4\x1a\x44\x10", 4))
		__builtin_trap();
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		uint64_t at = t->func.bar_decoded[i];
		if (at && (at < b->window_base || at + t->func.bar_size[i] > b->window_base + b->window_size))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtio_host host;
	host = (struct virtio_host){ .mem = fuzz_mem(), .vm_fd = -1 };
	struct virtio_dev *d = virtio_rng_create(&host);
	static struct virtio_pci t;
	static struct pci_bus b;
	pci_bus_init(&b, WINDOW, WINDOW_SIZE);
	if (!d || virtio_pci_init(&t, d) || pci_bus_add(&b, &t.func))
		__builtin_trap();
	for (size_t off = 0; off + sizeof(struct op) <= size; off += sizeof(struct op)) {
		struct op o;
		memcpy(&o, data + off, sizeof(o));
		access(&b, &o);
		check_invariants(&b, &t);
	}
	struct virtio_pci_state st;
	virtio_pci_save(&t, &b, &st);
	const char *why;
	if (virtio_pci_restore(&t, &b, &st, &why)) /* its own state must always come back */
		__builtin_trap();
	check_invariants(&b, &t);
	virtio_pci_destroy(&t);
	d->ops->destroy(d);
	pci_bus_destroy(&b);
	return 0;
}
