/* Assembling a VM from a run configuration (see machine.h). */
#include "machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../../mem/kvm_compat.h"
#include "../../mem/mem_stats.h"
#include "../../mem/prefault.h"
#include "../../mem/wss/working_set.h"
#include "demo_guest.h"
#include "sigbus.h"

static void power_end(void *ctx, int code, const char *why)
{
	vm_request_exit(ctx, code, "%s", why);
}

static uint64_t host_mem_total(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	unsigned long long kb = 0;
	if (f) {
		if (fscanf(f, "MemTotal: %llu kB", &kb) != 1)
			kb = 0;
		fclose(f);
	}
	return (uint64_t)kb << 10;
}

/* The size must be whole pages of the backing: say which sizes would do. */
static int check_mem_size(struct machine *m, uint64_t page_size)
{
	char sz[32], ps[32], up[32];
	uint64_t mem = m->cfg.mem_size;
	if (mem % page_size == 0)
		return 0;
	uint64_t rounded = (mem + page_size - 1) / page_size * page_size;
	if (mem < page_size)
		snprintf(m->err, sizeof(m->err), "--memory %s is smaller than one %s page of the %s backing: use -m %s or more%s",
			 layout_size_str(mem, sz, sizeof(sz)), layout_size_str(page_size, ps, sizeof(ps)),
			 mem_backend_name(m->cfg.backend.kind), layout_size_str(page_size, up, sizeof(up)),
			 page_size == SZ_1G ? ", or --hugepage-size 2M" : "");
	else
		snprintf(m->err, sizeof(m->err), "--memory %s is not a multiple of the %s page size of the %s backing: use -m %s",
			 layout_size_str(mem, sz, sizeof(sz)), layout_size_str(page_size, ps, sizeof(ps)),
			 mem_backend_name(m->cfg.backend.kind), layout_size_str(rounded, up, sizeof(up)));
	return -EINVAL;
}

