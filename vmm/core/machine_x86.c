/* The x86-64 machine: PVH/bzImage/ELF boot, CPUID models, the legacy platform on port I/O
 * (COM1, CMOS, i8042, ACPI PM, debug-exit), and the vCPU/VM state of snapshots. */
#include "machine.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include "../../arch/x86/acpi_pm.h"
#include "../../arch/x86/boot.h"
#include "../../arch/x86/boot_layout.h"
#include "../../arch/x86/i8042.h"
#include "../../arch/x86/kvm_x86.h"
#include "../../arch/x86/vcpu_regs.h"
#include "../../arch/x86/saved_state.h"
#include "../../devices/debug_exit.h"
#include "state_header.h"
#include "../../util/state_records.h"

#define COM1_PORT 0x3f8

const char machine_arch_default_params[] = "console=ttyS0 reboot=k";

int machine_arch_vm_type(int kvm_fd, uint64_t ram_size, char *err, size_t errlen)
{
	(void)kvm_fd, (void)ram_size, (void)err, (void)errlen;
	return 0;
}

int machine_arch_init(struct machine *m)
{
	if (m->cfg.dump_dtb) {
		snprintf(m->err, sizeof(m->err), "--dump-dtb: x86 guests get no device tree (ACPI and the MP table describe them)");
		return -EINVAL;
	}
	m->vm.pvm_fixups = x86_host_is_pvm();
	if (m->vm.pvm_fixups)
		fprintf(stderr, "pagoda: PVM host: %s CPU model, emulation-failure fix-ups on\n",
			m->cfg.cpu == CPU_MODEL_HOST ? "host" : "baseline");
	int e = x86_vm_init(m->vm.vm_fd, m->err, sizeof(m->err));
	if (e)
		return e;
	struct kvm_irq_routing_entry routes[X86_IRQCHIP_ROUTES];
	e = irq_routes_init(&m->vm.routes, m->vm.vm_fd, routes, x86_irqchip_routes(routes));
	if (e)
		snprintf(m->err, sizeof(m->err), "KVM_SET_GSI_ROUTING: %s", strerror(-e));
	return e;
}

int machine_arch_layout(uint64_t ram_size, uint64_t page_size, struct mem_layout *out)
{
	return layout_x86(ram_size, page_size, out);
}

static bool guest_is_baseline(const struct machine *m)
{
	return m->cfg.cpu == CPU_MODEL_BASELINE || (m->cfg.cpu == CPU_MODEL_AUTO && m->vm.pvm_fixups);
}

int machine_arch_setup_vcpus(struct machine *m)
{
	int fds[m->vm.nr_vcpus];
	vm_vcpu_fds(&m->vm, fds);
	return x86_vcpus_set_cpuid(m->vm.kvm_fd, fds, m->vm.nr_vcpus, guest_is_baseline(m), m->err, sizeof(m->err));
}

int machine_arch_load_guest(struct machine *m, const void *kernel, size_t kernel_len,
			    const void *initrd, size_t initrd_len)
{
	struct x86_boot_config bc = { .kernel = kernel, .kernel_len = kernel_len, .initrd = initrd,
				      .initrd_len = initrd_len, .cmdline = m->cmdline, .nr_cpus = m->cfg.cpus,
				      .pci = m->cfg.virtio_transport == VIRTIO_TRANSPORT_PCI };
	struct x86_boot_entry entry;
	int e = x86_boot_setup(&m->vm.mem, &bc, &entry, m->err, sizeof(m->err));
	if (e)
		return e;
	int fd = m->vm.vcpus[0].fd;
	e = entry.mode == X86_ENTRY_LONG64 ? x86_vcpu_enter_long_mode(fd, entry.entry, entry.arg)
					   : x86_vcpu_enter_pvh(fd, entry.entry, entry.arg);
	if (e)
		snprintf(m->err, sizeof(m->err), "setting the boot vCPU's registers: %s", strerror(-e));
	return e;
}

