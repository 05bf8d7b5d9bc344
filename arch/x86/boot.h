/* Putting a guest into memory: kernel formats (bzImage through the 64-bit boot protocol,
 * ELF with a PVH note, plain 64-bit ELF test guests), the boot tables every format shares
 * (GDT, identity map, e820, MP table, ACPI), the command line and the initrd. Operates on
 * guest memory only, so it is unit-tested without KVM. */
#ifndef PAGODA_X86_BOOT_H
#define PAGODA_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../mem/guest_mem.h"
#include "../../util/err.h"

struct x86_boot_config {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_len;
	const char *cmdline;
	unsigned int nr_cpus;
	bool pci;              /* a PCI bus: described in ACPI, its ECAM reserved in e820 */
};

enum x86_entry_mode {
	X86_ENTRY_LONG64, /* rsi = boot_params */
	X86_ENTRY_PVH32,  /* rbx = hvm_start_info */
};

struct x86_boot_entry {
	enum x86_entry_mode mode;
	uint64_t entry;
	uint64_t arg;
	const char *format; /* for messages: "bzImage", "ELF (PVH)", "ELF (64-bit)" */
};

/* Loads the kernel and writes every boot table. On error returns -errno with a one-line
 * message in err that says what is wrong with the input. */
int x86_boot_setup(struct guest_mem *m, const struct x86_boot_config *c,
		   struct x86_boot_entry *e, char *err, size_t errlen);

/* Internals shared by the loaders (boot.c). */
struct boot_e820_entry;
unsigned int boot_e820_build(const struct mem_layout *l, bool pci, struct boot_e820_entry *out,
			     unsigned int max);
/* Copies the command line to BOOT_CMDLINE_GPA; max_len counts the terminating NUL. */
int boot_put_cmdline(struct guest_mem *m, const char *cmdline, size_t max_len, char *err,
		     size_t errlen);
/* Places the initrd as high as possible in [lowest, highest), page aligned; *gpa_out = 0
 * when there is none. */
int boot_put_initrd(struct guest_mem *m, const struct x86_boot_config *c, uint64_t lowest,
		    uint64_t highest, uint64_t *gpa_out, char *err, size_t errlen);
/* Fills the zero page at BOOT_PARAMS_GPA from hdr (may be NULL) and the shared tables. */
int boot_fill_params(struct guest_mem *m, const void *hdr, size_t hdr_len, uint64_t initrd_gpa,
		     uint64_t initrd_len, bool pci);

int x86_load_bzimage(struct guest_mem *m, const struct x86_boot_config *c,
		     struct x86_boot_entry *e, char *err, size_t errlen);
int x86_load_elf(struct guest_mem *m, const struct x86_boot_config *c,
		 struct x86_boot_entry *e, char *err, size_t errlen);

#endif
