#include "eager_split.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_compat.h"
#include "layout.h"

int eager_split_host_state(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	return n == 1 ? (c == 'Y' || c == 'y' || c == '1') : -1;
}

static int write_param(const char *path, char v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = write(fd, &v, 1) == 1 ? 0 : -errno;
	close(fd);
	return r;
}

/* arm64: a chunk size per VM, one of the block sizes stage 2 can map (sizes: KVM's bitmap
 * of them; 0 = off, KVM's default); KVM takes it only before the first memslot. "on" is
 * 2M, the smallest block. */
static int apply_arm64(int vm_fd, int sizes, enum eager_split policy, uint64_t chunk, char *note, size_t notelen)
{
	if (policy == EAGER_SPLIT_HOST)
		return 0;
	uint64_t want = policy == EAGER_SPLIT_OFF ? 0 : policy == EAGER_SPLIT_ON ? SZ_2M : chunk;
	char c[16];
	if (want && !((uint64_t)(unsigned int)sizes & want)) {
		snprintf(note, notelen, "--eager-split chunk=%s: not a block size of this KVM's stage 2 (bitmap 0x%x): use 4K, 2M or 1G",
			 layout_size_str(want, c, sizeof(c)), sizes);
		return -EINVAL;
	}
	struct kvm_enable_cap cap = { .cap = KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE, .args = { want } };
	if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		int e = -errno;
		snprintf(note, notelen, "--eager-split: KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE %s: %s",
			 layout_size_str(want, c, sizeof(c)), strerror(-e));
		return e;
	}
	if (want)
		snprintf(note, notelen, "eager split: on, in chunks of %s (KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE)",
			 layout_size_str(want, c, sizeof(c)));
	else
		snprintf(note, notelen, "eager split: off (chunk size 0: huge mappings split as the guest writes)");
	return 0;
}

int eager_split_apply(int vm_fd, enum eager_split policy, uint64_t chunk, struct eager_split_state *st,
		      char *note, size_t notelen)
{
	*st = (struct eager_split_state){ .path = EAGER_SPLIT_X86_PARAM };
	note[0] = 0;
	/* Asked of a VM, the chunk-size capability answers the current size (0 until set):
	 * the block-size bitmap, which only arm64 KVM with eager splitting has, tells. */
	int block_sizes = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES);
	if (block_sizes > 0)
		return apply_arm64(vm_fd, block_sizes, policy, chunk, note, notelen);
	int now = eager_split_host_state(st->path);
	if (policy == EAGER_SPLIT_HOST)
		return 0;
	if (now < 0) {
		snprintf(note, notelen, "--eager-split: this KVM has no %s: huge mappings split only as the guest writes", st->path);
		return -ENOTSUP;
	}
	bool want = policy != EAGER_SPLIT_OFF;
	const char *chunk_note = policy == EAGER_SPLIT_CHUNK
		? " (x86 KVM has no eager-split chunk size: the chunk size is ignored, KVM splits whole memslots)" : "";
	(void)chunk;
	if (now == want) {
		snprintf(note, notelen, "eager split: %s (kvm.eager_page_split already %c)%s",
			 want ? "on" : "off", want ? 'Y' : 'N', chunk_note);
		return 0;
	}
	int r = write_param(st->path, want ? 'Y' : 'N');
	if (r) {
		snprintf(note, notelen, "--eager-split %s: cannot change %s (%s): it stays %s; %s",
			 want ? "on" : "off", st->path, strerror(-r), now ? "on" : "off",
			 geteuid() == 0 ? "this host's KVM does not let it change at run time (set kvm.eager_page_split when loading kvm)"
					: "run as root");
		return r;
	}
	st->saved = now ? 'Y' : 'N';
	snprintf(note, notelen, "eager split: %s (set kvm.eager_page_split=%c for the host, until pagoda exits)%s",
		 want ? "on" : "off", want ? 'Y' : 'N', chunk_note);
	return 0;
}

void eager_split_restore(struct eager_split_state *st)
{
	if (st->saved && st->path)
		write_param(st->path, st->saved);
	st->saved = 0;
}
