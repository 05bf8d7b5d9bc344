/* The seccomp filters: a child process installs a thread's filter and makes a call
 * outside it; with `on` it must end with EXIT_SANDBOX and a message naming the call,
 * with `log` the call goes through, and calls the thread needs keep working (the file
 * servers' among them). A crash on any thread is reported as the crash it is, with the
 * terminal put back. */
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../virtio/fs/fuse_server.h"
#include "../../virtio/fs/p9_server.h"
#include "../../vmm/front/console.h"
#include "../../vmm/core/image.h"
#include "../../vmm/core/sandbox.h"
#include "../../vmm/core/vm.h"
#include "../fuzz/fuzz_share.h"
#include "check.h"

enum probe { PROBE_SOCKET, PROBE_UNIX_SOCKET, PROBE_IP_SOCKET_ALLOWED, PROBE_IOCTL, PROBE_ALLOWED, PROBE_CRASH_ON_TTY, PROBE_SIGNAL_OTHER, PROBE_SIGNAL_SELF,
	     PROBE_FORK, PROBE_THREAD, PROBE_NETLINK, PROBE_SET_REGS, PROBE_THREAD_HEAP, PROBE_FILE_SERVERS,
	     PROBE_LIMIT_SELF, PROBE_LIMIT_OTHER, PROBE_MKNOD_FIFO, PROBE_MKNOD_DEVICE, PROBE_LINK };

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

/* The file servers' sessions (the fuzz targets' seeds: every 9P message type and FUSE
 * operation the servers answer, a mount point's directory listed among them), read
 * before any filter; argv[1] the FUSE one, argv[2] the 9P one. */
static struct image session[2];
static const char *share;
static struct fuse_server *fuse;
static struct p9_server *p9;

/* The servers on fuzz_share.h's directory with a tmpfs mounted at mp (as root; without
 * it the mount point's requests just fail). */
static void make_servers(void)
{
	char err[256], mp[128];
	share = fuzz_share_world("sandbox");
	snprintf(mp, sizeof(mp), "%s/mp", share);
	if (mount("tmpfs", mp, "tmpfs", 0, "size=1M")) {
		/* an unprivileged run serves the mount point as a plain directory */
	}
	fuse = fuse_server_create(share, false, err, sizeof(err));
	p9 = p9_server_create(share, false, err, sizeof(err));
}

static void unmount_share(void)
{
	char mp[128];
	snprintf(mp, sizeof(mp), "%s/mp", share);
	umount(mp);
}

/* Serves each session's requests one after the other, as the I/O thread would: under
 * its filter, a call the servers make and the filter lacks ends the child. */
