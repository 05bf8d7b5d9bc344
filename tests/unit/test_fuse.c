/* The FUSE server (virtio-fs) on a temporary directory: what Linux's FUSE client does
 * (init, lookup, create, write, read, readdir, mkdir, rename, link, symlink, setattr,
 * unlink, forget) lands on the host as it should, and what a hostile guest tries is
 * refused: names with slashes or dots, walking through a symlink it planted, opening a
 * FIFO or a device node, making one, set-user-ID bits, node IDs and handles it never got,
 * lengths that lie, replies with no room, running out of handles, writing a read-only
 * share, requests before FUSE_INIT, and a file system mounted below the share. */
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../../virtio/fs/fuse_server.h"
#include "../../virtio/fs/share_dir.h"
#include "check.h"

static uint8_t msg[FUSE_SRV_MSG_MAX + 64], rep[FUSE_SRV_MSG_MAX];
static size_t mlen, rlen;
static uint64_t unique;
static struct fuse_server *srv;
static char share[64], path[256];

#define OUT_HDR sizeof(struct fuse_out_header)
#define BODY(type) ((const type *)(rep + OUT_HDR))

static void begin(uint32_t opcode, uint64_t nodeid)
{
	struct fuse_in_header h = { .opcode = opcode, .unique = ++unique, .nodeid = nodeid, .uid = 1000, .gid = 1000 };
	memcpy(msg, &h, sizeof(h));
	mlen = sizeof(h);
}

static void add(const void *p, size_t n)
{
	memcpy(msg + mlen, p, n);
	mlen += n;
}

static void add_str(const char *s)
{
	add(s, strlen(s) + 1);
}

/* Sends the request with room bytes for the reply: 0 or -errno from the reply's header,
 * 1 when there was no reply at all. */
static int send_room(size_t room)
{
	uint32_t len = (uint32_t)mlen;
	memcpy(msg, &len, 4);
	rlen = fuse_server_handle(srv, msg, mlen, rep, room);
	if (!rlen)
		return 1;
	struct fuse_out_header oh;
	memcpy(&oh, rep, sizeof(oh));
	CHECK_EQ(oh.len, rlen);
	CHECK_EQ(oh.unique, unique);
	CHECK(rlen <= room);
	return oh.error;
}

static int send_req(void)
{
	return send_room(sizeof(rep));
}

static const char *host(const char *rel)
{
	snprintf(path, sizeof(path), "%s/%s", share, rel);
	return path;
}

static void host_write(const char *rel, const char *text)
{
	FILE *f = fopen(host(rel), "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int init(uint32_t major, uint32_t minor)
{
	struct fuse_init_in in = { .major = major, .minor = minor, .max_readahead = 1 << 20,
				   .flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_POSIX_LOCKS };
	begin(FUSE_INIT, 0);
	add(&in, sizeof(in));
	return send_req();
}

static int lookup(uint64_t dir, const char *name, struct fuse_entry_out *e)
{
	begin(FUSE_LOOKUP, dir);
	add_str(name);
	int r = send_req();
	if (!r && e)
		*e = *BODY(struct fuse_entry_out);
	return r;
}

static uint64_t node(uint64_t dir, const char *name)
{
	struct fuse_entry_out e = { 0 };
	CHECK_EQ(lookup(dir, name, &e), 0);
	return e.nodeid;
}

static void forget(uint64_t id, uint64_t n)
{
	struct fuse_forget_in in = { .nlookup = n };
	begin(FUSE_FORGET, id);
	add(&in, sizeof(in));
	CHECK_EQ(send_req(), 1); /* never answered */
}

static int open_node(uint64_t id, uint32_t flags, bool dir, uint64_t *fh)
{
	struct fuse_open_in in = { .flags = flags };
	begin(dir ? FUSE_OPENDIR : FUSE_OPEN, id);
	add(&in, sizeof(in));
	int r = send_req();
	if (!r)
		*fh = BODY(struct fuse_open_out)->fh;
	return r;
}

static int release(uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh };
	begin(FUSE_RELEASE, 0);
	add(&in, sizeof(in));
	return send_req();
}

static int create(uint64_t dir, const char *name, uint32_t mode, struct fuse_entry_out *e, uint64_t *fh)
{
	struct fuse_create_in in = { .flags = O_RDWR, .mode = mode };
	begin(FUSE_CREATE, dir);
	add(&in, sizeof(in));
	add_str(name);
	int r = send_req();
	if (!r) {
		*e = *BODY(struct fuse_entry_out);
		*fh = ((const struct fuse_open_out *)(rep + OUT_HDR + sizeof(*e)))->fh;
	}
	return r;
}

static int write_at(uint64_t fh, uint64_t off, const char *data)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = (uint32_t)strlen(data) };
	begin(FUSE_WRITE, 0);
	add(&in, sizeof(in));
	add(data, strlen(data));
	int r = send_req();
	return r ? r : (int)BODY(struct fuse_write_out)->size;
}

