#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../util/json.h"
#include "../core/vm.h"

static const char ctl_usage[] =
	"usage: pagoda ctl SOCKET COMMAND [ARG [MODE]]\n"
	"Sends one command to a VM started with --api-sock SOCKET and prints the JSON reply.\n"
	"  pause | resume | stop | stats\n"
	"  balloon [SIZE]          set the balloon's target (and show the balloon)\n"
	"  dirty-rate [SECONDS]    measure the guest's dirty rate over a window (default 1)\n"
	"  working-set [SECONDS [auto|access-log|damon|page-idle]]\n"
	"                          the guest's working set: the first ask starts the estimate\n"
	"                          (windows of SECONDS, default 1, by that method, default\n"
	"                          auto), later ones report it\n"
	"  snapshot DIR [diff]     a paused VM into DIR (pagoda restore DIR brings it back);\n"
	"                          diff: only the pages dirtied since this VM's last snapshot\n"
	"  migrate unix:PATH|tcp:HOST:PORT [postcopy|precopy-then-postcopy[=N]]\n"
	"                          live-migrate (pre-copy unless told); waits and prints the\n"
	"                          report\n"
	"  migrate-status\n"
	"Exit status: 0 when the reply says ok, 1 when it does not, 2 when nothing answered.\n";

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		return e;
	}
	return fd;
}

/* One reply line; -ETIMEDOUT or -ECONNRESET when none came. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		ssize_t k = recv(fd, buf + n, 1, 0);
		if (k <= 0)
			return -ECONNRESET;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return 0;
}

int ctl_main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(ctl_usage, stdout);
		return 0;
	}
	if (argc < 3 || argc > 5) {
		fputs(ctl_usage, stderr);
		return EXIT_SETUP;
	}
	const char *path = argv[1], *cmd = argv[2], *arg = argc > 3 ? argv[3] : NULL;
	const char *mode = argc > 4 ? argv[4] : NULL;
	int fd = connect_to(path);
	if (fd < 0) {
		fprintf(stderr, "pagoda ctl: %s: %s (is a VM running with --api-sock %s?)\n", path, strerror(-fd), path);
		return EXIT_SETUP;
	}
	char ecmd[128], earg[512], emode[64], line[1024];
	json_escape(cmd, ecmd, sizeof(ecmd));
	json_escape(arg ? arg : "", earg, sizeof(earg));
	json_escape(mode ? mode : "", emode, sizeof(emode));
	bool migrate = !strcmp(cmd, "migrate");
	int n = snprintf(line, sizeof(line), "{\"cmd\": \"%s\"%s%s%s%s%s%s}\n", ecmd, arg ? ", \"arg\": \"" : "",
			 arg ? earg : "", arg ? "\"" : "", mode ? ", \"mode\": \"" : "", mode ? emode : "",
			 mode ? "\"" : "");
	if (migrate)
		n += snprintf(line + n - 2, sizeof(line) - (size_t)n + 2, ", \"wait\": true}\n") - 2;
	char reply[16384];
	int e = send(fd, line, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -errno;
	/* A migration takes as long as it takes; everything else answers within a minute. */
	if (!e)
		e = read_line(fd, reply, sizeof(reply), migrate ? -1 : 65000);
	close(fd);
	if (e) {
		fprintf(stderr, "pagoda ctl: %s: no reply: %s\n", path, strerror(-e));
		return EXIT_SETUP;
	}
	puts(reply);
	bool ok = strstr(reply, "\"ok\": true") != NULL;
	if (migrate)
		ok = ok && strstr(reply, "\"state\": \"done\"") != NULL;
	return ok ? 0 : 1;
}
