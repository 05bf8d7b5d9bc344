#include "saved_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "gic.h"

#define MAX_REGS 4096          /* KVM lists a few hundred */
#define REG_MAX_BYTES 16       /* up to the 128-bit FP/SIMD registers; SVE is not enabled */

/* ---- vCPUs ---- */

struct vcpu_head {
	uint32_t index;
	uint32_t mp_state;
	uint32_t nr_regs;
	uint32_t pad;
	struct kvm_vcpu_events events;
};

struct reg_entry {
	uint64_t id;
	uint8_t value[REG_MAX_BYTES];
};

static int kerr(char *err, size_t errlen, int e, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(-e));
	return e;
}

static size_t reg_bytes(uint64_t id)
{
	return (size_t)1 << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
}

/* The registers KVM has for this vCPU; NULL with *e set when it cannot say. */
static struct kvm_reg_list *reg_list(int vcpu_fd, int *e)
{
	struct kvm_reg_list probe = { .n = 0 };
	if (ioctl(vcpu_fd, KVM_GET_REG_LIST, &probe) == 0 || errno != E2BIG || probe.n > MAX_REGS) {
		*e = probe.n > MAX_REGS ? -E2BIG : -errno;
		return NULL;
	}
	struct kvm_reg_list *l = calloc(1, sizeof(*l) + probe.n * sizeof(uint64_t));
	if (!l) {
		*e = -ENOMEM;
		return NULL;
	}
	l->n = probe.n;
	if (ioctl(vcpu_fd, KVM_GET_REG_LIST, l) < 0) {
		*e = -errno;
		free(l);
		return NULL;
	}
	return l;
}

static int one_reg(int vcpu_fd, unsigned long req, uint64_t id, void *value)
{
	struct kvm_one_reg r = { .id = id, .addr = (uint64_t)(uintptr_t)value };
	return ioctl(vcpu_fd, req, &r) < 0 ? -errno : 0;
}

int arm64_vcpu_save(int vcpu_fd, unsigned int index, struct state_buf *out, char *err, size_t errlen)
{
	int e = 0;
	struct kvm_reg_list *l = reg_list(vcpu_fd, &e);
	if (!l)
		return kerr(err, errlen, e, "KVM_GET_REG_LIST");
	struct reg_entry *regs = calloc(l->n ? l->n : 1, sizeof(*regs));
	struct vcpu_head h = { .index = index };
	struct kvm_mp_state mp;
	if (!regs)
		e = -ENOMEM;
	for (uint64_t i = 0; !e && i < l->n; i++) {
		if (reg_bytes(l->reg[i]) > REG_MAX_BYTES)
			continue; /* not ours to carry: SVE is never enabled here */
		regs[h.nr_regs].id = l->reg[i];
		if ((e = one_reg(vcpu_fd, KVM_GET_ONE_REG, l->reg[i], regs[h.nr_regs].value)))
			snprintf(err, errlen, "vCPU %u: KVM_GET_ONE_REG 0x%llx: %s", index, (unsigned long long)l->reg[i],
				 strerror(-e));
		h.nr_regs++;
	}
	if (!e && ioctl(vcpu_fd, KVM_GET_MP_STATE, &mp) < 0)
		e = kerr(err, errlen, -errno, "KVM_GET_MP_STATE");
	/* No SError pending where KVM cannot tell (its events need KVM_CAP_VCPU_EVENTS). */
	if (!e && ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &h.events) < 0)
		memset(&h.events, 0, sizeof(h.events));
	if (!e) {
		h.mp_state = mp.mp_state;
		state_put(out, REC_ARM64_VCPU, &h, sizeof(h), regs, h.nr_regs * sizeof(*regs));
	}
	free(regs);
	free(l);
	return e;
}

static bool listed(const struct kvm_reg_list *l, uint64_t id)
{
	for (uint64_t i = 0; i < l->n; i++)
		if (l->reg[i] == id)
			return true;
	return false;
}

static int set_regs(int vcpu_fd, const struct vcpu_head *h, const uint8_t *p, char *err, size_t errlen)
{
	int e = 0;
	struct kvm_reg_list *l = reg_list(vcpu_fd, &e);
	if (!l)
		return kerr(err, errlen, e, "KVM_GET_REG_LIST");
	for (uint32_t i = 0; !e && i < h->nr_regs; i++) {
		struct reg_entry r;
		memcpy(&r, p + (size_t)i * sizeof(r), sizeof(r));
		if (!listed(l, r.id) || reg_bytes(r.id) > REG_MAX_BYTES) {
			snprintf(err, errlen, "vCPU %u: the state names register 0x%llx, which this vCPU does not have",
				 h->index, (unsigned long long)r.id);
			e = -EBADMSG;
		} else if ((e = one_reg(vcpu_fd, KVM_SET_ONE_REG, r.id, r.value))) {
			snprintf(err, errlen, "vCPU %u: KVM refused register 0x%llx: %s (a host of another CPU type?)",
				 h->index, (unsigned long long)r.id, strerror(-e));
		}
	}
	free(l);
	return e;
}

