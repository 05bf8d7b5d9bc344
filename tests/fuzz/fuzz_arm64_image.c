/* The arm64 Image planner: any bytes as a kernel, with an initrd size taken from the input,
 * either get a plan whose pieces lie inside RAM without overlapping (kernel, then initrd,
 * then the device tree's 2 MiB at the top) or are refused with a message. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../arch/arm64/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t ram = 0x40000000, ram_size = 256ULL << 20;
	uint32_t initrd = 0;
	if (size >= 68)
		memcpy(&initrd, data + 64, 4);
	struct arm64_boot_plan p;
	char err[256];
	if (arm64_image_plan(data, size, initrd, ram, ram_size, &p, err, sizeof(err)) != 0) {
		if (!err[0])
			__builtin_trap(); /* a refusal always says why */
		return 0;
	}
	bool in_ram = p.kernel_gpa >= ram && p.kernel_end > p.kernel_gpa && p.dtb_gpa + ARM64_DTB_MAX <= ram + ram_size;
	bool ordered = p.kernel_end <= (initrd ? p.initrd_gpa : p.dtb_gpa) && (!initrd || p.initrd_end <= p.dtb_gpa);
	bool sizes = p.kernel_end - p.kernel_gpa >= size && p.initrd_end - p.initrd_gpa == initrd && p.entry == p.kernel_gpa;
	if (!in_ram || !ordered || !sizes || p.kernel_gpa % 0x1000)
		__builtin_trap();
	return 0;
}
