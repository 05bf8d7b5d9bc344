/* What happens to KVM's huge mappings when dirty logging starts. x86 KVM has one global
 * switch (kvm.eager_page_split), which also governs splitting inside KVM_CLEAR_DIRTY_LOG
 * with INITIALLY_SET; arm64 KVM has a per-VM chunk size (KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE,
 * before the first memslot). pagoda applies what the host supports and says plainly what
 * it could not. */
#ifndef PAGODA_MEM_EAGER_SPLIT_H
#define PAGODA_MEM_EAGER_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum eager_split {
	EAGER_SPLIT_HOST,  /* leave the host as it is */
	EAGER_SPLIT_OFF,
	EAGER_SPLIT_ON,
	EAGER_SPLIT_CHUNK, /* arm64: split in chunks of this size */
};

struct eager_split_state {
	char saved;        /* the x86 parameter before pagoda changed it: 'Y', 'N', 0 if untouched */
	const char *path;
};

/* Applies the policy to the VM (arm64: before its first memslot) or the host (x86); writes
 * one line for the user into note (what is in effect, and anything that could not be
 * done). Returns 0, or -errno when the policy cannot be met at all (the host has no such
 * switch, or not that chunk size). */
int eager_split_apply(int vm_fd, enum eager_split policy, uint64_t chunk, struct eager_split_state *st,
		      char *note, size_t notelen);
/* Puts the host parameter back as it was. */
void eager_split_restore(struct eager_split_state *st);
/* The x86 parameter as it is now: 1 on, 0 off, -1 absent. */
int eager_split_host_state(const char *path);

#define EAGER_SPLIT_X86_PARAM "/sys/module/kvm/parameters/eager_page_split"

#endif