static int read_at(uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };
	begin(FUSE_READ, 0);
	add(&in, sizeof(in));
	return send_req();
}

static int mkdir_in(uint64_t dir, const char *name, uint32_t mode)
{
	struct fuse_mkdir_in in = { .mode = mode };
	begin(FUSE_MKDIR, dir);
	add(&in, sizeof(in));
	add_str(name);
	return send_req();
}

static int mknod_in(uint64_t dir, const char *name, uint32_t mode, uint32_t rdev)
{
	struct fuse_mknod_in in = { .mode = mode, .rdev = rdev };
	begin(FUSE_MKNOD, dir);
	add(&in, sizeof(in));
	add_str(name);
	return send_req();
}

static int rename_in(uint64_t dir, const char *from, uint64_t newdir, const char *to, uint32_t flags)
{
	struct fuse_rename2_in in = { .newdir = newdir, .flags = flags };
	begin(FUSE_RENAME2, dir);
	add(&in, sizeof(in));
	add_str(from);
	add_str(to);
	return send_req();
}

static int remove_in(uint64_t dir, const char *name, bool is_dir)
{
	begin(is_dir ? FUSE_RMDIR : FUSE_UNLINK, dir);
	add_str(name);
	return send_req();
}

static int setattr(uint64_t id, uint32_t valid, uint32_t mode, uint64_t size)
{
	struct fuse_setattr_in in = { .valid = valid, .mode = mode, .size = size };
	begin(FUSE_SETATTR, id);
	add(&in, sizeof(in));
	return send_req();
}

static int getattr(uint64_t id, uint64_t fh, bool with_fh, struct fuse_attr *a)
{
	struct fuse_getattr_in in = { .getattr_flags = with_fh ? FUSE_GETATTR_FH : 0, .fh = fh };
	begin(FUSE_GETATTR, id);
	add(&in, sizeof(in));
	int r = send_req();
	if (!r && a)
		*a = BODY(struct fuse_attr_out)->attr;
	return r;
}

/* The names READDIR lists in the directory node, space-separated after a space. */
static void list_dir(uint64_t id, char *out, size_t len)
{
	uint64_t fh;
	out[0] = 0;
	CHECK_EQ(open_node(id, O_RDONLY, true, &fh), 0);
	for (uint64_t off = 0;;) {
		struct fuse_read_in in = { .fh = fh, .offset = off, .size = 4096 };
		begin(FUSE_READDIR, id);
		add(&in, sizeof(in));
		CHECK_EQ(send_req(), 0);
		if (rlen == OUT_HDR)
			break;
		for (size_t pos = OUT_HDR; pos < rlen;) {
			const struct fuse_dirent *d = (const struct fuse_dirent *)(rep + pos);
			size_t n = strlen(out);
			snprintf(out + n, len - n, " %.*s", (int)d->namelen, d->name);
			off = d->off;
			pos += FUSE_DIRENT_SIZE(d);
		}
	}
	CHECK_EQ(release(fh), 0);
}

