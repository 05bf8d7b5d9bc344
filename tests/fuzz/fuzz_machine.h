/* The machine the migration targets receive into: memory and platform devices without
 * KVM (its vCPU fd is closed: restoring registers fails, parsing is tested). */
#ifndef PAGODA_FUZZ_MACHINE_H
#define PAGODA_FUZZ_MACHINE_H

#include "../../vmm/persist/migration.h"
#include "fuzz_common.h"

static struct machine *fake_machine(void)
{
	static struct machine m;
	static struct vcpu vcpu = { .fd = -1 };
	static int made;
	if (!made) {
		m.vm.mem = *fuzz_mem();
		m.vm.nr_vcpus = 1;
		m.vm.vcpus = &vcpu;
		m.vm.vm_fd = m.vm.kvm_fd = -1;
		m.cfg.cpu = CPU_MODEL_BASELINE;
		serial_init(&m.serial, -1, (struct irq_line){ 0 });
		rtc_init(&m.arch.rtc);
		made = 1;
	}
	return &m;
}

#endif
