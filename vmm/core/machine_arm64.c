/* The arm64 machine: vCPUs with PSCI 0.2 (KVM answers CPU_ON, SYSTEM_OFF and SYSTEM_RESET
 * itself; the last two come out as KVM_EXIT_SYSTEM_EVENT), an in-kernel GICv3 and timer,
 * a 16550 console and the debug-exit register on MMIO, and an Image booted with a device
 * tree. Snapshots and migration carry every vCPU register KVM lists and the GICv3's state
 * (arch/arm64/saved_state.h). */
#include "machine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../arch/arm64/fdt.h"
#include "../../arch/arm64/image.h"
#include "../../arch/arm64/saved_state.h"
#include "../../arch/arm64/vcpu.h"
#include "../../devices/debug_exit.h"
#include "state_header.h"
#include "../../util/state_records.h"
#include "../../util/io.h"

const char machine_arch_default_params[] = "console=ttyS0";

_Static_assert(ARM64_PCI_ECAM_SIZE == PCI_ECAM_SIZE, "the device tree's ECAM is the bus's");

#define DEFAULT_IPA_BITS 40 /* what KVM gives a VM of type 0 */
#define MIN_IPA_BITS 32

int machine_arch_vm_type(int kvm_fd, uint64_t ram_size, char *err, size_t errlen)
{
	uint64_t end = ARM64_RAM_GPA + ram_size;
	int bits = MIN_IPA_BITS;
	while (bits < 64 && (1ULL << bits) < end)
		bits++;
	int max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
	if (max <= 0) /* a KVM without the capability: the default size only */
		max = DEFAULT_IPA_BITS;
	if (bits > max) {
		snprintf(err, errlen, "--memory %lluM ends guest RAM at 0x%llx: this KVM's IPA space has %d bits: use -m %lluM or less",
			 (unsigned long long)(ram_size >> 20), (unsigned long long)end, max,
			 (unsigned long long)(((1ULL << max) - ARM64_RAM_GPA) >> 20));
		return -EINVAL;
	}
	/* The smallest IPA space that holds RAM: fewer stage-2 levels to walk. */
	return max == DEFAULT_IPA_BITS && bits == DEFAULT_IPA_BITS ? 0 : (int)KVM_VM_TYPE_ARM_IPA_SIZE(bits);
}

int machine_arch_init(struct machine *m)
{
	if (m->cfg.cpu != CPU_MODEL_AUTO) {
		snprintf(m->err, sizeof(m->err), "--cpu: CPU models are x86's; an arm64 guest gets the host's preferred target");
		return -EINVAL;
	}
	return 0;
}

int machine_arch_layout(uint64_t ram_size, uint64_t page_size, struct mem_layout *out)
{
	return layout_arm64(ram_size, page_size, out);
}

/* virtio-pci's MSI-X vectors need a routing table of pagoda's. It starts as KVM's default
 * one (GSI n is SPI n), which a table set by KVM_SET_GSI_ROUTING replaces. */
static int spi_routes(struct machine *m)
{
	struct kvm_irq_routing_entry spis[ARM64_GIC_NR_IRQS - 32];
	for (unsigned int i = 0; i < ARM64_GIC_NR_IRQS - 32; i++)
		spis[i] = (struct kvm_irq_routing_entry){ .gsi = i, .type = KVM_IRQ_ROUTING_IRQCHIP,
							  .u.irqchip = { .irqchip = 0, .pin = i } };
	int e = irq_routes_init(&m->vm.routes, m->vm.vm_fd, spis, ARM64_GIC_NR_IRQS - 32);
	if (e)
		snprintf(m->err, sizeof(m->err), "the interrupt routing table (KVM_SET_GSI_ROUTING): %s", strerror(-e));
	return e;
}

int machine_arch_setup_vcpus(struct machine *m)
{
	for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
		int e = arm64_vcpu_init(m->vm.vm_fd, m->vm.vcpus[i].fd, i, m->err, sizeof(m->err));
		if (e)
			return e;
	}
	m->arch.gic_inited = true;
	bool pci = m->cfg.virtio_transport == VIRTIO_TRANSPORT_PCI;
	int e = arm64_gic_create(&m->arch.gic, m->vm.vm_fd, m->vm.nr_vcpus, pci, m->err, sizeof(m->err));
	return e || !pci ? e : spi_routes(m);
}

