/* The 9P2000.L server on a temporary directory: what Linux's v9fs does (attach, walk,
 * create, write, read, readdir, mkdir, rename, unlink, getattr) lands on the host as it
 * should, and what a hostile guest tries is refused: walking above the share, through a
 * symlink it planted, opening a FIFO or a device node, making one, setting set-user-ID,
 * writing a read-only share, malformed and truncated messages, running out of fids. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../../virtio/fs/p9_server.h"
#include "../../virtio/fs/share_dir.h"
#include "check.h"

enum { RRENAME = 21, RREMOVE = 123, RLERROR = 7, RLOPEN = 13, RLCREATE = 15, RSYMLINK = 17, RMKNOD = 19, RREADLINK = 23,
       RGETATTR = 25, RREADDIR = 41, RMKDIR = 73, RRENAMEAT = 75, RUNLINKAT = 77, RVERSION = 101,
       RATTACH = 105, RWALK = 111, RREAD = 117, RWRITE = 119, RCLUNK = 121 };

static uint8_t msg[1 << 16], rep[1 << 16];
static size_t mlen, rlen;
static struct p9_server *srv;

static void begin(uint8_t type)
{
	mlen = 7;
	msg[4] = type;
	msg[5] = 0x34;
	msg[6] = 0x12;
}

static void put(uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		msg[mlen++] = (uint8_t)(v >> (8 * i));
}

static void str(const char *s)
{
	put(strlen(s), 2);
	memcpy(msg + mlen, s, strlen(s));
	mlen += strlen(s);
}

static uint64_t at(size_t off, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)rep[off + i] << (8 * i);
	return v;
}

/* Sends the message; returns the reply's type (RLERROR: errno in err). */
static uint8_t send_msg(uint32_t *err)
{
	for (int i = 0; i < 4; i++)
		msg[i] = (uint8_t)(mlen >> (8 * i));
	rlen = p9_server_handle(srv, msg, mlen, rep, sizeof(rep));
	if (rlen < 7 || at(0, 4) != rlen || at(5, 2) != 0x1234)
		return 0;
	if (err)
		*err = rep[4] == RLERROR ? (uint32_t)at(7, 4) : 0;
	return rep[4];
}

static uint8_t walk(uint32_t fid, uint32_t newfid, int n, const char **names, uint32_t *err)
{
	begin(110);
	put(fid, 4);
	put(newfid, 4);
	put((uint64_t)n, 2);
	for (int i = 0; i < n; i++)
		str(names[i]);
	return send_msg(err);
}

static uint8_t lopen(uint32_t fid, uint32_t flags, uint32_t *err)
{
	begin(12);
	put(fid, 4);
	put(flags, 4);
	return send_msg(err);
}

/* Treaddir of an open directory fid from offset 0, room for 8192 bytes of entries. */
static uint8_t readdir_fid(uint32_t fid, uint32_t *err)
{
	begin(40);
	put(fid, 4);
	put(0, 8);
	put(8192, 4);
	return send_msg(err);
}

static uint8_t clunk(uint32_t fid)
{
	begin(120);
	put(fid, 4);
	return send_msg(NULL);
}

static void start(const char *dir, bool ro)
{
	char err[256];
	p9_server_destroy(srv);
	srv = p9_server_create(dir, ro, err, sizeof(err));
	CHECK(srv != NULL);
	begin(100);
	put(1 << 20, 4);
	str("9P2000.L");
	CHECK_EQ(send_msg(NULL), RVERSION);
	CHECK_EQ(at(7, 4), P9_MSIZE_MAX); /* a 1 MiB ask gets the server's most */
	begin(104);
	put(1, 4);
	put(~0u, 4);
	str("root");
	str("");
	put(0, 4);
	CHECK_EQ(send_msg(NULL), RATTACH);
}

static uint64_t root_ino;

