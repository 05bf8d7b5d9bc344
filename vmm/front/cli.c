#include "cli.h"
#include "cli_devices.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../util/err.h"
#include "../../util/sizes.h"
#include "../persist/mig_order.h"
#include "../persist/mig_proto.h"

const char cli_run_usage[] =
	"usage: pagoda run [options]\n"
	"Boots a VM and exits with the guest's status. Without -k, boots a built-in demo guest.\n"
	"\n"
	"  -k, --kernel FILE     x86: bzImage (64-bit boot protocol), ELF vmlinux with a PVH\n"
	"                        note, or a 64-bit ELF test guest; arm64: an Image\n"
	"  -i, --initrd FILE     initial ramdisk\n"
	"  -p, --params STRING   kernel command line, appended after pagoda's defaults\n"
	"                        (x86: console=ttyS0 reboot=k, arm64: console=ttyS0)\n"
	"  -m, --memory SIZE     guest RAM, with a K, M or G suffix; a bare number is MiB, as in\n"
	"                        kvmtool and QEMU (default 256M)\n"
	"  -c, --cpus N          number of vCPUs (default 1)\n"
	"      --memory-backend anon|thp|hugetlb|memfd|file=PATH\n"
	"                        what backs guest RAM (default thp): anon is 4K pages, thp\n"
	"                        anonymous memory with MADV_HUGEPAGE, hugetlb a hugetlbfs memfd,\n"
	"                        memfd a shared memfd, file=PATH a file or a new file in the\n"
	"                        directory PATH (a hugetlbfs mount, tmpfs...)\n"
	"      --hugepage-size 2M|1G\n"
	"                        huge page size for hugetlb (default 2M); with file=, demands\n"
	"                        a hugetlbfs of that page size\n"
	"      --shared          map guest RAM MAP_SHARED (memfd and hugetlb always are)\n"
	"      --prefault[=N]    populate all guest RAM before boot, with N threads (default 1)\n"
	"      --stats           at exit, print memory statistics: backing, resident and huge\n"
	"                        page bytes per region, KVM's pages_4k/2m/1g\n"
	"      --dirty-log auto|bitmap|clear|ring\n"
	"                        dirty tracking mode (auto: the best this KVM offers, named)\n"
	"      --dirty-ring-size N   entries per vCPU ring, a power of two (default 4096)\n"
	"      --dirty-clear-chunk SIZE  bytes per KVM_CLEAR_DIRTY_LOG (default 1G; a\n"
	"                        migration clears 2M at a time, right before it reads them)\n"
	"      --dirty-rate SECONDS  log dirty pages while the guest runs and print the rate\n"
	"                        (pages/s, MiB/s, per vCPU with the ring) every SECONDS\n"
	"      --working-set SECONDS[,method=auto|access-log|damon|page-idle]\n"
	"                        estimate what the guest uses in windows of SECONDS: a table\n"
	"                        at exit, ctl working-set asks. access-log: pagoda's patched\n"
	"                        KVM (kvm/patches); damon: DAMON on guest RAM; page-idle: the\n"
	"                        kernel's page idle tracking (root, not hugetlb); auto: the\n"
	"                        first of those the kernel has\n"
	"      --eager-split off|on|chunk=SIZE\n"
	"                        split huge mappings when logging starts (x86: the host-wide\n"
	"                        kvm.eager_page_split, restored at exit; arm64: the VM's chunk\n"
	"                        size, on = 2M); says what it could not do\n"
	"      --disk PATH[,ro][,cache=none][,io=sync]\n"
	"                        a virtio-blk disk on a raw image (size a multiple of 512);\n"
	"                        ro: read-only, cache=none: O_DIRECT, io=sync: preadv/pwritev\n"
	"                        instead of io_uring (a baseline). Repeat for more disks\n"
	"      --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX]\n"
	"                        a virtio-net device on tap NAME (created if it does not exist)\n"
	"      --rng             a virtio-rng device fed by getrandom(2)\n"
	"      --fs PATH[,tag=TAG][,ro][,proto=9p|virtiofs]\n"
	"                        share directory PATH with the guest over virtio-9p (9P2000.L,\n"
	"                        the default: mount -t 9p -o trans=virtio TAG DIR) or virtio-fs\n"
	"                        (FUSE, served by pagoda itself: mount -t virtiofs TAG DIR; tag\n"
	"                        at most 36 bytes); tag default: pagoda; ro: read-only. The\n"
	"                        guest reaches nothing outside PATH and no file system mounted\n"
	"                        below it, opens no device node or FIFO, sets no set-user-ID\n"
	"                        bit. Repeatable\n"
	"      --balloon[=SIZE][,stats=SECONDS][,report]\n"
	"                        a virtio-balloon device, inflated to SIZE at start (default 0);\n"
	"                        the pages it takes go back to the host; stats= asks the guest\n"
	"                        for its memory statistics every SECONDS (printed with --stats);\n"
	"                        report: free page reporting, the guest's free memory goes back\n"
	"                        to the host too. --balloon=auto[,margin=SIZE]: the balloon\n"
	"                        follows the working set (--working-set, else 1 s windows):\n"
	"                        RAM - working set - margin (default max(64M, RAM/8)),\n"
	"                        deflating at once, inflating by RAM/16 per window\n"
	"                        At most 8 virtio devices\n"
	"      --virtio-transport mmio|pci\n"
	"                        how the guest finds them: pci (x86's default): virtio-pci\n"
	"                        functions with MSI-X on a PCI bus (x86: ECAM in ACPI MCFG,\n"
	"                        ports 0xcf8/0xcfc; arm64: an ECAM host bridge in the device\n"
	"                        tree, MSIs through a GICv3 ITS), for kernels built with\n"
	"                        CONFIG_VIRTIO_PCI and CONFIG_PCI_MSI; mmio (arm64's\n"
	"                        default): virtio-mmio windows named on Linux's command line\n"
	"                        (x86, CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES) or in the device tree\n"
	"      --api-sock PATH   a control socket (mode 0600): one JSON object per line;\n"
	"                        pagoda ctl PATH COMMAND [ARG] is its client\n"
	"      --incoming unix:PATH|tcp:HOST:PORT\n"
	"                        wait for a live migration there instead of booting; it listens\n"
	"                        on exactly that address (tcp:0.0.0.0:P is every interface:\n"
	"                        anyone who reaches it can send a VM, see --migration-key);\n"
	"                        a peer that fails the handshake (leaves at once, lacks the\n"
	"                        key, is silent 10 s) is dropped and it listens on: 8 such\n"
	"                        peers in a row, or --timeout, end it; it takes the sender's\n"
	"                        other channels (--migration-channels) on the same address\n"
	"      --migration-key FILE  a secret shared by source and receiver (16 to 256 bytes,\n"
	"                        mode 0600, e.g. head -c 32 /dev/urandom > FILE): both sides\n"
	"                        prove they hold it before any state moves, and an HMAC-SHA256\n"
	"                        covers the stream; a key on one side only is refused\n"
	"      --downtime-limit MS   migration: stop and copy once the estimated downtime\n"
	"                        is under MS milliseconds (default 50)\n"
	"      --max-passes N[,cancel]  migration: after N passes stop and copy anyway\n"
	"                        (default 30), or give up with cancel\n"
	"      --precopy-order cold-first|address  migration: each pass sends the pages\n"
	"                        written over and over (and, with --working-set, those used\n"
	"                        lately) last, so fewer are dirty again at the next pass\n"
	"                        (default cold-first); address: in guest-address order, to\n"
	"                        compare\n"
	"      --migration-channels N  migration: send the first pass (all of RAM) and\n"
	"                        post-copy's push over N connections at once (1 to 8, default\n"
	"                        1), each authenticated like the first; later passes use one\n"
	"      --migration-log FILE  append a JSON line per migration event to FILE, on\n"
	"                        either side: start, each pass (pages, bytes, rate, what was\n"
	"                        dirtied meanwhile), end (downtime and where it went);\n"
	"                        tools/migration-plot draws them\n"
	"      --restore-memory copy|cow|lazy  pagoda restore: copy the snapshot's memory in\n"
	"                        first (default); cow: map the file privately, copy-on-write\n"
	"                        (anon/thp only; VMs restored from one snapshot share its\n"
	"                        unchanged pages in the page cache, --stats shows private,\n"
	"                        shared and PSS bytes; map is the old name); or lazy: the\n"
	"                        guest starts at once, pages read as touched and the rest in\n"
	"                        the background, into any backing but a private file\n"
	"      --seccomp on|log|off  per-thread system call filters (default on); a call\n"
	"                        outside them ends pagoda with exit code 12, naming it;\n"
	"                        log lets it through and the kernel logs it\n"
	"      --cpu MODEL       x86: host | baseline (default: baseline on a PVM host, else host)\n"
	"      --dump-dtb FILE   arm64: also write the device tree given to the guest to FILE\n"
	"      --timeout SECONDS end the VM after this long, exit code 124\n"
	"      --sync-exit       exit only once the kernel has torn the VM down (by default\n"
	"                        a helper process, pagoda-teardown, holds the VM so that the\n"
	"                        exit status comes first; hugetlb RAM is always torn down first)\n"
	"      --name NAME       a name for messages\n"
	"  -h, --help            this text\n"
	"\n"
	"Exit status: 0 guest powered off or rebooted; (v << 1) | 1 guest wrote v to the\n"
	"debug-exit port 0x501; 2 bad command line or setup failure; 4 guest triple fault;\n"
	"6 KVM internal error; 8 unhandled VM exit; 10 VMM error while running; 12 seccomp\n"
	"violation; 14 every vCPU halted with interrupts off; 16 guest memory still coming\n"
	"(an incoming post-copy, a lazy restore) cannot be had: its source is lost; 124\n"
	"timeout; 128+N killed by signal N.\n"
	"Console: Ctrl-a x ends the VM when stdin is a terminal.\n";

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

