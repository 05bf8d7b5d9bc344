/* ELF kernels: with a Xen PHYS32_ENTRY note (Linux vmlinux built with CONFIG_PVH) the PVH
 * ABI, 32-bit protected mode and an hvm_start_info in rbx; without one, a 64-bit ELF
 * linked at physical addresses (pagoda's test guests) entered in long mode like a bzImage,
 * with the zero page in rsi. Every offset and size in the file is checked before use. */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "boot_layout.h"
#include "pvh.h"

#define MAX_PVH_MEMMAP 16

struct elf_image {
	const uint8_t *data;
	size_t len;
	Elf64_Ehdr ehdr;   /* copies: the file's headers may sit at any alignment */
	const Elf64_Ehdr *eh;
	uint64_t load_end; /* highest byte loaded + 1 */
};

static Elf64_Phdr phdr(const struct elf_image *img, unsigned int i)
{
	Elf64_Phdr ph;
	memcpy(&ph, img->data + img->eh->e_phoff + (size_t)i * sizeof(Elf64_Phdr), sizeof(ph));
	return ph;
}

static int check_ehdr(struct elf_image *img, char *err, size_t errlen)
{
	if (img->len < sizeof(Elf64_Ehdr))
		return err_set(err, errlen, -ENOEXEC, "ELF kernel is truncated: %zu bytes", img->len);
	memcpy(&img->ehdr, img->data, sizeof(img->ehdr));
	const Elf64_Ehdr *eh = img->eh = &img->ehdr;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return err_set(err, errlen, -ENOEXEC, "ELF kernel is not x86-64 (class %u, machine %u)",
				eh->e_ident[EI_CLASS], eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return err_set(err, errlen, -ENOEXEC, "ELF kernel is not an executable (type %u): link it with a fixed address", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phoff > img->len ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > img->len - eh->e_phoff)
		return err_set(err, errlen, -ENOEXEC, "ELF kernel is truncated or corrupt: program headers outside the file");
	return 0;
}

static int load_segments(struct guest_mem *m, struct elf_image *img, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < img->eh->e_phnum; i++) {
		const Elf64_Phdr ph = phdr(img, i), *p = &ph;
		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_offset > img->len || p->p_filesz > img->len - p->p_offset)
			return err_set(err, errlen, -ENOEXEC, "ELF kernel is truncated: segment %u needs bytes up to %llu, the file has %zu",
					i, (unsigned long long)(p->p_offset + p->p_filesz), img->len);
		if (p->p_filesz > p->p_memsz)
			return err_set(err, errlen, -ENOEXEC, "ELF kernel is corrupt: segment %u has more file bytes than memory", i);
		uint8_t *dst = guest_mem_ptr(m, p->p_paddr, p->p_memsz, GUEST_WRITE);
		if (!dst || p->p_paddr < BOOT_HIGH_GPA)
			return err_set(err, errlen, -ENOSPC, "ELF segment %u at 0x%llx (%llu KiB) is not in guest RAM above 1 MiB: give more memory with -m, or relink",
					i, (unsigned long long)p->p_paddr, (unsigned long long)(p->p_memsz >> 10));
		memcpy(dst, img->data + p->p_offset, p->p_filesz);
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		if (p->p_paddr + p->p_memsz > img->load_end)
			img->load_end = p->p_paddr + p->p_memsz;
	}
	if (!img->load_end)
		return err_set(err, errlen, -ENOEXEC, "ELF kernel has no loadable segment");
	return 0;
}

/* Walks one PT_NOTE segment for Xen's PHYS32_ENTRY; 0 when absent. */
static uint64_t note_pvh_entry(const struct elf_image *img, const Elf64_Phdr *p)
{
	if (p->p_offset > img->len || p->p_filesz > img->len - p->p_offset)
		return 0;
	const uint8_t *n = img->data + p->p_offset, *end = n + p->p_filesz;
	while ((size_t)(end - n) >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr note;
		memcpy(&note, n, sizeof(note));
		const Elf64_Nhdr *nh = &note;
		/* Rounded up in 64 bits: 0xfffffffd + 3 wraps to 0 in the note's own 32. */
		uint64_t name = ((uint64_t)nh->n_namesz + 3) & ~3ULL, desc = ((uint64_t)nh->n_descsz + 3) & ~3ULL;
		size_t left = (size_t)(end - n) - sizeof(*nh);
		if (name > left || desc > left - name)
			return 0;
		const uint8_t *d = n + sizeof(*nh) + name;
		if (nh->n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh->n_namesz == 4 &&
		    !memcmp(n + sizeof(*nh), "Xen", 4) && nh->n_descsz >= 4) {
			uint32_t entry;
			memcpy(&entry, d, 4);
			return entry;
		}
		n = d + desc;
	}
	return 0;
}