static int build_dtb(struct machine *m, const struct arm64_boot_plan *p)
{
	uint64_t mpidr[ARM64_FDT_MAX_CPUS];
	struct arm64_fdt_config c = { .layout = &m->vm.mem.layout, .nr_cpus = m->vm.nr_vcpus, .mpidr = mpidr,
				      .bootargs = m->cmdline, .initrd_start = p->initrd_gpa, .initrd_end = p->initrd_end };
	for (unsigned int i = 0; i < m->vm.nr_vcpus && i < ARM64_FDT_MAX_CPUS; i++) {
		int e = arm64_vcpu_mpidr(m->vm.vcpus[i].fd, &mpidr[i]);
		if (e) {
			snprintf(m->err, sizeof(m->err), "reading vCPU %u's MPIDR: %s", i, strerror(-e));
			return e;
		}
	}
	c.pci = m->virtio.pci_on;
	for (unsigned int i = 0; !c.pci && i < m->virtio.nr; i++) {
		c.virtio[i].gpa = m->virtio.slots[i].mmio.base;
		c.virtio[i].size = VIRTIO_MMIO_WINDOW;
		c.virtio[i].spi = m->virtio.slots[i].dev->irq;
	}
	c.nr_virtio = c.pci ? 0 : m->virtio.nr;
	return arm64_fdt_build(&c, &m->arch.dtb, &m->arch.dtb_len, m->err, sizeof(m->err));
}

static int copy_in(struct machine *m, uint64_t gpa, const void *src, size_t len, const char *what)
{
	void *dst = guest_mem_ptr(&m->vm.mem, gpa, len, GUEST_WRITE);
	if (!dst) {
		snprintf(m->err, sizeof(m->err), "%s at 0x%llx (%zu bytes) is not in guest RAM", what,
			 (unsigned long long)gpa, len);
		return -EINVAL;
	}
	memcpy(dst, src, len);
	return 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int e = write_all_at(fd, data, len, 0);
	close(fd);
	return e;
}

int machine_arch_load_guest(struct machine *m, const void *kernel, size_t kernel_len,
			    const void *initrd, size_t initrd_len)
{
	const struct mem_range *ram = &m->vm.mem.layout.ram[0];
	struct arm64_boot_plan p;
	int e = arm64_image_plan(kernel, kernel_len, initrd_len, ram->gpa, ram->size, &p, m->err, sizeof(m->err));
	if (!e)
		e = build_dtb(m, &p);
	if (!e)
		e = copy_in(m, p.kernel_gpa, kernel, kernel_len, "kernel");
	if (!e && initrd_len)
		e = copy_in(m, p.initrd_gpa, initrd, initrd_len, "initrd");
	if (!e)
		e = copy_in(m, p.dtb_gpa, m->arch.dtb, m->arch.dtb_len, "device tree");
	if (e)
		return e;
	if (m->cfg.dump_dtb && (e = write_file(m->cfg.dump_dtb, m->arch.dtb, m->arch.dtb_len))) {
		snprintf(m->err, sizeof(m->err), "--dump-dtb %s: %s", m->cfg.dump_dtb, strerror(-e));
		return e;
	}
	m->arch.dtb_gpa = p.dtb_gpa;
	e = arm64_vcpu_set_entry(m->vm.vcpus[0].fd, p.entry, p.dtb_gpa);
	if (e)
		snprintf(m->err, sizeof(m->err), "setting the boot vCPU's registers: %s", strerror(-e));
	return e;
}

int machine_arch_setup_devices(struct machine *m)
{
	struct vm *vm = &m->vm;
	int e = bus_register(&vm->mmio, ARM64_UART_GPA, 8, serial_io, &m->serial, "serial");
	if (!e)
		e = bus_register(&vm->mmio, ARM64_DEBUG_EXIT_GPA, 4, debug_exit_io, &m->power, "debug-exit");
	return e;
}

int machine_arch_add_test_sync(struct machine *m, bus_io_fn fn, void *opaque)
{
	return bus_register(&m->vm.mmio, ARM64_TEST_SYNC_GPA, 4, fn, opaque, "test-sync");
}

