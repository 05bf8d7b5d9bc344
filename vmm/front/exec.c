/* `pagoda exec`: boots a kernel whose root is a host directory (shared over virtio-fs
 * and virtio-9p, read-only under a tmpfs overlay unless --rw), runs one command there
 * with pagoda's own init (guest/exec_init.c, carried inside pagoda) and exits with the
 * command's status: the virtme-ng workflow for kernel CI. The initramfs is built for
 * each run, in memory: the init, the job (mode, working directory, the command's
 * arguments) and, for a modular kernel, the modules it needs (exec_modules.c). */
#include "exec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../util/cpio.h"
#include "../../util/io.h"
#include "../core/vm.h"
#include "cli.h"
#include "exec_modules.h"
#include "run.h"

extern const uint8_t exec_init_image[];
extern const size_t exec_init_image_size;

static const char exec_usage[] =
	"usage: pagoda exec -k KERNEL [--root DIR] [--rw] [--root-fs virtiofs|9p] [--modules MODDIR]\n"
	"                   [--junit FILE] [run options] -- COMMAND [ARGS...]\n"
	"\n"
	"Boots KERNEL with host directory DIR (default /) as the guest's root, shared over\n"
	"virtio-fs and virtio-9p (tag pagoda-root; the guest mounts virtio-fs when its kernel\n"
	"has it, else 9p): read-only under a tmpfs overlay, so the guest may write anywhere\n"
	"and the host sees none of it; --rw shares it writable instead; --root-fs offers it\n"
	"one way only. Runs COMMAND\n"
	"in the current directory (when DIR holds it, else /) with the console as its\n"
	"terminal, and exits with its status (128+N for signal N; 125: the guest's init could\n"
	"not set up, 126: COMMAND cannot run, 127: not found; pagoda's own failures say so on\n"
	"stderr). Only the file system DIR is on is shared: /proc, /sys, /dev, /tmp are the\n"
	"guest's own. The guest reads DIR with pagoda's privileges: run as root with the\n"
	"default / it reads the host's /etc/shadow and every other file; give --root a\n"
	"directory of less worth (a container's root) or run pagoda as another user.\n"
	"The kernel needs CONFIG_VIRTIO_FS or CONFIG_9P_FS with CONFIG_NET_9P_VIRTIO,\n"
	"CONFIG_OVERLAY_FS (unless --rw), CONFIG_VIRTIO_PCI (x86; CONFIG_VIRTIO_MMIO with\n"
	"--virtio-transport mmio and on arm64), built in or as modules in MODDIR, and\n"
	"CONFIG_DEVTMPFS and (x86) CONFIG_X86_IOPL_IOPERM or CONFIG_DEVPORT built in.\n"
	"--modules MODDIR: a modular kernel's module tree (/lib/modules/VERSION); the\n"
	"modules exec needs go into its initramfs and are loaded before the root is\n"
	"mounted. Default: /lib/modules/VERSION for a KERNEL named vmlinuz-VERSION, when\n"
	"it exists; --modules none takes none.\n"
	"--junit FILE: also write a JUnit XML report of the run to FILE: a test case for\n"
	"COMMAND (failed unless its status is 0, the console as its output) and one per\n"
	"KTAP/TAP result the console carries (kselftests, KUnit): ok, not ok, # SKIP/TODO.\n"
	"Every pagoda run option applies (-m, -c, --timeout, --fs for more shares; --stats\n"
	"also prints when the command started).\n";

struct exec_opts {
	const char *root;
	const char *modules; /* NULL: guessed from the kernel's name; "none" */
	const char *root_fs; /* NULL: both ways; "virtiofs", "9p" */
	const char *junit;   /* --junit FILE */
	bool rw;
	int cmd_at;        /* argv index of COMMAND */
};

/* Takes out what only exec knows (--root, --rw, --root-fs, --modules, --junit) and finds "--"; what stays is for the
 * run parser. -1 with a message in err. */
