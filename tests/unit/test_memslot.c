#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../mem/guest_mem.h"
#include "../../mem/memslot.h"
#include "check.h"

static void table_only(void)
{
	struct memslot_table t;
	CHECK_EQ(memslot_table_init(&t, -1, 4, false), 0);
	uint32_t a, b, c;
	uint8_t *base = (uint8_t *)0x10000000;
	CHECK_EQ(memslot_add(&t, 0x100000, 0x100000, base, 0, &a), 0);
	CHECK_EQ(memslot_add(&t, 0x0, 0x100000, base + 0x100000, 0, &b), 0);
	CHECK(a != b);
	/* overlaps refused, at either end and inside */
	CHECK_EQ(memslot_add(&t, 0x1ff000, 0x2000, base, 0, NULL), -EEXIST);
	CHECK_EQ(memslot_add(&t, 0x80000, 0x1000, base, 0, NULL), -EEXIST);
	CHECK_EQ(memslot_add(&t, 0x0, 0x400000, base, 0, NULL), -EEXIST);
	CHECK_EQ(memslot_add(&t, 0x200000, 0, base, 0, NULL), -EINVAL);
	/* lookup: sorted by gpa whatever the insertion order */
	CHECK(memslot_find(&t, 0x0) && memslot_find(&t, 0x0)->id == b);
	CHECK(memslot_find(&t, 0xfffff) && memslot_find(&t, 0xfffff)->id == b);
	CHECK(memslot_find(&t, 0x100000) && memslot_find(&t, 0x100000)->id == a);
	CHECK(memslot_find(&t, 0x1fffff) && memslot_find(&t, 0x1fffff)->id == a);
	CHECK(memslot_find(&t, 0x200000) == NULL);
	CHECK(memslot_find(&t, UINT64_MAX) == NULL);
	/* exhaustion: 4 ids */
	CHECK_EQ(memslot_add(&t, 0x200000, 0x1000, base, 0, &c), 0);
	CHECK_EQ(memslot_add(&t, 0x300000, 0x1000, base, 0, NULL), 0);
	CHECK_EQ(memslot_add(&t, 0x400000, 0x1000, base, 0, NULL), -ENOSPC);
	/* removal frees the id and the range */
	CHECK_EQ(memslot_remove(&t, c), 0);
	CHECK_EQ(memslot_remove(&t, c), -ENOENT);
	CHECK(memslot_find(&t, 0x200000) == NULL);
	CHECK_EQ(memslot_add(&t, 0x400000, 0x1000, base, 0, NULL), 0);
	CHECK_EQ(t.nr, 4);
	for (uint32_t i = 1; i < t.nr; i++)
		CHECK(t.slots[i - 1].gpa < t.slots[i].gpa);
	memslot_table_destroy(&t);
}

/* The same table against the real /dev/kvm: KVM accepts the slots and refuses what it
 * must (a slot whose host address is not page aligned). */
static void with_kvm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	CHECK(kvm >= 0);
	if (kvm < 0)
		return;
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	CHECK(vm >= 0);
	struct memslot_table t;
	CHECK_EQ(memslot_table_init(&t, vm, 8, false), 0);
	uint8_t *mem = mmap(NULL, 4 * SZ_2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t id;
	CHECK_EQ(memslot_add(&t, 0, SZ_2M, mem, 0, &id), 0);
	CHECK_EQ(memslot_add(&t, SZ_2M, SZ_2M, mem + 1, 0, NULL), -EINVAL);
	CHECK_EQ(t.nr, 1); /* a slot KVM refused is not in the table */
	CHECK_EQ(memslot_set_flags(&t, id, KVM_MEM_LOG_DIRTY_PAGES), 0);
	CHECK_EQ(t.slots[0].flags, KVM_MEM_LOG_DIRTY_PAGES);
	CHECK_EQ(memslot_remove(&t, id), 0);
	CHECK_EQ(memslot_add(&t, 0, SZ_2M, mem, 0, NULL), 0); /* re-add after delete */
	memslot_table_destroy(&t);
	munmap(mem, 4 * SZ_2M);
	close(vm);
	close(kvm);
}

static void guest_mem_ptr_bounds(void)
{
	struct mem_layout l;
	struct guest_mem m;
	CHECK_EQ(layout_x86(3 * SZ_1G + SZ_2M, SZ_4K, &l), 0);
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = -1, .max_slots = 8 };
	char err[200];
	CHECK_EQ(guest_mem_create(&m, &l, &o, err, sizeof(err)), 0);
	/* hva and gpa agree modulo 1 GiB, so KVM can map huge blocks */
	CHECK_EQ(((uintptr_t)guest_mem_ptr(&m, 0, 1, GUEST_READ)) % SZ_1G, 0);
	CHECK_EQ(((uintptr_t)guest_mem_ptr(&m, 4 * SZ_1G, 1, GUEST_READ)) % SZ_1G, 0);
	CHECK(guest_mem_ptr(&m, 3 * SZ_1G - 16, 16, GUEST_WRITE) != NULL);
	CHECK(guest_mem_ptr(&m, 3 * SZ_1G - 16, 17, GUEST_WRITE) == NULL); /* into the hole */
	CHECK(guest_mem_ptr(&m, 3 * SZ_1G + 4096, 1, GUEST_READ) == NULL);  /* hole */
	CHECK(guest_mem_ptr(&m, 4 * SZ_1G + SZ_2M - 1, 1, GUEST_READ) != NULL);
	CHECK(guest_mem_ptr(&m, 4 * SZ_1G + SZ_2M, 1, GUEST_READ) == NULL);  /* past the end */
	CHECK(guest_mem_ptr(&m, 8, UINT64_MAX, GUEST_READ) == NULL);         /* overflow */
	uint8_t *p = guest_mem_ptr(&m, 4 * SZ_1G, SZ_2M, GUEST_WRITE);
	p[0] = 1; p[SZ_2M - 1] = 2; /* the memory is really there */
	guest_mem_destroy(&m);
}

int main(void)
{
	table_only();
	with_kvm();
	guest_mem_ptr_bounds();
	return check_result("memslot");
}