enum { OPT_CPU = 256, OPT_TIMEOUT, OPT_NAME, OPT_BACKEND, OPT_HUGEPAGE, OPT_SHARED, OPT_PREFAULT,
       OPT_STATS, OPT_DIRTY_LOG, OPT_RING_SIZE, OPT_CLEAR_CHUNK, OPT_DIRTY_RATE, OPT_EAGER,
       OPT_DISK, OPT_NET, OPT_RNG, OPT_BALLOON, OPT_API, OPT_INCOMING, OPT_DOWNTIME, OPT_PASSES, OPT_ORDER, OPT_MIG_KEY, OPT_MIG_LOG,
       OPT_MIG_CHANNELS,       OPT_RESTORE_MEM, OPT_SECCOMP, OPT_DUMP_DTB, OPT_WSS, OPT_TRANSPORT, OPT_FS, OPT_SYNC_EXIT };

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "params", required_argument, NULL, 'p' },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "memory-backend", required_argument, NULL, OPT_BACKEND },
	{ "hugepage-size", required_argument, NULL, OPT_HUGEPAGE },
	{ "shared", no_argument, NULL, OPT_SHARED },
	{ "prefault", optional_argument, NULL, OPT_PREFAULT },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "sync-exit", no_argument, NULL, OPT_SYNC_EXIT },
	{ "dirty-log", required_argument, NULL, OPT_DIRTY_LOG },
	{ "dirty-ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "dirty-clear-chunk", required_argument, NULL, OPT_CLEAR_CHUNK },
	{ "dirty-rate", required_argument, NULL, OPT_DIRTY_RATE },
	{ "working-set", required_argument, NULL, OPT_WSS },
	{ "eager-split", required_argument, NULL, OPT_EAGER },
	{ "dump-dtb", required_argument, NULL, OPT_DUMP_DTB },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "virtio-transport", required_argument, NULL, OPT_TRANSPORT },
	{ "fs", required_argument, NULL, OPT_FS },
	{ "balloon", optional_argument, NULL, OPT_BALLOON },
	{ "api-sock", required_argument, NULL, OPT_API },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "migration-key", required_argument, NULL, OPT_MIG_KEY },
	{ "migration-log", required_argument, NULL, OPT_MIG_LOG },
	{ "downtime-limit", required_argument, NULL, OPT_DOWNTIME },
	{ "max-passes", required_argument, NULL, OPT_PASSES },
	{ "precopy-order", required_argument, NULL, OPT_ORDER },
	{ "migration-channels", required_argument, NULL, OPT_MIG_CHANNELS },
	{ "restore-memory", required_argument, NULL, OPT_RESTORE_MEM },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

