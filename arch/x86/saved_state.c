#include "saved_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MAX_MSRS 512

static int kerr(char *err, size_t errlen, const char *what)
{
	int e = errno;
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

static size_t xsave_size(int vm_fd)
{
	int n = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

/* The MSRs KVM says to save, less those this vCPU cannot read (KVM_GET_MSRS stops at
 * the first failure and says how far it got). */
static int save_msrs(int kvm_fd, int vcpu_fd, struct state_buf *b, char *err, size_t errlen)
{
	struct { struct kvm_msr_list l; uint32_t idx[MAX_MSRS]; } list = { .l.nmsrs = MAX_MSRS };
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &list) < 0)
		return kerr(err, errlen, "KVM_GET_MSR_INDEX_LIST");
	struct { struct kvm_msrs h; struct kvm_msr_entry e[MAX_MSRS]; } *m = calloc(1, sizeof(*m));
	struct kvm_msr_entry *got = calloc(MAX_MSRS, sizeof(*got));
	uint32_t nr_got = 0, i = 0;
	while (m && got && i < list.l.nmsrs) {
		uint32_t n = list.l.nmsrs - i;
		memset(m, 0, sizeof(*m));
		m->h.nmsrs = n;
		for (uint32_t k = 0; k < n; k++)
			m->e[k].index = list.idx[i + k];
		int r = ioctl(vcpu_fd, KVM_GET_MSRS, m);
		if (r < 0)
			r = 0;
		memcpy(got + nr_got, m->e, (size_t)r * sizeof(*got));
		nr_got += (uint32_t)r;
		i += (uint32_t)r + 1; /* skip the one that failed */
	}
	if (m && got)
		state_put(b, REC_X86_MSRS, got, nr_got * sizeof(*got), NULL, 0);
	free(m);
	free(got);
	return 0;
}

int x86_vcpu_save(int kvm_fd, int vm_fd, int vcpu_fd, unsigned int index, struct state_buf *out,
		  char *err, size_t errlen)
{
	struct state_buf b;
	state_buf_init(&b);
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_mp_state mp;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dbg;
	size_t xs = xsave_size(vm_fd);
	void *xsave = calloc(1, xs);
	int e = 0;
	if (!xsave)
		e = -ENOMEM;
	else if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0)
		e = kerr(err, errlen, "KVM_GET_REGS");
	else if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		e = kerr(err, errlen, "KVM_GET_SREGS");
	else if (ioctl(vcpu_fd, xs > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xsave) < 0)
		e = kerr(err, errlen, "KVM_GET_XSAVE");
	else if (ioctl(vcpu_fd, KVM_GET_XCRS, &xcrs) < 0)
		e = kerr(err, errlen, "KVM_GET_XCRS");
	else if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &mp) < 0)
		e = kerr(err, errlen, "KVM_GET_MP_STATE");
	else if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		e = kerr(err, errlen, "KVM_GET_LAPIC");
	else if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		e = kerr(err, errlen, "KVM_GET_VCPU_EVENTS");
	else if (ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &dbg) < 0)
		e = kerr(err, errlen, "KVM_GET_DEBUGREGS");
	if (!e) {
		state_put(&b, REC_X86_REGS, &regs, sizeof(regs), NULL, 0);
		state_put(&b, REC_X86_XSAVE, xsave, xs, NULL, 0);
		state_put(&b, REC_X86_XCRS, &xcrs, sizeof(xcrs), NULL, 0);
		state_put(&b, REC_X86_SREGS, &sregs, sizeof(sregs), NULL, 0);
		e = save_msrs(kvm_fd, vcpu_fd, &b, err, errlen);
	}
	if (!e) {
		state_put(&b, REC_X86_MP_STATE, &mp, sizeof(mp), NULL, 0);
		state_put(&b, REC_X86_LAPIC, &lapic, sizeof(lapic), NULL, 0);
		state_put(&b, REC_X86_EVENTS, &ev, sizeof(ev), NULL, 0);
		state_put(&b, REC_X86_DEBUGREGS, &dbg, sizeof(dbg), NULL, 0);
		uint32_t idx = index;
		state_put(out, REC_X86_VCPU, &idx, sizeof(idx), b.data, b.len);
		if (b.failed || out->failed)
			e = -ENOMEM;
	}
	free(xsave);
	state_buf_free(&b);
	return e;
}

