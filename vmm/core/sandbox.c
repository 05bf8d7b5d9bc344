#include "sandbox.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <linux/userfaultfd.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "../../mem/kvm_access_log.h"
#include "../../mem/kvm_compat.h"
#include "terminal.h"
#include "vm.h"

#define MAX_SYSCALL 512

static enum sandbox_mode mode = SANDBOX_OFF;
/* The calling thread's filter, for the SIGSYS message: which list lacks the call. */
static __thread const char *thread_kind = "unsandboxed";
static char *names[MAX_SYSCALL];  /* resolved before any filter: the handler cannot allocate */

/* What every pagoda thread does: memory, locks, time, signals, its own end. */
static const int common[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close), SCMP_SYS(mmap), SCMP_SYS(munmap),
	SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(brk), SCMP_SYS(futex), SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(sched_yield), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(exit),
	SCMP_SYS(exit_group), SCMP_SYS(restart_syscall), SCMP_SYS(getrandom), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(lseek), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(ppoll), SCMP_SYS(poll),
};
/* Device work, wherever it runs (the I/O thread, or a vCPU thread without ioeventfd). */
static const int device[] = {
	SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(fdatasync), SCMP_SYS(fsync), SCMP_SYS(fallocate),
	SCMP_SYS(io_uring_enter), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
};
/* A file server's work (virtio/fs/), only with a shared directory and only on the I/O
 * thread, the one that serves it: a notify that reaches a vCPU thread is handed over
 * (virtio/pci.c), so a vCPU or the main thread never opens, links or chowns a file. */
static const int shared_files[] = {
	SCMP_SYS(openat2), SCMP_SYS(openat), SCMP_SYS(getdents64), SCMP_SYS(mkdirat), SCMP_SYS(unlinkat),
	SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(symlinkat), SCMP_SYS(readlinkat), SCMP_SYS(linkat),
	SCMP_SYS(fchownat), SCMP_SYS(fchmod), SCMP_SYS(ftruncate), SCMP_SYS(utimensat),
	SCMP_SYS(fstatfs),
}; /* and mknodat, of the types a guest may make (allow_mknod) */
static bool with_shared_files;
static bool with_ip_sockets; /* sandbox_allow_ip_sockets */

/* The main thread: the event loop, the control socket, snapshots, a migration thread. */
static const int main_only[] = {
	SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
	SCMP_SYS(connect), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(shutdown), SCMP_SYS(openat),
	SCMP_SYS(mkdir), SCMP_SYS(rename), SCMP_SYS(unlink), SCMP_SYS(ftruncate), SCMP_SYS(statfs),
	/* arm64 has only the *at forms of these (a snapshot there died on unlinkat) */
	SCMP_SYS(mkdirat), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(unlinkat), SCMP_SYS(readlinkat),
	SCMP_SYS(set_tid_address), SCMP_SYS(sigaltstack),
	SCMP_SYS(rt_sigaction), SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime), SCMP_SYS(eventfd2),
	SCMP_SYS(readlink), SCMP_SYS(getcwd), SCMP_SYS(uname), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getdents64), SCMP_SYS(wait4), /* and prlimit64 on itself (allow_own_limits) */
	/* glibc's qsort (before 2.37) asks for the machine's memory size before it sorts a
	 * large array: the working set's page-idle marks (mem/wss_page_idle.c) */
	SCMP_SYS(sysinfo),
};

/* Setting up a VM from a snapshot or a stream, and starting its threads and the event
 * loop (SANDBOX_SETUP adds these to everything the threads do). */
static const int setup_only[] = {
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(epoll_create1), SCMP_SYS(signalfd4), SCMP_SYS(umask),
	SCMP_SYS(fcntl), SCMP_SYS(pipe2), SCMP_SYS(dup),
	SCMP_SYS(mincore), /* the migration receiver: which pages of RAM may hold data */
	SCMP_SYS(userfaultfd), /* post-copy */
};

/* ioctl request numbers per thread kind. */
#if defined(__aarch64__)
/* A fatal exit's register dump reads ONE_REGs (vCPU); snapshots read every register KVM
 * lists and the GIC's attributes (main) and have the ITS write its tables into guest RAM
 * (KVM_SET_DEVICE_ATTR); restoring sets them all (setup). */
#define ARCH_VCPU_IOCTLS KVM_GET_ONE_REG
#define ARCH_MAIN_IOCTLS KVM_GET_ONE_REG, KVM_GET_REG_LIST, KVM_GET_VCPU_EVENTS, KVM_GET_DEVICE_ATTR, \
	KVM_SET_DEVICE_ATTR