static void honest(const char *dir)
{
	start(dir, false);
	root_ino = at(7 + 5, 8);
	uint32_t e;
	CHECK_EQ(walk(1, 2, 0, NULL, &e), RWALK); /* clone the root, create in it */
	begin(14);
	put(2, 4);
	str("hello.txt");
	put(O_RDWR, 4);
	put(0644, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RLCREATE);
	begin(118);
	put(2, 4);
	put(0, 8);
	put(8, 4);
	memcpy(msg + mlen, "hi there", 8);
	mlen += 8;
	CHECK_EQ(send_msg(&e), RWRITE);
	CHECK_EQ(at(7, 4), 8);
	CHECK_EQ(clunk(2), RCLUNK);
	char path[512], buf[32] = { 0 };
	snprintf(path, sizeof(path), "%s/hello.txt", dir);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 8 && !strcmp(buf, "hi there"));
	close(fd);

	const char *hello[] = { "hello.txt" };
	CHECK_EQ(walk(1, 3, 1, hello, &e), RWALK);
	CHECK_EQ(lopen(3, O_RDONLY, &e), RLOPEN);
	begin(116);
	put(3, 4);
	put(3, 8);
	put(0xffffffff, 4); /* more than any message: capped */
	CHECK_EQ(send_msg(&e), RREAD);
	CHECK(at(7, 4) == 5 && !memcmp(rep + 11, "there", 5));
	begin(24);
	put(3, 4);
	put(0x7ff, 8);
	CHECK_EQ(send_msg(&e), RGETATTR);
	CHECK_EQ(at(7 + 8 + 13 + 4 * 3 + 8 * 2, 8), 8); /* size */
	CHECK_EQ(clunk(3), RCLUNK);

	begin(72);
	put(1, 4);
	str("sub");
	put(0755, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RMKDIR);
	begin(74);
	put(1, 4);
	str("hello.txt");
	put(1, 4);
	str("moved.txt");
	CHECK_EQ(send_msg(&e), RRENAMEAT);
	snprintf(path, sizeof(path), "%s/moved.txt", dir);
	CHECK(access(path, F_OK) == 0);

	CHECK_EQ(walk(1, 4, 0, NULL, &e), RWALK);
	CHECK_EQ(lopen(4, O_RDONLY | 00200000, &e), RLOPEN);
	CHECK_EQ(readdir_fid(4, &e), RREADDIR);
	rep[rlen] = 0;
	CHECK(memmem(rep, rlen, "moved.txt", 9) && memmem(rep, rlen, "sub", 3));
	CHECK_EQ(clunk(4), RCLUNK);
	begin(76);
	put(1, 4);
	str("sub");
	put(0x200, 4); /* AT_REMOVEDIR */
	CHECK_EQ(send_msg(&e), RUNLINKAT);
	snprintf(path, sizeof(path), "%s/sub", dir);
	CHECK(access(path, F_OK) != 0);

	/* Trename moves a fid's own file; the fid follows it (its next open is by path). */
	const char *moved[] = { "moved.txt" };
	CHECK_EQ(walk(1, 6, 1, moved, &e), RWALK);
	begin(20);
	put(6, 4);
	put(1, 4);
	str("renamed.txt");
	CHECK_EQ(send_msg(&e), RRENAME);
	snprintf(path, sizeof(path), "%s/renamed.txt", dir);
	CHECK(access(path, F_OK) == 0);
	CHECK_EQ(walk(6, 8, 0, NULL, &e), RWALK); /* a clone opens by path: the new one */
	CHECK_EQ(clunk(8), RCLUNK);
	begin(20); /* and back, through the same fid */
	put(6, 4);
	put(1, 4);
	str("moved.txt");
	CHECK_EQ(send_msg(&e), RRENAME);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(lopen(6, O_RDONLY, &e), RLOPEN);
	CHECK_EQ(clunk(6), RCLUNK);
	begin(20); /* the root itself stays where it is */
	put(1, 4);
	put(1, 4);
	str("elsewhere");
	CHECK_EQ(send_msg(&e), RLERROR);
	CHECK_EQ(e, EBUSY);
	CHECK_EQ(walk(1, 7, 0, NULL, &e), RWALK); /* Tremove: the file goes, and so does the fid */
	begin(14);
	put(7, 4);
	str("gone.txt");
	put(O_WRONLY, 4);
	put(0644, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RLCREATE);
	begin(122);
	put(7, 4);
	CHECK_EQ(send_msg(&e), RREMOVE);
	snprintf(path, sizeof(path), "%s/gone.txt", dir);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(lopen(7, O_RDONLY, &e), RLERROR);
	CHECK_EQ(e, EBADF);
}

