/* The kernel loaders (bzImage, ELF with or without a PVH note): any bytes as a kernel
 * image either load inside guest RAM or are refused with a message. */
#include <stdint.h>
#include <string.h>

#include "../../arch/x86/boot.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *m = fuzz_mem();
	struct x86_boot_config bc = { .kernel = data, .kernel_len = size, .cmdline = "console=ttyS0", .nr_cpus = 2 };
	struct x86_boot_entry e;
	char err[256];
	if (x86_boot_setup(m, &bc, &e, err, sizeof(err)) == 0 && !guest_mem_ptr(m, e.entry, 1, GUEST_READ) &&
	    e.mode == X86_ENTRY_LONG64)
		__builtin_trap(); /* a loaded kernel's entry must be guest RAM */
	return 0;
}