static void honest(void)
{
	host_write("from-host.txt", "hello");
	CHECK_EQ(init(7, 38), 0);
	CHECK_EQ(BODY(struct fuse_init_out)->major, 7);
	CHECK_EQ(BODY(struct fuse_init_out)->minor, 31);
	CHECK_EQ(BODY(struct fuse_init_out)->max_write, FUSE_SRV_MAX_WRITE);
	CHECK_EQ(BODY(struct fuse_init_out)->flags & FUSE_POSIX_LOCKS, 0); /* not what it does */

	struct fuse_entry_out e;
	CHECK_EQ(lookup(FUSE_ROOT_ID, "from-host.txt", &e), 0);
	CHECK(e.nodeid > FUSE_ROOT_ID);
	CHECK_EQ(e.attr.size, 5);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(node(FUSE_ROOT_ID, "from-host.txt"), e.nodeid); /* one node per file */
	CHECK_EQ(fuse_server_nodes(srv), 1);
	uint64_t fh;
	CHECK_EQ(open_node(e.nodeid, O_RDONLY, false, &fh), 0);
	CHECK_EQ(read_at(fh, 0, 100), 0);
	CHECK_EQ(rlen, OUT_HDR + 5);
	CHECK(!memcmp(rep + OUT_HDR, "hello", 5));
	CHECK_EQ(read_at(fh, 3, 100), 0);
	CHECK_EQ(rlen, OUT_HDR + 2);
	CHECK_EQ(release(fh), 0);
	CHECK_EQ(fuse_server_handles(srv), 0);
	forget(e.nodeid, 2);
	CHECK_EQ(fuse_server_nodes(srv), 0);

	/* made by the guest, seen by the host */
	struct fuse_entry_out ne;
	CHECK_EQ(create(FUSE_ROOT_ID, "new.txt", 0640, &ne, &fh), 0);
	CHECK_EQ(write_at(fh, 0, "written"), 7);
	CHECK_EQ(release(fh), 0);
	struct stat st;
	CHECK(stat(host("new.txt"), &st) == 0 && st.st_size == 7 && (st.st_mode & 0777) == 0640);
	CHECK_EQ(mkdir_in(FUSE_ROOT_ID, "gdir", 0755), 0);
	uint64_t gdir = BODY(struct fuse_entry_out)->nodeid;
	CHECK(stat(host("gdir"), &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_EQ(rename_in(FUSE_ROOT_ID, "new.txt", gdir, "moved.txt", 0), 0);
	CHECK(stat(host("gdir/moved.txt"), &st) == 0 && st.st_size == 7);
	struct fuse_attr a;
	CHECK_EQ(getattr(ne.nodeid, 0, false, &a), 0); /* the node followed the rename */
	CHECK_EQ(a.size, 7);
	CHECK_EQ(setattr(ne.nodeid, FATTR_SIZE | FATTR_MODE, 06755, 3), 0);
	CHECK(stat(host("gdir/moved.txt"), &st) == 0 && st.st_size == 3);
	CHECK_EQ(st.st_mode & 07777, 0755); /* never set-user-ID or set-group-ID */
	CHECK_EQ(BODY(struct fuse_attr_out)->attr.size, 3);

	begin(FUSE_LINK, FUSE_ROOT_ID);
	struct fuse_link_in li = { .oldnodeid = ne.nodeid };
	add(&li, sizeof(li));
	add_str("hard");
	CHECK_EQ(send_req(), 0);
	CHECK_EQ(BODY(struct fuse_entry_out)->nodeid, ne.nodeid); /* same inode, same node */
	CHECK(stat(host("hard"), &st) == 0 && st.st_nlink == 2);

	begin(FUSE_SYMLINK, FUSE_ROOT_ID);
	add_str("sl");
	add_str("../../etc/passwd");
	CHECK_EQ(send_req(), 0);
	uint64_t sl = BODY(struct fuse_entry_out)->nodeid;
	char target[64] = { 0 };
	CHECK(readlink(host("sl"), target, sizeof(target) - 1) > 0 && !strcmp(target, "../../etc/passwd"));
	begin(FUSE_READLINK, sl);
	CHECK_EQ(send_req(), 0);
	CHECK_EQ(rlen, OUT_HDR + strlen("../../etc/passwd"));

	char names[512];
	list_dir(FUSE_ROOT_ID, names, sizeof(names));
	CHECK_MSG(names, " from-host.txt");
	CHECK_MSG(names, " gdir");
	CHECK_MSG(names, " hard");
	CHECK_MSG(names, " sl");
	CHECK(!strstr(names, "new.txt"));

	CHECK_EQ(remove_in(FUSE_ROOT_ID, "gdir", true), -ENOTEMPTY);
	CHECK_EQ(remove_in(FUSE_ROOT_ID, "hard", false), 0);
	CHECK(access(host("hard"), F_OK) != 0);
	begin(FUSE_STATFS, FUSE_ROOT_ID);
	CHECK_EQ(send_req(), 0);
	CHECK(BODY(struct fuse_statfs_out)->st.bsize > 0);

	/* a file the guest holds open after removing it: reached through its handle */
	CHECK_EQ(create(FUSE_ROOT_ID, "tmp", 0600, &e, &fh), 0);
	CHECK_EQ(write_at(fh, 0, "1234"), 4);
	CHECK_EQ(remove_in(FUSE_ROOT_ID, "tmp", false), 0);
	CHECK_EQ(getattr(e.nodeid, fh, true, &a), 0);
	CHECK_EQ(a.size, 4);
	CHECK_EQ(getattr(e.nodeid, 0, false, NULL), -ENOENT);
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE | FATTR_FH, .fh = fh, .size = 1 };
	begin(FUSE_SETATTR, e.nodeid);
	add(&sa, sizeof(sa));
	CHECK_EQ(send_req(), 0);
	CHECK_EQ(BODY(struct fuse_attr_out)->attr.size, 1);
	CHECK_EQ(release(fh), 0);

	/* the host replaced a file the guest knows: its node is stale, not the new file */
	uint64_t old = node(FUSE_ROOT_ID, "from-host.txt");
	host_write("replacement", "other");
	char from[256];
	snprintf(from, sizeof(from), "%s", host("replacement"));
	CHECK(rename(from, host("from-host.txt")) == 0);
	CHECK_EQ(getattr(old, 0, false, NULL), -ESTALE);
	CHECK_EQ(open_node(old, O_RDONLY, false, &fh), -ESTALE);
	CHECK(node(FUSE_ROOT_ID, "from-host.txt") != old);

	/* forgetting gives every node back */
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[3];
	} bf = { { .count = 3 }, { { old, 1 }, { ne.nodeid, 100 }, { sl, 1 } } };
	begin(FUSE_BATCH_FORGET, 0);
	add(&bf, sizeof(bf));
	CHECK_EQ(send_req(), 1);
	CHECK(fuse_server_nodes(srv) > 0);
	begin(FUSE_DESTROY, 0);
	CHECK_EQ(send_req(), 0);
	CHECK_EQ(fuse_server_nodes(srv), 0);
	CHECK_EQ(getattr(gdir, 0, false, NULL), -EIO); /* a destroyed session starts with INIT */
}

