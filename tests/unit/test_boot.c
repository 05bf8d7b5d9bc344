/* The loaders against good and corrupted images, in guest memory without KVM. */
#include <asm/bootparam.h>
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../arch/x86/boot.h"
#include "../../arch/x86/boot_layout.h"
#include "../../arch/x86/pvh.h"
#include "check.h"

static char err[256];

static struct guest_mem *new_mem(uint64_t size)
{
	static struct guest_mem m;
	struct mem_layout l;
	guest_mem_destroy(&m);
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = -1, .max_slots = 8 };
	char e[200];
	if (layout_x86(size, SZ_4K, &l) || guest_mem_create(&m, &l, &o, e, sizeof(e)))
		abort();
	return &m;
}

static void *gp(struct guest_mem *m, uint64_t gpa)
{
	return guest_mem_ptr(m, gpa, 1, GUEST_READ);
}

#define BODY_LEN 0x4000

/* A bzImage with the header fields a loader reads and BODY_LEN bytes of "kernel". */
static uint8_t *make_bzimage(size_t *len, uint16_t version, uint32_t cmdline_size)
{
	size_t setup = 2 * 512;
	uint8_t *img = calloc(1, setup + BODY_LEN);
	struct setup_header h = { 0 };
	h.setup_sects = 1;
	h.boot_flag = 0xaa55;
	h.jump = 0x66eb; /* header ends at 0x268 */
	h.header = 0x53726448;
	h.version = version;
	h.syssize = BODY_LEN / 16;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = cmdline_size;
	h.initrd_addr_max = 0x7fffffff;
	h.pref_address = 0x1000000;
	h.init_size = 0x800000;
	memcpy(img + 0x1f1, &h, sizeof(h));
	for (size_t i = 0; i < BODY_LEN; i++)
		img[setup + i] = (uint8_t)(i * 7);
	*len = setup + BODY_LEN;
	return img;
}

static int load(struct guest_mem *m, const uint8_t *k, size_t klen, const uint8_t *initrd,
		size_t ilen, const char *cmdline, struct x86_boot_entry *e)
{
	struct x86_boot_config c = { k, klen, initrd, ilen, cmdline, 2, false };
	err[0] = 0;
	return x86_boot_setup(m, &c, e, err, sizeof(err));
}

static void bzimage_good(void)
{
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f, 2047);
	struct guest_mem *m = new_mem(256ULL << 20);
	uint8_t initrd[10000];
	memset(initrd, 0x5a, sizeof(initrd));
	struct x86_boot_entry e;
	CHECK_EQ(load(m, img, len, initrd, sizeof(initrd), "console=ttyS0 quiet", &e), 0);
	CHECK_EQ(e.mode, X86_ENTRY_LONG64);
	CHECK_EQ(e.entry, 0x100200);
	CHECK_EQ(e.arg, BOOT_PARAMS_GPA);
	CHECK(!memcmp(gp(m, 0x100000), img + 1024, BODY_LEN));
	struct boot_params *bp = gp(m, BOOT_PARAMS_GPA);
	CHECK_EQ(bp->hdr.type_of_loader, 0xff);
	CHECK_EQ(bp->hdr.version, 0x020f);
	CHECK_EQ(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	CHECK(!strcmp(gp(m, BOOT_CMDLINE_GPA), "console=ttyS0 quiet"));
	CHECK_EQ(bp->acpi_rsdp_addr, BOOT_ACPI_GPA);
	CHECK_EQ(bp->e820_entries, 4);
	CHECK_EQ(bp->e820_table[3].addr, 0x100000);
	CHECK_EQ(bp->e820_table[3].addr + bp->e820_table[3].size, 256ULL << 20);
	/* the initrd sits page aligned at the top of RAM, above what the kernel unpacks into */
	uint32_t rd = bp->hdr.ramdisk_image;
	CHECK_EQ(bp->hdr.ramdisk_size, sizeof(initrd));
	CHECK_EQ(rd % 4096, 0);
	CHECK(rd >= 0x1000000 + 0x800000);
	CHECK(rd + sizeof(initrd) <= (256ULL << 20));
	CHECK(!memcmp(gp(m, rd), initrd, sizeof(initrd)));
	/* identity map and GDT for long mode */
	uint64_t *pml4 = gp(m, BOOT_PML4_GPA), *pd = gp(m, BOOT_PD_GPA);
	CHECK_EQ(pml4[0], BOOT_PDPT_GPA | 3);
	CHECK_EQ(pd[1], SZ_2M | 0x83);
	uint64_t *gdt = gp(m, BOOT_GDT_GPA);
	CHECK_EQ(gdt[2], 0x00af9b000000ffffULL);
	CHECK(!memcmp(gp(m, BOOT_MPTABLE_GPA), "_MP_", 4));
	CHECK(!memcmp(gp(m, BOOT_ACPI_GPA), "RSD PTR ", 8));
	free(img);
}

