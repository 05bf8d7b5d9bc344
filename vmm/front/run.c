/* `pagoda run`: from a parsed command line to a running VM and back to an exit code. */
#include "run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "junit.h"
#include "console.h"
#include "../core/terminal.h"
#include "../core/event_loop.h"
#include "../control/controller.h"
#include "../core/machine.h"
#include "../../mem/dirty_rate.h"
#include "../../mem/wss/working_set.h"
#include "../../util/clock.h"
#include "../persist/lazy_restore.h"
#include "../persist/migration.h"
#include "../persist/mig_log.h"
#include "../persist/postcopy.h"
#include "../core/late_teardown.h"
#include "../core/sandbox.h"
#include "../persist/snapshot.h"
#include "../../virtio/fs/share_dir.h"

/* --junit: the console kept for the report (its KTAP results and system-out). */
#define JUNIT_CONSOLE_KEPT (16u << 20)

/* Descriptors pagoda keeps for itself beyond what the shares may hold (share_dir.h). */
#define SHARE_FD_RESERVE 1024

struct run {
	struct run_config cfg;
	struct machine m;
	struct console console;
	struct event_loop loop;
	int timer_fd, signal_fd;
	int rate_fd;                 /* --dirty-rate window timer */
	int watchdog_fd;             /* once a second: can the guest still run? */
	int mig_log_fd;              /* --migration-log, or -1 */
	struct postcopy_dst *postcopy; /* an incoming post-copy still fetching memory */
	struct lazy_restore *lazy;     /* a lazy restore still reading memory */
	struct dirty_rate rate;      /* --dirty-rate */
	struct controller ctl;
	bool ctl_open;
	bool late_teardown;          /* the helper that can hold the VM past pagoda's exit runs */
	uint64_t start_ns;           /* for --junit's time */
	char err[512];
};

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
	vm_request_exit(&r->m.vm, EXIT_TIMEOUT, "timeout after %g s", r->cfg.timeout_s);
}

