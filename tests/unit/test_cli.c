#include "../../vmm/front/cli.h"
#include "check.h"

static int parse(struct run_config *c, char *err, const char *a0, const char *a1,
		 const char *a2, const char *a3)
{
	char *argv[] = { "run", (char *)a0, (char *)a1, (char *)a2, (char *)a3, NULL };
	int argc = 1;
	while (argv[argc])
		argc++;
	err[0] = 0;
	return cli_parse_run(argc, argv, c, err, 256);
}

static void sizes(void)
{
	uint64_t v;
	CHECK(size_parse("512M", &v) == 0 && v == 512ULL << 20);
	CHECK(size_parse("2G", &v) == 0 && v == 2ULL << 30);
	CHECK(size_parse("2GiB", &v) == 0 && v == 2ULL << 30);
	CHECK(size_parse("64k", &v) == 0 && v == 64ULL << 10);
	CHECK(size_parse("4096", &v) == 0 && v == 4096);
	CHECK(size_parse("1T", &v) == 0 && v == 1ULL << 40);
	CHECK(size_parse("", &v) < 0);
	CHECK(size_parse("G", &v) < 0);
	CHECK(size_parse("-1G", &v) < 0);
	CHECK(size_parse("1.5G", &v) < 0);
	CHECK(size_parse("2X", &v) < 0);
	CHECK(size_parse("99999999999999999999", &v) < 0);
	CHECK(size_parse("17179869184T", &v) < 0); /* overflows 64 bits */
}

static void good(void)
{
	struct run_config c;
	char err[256];
	CHECK_EQ(parse(&c, err, NULL, NULL, NULL, NULL), 0);
	CHECK(c.m.kernel == NULL && c.m.cpus == 1 && c.m.mem_size == MACHINE_DEFAULT_MEM && c.timeout_s == 0);
	CHECK_EQ(parse(&c, err, "-k", "bz", "-m", "2G"), 0);
	CHECK(c.m.kernel && !strcmp(c.m.kernel, "bz") && c.m.mem_size == 2ULL << 30);
	CHECK_EQ(parse(&c, err, "--cpus=4", "--timeout", "2.5", NULL), 0);
	CHECK(c.m.cpus == 4 && c.timeout_s == 2.5);
	CHECK_EQ(parse(&c, err, "--cpu", "host", "-p", "quiet"), 0);
	CHECK(c.m.cpu == CPU_MODEL_HOST && !strcmp(c.m.params, "quiet"));
	CHECK_EQ(parse(&c, err, "--cpu", "baseline", "--name", "vm1"), 0);
	CHECK(c.m.cpu == CPU_MODEL_BASELINE && !strcmp(c.m.name, "vm1"));
	CHECK_EQ(parse(&c, err, "-h", NULL, NULL, NULL), 0);
	CHECK(c.help);
}

static void memory_options(void)
{
	struct run_config c;
	char err[256];
	CHECK_EQ(parse(&c, err, NULL, NULL, NULL, NULL), 0);
	CHECK(c.m.backend.kind == MEM_THP && !c.m.backend.shared && c.m.prefault_threads == 0 && !c.stats);
	CHECK_EQ(parse(&c, err, "--memory-backend", "hugetlb", "--hugepage-size", "1G"), 0);
	CHECK(c.m.backend.kind == MEM_HUGETLB && c.m.backend.hugepage_size == 1ULL << 30);
	CHECK_EQ(parse(&c, err, "--memory-backend=file=/mnt/huge", "--shared", "--prefault", "--stats"), 0);
	CHECK(c.m.backend.kind == MEM_FILE && !strcmp(c.m.backend.path, "/mnt/huge") && c.m.backend.shared);
	CHECK(c.m.prefault_threads == 1 && c.stats);
	CHECK_EQ(parse(&c, err, "--prefault=8", NULL, NULL, NULL), 0);
	CHECK_EQ(c.m.prefault_threads, 8);
	CHECK(parse(&c, err, "--memory-backend", "file=", NULL, NULL) < 0);
	CHECK_MSG(err, "not a backend");
	CHECK(parse(&c, err, "--hugepage-size", "4M", NULL, NULL) < 0);
	CHECK_MSG(err, "use 2M or 1G");
	CHECK(parse(&c, err, "--memory-backend", "memfd", "--hugepage-size", "2M") < 0);
	CHECK_MSG(err, "not memfd");
	CHECK(parse(&c, err, "--prefault=65", NULL, NULL, NULL) < 0);
}