static void bzimage_bad(void)
{
	size_t len;
	struct x86_boot_entry e;
	struct guest_mem *m = new_mem(256ULL << 20);
	uint8_t *img = make_bzimage(&len, 0x020b, 2047);
	CHECK(load(m, img, len, NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "no 64-bit entry");
	free(img);

	img = make_bzimage(&len, 0x020f, 2047);
	CHECK(load(m, img, len - 1, NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "truncated");
	CHECK(load(m, img, 0x300, NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "truncated");
	free(img);

	img = make_bzimage(&len, 0x020f, 10);
	CHECK(load(m, img, len, NULL, 0, "console=ttyS0 quiet", &e) < 0);
	CHECK_MSG(err, "at most 10");
	free(img);

	img = make_bzimage(&len, 0x020f, 2047);
	struct guest_mem *small = new_mem(16ULL << 20);
	CHECK(load(small, img, len, NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "needs 24 MiB");
	CHECK_MSG(err, "-m");
	size_t big = 20ULL << 20;
	uint8_t *initrd = calloc(1, big);
	m = new_mem(32ULL << 20);
	CHECK(load(m, img, len, initrd, big, "", &e) < 0);
	CHECK_MSG(err, "initrd");
	CHECK_MSG(err, "-m");
	free(initrd);
	free(img);

	uint8_t junk[4096] = { 1, 2, 3 };
	CHECK(load(m, junk, sizeof(junk), NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "neither a bzImage nor an ELF");
}

static uint8_t *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		abort();
	uint8_t *buf = malloc((size_t)st.st_size);
	if (read(fd, buf, (size_t)st.st_size) != st.st_size)
		abort();
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void elf_test_guest(const char *path)
{
	size_t len;
	uint8_t *img = read_file(path, &len);
	struct guest_mem *m = new_mem(64ULL << 20);
	struct x86_boot_entry e;
	CHECK_EQ(load(m, img, len, NULL, 0, "a=b", &e), 0);
	CHECK_EQ(e.mode, X86_ENTRY_LONG64);
	CHECK_EQ(e.entry, ((Elf64_Ehdr *)img)->e_entry);
	CHECK_EQ(e.arg, BOOT_PARAMS_GPA);
	CHECK(!strcmp(gp(m, BOOT_CMDLINE_GPA), "a=b"));
	CHECK(load(m, img, 200, NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "truncated");
	CHECK(load(m, img, len / 2, NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "truncated");
	((Elf64_Ehdr *)img)->e_phoff = len; /* program headers past the end */
	CHECK(load(m, img, len, NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "program headers");
	free(img);
}

struct pvh_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	Elf64_Nhdr nh;
	char name[4];
	uint64_t entry;
	uint8_t code[16];
};

static void make_pvh(struct pvh_elf *f, uint64_t paddr, uint32_t note_type)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->eh.e_ident, ELFMAG, SELFMAG);
	f->eh.e_ident[EI_CLASS] = ELFCLASS64;
	f->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	f->eh.e_type = ET_EXEC;
	f->eh.e_machine = EM_X86_64;
	f->eh.e_entry = 0xffffffff81000000ULL; /* virtual, like vmlinux */
	f->eh.e_phoff = offsetof(struct pvh_elf, ph);
	f->eh.e_phentsize = sizeof(Elf64_Phdr);
	f->eh.e_phnum = 2;
	f->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(struct pvh_elf, code),
				 .p_paddr = paddr, .p_filesz = 16, .p_memsz = 4096 };
	f->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = offsetof(struct pvh_elf, nh),
				 .p_filesz = sizeof(Elf64_Nhdr) + 4 + 8 };
	f->nh = (Elf64_Nhdr){ 4, 8, note_type };
	memcpy(f->name, "Xen", 4);
	f->entry = paddr + 4;
	memset(f->code, 0x90, sizeof(f->code));
}

static void elf_pvh(void)
{
	struct pvh_elf f;
	struct x86_boot_entry e;
	struct guest_mem *m = new_mem(64ULL << 20);
	uint8_t initrd[5000] = { 7 };
	make_pvh(&f, 0x1000000, XEN_ELFNOTE_PHYS32_ENTRY);
	CHECK_EQ(load(m, (uint8_t *)&f, sizeof(f), initrd, sizeof(initrd), "root=x", &e), 0);
	CHECK_EQ(e.mode, X86_ENTRY_PVH32);
	CHECK_EQ(e.entry, 0x1000004);
	struct hvm_start_info *si = gp(m, e.arg);
	CHECK_EQ(si->magic, XEN_HVM_START_MAGIC);
	CHECK_EQ(si->cmdline_paddr, BOOT_CMDLINE_GPA);
	CHECK_EQ(si->rsdp_paddr, BOOT_ACPI_GPA);
	CHECK_EQ(si->memmap_entries, 4);
	CHECK_EQ(si->nr_modules, 1);
	struct hvm_modlist_entry *mod = gp(m, si->modlist_paddr);
	CHECK_EQ(mod->size, sizeof(initrd));
	CHECK(mod->paddr >= 0x1001000);
	CHECK_EQ(*(uint8_t *)gp(m, mod->paddr), 7);
	uint64_t *gdt = gp(m, BOOT_GDT_GPA);
	CHECK_EQ(gdt[2], 0x00cf9b000000ffffULL); /* 32-bit code for PVH */

	/* without the note, a virtual entry point cannot be entered */
	make_pvh(&f, 0x1000000, 99);
	CHECK(load(m, (uint8_t *)&f, sizeof(f), NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "CONFIG_PVH");
	/* a segment outside RAM */
	make_pvh(&f, 0x8000000, XEN_ELFNOTE_PHYS32_ENTRY);
	CHECK(load(m, (uint8_t *)&f, sizeof(f), NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "not in guest RAM");
	/* a note whose size runs past its segment is ignored, not read past */
	make_pvh(&f, 0x1000000, XEN_ELFNOTE_PHYS32_ENTRY);
	f.nh.n_descsz = 0x7fffffff;
	CHECK(load(m, (uint8_t *)&f, sizeof(f), NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "CONFIG_PVH");
	/* a size that wraps when rounded up in 32 bits (0xfffffffd + 3 = 0) */
	make_pvh(&f, 0x1000000, XEN_ELFNOTE_PHYS32_ENTRY);
	f.nh.n_descsz = 0xfffffffd;
	CHECK(load(m, (uint8_t *)&f, sizeof(f), NULL, 0, "", &e) < 0);
	CHECK_MSG(err, "CONFIG_PVH");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_boot GUEST.elf\n");
		return 2;
	}
	bzimage_good();
	bzimage_bad();
	elf_test_guest(argv[1]);
	elf_pvh();
	guest_mem_destroy(new_mem(SZ_2M * 2));
	return check_result("boot");
}
