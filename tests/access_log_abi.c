/* KVM_GET_ACCESS_LOG's answers to what a careless or hostile caller may send, on pagoda's
 * patched KVM (run in the x86 lab with --patched-kvm; a stock KVM is told apart and
 * fails the test): flags it does not know, slots and address spaces that do not exist,
 * ranges past the slot or wrapping around, a zero or oversized count, a bitmap at an
 * address that is not mapped. Then a page the guest never touched reads as not accessed
 * and the count comes back. Prints "access-log ABI: N checks, N failed". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../mem/kvm_access_log.h"

static int checks, failed;

static void expect(const char *what, int got, int want)
{
	checks++;
	if (got != want) {
		failed++;
		printf("FAIL: %s: got %d (%s), want %d\n", what, got, got < 0 ? strerror(-got) : "ok", want);
	}
}

static int get_log(int vm, uint32_t slot, uint32_t flags, uint64_t first, uint64_t n, void *bitmap)
{
	struct kvm_access_log log = { .slot = slot, .flags = flags, .first_page = first, .num_pages = n,
				      .bitmap = (uint64_t)(uintptr_t)bitmap };
	int r = ioctl(vm, KVM_GET_ACCESS_LOG, &log);
	return r < 0 ? -errno : r;
}

int main(void)
{
	enum { PAGES = 512 };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		printf("FAIL: no VM: %s\n", strerror(errno));
		return 1;
	}
	int cap = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_ACCESS_LOG);
	printf("KVM_CAP_ACCESS_LOG: %d\n", cap);
	void *ram = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = { .slot = 3, .guest_phys_addr = 1 << 30, .memory_size = PAGES * 4096,
						 .userspace_addr = (uint64_t)(uintptr_t)ram };
	if (ram == MAP_FAILED || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r)) {
		printf("FAIL: no memslot: %s\n", strerror(errno));
		return 1;
	}
	uint64_t bitmap[PAGES / 64 + 1];
	memset(bitmap, 0xff, sizeof(bitmap));
	expect("unknown flag", get_log(vm, 3, 1u << 1, 0, PAGES, bitmap), -EINVAL);
	expect("no such slot", get_log(vm, 4, 0, 0, PAGES, bitmap), -ENOENT);
	expect("slot id past the user slots", get_log(vm, 0xffff, 0, 0, PAGES, bitmap), -EINVAL);
	expect("no such address space", get_log(vm, 7u << 16 | 3, 0, 0, PAGES, bitmap), -EINVAL);
	expect("zero pages", get_log(vm, 3, 0, 0, 0, bitmap), -EINVAL);
	expect("more than the maximum", get_log(vm, 3, 0, 0, KVM_ACCESS_LOG_MAX_PAGES + 1, bitmap), -EINVAL);
	expect("past the slot's end", get_log(vm, 3, 0, 1, PAGES, bitmap), -EINVAL);
	expect("first page past the slot", get_log(vm, 3, 0, PAGES, 1, bitmap), -EINVAL);
	expect("a range that wraps", get_log(vm, 3, 0, 8, UINT64_MAX - 4, bitmap), -EINVAL);
	expect("bitmap not mapped", get_log(vm, 3, 0, 0, PAGES, (void *)16), -EFAULT);
	/* Nothing ran: nothing is accessed, and the bitmap says so for every page asked. */
	expect("an untouched slot", get_log(vm, 3, 0, 0, PAGES, bitmap), 0);
	uint64_t any = 0;
	for (int i = 0; i < PAGES / 64; i++)
		any |= bitmap[i];
	expect("bits set for untouched pages", any != 0, 0);
	expect("test only", get_log(vm, 3, KVM_ACCESS_LOG_TEST_ONLY, 100, 10, bitmap), 0);
	printf("access-log ABI: %d checks, %d failed\n", checks, failed);
	return failed ? 1 : 0;
}