static void hostile(void)
{
	fuse_server_reset(srv);
	CHECK_EQ(lookup(FUSE_ROOT_ID, "from-host.txt", NULL), -EIO); /* before INIT */
	CHECK_EQ(init(7, 30), -EPROTO);                                 /* older than virtio-fs */
	CHECK_EQ(init(8, 0), 0);                                        /* newer: asks again */
	CHECK_EQ(BODY(struct fuse_init_out)->major, 7);
	CHECK_EQ(lookup(FUSE_ROOT_ID, "from-host.txt", NULL), -EIO);
	CHECK_EQ(init(7, 31), 0);
	CHECK_EQ(init(7, 31), -EPROTO); /* only once */

	const char *bad[] = { "..", ".", "a/b", "", "../outside" };
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(lookup(FUSE_ROOT_ID, bad[i], NULL), -EINVAL);
	begin(FUSE_LOOKUP, FUSE_ROOT_ID);
	add("from-host.txt", 13); /* no NUL */
	CHECK_EQ(send_req(), -EINVAL);
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK_EQ(lookup(FUSE_ROOT_ID, longname, NULL), -EINVAL);

	/* a symlink the guest planted is never followed by the server */
	begin(FUSE_SYMLINK, FUSE_ROOT_ID);
	add_str("up");
	add_str("..");
	CHECK_EQ(send_req(), 0);
	uint64_t up = BODY(struct fuse_entry_out)->nodeid, fh;
	CHECK_EQ(lookup(up, "etc", NULL), -ENOTDIR);
	CHECK_EQ(open_node(up, O_RDONLY, false, &fh), -EACCES);
	CHECK_EQ(open_node(up, O_RDONLY, true, &fh), -ENOTDIR);
	CHECK_EQ(mkdir_in(up, "planted", 0755), -ENOTDIR);

	/* node IDs and handles it never got */
	CHECK_EQ(lookup(0, "from-host.txt", NULL), -ENOENT);
	CHECK_EQ(lookup(999999, "from-host.txt", NULL), -ENOENT);
	CHECK_EQ(lookup(UINT64_MAX, "from-host.txt", NULL), -ENOENT);
	CHECK_EQ(getattr(123456, 0, false, NULL), -ENOENT);
	CHECK_EQ(read_at(5, 0, 10), -EBADF);
	CHECK_EQ(read_at(UINT64_MAX, 0, 10), -EBADF);
	CHECK_EQ(release(1ull << 40), -EBADF);
	forget(FUSE_ROOT_ID, UINT64_MAX); /* the root stays */
	CHECK_EQ(node(FUSE_ROOT_ID, "from-host.txt") > FUSE_ROOT_ID, 1);
	uint64_t f = node(FUSE_ROOT_ID, "from-host.txt");
	forget(f, UINT64_MAX); /* more than it holds: gone, nothing wraps */
	CHECK_EQ(getattr(f, 0, false, NULL), -ENOENT);

	/* FIFOs and devices */
	CHECK_EQ(mknod_in(FUSE_ROOT_ID, "dev", S_IFCHR | 0666, makedev(1, 3)), -EPERM);
	CHECK_EQ(mknod_in(FUSE_ROOT_ID, "blk", S_IFBLK | 0666, makedev(8, 0)), -EPERM);
	CHECK(access(host("dev"), F_OK) != 0);
	CHECK_EQ(mknod_in(FUSE_ROOT_ID, "fifo", S_IFIFO | 04666, 0), 0);
	uint64_t fifo = BODY(struct fuse_entry_out)->nodeid;
	struct stat st;
	CHECK(stat(host("fifo"), &st) == 0 && S_ISFIFO(st.st_mode) && !(st.st_mode & 04000));
	CHECK_EQ(open_node(fifo, O_RDONLY, false, &fh), -EACCES); /* and the server did not block */
	struct fuse_entry_out e;
	CHECK_EQ(create(FUSE_ROOT_ID, "fifo", 0644, &e, &fh), -EACCES);
	CHECK_EQ(fuse_server_handles(srv), 0);
	CHECK_EQ(rename_in(FUSE_ROOT_ID, "fifo", FUSE_ROOT_ID, "swapped", 2 /* RENAME_EXCHANGE */), -EINVAL);
	CHECK_EQ(rename_in(FUSE_ROOT_ID, "fifo", FUSE_ROOT_ID, "wh", 4 /* RENAME_WHITEOUT */), -EINVAL);
	CHECK_EQ(rename_in(FUSE_ROOT_ID, "fifo", FUSE_ROOT_ID, "..", 0), -EINVAL);

	/* lengths that lie */
	uint64_t file = node(FUSE_ROOT_ID, "from-host.txt");
	CHECK_EQ(open_node(file, O_RDWR, false, &fh), 0);
	CHECK_EQ(read_at(fh, 0, UINT32_MAX), 0); /* cut to the room there is */
	CHECK_EQ(read_at(fh, 1ull << 63, 10), -EINVAL);
	struct fuse_write_in wi = { .fh = fh, .size = 100 };
	begin(FUSE_WRITE, 0);
	add(&wi, sizeof(wi));
	add("short", 5);
	CHECK_EQ(send_req(), -EINVAL);
	begin(FUSE_READ, 0);
	add(&wi, 8); /* half a fuse_read_in */
	CHECK_EQ(send_req(), -EINVAL);
	begin(FUSE_GETATTR, file);
	struct fuse_getattr_in gi = { 0 };
	add(&gi, sizeof(gi));
	uint32_t lie = (uint32_t)mlen + 100;
	rlen = fuse_server_handle(srv, (memcpy(msg, &lie, 4), msg), mlen, rep, sizeof(rep));
	CHECK_EQ(((struct fuse_out_header *)rep)->error, -EINVAL);
	lie = 8; /* shorter than its own header */
	rlen = fuse_server_handle(srv, (memcpy(msg, &lie, 4), msg), mlen, rep, sizeof(rep));
	CHECK_EQ(((struct fuse_out_header *)rep)->error, -EINVAL);
	CHECK_EQ(fuse_server_handle(srv, msg, 20, rep, sizeof(rep)), 0);     /* no whole header */
	CHECK_EQ(fuse_server_handle(srv, msg, mlen, rep, OUT_HDR - 1), 0); /* no room to answer */

	/* no room for the reply: refused before anything changes */
	unsigned int nodes = fuse_server_nodes(srv);
	begin(FUSE_LOOKUP, FUSE_ROOT_ID);
	add_str("from-host.txt");
	CHECK_EQ(send_room(OUT_HDR + 8), -ERANGE);
	CHECK_EQ(fuse_server_nodes(srv), nodes);
	struct fuse_mkdir_in mi = { .mode = 0755 };
	begin(FUSE_MKDIR, FUSE_ROOT_ID);
	add(&mi, sizeof(mi));
	add_str("not-made");
	CHECK_EQ(send_room(OUT_HDR + 8), -ERANGE);
	CHECK(access(host("not-made"), F_OK) != 0);
	begin(1000, FUSE_ROOT_ID);
	CHECK_EQ(send_req(), -ENOSYS);
	begin(FUSE_GETXATTR, FUSE_ROOT_ID);
	CHECK_EQ(send_req(), -ENOSYS);

	/* every handle in use (as pagoda does with a share, the test takes all the fds it may) */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	uint64_t first = fh;
	unsigned int opened = 1;
	int r = 0;
	while (opened < FUSE_SRV_MAX_HANDLES + 1 && !(r = open_node(file, O_RDONLY, false, &fh)))
		opened++;
	CHECK_EQ(r, -ENFILE);
	CHECK_EQ(opened, FUSE_SRV_MAX_HANDLES);
	CHECK_EQ(release(first), 0);
	CHECK_EQ(open_node(file, O_RDONLY, false, &fh), 0);
	fuse_server_reset(srv); /* closes them all */
	CHECK_EQ(fuse_server_handles(srv), 0);
	CHECK_EQ(fuse_server_nodes(srv), 0);
}

