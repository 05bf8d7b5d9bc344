#include "machine_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void machine_state_header(const struct machine *m, struct state_header *h)
{
	*h = (struct state_header){ .version = STATE_VERSION, .arch = MACHINE_ARCH_ID, .ram_size = m->vm.mem.layout.ram_size,
				    .nr_vcpus = m->vm.nr_vcpus, .nr_ram = m->vm.mem.layout.nr_ram, .nr_virtio = m->virtio.nr };
	memcpy(h->magic, STATE_MAGIC, 8);
	for (unsigned int i = 0; i < h->nr_ram && i < 4; i++) {
		h->ram[i].gpa = m->vm.mem.layout.ram[i].gpa;
		h->ram[i].size = m->vm.mem.layout.ram[i].size;
	}
	machine_arch_state_header(m, h);
}

const char *machine_state_mismatch(const struct machine *m, const struct state_header *h,
				   char *why, size_t len)
{
	struct state_header mine;
	machine_state_header(m, &mine);
	if (h->ram_size != mine.ram_size)
		snprintf(why, len, "guest memory differs: the state has %lluM, this VM %lluM (use -m %lluM)",
			 (unsigned long long)(h->ram_size >> 20), (unsigned long long)(mine.ram_size >> 20),
			 (unsigned long long)(h->ram_size >> 20));
	else if (h->nr_vcpus != mine.nr_vcpus)
		snprintf(why, len, "vCPU count differs: the state has %u, this VM %u (use -c %u)", h->nr_vcpus,
			 mine.nr_vcpus, h->nr_vcpus);
	else if (h->cpu_baseline != mine.cpu_baseline)
		snprintf(why, len, "CPU model differs: the state has %s, this VM %s (use --cpu %s)",
			 h->cpu_baseline ? "baseline" : "host", mine.cpu_baseline ? "baseline" : "host",
			 h->cpu_baseline ? "baseline" : "host");
	else if (!h->cpu_baseline && (memcmp(h->host_vendor, mine.host_vendor, 12) || h->host_family != mine.host_family))
		snprintf(why, len, "the state has the host CPU model of another kind of CPU (" MACHINE_ARCH_CPU_ID
			 " 0x%x, here 0x%x)", h->host_family, mine.host_family);
	else if (h->nr_ram != mine.nr_ram || memcmp(h->ram, mine.ram, sizeof(h->ram)))
		snprintf(why, len, "the guest memory layout differs");
	else if (h->nr_virtio != mine.nr_virtio)
		snprintf(why, len, "virtio devices differ: the state has %u, this VM %u", h->nr_virtio, mine.nr_virtio);
	else
		return NULL;
	return why;
}

void machine_state_put_header(const struct machine *m, struct state_buf *out)
{
	struct state_header h;
	machine_state_header(m, &h);
	state_put(out, REC_HEADER, &h, sizeof(h), NULL, 0);
}

int machine_state_save(struct machine *m, struct state_buf *out, char *err, size_t errlen)
{
	if (m->cfg.nr_fs) { /* the server's open files and fids are host state that cannot move */
		snprintf(err, errlen, "a VM with a shared directory (--fs %s) cannot be saved or moved", m->cfg.fs[0].path);
		return -EOPNOTSUPP;
	}
	machine_state_put_header(m, out);
	int e = machine_arch_save(m, out, err, errlen);
	if (e)
		return e;
	struct serial_state ss;
	serial_save(&m->serial, &ss);
	state_put(out, REC_SERIAL, &ss, sizeof(ss), NULL, 0);
	for (unsigned int i = 0; i < m->virtio.nr; i++) {
		struct virtio_dev_state vs;
		virtio_devices_save(&m->virtio, i, &vs);
		uint32_t idx = i;
		state_put(out, REC_VIRTIO, &idx, sizeof(idx), &vs, sizeof(vs));
		if (!m->virtio.pci_on)
			continue;
		struct virtio_pci_state ps;
		virtio_devices_save_pci(&m->virtio, i, &ps);
		state_put(out, REC_VIRTIO_PCI, &idx, sizeof(idx), &ps, sizeof(ps));
	}
	uint32_t crc = state_crc32(out->data, out->len, 0);
	state_put(out, REC_END, &crc, sizeof(crc), NULL, 0);
	return out->failed ? -ENOMEM : 0;
}

/* Per vCPU: registers, special registers, an xsave area (11 KiB with AMX), up to 512
 * MSRs, the LAPIC and the rest come to about 22 KiB. */
size_t machine_state_max_len(unsigned int nr_vcpus)
{
	return (1u << 20) + (size_t)nr_vcpus * (64u << 10);
}