#define ARCH_SETUP_IOCTLS KVM_SET_ONE_REG, KVM_SET_MP_STATE, KVM_SET_VCPU_EVENTS, KVM_SET_DEVICE_ATTR
#else
/* The emulation-failure fix-ups and the dump (vCPU); snapshots read every piece (main). */
#define ARCH_VCPU_IOCTLS KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS
#define ARCH_MAIN_IOCTLS KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_GET_XCRS, KVM_GET_MSRS, \
	KVM_GET_MSR_INDEX_LIST, KVM_GET_LAPIC, KVM_GET_VCPU_EVENTS, KVM_GET_DEBUGREGS, KVM_GET_IRQCHIP, \
	KVM_GET_PIT2, KVM_GET_CLOCK
/* Restoring a snapshot or a migration sets every piece. */
#define ARCH_SETUP_IOCTLS KVM_SET_REGS, KVM_SET_SREGS, KVM_SET_XSAVE, KVM_SET_XCRS, KVM_SET_MSRS, \
	KVM_SET_MP_STATE, KVM_SET_LAPIC, KVM_SET_VCPU_EVENTS, KVM_SET_DEBUGREGS, KVM_SET_IRQCHIP, KVM_SET_PIT2, \
	KVM_SET_CLOCK
#endif
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN, KVM_GET_MP_STATE, KVM_IRQ_LINE, KVM_RESET_DIRTY_RINGS, KVM_GET_DIRTY_LOG,
	KVM_CLEAR_DIRTY_LOG, TCSETS, TCGETS, ARCH_VCPU_IOCTLS,
	KVM_IOEVENTFD, KVM_SET_GSI_ROUTING, /* a PCI driver moving a BAR, programming MSI-X */
};
/* TCSETS/TCGETS: any thread that crashes puts the terminal back (vmm/core/terminal.c).
 * KVM_SET_GSI_ROUTING: an MSI-X vector routed when it first fires after a restore. */
static const unsigned long io_ioctls[] = { KVM_IRQ_LINE, KVM_SET_GSI_ROUTING, TCSETS, TCGETS };
static const unsigned long main_ioctls[] = {
	KVM_CHECK_EXTENSION, KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, KVM_RESET_DIRTY_RINGS,
	KVM_SET_USER_MEMORY_REGION, KVM_SET_USER_MEMORY_REGION2, KVM_GET_STATS_FD, KVM_IRQ_LINE,
	KVM_GET_MP_STATE, KVM_IOEVENTFD, KVM_SET_GSI_ROUTING, TCSETS, TCGETS, ARCH_MAIN_IOCTLS,
	KVM_GET_ACCESS_LOG, /* the working set's windows (mem/wss_access_log.c) */
};
/* An incoming post-copy's threads (vmm/persist/postcopy_recv.c) are started under the
 * setup filter and keep it: userfaultfd's requests. */
static const unsigned long setup_ioctls[] = { ARCH_SETUP_IOCTLS, UFFDIO_API, UFFDIO_REGISTER, UFFDIO_COPY, UFFDIO_CONTINUE,
					      UFFDIO_ZEROPAGE, UFFDIO_WAKE };

void sandbox_allow_shared_files(void)
{
	with_shared_files = true;
}

void sandbox_allow_ip_sockets(void)
{
	with_ip_sockets = true;
}

const char *sandbox_thread_name(enum sandbox_thread kind)
{
	return kind == SANDBOX_VCPU ? "vCPU" : kind == SANDBOX_IO ? "I/O" : kind == SANDBOX_MAIN ? "main" : "setup";
}

/* Async-signal-safe: write(2), a table built before, the terminal put back, _exit. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < MAX_SYSCALL && names[nr] ? names[nr] : "?";
	char msg[160];
	size_t n = 0;
	const char *parts[] = { "pagoda: seccomp: system call ", name, " is not allowed in the ", thread_kind,
				" thread: stopping (--seccomp log or off to run on)\n" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (const char *p = parts[i]; *p && n < sizeof(msg) - 1; p++)
			msg[n++] = *p;
	if (write(STDERR_FILENO, msg, n) < 0) {
		/* nothing left to tell it with */
	}
	terminal_restore();
	_exit(EXIT_SANDBOX);
}

/* glibc's malloc opens files behind the threads' backs: the first trim of a thread arena's
 * heap reads /proc/sys/vm/overcommit_memory, and the ninth arena asks how many CPUs there
 * are. Under filters without openat that ended the VM at random (a Debian guest's I/O
 * thread at power-off). Fixed limits ask for neither: no trimming (pagoda's own heap is
 * small; guest RAM is mapped apart), at most 8 arenas. (A sanitizer's allocator, which
 * is not glibc's, refuses both and needs neither.) */
static void malloc_without_files(void)
{
	(void)mallopt(M_TRIM_THRESHOLD, INT_MAX);
	(void)mallopt(M_ARENA_MAX, 8);
}

static void compile_ahead(void);

