#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../util/sizes.h"

#define LEGACY_TEXT_OFFSET 0x80000ULL

struct image_header {
	uint32_t code0, code1;
	uint64_t text_offset, image_size, flags, res2, res3, res4;
	uint32_t magic, res5;
};

#define FLAG_BIG_ENDIAN 0x1ULL

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

int arm64_image_plan(const void *image, size_t len, size_t initrd_len, uint64_t ram_gpa,
		     uint64_t ram_size, struct arm64_boot_plan *p, char *err, size_t errlen)
{
	struct image_header h;
	*p = (struct arm64_boot_plan){ 0 };
	if (len < sizeof(h)) {
		snprintf(err, errlen, "kernel: %zu bytes is too short for an arm64 Image header (64 bytes)", len);
		return -EINVAL;
	}
	memcpy(&h, image, sizeof(h));
	if (h.magic != ARM64_IMAGE_MAGIC) {
		snprintf(err, errlen, "kernel: not an arm64 Image (no \"ARM\\x64\" magic at byte 56): give an uncompressed Image, e.g. gunzip a vmlinuz");
		return -EINVAL;
	}
	if (h.flags & FLAG_BIG_ENDIAN) {
		snprintf(err, errlen, "kernel: a big-endian Image: pagoda runs little-endian guests");
		return -EINVAL;
	}
	/* image_size 0: a kernel older than 3.17, whose text offset is 0x80000 whatever the field says. */
	uint64_t text_offset = h.image_size ? h.text_offset : LEGACY_TEXT_OFFSET;
	uint64_t size = h.image_size ? h.image_size : len;
	if (size < len || text_offset >= SZ_2M * 16 || text_offset % 0x1000 || size > ram_size) {
		snprintf(err, errlen, "kernel: Image header says text offset 0x%llx, size %llu bytes (file %zu): not a kernel this RAM can hold",
			 (unsigned long long)text_offset, (unsigned long long)size, len);
		return -EINVAL;
	}
	uint64_t ram_end = ram_gpa + ram_size;
	p->kernel_gpa = align_down(ram_gpa + SZ_2M - 1, SZ_2M) + text_offset;
	p->kernel_end = p->kernel_gpa + size;
	p->entry = p->kernel_gpa;
	p->dtb_gpa = align_down(ram_end - ARM64_DTB_MAX, SZ_2M);
	uint64_t room = ram_size >= 2 * ARM64_DTB_MAX && p->dtb_gpa >= p->kernel_end ? p->dtb_gpa - p->kernel_end : 0;
	if (!room || initrd_len > room) {
		snprintf(err, errlen, "kernel (%llu KiB with its bss)%s and the device tree need more than %llu MiB of RAM: use a larger -m",
			 (unsigned long long)(size >> 10), initrd_len ? ", initrd" : "", (unsigned long long)(ram_size >> 20));
		return -ENOMEM;
	}
	if (initrd_len) {
		p->initrd_gpa = align_down(p->dtb_gpa - initrd_len, 0x1000);
		p->initrd_end = p->initrd_gpa + initrd_len;
		if (p->initrd_gpa < p->kernel_end) {
			snprintf(err, errlen, "kernel and initrd (%zu KiB) overlap in %llu MiB of RAM: use a larger -m",
				 initrd_len >> 10, (unsigned long long)(ram_size >> 20));
			return -ENOMEM;
		}
	}
	return 0;
}
