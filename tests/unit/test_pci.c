/* PCI bus 0 as a driver sees it through ECAM and ports 0xcf8/0xcfc: the host bridge and
 * a virtio-rng function, read-only bits that stay, a BAR that sizes, decodes only with
 * memory decoding on and inside the window, follows a move; the legacy latch; a saved
 * header that comes back, and one with other read-only bits that is refused. */
#include <stdlib.h>

#include "../../devices/pci.h"
#include "../../virtio/pci.h"
#include "../../virtio/rng.h"
#include "check.h"

#define WINDOW 0xd0000000ULL
#define WINDOW_SIZE 0x10000000ULL

static struct pci_bus bus;

static uint32_t ecam32(unsigned int dev, uint32_t off)
{
	uint32_t v;
	pci_ecam_io(&bus, (uint64_t)dev << 15 | off, &v, 4, false);
	return v;
}

static void ecam_w(unsigned int dev, uint32_t off, uint32_t v, uint32_t len)
{
	pci_ecam_io(&bus, (uint64_t)dev << 15 | off, &v, len, true);
}

static uint32_t cf8_read(uint32_t addr)
{
	uint32_t v;
	pci_cf8_io(&bus, 0, &addr, 4, true);
	pci_cf8_io(&bus, 4, &v, 4, false);
	return v;
}

static uint32_t window32(uint64_t addr)
{
	uint32_t v;
	pci_window_io(&bus, addr - WINDOW, &v, 4, false);
	return v;
}

int main(void)
{
	struct virtio_host host = { .vm_fd = -1 };
	struct virtio_dev *rng = virtio_rng_create(&host);
	static struct virtio_pci t;
	pci_bus_init(&bus, WINDOW, WINDOW_SIZE);
	CHECK(rng && virtio_pci_init(&t, rng) == 0 && pci_bus_add(&bus, &t.func) == 0);

	CHECK_EQ(ecam32(0, 0), 0x00081b36);
	CHECK_EQ(ecam32(1, 0), 0x10441af4);
	CHECK_EQ(ecam32(2, 0), 0xffffffff);                /* an empty slot */
	CHECK_EQ(ecam32(1, 0x100), 0);                    /* extended config space: none */
	CHECK_EQ(cf8_read(0x80000800), 0x10441af4);         /* bus 0, device 1 */
	CHECK_EQ(cf8_read(0x00000800), 0xffffffff);         /* enable bit clear */
	CHECK_EQ(cf8_read(0x80010800), 0xffffffff);         /* bus 1 */

	ecam_w(1, 0, 0x12345678, 4);                        /* IDs are read-only */
	CHECK_EQ(ecam32(1, 0), 0x10441af4);
	uint32_t bar = ecam32(1, PCI_BAR0);
	CHECK(bar >= WINDOW && bar < WINDOW + WINDOW_SIZE);
	ecam_w(1, PCI_BAR0, 0xffffffff, 4);
	CHECK_EQ(ecam32(1, PCI_BAR0), (uint32_t)~(VIRTIO_PCI_BAR_SIZE - 1));
	ecam_w(1, PCI_BAR0, bar, 4);
	CHECK_EQ(window32(bar + VIRTIO_PCI_COMMON_OFF + 0x10), 0xffffffff); /* decoding off */
	ecam_w(1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	CHECK_EQ(window32(bar + VIRTIO_PCI_COMMON_OFF + 0x10) >> 16, 1);   /* num_queues */
	CHECK_EQ(t.func.bar_decoded[0], bar);
	ecam_w(1, PCI_BAR0, 0x00200000, 4);                 /* outside the window */
	CHECK_EQ(t.func.bar_decoded[0], 0);
	CHECK_EQ(window32(bar + 0x10), 0xffffffff);
	ecam_w(1, PCI_BAR0, (uint32_t)WINDOW + 0x100000, 4); /* moved: decodes there */
	CHECK_EQ(t.func.bar_decoded[0], WINDOW + 0x100000);
	CHECK_EQ(window32(WINDOW + 0x100000 + 0x10) >> 16, 1);

	uint32_t v = 0xffffffff;                            /* misaligned: ignored */
	pci_ecam_io(&bus, 1 << 15 | 2, &v, 4, false);
	CHECK_EQ(v, 0xffffffff);

	struct virtio_pci_state st;
	virtio_pci_save(&t, &bus, &st);
	ecam_w(1, PCI_COMMAND, 0, 2);
	const char *why = "";
	CHECK_EQ(virtio_pci_restore(&t, &bus, &st, &why), 0);
	CHECK_EQ(t.func.bar_decoded[0], WINDOW + 0x100000);
	st.func.cfg[PCI_DEVICE] ^= 1;
	CHECK(virtio_pci_restore(&t, &bus, &st, &why) == -EINVAL);
	CHECK_MSG(why, "read-only bits");

	virtio_pci_destroy(&t);
	rng->ops->destroy(rng);
	pci_bus_destroy(&bus);
	return check_result("pci");
}
