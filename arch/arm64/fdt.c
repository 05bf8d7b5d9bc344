#include "fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "platform.h"

#define PHANDLE_GIC 1
#define PHANDLE_ITS 2
#define FDT_BUF (64 * 1024)

/* Every step of the sequential writer returns <0 on failure; the first failure sticks. */
struct writer {
	void *fdt;
	int err;
};

static void check(struct writer *w, int r)
{
	if (r < 0 && !w->err)
		w->err = r;
}

static void prop_u32(struct writer *w, const char *name, uint32_t v)
{
	check(w, fdt_property_u32(w->fdt, name, v));
}

static void prop_str(struct writer *w, const char *name, const char *s)
{
	check(w, fdt_property_string(w->fdt, name, s));
}

/* reg = <addr size> pairs with #address-cells = #size-cells = 2. */
static void prop_reg(struct writer *w, const uint64_t *pairs, unsigned int n)
{
	fdt64_t cells[2 * 4];
	for (unsigned int i = 0; i < 2 * n && i < 8; i++)
		cells[i] = cpu_to_fdt64(pairs[i]);
	check(w, fdt_property(w->fdt, "reg", cells, (int)(sizeof(cells[0]) * 2 * n)));
}

static void prop_irq(struct writer *w, uint32_t type, uint32_t num, uint32_t flags)
{
	fdt32_t cells[3] = { cpu_to_fdt32(type), cpu_to_fdt32(num), cpu_to_fdt32(flags) };
	check(w, fdt_property(w->fdt, "interrupts", cells, sizeof(cells)));
}

static void begin(struct writer *w, const char *fmt, uint64_t addr)
{
	char name[64];
	snprintf(name, sizeof(name), fmt, (unsigned long long)addr);
	check(w, fdt_begin_node(w->fdt, name));
}

static void end(struct writer *w)
{
	check(w, fdt_end_node(w->fdt));
}

static void add_memory(struct writer *w, const struct mem_layout *l)
{
	for (unsigned int i = 0; i < l->nr_ram; i++) {
		begin(w, "memory@%llx", l->ram[i].gpa);
		prop_str(w, "device_type", "memory");
		uint64_t reg[2] = { l->ram[i].gpa, l->ram[i].size };
		prop_reg(w, reg, 1);
		end(w);
	}
}

static void add_cpus(struct writer *w, const struct arm64_fdt_config *c)
{
	begin(w, "cpus", 0);
	prop_u32(w, "#address-cells", 2);
	prop_u32(w, "#size-cells", 0);
	for (unsigned int i = 0; i < c->nr_cpus; i++) {
		/* The unit address and reg are the affinity fields of MPIDR. */
		uint64_t aff = c->mpidr[i] & 0xff00ffffffULL;
		begin(w, "cpu@%llx", aff);
		prop_str(w, "device_type", "cpu");
		prop_str(w, "compatible", "arm,arm-v8");
		prop_str(w, "enable-method", "psci");
		fdt64_t reg = cpu_to_fdt64(aff);
		check(w, fdt_property(w->fdt, "reg", &reg, sizeof(reg)));
		end(w);
	}
	end(w);
}

static void add_psci(struct writer *w)
{
	static const char compat[] = "arm,psci-1.0\0arm,psci-0.2";
	begin(w, "psci", 0);
	check(w, fdt_property(w->fdt, "compatible", compat, sizeof(compat)));
	prop_str(w, "method", "hvc");
	end(w);
}

/* The ITS: MSIs are writes to its translation register, the device ID from the bridge's
 * msi-map. */
static void add_its(struct writer *w)
{
	begin(w, "msi-controller@%llx", ARM64_GIC_ITS_GPA);
	prop_str(w, "compatible", "arm,gic-v3-its");
	check(w, fdt_property(w->fdt, "msi-controller", NULL, 0));
	prop_u32(w, "#msi-cells", 1);
	uint64_t reg[2] = { ARM64_GIC_ITS_GPA, ARM64_GIC_ITS_SIZE };
	prop_reg(w, reg, 1);
	prop_u32(w, "phandle", PHANDLE_ITS);
	end(w);
}