int arm64_vcpu_restore(int vcpu_fd, const uint8_t *payload, size_t len, char *err, size_t errlen)
{
	struct vcpu_head h;
	if (len < sizeof(h)) {
		snprintf(err, errlen, "arm64 vCPU record of %zu bytes: truncated", len);
		return -EBADMSG;
	}
	memcpy(&h, payload, sizeof(h));
	if (h.nr_regs > MAX_REGS || len != sizeof(h) + (size_t)h.nr_regs * sizeof(struct reg_entry)) {
		snprintf(err, errlen, "arm64 vCPU record: %u registers do not fit its %zu bytes", h.nr_regs, len);
		return -EBADMSG;
	}
	int e = set_regs(vcpu_fd, &h, payload + sizeof(h), err, errlen);
	struct kvm_mp_state mp = { .mp_state = h.mp_state };
	if (!e && ioctl(vcpu_fd, KVM_SET_MP_STATE, &mp) < 0)
		e = kerr(err, errlen, -errno, "KVM_SET_MP_STATE");
	if (!e && h.events.exception.serror_pending && ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &h.events) < 0)
		e = kerr(err, errlen, -errno, "KVM_SET_VCPU_EVENTS");
	return e;
}

/* ---- the GICv3 ---- */

struct gic_entry {
	uint32_t group;
	uint32_t pad;
	uint64_t attr;
	uint64_t value;
};

#define SGI_BASE 0x10000
#define NR_SPI_WORDS (ARM64_GIC_NR_IRQS / 32) /* 32-interrupt words, the first private */
#define SYSREG(op0, op1, crn, crm, op2) ((op0) << 14 | (op1) << 11 | (crn) << 7 | (crm) << 3 | (op2))

/* The CPU interface, in the order KVM wants them back: SRE and CTLR first (they decide
 * what the others mean), then the enables, priority mask, binary points, active
 * priorities. */
static const uint32_t icc_regs[] = {
	SYSREG(3, 0, 12, 12, 5), SYSREG(3, 0, 12, 12, 4), SYSREG(3, 0, 12, 12, 6), SYSREG(3, 0, 12, 12, 7),
	SYSREG(3, 0, 4, 6, 0),   SYSREG(3, 0, 12, 8, 3),  SYSREG(3, 0, 12, 12, 3),
	SYSREG(3, 0, 12, 8, 4),  SYSREG(3, 0, 12, 8, 5),  SYSREG(3, 0, 12, 8, 6),  SYSREG(3, 0, 12, 8, 7),
	SYSREG(3, 0, 12, 9, 0),  SYSREG(3, 0, 12, 9, 1),  SYSREG(3, 0, 12, 9, 2),  SYSREG(3, 0, 12, 9, 3),
};

/* A redistributor: where the guest keeps LPI configuration and pending bits (PROPBASER,
 * PENDBASER, 64-bit: two halves each; KVM takes them only while LPIs are off, so before
 * CTLR), CTLR, then the SGI/PPI frame: groups, enables, pending, active, priorities,
 * configuration, group modifiers. */
static const uint32_t redist_regs[] = {
	0x0070, 0x0074, 0x0078, 0x007C, 0x0000, SGI_BASE + 0x0080, SGI_BASE + 0x0100, SGI_BASE + 0x0200, SGI_BASE + 0x0300,
	SGI_BASE + 0x0400, SGI_BASE + 0x0404, SGI_BASE + 0x0408, SGI_BASE + 0x040C,
	SGI_BASE + 0x0410, SGI_BASE + 0x0414, SGI_BASE + 0x0418, SGI_BASE + 0x041C,
	SGI_BASE + 0x0C00, SGI_BASE + 0x0C04, SGI_BASE + 0x0D00,
};

static uint64_t mpidr_attr(uint64_t mpidr)
{
	uint64_t aff = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xffffff);
	return aff << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

/* Every (group, attribute) pagoda saves for this machine, in restore order: the
 * distributor's revision and control, the redistributors, the SPIs' line levels (before their pending
 * latches), the distributor's SPI registers, the CPU interfaces. Returns how many. */
