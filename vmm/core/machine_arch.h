/* What an architecture adds to a machine. machine.c assembles a VM in the same order on
 * every architecture and calls these hooks for the parts that differ; exactly one of
 * machine_x86.c and machine_arm64.c is built (meson picks it from the host CPU family). */
#ifndef PAGODA_VMM_MACHINE_ARCH_H
#define PAGODA_VMM_MACHINE_ARCH_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../mem/layout.h"
#include "bus.h"
#include "../../util/state_buf.h"

#if defined(__aarch64__)
#include "../../arch/arm64/gic.h"
#include "../../arch/arm64/platform.h"
struct machine_arch {
	struct arm64_gic gic;
	bool gic_inited;
	bool its_restored;  /* a restore found the ITS's record */
	uint64_t dtb_gpa;
	void *dtb;          /* the device tree handed to the guest (--dump-dtb writes it) */
	size_t dtb_len;
};
#define MACHINE_ARCH_NAME "arm64"
#define MACHINE_ARCH_CONSOLE_IRQ ARM64_UART_SPI
#define MACHINE_ARCH_VIRTIO_GPA ARM64_VIRTIO_MMIO_GPA
#define MACHINE_ARCH_VIRTIO_STRIDE ARM64_VIRTIO_MMIO_STRIDE
/* SPIs after the UART's, edge-triggered in the device tree: what an irqfd gives. */
#define MACHINE_ARCH_VIRTIO_IRQS { 1, 2, 3, 4, 5, 6, 7, 8 }
#define MACHINE_ARCH_VIRTIO_ON_CMDLINE 0
#define MACHINE_ARCH_PCI_ECAM_GPA ARM64_PCI_ECAM_GPA
#define MACHINE_ARCH_PCI_MMIO_GPA ARM64_PCI_MMIO_GPA
#define MACHINE_ARCH_PCI_MMIO_SIZE ARM64_PCI_MMIO_SIZE
#define MACHINE_ARCH_PCI_CF8 0      /* no port I/O */
#define MACHINE_ARCH_ID 2
#define MACHINE_ARCH_CPU_ID "MIDR_EL1"
#define MACHINE_ARCH_CPU_MODELS 0    /* --cpu: the host's preferred target only */
#else
#include "../../arch/x86/boot_layout.h"
#include "../../arch/x86/rtc.h"
struct machine_arch {
	struct rtc rtc;
	bool rtc_inited;
};
#define MACHINE_ARCH_NAME "x86-64"
#define MACHINE_ARCH_CONSOLE_IRQ 4  /* COM1's ISA line */
#define MACHINE_ARCH_VIRTIO_GPA VIRTIO_MMIO_GPA
#define MACHINE_ARCH_VIRTIO_STRIDE VIRTIO_MMIO_STRIDE
/* ISA lines nothing else on pagoda's platform uses (0 PIT, 1 i8042, 2 cascade, 3-4 COM,
 * 8 RTC, 9 SCI, 13 FPU): below 16 Linux treats them as edge-triggered ISA interrupts,
 * which is what an irqfd gives. */
#define MACHINE_ARCH_VIRTIO_IRQS { 5, 6, 7, 10, 11, 12, 14, 15 }
#define MACHINE_ARCH_VIRTIO_ON_CMDLINE 1
#define MACHINE_ARCH_PCI_ECAM_GPA PCI_ECAM_GPA
#define MACHINE_ARCH_PCI_MMIO_GPA PCI_MMIO_GPA
#define MACHINE_ARCH_PCI_MMIO_SIZE PCI_MMIO_SIZE
#define MACHINE_ARCH_PCI_CF8 1      /* the legacy config ports too */
#define MACHINE_ARCH_ID 1
#define MACHINE_ARCH_CPU_ID "CPUID 1 eax"
#define MACHINE_ARCH_CPU_MODELS 1    /* --cpu host | baseline */
#endif

/* Kernel parameters every guest gets before the devices' and the user's. */
extern const char machine_arch_default_params[];

struct machine;
struct state_header;
struct state_rec;

/* KVM_CREATE_VM's type for this machine's memory (arm64: the IPA size), or -errno. */
int machine_arch_vm_type(int kvm_fd, uint64_t ram_size, char *err, size_t errlen);
/* After KVM_CREATE_VM, before any memory: host quirks, in-kernel irqchips. */
int machine_arch_init(struct machine *m);
/* Where RAM goes in the guest physical map. -EINVAL as layout_x86. */
int machine_arch_layout(uint64_t ram_size, uint64_t page_size, struct mem_layout *out);
/* After the vCPUs exist: their CPU model and reset state, and what needs them all. */
int machine_arch_setup_vcpus(struct machine *m);
/* Puts kernel (and initrd) in guest memory and points the boot vCPU at it. */
int machine_arch_load_guest(struct machine *m, const void *kernel, size_t kernel_len,
			    const void *initrd, size_t initrd_len);
/* The platform devices on their buses: the console UART (m->serial, set up already), the
 * debug-exit register of the test guests, power and clock devices. -errno (machine.c
 * words the message). */
int machine_arch_setup_devices(struct machine *m);
/* Tests and tools: puts fn on the register where test guests sync with their harness
 * (x86: port 0x520, arm64: ARM64_TEST_SYNC_GPA on MMIO), 4 bytes wide. */
int machine_arch_add_test_sync(struct machine *m, bus_io_fn fn, void *opaque);
/* Frees what the hooks above made, whichever of them ran. */
void machine_arch_destroy(struct machine *m);

/* The vCPU loop's arch parts: a register dump for a fatal exit, and the chance to fix an
 * emulation failure up (0: fixed, the vCPU goes on). */
void machine_arch_vcpu_dump(int vcpu_fd, struct kvm_run *run, FILE *out);
int machine_arch_fixup_internal_error(int vcpu_fd, struct kvm_run *run);

/* Snapshot and migration state: the arch's fields of the header, its records (VM and
 * vCPUs and platform devices), and taking one back (1: not an arch record). */
void machine_arch_state_header(const struct machine *m, struct state_header *h);
int machine_arch_save(struct machine *m, struct state_buf *out, char *err, size_t errlen);
int machine_arch_restore_record(struct machine *m, const struct state_rec *r, bool *vcpu_seen,
				char *err, size_t errlen);
/* After the last record: refuses a state that left out what this machine needs. */
int machine_arch_restore_finish(struct machine *m, char *err, size_t errlen);
/* In-kernel devices whose state lives in guest RAM write it there (arm64: the ITS's tables
 * and the LPI pending bits). Called paused, before guest RAM is saved or its last dirty
 * pages are taken. */
int machine_arch_flush_to_ram(struct machine *m, char *err, size_t errlen);
/* For the hooks: a vCPU record's index (its first 4 bytes), each taken once (a second
 * record of one vCPU would leave another as it was created). 0 with *idx; 1 when it
 * names no vCPU of this machine; -EBADMSG with a message for a repeat. */
int machine_claim_vcpu_record(const struct machine *m, const struct state_rec *r, bool *vcpu_seen,
			      uint32_t *idx, char *err, size_t errlen);

#endif
