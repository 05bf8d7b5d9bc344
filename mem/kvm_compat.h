/* KVM UAPI newer than the system's linux-libc-dev (6.1). Only what pagoda uses, with the
 * values of Linux 6.12's include/uapi/linux/kvm.h; each guarded so a newer header wins. */
#ifndef PAGODA_KVM_COMPAT_H
#define PAGODA_KVM_COMPAT_H

#include <linux/kvm.h>

#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2 231

struct kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};

#define KVM_SET_USER_MEMORY_REGION2 \
	_IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif

/* Where a vCPU's dirty ring sits in its mmap, in pages: 64 on x86 and arm64. arm64's
 * asm/kvm.h gained the define in 6.2; with the 6.1 headers linux/kvm.h falls back to 0,
 * which is the kvm_run page (found by the arm64 lab's dirty-ring test: nothing harvested). */
#if defined(__aarch64__) && KVM_DIRTY_LOG_PAGE_OFFSET == 0
#define DIRTY_RING_PAGE_OFFSET 64
#else
#define DIRTY_RING_PAGE_OFFSET KVM_DIRTY_LOG_PAGE_OFFSET
#endif

#ifndef KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP
#define KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP 225
#endif

#ifndef KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE
#define KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE 228
#endif

#ifndef KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES
#define KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES 229
#endif

#endif