static size_t gic_attrs(const uint64_t *mpidr, unsigned int nr_cpus, struct gic_entry *out, size_t max)
{
	size_t n = 0;
#define ADD(g, a) do { if (n < max) out[n] = (struct gic_entry){ .group = (g), .attr = (a) }; n++; } while (0)
	ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0008); /* GICD_IIDR first: KVM's behaviour revision */
	ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0000); /* GICD_CTLR */
	for (unsigned int c = 0; c < nr_cpus; c++)
		for (size_t k = 0; k < sizeof(redist_regs) / sizeof(redist_regs[0]); k++)
			ADD(KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, mpidr_attr(mpidr[c]) | redist_regs[k]);
	for (uint32_t w = 1; w < NR_SPI_WORDS; w++)
		ADD(KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO,
		    (uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT | w * 32);
	for (uint32_t w = 1; w < NR_SPI_WORDS; w++) {
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0080 + 4 * w); /* IGROUPR */
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0100 + 4 * w); /* ISENABLER */
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0200 + 4 * w); /* ISPENDR (the latch) */
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0300 + 4 * w); /* ISACTIVER */
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0D00 + 4 * w); /* IGRPMODR */
	}
	for (uint32_t w = 8; w < ARM64_GIC_NR_IRQS / 4; w++)
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0400 + 4 * w); /* IPRIORITYR, 4 per word */
	for (uint32_t w = 2; w < ARM64_GIC_NR_IRQS / 16; w++)
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0C00 + 4 * w); /* ICFGR, 16 per word */
	for (uint32_t irq = 32; irq < ARM64_GIC_NR_IRQS; irq++) { /* IROUTER, 64-bit: two halves */
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x6000 + 8 * irq);
		ADD(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x6000 + 8 * irq + 4);
	}
	for (unsigned int c = 0; c < nr_cpus; c++)
		for (size_t k = 0; k < sizeof(icc_regs) / sizeof(icc_regs[0]); k++)
			ADD(KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, mpidr_attr(mpidr[c]) | icc_regs[k]);
#undef ADD
	return n;
}

static int gic_attr(int fd, unsigned long req, struct gic_entry *g)
{
	/* Distributor, redistributor and line-level registers are 32 bits wide. */
	uint32_t v32 = (uint32_t)g->value;
	bool wide = g->group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
	int e = arm64_device_attr(fd, req, g->group, g->attr, wide ? (void *)&g->value : (void *)&v32);
	if (e)
		return e;
	if (!wide)
		g->value = v32;
	return 0;
}

static struct gic_entry *all_attrs(const uint64_t *mpidr, unsigned int nr_cpus, size_t *n)
{
	*n = gic_attrs(mpidr, nr_cpus, NULL, 0);
	struct gic_entry *t = calloc(*n, sizeof(*t));
	if (t)
		gic_attrs(mpidr, nr_cpus, t, *n);
	return t;
}

/* Registers KVM does not offer (ENXIO: an active-priority register beyond its priority
 * bits) are left out; any other failure is one. */
int arm64_gic_save(int gic_fd, const uint64_t *mpidr, unsigned int nr_cpus, struct state_buf *out,
		   char *err, size_t errlen)
{
	size_t n, kept = 0;
	struct gic_entry *t = all_attrs(mpidr, nr_cpus, &n);
	if (!t)
		return kerr(err, errlen, -ENOMEM, "GICv3 state");
	int e = 0;
	for (size_t i = 0; i < n && !e; i++) {
		e = gic_attr(gic_fd, KVM_GET_DEVICE_ATTR, &t[i]);
		if (!e)
			t[kept++] = t[i];
		else if (e == -ENXIO || e == -EINVAL)
			e = 0;
		else
			snprintf(err, errlen, "GICv3: reading group %u attribute 0x%llx: %s", t[i].group,
				 (unsigned long long)t[i].attr, strerror(-e));
	}
	if (!e)
		state_put(out, REC_ARM64_GIC, t, kept * sizeof(*t), NULL, 0);
	free(t);
	return e;
}

static bool known_attr(const struct gic_entry *t, size_t n, const struct gic_entry *g)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].group == g->group && t[i].attr == g->attr)
			return true;
	return false;
}