int cli_parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e7)
		return -1;
	*out = v;
	return 0;
}

/* SECONDS[,method=M]: the windows have to leave the main thread time for other work. */
static int parse_working_set(const char *arg, struct run_config *cfg, char *err, size_t errlen)
{
	char secs[32];
	const char *comma = strchr(arg, ',');
	size_t n = comma ? (size_t)(comma - arg) : strlen(arg);
	snprintf(secs, sizeof(secs), "%.*s", (int)(n < sizeof(secs) ? n : sizeof(secs) - 1), arg);
	if (n >= sizeof(secs) || cli_parse_seconds(secs, &cfg->working_set_s) || cfg->working_set_s < 0.01 ||
	    cfg->working_set_s > 60)
		return err_set(err, errlen, -1, "--working-set '%s' is not a window: give seconds from 0.01 to 60, e.g. --working-set 1", arg);
	if (comma && (strncmp(comma + 1, "method=", 7) || wss_method_parse(comma + 8, &cfg->working_set_method)))
		return err_set(err, errlen, -1, "--working-set '%s': after the window only method=auto, method=access-log, "
			       "method=damon or method=page-idle, e.g. --working-set 1,method=damon", arg);
	return 0;
}

static int parse_backend(const char *arg, struct mem_backend_config *b, char *err, size_t errlen)
{
	static const struct { const char *name; enum mem_backend_kind kind; } kinds[] = {
		{ "anon", MEM_ANON }, { "thp", MEM_THP }, { "hugetlb", MEM_HUGETLB }, { "memfd", MEM_MEMFD },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!strcmp(arg, kinds[i].name)) {
			b->kind = kinds[i].kind;
			return 0;
		}
	}
	if (!strncmp(arg, "file=", 5) && arg[5]) {
		b->kind = MEM_FILE;
		b->path = arg + 5;
		return 0;
	}
	return err_set(err, errlen, -1, "--memory-backend '%s' is not a backend: use anon, thp, hugetlb, memfd or file=PATH", arg);
}