/* Device nodes in a writable share (a container's root under pagoda exec --rw): never
 * opened and never given away. Before: FUSE_CREATE on an existing device node opened it
 * O_RDWR before refusing it, and FUSE_SETATTR handed it to the guest's uid. */
static void device_nodes(void)
{
	if (mknod(host("null"), S_IFCHR | 0666, makedev(1, 3))) {
		printf("fuse: device node cases need root (mknod: %s)\n", strerror(errno));
		skipped_cases++;
		return;
	}
	int in = inotify_init1(IN_NONBLOCK);
	CHECK(in >= 0 && inotify_add_watch(in, host("null"), IN_OPEN) >= 0);
	fuse_server_reset(srv);
	CHECK_EQ(init(7, 38), 0);
	struct fuse_entry_out e;
	uint64_t fh;
	CHECK_EQ(create(FUSE_ROOT_ID, "null", 0644, &e, &fh), -EACCES);
	uint64_t dev = node(FUSE_ROOT_ID, "null");
	struct fuse_setattr_in sa = { .valid = FATTR_UID | FATTR_GID, .uid = 1000, .gid = 1000 };
	begin(FUSE_SETATTR, dev);
	add(&sa, sizeof(sa));
	CHECK_EQ(send_req(), -EPERM);
	CHECK_EQ(open_node(dev, O_RDONLY, false, &fh), -EACCES);
	char ev[1024] __attribute__((aligned(8)));
	CHECK(read(in, ev, sizeof(ev)) < 0 && errno == EAGAIN); /* never opened */
	close(in);
	struct stat st;
	CHECK(stat(host("null"), &st) == 0 && st.st_uid == getuid());
	CHECK(mkfifo(host("fifo-there"), 0666) == 0);
	alarm(10); /* a server that waits on the FIFO fails here instead of hanging */
	CHECK_EQ(create(FUSE_ROOT_ID, "fifo-there", 0644, &e, &fh), -EACCES);
	alarm(0);
	unlink(host("null"));
	unlink(host("fifo-there"));
}

