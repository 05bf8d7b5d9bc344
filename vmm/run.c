/* `pagoda run`: from a parsed command line to a running VM and back to an exit code. */
#include "run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../arch/x86/acpi_pm.h"
#include "../arch/x86/boot.h"
#include "../arch/x86/boot_layout.h"
#include "../arch/x86/debug_exit.h"
#include "../arch/x86/i8042.h"
#include "../arch/x86/kvm_x86.h"
#include "../arch/x86/rtc.h"
#include "../arch/x86/serial.h"
#include "../arch/x86/vcpu_state.h"
#include "../mem/kvm_compat.h"
#include "../mem/mem_stats.h"
#include "../mem/prefault.h"
#include "cli.h"
#include "console.h"
#include "demo_guest.h"
#include "event_loop.h"
#include "image.h"
#include "vm.h"

#define DEFAULT_PARAMS "console=ttyS0 reboot=k"
#define COM1_PORT 0x3f8
#define COM1_IRQ 4

struct run {
	struct run_config cfg;
	struct vm vm;
	struct image kernel, initrd;
	struct serial serial;
	struct rtc rtc;
	struct power_sink power;
	struct console console;
	struct event_loop loop;
	int timer_fd, signal_fd;
	bool devices_inited;
	uint64_t t_start_ns, t_memory_ns; /* for --stats: how long setting up took */
	char *cmdline;
	char err[256];
};

static void power_end(void *ctx, int code, const char *why)
{
	vm_request_exit(ctx, code, "%s", why);
}

