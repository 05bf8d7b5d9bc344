/* Every record type of the VM state stream (util/state_buf.h), in one place so no two
 * owners can take the same number. Each piece of state is saved and restored by the code
 * that defines it; the machine (vmm/persist/machine_state.c) frames the stream. */
#ifndef PAGODA_UTIL_STATE_RECORDS_H
#define PAGODA_UTIL_STATE_RECORDS_H

enum state_record {
	/* The machine: vmm/persist/machine_state.c */
	REC_HEADER = 1,          /* struct state_header */
	REC_SERIAL = 2,          /* devices/serial.h: struct serial_state */
	REC_RTC = 3,             /* arch/x86/rtc.h: struct rtc_state */
	REC_VIRTIO = 4,          /* u32 device index, virtio/virtio_dev.h: struct virtio_dev_state */
	REC_VIRTIO_PCI = 5,      /* u32 device index, virtio/pci.h: struct virtio_pci_state */
	/* x86 vCPUs and VM: arch/x86/saved_state.c */
	REC_X86_VCPU = 0x100,    /* u32 index, then the pieces below as nested records */
	REC_X86_REGS, REC_X86_SREGS, REC_X86_XSAVE, REC_X86_XCRS, REC_X86_MSRS,
	REC_X86_MP_STATE, REC_X86_LAPIC, REC_X86_EVENTS, REC_X86_DEBUGREGS,
	REC_X86_VM = 0x180,      /* nested: the irqchips, the PIT, the clock */
	REC_X86_IRQCHIP, REC_X86_PIT, REC_X86_CLOCK,
	/* arm64: arch/arm64/saved_state.c */
	REC_ARM64_VCPU = 0x200,  /* index, MP state, SError, then (register id, value) pairs */
	REC_ARM64_GIC = 0x280,   /* (group, attribute, value) triples of the GICv3 */
	REC_ARM64_ITS = 0x281,   /* (register offset, value) pairs of the ITS, in restore order */
	REC_END = 0xffff,        /* u32 CRC-32 of everything before it */
};

#endif
