/* The arm64 Linux `Image` (Documentation/arch/arm64/booting.rst) and where the boot
 * pieces go in RAM: the kernel at a 2 MiB aligned base plus its text offset, the device
 * tree in the last 2 MiB of RAM (a 2 MiB block of its own), the initrd just below it.
 * Pure arithmetic on the file and the RAM range: unit-tested and fuzzable. */
#ifndef PAGODA_ARM64_IMAGE_H
#define PAGODA_ARM64_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define ARM64_IMAGE_MAGIC 0x644d5241u /* "ARM\x64" */
#define ARM64_DTB_MAX     0x200000ULL

struct arm64_boot_plan {
	uint64_t kernel_gpa, kernel_end; /* kernel_end: load address + image_size (bss included) */
	uint64_t entry;
	uint64_t initrd_gpa, initrd_end; /* 0, 0 without an initrd */
	uint64_t dtb_gpa;
};

/* Checks the header of an Image of len bytes and places it, an initrd of initrd_len bytes
 * and the device tree in RAM [ram_gpa, ram_gpa + ram_size). 0, or -EINVAL / -ENOMEM with a
 * one-line message for the user in err. */
int arm64_image_plan(const void *image, size_t len, size_t initrd_len, uint64_t ram_gpa,
		     uint64_t ram_size, struct arm64_boot_plan *p, char *err, size_t errlen);

#endif