static int apply_memory_option(int c, const char *arg, struct run_config *cfg, char *err,
			       size_t errlen)
{
	unsigned long n;
	uint64_t size;
	switch (c) {
	case OPT_BACKEND:
		return parse_backend(arg, &cfg->m.backend, err, errlen);
	case OPT_HUGEPAGE:
		if (size_parse(arg, &size) || (size != (2ULL << 20) && size != (1ULL << 30)))
			return err_set(err, errlen, -1, "--hugepage-size '%s' is not a huge page size: use 2M or 1G", arg);
		cfg->m.backend.hugepage_size = size;
		return 0;
	case OPT_SHARED:
		cfg->m.backend.shared = true;
		return 0;
	case OPT_PREFAULT:
		if (!arg) {
			cfg->m.prefault_threads = 1;
			return 0;
		}
		if (parse_uint(arg, 64, &n) || n == 0)
			return err_set(err, errlen, -1, "--prefault=%s is not a thread count: use 1 to 64, e.g. --prefault=2", arg);
		cfg->m.prefault_threads = (unsigned int)n;
		return 0;
	case OPT_STATS:
		cfg->stats = true;
		return 0;
	case OPT_SYNC_EXIT:
		cfg->sync_exit = true;
		return 0;
	}
	return 1;
}

