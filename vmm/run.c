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

#include "cli.h"
#include "console.h"
#include "event_loop.h"
#include "machine.h"

struct run {
	struct run_config cfg;
	struct machine m;
	struct console console;
	struct event_loop loop;
	int timer_fd, signal_fd;
	char err[256];
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
		e = event_loop_add(&r->loop, r->m.vm.exit_efd, EPOLLIN, on_vm_exit, r);
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

static int setup(struct run *r)
{
	int e = machine_setup(&r->m, &r->cfg, STDOUT_FILENO);
	if (e) {
		snprintf(r->err, sizeof(r->err), "%s", r->m.err);
		return e;
	}
	e = setup_loop(r);
	if (!e)
		e = setup_console(r);
	return e;
}

static int start(struct run *r)
{
	int e = machine_start(&r->m);
	if (e)
		snprintf(r->err, sizeof(r->err), "%s", r->m.err);
	return e;
}

static void teardown(struct run *r)
{
	machine_destroy(&r->m);
	console_restore_terminal();
	event_loop_destroy(&r->loop);
	if (r->timer_fd >= 0)
		close(r->timer_fd);
	if (r->signal_fd >= 0)
		close(r->signal_fd);
}

static const char *prog_name(const struct run *r)
{
	return r->cfg.name ? r->cfg.name : "pagoda";
}

static int report_end(struct run *r)
{
	int code = atomic_load(&r->m.vm.exit_code);
	bool normal = code == EXIT_GUEST_OFF || (code & 1);
	/* On a terminal a person is watching: say why the VM ended even when it is normal. */
	if (!normal || r->console.is_tty)
		fprintf(stderr, "%s: %s (exit code %d)\n", prog_name(r), r->m.vm.exit_reason, code);
	return code;
}

int run_main(int argc, char **argv)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r)
		return EXIT_SETUP;
	r->timer_fd = r->signal_fd = -1;
	r->m.vm.kvm_fd = r->m.vm.vm_fd = r->m.vm.exit_efd = -1;
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
	if (setup(r) || start(r)) {
		fprintf(stderr, "pagoda run: %s\n", r->err);
		code = EXIT_SETUP;
	} else {
		int e = event_loop_run(&r->loop);
		if (e)
			vm_request_exit(&r->m.vm, EXIT_VMM_ERROR, "event loop: %s", strerror(-e));
		machine_stop(&r->m);
		code = report_end(r);
		if (r->cfg.stats)
			machine_print_stats(&r->m, stderr);
	}
	teardown(r);
	free(r);
	return code;
}
