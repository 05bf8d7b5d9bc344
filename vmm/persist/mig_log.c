#include "mig_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../util/clock.h"

int mig_log_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
	struct stat st;
	int e = fd < 0 || fstat(fd, &st) ? -errno : 0;
	if (!e && !S_ISREG(st.st_mode))
		e = -EINVAL;
	if (e) {
		snprintf(err, errlen, "--migration-log %s: %s: give a file to append JSON lines to", path,
			 e == -EINVAL ? "not a regular file" : strerror(-e));
		if (fd >= 0)
			close(fd);
		return e;
	}
	return fd;
}

void mig_log(int fd, const char *event, const char *side, uint64_t t0_ns, const char *fmt, ...)
{
	if (fd < 0)
		return;
	char line[2048];
	int n = snprintf(line, sizeof(line), "{\"event\": \"%s\", \"side\": \"%s\", \"t_ms\": %.3f, ", event, side,
			 (double)(now_ns() - t0_ns) / 1e6);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n + 2 >= sizeof(line)) {
		fprintf(stderr, "pagoda: --migration-log: a %s record did not fit a line; left out\n", event);
		return;
	}
	line[n++] = '}';
	line[n++] = '\n';
	/* One write per record: with O_APPEND lines of two writers never interleave. */
	if (write(fd, line, (size_t)n) != n)
		fprintf(stderr, "pagoda: --migration-log: a %s record could not be written: %s\n", event,
			strerror(errno));
}