void machine_arch_destroy(struct machine *m)
{
	if (m->arch.gic_inited)
		arm64_gic_destroy(&m->arch.gic);
	m->arch.gic_inited = false;
	free(m->arch.dtb);
	m->arch.dtb = NULL;
}

void machine_arch_vcpu_dump(int vcpu_fd, struct kvm_run *run, FILE *out)
{
	(void)run;
	arm64_vcpu_dump(vcpu_fd, out);
}

int machine_arch_fixup_internal_error(int vcpu_fd, struct kvm_run *run)
{
	(void)vcpu_fd, (void)run;
	return -ENOTSUP;
}

/* The host CPU's MIDR_EL1 (as KVM gives it to vCPU 0): restoring on another kind of CPU
 * would fail register by register; the header says so first. */
void machine_arch_state_header(const struct machine *m, struct state_header *h)
{
	uint64_t midr = 0;
	struct kvm_one_reg r = { .id = ARM64_SYS_REG(3, 0, 0, 0, 0), .addr = (uint64_t)(uintptr_t)&midr };
	if (m->vm.nr_vcpus && ioctl(m->vm.vcpus[0].fd, KVM_GET_ONE_REG, &r) == 0)
		h->host_family = (uint32_t)midr;
}

/* Each vCPU's MPIDR_EL1: how the GIC's attributes name a vCPU. */
static int all_mpidrs(const struct machine *m, uint64_t *mpidr, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < m->vm.nr_vcpus; i++) {
		int e = arm64_vcpu_mpidr(m->vm.vcpus[i].fd, &mpidr[i]);
		if (e) {
			snprintf(err, errlen, "reading vCPU %u's MPIDR: %s", i, strerror(-e));
			return e;
		}
	}
	return 0;
}

int machine_arch_save(struct machine *m, struct state_buf *out, char *err, size_t errlen)
{
	uint64_t mpidr[ARM64_MAX_CPUS];
	int e = all_mpidrs(m, mpidr, err, errlen);
	for (unsigned int i = 0; !e && i < m->vm.nr_vcpus; i++)
		e = arm64_vcpu_save(m->vm.vcpus[i].fd, i, out, err, errlen);
	if (!e)
		e = arm64_gic_save(m->arch.gic.fd, mpidr, m->vm.nr_vcpus, out, err, errlen);
	return e || m->arch.gic.its_fd < 0 ? e : arm64_its_save(m->arch.gic.its_fd, out, err, errlen);
}

int machine_arch_flush_to_ram(struct machine *m, char *err, size_t errlen)
{
	return m->arch.gic.its_fd < 0 ? 0 : arm64_its_flush(m->arch.gic.fd, m->arch.gic.its_fd, err, errlen);
}

/* Without its record the ITS would come up empty: every MSI the guest set up lost. */
int machine_arch_restore_finish(struct machine *m, char *err, size_t errlen)
{
	if (m->arch.gic.its_fd < 0 || m->arch.its_restored)
		return 0;
	snprintf(err, errlen, "the state has no ITS record and this VM has an ITS: was it saved with --virtio-transport pci?");
	return -EBADMSG;
}

int machine_arch_restore_record(struct machine *m, const struct state_rec *r, bool *vcpu_seen,
				char *err, size_t errlen)
{
	uint32_t idx;
	uint64_t mpidr[ARM64_MAX_CPUS];
	switch (r->type) {
	case REC_ARM64_VCPU: {
		int e = machine_claim_vcpu_record(m, r, vcpu_seen, &idx, err, errlen);
		return e ? e : arm64_vcpu_restore(m->vm.vcpus[idx].fd, r->payload, r->len, err, errlen);
	}
	case REC_ARM64_GIC: {
		int e = all_mpidrs(m, mpidr, err, errlen);
		return e ? e : arm64_gic_restore(m->arch.gic.fd, mpidr, m->vm.nr_vcpus, r->payload, r->len, err, errlen);
	}
	case REC_ARM64_ITS:
		if (m->arch.its_restored) {
			snprintf(err, errlen, "the state has two ITS records");
			return -EBADMSG;
		}
		m->arch.its_restored = true;
		return arm64_its_restore(m->arch.gic.its_fd, r->payload, r->len, err, errlen);
	}
	return 1;
}
