/* The access-log method's reader (wss_pages.c): KVM_GET_ACCESS_LOG of pagoda's patched
 * KVM (mem/kvm_access_log.h) tests and clears the accessed bits of a memslot's stage-2
 * entries, a huge mapping counting for all its pages. */
#include "wss_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "../../util/err.h"
#include "../kvm_access_log.h"

struct kvm_reader {
	int vm_fd;
};

static int kvm_open(void **reader, const struct guest_mem *mem, char *err, size_t errlen)
{
	int vm_fd = mem->slots.vm_fd;
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ACCESS_LOG) <= 0)
		return err_set(err, errlen, -ENOTSUP, "this KVM has no KVM_GET_ACCESS_LOG (pagoda's patched KVM, "
			       "kvm/patches)");
	struct kvm_reader *k = malloc(sizeof(*k));
	if (!k)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	k->vm_fd = vm_fd;
	*reader = k;
	return 0;
}

static int kvm_read(void *reader, const struct memslot *slot, uint64_t first, uint64_t n, uint64_t *bits)
{
	struct kvm_access_log log = { .slot = slot->id, .first_page = first, .num_pages = n,
				      .bitmap = (uint64_t)(uintptr_t)bits };
	return ioctl(((struct kvm_reader *)reader)->vm_fd, KVM_GET_ACCESS_LOG, &log) < 0 ? -errno : 0;
}

static void kvm_close(void *reader)
{
	free(reader);
}

const struct wss_page_reader wss_reader_access_log = {
	.method = "access-log", .what = "KVM_GET_ACCESS_LOG",
	.blind = "accessed bits the host's own reclaim cleared; pages unmapped from stage 2 "
		 "during the window (invalidation, THP collapse)",
	.max_pages = KVM_ACCESS_LOG_MAX_PAGES, .open = kvm_open, .read = kvm_read, .close = kvm_close,
};
