/* arm64 vCPU and GICv3 state for snapshots and migration, as records of a state stream
 * (util/state_buf.h).
 *
 * A vCPU is every register KVM lists for it (KVM_GET_REG_LIST: core and FP/SIMD
 * registers, system registers, the timers' CTL/CVAL/CNT, the firmware's PSCI version),
 * its MP state (a secondary powered off through PSCI stays off) and its pending SError.
 * The GICv3 is its distributor, each vCPU's redistributor and CPU interface, and the
 * line levels of the SPIs, through the device attributes KVM offers for this. With PCI,
 * the ITS: its registers in the record, its tables and the LPIs' pending bits in guest RAM
 * (arm64_its_flush writes them there before RAM is taken).
 *
 * Restoring trusts nothing of the record: a register must be one KVM lists for the vCPU
 * it goes into, a GIC attribute one of those pagoda saves for this machine; KVM checks
 * the values. */
#ifndef PAGODA_ARM64_SAVED_STATE_H
#define PAGODA_ARM64_SAVED_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "../../util/state_buf.h"
#include "../../util/state_records.h"

/* Appends vCPU `index`'s state (REC_ARM64_VCPU). The vCPU must not be running. */
int arm64_vcpu_save(int vcpu_fd, unsigned int index, struct state_buf *out, char *err, size_t errlen);
/* Sets a vCPU from the payload of a REC_ARM64_VCPU record (its index already matched). */
int arm64_vcpu_restore(int vcpu_fd, const uint8_t *payload, size_t len, char *err, size_t errlen);
/* Appends the GIC's state (REC_ARM64_GIC); mpidr: each vCPU's MPIDR_EL1. No vCPU may run. */
int arm64_gic_save(int gic_fd, const uint64_t *mpidr, unsigned int nr_cpus, struct state_buf *out,
		   char *err, size_t errlen);
int arm64_gic_restore(int gic_fd, const uint64_t *mpidr, unsigned int nr_cpus, const uint8_t *payload,
		      size_t len, char *err, size_t errlen);
/* Writes the ITS's tables and the redistributors' LPI pending bits into guest RAM, where the
 * guest placed them: call it paused, before guest RAM is saved or its last pages sent. */
int arm64_its_flush(int gic_fd, int its_fd, char *err, size_t errlen);
/* Appends the ITS's registers (REC_ARM64_ITS). */
int arm64_its_save(int its_fd, struct state_buf *out, char *err, size_t errlen);
/* Sets the registers, loads the tables from guest RAM (already restored), enables the ITS
 * last, as KVM requires; the GIC's record must have gone first. */
int arm64_its_restore(int its_fd, const uint8_t *payload, size_t len, char *err, size_t errlen);

#endif