static int set_msrs(int vcpu_fd, const struct state_rec *r, char *err, size_t errlen)
{
	uint32_t n = r->len / sizeof(struct kvm_msr_entry);
	if (r->len % sizeof(struct kvm_msr_entry) || n > MAX_MSRS) {
		snprintf(err, errlen, "MSR record of %u bytes", r->len);
		return -EBADMSG;
	}
	struct { struct kvm_msrs h; struct kvm_msr_entry e[MAX_MSRS]; } *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->h.nmsrs = n;
	memcpy(m->e, r->payload, r->len);
	int got = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	int e = 0;
	if (got < 0)
		e = kerr(err, errlen, "KVM_SET_MSRS");
	else if ((uint32_t)got != n) {
		snprintf(err, errlen, "KVM_SET_MSRS: MSR 0x%x refused (this host's KVM differs from the source's)", m->e[got].index);
		e = -EINVAL;
	}
	free(m);
	return e;
}

/* One piece: the record must have the size of its ioctl's struct (xsave: at least that
 * of struct kvm_xsave; KVM_SET_XSAVE reads as much as this host's KVM uses, which is more
 * with AMX, so the copy handed to it is never shorter than that). */
static int set_piece(int vcpu_fd, size_t xsave_len, const struct state_rec *r, char *err, size_t errlen)
{
	static const struct { uint32_t type; unsigned long req; size_t size; const char *name; } pieces[] = {
		{ REC_X86_REGS, KVM_SET_REGS, sizeof(struct kvm_regs), "KVM_SET_REGS" },
		{ REC_X86_XSAVE, KVM_SET_XSAVE, sizeof(struct kvm_xsave), "KVM_SET_XSAVE" },
		{ REC_X86_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs), "KVM_SET_XCRS" },
		{ REC_X86_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs), "KVM_SET_SREGS" },
		{ REC_X86_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state), "KVM_SET_MP_STATE" },
		{ REC_X86_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state), "KVM_SET_LAPIC" },
		{ REC_X86_EVENTS, KVM_SET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events), "KVM_SET_VCPU_EVENTS" },
		{ REC_X86_DEBUGREGS, KVM_SET_DEBUGREGS, sizeof(struct kvm_debugregs), "KVM_SET_DEBUGREGS" },
	};
	if (r->type == REC_X86_MSRS)
		return set_msrs(vcpu_fd, r, err, errlen);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		if (pieces[i].type != r->type)
			continue;
		bool fits = r->type == REC_X86_XSAVE ? r->len >= pieces[i].size : r->len == pieces[i].size;
		if (!fits) {
			snprintf(err, errlen, "%s: record of %u bytes, %zu expected", pieces[i].name, r->len, pieces[i].size);
			return -EBADMSG;
		}
		/* An aligned copy: the record sits at any offset of the stream. */
		size_t len = r->type == REC_X86_XSAVE && xsave_len > r->len ? xsave_len : r->len;
		void *copy = calloc(1, len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, r->payload, r->len);
		int e = ioctl(vcpu_fd, pieces[i].req, copy) < 0 ? kerr(err, errlen, pieces[i].name) : 0;
		free(copy);
		return e;
	}
	snprintf(err, errlen, "unknown vCPU record type 0x%x", r->type);
	return -EBADMSG;
}