static void bad(void)
{
	struct run_config c;
	char err[256];
	CHECK(parse(&c, err, "-m", "12X", NULL, NULL) < 0);
	CHECK_MSG(err, "--memory '12X'");
	CHECK_MSG(err, "e.g.");
	CHECK(parse(&c, err, "-m", "1M", NULL, NULL) < 0);
	CHECK_MSG(err, "too small");
	/* A bare number is MiB, as kvmtool and QEMU take it (before: "too small"). */
	CHECK_EQ(parse(&c, err, "-m", "256", NULL, NULL), 0);
	CHECK_EQ(c.m.mem_size, 256ULL << 20);
	CHECK(parse(&c, err, "-m", "1", NULL, NULL) < 0);
	CHECK_MSG(err, "too small");
	CHECK(parse(&c, err, "-m", "0", NULL, NULL) < 0);
	CHECK(parse(&c, err, "-m", "99999999999999999", NULL, NULL) < 0);
	CHECK_MSG(err, "is not a size");
	CHECK(parse(&c, err, "-c", "0", NULL, NULL) < 0);
	CHECK_MSG(err, "--cpus '0'");
	CHECK(parse(&c, err, "-c", "two", NULL, NULL) < 0);
	CHECK_MSG(err, "--cpus 'two'");
	CHECK(parse(&c, err, "--cpu", "pentium", NULL, NULL) < 0);
	CHECK_MSG(err, "host or baseline");
	CHECK(parse(&c, err, "--timeout", "0", NULL, NULL) < 0);
	CHECK_MSG(err, "--timeout '0'");
	CHECK(parse(&c, err, "--timeout", "soon", NULL, NULL) < 0);
	CHECK(parse(&c, err, "--frobnicate", NULL, NULL, NULL) < 0);
	CHECK_MSG(err, "unknown option --frobnicate");
	CHECK(parse(&c, err, "-z", NULL, NULL, NULL) < 0);
	CHECK_MSG(err, "unknown option -z");
	CHECK(parse(&c, err, "-k", NULL, NULL, NULL) < 0);
	CHECK_MSG(err, "needs a value");
	CHECK(parse(&c, err, "-i", "initrd", NULL, NULL) < 0);
	CHECK_MSG(err, "--initrd needs --kernel");
	CHECK(parse(&c, err, "stray", NULL, NULL, NULL) < 0);
	CHECK_MSG(err, "unexpected argument 'stray'");
}

/* Device option values are split in place, as main's argv allows: pass copies. */
static int parse_dev(struct run_config *c, char *err, const char *a0, const char *a1,
		     const char *a2, const char *a3)
{
	static char buf[4][128];
	const char *in[4] = { a0, a1, a2, a3 };
	for (int i = 0; i < 4; i++)
		if (in[i])
			snprintf(buf[i], sizeof(buf[i]), "%s", in[i]);
	return parse(c, err, a0 ? buf[0] : NULL, a1 ? buf[1] : NULL, a2 ? buf[2] : NULL, a3 ? buf[3] : NULL);
}

