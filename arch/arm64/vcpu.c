#include "vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#define CORE_REG(name) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(name))
#define SYS_MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)
#define SYS_ESR_EL1   ARM64_SYS_REG(3, 0, 5, 2, 0)
#define SYS_FAR_EL1   ARM64_SYS_REG(3, 0, 6, 0, 0)

static int get_reg(int fd, uint64_t id, uint64_t *v)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)v };
	return ioctl(fd, KVM_GET_ONE_REG, &r) < 0 ? -errno : 0;
}

static int set_reg(int fd, uint64_t id, uint64_t v)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)&v };
	return ioctl(fd, KVM_SET_ONE_REG, &r) < 0 ? -errno : 0;
}

int arm64_vcpu_init(int vm_fd, int vcpu_fd, unsigned int index, char *err, size_t errlen)
{
	struct kvm_vcpu_init init;
	memset(&init, 0, sizeof(init));
	if (ioctl(vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0) {
		int e = -errno;
		snprintf(err, errlen, "KVM_ARM_PREFERRED_TARGET: %s", strerror(-e));
		return e;
	}
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (index > 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init) < 0) {
		int e = -errno;
		snprintf(err, errlen, "KVM_ARM_VCPU_INIT of vCPU %u (target %u, PSCI 0.2): %s", index, init.target, strerror(-e));
		return e;
	}
	return 0;
}

int arm64_vcpu_set_entry(int vcpu_fd, uint64_t pc, uint64_t dtb)
{
	int e = set_reg(vcpu_fd, CORE_REG(regs.pc), pc);
	if (!e)
		e = set_reg(vcpu_fd, CORE_REG(regs.regs[0]), dtb);
	for (int i = 1; !e && i < 4; i++)
		e = set_reg(vcpu_fd, CORE_REG(regs.regs[i]), 0);
	return e;
}

int arm64_vcpu_mpidr(int vcpu_fd, uint64_t *mpidr)
{
	return get_reg(vcpu_fd, SYS_MPIDR_EL1, mpidr);
}

void arm64_vcpu_dump(int vcpu_fd, FILE *out)
{
	uint64_t pc = 0, pstate = 0, sp = 0, elr = 0, esr = 0, far = 0, x[31] = { 0 };
	if (get_reg(vcpu_fd, CORE_REG(regs.pc), &pc)) {
		fprintf(out, "  (registers unavailable: %s)\n", strerror(errno));
		return;
	}
	get_reg(vcpu_fd, CORE_REG(regs.pstate), &pstate);
	get_reg(vcpu_fd, CORE_REG(sp_el1), &sp);
	get_reg(vcpu_fd, CORE_REG(elr_el1), &elr);
	get_reg(vcpu_fd, SYS_ESR_EL1, &esr);
	get_reg(vcpu_fd, SYS_FAR_EL1, &far);
	for (int i = 0; i < 31; i++)
		get_reg(vcpu_fd, CORE_REG(regs.regs[i]), &x[i]);
	fprintf(out, "  pc=%016llx pstate=%08llx sp_el1=%016llx\n  elr_el1=%016llx esr_el1=%08llx far_el1=%016llx\n",
		(unsigned long long)pc, (unsigned long long)pstate, (unsigned long long)sp,
		(unsigned long long)elr, (unsigned long long)esr, (unsigned long long)far);
	for (int i = 0; i < 31; i += 3) {
		fprintf(out, " ");
		for (int j = i; j < i + 3 && j < 31; j++)
			fprintf(out, " x%-2d=%016llx", j, (unsigned long long)x[j]);
		fprintf(out, "\n");
	}
}