int machine_arch_setup_devices(struct machine *m)
{
	struct vm *vm = &m->vm;
	rtc_init(&m->arch.rtc);
	m->arch.rtc_inited = true;
	int e = bus_register(&vm->pio, COM1_PORT, 8, serial_io, &m->serial, "serial");
	if (!e)
		e = bus_register(&vm->pio, 0x70, 2, rtc_io, &m->arch.rtc, "cmos-rtc");
	if (!e)
		e = bus_register(&vm->pio, I8042_DATA_PORT, 5, i8042_io, &m->power, "i8042");
	if (!e)
		e = bus_register(&vm->pio, PORT_DEBUG_EXIT, 4, debug_exit_io, &m->power, "debug-exit");
	if (!e)
		e = bus_register(&vm->pio, PORT_ACPI_PM1_EVT, ACPI_PM_PORTS, acpi_pm_io, &m->power, "acpi-pm");
	return e;
}

int machine_arch_add_test_sync(struct machine *m, bus_io_fn fn, void *opaque)
{
	return bus_register(&m->vm.pio, PORT_TEST_SYNC, 4, fn, opaque, "test-sync");
}

void machine_arch_destroy(struct machine *m)
{
	if (m->arch.rtc_inited)
		rtc_destroy(&m->arch.rtc);
	m->arch.rtc_inited = false;
}

void machine_arch_vcpu_dump(int vcpu_fd, struct kvm_run *run, FILE *out)
{
	x86_vcpu_dump(vcpu_fd, run, out);
}

int machine_arch_fixup_internal_error(int vcpu_fd, struct kvm_run *run)
{
	return x86_fixup_emulation_failure(vcpu_fd, run);
}

void machine_arch_state_header(const struct machine *m, struct state_header *h)
{
	unsigned int a, b, c, d;
	h->cpu_baseline = guest_is_baseline(m);
	__cpuid(0, a, b, c, d);
	h->host_vendor[0] = b;
	h->host_vendor[1] = d;
	h->host_vendor[2] = c;
	__cpuid(1, a, b, c, d);
	h->host_family = a;
}

int machine_arch_save(struct machine *m, struct state_buf *out, char *err, size_t errlen)
{
	int e = x86_vm_save(m->vm.vm_fd, out, err, errlen);
	for (unsigned int i = 0; !e && i < m->vm.nr_vcpus; i++)
		e = x86_vcpu_save(m->vm.kvm_fd, m->vm.vm_fd, m->vm.vcpus[i].fd, i, out, err, errlen);
	if (e)
		return e;
	struct rtc_state rs;
	rtc_save(&m->arch.rtc, &rs);
	state_put(out, REC_RTC, &rs, sizeof(rs), NULL, 0);
	return 0;
}

int machine_arch_flush_to_ram(struct machine *m, char *err, size_t errlen)
{
	(void)m, (void)err, (void)errlen;
	return 0; /* nothing of KVM's x86 devices lives in guest RAM */
}

int machine_arch_restore_finish(struct machine *m, char *err, size_t errlen)
{
	(void)m, (void)err, (void)errlen;
	return 0;
}

int machine_arch_restore_record(struct machine *m, const struct state_rec *r, bool *vcpu_seen,
				char *err, size_t errlen)
{
	uint32_t idx;
	switch (r->type) {
	case REC_X86_VM:
		return x86_vm_restore(m->vm.vm_fd, r->payload, r->len, err, errlen);
	case REC_X86_VCPU: {
		int e = machine_claim_vcpu_record(m, r, vcpu_seen, &idx, err, errlen);
		return e ? e : x86_vcpu_restore(m->vm.vm_fd, m->vm.vcpus[idx].fd, r->payload, r->len, err, errlen);
	}
	case REC_RTC: {
		struct rtc_state rs;
		if (r->len != sizeof(rs))
			return 1;
		memcpy(&rs, r->payload, sizeof(rs));
		if (rtc_restore(&m->arch.rtc, &rs)) {
			snprintf(err, errlen, "CMOS state names register 0x%x of %u", rs.index, RTC_CMOS_BYTES);
			return -EINVAL;
		}
		return 0;
	}
	}
	return 1;
}
