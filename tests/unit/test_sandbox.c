/* The seccomp filters: a child process installs a thread's filter and makes a call
 * outside it; with `on` it must end with EXIT_SANDBOX and a message naming the call,
 * with `log` the call goes through, and calls the thread needs keep working. A crash on
 * any thread is reported as the crash it is, with the terminal put back. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../vmm/front/console.h"
#include "../../vmm/core/sandbox.h"
#include "../../vmm/core/vm.h"
#include "check.h"

enum probe { PROBE_SOCKET, PROBE_IOCTL, PROBE_ALLOWED, PROBE_CRASH_ON_TTY, PROBE_SIGNAL_OTHER, PROBE_SIGNAL_SELF,
	     PROBE_FORK, PROBE_THREAD, PROBE_NETLINK, PROBE_SET_REGS, PROBE_THREAD_HEAP };

static char pty_name[64];

static void *thread_body(void *arg)
{
	return arg;
}

/* glibc tries clone3 first: the filter answers ENOSYS and it falls back to clone. */
static int start_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, thread_body, NULL))
		return 98;
	pthread_join(t, NULL);
	return 0;
}

/* A thread under kind's filter (entered by the thread, as pagoda's do) that grows its
 * malloc arena by 4 MiB in small blocks and frees them: glibc then trims the arena's heap,
 * and its first trim reads /proc/sys/vm/overcommit_memory, a file opened where no file
 * may be opened (seen on pagoda's I/O thread as a Debian guest powered off). */
static void *heap_body(void *arg)
{
	if (sandbox_enter(*(enum sandbox_thread *)arg))
		return (void *)1;
	enum { N = 4096 };
	static void *blocks[N];
	for (int i = 0; i < N; i++)
		if ((blocks[i] = malloc(1024)))
			memset(blocks[i], 1, 1024);
	for (int i = N - 1; i >= 0; i--)
		free(blocks[i]);
	return NULL;
}

static int heap_in_thread(enum sandbox_thread kind)
{
	pthread_t t;
	void *ret = (void *)1;
	if (pthread_create(&t, NULL, heap_body, &kind))
		return 98;
	pthread_join(t, &ret);
	return ret ? 98 : write(STDERR_FILENO, "alive\n", 6) == 6 ? 0 : 98;
}

/* The child's console on the pseudo-terminal pty_name, in raw mode as pagoda puts it. */
static void console_on_pty(void)
{
	static struct event_loop loop;
	static struct console c;
	int fd = open(pty_name, O_RDWR | O_NOCTTY);
	if (fd < 0 || event_loop_init(&loop) || console_start(&c, &loop, fd))
		_exit(97);
}