static int setup_memory(struct machine *m)
{
	uint64_t host = host_mem_total();
	if (host && m->cfg.mem_size > host) {
		snprintf(m->err, sizeof(m->err), "--memory %lluM is more than this host has (%lluM): use a smaller -m",
			 (unsigned long long)(m->cfg.mem_size >> 20), (unsigned long long)(host >> 20));
		return -ENOMEM;
	}
	uint64_t page_size = mem_backend_page_size(&m->cfg.backend, m->err, sizeof(m->err));
	if (!page_size)
		return -EINVAL;
	int e = check_mem_size(m, page_size);
	struct mem_layout l;
	if (!e && machine_arch_layout(m->cfg.mem_size, page_size, &l))
		e = -EINVAL;
	if (e)
		return e;
	int slots = ioctl(m->vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	int v2 = ioctl(m->vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2);
	struct guest_mem_opts o = {
		.backend = m->cfg.backend, .vm_fd = m->vm.vm_fd,
		.max_slots = slots > 0 ? (uint32_t)slots : 32, .use_v2 = v2 > 0,
		.hva_skew = m->cfg.test_hva_skew,
	};
	e = guest_mem_create(&m->vm.mem, &l, &o, m->err, sizeof(m->err));
	if (!e)
		e = sigbus_report_install(&m->vm.mem);
	if (e || !m->cfg.prefault_threads)
		return e;
	e = mem_prefault(&m->vm.mem, m->cfg.prefault_threads);
	if (e)
		snprintf(m->err, sizeof(m->err), "--prefault: populating guest RAM (%s) failed: %s",
			 m->vm.mem.backend.desc, strerror(-e));
	return e;
}

static int build_cmdline(struct machine *m)
{
	const char *user = m->cfg.params ? m->cfg.params : "";
	const char *devices = m->virtio.cmdline;
	size_t n = strlen(machine_arch_default_params) + 1 + strlen(devices) + 1 + strlen(user) + 1;
	m->cmdline = malloc(n);
	if (!m->cmdline)
		return -ENOMEM;
	/* The devices go before the user's part, which may end in "-- init arguments". */
	snprintf(m->cmdline, n, "%s%s%s%s%s", machine_arch_default_params, *devices ? " " : "", devices,
		 *user ? " " : "", user);
	return 0;
}

static int load_guest(struct machine *m)
{
	const void *kernel = demo_guest_image, *initrd = NULL;
	size_t kernel_len = demo_guest_image_size, initrd_len = 0;
	if (m->cfg.kernel) {
		int e = image_open(&m->kernel, m->cfg.kernel, "kernel", m->err, sizeof(m->err));
		if (e)
			return e;
		kernel = m->kernel.data;
		kernel_len = m->kernel.len;
	}
	if (m->cfg.initrd) {
		int e = image_open(&m->initrd, m->cfg.initrd, "initrd", m->err, sizeof(m->err));
		if (e)
			return e;
		initrd = m->initrd.data;
		initrd_len = m->initrd.len;
	}
	return machine_arch_load_guest(m, kernel, kernel_len, initrd, initrd_len);
}

static int setup_vcpus(struct machine *m)
{
	int e = vm_create_vcpus(&m->vm, m->cfg.cpus, m->err, sizeof(m->err));
	return e ? e : machine_arch_setup_vcpus(m);
}

static int irq_set(void *ctx, uint32_t gsi, int level)
{
	return vm_irq_line(ctx, gsi, level);
}

static int setup_devices(struct machine *m)
{
	m->power = (struct power_sink){ power_end, &m->vm };
	serial_init(&m->serial, m->out_fd, (struct irq_line){ irq_set, &m->vm, MACHINE_ARCH_CONSOLE_IRQ });
	m->devices_inited = true;
	int e = machine_arch_setup_devices(m);
	if (e)
		snprintf(m->err, sizeof(m->err), "registering platform devices: %s", strerror(-e));
	return e;
}

static void sync_vcpus(void *vm)
{
	vm_sync_vcpus(vm);
}

/* Before the vCPUs and the memslots exist: a dirty ring must be enabled first. */
static int setup_dirty_log(struct machine *m)
{
	if (!m->cfg.dirty_wanted)
		return 0;
	unsigned int offered = dirty_log_modes_offered(m->vm.kvm_fd);
	enum dirty_mode mode = m->cfg.dirty_mode;
	char names[40] = "";
	for (enum dirty_mode x = DIRTY_RING; x >= DIRTY_BITMAP; x--)
		if (offered & (1u << x))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 names[0] ? ", " : "", dirty_mode_name(x));
	if (mode == DIRTY_AUTO) {
		/* A PVM host's KVM overruns a dirty ring's soft limit and cannot drain it once
		 * full (see mem/dirty.c): auto must not walk into that. */
		bool skip_ring = m->vm.pvm_fixups && (offered & ~(1u << DIRTY_RING));
		mode = dirty_log_choose(skip_ring ? offered & ~(1u << DIRTY_RING) : offered);
		if (!m->cfg.dirty_implicit)
			fprintf(stderr, "pagoda: dirty logging: %s (auto; this KVM offers %s%s)\n", dirty_mode_name(mode),
				names, skip_ring ? "; not ring: a PVM host cannot drain a full ring" : "");
	} else if (!(offered & (1u << mode))) {
		snprintf(m->err, sizeof(m->err), "--dirty-log %s: this KVM does not offer it (it offers %s)",
			 dirty_mode_name(mode), names);
		return -ENOTSUP;
	}
	int e = dirty_log_init(&m->dirty, mode, m->vm.vm_fd, m->cfg.dirty_ring_entries,
			       m->cfg.dirty_clear_chunk, m->err, sizeof(m->err));
	m->dirty_inited = true;
	m->dirty.sync_vcpus = sync_vcpus;
	m->dirty.sync_ctx = &m->vm;
	return e;
}

static int attach_dirty_log(struct machine *m)
{
	if (!m->dirty_inited)
		return 0;
	int fds[m->vm.nr_vcpus];
	vm_vcpu_fds(&m->vm, fds);
	m->vm.dirty = &m->dirty;
	return dirty_log_attach_vcpus(&m->dirty, fds, m->vm.nr_vcpus, m->err, sizeof(m->err));
}

static int setup_eager_split(struct machine *m)
{
	char note[sizeof(m->err)];
	int e = eager_split_apply(m->vm.vm_fd, m->cfg.eager_split, m->cfg.eager_chunk, &m->eager, note, sizeof(note));
	if (e)
		snprintf(m->err, sizeof(m->err), "%s", note);
	else if (note[0])
		fprintf(stderr, "pagoda: %s\n", note);
	return e;
}

static int vm_type(int kvm_fd, void *ctx, char *err, size_t errlen)
{
	const struct machine *m = ctx;
	return machine_arch_vm_type(kvm_fd, m->cfg.mem_size, err, errlen);
}

int machine_setup(struct machine *m, const struct machine_config *cfg, int out_fd)
{
	*m = (struct machine){ .cfg = *cfg, .out_fd = out_fd };
	m->t_start_ns = now_ns();
	int e = vm_create(&m->vm, vm_type, m, m->err, sizeof(m->err));
	if (e)
		return e;
	m->vm.name = m->cfg.name;
	e = machine_arch_init(m);
	if (!e)
		e = setup_eager_split(m);
	/* Before the memslots: arm64's ring-with-bitmap is refused once one exists. */
	if (!e)
		e = setup_dirty_log(m);
	if (!e)
		e = setup_memory(m);
	m->t_memory_ns = now_ns();
	if (!e)
		e = setup_vcpus(m);
	if (!e)
		e = attach_dirty_log(m);
	if (!e) {
		m->virtio_inited = true;
		e = virtio_devices_setup(&m->virtio, &m->vm, &m->cfg, m->err, sizeof(m->err));
	}
	if (!e)
		e = build_cmdline(m);
	/* A restored or incoming VM gets its memory and registers from the state instead. */
	if (!e && !m->cfg.from_state)
		e = load_guest(m);
	if (!e)
		e = setup_devices(m);
	return e;
}