static int apply_dirty_option(int c, const char *arg, struct run_config *cfg, char *err,
			      size_t errlen)
{
	unsigned long n;
	uint64_t size;
	switch (c) {
	case OPT_DIRTY_LOG:
		for (enum dirty_mode m = DIRTY_AUTO; m <= DIRTY_RING; m++) {
			if (!strcmp(arg, dirty_mode_name(m))) {
				cfg->m.dirty_mode = m;
				cfg->m.dirty_wanted = true;
				return 0;
			}
		}
		return err_set(err, errlen, -1, "--dirty-log '%s' is not a mode: use auto, bitmap, clear or ring", arg);
	case OPT_RING_SIZE:
		if (parse_uint(arg, 1UL << 20, &n) || n < 256 || (n & (n - 1)))
			return err_set(err, errlen, -1, "--dirty-ring-size '%s' is not a ring size: use a power of two of at least 256 entries, e.g. 4096", arg);
		cfg->m.dirty_ring_entries = (uint32_t)n;
		return 0;
	case OPT_CLEAR_CHUNK:
		if (size_parse(arg, &size) || size == 0 || size % (256 << 10))
			return err_set(err, errlen, -1, "--dirty-clear-chunk '%s' is not a chunk size: use a multiple of 256K (64 pages), e.g. 1G", arg);
		cfg->m.dirty_clear_chunk = size;
		return 0;
	case OPT_DIRTY_RATE:
		if (cli_parse_seconds(arg, &cfg->dirty_rate_s))
			return err_set(err, errlen, -1, "--dirty-rate '%s' is not a window: give seconds greater than 0, e.g. --dirty-rate 1", arg);
		cfg->m.dirty_wanted = true;
		return 0;
	case OPT_WSS:
		return parse_working_set(arg, cfg, err, errlen);
	case OPT_EAGER:
		if (!strcmp(arg, "off"))
			cfg->m.eager_split = EAGER_SPLIT_OFF;
		else if (!strcmp(arg, "on"))
			cfg->m.eager_split = EAGER_SPLIT_ON;
		else if (!strncmp(arg, "chunk=", 6) && !size_parse(arg + 6, &size) && size &&
			 !(size & (size - 1)) && size >= 4096) {
			cfg->m.eager_split = EAGER_SPLIT_CHUNK;
			cfg->m.eager_chunk = size;
		} else
			return err_set(err, errlen, -1, "--eager-split '%s' is not a policy: use off, on or chunk=SIZE (a power of two, e.g. chunk=2M)", arg);
		return 0;
	}
	return 1;
}

static int apply_device_option(int c, char *arg, struct run_config *cfg, char *err, size_t errlen)
{
	if (c == OPT_TRANSPORT) {
		if (strcmp(arg, "mmio") && strcmp(arg, "pci"))
			return err_set(err, errlen, -1, "--virtio-transport '%s': use mmio or pci", arg);
		cfg->m.virtio_transport = !strcmp(arg, "pci") ? VIRTIO_TRANSPORT_PCI : VIRTIO_TRANSPORT_MMIO;
		return 0;
	}
	bool is_device = c == OPT_DISK || c == OPT_NET || c == OPT_RNG || c == OPT_BALLOON || c == OPT_FS;
	if (!is_device)
		return 1;
	if ((c == OPT_RNG && cfg->m.rng) || (c == OPT_BALLOON && cfg->m.balloon))
		return err_set(err, errlen, -1, "--%s given twice: one is enough", c == OPT_RNG ? "rng" : "balloon");
	if (machine_config_devices(&cfg->m) >= MACHINE_MAX_VIRTIO)
		return err_set(err, errlen, -1, "too many virtio devices: pagoda has %d (their interrupt lines run out)", MACHINE_MAX_VIRTIO);
	switch (c) {
	case OPT_DISK: return cli_parse_disk(arg, &cfg->m, err, errlen);
	case OPT_NET: return cli_parse_net(arg, &cfg->m, err, errlen);
	case OPT_RNG: cfg->m.rng = true; return 0;
	case OPT_FS: return cli_parse_fs(arg, &cfg->m, err, errlen);
	}
	return cli_parse_balloon(arg, &cfg->m, err, errlen);
}

/* The key file: a regular file only its owner can read, of a sensible size. */
static int read_migration_key(const char *path, struct mig_key *k, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return err_set(err, errlen, -1, "--migration-key %s: %s", path, strerror(e));
	}
	int r = 0;
	if (!S_ISREG(st.st_mode))
		r = err_set(err, errlen, -1, "--migration-key %s: not a regular file", path);
	else if (st.st_mode & 077)
		r = err_set(err, errlen, -1, "--migration-key %s: others may read it (mode %03o): chmod 600 %s", path,
			 (unsigned int)(st.st_mode & 0777), path);
	else if (st.st_size < MIG_KEY_MIN || st.st_size > MIG_KEY_MAX)
		r = err_set(err, errlen, -1, "--migration-key %s: %lld bytes: give 16 to 256, e.g. head -c 32 /dev/urandom > %s",
			 path, (long long)st.st_size, path);
	else if (read(fd, k->bytes, (size_t)st.st_size) != st.st_size)
		r = err_set(err, errlen, -1, "--migration-key %s: could not read it", path);
	k->len = r ? 0 : (size_t)st.st_size;
	close(fd);
	return r;
}