static void add_gic(struct writer *w, const struct arm64_fdt_config *c)
{
	begin(w, "intc@%llx", ARM64_GIC_DIST_GPA);
	prop_str(w, "compatible", "arm,gic-v3");
	prop_u32(w, "#interrupt-cells", 3);
	/* Children (the ITS) use the parent's addresses as they are. */
	prop_u32(w, "#address-cells", c->pci ? 2 : 0);
	if (c->pci) {
		prop_u32(w, "#size-cells", 2);
		check(w, fdt_property(w->fdt, "ranges", NULL, 0));
	}
	check(w, fdt_property(w->fdt, "interrupt-controller", NULL, 0));
	uint64_t reg[4] = { ARM64_GIC_DIST_GPA, ARM64_GIC_DIST_SIZE, ARM64_GIC_REDIST_GPA,
			    ARM64_GIC_REDIST_STRIDE * c->nr_cpus };
	prop_reg(w, reg, 2);
	prop_u32(w, "phandle", PHANDLE_GIC);
	if (c->pci)
		add_its(w);
	end(w);
}

/* A generic ECAM host bridge (Linux: pci-host-generic) for bus 0. Functions have MSI-X
 * only: no interrupt-map, so no INTx. Requester IDs are the ITS's device IDs as they are. */
static void add_pci(struct writer *w)
{
	begin(w, "pcie@%llx", ARM64_PCI_ECAM_GPA);
	prop_str(w, "compatible", "pci-host-ecam-generic");
	prop_str(w, "device_type", "pci");
	prop_u32(w, "#address-cells", 3);
	prop_u32(w, "#size-cells", 2);
	prop_u32(w, "linux,pci-domain", 0);
	fdt32_t bus_range[2] = { 0, 0 };
	check(w, fdt_property(w->fdt, "bus-range", bus_range, sizeof(bus_range)));
	uint64_t reg[2] = { ARM64_PCI_ECAM_GPA, ARM64_PCI_ECAM_SIZE };
	prop_reg(w, reg, 1);
	/* 32-bit memory space (0x02000000), PCI address = CPU address. */
	fdt32_t ranges[7] = { cpu_to_fdt32(0x02000000), 0, cpu_to_fdt32((uint32_t)ARM64_PCI_MMIO_GPA), 0,
			      cpu_to_fdt32((uint32_t)ARM64_PCI_MMIO_GPA), 0, cpu_to_fdt32((uint32_t)ARM64_PCI_MMIO_SIZE) };
	check(w, fdt_property(w->fdt, "ranges", ranges, sizeof(ranges)));
	fdt32_t msi_map[4] = { 0, cpu_to_fdt32(PHANDLE_ITS), 0, cpu_to_fdt32(0x100) };
	check(w, fdt_property(w->fdt, "msi-map", msi_map, sizeof(msi_map)));
	check(w, fdt_property(w->fdt, "dma-coherent", NULL, 0));
	end(w);
}

static void add_timer(struct writer *w)
{
	static const uint32_t ppis[] = { ARM64_TIMER_PPI_SEC, ARM64_TIMER_PPI_PHYS, ARM64_TIMER_PPI_VIRT,
					 ARM64_TIMER_PPI_HYP };
	fdt32_t cells[3 * 4];
	for (unsigned int i = 0; i < 4; i++) {
		cells[3 * i] = cpu_to_fdt32(ARM64_GIC_PPI);
		cells[3 * i + 1] = cpu_to_fdt32(ppis[i]);
		cells[3 * i + 2] = cpu_to_fdt32(ARM64_IRQ_LEVEL_LOW);
	}
	begin(w, "timer", 0);
	prop_str(w, "compatible", "arm,armv8-timer");
	check(w, fdt_property(w->fdt, "interrupts", cells, sizeof(cells)));
	check(w, fdt_property(w->fdt, "always-on", NULL, 0));
	end(w);
}

