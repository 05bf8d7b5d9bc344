/* The seccomp filters: a child process installs a thread's filter and makes a call
 * outside it; with `on` it must end with EXIT_SANDBOX and a message naming the call,
 * with `log` the call goes through, and calls the thread needs keep working. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../vmm/sandbox.h"
#include "../../vmm/vm.h"
#include "check.h"

enum probe { PROBE_SOCKET, PROBE_IOCTL, PROBE_ALLOWED };

/* Runs probe in a child under kind's filter; returns its exit status, stderr in out. */
static int in_child(enum sandbox_mode mode, enum sandbox_thread kind, enum probe probe, char *out, size_t len)
{
	int pipefd[2];
	if (pipe(pipefd))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		if (sandbox_prepare(mode) || sandbox_enter(kind))
			_exit(99);
		int r = 0;
		if (probe == PROBE_SOCKET)
			r = socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 98;
		else if (probe == PROBE_IOCTL)
			r = ioctl(STDIN_FILENO, FIONREAD, &(int){ 0 }) >= -1 ? 0 : 98;
		else
			r = write(STDERR_FILENO, "alive\n", 6) == 6 ? 0 : 98;
		_exit(r); /* no atexit work (sanitizers) under a filter */
	}
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], out, len - 1);
	out[n > 0 ? n : 0] = 0;
	close(pipefd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
	char out[512];
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_VCPU, PROBE_SOCKET, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call socket is not allowed");
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_IO, PROBE_SOCKET, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_VCPU, PROBE_IOCTL, out, sizeof(out)), EXIT_SANDBOX);
	CHECK_MSG(out, "system call ioctl is not allowed");
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_VCPU, PROBE_ALLOWED, out, sizeof(out)), 0);
	CHECK_MSG(out, "alive");
	/* The main thread's filter takes sockets (the control socket, migration). */
	CHECK_EQ(in_child(SANDBOX_ON, SANDBOX_MAIN, PROBE_SOCKET, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_LOG, SANDBOX_VCPU, PROBE_SOCKET, out, sizeof(out)), 0);
	CHECK_EQ(in_child(SANDBOX_OFF, SANDBOX_VCPU, PROBE_SOCKET, out, sizeof(out)), 0);
	return check_result("sandbox");
}
