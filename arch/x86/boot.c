#include "boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../devices/pci.h"
#include "acpi.h"
#include "boot_layout.h"
#include "mptable.h"

#define E820_RAM      1
#define E820_RESERVED 2

unsigned int boot_e820_build(const struct mem_layout *l, bool pci, struct boot_e820_entry *out,
			     unsigned int max)
{
	unsigned int n = 0;
#define ADD(a, s, t) do { if (n < max) out[n++] = (struct boot_e820_entry){ (a), (s), (t) }; } while (0)
	ADD(0, BOOT_EBDA_GPA, E820_RAM);
	ADD(BOOT_EBDA_GPA, 0xa0000 - BOOT_EBDA_GPA, E820_RESERVED);
	ADD(BOOT_BIOS_GPA, BOOT_HIGH_GPA - BOOT_BIOS_GPA, E820_RESERVED);
	bool ecam_listed = !pci;
	for (unsigned int i = 0; i < l->nr_ram; i++) {
		uint64_t start = l->ram[i].gpa, end = start + l->ram[i].size;
		if (!ecam_listed && start > PCI_ECAM_GPA) { /* in address order */
			ADD(PCI_ECAM_GPA, PCI_ECAM_SIZE, E820_RESERVED);
			ecam_listed = true;
		}
		if (start < BOOT_HIGH_GPA)
			start = BOOT_HIGH_GPA;
		if (end > start)
			ADD(start, end - start, E820_RAM);
	}
	if (!ecam_listed)
		ADD(PCI_ECAM_GPA, PCI_ECAM_SIZE, E820_RESERVED);
#undef ADD
	return n;
}

static int put_bytes(struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_mem_ptr(m, gpa, len, GUEST_WRITE);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, src, len);
	return 0;
}

int boot_put_cmdline(struct guest_mem *m, const char *cmdline, size_t max_len, char *err,
		     size_t errlen)
{
	size_t len = strlen(cmdline) + 1;
	if (max_len > BOOT_CMDLINE_MAX)
		max_len = BOOT_CMDLINE_MAX;
	if (len > max_len)
		return err_set(err, errlen, -E2BIG, "kernel command line is %zu bytes, this kernel takes at most %zu: shorten -p", len - 1, max_len - 1);
	return put_bytes(m, BOOT_CMDLINE_GPA, cmdline, len);
}

int boot_put_initrd(struct guest_mem *m, const struct x86_boot_config *c, uint64_t lowest,
		    uint64_t highest, uint64_t *gpa_out, char *err, size_t errlen)
{
	*gpa_out = 0;
	if (!c->initrd)
		return 0;
	uint64_t low_end = m->layout.ram[0].gpa + m->layout.ram[0].size;
	if (highest > low_end)
		highest = low_end;
	uint64_t size = c->initrd_len;
	if (size == 0)
		return err_set(err, errlen, -EINVAL, "initrd is empty: give a cpio archive");
	if (highest < lowest || size > highest - lowest)
		return err_set(err, errlen, -ENOSPC, "initrd (%llu KiB) does not fit in guest RAM above the kernel (0x%llx-0x%llx): give more memory with -m",
				(unsigned long long)(size >> 10), (unsigned long long)lowest,
				(unsigned long long)highest);
	uint64_t gpa = (highest - size) & ~(SZ_4K - 1);
	if (gpa < lowest || put_bytes(m, gpa, c->initrd, size))
		return err_set(err, errlen, -ENOSPC, "initrd (%llu KiB) does not fit in guest RAM: give more memory with -m",
				(unsigned long long)(size >> 10));
	*gpa_out = gpa;
	return 0;
}

int boot_fill_params(struct guest_mem *m, const void *hdr, size_t hdr_len, uint64_t initrd_gpa,
		     uint64_t initrd_len, bool pci)
{
	struct boot_params *bp = guest_mem_ptr(m, BOOT_PARAMS_GPA, sizeof(*bp), GUEST_WRITE);
	if (!bp)
		return -ENOMEM;
	memset(bp, 0, sizeof(*bp));
	if (hdr)
		memcpy(&bp->hdr, hdr, hdr_len < sizeof(bp->hdr) ? hdr_len : sizeof(bp->hdr));
	bp->hdr.type_of_loader = 0xff; /* undefined loader: Linux asks nothing more */
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_GPA;
	bp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
	bp->hdr.ramdisk_size = (uint32_t)initrd_len;
	bp->ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(initrd_len >> 32);
	bp->acpi_rsdp_addr = BOOT_ACPI_GPA;
	bp->e820_entries = (uint8_t)boot_e820_build(&m->layout, pci, bp->e820_table,
						    E820_MAX_ENTRIES_ZEROPAGE);
	return 0;
}