static void hostile(const char *dir)
{
	uint32_t e;
	const char *up[] = { "..", "..", ".." };
	CHECK_EQ(walk(1, 10, 3, up, &e), RWALK); /* ".." stops at the share's root */
	CHECK_EQ(at(9 + 2 * 13 + 5, 8), root_ino);
	CHECK_EQ(clunk(10), RCLUNK);
	const char *slash[] = { "a/b" };
	CHECK_EQ(walk(1, 10, 1, slash, &e), RLERROR);

	begin(16); /* a symlink out of the share: made, never followed by the server */
	put(1, 4);
	str("out");
	str("/etc");
	put(0, 4);
	CHECK_EQ(send_msg(&e), RSYMLINK);
	const char *through[] = { "out", "passwd" };
	CHECK_EQ(walk(1, 10, 2, through, &e), RWALK); /* stops at the link: one qid, no fid */
	CHECK_EQ(at(7, 2), 1);
	CHECK_EQ(lopen(10, O_RDONLY, &e), RLERROR);
	CHECK_EQ(e, EBADF);
	const char *beyond[] = { "out/passwd" };
	CHECK_EQ(walk(1, 10, 1, beyond, &e), RLERROR);
	const char *link[] = { "out" };
	CHECK_EQ(walk(1, 11, 1, link, &e), RWALK);
	const char *passwd[] = { "passwd" }; /* from the link's own fid: its path runs through it */
	CHECK_EQ(walk(11, 14, 1, passwd, &e), RLERROR);
	CHECK_EQ(e, ELOOP);
	begin(22);
	put(11, 4);
	CHECK_EQ(send_msg(&e), RREADLINK);
	CHECK(at(7, 2) == 4 && !memcmp(rep + 9, "/etc", 4));
	CHECK_EQ(lopen(11, O_RDONLY, &e), RLERROR);
	CHECK_EQ(e, EACCES);
	CHECK_EQ(clunk(11), RCLUNK);

	char path[512];
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK(mkfifo(path, 0644) == 0);
	const char *fifo[] = { "fifo" };
	CHECK_EQ(walk(1, 12, 1, fifo, &e), RWALK);
	CHECK_EQ(lopen(12, O_RDONLY, &e), RLERROR); /* would block the I/O thread: refused */
	CHECK_EQ(e, EACCES);
	CHECK_EQ(clunk(12), RCLUNK);
	begin(18);
	put(1, 4);
	str("sda");
	put(S_IFBLK | 0600, 4);
	put(8, 4);
	put(0, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RLERROR);
	CHECK_EQ(e, EPERM);

	CHECK_EQ(walk(1, 13, 0, NULL, &e), RWALK);
	begin(14);
	put(13, 4);
	str("suid");
	put(O_WRONLY, 4);
	put(04755, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RLCREATE);
	struct stat st;
	snprintf(path, sizeof(path), "%s/suid", dir);
	CHECK(stat(path, &st) == 0 && !(st.st_mode & S_ISUID) && (st.st_mode & 0777) == 0755);
	CHECK_EQ(clunk(13), RCLUNK);
}