static int apply_migration_option(int c, const char *arg, struct run_config *cfg, char *err,
				  size_t errlen)
{
	unsigned long n;
	switch (c) {
	case OPT_API:
		cfg->api_sock = arg;
		return 0;
	case OPT_INCOMING:
		if (strncmp(arg, "unix:", 5) && strncmp(arg, "tcp:", 4))
			return err_set(err, errlen, -1, "--incoming '%s' is not an address: use unix:PATH or tcp:HOST:PORT", arg);
		cfg->incoming = arg;
		return 0;
	case OPT_MIG_LOG:
		cfg->migration_log = arg;
		return 0;
	case OPT_MIG_KEY:
		cfg->m.migration_keyed = true;
		return read_migration_key(arg, &cfg->m.migration_key, err, errlen);
	case OPT_DOWNTIME:
		if (cli_parse_seconds(arg, &cfg->m.downtime_limit_ms))
			return err_set(err, errlen, -1, "--downtime-limit '%s' is not a duration: give milliseconds greater than 0, e.g. 50", arg);
		return 0;
	case OPT_PASSES: {
		const char *comma = strchr(arg, ',');
		char num[16];
		snprintf(num, sizeof(num), "%.*s", comma ? (int)(comma - arg) : (int)strlen(arg), arg);
		if (parse_uint(num, 10000, &n) || n == 0 || (comma && strcmp(comma, ",cancel") && strcmp(comma, ",force")))
			return err_set(err, errlen, -1, "--max-passes '%s': give a pass count, optionally ,cancel or ,force, e.g. 30,cancel", arg);
		cfg->m.max_passes = (unsigned int)n;
		cfg->m.cancel_at_max_passes = comma && !strcmp(comma, ",cancel");
		return 0;
	}
	case OPT_MIG_CHANNELS:
		if (parse_uint(arg, MIG_MAX_CHANNELS, &n) || n == 0)
			return err_set(err, errlen, -1, "--migration-channels '%s': give 1 to %u connections, e.g. 2", arg,
				       MIG_MAX_CHANNELS);
		cfg->m.migration_channels = (unsigned int)n;
		return 0;
	case OPT_ORDER: {
		enum precopy_order o;
		if (precopy_order_parse(arg, &o))
			return err_set(err, errlen, -1, "--precopy-order '%s': give cold-first or address", arg);
		cfg->m.precopy_address_order = o == PRECOPY_ADDRESS;
		return 0;
	}
	case OPT_SECCOMP:
		if (!strcmp(arg, "on"))
			cfg->seccomp = SANDBOX_ON;
		else if (!strcmp(arg, "log"))
			cfg->seccomp = SANDBOX_LOG;
		else if (!strcmp(arg, "off"))
			cfg->seccomp = SANDBOX_OFF;
		else
			return err_set(err, errlen, -1, "--seccomp '%s': use on, log or off", arg);
		return 0;
	case OPT_RESTORE_MEM:
		if (!strcmp(arg, "copy"))
			cfg->restore_memory = RESTORE_COPY;
		else if (!strcmp(arg, "cow") || !strcmp(arg, "map")) /* map: its first name */
			cfg->restore_memory = RESTORE_MAP;
		else if (!strcmp(arg, "lazy"))
			cfg->restore_memory = RESTORE_LAZY;
		else
			return err_set(err, errlen, -1, "--restore-memory '%s': use copy, cow or lazy", arg);
		return 0;
	}
	return 1;
}