int machine_start(struct machine *m)
{
	int e = virtio_devices_start(&m->virtio);
	if (e) {
		snprintf(m->err, sizeof(m->err), "starting the I/O thread: %s", strerror(-e));
		return e;
	}
	return vm_start(&m->vm, m->err, sizeof(m->err));
}

int machine_wait_exit(struct machine *m)
{
	uint64_t one;
	while (read(m->vm.exit_efd, &one, sizeof(one)) < 0 && errno == EAGAIN) {
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	return atomic_load(&m->vm.exit_code);
}

void machine_stop(struct machine *m)
{
	vm_stop(&m->vm);
	if (m->virtio_inited)
		virtio_devices_stop(&m->virtio);
}

static void on_working_set_window(void *opaque, uint32_t events)
{
	(void)events;
	struct machine *m = opaque;
	working_set_tick(m->wss); /* a failure is kept for the next report */
}

int machine_working_set_start(struct machine *m, struct event_loop *loop, double window_s,
			      enum wss_method method, char *err, size_t errlen)
{
	int e = working_set_start(&m->wss, &m->vm.mem, window_s, method, err, errlen);
	if (e || working_set_fd(m->wss) < 0)
		return e;
	if ((e = event_loop_add(loop, working_set_fd(m->wss), EPOLLIN, on_working_set_window, m))) {
		working_set_stop(m->wss);
		m->wss = NULL;
		snprintf(err, errlen, "working-set: watching its windows: %s", strerror(-e));
		return e;
	}
	m->wss_loop = loop;
	return 0;
}

/* What must end before the VM does, whether pagoda frees it or its exit does. */
static void stop_services(struct machine *m)
{
	vm_stop(&m->vm);
	balloon_auto_stop(&m->balloon_auto);
	if (m->wss_loop)
		event_loop_remove(m->wss_loop, working_set_fd(m->wss));
	working_set_stop(m->wss);
	m->wss = NULL;
}

void machine_destroy(struct machine *m)
{
	stop_services(m);
	if (m->virtio_inited)
		virtio_devices_destroy(&m->virtio);
	m->virtio_inited = false;
	if (m->dirty_inited)
		dirty_log_destroy(&m->dirty);
	m->dirty_inited = false;
	m->vm.dirty = NULL;
	eager_split_restore(&m->eager);
	vm_destroy(&m->vm);
	machine_arch_destroy(m);
	if (m->devices_inited) {
		serial_destroy(&m->serial);
		m->devices_inited = false;
	}
	image_close(&m->kernel);
	image_close(&m->initrd);
	free(m->cmdline);
	m->cmdline = NULL;
}

void machine_leave_to_exit(struct machine *m)
{
	stop_services(m);
	if (m->virtio_inited)
		virtio_devices_stop(&m->virtio);
	eager_split_restore(&m->eager);
}

void machine_print_stats(const struct machine *m, FILE *out)
{
	uint64_t first = atomic_load(&m->vm.first_run_ns);
	fprintf(out, "stats: startup memory_ready_ms=%.1f first_kvm_run_ms=%.1f\n",
		(double)(m->t_memory_ns - m->t_start_ns) / 1e6,
		first ? (double)(first - m->t_start_ns) / 1e6 : -1.0);
	mem_stats_print(&m->vm.mem, m->vm.vm_fd, out);
	if (m->virtio_inited)
		virtio_devices_print_stats((struct virtio_devices *)&m->virtio, out);
}

void machine_dirty_log_stop(struct machine *m)
{
	int e = dirty_log_stop(&m->dirty);
	if (e)
		fprintf(stderr, "pagoda: stopping dirty logging: %s: memory stays logged (slower, still correct)\n", strerror(-e));
}

int machine_claim_vcpu_record(const struct machine *m, const struct state_rec *r, bool *vcpu_seen,
			      uint32_t *idx, char *err, size_t errlen)
{
	if (r->len < 4)
		return 1;
	memcpy(idx, r->payload, 4);
	if (*idx >= m->vm.nr_vcpus)
		return 1;
	if (vcpu_seen[*idx]) {
		snprintf(err, errlen, "the state has vCPU %u twice", *idx);
		return -EBADMSG;
	}
	vcpu_seen[*idx] = true;
	return 0;
}
