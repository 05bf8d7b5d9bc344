/* A machine as the state stream names it: what a snapshot or a migration records of the
 * machine it came from, and what a machine that takes it in must match. The core fills
 * its arch fields (machine_arch_state_header); vmm/persist reads and writes it. */
#ifndef PAGODA_VMM_STATE_HEADER_H
#define PAGODA_VMM_STATE_HEADER_H

#include <stdint.h>

#define STATE_MAGIC "PAGODAST"
#define STATE_VERSION 1

struct state_header {
	char magic[8];
	uint32_t version;
	uint32_t arch;           /* 1: x86-64, 2: arm64 */
	uint64_t ram_size;
	uint32_t nr_vcpus;
	uint32_t cpu_baseline;   /* the guest's CPU model: 1 baseline, 0 host */
	uint32_t nr_ram;
	uint32_t nr_virtio;
	struct { uint64_t gpa, size; } ram[4];
	uint32_t host_vendor[3]; /* x86: CPUID 0 of the host the state was taken on */
	uint32_t host_family;    /* x86: CPUID 1 eax; arm64: MIDR_EL1 */
};

#endif