static int serve_sessions(void)
{
	static uint8_t rep[FUSE_SRV_MSG_MAX > P9_MSIZE_MAX ? FUSE_SRV_MSG_MAX : P9_MSIZE_MAX];
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} init = { { .len = sizeof(init), .opcode = FUSE_INIT, .unique = 1 },
		   { .major = FUSE_KERNEL_VERSION, .minor = 38, .max_readahead = 1 << 20 } };
	if (!fuse || !p9 || !fuse_server_handle(fuse, (const uint8_t *)&init, sizeof(init), rep, sizeof(rep)))
		return 97;
	for (int k = 0; k < 2; k++) {
		const uint8_t *d = session[k].data;
		for (size_t off = 0, n = session[k].len; off + 7 <= n;) {
			uint32_t len;
			memcpy(&len, d + off, 4);
			if (len < 7 || len > n - off)
				break;
			if (k == 0)
				fuse_server_handle(fuse, d + off, len, rep, sizeof(rep));
			else
				p9_server_handle(p9, d + off, len, rep, sizeof(rep));
			off += len;
		}
	}
	return write(STDERR_FILENO, "alive\n", 6) == 6 ? 0 : 98;
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
		if (probe == PROBE_FILE_SERVERS || probe == PROBE_MKNOD_FIFO || probe == PROBE_MKNOD_DEVICE || probe == PROBE_LINK)
			sandbox_allow_shared_files();
		if (probe == PROBE_IP_SOCKET_ALLOWED)
			sandbox_allow_ip_sockets();
		if (sandbox_prepare(mode) || (probe != PROBE_THREAD_HEAP && sandbox_enter(kind)))
			_exit(99);
		int r = 0;
		if (probe == PROBE_THREAD_HEAP)
			r = heap_in_thread(kind);
		else if (probe == PROBE_FILE_SERVERS)
			r = serve_sessions();
		else if (probe == PROBE_SOCKET || probe == PROBE_IP_SOCKET_ALLOWED)
			r = socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 98;
		else if (probe == PROBE_UNIX_SOCKET)
			r = socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 98;
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
		else if (probe == PROBE_LIMIT_SELF)
			r = prlimit(0, RLIMIT_NOFILE, NULL, &(struct rlimit){ 0 }) == 0 ? 0 : 98;
		else if (probe == PROBE_LIMIT_OTHER) /* only asks: the filter's verdict is the test */
			r = prlimit(parent, RLIMIT_NOFILE, NULL, &(struct rlimit){ 0 }) == 0 ? 0 : 98;
		else if (probe == PROBE_MKNOD_FIFO || probe == PROBE_MKNOD_DEVICE) /* a name that exists: EEXIST */
			r = mknodat(AT_FDCWD, "/", (probe == PROBE_MKNOD_FIFO ? S_IFIFO : S_IFCHR) | 0600, makedev(1, 3)) < 0 &&
			    errno == EEXIST ? 0 : 98;
		else if (probe == PROBE_LINK) /* a name that does not exist: ENOENT */
			r = linkat(AT_FDCWD, "/nonexistent-pagoda", AT_FDCWD, "/nonexistent-pagoda-2", 0) < 0 &&
			    errno == ENOENT ? 0 : 98;
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

int main(int argc, char **argv)
{
	char out[512];
	char err[256];
	if (argc < 3 || image_open(&session[0], argv[1], "FUSE session", err, sizeof(err)) ||
	    image_open(&session[1], argv[2], "9P session", err, sizeof(err))) {
		fprintf(stderr, "usage: test_sandbox FUSE-SESSION 9P-SESSION (%s)\n", argc < 3 ? "missing" : err);
		return 1;
	}
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
	/* The main thread's filter takes unix sockets; IP ones only where the VM may migrate
	 * over TCP (sandbox_allow_ip_sockets). */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_UNIX_SOCKET, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_SOCKET, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call socket is not allowed in the main thread");
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_IP_SOCKET_ALLOWED, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_SETUP, PROBE_IP_SOCKET_ALLOWED, out, sizeof(out)), 0);
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
	/* Limits: its own, never another process's (a probe raised a pid's limit before). */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_LIMIT_SELF, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_LIMIT_OTHER, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call prlimit64 is not allowed");
	/* With a shared directory the I/O thread, which serves it, may mknod a FIFO, never a
	 * device node, and link; the other threads may do neither (a vCPU thread could once
	 * link, chown and make device nodes). */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_IO, PROBE_MKNOD_FIFO, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_IO, PROBE_MKNOD_DEVICE, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call mknodat is not allowed in the I/O thread");
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_IO, PROBE_LINK, out, sizeof(out)), 0);
	enum sandbox_thread others[] = { SANDBOX_VCPU, SANDBOX_MAIN };
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(in_child(SANDBOX_ON, others[i], PROBE_MKNOD_FIFO, out, sizeof(out)), EXIT_SANDBOX);
		CHECK_MSG(out, "system call mknodat is not allowed");
		CHECK_EQ(in_child(SANDBOX_ON, others[i], PROBE_LINK, out, sizeof(out)), EXIT_SANDBOX);
		CHECK_MSG(out, "system call linkat is not allowed");
	}
	/* A guest's every file-server request on the I/O thread: a file server's calls are
	 * all in the list a shared directory adds (listing a mount point once was not). */
	make_servers();
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_IO, PROBE_FILE_SERVERS, out, sizeof(out)), 0);
	CHECK_MSG(out, "alive");
	unmount_share();
	fuse_server_destroy(fuse);
	p9_server_destroy(p9);
	image_close(&session[0]);
	image_close(&session[1]);
	return check_result("sandbox");
}
