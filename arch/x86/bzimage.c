/* bzImage through the 64-bit boot protocol (Documentation/arch/x86/boot.rst): pagoda fills
 * the zero page, puts the protected-mode kernel at 1 MiB and enters startup_64 at
 * +0x200 in long mode. Never the 16-bit setup code: slow everywhere, very slow here. */
#include <asm/bootparam.h>
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "boot_layout.h"

#define HDR_OFFSET      0x1f1
#define MIN_VERSION     0x020c /* xloadflags, and with it XLF_KERNEL_64 */
#define STARTUP_64      0x200

static int check_header(const struct x86_boot_config *c, const struct setup_header *h,
			char *err, size_t errlen)
{
	if (h->version < MIN_VERSION || !(h->xloadflags & XLF_KERNEL_64))
		return err_set(err, errlen, -ENOEXEC, "bzImage boot protocol %u.%02u has no 64-bit entry (needs 2.12 with XLF_KERNEL_64): use a newer x86-64 kernel",
				h->version >> 8, h->version & 0xff);
	unsigned int sects = h->setup_sects ? h->setup_sects : 4;
	size_t setup = (size_t)(sects + 1) * 512;
	if (c->kernel_len <= setup || (uint64_t)h->syssize * 16 > c->kernel_len - setup)
		return err_set(err, errlen, -ENOEXEC, "bzImage is truncated: %zu bytes, its header promises %llu",
				c->kernel_len, (unsigned long long)setup + (uint64_t)h->syssize * 16);
	return 0;
}

int x86_load_bzimage(struct guest_mem *m, const struct x86_boot_config *c,
		     struct x86_boot_entry *e, char *err, size_t errlen)
{
	struct setup_header h;
	size_t hdr_len = 0x202 + c->kernel[0x201] - HDR_OFFSET; /* the header's own end */
	if (c->kernel_len < HDR_OFFSET + sizeof(h))
		return err_set(err, errlen, -ENOEXEC, "bzImage is truncated: %zu bytes", c->kernel_len);
	memcpy(&h, c->kernel + HDR_OFFSET, sizeof(h));
	int r = check_header(c, &h, err, errlen);
	if (r)
		return r;

	size_t setup = (size_t)((h.setup_sects ? h.setup_sects : 4) + 1) * 512;
	const uint8_t *body = c->kernel + setup;
	size_t body_len = c->kernel_len - setup;
	/* The decompressor unpacks to max(load address, pref_address) and needs init_size
	 * bytes there; all of it must be RAM. */
	uint64_t unpack = h.pref_address > BOOT_HIGH_GPA ? h.pref_address : BOOT_HIGH_GPA;
	uint64_t need = unpack + (h.init_size > body_len ? h.init_size : body_len);
	void *dst = guest_mem_ptr(m, BOOT_HIGH_GPA, body_len, GUEST_WRITE);
	if (!dst || !guest_mem_ptr(m, unpack, need - unpack, GUEST_READ))
		return err_set(err, errlen, -ENOSPC, "this kernel needs %llu MiB of low RAM to unpack: give more memory with -m",
				(unsigned long long)((need + (1ULL << 20) - 1) >> 20));
	memcpy(dst, body, body_len);

	size_t max_cmdline = h.cmdline_size ? (size_t)h.cmdline_size + 1 : 256;
	r = boot_put_cmdline(m, c->cmdline, max_cmdline, err, errlen);
	if (r)
		return r;
	uint64_t initrd = 0;
	r = boot_put_initrd(m, c, need, (uint64_t)h.initrd_addr_max + 1, &initrd, err, errlen);
	if (r)
		return r;
	r = boot_fill_params(m, c->kernel + HDR_OFFSET, hdr_len, initrd, c->initrd ? c->initrd_len : 0, c->pci);
	if (r)
		return err_set(err, errlen, r, "could not write the zero page");
	*e = (struct x86_boot_entry){ X86_ENTRY_LONG64, BOOT_HIGH_GPA + STARTUP_64, BOOT_PARAMS_GPA, "bzImage" };
	return 0;
}