int sandbox_prepare(enum sandbox_mode m)
{
#ifdef __SANITIZE_THREAD__
	/* ThreadSanitizer's runtime makes system calls no thread's filter allows: its build
	 * (test.sh's race check of migration) runs without them, and says so. */
	if (m != SANDBOX_OFF)
		fprintf(stderr, "pagoda: seccomp off: a ThreadSanitizer build\n");
	m = SANDBOX_OFF;
#endif
	mode = m;
	if (m == SANDBOX_OFF)
		return 0;
	malloc_without_files();
	uint32_t arch = seccomp_arch_native();
	for (int i = 0; i < MAX_SYSCALL; i++)
		if (!names[i])
			names[i] = seccomp_syscall_resolve_num_arch(arch, i);
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		return -errno;
	compile_ahead();
	return 0;
}

static int allow_list(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);
		if (e && e != -EEXIST)
			return e;
	}
	return 0;
}

static int allow_ioctls(scmp_filter_ctx ctx, const unsigned long *req, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* The request is an unsigned int to the kernel: compare the low 32 bits only. */
		int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, (uint32_t)req[i]));
		if (e && e != -EEXIST)
			return e;
	}
	return 0;
}

/* Signals go to pagoda's own threads only (kicks, re-raised crashes): never to another
 * process. */
static int allow_own_signals(scmp_filter_ctx ctx)
{
	int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	return e == -EEXIST ? 0 : e;
}

/* Its own limits (pid 0: glibc's getrlimit and setrlimit), never another process's. */
static int allow_own_limits(scmp_filter_ctx ctx)
{
	int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A0(SCMP_CMP_EQ, 0));
	if (!e || e == -EEXIST)
		e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	return e == -EEXIST ? 0 : e;
}

/* What a file server makes with mknod (virtio/share_dir.c share_may_mknod, and FUSE's
 * regular files): FIFOs, sockets, regular files; a device node never, whatever the
 * server's own checks say. */
static int allow_mknod(scmp_filter_ctx ctx)
{
	static const scmp_datum_t types[] = { S_IFIFO, S_IFSOCK, S_IFREG, 0 };
	int e = 0;
	for (size_t i = 0; (!e || e == -EEXIST) && i < sizeof(types) / sizeof(types[0]); i++)
		e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, types[i]));
	return e == -EEXIST ? 0 : e;
}

/* Threads, not processes (clone without CLONE_THREAD is a fork); clone3 hides its flags
 * in memory a filter cannot read, so it answers ENOSYS and glibc falls back to clone.
 * Sockets of the families pagoda uses: unix (the control socket, migration) and, only
 * when the VM may migrate over TCP, IP. */
static int allow_threads_and_sockets(scmp_filter_ctx ctx)
{
	int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				 SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (!e)
		e = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
	for (size_t i = 0; !e && i < (with_ip_sockets ? 3u : 1u); i++)
		e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
	return e == -EEXIST ? 0 : e;
}

/* The main thread starts threads that install their own filter (an I/O thread restarted
 * after a snapshot): a further filter only takes rights away. */
static int allow_more_filters(scmp_filter_ctx ctx)
{
	int e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
	if (!e)
		e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_SECCOMP));
	if (!e)
		e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 0);
	return e == -EEXIST ? 0 : e;
}

/* What the sanitizers' runtime does at exit (LeakSanitizer stops the world with a
 * ptrace'd clone): the ASan/UBSan test build allows it. */
static int allow_sanitizer(scmp_filter_ctx ctx)
{
#if defined(__SANITIZE_ADDRESS__)
	static const int san[] = {
		SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace), SCMP_SYS(prctl), SCMP_SYS(wait4),
		SCMP_SYS(waitid), SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(openat),
		SCMP_SYS(sched_getaffinity), SCMP_SYS(getdents64), SCMP_SYS(readlink), SCMP_SYS(kill),
		SCMP_SYS(getppid), SCMP_SYS(setsockopt), SCMP_SYS(pipe2), SCMP_SYS(sched_yield),
		SCMP_SYS(mremap), SCMP_SYS(uname), SCMP_SYS(getrlimit), /* prlimit64: its own (below) */
		SCMP_SYS(open), SCMP_SYS(stat), SCMP_SYS(access), SCMP_SYS(dup), SCMP_SYS(dup2),
		SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(personality), SCMP_SYS(exit_group),
		SCMP_SYS(getdents),
	};
	int e = allow_list(ctx, san, sizeof(san) / sizeof(san[0]));
	return e ? e : allow_own_limits(ctx);
#else
	(void)ctx;
	return 0;
#endif
}