/* Whether anyone opened the file watched by inotify fd in since the last call. */
static bool opened_since(int in)
{
	char ev[4096] __attribute__((aligned(8)));
	bool opened = false;
	ssize_t n;
	while ((n = read(in, ev, sizeof(ev))) > 0)
		for (char *p = ev; p < ev + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
			opened |= (((struct inotify_event *)p)->mask & IN_OPEN) != 0;
	return opened;
}

static uint8_t lcreate(uint32_t fid, const char *name, uint32_t flags, uint32_t *err)
{
	begin(14);
	put(fid, 4);
	str(name);
	put(flags, 4);
	put(0644, 4);
	put(0, 4);
	return send_msg(err);
}

/* A writable share that holds device nodes and FIFOs (a container's root given to
 * pagoda exec --rw): the guest never opens one, never gives one away, and is never made
 * to wait on one. Before: Tlcreate opened an existing device node (a guest read the
 * host's /dev/kmsg that way), a fid walked to a file whose name was then given to a
 * device node opened the device, Tsetattr handed a device node to the guest's uid, and
 * Tlcreate of an existing FIFO blocked the server (and with it the whole VMM) forever. */
static void device_nodes(const char *dir)
{
	char path[512], other[512];
	snprintf(path, sizeof(path), "%s/null", dir);
	if (mknod(path, S_IFCHR | 0666, makedev(1, 3))) {
		printf("p9: device node cases need root (mknod: %s)\n", strerror(errno));
		skipped_cases++;
		return;
	}
	int in = inotify_init1(IN_NONBLOCK);
	CHECK(in >= 0 && inotify_add_watch(in, path, IN_OPEN) >= 0);
	alarm(10); /* a server that blocks fails here instead of hanging the suite */
	uint32_t e;
	CHECK_EQ(walk(1, 30, 0, NULL, &e), RWALK);
	CHECK_EQ(lcreate(30, "null", O_RDWR, &e), RLERROR);
	CHECK_EQ(e, EACCES);
	CHECK(!opened_since(in));
	CHECK_EQ(clunk(30), RCLUNK);

	snprintf(path, sizeof(path), "%s/victim", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && write(fd, "orig", 4) == 4);
	close(fd);
	const char *victim[] = { "victim" };
	CHECK_EQ(walk(1, 31, 1, victim, &e), RWALK);
	snprintf(other, sizeof(other), "%s/null", dir);
	CHECK(rename(other, path) == 0); /* the host (or another share) swaps the name */
	CHECK(inotify_add_watch(in, path, IN_OPEN) >= 0);
	CHECK_EQ(lopen(31, O_RDONLY, &e), RLOPEN); /* the file the fid walked to, not the node */
	CHECK(!opened_since(in));
	begin(116);
	put(31, 4);
	put(0, 8);
	put(100, 4);
	CHECK_EQ(send_msg(&e), RREAD);
	CHECK(at(7, 4) == 4 && !memcmp(rep + 11, "orig", 4));
	CHECK_EQ(clunk(31), RCLUNK);

	const char *node[] = { "victim" };
	CHECK_EQ(walk(1, 32, 1, node, &e), RWALK); /* now the device node itself */
	begin(26);
	put(32, 4);
	put(2 | 4, 4); /* uid and gid */
	put(0, 4);
	put(1000, 4);
	put(1000, 4);
	for (int i = 0; i < 5; i++)
		put(0, 8);
	CHECK_EQ(send_msg(&e), RLERROR);
	CHECK_EQ(e, EPERM);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_uid == getuid());
	CHECK_EQ(lopen(32, O_RDONLY, &e), RLERROR);
	CHECK_EQ(e, EACCES);
	CHECK(!opened_since(in));
	CHECK_EQ(clunk(32), RCLUNK);

	snprintf(path, sizeof(path), "%s/fifo2", dir);
	CHECK(mkfifo(path, 0666) == 0);
	CHECK_EQ(walk(1, 33, 0, NULL, &e), RWALK);
	CHECK_EQ(lcreate(33, "fifo2", O_RDONLY, &e), RLERROR);
	CHECK_EQ(e, EACCES);
	CHECK_EQ(lcreate(33, "sub2", O_RDONLY, &e), RLCREATE); /* a new name is still made */
	CHECK_EQ(clunk(33), RCLUNK);
	CHECK_EQ(walk(1, 34, 0, NULL, &e), RWALK);
	CHECK_EQ(lcreate(34, "sub2", O_WRONLY | O_TRUNC, &e), RLCREATE); /* and a file reopened */
	CHECK_EQ(clunk(34), RCLUNK);
	alarm(0);
	close(in);
}

/* Descriptors come from the process's budget (share_dir.h), not only the share's fids:
 * a guest holding files open cannot take what the control socket and the rest of the
 * VMM need. Before, each share could keep 2 x 8192 descriptors, and two shares reached
 * the process's limit. */
static void descriptor_budget(void)
{
	uint32_t e;
	long before = share_fd_left();
	share_fd_budget(6);
	unsigned int made = 0;
	for (uint32_t f = 40; f < 50; f++)
		made += walk(1, f, 0, NULL, &e) == RWALK;
	CHECK_EQ(made, 6); /* a walked fid keeps one descriptor */
	CHECK_EQ(e, ENFILE);
	CHECK_EQ(lopen(40, O_RDONLY | 00200000, &e), RLERROR); /* opening needs a second */
	CHECK_EQ(e, ENFILE);
	CHECK_EQ(clunk(41), RCLUNK);
	CHECK_EQ(lopen(40, O_RDONLY | 00200000, &e), RLOPEN);
	CHECK_EQ(share_fd_left(), 0);
	for (uint32_t f = 40; f < 50; f++)
		clunk(f);
	CHECK_EQ(share_fd_left(), 6); /* every descriptor given back */
	share_fd_budget(before);
}

static void malformed(void)
{
	uint32_t e;
	begin(110); /* a walk whose name runs past the message */
	put(1, 4);
	put(20, 4);
	put(1, 2);
	put(200, 2);
	CHECK_EQ(send_msg(&e), RLERROR);
	CHECK_EQ(e, EINVAL);
	begin(200);
	CHECK_EQ(send_msg(&e), RLERROR);
	CHECK_EQ(e, EOPNOTSUPP);
	begin(12);
	put(1, 2); /* half a fid */
	CHECK_EQ(send_msg(&e), RLERROR);
	const char *many[17];
	for (int i = 0; i < 17; i++)
		many[i] = "x";
	CHECK_EQ(walk(1, 21, 17, many, &e), RLERROR);
	CHECK_EQ(lopen(999, O_RDONLY, &e), RLERROR);
	CHECK_EQ(e, EBADF);
	msg[0] = 100; /* a size field larger than what arrived */
	rlen = p9_server_handle(srv, msg, 9, rep, sizeof(rep));
	CHECK(rlen == 11 && rep[4] == RLERROR);
	CHECK_EQ(p9_server_handle(srv, msg, 3, rep, sizeof(rep)), 0);
	/* Fids run out, then come back when clunked. */
	CHECK_EQ(p9_server_fids(srv), 1);
	unsigned int made = 0;
	for (uint32_t f = 100; f < 100 + P9_MAX_FIDS + 1; f++)
		made += walk(1, f, 0, NULL, &e) == RWALK;
	CHECK_EQ(made, P9_MAX_FIDS - 1);
	CHECK_EQ(e, ENFILE);
	for (uint32_t f = 100; f < 100 + P9_MAX_FIDS + 1; f++)
		clunk(f);
	CHECK_EQ(p9_server_fids(srv), 1);
	CHECK_EQ(walk(1, 5, 0, NULL, &e), RWALK);
}

