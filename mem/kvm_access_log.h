/* The UAPI of pagoda's patched KVM (kvm/patches/0001-*.patch): not in any stock kernel's
 * <linux/kvm.h>, so mirrored here. The numbers are provisional (the patch's UAPI header
 * says why): a stock KVM answers 0 to the capability and ENOTTY to the ioctl. */
#ifndef PAGODA_MEM_KVM_ACCESS_LOG_H
#define PAGODA_MEM_KVM_ACCESS_LOG_H

#include <linux/kvm.h>
#include <stdint.h>

#define KVM_CAP_ACCESS_LOG 0x5041
#define KVM_ACCESS_LOG_TEST_ONLY (1u << 0)
/* No TLB flush after clearing: cheaper, but pages used through cached translations
 * read idle. */
#define KVM_ACCESS_LOG_NO_FLUSH (1u << 1)
#define KVM_ACCESS_LOG_MAX_PAGES (1ull << 24)

struct kvm_access_log {
	uint32_t slot;
	uint32_t flags;
	uint64_t first_page;
	uint64_t num_pages;
	uint64_t bitmap;      /* user address of one bit per page, in 64-bit words */
	uint64_t reserved[2]; /* must be zero */
};

#define KVM_GET_ACCESS_LOG _IOW(KVMIO, 0xf0, struct kvm_access_log)

#endif
