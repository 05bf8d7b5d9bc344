/* pagoda exec's init: the only program of the initramfs pagoda builds for each exec. It
 * loads the kernel modules pagoda put beside it (a modular kernel's virtio, virtio-fs,
 * overlayfs), mounts the host directory pagoda shares (tag "pagoda-root", over virtio-fs
 * or, when the kernel has no virtio-fs, virtio-9p) as the root,
 * read-only under a tmpfs overlay by default (the guest's writes vanish with it), runs the
 * command /pagoda-exec names in the directory it names, and hands the command's status
 * back through the debug-exit device (x86: port 0x502), which becomes pagoda's exit
 * status: 0-255 as a shell reports it (128 + N for a signal), 125 when this init could
 * not set up, 126 when the command cannot run, 127 when it is not found.
 *
 * Static, no library but libc: it runs before there is any root file system. */
#include <dirent.h>
#include <errno.h>
#include <linux/module.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <sys/io.h>
#endif

#define STATUS_SETUP 125
#define MAX_ARGS 256
#define TAG "pagoda-root"

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pagoda-init: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The status leaves through the debug-exit register; if that fails, a power-off still
 * ends the VM (pagoda then exits 0 and the message above says why). */
static void finish(int status)
{
	fflush(stdout);
	fflush(stderr);
	sync();
#if defined(__x86_64__)
	/* ioperm needs CONFIG_X86_IOPL_IOPERM, /dev/port CONFIG_DEVPORT: either will do. */
	if (ioperm(0x502, 1, 1) == 0) {
		outb((unsigned char)status, 0x502);
		pause(); /* the VM is ending */
	}
	unsigned char b = (unsigned char)status;
	int fd = open("/dev/port", O_WRONLY);
	if (fd >= 0 && pwrite(fd, &b, 1, 0x502) == 1)
		pause(); /* the VM is ending */
#endif
	say("could not report status %d through the debug-exit port: powering off", status);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static void must(int ok, const char *what)
{
	if (!ok) {
		say("%s: %s", what, strerror(errno));
		finish(STATUS_SETUP);
	}
}

struct job {
	char mode[16];  /* overlay, ro or rw */
	char *cwd;
	char *argv[MAX_ARGS + 1];
};

/* /pagoda-exec: NUL-separated strings: "1", mode, cwd, then the command's arguments. */
static void read_job(struct job *j)
{
	static char buf[64 << 10];
	int fd = open("/pagoda-exec", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	must(n > 0, "/pagoda-exec");
	buf[n] = 0;
	char *p = buf, *end = buf + n;
	char *fields[3];
	for (int i = 0; i < 3; i++, p += strlen(p) + 1)
		fields[i] = p < end ? p : "";
	if (strcmp(fields[0], "1")) {
		say("/pagoda-exec is of another pagoda version");
		finish(STATUS_SETUP);
	}
	snprintf(j->mode, sizeof(j->mode), "%s", fields[1]);
	j->cwd = fields[2];
	int argc = 0;
	for (; p < end && argc < MAX_ARGS; p += strlen(p) + 1)
		j->argv[argc++] = p;
	j->argv[argc] = NULL;
	if (!argc) {
		say("no command given");
		finish(STATUS_SETUP);
	}
}

/* The modules in /lib/pagoda-modules, in the order of their names (pagoda numbered them
 * so that each comes after what it needs). One that does not load is said and skipped:
 * the mount that needed it then says what is missing. */
static void load_modules(void)
{
	struct dirent **list;
	int n = scandir("/lib/pagoda-modules", &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		char path[320];
		snprintf(path, sizeof(path), "/lib/pagoda-modules/%s", name);
		size_t len = strlen(name);
		bool packed = len > 3 && (!strcmp(name + len - 3, ".xz") || !strcmp(name + len - 3, ".gz") ||
					  (len > 4 && !strcmp(name + len - 4, ".zst")));
		int fd = name[0] == '.' ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && syscall(SYS_finit_module, fd, "", packed ? MODULE_INIT_COMPRESSED_FILE : 0) &&
		    errno != EEXIST)
			say("loading module %s: %s", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

/* Mounts the share at dir: virtio-fs when the kernel has it, else 9P. Its name. */
static const char *mount_share(const char *dir, bool ro)
{
	unsigned long flags = ro ? MS_RDONLY : 0;
	if (mount(TAG, dir, "virtiofs", flags, NULL) == 0)
		return "virtio-fs";
	must(mount(TAG, dir, "9p", flags, "trans=virtio,version=9p2000.L,msize=262144,cache=loose") == 0,
	     "mounting the shared root (tag " TAG ": does the kernel have virtio-fs or 9p?)");
	return "9p";
}

static const char *mount_root(const char *mode)
{
	bool ro = strcmp(mode, "rw") != 0;
	mkdir("/lower", 0755);
	mkdir("/newroot", 0755);
	const char *how = mount_share(strcmp(mode, "overlay") ? "/newroot" : "/lower", ro);
	if (strcmp(mode, "overlay"))
		return how;
	mkdir("/rw", 0755);
	must(mount("tmpfs", "/rw", "tmpfs", 0, "mode=0755") == 0, "tmpfs for the overlay");
	mkdir("/rw/upper", 0755);
	mkdir("/rw/work", 0755);
	must(mount("overlay", "/newroot", "overlay", 0, "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work") == 0,
	     "overlay over the shared root (does the kernel have CONFIG_OVERLAY_FS?)");
	return how;
}

/* The guest's own /proc, /sys, /dev and /tmp inside the new root (the host's are other
 * file systems, which the share does not show). */
static void mount_system(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) == 0) {
		mkdir("/dev/pts", 0755);
		mount("devpts", "/dev/pts", "devpts", 0, NULL);
	}
	mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777");
	mount("tmpfs", "/run", "tmpfs", 0, "mode=0755");
}

static int run(struct job *j)
{
	pid_t pid = fork();
	must(pid >= 0, "fork");
	if (pid == 0) {
		setsid();
		execvp(j->argv[0], j->argv);
		int e = errno;
		say("%s: %s", j->argv[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		must(errno == EINTR, "waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
	struct job j;
	mount("proc", "/proc", "proc", 0, NULL);
	read_job(&j);
	load_modules();
	const char *how = mount_root(j.mode);
	must(chdir("/newroot") == 0 && chroot(".") == 0, "entering the shared root");
	mount_system();
	if (chdir(j.cwd))
		must(chdir("/") == 0, "chdir /");
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("HOME", "/root", 0);
	setenv("TERM", "dumb", 0);
	struct timespec up;
	clock_gettime(CLOCK_BOOTTIME, &up);
	if (getenv("pagoda_exec_timing"))
		say("command starts %ld ms after boot (root over %s)", up.tv_sec * 1000 + up.tv_nsec / 1000000, how);
	finish(run(&j));
}