static uint64_t find_pvh_entry(const struct elf_image *img)
{
	for (unsigned int i = 0; i < img->eh->e_phnum; i++) {
		const Elf64_Phdr p = phdr(img, i);
		uint64_t entry = p.p_type == PT_NOTE ? note_pvh_entry(img, &p) : 0;
		if (entry)
			return entry;
	}
	return 0;
}

static int put_start_info(struct guest_mem *m, uint64_t initrd, uint64_t initrd_len, bool pci)
{
	struct hvm_start_info *si = guest_mem_ptr(m, BOOT_PVH_INFO_GPA, SZ_4K, GUEST_WRITE);
	if (!si)
		return -ENOMEM;
	memset(si, 0, SZ_4K);
	struct hvm_modlist_entry *mod = (struct hvm_modlist_entry *)(si + 1);
	struct hvm_memmap_table_entry *mm = (struct hvm_memmap_table_entry *)(mod + 1);
	struct boot_e820_entry e820[MAX_PVH_MEMMAP];
	unsigned int n = boot_e820_build(&m->layout, pci, e820, MAX_PVH_MEMMAP);
	for (unsigned int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_table_entry){ e820[i].addr, e820[i].size, e820[i].type, 0 };
	*si = (struct hvm_start_info){
		.magic = XEN_HVM_START_MAGIC, .version = 1,
		.cmdline_paddr = BOOT_CMDLINE_GPA, .rsdp_paddr = BOOT_ACPI_GPA,
		.memmap_paddr = BOOT_PVH_INFO_GPA + ((uint8_t *)mm - (uint8_t *)si),
		.memmap_entries = n,
	};
	if (initrd) {
		*mod = (struct hvm_modlist_entry){ .paddr = initrd, .size = initrd_len };
		si->nr_modules = 1;
		si->modlist_paddr = BOOT_PVH_INFO_GPA + sizeof(*si);
	}
	return 0;
}

int x86_load_elf(struct guest_mem *m, const struct x86_boot_config *c,
		 struct x86_boot_entry *e, char *err, size_t errlen)
{
	struct elf_image img = { .data = c->kernel, .len = c->kernel_len };
	int r = check_ehdr(&img, err, errlen);
	if (!r)
		r = load_segments(m, &img, err, errlen);
	if (!r)
		r = boot_put_cmdline(m, c->cmdline, BOOT_CMDLINE_MAX, err, errlen);
	uint64_t initrd = 0, initrd_len = c->initrd ? c->initrd_len : 0;
	if (!r)
		r = boot_put_initrd(m, c, img.load_end, UINT64_MAX, &initrd, err, errlen);
	if (r)
		return r;

	uint64_t pvh = find_pvh_entry(&img);
	if (pvh) {
		if (put_start_info(m, initrd, initrd_len, c->pci))
			return err_set(err, errlen, -ENOMEM, "could not write the PVH start info");
		*e = (struct x86_boot_entry){ X86_ENTRY_PVH32, pvh, BOOT_PVH_INFO_GPA, "ELF (PVH)" };
		return 0;
	}
	if (!guest_mem_ptr(m, img.eh->e_entry, 1, GUEST_READ) || img.eh->e_entry >= img.load_end)
		return err_set(err, errlen, -ENOEXEC, "ELF has no PVH note and its entry 0x%llx is not a loaded physical address: build Linux with CONFIG_PVH=y or boot its bzImage",
				(unsigned long long)img.eh->e_entry);
	if (boot_fill_params(m, NULL, 0, initrd, initrd_len, c->pci))
		return err_set(err, errlen, -ENOMEM, "could not write the zero page");
	*e = (struct x86_boot_entry){ X86_ENTRY_LONG64, img.eh->e_entry, BOOT_PARAMS_GPA, "ELF (64-bit)" };
	return 0;
}
