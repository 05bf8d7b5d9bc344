#include "late_teardown.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HELPER_STACK (64 * 1024)

struct helper_pipes {
	int gone_rd;   /* end-of-file once pagoda has exited */
	int ready_wr;  /* one byte once the helper is confined */
};

/* Runs on its own stack in pagoda's address space but on pagoda's main thread's TLS:
 * only system calls, uninstrumented, so that it touches no library or sanitizer state
 * (errno is written only by a call that fails; pagoda waits for "ready" meanwhile). */
__attribute__((no_sanitize("address", "undefined", "thread")))
static int helper_main(void *arg)
{
	const struct helper_pipes p = *(const struct helper_pipes *)arg;
	const uint64_t all = ~0ull; /* the kernel's signal set: 64 bits */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(all));
	int lo = p.gone_rd < p.ready_wr ? p.gone_rd : p.ready_wr;
	int hi = p.gone_rd < p.ready_wr ? p.ready_wr : p.gone_rd;
	if (lo > 0)
		syscall(SYS_close_range, 0, lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0u, 0);
	syscall(SYS_prctl, PR_SET_NAME, "pagoda-teardown", 0, 0, 0);
	if (syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
		syscall(SYS_exit, 1); /* no confinement, no helper: pagoda tears down itself */
	char c = 1;
	syscall(SYS_write, p.ready_wr, &c, 1);
	while (syscall(SYS_read, p.gone_rd, &c, 1) > 0)
		;
	syscall(SYS_exit, 0);
	return 0;
}

int late_teardown_start(void)
{
#ifdef __SANITIZE_THREAD__
	return -ENOSYS; /* ThreadSanitizer would see a second process write its memory */
#endif
	int gone[2], ready[2];
	if (pipe2(gone, O_CLOEXEC))
		return -errno;
	if (pipe2(ready, O_CLOEXEC)) {
		int e = -errno;
		close(gone[0]);
		close(gone[1]);
		return e;
	}
	/* Lives as long as the address space: the helper runs on it until pagoda is gone. */
	void *stack = mmap(NULL, HELPER_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	struct helper_pipes p = { .gone_rd = gone[0], .ready_wr = ready[1] };
	int e = 0;
	if (stack == MAP_FAILED)
		e = -errno;
	else if (clone(helper_main, (char *)stack + HELPER_STACK, CLONE_VM, &p) < 0)
		e = -errno;
	close(gone[0]);
	close(ready[1]);
	/* 1 byte: the helper has copied p and is confined; 0 bytes: it could not confine
	 * itself and left (pagoda then tears down itself). Its stack stays mapped either
	 * way: a helper still reading from it must never lose it. */
	char c = 0;
	ssize_t n = 0;
	if (!e)
		while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
			;
	if (!e && n != 1)
		e = -ECHILD;
	close(ready[0]);
	if (e) {
		close(gone[1]);
		return e;
	}
	return 0; /* gone[1] stays open, unnamed, until pagoda exits */
}