/* Another file system mounted below the share (as /proc is below / when exec shares the
 * host's root): an empty, read-only directory; nothing of the mounted one shows and
 * nothing can be made in it. Before, the walk to it failed with EXDEV: exec's guest
 * could not mount its own /proc, /sys, /tmp on those directories. */
static void mount_point(const char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/mp", dir);
	mkdir(path, 0755);
	if (mount("tmpfs", path, "tmpfs", 0, "size=1M")) {
		printf("p9: mount point cases need root (mount: %s)\n", strerror(errno));
		skipped_cases++;
		return;
	}
	snprintf(path, sizeof(path), "%s/mp/host-only", dir);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	start(dir, false);
	uint32_t e;
	const char *mp[] = { "mp" }, *inside[] = { "mp", "host-only" };
	CHECK_EQ(walk(1, 2, 1, mp, &e), RWALK);
	CHECK_EQ(rep[9], 0x80); /* a directory */
	CHECK(at(9 + 5, 8) >> 40); /* not inode 1 of some file system, as /proc and /sys both are */
	begin(24);
	put(2, 4);
	put(0x7ff, 8);
	CHECK_EQ(send_msg(&e), RGETATTR);
	CHECK_EQ(at(7 + 8 + 13, 4), S_IFDIR | 0555);
	CHECK_EQ(walk(1, 3, 2, inside, &e), RWALK);
	CHECK_EQ(at(7, 2), 1); /* only the first name: the file is not there */
	CHECK_EQ(walk(2, 4, 0, NULL, &e), RWALK); /* a clone stays the mount point */
	CHECK_EQ(lopen(4, O_RDONLY | 00200000, &e), RLOPEN);
	CHECK_EQ(readdir_fid(4, &e), RREADDIR);
	CHECK_EQ(at(7, 4), 0);
	CHECK_EQ(lopen(2, O_RDWR, &e), RLERROR);
	CHECK_EQ(e, EROFS);
	begin(72);
	put(2, 4);
	str("planted");
	put(0755, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RLERROR);
	begin(14);
	put(2, 4);
	str("planted.txt");
	put(O_RDWR, 4);
	put(0644, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RLERROR);
	snprintf(path, sizeof(path), "%s/mp", dir);
	CHECK(umount(path) == 0);
	snprintf(path, sizeof(path), "%s/mp/planted", dir);
	CHECK(access(path, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/planted", dir);
	CHECK(access(path, F_OK) != 0);
}

static void read_only(const char *dir)
{
	start(dir, true);
	uint32_t e;
	CHECK_EQ(walk(1, 2, 0, NULL, &e), RWALK);
	begin(14);
	put(2, 4);
	str("new");
	put(O_RDWR, 4);
	put(0644, 4);
	put(0, 4);
	CHECK_EQ(send_msg(&e), RLERROR);
	CHECK_EQ(e, EROFS);
	const char *moved[] = { "moved.txt" };
	CHECK_EQ(walk(1, 3, 1, moved, &e), RWALK);
	CHECK_EQ(lopen(3, O_WRONLY, &e), RLERROR);
	CHECK_EQ(e, EROFS);
	CHECK_EQ(lopen(3, O_RDONLY, &e), RLOPEN);
}

int main(void)
{
	char dir[] = "/tmp/pagoda-p9-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	honest(dir);
	hostile(dir);
	device_nodes(dir);
	descriptor_budget();
	malformed();
	mount_point(dir);
	read_only(dir);
	p9_server_destroy(srv);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {
		/* a leftover temporary directory is not a failure of the server */
	}
	char err[256];
	CHECK(p9_server_create("/nonexistent", false, err, sizeof(err)) == NULL);
	CHECK_MSG(err, "give a directory to share");
	return check_result_or_skip("p9");
}