static int split_args(int *argc, char **argv, struct exec_opts *o, char *err, size_t errlen)
{
	int out = 1, i = 1;
	*o = (struct exec_opts){ .root = "/" };
	for (; i < *argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--rw")) {
			o->rw = true;
		} else if (!strcmp(argv[i], "--root") && i + 1 < *argc) {
			o->root = argv[++i];
		} else if (!strncmp(argv[i], "--root=", 7)) {
			o->root = argv[i] + 7;
		} else if (!strncmp(argv[i], "--root-fs", 9) && (argv[i][9] == '=' || (!argv[i][9] && i + 1 < *argc))) {
			o->root_fs = argv[i][9] ? argv[i] + 10 : argv[++i];
			if (strcmp(o->root_fs, "virtiofs") && strcmp(o->root_fs, "9p")) {
				snprintf(err, errlen, "--root-fs %s: give virtiofs or 9p", o->root_fs);
				return -1;
			}
		} else if (!strcmp(argv[i], "--junit") && i + 1 < *argc) {
			o->junit = argv[++i];
		} else if (!strncmp(argv[i], "--junit=", 8)) {
			o->junit = argv[i] + 8;
		} else if (!strcmp(argv[i], "--modules") && i + 1 < *argc) {
			o->modules = argv[++i];
		} else if (!strncmp(argv[i], "--modules=", 10)) {
			o->modules = argv[i] + 10;
		} else {
			argv[out++] = argv[i];
		}
	}
	if (i + 1 >= *argc) {
		snprintf(err, errlen, "give the command after --: pagoda exec -k KERNEL [options] -- COMMAND [ARGS]");
		return -1;
	}
	o->cmd_at = i + 1;
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* The working directory the command starts in: ours, seen from inside the root. */
static const char *guest_cwd(const char *root, char *buf, size_t len)
{
	char cwd[PATH_MAX], real_root[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)) || !realpath(root, real_root))
		return "/";
	size_t n = strlen(real_root);
	if (!strcmp(real_root, "/"))
		return snprintf(buf, len, "%s", cwd) < (int)len ? buf : "/";
	if (strncmp(cwd, real_root, n) || (cwd[n] && cwd[n] != '/'))
		return "/";
	return snprintf(buf, len, "%s", cwd[n] ? cwd + n : "/") < (int)len ? buf : "/";
}

/* The job file: "1", mode, working directory, then the arguments, NUL after each. */
static int build_job(const struct exec_opts *o, int argc, char **argv, struct cpio *c)
{
	char cwd[PATH_MAX];
	size_t cap = 64 << 10, len = 0;
	char *job = malloc(cap);
	if (!job)
		return -ENOMEM;
	const char *head[3] = { "1", o->rw ? "rw" : "overlay", guest_cwd(o->root, cwd, sizeof(cwd)) };
	for (int i = 0; i < 3 + argc - o->cmd_at; i++) {
		const char *s = i < 3 ? head[i] : argv[o->cmd_at + i - 3];
		size_t n = strlen(s) + 1;
		if (len + n > cap) {
			free(job);
			return -E2BIG;
		}
		memcpy(job + len, s, n);
		len += n;
	}
	cpio_add_file(c, "pagoda-exec", 0644, job, len);
	free(job);
	return 0;
}

/* The modules of --modules (or of the tree the kernel's name gives) into the archive. */
static int add_modules(const struct exec_opts *o, const char *kernel, struct cpio *c, char *err, size_t errlen)
{
	char guess[4096];
	const char *dir = o->modules ? o->modules : exec_guess_modules(kernel, guess, sizeof(guess));
	if (!dir || !strcmp(dir, "none"))
		return 0;
	int n = exec_add_modules(c, dir, err, errlen);
	return n < 0 ? n : 0;
}

