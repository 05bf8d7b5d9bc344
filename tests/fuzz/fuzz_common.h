/* Shared by the libFuzzer targets: a small guest memory (no KVM) made once. */
#ifndef PAGODA_FUZZ_COMMON_H
#define PAGODA_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "../../mem/guest_mem.h"

#define FUZZ_RAM (64ULL << 20)

static struct guest_mem *fuzz_mem(void)
{
	static struct guest_mem m;
	static int made;
	if (!made) {
		struct mem_layout l;
		struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = -1, .max_slots = 8 };
		char err[256];
		if (layout_x86(FUZZ_RAM, SZ_4K, &l) || guest_mem_create(&m, &l, &o, err, sizeof(err))) {
			fprintf(stderr, "fuzz: guest memory: %s\n", err);
			abort();
		}
		made = 1;
	}
	return &m;
}

#endif
