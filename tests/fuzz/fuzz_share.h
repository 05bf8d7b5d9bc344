/* Shared by the file-server targets (9P, FUSE) and test_sandbox: a shared directory
 * holding a file, two subdirectories (mp: where test_sandbox mounts a tmpfs) and a
 * symlink pointing out, and beside it a file the guest must never
 * reach. After every input that file must be there, unchanged, and nothing new may
 * appear beside the share. */
#ifndef PAGODA_FUZZ_SHARE_H
#define PAGODA_FUZZ_SHARE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_top[64], fuzz_outside[96];

static inline void fuzz_share_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_top);
	if (system(cmd)) {
		/* a leftover directory in /tmp is all that is lost */
	}
}

static inline void fuzz_share_put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* Makes the world (removed at exit) and returns the share's path. */
static inline const char *fuzz_share_world(const char *name)
{
	static char share[96];
	char p[160];
	snprintf(fuzz_top, sizeof(fuzz_top), "/tmp/pagoda-fuzz-%s-XXXXXX", name);
	if (!mkdtemp(fuzz_top))
		abort();
	snprintf(share, sizeof(share), "%s/share", fuzz_top);
	snprintf(fuzz_outside, sizeof(fuzz_outside), "%s/outside", fuzz_top);
	if (mkdir(share, 0755))
		abort();
	atexit(fuzz_share_remove);
	snprintf(p, sizeof(p), "%s/dir", share);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/mp", share);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/file", share);
	fuzz_share_put(p, "inside\n");
	snprintf(p, sizeof(p), "%s/up", share);
	if (symlink("..", p)) {
		/* the fuzzer runs without it */
	}
	fuzz_share_put(fuzz_outside, "secret\n");
	return share;
}

static inline void fuzz_share_check_outside(void)
{
	char buf[16] = { 0 };
	int fd = open(fuzz_outside, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 7 || memcmp(buf, "secret\n", 7))
		__builtin_trap();
	close(fd);
	DIR *d = opendir(fuzz_top);
	unsigned int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	if (n != 2)
		__builtin_trap();
}

#endif