/* GDT for both entry modes: 0x10 code (64-bit or 32-bit by mode), 0x18 data, 0x20 TSS. */
static int put_gdt(struct guest_mem *m, enum x86_entry_mode mode)
{
	uint64_t gdt[5] = {
		0, 0,
		mode == X86_ENTRY_LONG64 ? 0x00af9b000000ffffULL : 0x00cf9b000000ffffULL,
		0x00cf93000000ffffULL,
		0x00008b0000000067ULL,
	};
	return put_bytes(m, BOOT_GDT_GPA, gdt, sizeof(gdt));
}

/* Identity map with 2 MiB pages over max(4 GiB, end of RAM): the 64-bit boot protocol
 * wants the kernel, zero page and command line mapped; the tiny guests use all of RAM
 * and the LAPIC/IOAPIC in the hole. */
static int put_identity_map(struct guest_mem *m)
{
	uint64_t end = layout_ram_end(&m->layout);
	uint64_t gigs = (end + SZ_1G - 1) / SZ_1G;
	if (gigs < 4)
		gigs = 4;
	if (gigs > BOOT_PD_PAGES)
		gigs = BOOT_PD_PAGES;
	uint64_t *pml4 = guest_mem_ptr(m, BOOT_PML4_GPA, SZ_4K, GUEST_WRITE);
	uint64_t *pdpt = guest_mem_ptr(m, BOOT_PDPT_GPA, SZ_4K, GUEST_WRITE);
	uint64_t *pd = guest_mem_ptr(m, BOOT_PD_GPA, gigs * SZ_4K, GUEST_WRITE);
	if (!pml4 || !pdpt || !pd)
		return -ENOMEM;
	memset(pml4, 0, SZ_4K);
	memset(pdpt, 0, SZ_4K);
	pml4[0] = BOOT_PDPT_GPA | 0x3; /* present, writable */
	for (uint64_t g = 0; g < gigs; g++) {
		pdpt[g] = (BOOT_PD_GPA + g * SZ_4K) | 0x3;
		for (uint64_t i = 0; i < 512; i++)
			pd[g * 512 + i] = (g * SZ_1G + i * SZ_2M) | 0x83; /* present, writable, 2M */
	}
	return 0;
}

static int put_tables(struct guest_mem *m, unsigned int nr_cpus, bool pci)
{
	const struct acpi_pci bus = { .ecam_base = PCI_ECAM_GPA, .mmio_base = PCI_MMIO_GPA, .mmio_size = PCI_MMIO_SIZE };
	uint8_t buf[0x2000];
	size_t n = mptable_build(buf, sizeof(buf), BOOT_MPTABLE_GPA, nr_cpus);
	if (!n || put_bytes(m, BOOT_MPTABLE_GPA, buf, n))
		return -E2BIG;
	n = acpi_build(buf, sizeof(buf), BOOT_ACPI_GPA, nr_cpus, pci ? &bus : NULL);
	if (!n || n > BOOT_MPTABLE_GPA - BOOT_ACPI_GPA || put_bytes(m, BOOT_ACPI_GPA, buf, n))
		return -E2BIG;
	return 0;
}

static bool is_elf(const struct x86_boot_config *c)
{
	return c->kernel_len >= 4 && !memcmp(c->kernel, "\x7f" "ELF", 4);
}

static bool is_bzimage(const struct x86_boot_config *c)
{
	return c->kernel_len >= 0x206 && c->kernel[0x1fe] == 0x55 && c->kernel[0x1ff] == 0xaa &&
	       !memcmp(c->kernel + 0x202, "HdrS", 4);
}

int x86_boot_setup(struct guest_mem *m, const struct x86_boot_config *c,
		   struct x86_boot_entry *e, char *err, size_t errlen)
{
	if (layout_ram_end(&m->layout) < 2 * BOOT_HIGH_GPA)
		return err_set(err, errlen, -ENOSPC, "guest RAM is too small to boot: give at least -m 2M");
	if (c->nr_cpus == 0 || c->nr_cpus > 254)
		return err_set(err, errlen, -EINVAL, "%u vCPUs: the MP table and MADT describe 1 to 254", c->nr_cpus);
	int r;
	if (is_elf(c))
		r = x86_load_elf(m, c, e, err, errlen);
	else if (is_bzimage(c))
		r = x86_load_bzimage(m, c, e, err, errlen);
	else
		return err_set(err, errlen, -ENOEXEC, "kernel is neither a bzImage nor an ELF file: give arch/x86/boot/bzImage or vmlinux");
	if (r)
		return r;
	r = put_gdt(m, e->mode);
	if (!r && e->mode == X86_ENTRY_LONG64)
		r = put_identity_map(m);
	if (!r)
		r = put_tables(m, c->nr_cpus, c->pci);
	if (r)
		return err_set(err, errlen, r, "could not write boot tables into guest memory: %s", strerror(-r));
	return 0;
}