static void device_options(void)
{
	struct run_config c;
	char err[256];
	CHECK_EQ(parse_dev(&c, err, "--disk", "a.img", "--disk", "b.img,ro,cache=none,io=sync"), 0);
	CHECK(c.m.nr_disks == 2 && !strcmp(c.m.disks[0].path, "a.img") && !c.m.disks[0].read_only);
	CHECK(!strcmp(c.m.disks[1].path, "b.img") && c.m.disks[1].read_only && c.m.disks[1].direct && c.m.disks[1].sync_io);
	CHECK_EQ(parse_dev(&c, err, "--net", "tap=tap7,mac=52:54:00:aa:bb:cc", "--rng", NULL), 0);
	CHECK(!strcmp(c.m.net_tap, "tap7") && c.m.net_mac_set && c.m.net_mac[5] == 0xcc && c.m.rng);
	CHECK_EQ(parse_dev(&c, err, "--balloon", NULL, NULL, NULL), 0);
	CHECK(c.m.balloon && c.m.balloon_size == 0 && !c.m.balloon_report && c.m.balloon_stats_s == 0);
	CHECK_EQ(parse_dev(&c, err, "--balloon=64M,stats=0.5,report", NULL, NULL, NULL), 0);
	CHECK(c.m.balloon_size == 64ULL << 20 && c.m.balloon_stats_s == 0.5 && c.m.balloon_report);

	CHECK(parse_dev(&c, err, "--disk", "a.img,rw", NULL, NULL) < 0);
	CHECK_MSG(err, "unknown option 'rw'");
	CHECK(parse_dev(&c, err, "--disk", ",ro", NULL, NULL) < 0);
	CHECK_MSG(err, "needs an image path");
	CHECK(parse_dev(&c, err, "--net", "user", NULL, NULL) < 0);
	CHECK_MSG(err, "--net tap=NAME");
	CHECK(parse_dev(&c, err, "--net", "tap=averyveryverylongname", NULL, NULL) < 0);
	CHECK_MSG(err, "up to 15 characters");
	CHECK(parse_dev(&c, err, "--net", "tap=t0,mac=01:00:00:00:00:01", NULL, NULL) < 0);
	CHECK_MSG(err, "not a unicast MAC");
	CHECK(parse_dev(&c, err, "--net", "tap=t0,mac=52:54:00:00:00", NULL, NULL) < 0);
	CHECK(parse_dev(&c, err, "--net", "tap=a", "--net", "tap=b") < 0);
	CHECK_MSG(err, "--net given twice");
	CHECK(parse_dev(&c, err, "--rng", "--rng", NULL, NULL) < 0);
	CHECK_MSG(err, "--rng given twice");
	CHECK(parse_dev(&c, err, "--balloon=12345", NULL, NULL, NULL) < 0);
	CHECK_MSG(err, "'12345' is not a size");
	CHECK(parse_dev(&c, err, "--balloon=stats=0", NULL, NULL, NULL) < 0);
	CHECK_MSG(err, "stats=0 is not an interval");
	CHECK(parse_dev(&c, err, "--balloon=1M,loud", NULL, NULL, NULL) < 0);

	/* shared directories: 9P by default, virtio-fs asked for; tags are per protocol */
	CHECK_EQ(parse_dev(&c, err, "--fs", "/srv", "--fs", "/srv,proto=virtiofs,ro"), 0);
	CHECK(c.m.nr_fs == 2 && c.m.fs[0].proto == FS_9P && c.m.fs[1].proto == FS_VIRTIOFS && c.m.fs[1].read_only);
	CHECK(!strcmp(c.m.fs[1].tag, "pagoda"));
	CHECK(parse_dev(&c, err, "--fs", "/srv,proto=nfs", NULL, NULL) < 0);
	CHECK_MSG(err, "proto=9p|virtiofs");
	CHECK(parse_dev(&c, err, "--fs", "/a,proto=virtiofs", "--fs", "/b,proto=virtiofs") < 0);
	CHECK_MSG(err, "tag 'pagoda' is taken by --fs /a");
	CHECK(parse_dev(&c, err, "--fs", "/a,proto=virtiofs,tag=0123456789012345678901234567890123456", NULL,
			NULL) < 0);
	CHECK_MSG(err, "longer than virtio-fs's 36 bytes");

	/* Nine devices: one too many for the interrupt lines. */
	char *argv[20] = { "run" };
	char bufs[9][16];
	int argc = 1;
	for (int i = 0; i < 9; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "d%d.img", i);
		argv[argc++] = "--disk";
		argv[argc++] = bufs[i];
	}
	CHECK(cli_parse_run(argc, argv, &c, err, sizeof(err)) < 0);
	CHECK_MSG(err, "too many virtio devices");
}

/* The core's own validation, for tests and tools that fill the config without a
 * command line. */
static void config_api(void)
{
	struct machine_config c;
	char err[256] = "";
	machine_config_defaults(&c);
	CHECK_EQ(machine_config_check(&c, err, sizeof(err)), 0);
	c.nr_disks = 7;
	c.rng = c.balloon = true;
	CHECK_EQ(machine_config_check(&c, err, sizeof(err)), (uint64_t)-EINVAL);
	CHECK_MSG(err, "9 virtio devices: at most 8");
	machine_config_defaults(&c);
	c.cpus = 0;
	CHECK_EQ(machine_config_check(&c, err, sizeof(err)), (uint64_t)-EINVAL);
	CHECK_MSG(err, "use 1 to 4096");
	machine_config_defaults(&c);
	c.initrd = "x";
	CHECK_EQ(machine_config_check(&c, err, sizeof(err)), (uint64_t)-EINVAL);
	CHECK_MSG(err, "--initrd needs --kernel");
	machine_config_defaults(&c);
	c.mem_size = 1 << 20;
	CHECK_EQ(machine_config_check(&c, err, sizeof(err)), (uint64_t)-EINVAL);
	CHECK_MSG(err, "at least 2M");
}

int main(void)
{
	config_api();
	sizes();
	good();
	memory_options();
	device_options();
	bad();
	return check_result("cli");
}