/* Runs probe in a child under kind's filter; returns its exit status, stderr in out. */
static int in_child(enum sandbox_mode mode, enum sandbox_thread kind, enum probe probe, char *out, size_t len)
{
	int pipefd[2];
	if (pipe(pipefd))
		return -1;
	pid_t parent = getpid(); /* the child's filter may not let it ask */
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		if (probe == PROBE_CRASH_ON_TTY)
			console_on_pty();
		if (sandbox_prepare(mode) || (probe != PROBE_THREAD_HEAP && sandbox_enter(kind)))
			_exit(99);
		int r = 0;
		if (probe == PROBE_THREAD_HEAP)
			r = heap_in_thread(kind);
		else if (probe == PROBE_SOCKET)
			r = socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 98;
		else if (probe == PROBE_IOCTL)
			(void)ioctl(STDIN_FILENO, FIONREAD, &(int){ 0 }); /* the filter ends us, or not */
		else if (probe == PROBE_CRASH_ON_TTY)
			raise(SIGSEGV);
		else if (probe == PROBE_SIGNAL_OTHER) /* signal 0: only asks whether it may */
			r = syscall(SYS_tgkill, parent, parent, 0) == 0 ? 0 : 98;
		else if (probe == PROBE_FORK)
			r = fork() >= 0 ? 0 : 98; /* a child that gets this far exits 0 too */
		else if (probe == PROBE_THREAD)
			r = start_thread();
		else if (probe == PROBE_NETLINK)
			r = socket(AF_NETLINK, SOCK_RAW, 0) >= 0 ? 0 : 98;
		else if (probe == PROBE_SET_REGS) /* a bad fd: only the filter's verdict matters */
			r = ioctl(-1, KVM_SET_REGS, NULL) < 0 && errno == EBADF ? 0 : 98;
		else if (probe == PROBE_SIGNAL_SELF)
			r = syscall(SYS_tgkill, getpid(), gettid(), 0) == 0 ? 0 : 98;
		else
			r = write(STDERR_FILENO, "alive\n", 6) == 6 ? 0 : 98;
		_exit(r); /* no atexit work (sanitizers) under a filter */
	}
	close(pipefd[1]);
	size_t got = 0;
	for (ssize_t n; got < len - 1 && (n = read(pipefd[0], out + got, len - 1 - got)) > 0;)
		got += (size_t)n;
	out[got] = 0;
	close(pipefd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A crash on the I/O thread (any thread) with the console on a terminal: reported as
 * that signal, the terminal back in its own mode; the old handler's tcsetattr was a
 * system call the I/O filter forbids, so it died as a seccomp violation of ioctl with
 * the terminal left raw. */
static void crash_on_tty(enum sandbox_thread kind)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
	snprintf(pty_name, sizeof(pty_name), "%s", ptsname(master));
	char out[512];
	CHECK_EQ(in_child(SANDBOX_ON, kind, PROBE_CRASH_ON_TTY, out, sizeof(out)), 128 + SIGSEGV);
	CHECK_MSG(out, "pagoda: fatal signal SIGSEGV");
	int slave = open(pty_name, O_RDWR | O_NOCTTY);
	struct termios t;
	CHECK(slave >= 0 && tcgetattr(slave, &t) == 0 && (t.c_lflag & ICANON) && (t.c_lflag & ECHO));
	close(slave);
	close(master);
}

int main(void)
{
	char out[512];
	crash_on_tty(SANDBOX_IO);
	crash_on_tty(SANDBOX_VCPU);
	crash_on_tty(SANDBOX_MAIN);
	/* The message names the call and the thread whose list lacks it. */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_VCPU, PROBE_SOCKET, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call socket is not allowed in the vCPU thread");
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_IO, PROBE_SOCKET, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call socket is not allowed in the I/O thread");
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_VCPU, PROBE_IOCTL, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call ioctl is not allowed");
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_VCPU, PROBE_ALLOWED, out, sizeof(out)), 0);
	CHECK_MSG(out, "alive");
	/* The main thread's filter takes sockets (the control socket, migration). */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_SOCKET, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_LOG, SANDBOX_VCPU, PROBE_SOCKET, out, sizeof(out)), 0);
	/* The main thread starts threads, never processes; its sockets are unix and IP. */
#if !defined(__SANITIZE_ADDRESS__) /* LeakSanitizer forks at exit: that build allows clone */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_FORK, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call clone is not allowed");
#endif
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_THREAD, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_NETLINK, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_SETUP, PROBE_NETLINK, out, sizeof(out)), EXIT_SANDBOX);
	/* Setting vCPU state: while a snapshot or stream is restored, not once the VM runs. */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_SETUP, PROBE_SET_REGS, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_SET_REGS, out, sizeof(out)), EXIT_SANDBOX);
	/* Signals: to pagoda's own threads, never to another process. */
	for (enum sandbox_thread k = SANDBOX_VCPU; k <= SANDBOX_SETUP; k++) {
		CHECK_EQ(in_child(SANDBOX_ON, k, PROBE_SIGNAL_OTHER, out, sizeof(out)), EXIT_SANDBOX);
		CHECK_MSG(out, "system call tgkill is not allowed");
		CHECK_EQ(in_child(SANDBOX_ON, k, PROBE_SIGNAL_SELF, out, sizeof(out)), 0);
	}
	CHECK_EQ(in_child(SANDBOX_OFF, SANDBOX_VCPU, PROBE_SOCKET, out, sizeof(out)), 0);
	/* malloc's own housekeeping on the vCPU and I/O threads opens no file. */
	for (enum sandbox_thread k = SANDBOX_VCPU; k <= SANDBOX_IO; k++) {
		CHECK_EQ(in_child(SANDBOX_ON, k, PROBE_THREAD_HEAP, out, sizeof(out)), 0);
		CHECK_MSG(out, "alive");
	}
	return check_result("sandbox");
}