/* Handles come from the process's descriptor budget (share_dir.h). */
static void descriptor_budget(void)
{
	long before = share_fd_left();
	fuse_server_reset(srv);
	CHECK_EQ(init(7, 38), 0);
	host_write("budget.txt", "x");
	uint64_t file = node(FUSE_ROOT_ID, "budget.txt"), fh[4];
	share_fd_budget(3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(open_node(file, O_RDONLY, false, &fh[i]), 0);
	CHECK_EQ(open_node(file, O_RDONLY, false, &fh[3]), -ENFILE);
	CHECK_EQ(release(fh[0]), 0);
	CHECK_EQ(open_node(file, O_RDONLY, false, &fh[0]), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(release(fh[i]), 0);
	CHECK_EQ(share_fd_left(), 3);
	share_fd_budget(before);
	unlink(host("budget.txt"));
}

/* Another file system mounted below the share (as /proc is below / when exec shares
 * the host's root): an empty, read-only directory, nothing of the mounted one shows. */
static void mount_point(void)
{
	mkdir(host("mp"), 0755);
	if (mount("tmpfs", host("mp"), "tmpfs", 0, "size=1M")) {
		printf("fuse: mount point cases need root (mount: %s)\n", strerror(errno));
		skipped_cases++;
		return;
	}
	host_write("mp/host-only", "x");
	fuse_server_reset(srv);
	CHECK_EQ(init(7, 38), 0);
	struct fuse_entry_out e;
	CHECK_EQ(lookup(FUSE_ROOT_ID, "mp", &e), 0);
	CHECK_EQ(e.attr.mode, S_IFDIR | 0555);
	CHECK(e.nodeid > FUSE_ROOT_ID);
	CHECK_EQ(lookup(e.nodeid, "host-only", NULL), -ENOENT);
	CHECK_EQ(mkdir_in(e.nodeid, "planted", 0755), -ENOENT);
	CHECK_EQ(setattr(e.nodeid, FATTR_MODE, 0777, 0), -EROFS);
	char names[128];
	list_dir(e.nodeid, names, sizeof(names));
	CHECK_EQ(strlen(names), 0);
	uint64_t fh;
	CHECK_EQ(open_node(e.nodeid, O_RDONLY, true, &fh), 0);
	CHECK_EQ(read_at(fh, 0, 100), -EBADF); /* its handle reads nothing */
	struct fuse_setattr_in sa = { .valid = FATTR_FH | FATTR_UID, .fh = fh, .uid = 4242 };
	begin(FUSE_SETATTR, e.nodeid);
	add(&sa, sizeof(sa));
	CHECK_EQ(send_req(), -EROFS);
	CHECK_EQ(release(fh), 0);
	struct stat st;
	CHECK(stat(share, &st) == 0 && st.st_uid != 4242);
	CHECK(access(host("mp/planted"), F_OK) != 0);
	CHECK(umount(host("mp")) == 0);
}

static void read_only(void)
{
	fuse_server_destroy(srv);
	char err[256];
	srv = fuse_server_create(share, true, err, sizeof(err));
	CHECK(srv != NULL);
	if (!srv)
		return;
	CHECK_EQ(init(7, 38), 0);
	uint64_t file = node(FUSE_ROOT_ID, "from-host.txt"), fh;
	struct fuse_entry_out e;
	CHECK_EQ(create(FUSE_ROOT_ID, "nope", 0644, &e, &fh), -EROFS);
	CHECK_EQ(open_node(file, O_WRONLY, false, &fh), -EROFS);
	CHECK_EQ(open_node(file, O_RDONLY | O_TRUNC, false, &fh), -EROFS);
	CHECK_EQ(setattr(file, FATTR_SIZE, 0, 0), -EROFS);
	CHECK_EQ(mkdir_in(FUSE_ROOT_ID, "nope", 0755), -EROFS);
	CHECK_EQ(remove_in(FUSE_ROOT_ID, "from-host.txt", false), -EROFS);
	CHECK_EQ(rename_in(FUSE_ROOT_ID, "from-host.txt", FUSE_ROOT_ID, "x", 0), -EROFS);
	CHECK_EQ(open_node(file, O_RDONLY, false, &fh), 0);
	CHECK_EQ(read_at(fh, 0, 100), 0);
	CHECK_EQ(rlen, OUT_HDR + 5);
	CHECK(access(host("nope"), F_OK) != 0);
}

int main(void)
{
	snprintf(share, sizeof(share), "/tmp/pagoda-fuse-XXXXXX");
	if (!mkdtemp(share))
		return 1;
	char err[256];
	srv = fuse_server_create(share, false, err, sizeof(err));
	CHECK(srv != NULL);
	if (srv) {
		honest();
		hostile();
		device_nodes();
		descriptor_budget();
		mount_point();
		read_only();
		fuse_server_destroy(srv);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", share);
	if (system(cmd)) {
		/* a leftover temporary directory is not a failure of the server */
	}
	CHECK(fuse_server_create("/nonexistent", false, err, sizeof(err)) == NULL);
	CHECK_MSG(err, "give a directory to share");
	return check_result_or_skip("fuse");
}