int x86_vcpu_restore(int vm_fd, int vcpu_fd, const uint8_t *payload, size_t len, char *err, size_t errlen)
{
	if (len < 4)
		return -EBADMSG;
	struct state_buf b = { .data = (uint8_t *)payload + 4, .len = len - 4 };
	struct state_rec r;
	size_t xs = xsave_size(vm_fd);
	uint32_t seen = 0;
	int got, e = 0, pieces = 0;
	/* Records were written in restore order; each piece once. */
	while (!e && (got = state_next(&b, &r)) > 0) {
		uint32_t bit = r.type >= REC_X86_REGS && r.type <= REC_X86_DEBUGREGS ? 1u << (r.type - REC_X86_REGS) : 0;
		if (seen & bit) {
			snprintf(err, errlen, "vCPU state has part 0x%x twice", r.type);
			return -EBADMSG;
		}
		seen |= bit;
		e = set_piece(vcpu_fd, xs, &r, err, errlen);
		pieces++;
	}
	if (!e && (got < 0 || pieces != 9)) {
		snprintf(err, errlen, "vCPU state is incomplete (%d of 9 parts)", pieces);
		e = -EBADMSG;
	}
	return e;
}

int x86_vm_save(int vm_fd, struct state_buf *out, char *err, size_t errlen)
{
	struct state_buf b;
	state_buf_init(&b);
	int e = 0;
	for (uint32_t chip = 0; chip < 3 && !e; chip++) {
		struct kvm_irqchip c = { .chip_id = chip };
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &c) < 0)
			e = kerr(err, errlen, "KVM_GET_IRQCHIP");
		else
			state_put(&b, REC_X86_IRQCHIP, &c, sizeof(c), NULL, 0);
	}
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };
	if (!e && ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
		e = kerr(err, errlen, "KVM_GET_PIT2");
	if (!e && ioctl(vm_fd, KVM_GET_CLOCK, &clock) < 0)
		e = kerr(err, errlen, "KVM_GET_CLOCK");
	if (!e) {
		state_put(&b, REC_X86_PIT, &pit, sizeof(pit), NULL, 0);
		state_put(&b, REC_X86_CLOCK, &clock, sizeof(clock), NULL, 0);
		state_put(out, REC_X86_VM, b.data, b.len, NULL, 0);
		if (b.failed || out->failed)
			e = -ENOMEM;
	}
	state_buf_free(&b);
	return e;
}

int x86_vm_restore(int vm_fd, const uint8_t *payload, size_t len, char *err, size_t errlen)
{
	struct state_buf b = { .data = (uint8_t *)payload, .len = len };
	struct state_rec r;
	int got, e = 0, pieces = 0;
	while (!e && (got = state_next(&b, &r)) > 0) {
		pieces++;
		if (r.type == REC_X86_IRQCHIP && r.len == sizeof(struct kvm_irqchip)) {
			struct kvm_irqchip c;
			memcpy(&c, r.payload, sizeof(c));
			if (ioctl(vm_fd, KVM_SET_IRQCHIP, &c) < 0)
				e = kerr(err, errlen, "KVM_SET_IRQCHIP");
		} else if (r.type == REC_X86_PIT && r.len == sizeof(struct kvm_pit_state2)) {
			struct kvm_pit_state2 p;
			memcpy(&p, r.payload, sizeof(p));
			if (ioctl(vm_fd, KVM_SET_PIT2, &p) < 0)
				e = kerr(err, errlen, "KVM_SET_PIT2");
		} else if (r.type == REC_X86_CLOCK && r.len == sizeof(struct kvm_clock_data)) {
			struct kvm_clock_data c;
			memcpy(&c, r.payload, sizeof(c));
			c.flags = 0; /* only the clock value carries over to another host */
			if (ioctl(vm_fd, KVM_SET_CLOCK, &c) < 0)
				e = kerr(err, errlen, "KVM_SET_CLOCK");
		} else {
			snprintf(err, errlen, "bad VM state record 0x%x of %u bytes", r.type, r.len);
			e = -EBADMSG;
		}
	}
	if (!e && pieces != 5) {
		snprintf(err, errlen, "VM state is incomplete (%d of 5 parts)", pieces);
		e = -EBADMSG;
	}
	return e;
}