static void add_uart(struct writer *w)
{
	begin(w, "uart@%llx", ARM64_UART_GPA);
	prop_str(w, "compatible", "ns16550a");
	uint64_t reg[2] = { ARM64_UART_GPA, ARM64_UART_SIZE };
	prop_reg(w, reg, 1);
	prop_u32(w, "clock-frequency", ARM64_UART_CLOCK);
	prop_irq(w, ARM64_GIC_SPI, ARM64_UART_SPI, ARM64_IRQ_LEVEL_HIGH);
	end(w);
}

static void add_virtio(struct writer *w, const struct arm64_fdt_config *c)
{
	for (unsigned int i = 0; i < c->nr_virtio && i < ARM64_FDT_MAX_VIRTIO; i++) {
		begin(w, "virtio_mmio@%llx", c->virtio[i].gpa);
		prop_str(w, "compatible", "virtio,mmio");
		uint64_t reg[2] = { c->virtio[i].gpa, c->virtio[i].size };
		prop_reg(w, reg, 1);
		/* Edge: an irqfd raises and lowers the line at once. */
		prop_irq(w, ARM64_GIC_SPI, c->virtio[i].spi, ARM64_IRQ_EDGE_RISING);
		check(w, fdt_property(w->fdt, "dma-coherent", NULL, 0));
		end(w);
	}
}

static void add_chosen(struct writer *w, const struct arm64_fdt_config *c)
{
	char stdout_path[48];
	snprintf(stdout_path, sizeof(stdout_path), "/uart@%llx", (unsigned long long)ARM64_UART_GPA);
	begin(w, "chosen", 0);
	prop_str(w, "bootargs", c->bootargs ? c->bootargs : "");
	prop_str(w, "stdout-path", stdout_path);
	if (c->initrd_end > c->initrd_start) {
		check(w, fdt_property_u64(w->fdt, "linux,initrd-start", c->initrd_start));
		check(w, fdt_property_u64(w->fdt, "linux,initrd-end", c->initrd_end));
	}
	end(w);
}

int arm64_fdt_build(const struct arm64_fdt_config *c, void **blob, size_t *len, char *err, size_t errlen)
{
	*blob = NULL;
	*len = 0;
	if (c->nr_cpus == 0 || c->nr_cpus > ARM64_FDT_MAX_CPUS || c->nr_virtio > ARM64_FDT_MAX_VIRTIO) {
		snprintf(err, errlen, "device tree: %u vCPUs, %u virtio devices: out of range", c->nr_cpus, c->nr_virtio);
		return -EINVAL;
	}
	struct writer w = { .fdt = calloc(1, FDT_BUF) };
	if (!w.fdt) {
		snprintf(err, errlen, "device tree: out of memory");
		return -ENOMEM;
	}
	check(&w, fdt_create(w.fdt, FDT_BUF));
	check(&w, fdt_finish_reservemap(w.fdt));
	check(&w, fdt_begin_node(w.fdt, ""));
	prop_str(&w, "compatible", "linux,dummy-virt");
	prop_str(&w, "model", "pagoda");
	prop_u32(&w, "#address-cells", 2);
	prop_u32(&w, "#size-cells", 2);
	prop_u32(&w, "interrupt-parent", PHANDLE_GIC);
	add_chosen(&w, c);
	add_memory(&w, c->layout);
	add_cpus(&w, c);
	add_psci(&w);
	add_gic(&w, c);
	add_timer(&w);
	add_uart(&w);
	if (c->pci)
		add_pci(&w);
	add_virtio(&w, c);
	end(&w);
	check(&w, fdt_finish(w.fdt));
	if (w.err) {
		snprintf(err, errlen, "device tree: libfdt: %s", fdt_strerror(w.err));
		free(w.fdt);
		return -EINVAL;
	}
	*blob = w.fdt;
	*len = fdt_totalsize(w.fdt);
	return 0;
}