static int irq_set(void *ctx, uint32_t gsi, int level)
{
	return vm_irq_line(ctx, gsi, level);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
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

static const char *size_str(uint64_t v, char *buf, size_t len)
{
	if (v % SZ_1G == 0)
		snprintf(buf, len, "%lluG", (unsigned long long)(v / SZ_1G));
	else if (v % SZ_2M == 0 || v % (1ULL << 20) == 0)
		snprintf(buf, len, "%lluM", (unsigned long long)(v >> 20));
	else
		snprintf(buf, len, "%lluK", (unsigned long long)(v >> 10));
	return buf;
}

/* The size must be whole pages of the backing: say which sizes would do. */
static int check_mem_size(struct run *r, uint64_t page_size)
{
	char sz[32], ps[32], up[32];
	uint64_t mem = r->cfg.mem_size;
	if (mem % page_size == 0)
		return 0;
	uint64_t rounded = (mem + page_size - 1) / page_size * page_size;
	if (mem < page_size)
		snprintf(r->err, sizeof(r->err), "--memory %s is smaller than one %s page of the %s backing: use -m %s or more%s",
			 size_str(mem, sz, sizeof(sz)), size_str(page_size, ps, sizeof(ps)),
			 mem_backend_name(r->cfg.backend.kind), size_str(page_size, up, sizeof(up)),
			 page_size == SZ_1G ? ", or --hugepage-size 2M" : "");
	else
		snprintf(r->err, sizeof(r->err), "--memory %s is not a multiple of the %s page size of the %s backing: use -m %s",
			 size_str(mem, sz, sizeof(sz)), size_str(page_size, ps, sizeof(ps)),
			 mem_backend_name(r->cfg.backend.kind), size_str(rounded, up, sizeof(up)));
	return -EINVAL;
}

static int setup_memory(struct run *r)
{
	uint64_t host = host_mem_total();
	if (host && r->cfg.mem_size > host) {
		snprintf(r->err, sizeof(r->err), "--memory %lluM is more than this host has (%lluM): use a smaller -m",
			 (unsigned long long)(r->cfg.mem_size >> 20), (unsigned long long)(host >> 20));
		return -ENOMEM;
	}
	uint64_t page_size = mem_backend_page_size(&r->cfg.backend, r->err, sizeof(r->err));
	if (!page_size)
		return -EINVAL;
	int e = check_mem_size(r, page_size);
	struct mem_layout l;
	if (!e && layout_x86(r->cfg.mem_size, page_size, &l))
		e = -EINVAL;
	if (e)
		return e;
	int slots = ioctl(r->vm.kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	int v2 = ioctl(r->vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2);
	const char *skew = getenv("PAGODA_TEST_HVA_SKEW"); /* test only: see mem/guest_mem.h */
	struct guest_mem_opts o = {
		.backend = r->cfg.backend, .vm_fd = r->vm.vm_fd,
		.max_slots = slots > 0 ? (uint32_t)slots : 32, .use_v2 = v2 > 0,
		.hva_skew = skew ? strtoull(skew, NULL, 0) : 0,
	};
	e = guest_mem_create(&r->vm.mem, &l, &o, r->err, sizeof(r->err));
	if (e || !r->cfg.prefault_threads)
		return e;
	e = mem_prefault(&r->vm.mem, r->cfg.prefault_threads);
	if (e)
		snprintf(r->err, sizeof(r->err), "--prefault: populating guest RAM (%s) failed: %s",
			 r->vm.mem.backend.desc, strerror(-e));
	return e;
}

static int build_cmdline(struct run *r)
{
	const char *user = r->cfg.params ? r->cfg.params : "";
	size_t n = strlen(DEFAULT_PARAMS) + 1 + strlen(user) + 1;
	r->cmdline = malloc(n);
	if (!r->cmdline)
		return -ENOMEM;
	snprintf(r->cmdline, n, "%s%s%s", DEFAULT_PARAMS, *user ? " " : "", user);
	return 0;
}

static int load_guest(struct run *r)
{
	struct x86_boot_config bc = { .cmdline = r->cmdline, .nr_cpus = r->cfg.cpus };
	if (r->cfg.kernel) {
		int e = image_open(&r->kernel, r->cfg.kernel, "kernel", r->err, sizeof(r->err));
		if (e)
			return e;
		bc.kernel = r->kernel.data;
		bc.kernel_len = r->kernel.len;
	} else {
		bc.kernel = demo_guest_image;
		bc.kernel_len = demo_guest_image_size;
	}
	if (r->cfg.initrd) {
		int e = image_open(&r->initrd, r->cfg.initrd, "initrd", r->err, sizeof(r->err));
		if (e)
			return e;
		bc.initrd = r->initrd.data;
		bc.initrd_len = r->initrd.len;
	}
	struct x86_boot_entry entry;
	int e = x86_boot_setup(&r->vm.mem, &bc, &entry, r->err, sizeof(r->err));
	if (e)
		return e;
	int fd = r->vm.vcpus[0].fd;
	e = entry.mode == X86_ENTRY_LONG64 ? x86_vcpu_enter_long_mode(fd, entry.entry, entry.arg)
					   : x86_vcpu_enter_pvh(fd, entry.entry, entry.arg);
	if (e)
		snprintf(r->err, sizeof(r->err), "setting the boot vCPU's registers: %s", strerror(-e));
	return e;
}

static int setup_vcpus(struct run *r)
{
	int e = vm_create_vcpus(&r->vm, r->cfg.cpus, r->err, sizeof(r->err));
	if (e)
		return e;
	bool baseline = r->cfg.cpu == CPU_MODEL_BASELINE ||
			(r->cfg.cpu == CPU_MODEL_AUTO && r->vm.pvm_fixups);
	int fds[r->vm.nr_vcpus];
	for (unsigned int i = 0; i < r->vm.nr_vcpus; i++)
		fds[i] = r->vm.vcpus[i].fd;
	return x86_vcpus_set_cpuid(r->vm.kvm_fd, fds, r->vm.nr_vcpus, baseline, r->err, sizeof(r->err));
}

static int setup_devices(struct run *r)
{
	struct vm *vm = &r->vm;
	r->power = (struct power_sink){ power_end, vm };
	serial_init(&r->serial, STDOUT_FILENO, (struct irq_line){ irq_set, vm, COM1_IRQ });
	rtc_init(&r->rtc);
	r->devices_inited = true;
	int e = bus_register(&vm->pio, COM1_PORT, 8, serial_io, &r->serial, "serial");
	if (!e)
		e = bus_register(&vm->pio, 0x70, 2, rtc_io, &r->rtc, "cmos-rtc");
	if (!e)
		e = bus_register(&vm->pio, I8042_DATA_PORT, 5, i8042_io, &r->power, "i8042");
	if (!e)
		e = bus_register(&vm->pio, PORT_DEBUG_EXIT, 4, debug_exit_io, &r->power, "debug-exit");
	if (!e)
		e = bus_register(&vm->pio, PORT_ACPI_PM1_EVT, ACPI_PM_PORTS, acpi_pm_io, &r->power, "acpi-pm");
	if (e)
		snprintf(r->err, sizeof(r->err), "registering platform devices: %s", strerror(-e));
	return e;
}

static void on_vm_exit(void *opaque, uint32_t events)
{
	struct run *r = opaque;
	(void)events;
	r->loop.stop = true;
}

static void on_timeout(void *opaque, uint32_t events)
{
	struct run *r = opaque;
	(void)events;
	vm_request_exit(&r->vm, EXIT_TIMEOUT, "timeout after %g s", r->cfg.timeout_s);
}

static void on_signal(void *opaque, uint32_t events)
{
	struct run *r = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(r->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_exit(&r->vm, EXIT_SIGNAL_BASE + (int)si.ssi_signo, "stopped by signal %s",
			strsignal((int)si.ssi_signo));
}

static void console_quit(void *ctx)
{
	vm_request_exit(ctx, EXIT_GUEST_OFF, "ended from the console (Ctrl-a x)");
}

static size_t console_deliver(void *ctx, const uint8_t *buf, size_t len)
{
	return serial_receive(ctx, buf, len);
}

static size_t console_space(void *ctx)
{
	return serial_rx_space(ctx);
}

static int setup_timeout(struct run *r)
{
	if (r->cfg.timeout_s <= 0)
		return 0;
	r->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (r->timer_fd < 0)
		return -errno;
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)r->cfg.timeout_s;
	its.it_value.tv_nsec = (long)((r->cfg.timeout_s - (double)its.it_value.tv_sec) * 1e9);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(r->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	return event_loop_add(&r->loop, r->timer_fd, EPOLLIN, on_timeout, r);
}

/* SIGINT, SIGTERM, SIGHUP end the VM cleanly through the loop: blocked here, before any
 * thread exists, so every thread inherits the mask and only the signalfd sees them. */
static int setup_signals(struct run *r)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill the VMM mid-write */
	r->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r->signal_fd < 0)
		return -errno;
	return event_loop_add(&r->loop, r->signal_fd, EPOLLIN, on_signal, r);
}

static int setup_loop(struct run *r)
{
	int e = event_loop_init(&r->loop);
	if (!e)
		e = event_loop_add(&r->loop, r->vm.exit_efd, EPOLLIN, on_vm_exit, r);
	if (!e)
		e = setup_signals(r);
	if (!e)
		e = setup_timeout(r);
	if (e)
		snprintf(r->err, sizeof(r->err), "event loop: %s", strerror(-e));
	return e;
}

static int setup_console(struct run *r)
{
	r->console = (struct console){
		.deliver = console_deliver, .space = console_space, .ctx = &r->serial,
		.quit = console_quit, .quit_ctx = &r->vm,
	};
	r->serial.rx_space = console_resume;
	r->serial.rx_space_ctx = &r->console;
	int e = console_start(&r->console, &r->loop, STDIN_FILENO);
	if (e)
		snprintf(r->err, sizeof(r->err), "console: %s", strerror(-e));
	return e;
}

static int setup(struct run *r)
{
	int e = vm_create(&r->vm, r->err, sizeof(r->err));
	if (e)
		return e;
	r->vm.name = r->cfg.name;
	r->vm.pvm_fixups = x86_host_is_pvm();
	if (r->vm.pvm_fixups)
		fprintf(stderr, "pagoda: PVM host: %s CPU model, emulation-failure fix-ups on\n",
			r->cfg.cpu == CPU_MODEL_HOST ? "host" : "baseline");
	e = x86_vm_init(r->vm.vm_fd, r->err, sizeof(r->err));
	if (!e)
		e = setup_memory(r);
	r->t_memory_ns = now_ns();
	if (!e)
		e = setup_vcpus(r);
	if (!e)
		e = build_cmdline(r);
	if (!e)
		e = load_guest(r);
	if (!e)
		e = setup_devices(r);
	if (!e)
		e = setup_loop(r);
	if (!e)
		e = setup_console(r);
	return e;
}

static void teardown(struct run *r)
{
	vm_destroy(&r->vm);
	console_restore_terminal();
	if (r->devices_inited) {
		serial_destroy(&r->serial);
		rtc_destroy(&r->rtc);
	}
	event_loop_destroy(&r->loop);
	if (r->timer_fd >= 0)
		close(r->timer_fd);
	if (r->signal_fd >= 0)
		close(r->signal_fd);
	image_close(&r->kernel);
	image_close(&r->initrd);
	free(r->cmdline);
}

static void print_stats(const struct run *r)
{
	uint64_t first = atomic_load(&r->vm.first_run_ns);
	fprintf(stderr, "stats: startup memory_ready_ms=%.1f first_kvm_run_ms=%.1f\n",
		(double)(r->t_memory_ns - r->t_start_ns) / 1e6,
		first ? (double)(first - r->t_start_ns) / 1e6 : -1.0);
	mem_stats_print(&r->vm.mem, r->vm.vm_fd, stderr);
}

static const char *prog_name(const struct run *r)
{
	return r->cfg.name ? r->cfg.name : "pagoda";
}

static int report_end(struct run *r)
{
	int code = atomic_load(&r->vm.exit_code);
	bool normal = code == EXIT_GUEST_OFF || (code & 1);
	/* On a terminal a person is watching: say why the VM ended even when it is normal. */
	if (!normal || r->console.is_tty)
		fprintf(stderr, "%s: %s (exit code %d)\n", prog_name(r), r->vm.exit_reason, code);
	return code;
}

int run_main(int argc, char **argv)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r)
		return EXIT_SETUP;
	r->t_start_ns = now_ns();
	r->timer_fd = r->signal_fd = -1;
	r->vm.kvm_fd = r->vm.vm_fd = r->vm.exit_efd = -1;
	r->serial.out_fd = -1;
	int code;
	if (cli_parse_run(argc, argv, &r->cfg, r->err, sizeof(r->err))) {
		fprintf(stderr, "pagoda run: %s\n", r->err);
		free(r);
		return EXIT_SETUP;
	}
	if (r->cfg.help) {
		fputs(cli_run_usage, stdout);
		free(r);
		return 0;
	}
	if (setup(r) || vm_start(&r->vm, r->err, sizeof(r->err))) {
		fprintf(stderr, "pagoda run: %s\n", r->err);
		code = EXIT_SETUP;
	} else {
		int e = event_loop_run(&r->loop);
		if (e)
			vm_request_exit(&r->vm, EXIT_VMM_ERROR, "event loop: %s", strerror(-e));
		vm_stop(&r->vm);
		code = report_end(r);
		if (r->cfg.stats)
			print_stats(r);
	}
	teardown(r);
	free(r);
	return code;
}
