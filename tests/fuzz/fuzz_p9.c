/* The 9P2000.L server under a hostile guest: the input is a run of messages (each
 * starting with its own size field, which the input may lie about), served one after
 * the other against a shared directory that holds a file, a subdirectory and a symlink
 * pointing out. Beside the share sits a file the guest must never reach: after every
 * input it must still be there, unchanged, and nothing new may appear beside it. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../virtio/p9_server.h"

static char top[64], share[96], outside[96];
static struct p9_server *srv;
static uint8_t rep[P9_MSIZE_MAX];

static void remove_world(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd)) {
		/* a leftover directory in /tmp is all that is lost */
	}
}

static void make_world(void)
{
	snprintf(top, sizeof(top), "/tmp/pagoda-fuzz-p9-XXXXXX");
	if (!mkdtemp(top))
		abort();
	snprintf(share, sizeof(share), "%s/share", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	char p[160];
	if (mkdir(share, 0755))
		abort();
	atexit(remove_world);
	snprintf(p, sizeof(p), "%s/dir", share);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/file", share);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs("inside\n", f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/up", share);
	if (symlink("..", p)) {
		/* the fuzzer runs without it */
	}
	f = fopen(outside, "w");
	if (!f)
		abort();
	fputs("secret\n", f);
	fclose(f);
	char err[256];
	srv = p9_server_create(share, false, err, sizeof(err));
	if (!srv)
		abort();
}

/* The file beside the share is as it was, and the share's parent holds only the two. */
static void check_outside(void)
{
	char buf[16] = { 0 };
	int fd = open(outside, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 7 || memcmp(buf, "secret\n", 7))
		__builtin_trap();
	close(fd);
	DIR *d = opendir(top);
	unsigned int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	if (n != 2)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		make_world();
	p9_server_reset(srv);
	for (size_t off = 0; off + 7 <= size;) {
		uint32_t len;
		memcpy(&len, data + off, 4);
		size_t take = len < 7 || len > size - off ? size - off : len;
		size_t n = p9_server_handle(srv, data + off, take, rep, sizeof(rep));
		if (n > sizeof(rep))
			__builtin_trap();
		off += take;
	}
	check_outside();
	return 0;
}