static int allow_kind(scmp_filter_ctx ctx, enum sandbox_thread kind)
{
#define N(a) (sizeof(a) / sizeof((a)[0]))
	bool main_like = kind == SANDBOX_MAIN || kind == SANDBOX_SETUP;
	int e = allow_list(ctx, common, N(common));
	if (!e)
		e = allow_own_signals(ctx);
	if (!e)
		e = allow_list(ctx, device, N(device)); /* vCPU threads run devices without ioeventfd */
	if (!e && with_shared_files && kind == SANDBOX_IO)
		e = allow_list(ctx, shared_files, N(shared_files));
	if (!e && with_shared_files && kind == SANDBOX_IO)
		e = allow_mknod(ctx);
	if (!e && main_like)
		e = allow_list(ctx, main_only, N(main_only));
	if (!e && main_like)
		e = allow_own_limits(ctx);
	if (!e && main_like)
		e = allow_threads_and_sockets(ctx);
	if (!e && main_like)
		e = allow_more_filters(ctx);
	if (!e && kind == SANDBOX_SETUP)
		e = allow_list(ctx, setup_only, N(setup_only));
	if (!e && (kind == SANDBOX_VCPU || kind == SANDBOX_SETUP))
		e = allow_ioctls(ctx, vcpu_ioctls, N(vcpu_ioctls));
	if (!e && (kind == SANDBOX_IO || kind == SANDBOX_SETUP))
		e = allow_ioctls(ctx, io_ioctls, N(io_ioctls));
	if (!e && main_like)
		e = allow_ioctls(ctx, main_ioctls, N(main_ioctls));
	if (!e && kind == SANDBOX_SETUP)
		e = allow_ioctls(ctx, setup_ioctls, N(setup_ioctls));
#undef N
	return e;
}

/* Each kind's filter is compiled once and every thread of that kind loads the same
 * program: compiling costs about half a millisecond of CPU, which each vCPU paid before
 * its first KVM_RUN. A helper thread that sandbox_prepare starts compiles the running
 * VM's three while the VM is set up; the setup filter (restores, incoming migrations) is
 * compiled when first asked for. */
static struct sock_fprog programs[SANDBOX_SETUP + 1];
static pthread_mutex_t programs_lock = PTHREAD_MUTEX_INITIALIZER;

/* libseccomp's program for kind, as seccomp_load would load it (exported through a
 * memfd: the library's only export before 2.6 writes to a file descriptor). */
static int compile(enum sandbox_thread kind, struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	int e = allow_kind(ctx, kind);
	if (!e)
		e = allow_sanitizer(ctx);
	int fd = e ? -1 : memfd_create("pagoda-seccomp", MFD_CLOEXEC);
	if (!e && fd < 0)
		e = -errno;
	if (!e)
		e = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	off_t len = e ? 0 : lseek(fd, 0, SEEK_END);
	void *code = len > 0 && len % (off_t)sizeof(struct sock_filter) == 0 ? malloc((size_t)len) : NULL;
	if (!e && (!code || pread(fd, code, (size_t)len, 0) != len))
		e = -EIO;
	if (fd >= 0)
		close(fd);
	if (e) {
		free(code);
		return e;
	}
	*prog = (struct sock_fprog){ .len = (unsigned short)(len / (off_t)sizeof(struct sock_filter)), .filter = code };
	return 0;
}

/* kind's program, compiled now unless it was before. */
static int program_for(enum sandbox_thread kind, const struct sock_fprog **prog)
{
	pthread_mutex_lock(&programs_lock);
	int e = programs[kind].filter ? 0 : compile(kind, &programs[kind]);
	pthread_mutex_unlock(&programs_lock);
	*prog = &programs[kind];
	return e;
}

/* The programs of the threads a running VM has (vCPU, I/O, main). */
static int compile_thread_kinds(void)
{
	const struct sock_fprog *p;
	int e = 0;
	for (enum sandbox_thread k = SANDBOX_VCPU; k <= SANDBOX_MAIN && !e; k++)
		e = program_for(k, &p);
	return e;
}

static void *compile_body(void *arg)
{
	(void)arg;
	(void)compile_thread_kinds(); /* a failure is met again by the thread that needs it */
	return NULL;
}

/* Without the helper (no thread to be had) each kind compiles when first entered. */
static void compile_ahead(void)
{
	static bool started;
	pthread_t t;
	if (!started && pthread_create(&t, NULL, compile_body, NULL) == 0)
		pthread_detach(t);
	started = true;
}

int sandbox_enter(enum sandbox_thread kind)
{
	if (mode == SANDBOX_OFF)
		return 0;
	const struct sock_fprog *prog;
	/* Under the setup filter no thread could compile (it allows no memfd): all first. */
	int e = kind == SANDBOX_SETUP ? compile_thread_kinds() : 0;
	if (!e)
		e = program_for(kind, &prog);
	if (e)
		return e;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog))
		return -errno;
	thread_kind = sandbox_thread_name(kind);
	return 0;
}