int machine_state_peek_header(const struct state_buf *in, struct state_header *h, char *err, size_t errlen)
{
	struct state_buf b = *in;
	struct state_rec r;
	b.pos = 0;
	if (state_next(&b, &r) <= 0 || r.type != REC_HEADER || r.len != sizeof(*h) ||
	    memcmp(r.payload, STATE_MAGIC, 8)) {
		snprintf(err, errlen, "not a pagoda VM state (no header)");
		return -EBADMSG;
	}
	memcpy(h, r.payload, sizeof(*h));
	if (h->version != STATE_VERSION || h->arch != MACHINE_ARCH_ID) {
		snprintf(err, errlen, "VM state version %u (arch %u): this pagoda reads version %u " MACHINE_ARCH_NAME,
			 h->version, h->arch, STATE_VERSION);
		return -EPROTO;
	}
	if (!h->nr_vcpus || h->nr_vcpus > MACHINE_MAX_CPUS || h->ram_size < MACHINE_MIN_MEM || h->ram_size % SZ_4K ||
	    !h->nr_ram || h->nr_ram > 4 || h->nr_virtio > MACHINE_MAX_VIRTIO) {
		snprintf(err, errlen, "VM state header is corrupted (%u vCPUs, %llu bytes of RAM in %u regions, %u devices)",
			 h->nr_vcpus, (unsigned long long)h->ram_size, h->nr_ram, h->nr_virtio);
		return -EBADMSG;
	}
	return 0;
}

/* The stream must end in REC_END holding the CRC of everything before it. */
static int check_crc(const struct state_buf *in, char *err, size_t errlen)
{
	const size_t end_len = 8 + 4;
	uint32_t type, len, crc;
	if (in->len < end_len)
		goto bad;
	memcpy(&type, in->data + in->len - end_len, 4);
	memcpy(&len, in->data + in->len - end_len + 4, 4);
	memcpy(&crc, in->data + in->len - 4, 4);
	if (type != REC_END || len != 4 || crc != state_crc32(in->data, in->len - end_len, 0))
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "VM state is truncated or corrupted (checksum)");
	return -EBADMSG;
}

/* What a stream has restored so far: each vCPU and each virtio device exactly once. */
struct restore_seen {
	bool *vcpu;
	bool virtio[MACHINE_MAX_VIRTIO];
	bool virtio_pci[MACHINE_MAX_VIRTIO];
};

/* A device's record: its u32 index, then exactly size bytes of state into out. */
static bool device_record(const struct state_rec *r, size_t size, uint32_t *idx, void *out)
{
	if (r->len != 4 + size)
		return false;
	memcpy(idx, r->payload, 4);
	memcpy(out, r->payload + 4, size);
	return true;
}

static int restore_record(struct machine *m, const struct state_rec *r, struct restore_seen *seen,
			  char *err, size_t errlen)
{
	uint32_t idx;
	struct virtio_dev_state vs;
	struct virtio_pci_state ps;
	switch (r->type) {
	case REC_HEADER:
	case REC_END:
		return 0;
	case REC_SERIAL:
		if (r->len != sizeof(struct serial_state))
			break;
		struct serial_state ss;
		memcpy(&ss, r->payload, sizeof(ss));
		return serial_restore(&m->serial, &ss);
	case REC_VIRTIO:
		if (!device_record(r, sizeof(vs), &idx, &vs) || (idx < MACHINE_MAX_VIRTIO && seen->virtio[idx]))
			break;
		if (idx < MACHINE_MAX_VIRTIO)
			seen->virtio[idx] = true;
		return virtio_devices_restore(&m->virtio, idx, &vs, err, errlen);
	case REC_VIRTIO_PCI:
		if (!device_record(r, sizeof(ps), &idx, &ps) || idx >= MACHINE_MAX_VIRTIO || seen->virtio_pci[idx] ||
		    !seen->virtio[idx])
			break; /* once per device, after the device's own record */
		seen->virtio_pci[idx] = true;
		return virtio_devices_restore_pci(&m->virtio, idx, &ps, err, errlen);
	default: {
		int e = machine_arch_restore_record(m, r, seen->vcpu, err, errlen);
		if (e <= 0)
			return e;
	}
	}
	snprintf(err, errlen, "bad VM state record 0x%x of %u bytes", r->type, r->len);
	return -EBADMSG;
}

int machine_state_restore(struct machine *m, struct state_buf *in, char *err, size_t errlen)
{
	struct state_header h;
	char why[200];
	int e = machine_state_peek_header(in, &h, err, errlen);
	if (!e)
		e = check_crc(in, err, errlen);
	if (e)
		return e;
	if (machine_state_mismatch(m, &h, why, sizeof(why))) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	struct state_rec r;
	struct restore_seen seen = { .vcpu = calloc(m->vm.nr_vcpus, sizeof(bool)) };
	if (!seen.vcpu)
		return -ENOMEM;
	int got;
	in->pos = 0;
	while (!e && (got = state_next(in, &r)) > 0)
		e = restore_record(m, &r, &seen, err, errlen);
	unsigned int vcpus = 0, devices = 0, on_pci = 0;
	for (unsigned int i = 0; i < m->vm.nr_vcpus; i++)
		vcpus += seen.vcpu[i];
	for (unsigned int i = 0; i < m->virtio.nr; i++) {
		devices += seen.virtio[i];
		on_pci += seen.virtio_pci[i];
	}
	free(seen.vcpu);
	if (!e && (vcpus != m->vm.nr_vcpus || devices != m->virtio.nr)) {
		snprintf(err, errlen, "VM state holds %u of %u vCPUs and %u of %u virtio devices", vcpus,
			 m->vm.nr_vcpus, devices, m->virtio.nr);
		e = -EBADMSG;
	} else if (!e && m->virtio.pci_on && on_pci != m->virtio.nr) {
		snprintf(err, errlen, "the state's virtio devices are not on PCI and this VM's are: use --virtio-transport mmio");
		e = -EINVAL;
	}
	return e ? e : machine_arch_restore_finish(m, err, errlen);
}
