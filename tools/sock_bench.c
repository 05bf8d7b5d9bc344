/* The bare socket the migration benchmark compares against: one process pushes BYTES
 * through a unix or TCP loopback socket to another, in 1 MiB writes, and prints the
 * throughput. What pagoda's migration moves through the same kind of socket cannot go
 * faster than this. "fresh": the receiver reads into new memory (THP), as a migration's
 * receiver does into guest RAM, so first-touch page clearing is in the figure too.
 *   sock-bench unix|tcp BYTES [fresh] */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pair(bool tcp, int fds[2])
{
	if (!tcp)
		return socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &len))
		return -1;
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	fds[1] = accept(l, NULL, NULL);
	close(l);
	return fds[1] < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (strcmp(argv[1], "unix") && strcmp(argv[1], "tcp"))) {
		fprintf(stderr, "usage: sock-bench unix|tcp BYTES [fresh]\n");
		return 2;
	}
	bool fresh = argc == 4 && !strcmp(argv[3], "fresh");
	uint64_t total = strtoull(argv[2], NULL, 0);
	int fds[2];
	if (pair(!strcmp(argv[1], "tcp"), fds)) {
		perror("sock-bench: socket");
		return 1;
	}
	char *buf = calloc(1, CHUNK);
	memset(buf, 0x5a, CHUNK);
	double t0 = now();
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		char *dst = fresh ? mmap(NULL, total + CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : NULL;
		if (dst == MAP_FAILED)
			_exit(1);
		if (dst)
			madvise(dst, total + CHUNK, MADV_HUGEPAGE);
		for (uint64_t got = 0; got < total;) {
			ssize_t k = read(fds[1], dst ? dst + got : buf, CHUNK);
			if (k <= 0)
				_exit(1);
			got += (uint64_t)k;
		}
		_exit(0);
	}
	close(fds[1]);
	for (uint64_t sent = 0; sent < total;) {
		size_t n = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
		ssize_t k = write(fds[0], buf, n);
		if (k <= 0) {
			perror("sock-bench: write");
			return 1;
		}
		sent += (uint64_t)k;
	}
	int st;
	waitpid(pid, &st, 0);
	double s = now() - t0;
	printf("sock-bench: %s%s %llu bytes in %.1f ms: %.0f MiB/s\n", argv[1], fresh ? " fresh" : "", (unsigned long long)total, s * 1e3,
	       (double)total / (1 << 20) / s);
	free(buf);
	return 0;
}