static void on_signal(void *opaque, uint32_t events)
{
	struct run *r = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(r->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_exit(&r->m.vm, EXIT_SIGNAL_BASE + (int)si.ssi_signo, "stopped by signal %s",
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

static void on_dirty_rate(void *opaque, uint32_t events)
{
	struct run *r = opaque;
	uint64_t ticks;
	(void)events;
	if (read(r->rate_fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	struct dirty_rate_window w;
	if (dirty_rate_window(&r->rate, &w)) {
		fprintf(stderr, "pagoda: dirty-rate: harvest failed\n");
		return;
	}
	const struct dirty_log *d = &r->m.dirty;
	char line[512];
	int n = snprintf(line, sizeof(line), "pagoda: dirty-rate: %.2f s: %.0f pages/s, %.1f MiB/s (%s)",
			 w.seconds, w.pages_per_s, w.mib_per_s, dirty_mode_name(d->mode));
	for (unsigned int v = 0; v < d->nr_rings && n < (int)sizeof(line) - 40; v++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s vCPU %u: %.0f/s", v ? "," : " [", v,
			      dirty_rate_vcpu(&r->rate, v, &w));
	fprintf(stderr, "%s%s\n", line, d->nr_rings ? "]" : "");
}

/* --dirty-rate: logging on from the start, one harvest and one line per window. */
static int setup_dirty_rate(struct run *r)
{
	if (r->cfg.dirty_rate_s <= 0)
		return 0;
	int e = dirty_rate_start(&r->rate, &r->m.dirty, &r->m.vm.mem);
	if (e)
		return e;
	r->rate_fd = timer_open(r->cfg.dirty_rate_s, true);
	if (r->rate_fd < 0)
		return r->rate_fd;
	return event_loop_add(&r->loop, r->rate_fd, EPOLLIN, on_dirty_rate, r);
}

static void on_watchdog(void *opaque, uint32_t events)
{
	struct run *r = opaque;
	uint64_t ticks;
	(void)events;
	if (read(r->watchdog_fd, &ticks, sizeof(ticks)) == sizeof(ticks))
		vm_check_wakeable(&r->m.vm);
}

/* A guest that halts with interrupts off on every vCPU would otherwise hang pagoda. */
static int setup_watchdog(struct run *r)
{
	r->watchdog_fd = timer_open(1.0, true);
	if (r->watchdog_fd < 0)
		return r->watchdog_fd;
	return event_loop_add(&r->loop, r->watchdog_fd, EPOLLIN, on_watchdog, r);
}

static int setup_timeout(struct run *r)
{
	if (r->cfg.timeout_s <= 0)
		return 0;
	r->timer_fd = timer_open(r->cfg.timeout_s, false);
	if (r->timer_fd < 0)
		return r->timer_fd;
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
		e = event_loop_add(&r->loop, r->m.vm.exit_efd, EPOLLIN, on_vm_exit, r);
	if (!e)
		e = setup_signals(r);
	if (!e)
		e = setup_timeout(r);
	if (!e)
		e = setup_watchdog(r);
	if (e)
		snprintf(r->err, sizeof(r->err), "event loop: %s", strerror(-e));
	return e;
}

static int setup_console(struct run *r)
{
	r->console = (struct console){
		.deliver = console_deliver, .space = console_space, .ctx = &r->m.serial,
		.quit = console_quit, .quit_ctx = &r->m.vm,
	};
	r->m.serial.rx_space = console_resume;
	r->m.serial.rx_space_ctx = &r->console;
	int e = console_start(&r->console, &r->loop, STDIN_FILENO);
	if (e)
		snprintf(r->err, sizeof(r->err), "console: %s", strerror(-e));
	return e;
}

/* With a shared directory: its server holds a host fd for every file the guest keeps
 * open (up to 8192 per share), so the soft limit on open files rises to the hard one, as
 * virtiofsd's does; and the device threads may work on files. */
static void allow_shared_files(struct run *r)
{
	if (!r->cfg.m.nr_fs)
		return;
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			/* the guest then meets ENFILE sooner; nothing else changes */
		}
	}
	/* What the shares may keep open: all but what pagoda keeps for itself (vCPUs, device
	 * eventfds, disks, taps, control clients, snapshots, migrations). */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
		share_fd_budget((long)rl.rlim_cur - SHARE_FD_RESERVE);
	sandbox_allow_shared_files();
}

/* IP sockets only where a migration over TCP can come: a control socket (`ctl migrate
 * tcp:...`) or an incoming one. */
static void allow_ip_sockets(const struct run *r)
{
	if (r->cfg.api_sock || (r->cfg.incoming && !strncmp(r->cfg.incoming, "tcp:", 4)))
		sandbox_allow_ip_sockets();
}

/* What the filters allow follows from the configuration alone: they compile on a helper
 * thread from here (vmm/core/sandbox.c) while the VM is set up. */
static int prepare_sandbox(struct run *r)
{
	allow_shared_files(r);
	allow_ip_sockets(r);
	int e = sandbox_prepare(r->cfg.seccomp);
	if (e)
		snprintf(r->err, sizeof(r->err), "--seccomp: %s", strerror(-e));
	return e;
}

/* The bytes of a snapshot or a migration stream are untrusted: from here on the process
 * runs under the setup filter (what any of its threads may do), before any of them is
 * parsed. */
static int sandbox_before_untrusted(struct run *r)
{
	int e = sandbox_enter(SANDBOX_SETUP);
	if (e)
		snprintf(r->err, sizeof(r->err), "--seccomp: installing the setup filter: %s", strerror(-e));
	return e;
}

/* The guest comes from a snapshot or a migration rather than a kernel. */
static int bring_in_guest(struct run *r)
{
	struct machine *m = &r->m;
	if (r->cfg.incoming || r->cfg.restore_dir) {
		int e = sandbox_before_untrusted(r);
		if (e)
			return e;
	}
	if (r->cfg.incoming)
		return migration_receive(m, r->cfg.incoming, r->cfg.timeout_s, r->mig_log_fd, &r->postcopy, r->err,
					 sizeof(r->err));
	if (!r->cfg.restore_dir)
		return 0;
	struct state_buf st;
	struct state_header h;
	int e = snapshot_read_state(r->cfg.restore_dir, &st, &h, r->err, sizeof(r->err));
	if (!e && r->cfg.restore_memory == RESTORE_LAZY)
		e = lazy_restore_begin(&r->lazy, m, r->cfg.restore_dir, r->err, sizeof(r->err));
	else if (!e)
		e = snapshot_load_memory(m, r->cfg.restore_dir, r->cfg.restore_memory == RESTORE_MAP, r->err,
					 sizeof(r->err));
	char why[256];
	if (!e && (e = machine_state_restore(m, &st, why, sizeof(why))))
		snprintf(r->err, sizeof(r->err), "snapshot %.60s: %.180s", r->cfg.restore_dir, why);
	state_buf_free(&st);
	return e;
}

/* The working set's last window, at exit (--working-set or a ctl working-set). */
static void report_working_set(struct machine *m)
{
	struct wss_report rep;
	char why[256];
	if (m->wss && !working_set_sample(m->wss, &rep, why, sizeof(why)))
		wss_report_table(&rep, stderr);
	else if (m->wss)
		fprintf(stderr, "pagoda: %s\n", why);
}

/* --working-set, and --balloon auto on top of it (which needs one: 1 s windows unless
 * --working-set says). */
static int start_working_set(struct run *r)
{
	double window = r->cfg.working_set_s > 0 ? r->cfg.working_set_s : 1.0;
	if (r->cfg.working_set_s <= 0 && !r->cfg.m.balloon_auto)
		return 0;
	int e = machine_working_set_start(&r->m, &r->loop, window, r->cfg.working_set_method, r->err, sizeof(r->err));
	if (e && r->cfg.m.balloon_auto) {
		char why[sizeof(r->err)];
		snprintf(why, sizeof(why), "%s", r->err);
		snprintf(r->err, sizeof(r->err), "--balloon auto needs a working-set estimate: %.440s", why);
	}
	if (!e && r->cfg.m.balloon_auto)
		e = balloon_auto_start(&r->m.balloon_auto, &r->m, &r->loop, window, r->cfg.m.balloon_auto_margin, r->err,
				       sizeof(r->err));
	return e;
}

static int setup(struct run *r)
{
	if (r->cfg.migration_log &&
	    (r->mig_log_fd = mig_log_open(r->cfg.migration_log, r->err, sizeof(r->err))) < 0)
		return r->mig_log_fd;
	int e = machine_setup(&r->m, &r->cfg.m, STDOUT_FILENO);
	if (e) {
		snprintf(r->err, sizeof(r->err), "%s", r->m.err);
		return e;
	}
	if (r->cfg.junit && (e = serial_keep_output(&r->m.serial, JUNIT_CONSOLE_KEPT))) {
		snprintf(r->err, sizeof(r->err), "--junit: keeping the console: %s", strerror(-e));
		return e;
	}
	if ((e = bring_in_guest(r)))
		return e;
	e = setup_loop(r);
	if (!e)
		e = setup_console(r);
	if (!e && (e = setup_dirty_rate(r)))
		snprintf(r->err, sizeof(r->err), "--dirty-rate: starting dirty logging: %s", strerror(-e));
	if (!e)
		e = start_working_set(r);
	if (!e && r->cfg.api_sock) {
		e = controller_open(&r->ctl, &r->m, &r->loop, r->cfg.api_sock, r->err, sizeof(r->err));
		r->ctl_open = e == 0;
		r->ctl.mig_log_fd = r->mig_log_fd;
	}
	return e;
}

/* Whether the kernel's teardown of the VM is left to after pagoda's exit, held by the
 * helper (late_teardown.h). Not with hugetlb pages: a reserved pool, which the next VM,
 * started the moment this one's status is out, may need whole. Not in sanitizer builds:
 * LeakSanitizer checks what the teardown frees. */
static bool leave_teardown_to_exit(const struct run *r)
{
#if defined(__SANITIZE_ADDRESS__)
	return false;
#endif
	return r->late_teardown && !r->m.vm.mem.backend.on_hugetlbfs;
}

/* The vCPU and I/O threads install their own filters as they start; the main thread
 * takes its own last, so they do not inherit it (a migration thread later does). */
static int start(struct run *r)
{
	int e = machine_start(&r->m);
	if (e) {
		snprintf(r->err, sizeof(r->err), "%s", r->m.err);
		return e;
	}
	if ((e = sandbox_enter(SANDBOX_MAIN)))
		snprintf(r->err, sizeof(r->err), "--seccomp: installing the main thread's filter: %s", strerror(-e));
	return e;
}

/* Joins a migration thread before the machine stops: it may still be resuming devices
 * or vCPUs (ThreadSanitizer saw its I/O thread restart race machine_stop). */
static void close_controller(struct run *r)
{
	if (r->ctl_open)
		controller_close(&r->ctl);
	r->ctl_open = false;
}

static void teardown(struct run *r)
{
	close_controller(r);
	postcopy_dst_abort(r->postcopy); /* setup failed after the stream */
	postcopy_dst_finish(r->postcopy);
	lazy_restore_finish(r->lazy);
	if (leave_teardown_to_exit(r))
		machine_leave_to_exit(&r->m);
	else
		machine_destroy(&r->m);
	terminal_restore();
	event_loop_destroy(&r->loop);
	if (r->timer_fd >= 0)
		close(r->timer_fd);
	if (r->signal_fd >= 0)
		close(r->signal_fd);
	if (r->rate_fd >= 0)
		close(r->rate_fd);
	if (r->watchdog_fd >= 0)
		close(r->watchdog_fd);
	if (r->mig_log_fd >= 0)
		close(r->mig_log_fd);
	dirty_rate_free(&r->rate);
}

static const char *prog_name(const struct run *r)
{
	return r->cfg.m.name ? r->cfg.m.name : "pagoda";
}

/* --junit: the run and the console's KTAP results, read once the vCPUs have stopped
 * (a run that could not start has no console to show). */
static void write_junit(struct run *r, int code, bool ran)
{
	const struct serial_copy *c = &r->m.serial.copy;
	struct junit_run j = { .name = r->cfg.junit_name ? r->cfg.junit_name : prog_name(r), .status = code,
			       .seconds = (double)(now_ns() - r->start_ns) / 1e9 };
	if (ran)
		j.console = c->buf, j.console_len = c->len, j.console_dropped = c->dropped;
	int e = junit_write(r->cfg.junit, &j);
	if (fclose(r->cfg.junit) && !e)
		e = -errno;
	r->cfg.junit = NULL;
	if (e)
		fprintf(stderr, "%s: --junit: writing the report: %s\n", prog_name(r), strerror(-e));
}

static int report_end(struct run *r)
{
	int code = atomic_load(&r->m.vm.exit_code);
	bool normal = code == EXIT_GUEST_OFF || (code & 1);
	/* On a terminal a person is watching: say why the VM ended even when it is normal. */
	if (!normal || r->console.is_tty)
		fprintf(stderr, "%s: %s (exit code %d)\n", prog_name(r), vm_exit_reason(&r->m.vm), code);
	return code;
}

/* `pagoda restore DIR [options]`: the snapshot decides memory size, vCPUs and CPU model. */
static int restore_config(struct run *r, const char *dir)
{
	struct state_buf st;
	struct state_header h;
	int e = snapshot_read_state(dir, &st, &h, r->err, sizeof(r->err));
	state_buf_free(&st);
	if (e)
		return e;
	if (r->cfg.m.kernel || r->cfg.incoming) {
		snprintf(r->err, sizeof(r->err), "restore takes the guest from the snapshot: drop -k and --incoming");
		return -EINVAL;
	}
	r->cfg.restore_dir = dir;
	r->cfg.m.from_state = true;
	r->cfg.m.mem_size = h.ram_size;
	r->cfg.m.cpus = h.nr_vcpus;
	if (MACHINE_ARCH_CPU_MODELS)
		r->cfg.m.cpu = h.cpu_baseline ? CPU_MODEL_BASELINE : CPU_MODEL_HOST;
	return 0;
}

/* Boots (or restores) the VM cfg describes and runs it to its end: the exit code. */
static int run_configured(struct run *r, const char *who)
{
	int code;
	r->start_ns = now_ns();
	/* First: a restore or an incoming migration's setup filter forbids making processes. */
	r->late_teardown = !r->cfg.sync_exit && late_teardown_start() == 0;
	if (prepare_sandbox(r) || setup(r) || start(r)) {
		fprintf(stderr, "%s: %s\n", who, r->err);
		code = EXIT_SETUP;
		if (r->cfg.junit)
			write_junit(r, code, false);
	} else {
		int e = event_loop_run(&r->loop);
		if (e)
			vm_request_exit(&r->m.vm, EXIT_VMM_ERROR, "event loop: %s", strerror(-e));
		/* vCPUs waiting for pages that will not come are let go first. */
		postcopy_dst_abort(r->postcopy);
		postcopy_dst_finish(r->postcopy);
		r->postcopy = NULL;
		lazy_restore_finish(r->lazy);
		r->lazy = NULL;
		close_controller(r);
		machine_stop(&r->m);
		code = report_end(r);
		if (r->cfg.junit)
			write_junit(r, code, true);
		report_working_set(&r->m);
		if (r->cfg.stats)
			machine_print_stats(&r->m, stderr);
	}
	teardown(r);
	free(r);
	return code;
}

static struct run *run_new(void)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->timer_fd = r->signal_fd = r->rate_fd = r->watchdog_fd = r->mig_log_fd = -1;
	r->m.vm.kvm_fd = r->m.vm.vm_fd = r->m.vm.exit_efd = -1;
	return r;
}

int run_with_config(const struct run_config *cfg, const char *who)
{
	struct run *r = run_new();
	if (!r)
		return EXIT_SETUP;
	r->cfg = *cfg;
	return run_configured(r, who);
}

static int run_or_restore(int argc, char **argv, const char *restore_dir)
{
	const char *who = restore_dir ? "pagoda restore" : "pagoda run";
	struct run *r = run_new();
	if (!r)
		return EXIT_SETUP;
	if (cli_parse_run(argc, argv, &r->cfg, r->err, sizeof(r->err)) ||
	    (restore_dir && !r->cfg.help && restore_config(r, restore_dir))) {
		fprintf(stderr, "%s: %s\n", who, r->err);
		free(r);
		return EXIT_SETUP;
	}
	if (r->cfg.help) {
		fputs(cli_run_usage, stdout);
		free(r);
		return 0;
	}
	return run_configured(r, who);
}

int run_main(int argc, char **argv)
{
	return run_or_restore(argc, argv, NULL);
}

int restore_main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "pagoda restore: give the snapshot directory first: pagoda restore DIR [run options]\n");
		return EXIT_SETUP;
	}
	/* argv[1] is the directory: the options parser sees "restore" then the options. */
	const char *dir = argv[1];
	argv[1] = argv[0];
	return run_or_restore(argc - 1, argv + 1, dir);
}