/* The initramfs, in a memfd the run reads as its initrd (/proc/self/fd/N). */
static int build_initramfs(const struct exec_opts *o, const char *kernel, int argc, char **argv, char *path,
			   size_t len, char *err, size_t errlen)
{
	struct cpio c = { 0 };
	for (const char *const *d = (const char *const[]){ "dev", "proc", "sys", "tmp", NULL }; *d; d++)
		cpio_add_dir(&c, *d, 0755);
	cpio_add_chardev(&c, "dev/console", 0600, 5, 1); /* init's stdio: the kernel opens it */
	cpio_add_file(&c, "init", 0755, exec_init_image, exec_init_image_size);
	int e = build_job(o, argc, argv, &c);
	if (e)
		snprintf(err, errlen, "building the initramfs: %s", strerror(-e));
	else if ((e = add_modules(o, kernel, &c, err, errlen)) == 0 && (e = cpio_finish(&c)) != 0)
		snprintf(err, errlen, "building the initramfs: %s", strerror(-e));
	int fd = e ? -1 : memfd_create("pagoda-exec-initramfs", 0);
	if (!e && (e = fd < 0 ? -errno : write_all_at(fd, c.buf.data, c.buf.len, 0)) != 0)
		snprintf(err, errlen, "writing the initramfs: %s", strerror(-e));
	cpio_free(&c);
	if (e) {
		if (fd >= 0)
			close(fd);
		return e;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return 0; /* the fd stays open for the run */
}

/* --junit FILE: opened (and so checked) before the VM starts; its test case is named
 * after the command. */
static int open_junit(const struct exec_opts *o, char **cmd, int n, struct run_config *cfg)
{
	static char name[1024];
	size_t len = 0;
	for (int i = 0; i < n && len < sizeof(name); i++)
		len += (size_t)snprintf(name + len, sizeof(name) - len, "%s%s", i ? " " : "", cmd[i]);
	cfg->junit_name = name;
	cfg->junit = fopen(o->junit, "we");
	if (!cfg->junit) {
		fprintf(stderr, "pagoda exec: --junit %s: %s: give a file to write the JUnit XML report to\n", o->junit,
			strerror(errno));
		return -1;
	}
	return 0;
}

int exec_main(int argc, char **argv)
{
	char err[512];
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(exec_usage, stdout);
		return 0;
	}
	int full_argc = argc;
	struct exec_opts o;
	static struct run_config cfg;
	if (split_args(&argc, argv, &o, err, sizeof(err)) ||
	    cli_parse_run(argc, argv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "pagoda exec: %s\n", err);
		return EXIT_SETUP;
	}
	if (!cfg.m.kernel || cfg.m.initrd || cfg.incoming) {
		fprintf(stderr, "pagoda exec: %s\n", !cfg.m.kernel ? "give the kernel to boot: -k bzImage"
					     : "exec builds its own initramfs and boots: drop -i and --incoming");
		return EXIT_SETUP;
	}
	if (cfg.m.nr_fs + 2 > MACHINE_MAX_VIRTIO) {
		fprintf(stderr, "pagoda exec: too many --fs: the root takes two virtio devices too\n");
		return EXIT_SETUP;
	}
	static char initrd[64], params[4096];
	if (build_initramfs(&o, cfg.m.kernel, full_argc, argv, initrd, sizeof(initrd), err, sizeof(err))) {
		fprintf(stderr, "pagoda exec: %s\n", err);
		return EXIT_SETUP;
	}
	cfg.m.initrd = initrd;
	/* the root both ways: a kernel may have either file system (Debian's has no 9p) */
	for (enum fs_proto p = FS_9P; p <= FS_VIRTIOFS; p++)
		if (!o.root_fs || !strcmp(o.root_fs, p == FS_9P ? "9p" : "virtiofs"))
			cfg.m.fs[cfg.m.nr_fs++] = (struct fs_options){ .path = o.root, .tag = "pagoda-root",
								       .read_only = !o.rw, .proto = p };
	/* quiet: the console is the command's; the user's -p still comes last and wins. */
	snprintf(params, sizeof(params), "quiet%s%s%s", cfg.stats ? " pagoda_exec_timing=1" : "",
		 cfg.m.params ? " " : "", cfg.m.params ? cfg.m.params : "");
	cfg.m.params = params;
	if (o.junit && open_junit(&o, argv + o.cmd_at, full_argc - o.cmd_at, &cfg))
		return EXIT_SETUP;
	return run_with_config(&cfg, "pagoda exec");
}