int arm64_gic_restore(int gic_fd, const uint64_t *mpidr, unsigned int nr_cpus, const uint8_t *payload,
		      size_t len, char *err, size_t errlen)
{
	size_t n;
	struct gic_entry *t = all_attrs(mpidr, nr_cpus, &n);
	if (!t)
		return kerr(err, errlen, -ENOMEM, "GICv3 state");
	int e = len % sizeof(struct gic_entry) || len / sizeof(struct gic_entry) > n ? -EBADMSG : 0;
	if (e)
		snprintf(err, errlen, "GICv3 record of %zu bytes: not a list of this machine's registers", len);
	for (size_t off = 0; !e && off < len; off += sizeof(struct gic_entry)) {
		struct gic_entry g;
		memcpy(&g, payload + off, sizeof(g));
		if (!known_attr(t, n, &g)) {
			snprintf(err, errlen, "GICv3 record names group %u attribute 0x%llx, not one of this machine's",
				 g.group, (unsigned long long)g.attr);
			e = -EBADMSG;
		} else if ((e = gic_attr(gic_fd, KVM_SET_DEVICE_ATTR, &g))) {
			snprintf(err, errlen, "GICv3: KVM refused group %u attribute 0x%llx = 0x%llx: %s", g.group,
				 (unsigned long long)g.attr, (unsigned long long)g.value, strerror(-e));
		}
	}
	free(t);
	return e;
}

/* ---- the ITS ---- */

#define GITS_CTLR 0x0000

struct its_entry {
	uint64_t offset;
	uint64_t value;
};

/* In restore order: CBASER first (writing it resets CREADR), IIDR before the tables (its
 * revision is their layout's), the command queue's read and write pointers, the tables'
 * bases; CTLR last, after the tables are loaded, as it enables the ITS. */
static const uint64_t its_regs[] = {
	0x0080, 0x0004, 0x0090, 0x0088,
	0x0100, 0x0108, 0x0110, 0x0118, 0x0120, 0x0128, 0x0130, 0x0138,
	GITS_CTLR,
};
#define NR_ITS_REGS (sizeof(its_regs) / sizeof(its_regs[0]))

int arm64_its_flush(int gic_fd, int its_fd, char *err, size_t errlen)
{
	int e = arm64_device_attr(its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_SAVE_TABLES, NULL);
	if (e)
		return kerr(err, errlen, e, "ITS: writing its tables into guest RAM (KVM_DEV_ARM_ITS_SAVE_TABLES)");
	e = arm64_device_attr(gic_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL);
	return e ? kerr(err, errlen, e, "GICv3: writing the LPI pending bits into guest RAM") : 0;
}

int arm64_its_save(int its_fd, struct state_buf *out, char *err, size_t errlen)
{
	struct its_entry t[NR_ITS_REGS];
	for (size_t i = 0; i < NR_ITS_REGS; i++) {
		t[i].offset = its_regs[i];
		int e = arm64_device_attr(its_fd, KVM_GET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, its_regs[i], &t[i].value);
		if (e) {
			snprintf(err, errlen, "ITS: reading register 0x%llx: %s", (unsigned long long)its_regs[i], strerror(-e));
			return e;
		}
	}
	state_put(out, REC_ARM64_ITS, t, sizeof(t), NULL, 0);
	return 0;
}

int arm64_its_restore(int its_fd, const uint8_t *payload, size_t len, char *err, size_t errlen)
{
	if (its_fd < 0) {
		snprintf(err, errlen, "the state has an ITS and this VM has none: use --virtio-transport pci");
		return -EINVAL;
	}
	struct its_entry t[NR_ITS_REGS];
	if (len != sizeof(t)) {
		snprintf(err, errlen, "ITS record of %zu bytes: not this machine's %zu registers", len, NR_ITS_REGS);
		return -EBADMSG;
	}
	memcpy(t, payload, sizeof(t));
	for (size_t i = 0; i < NR_ITS_REGS; i++) {
		if (t[i].offset != its_regs[i]) {
			snprintf(err, errlen, "ITS record: register %zu is 0x%llx, not 0x%llx", i,
				 (unsigned long long)t[i].offset, (unsigned long long)its_regs[i]);
			return -EBADMSG;
		}
	}
	int e = 0;
	for (size_t i = 0; i < NR_ITS_REGS - 1 && !e; i++)
		if ((e = arm64_device_attr(its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, t[i].offset, &t[i].value)))
			snprintf(err, errlen, "ITS: KVM refused register 0x%llx = 0x%llx: %s", (unsigned long long)t[i].offset,
				 (unsigned long long)t[i].value, strerror(-e));
	/* The tables name devices, events and collections in guest RAM: KVM checks them. */
	if (!e && (e = arm64_device_attr(its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL)))
		snprintf(err, errlen, "ITS: KVM refused the tables in guest RAM (KVM_DEV_ARM_ITS_RESTORE_TABLES): %s",
			 strerror(-e));
	if (!e && (e = arm64_device_attr(its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, GITS_CTLR,
				&t[NR_ITS_REGS - 1].value)))
		snprintf(err, errlen, "ITS: KVM refused GITS_CTLR = 0x%llx: %s",
			 (unsigned long long)t[NR_ITS_REGS - 1].value, strerror(-e));
	return e;
}
