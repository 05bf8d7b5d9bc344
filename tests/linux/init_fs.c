/* Checks of the shared directory from inside Linux. The host put from-host.txt there
 * before the boot; what the guest writes the host checks after the VM ended
 * (tests/linux/fs-lab.sh). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init_fs.h"

#define BIG (3 << 20) /* more than any one 9P message: many reads and writes */

static int failed;

static void check(int ok, const char *what)
{
	printf("fs %s: %s\n", what, ok ? "ok" : strerror(errno));
	failed += !ok;
}

static int mount_share(unsigned long flags)
{
	mkdir("/mnt", 0755);
	int ok = mount("pagoda", "/mnt", "9p", flags, "trans=virtio,version=9p2000.L,msize=262144") == 0;
	check(ok, "mount");
	return ok;
}

static void read_host_file(void)
{
	char buf[128] = "";
	FILE *f = fopen("/mnt/from-host.txt", "r");
	int ok = f && fgets(buf, sizeof(buf), f);
	if (f)
		fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	printf("fs host file says: %s\n", buf);
	check(ok, "read from-host.txt");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ok = f && fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (f)
		ok &= fclose(f) == 0;
	check(ok, path);
}

/* A big file through many messages: written, read back, compared. */
static void big_file(void)
{
	unsigned char *w = malloc(BIG), *r = malloc(BIG);
	if (!w || !r) {
		check(0, "big file buffers");
		return;
	}
	for (size_t i = 0; i < BIG; i++)
		w[i] = (unsigned char)(i * 7 + i / 4096);
	int fd = open("/mnt/big.bin", O_CREAT | O_TRUNC | O_RDWR, 0644);
	int ok = fd >= 0 && write(fd, w, BIG) == BIG && lseek(fd, 0, SEEK_SET) == 0;
	size_t got = 0;
	while (ok && got < BIG) {
		ssize_t n = read(fd, r + got, BIG - got);
		ok = n > 0;
		got += ok ? (size_t)n : 0;
	}
	if (fd >= 0)
		close(fd);
	check(ok && !memcmp(w, r, BIG), "big file written and read back");
	free(w);
	free(r);
}

static void listing(void)
{
	DIR *d = opendir("/mnt");
	unsigned int n = 0, seen = 0;
	for (struct dirent *e; d && (e = readdir(d)); n++)
		seen += !strcmp(e->d_name, "from-host.txt") || !strcmp(e->d_name, "gdir");
	if (d)
		closedir(d);
	printf("fs entries: %u\n", n);
	check(seen == 2, "listing has from-host.txt and gdir");
}

int fs_checks(void)
{
	if (!mount_share(0))
		return failed;
	read_host_file();
	check(mkdir("/mnt/gdir", 0750) == 0, "mkdir gdir");
	write_file("/mnt/gdir/note.txt", "written by the guest\n");
	check(rename("/mnt/gdir/note.txt", "/mnt/gdir/moved.txt") == 0, "rename note.txt");
	write_file("/mnt/doomed.txt", "gone soon\n");
	check(unlink("/mnt/doomed.txt") == 0, "unlink doomed.txt");
	check(symlink("gdir/moved.txt", "/mnt/link") == 0, "symlink");
	char target[64] = "";
	check(readlink("/mnt/link", target, sizeof(target) - 1) == 14, "readlink");
	check(chmod("/mnt/gdir/moved.txt", 0600) == 0, "chmod");
	check(truncate("/mnt/gdir/moved.txt", 7) == 0, "truncate");
	big_file();
	listing();
	check(umount("/mnt") == 0, "umount");
	printf("fs checks: %s\n", failed ? "FAILED" : "all passed");
	return failed;
}

int fs_ro_checks(void)
{
	if (!mount_share(0))
		return failed;
	read_host_file();
	int fd = open("/mnt/ro-attempt.txt", O_CREAT | O_WRONLY, 0644);
	check(fd < 0 && errno == EROFS, "create on a read-only share refused");
	if (fd >= 0)
		close(fd);
	fd = open("/mnt/from-host.txt", O_WRONLY);
	check(fd < 0 && errno == EROFS, "write open on a read-only share refused");
	if (fd >= 0)
		close(fd);
	check(umount("/mnt") == 0, "umount");
	printf("fs ro checks: %s\n", failed ? "FAILED" : "all passed");
	return failed;
}