static int apply_option(int c, const char *arg, const char *optname, struct run_config *cfg,
			char *err, size_t errlen)
{
	int m = apply_memory_option(c, arg, cfg, err, errlen);
	if (m <= 0)
		return m;
	m = apply_dirty_option(c, arg, cfg, err, errlen);
	if (m <= 0)
		return m;
	m = apply_device_option(c, (char *)arg, cfg, err, errlen);
	if (m <= 0)
		return m;
	m = apply_migration_option(c, arg, cfg, err, errlen);
	if (m <= 0)
		return m;
	unsigned long n;
	switch (c) {
	case 'k': cfg->m.kernel = arg; return 0;
	case 'i': cfg->m.initrd = arg; return 0;
	case 'p': cfg->m.params = arg; return 0;
	case OPT_NAME: cfg->m.name = arg; return 0;
	case OPT_DUMP_DTB: cfg->m.dump_dtb = arg; return 0;
	case 'h': cfg->help = true; return 0;
	case 'm': {
		/* A bare number is MiB, as kvmtool's and QEMU's -m take it (-m 256). */
		bool bare = strspn(arg, "0123456789") == strlen(arg);
		uint64_t v;
		if (size_parse(arg, &v) || v == 0 || (bare && v > (UINT64_MAX >> 20)))
			return err_set(err, errlen, -1, "--memory '%s' is not a size: give MiB or a number with a K, M or G suffix, e.g. -m 512M", arg);
		cfg->m.mem_size = bare ? v << 20 : v;
		if (cfg->m.mem_size < MACHINE_MIN_MEM)
			return err_set(err, errlen, -1, "--memory '%s' is too small: give the guest at least 2M", arg);
		return 0;
	}
	case 'c':
		if (parse_uint(arg, MACHINE_MAX_CPUS, &n) || n == 0)
			return err_set(err, errlen, -1, "--cpus '%s' is not a vCPU count: use a whole number from 1 up, e.g. -c 2", arg);
		cfg->m.cpus = (unsigned int)n;
		return 0;
	case OPT_CPU:
		if (!strcmp(arg, "host"))
			cfg->m.cpu = CPU_MODEL_HOST;
		else if (!strcmp(arg, "baseline"))
			cfg->m.cpu = CPU_MODEL_BASELINE;
		else
			return err_set(err, errlen, -1, "--cpu '%s' is not a CPU model: use host or baseline", arg);
		return 0;
	case OPT_TIMEOUT:
		if (cli_parse_seconds(arg, &cfg->timeout_s))
			return err_set(err, errlen, -1, "--timeout '%s' is not a duration: give seconds greater than 0, e.g. --timeout 30", arg);
		return 0;
	}
	return err_set(err, errlen, -1, "unknown option %s: see pagoda run --help", optname);
}

int cli_parse_run(int argc, char **argv, struct run_config *cfg, char *err, size_t errlen)
{
	*cfg = (struct run_config){ 0 };
	machine_config_defaults(&cfg->m);
	opterr = 0;
	optind = 0; /* GNU: full re-initialisation, so the parser can run more than once */
	for (;;) {
		int prev = optind ? optind : 1;
		int c = getopt_long(argc, argv, "+:k:i:p:m:c:h", run_options, NULL);
		if (c == -1)
			break;
		const char *optname = argv[prev < argc ? prev : argc - 1];
		if (c == '?')
			return err_set(err, errlen, -1, "unknown option %s: see pagoda run --help", optname);
		if (c == ':')
			return err_set(err, errlen, -1, "option %s needs a value: see pagoda run --help", optname);
		if (apply_option(c, optarg, optname, cfg, err, errlen))
			return -1;
	}
	if (optind < argc)
		return err_set(err, errlen, -1, "unexpected argument '%s': kernel parameters go in -p \"...\"", argv[optind]);
	if (cfg->incoming && cfg->m.kernel)
		return err_set(err, errlen, -1, "--incoming takes the guest from the migration: drop -k");
	/* The control socket's dirty-rate and migrate need dirty tracking ready (a dirty
	 * ring must exist before the vCPUs); logging itself starts only when asked. */
	if (cfg->api_sock && !cfg->m.dirty_wanted)
		cfg->m.dirty_wanted = cfg->m.dirty_implicit = true;
	cfg->m.from_state = cfg->incoming || cfg->restore_dir;
	/* Tests only (tests/lab/kvm_mapping_test.py): guest RAM's host addresses shifted off
	 * the guest's alignment, to show KVM then maps no huge block. Not an option: no user
	 * wants it. */
	const char *skew = getenv("PAGODA_TEST_HVA_SKEW");
	cfg->m.test_hva_skew = skew ? strtoull(skew, NULL, 0) : 0;
	return machine_config_check(&cfg->m, err, errlen) ? -1 : 0;
}
