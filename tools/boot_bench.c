/* Start-to-exit wall time, CPU time and peak RSS of `pagoda run` for guests that exit at
 * once, at 256 MiB and 4 GiB, beside what the same costs without pagoda: the floor
 * (tools/kvm_floor.c: a VM, a memslot, a vCPU; with KVM's irqchip; with its PIT too),
 * QEMU's microvm on the same PVH guest and, given its binary, kvmtool on a guest that
 * resets at once. Every VMM runs once per round, round after round (A B C A B C ...), so
 * all see the same host: medians, and ratios against the floor and each peer. Then
 * pagoda's own variants at 256 MiB (each memory backend, 8 vCPUs, no sandbox) against its
 * default, pagoda's exit with its late-teardown helper against --sync-exit as VMs per
 * second in a loop, and the setup time to the first KVM_RUN by RAM size.
 *
 *   boot-bench [--runs N] [--kvmtool LKVM] PAGODA TINY_ELF PVH_ELF
 *
 * TINY_ELF is entered in long mode and powers off through ACPI; PVH_ELF writes to the
 * debug-exit port from its 32-bit entry (exit code 1 in both VMMs). kvm-floor is taken
 * from boot-bench's own directory. */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 200

struct sample {
	double ms, cpu_ms;
	long rss_kib;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs argv once with output discarded; -1 when it did not exit with want_status. */
static int run_once(char *const argv[], int want_status, struct sample *s)
{
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	s->ms = now_ms() - t0;
	s->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	s->rss_kib = ru.ru_maxrss;
	return WIFEXITED(status) && WEXITSTATUS(status) == want_status ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[n / 2];
}

/* One VMM on one guest: one row of the table. */
struct vmm_run {
	const char *who, *guest;
	char *argv[24];
	int want; /* its exit status when the guest did what it should */
	double ms[MAX_RUNS], cpu[MAX_RUNS], rss[MAX_RUNS];
	struct sample med;
	int ok;
};

static void set_argv(struct vmm_run *v, const char *who, const char *guest, int want, char *const *argv)
{
	v->who = who, v->guest = guest, v->want = want;
	int i = 0;
	for (; argv[i] && i < 23; i++)
		v->argv[i] = argv[i];
	v->argv[i] = NULL;
}

/* Round after round, each VMM once per round: medians; a VMM that fails once is out. */
static void measure_rounds(struct vmm_run *v, int n, int runs)
{
	for (int j = 0; j < n; j++)
		v[j].ok = 1;
	for (int i = 0; i < runs; i++)
		for (int j = 0; j < n; j++) {
			struct sample s;
			if (v[j].ok && run_once(v[j].argv, v[j].want, &s))
				v[j].ok = 0;
			if (v[j].ok)
				v[j].ms[i] = s.ms, v[j].cpu[i] = s.cpu_ms, v[j].rss[i] = (double)s.rss_kib;
		}
	for (int j = 0; j < n; j++)
		if (v[j].ok)
			v[j].med = (struct sample){ median(v[j].ms, runs), median(v[j].cpu, runs),
						    (long)median(v[j].rss, runs) };
}

static void row(const struct vmm_run *v, const char *mem)
{
	if (v->ok)
		printf("%-20s %-9s %6s %9.1f %8.1f %12.1f\n", v->who, v->guest, mem, v->med.ms, v->med.cpu_ms,
		       (double)v->med.rss_kib / 1024);
	else
		printf("%-20s %-9s %6s %9s %8s %12s\n", v->who, v->guest, mem, "failed", "-", "-");
}

static void ratio(const struct vmm_run *a, const struct vmm_run *b)
{
	if (a->ok && b->ok)
		printf("  %s %s / %s: wall %.2fx, CPU %.2fx, peak RSS %.2fx\n", a->who, a->guest, b->who,
		       a->med.ms / b->med.ms, a->med.cpu_ms / b->med.cpu_ms,
		       (double)a->med.rss_kib / (double)b->med.rss_kib);
}

/* kvmtool loads any file that is not a bzImage as flat real-mode code at 0x1000:0:
 * mov al,0xfe; out 0x64,al (an i8042 reset, which ends its session); hlt; jmp $. */
static int write_reset_guest(const char *path)
{
	static const unsigned char code[] = { 0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd };
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(code, 1, sizeof(code), f);
	return fclose(f) || n != sizeof(code) ? -1 : 0;
}

struct bench {
	char *pagoda, *tiny, *pvh, *floor, *lkvm, *reset;
	int have_qemu, runs;
};

/* Every VMM of the run at one memory size, round-robin, with the ratios. */
static void start_table(const struct bench *b, char *mem, char *mib)
{
	static struct vmm_run v[8];
	int n = 0, qemu = -1, kvmtool = -1;
	set_argv(&v[n++], "pagoda", "tiny-64", 0,
		 (char *[]){ b->pagoda, "run", "-m", mem, "-k", b->tiny, "-p", "action=poweroff", NULL });
	set_argv(&v[n++], "pagoda", "pvh-exit", 1, (char *[]){ b->pagoda, "run", "-m", mem, "-k", b->pvh, NULL });
	set_argv(&v[n++], "pagoda --sync-exit", "pvh-exit", 1,
		 (char *[]){ b->pagoda, "run", "--sync-exit", "-m", mem, "-k", b->pvh, NULL });
	set_argv(&v[n++], "floor", "real-mode", 0, (char *[]){ b->floor, "-m", mib, NULL });
	set_argv(&v[n++], "floor+irqchip", "real-mode", 0, (char *[]){ b->floor, "--irqchip", "-m", mib, NULL });
	set_argv(&v[n++], "floor+irqchip+pit", "real-mode", 0, (char *[]){ b->floor, "--pit", "-m", mib, NULL });
	if (b->have_qemu) {
		qemu = n;
		set_argv(&v[n++], "qemu microvm", "pvh-exit", 1,
			 (char *[]){ "qemu-system-x86_64", "-accel", "kvm", "-M", "microvm,x-option-roms=off,rtc=off",
				     "-nodefaults", "-no-user-config", "-display", "none", "-m", mem,
				     "-kernel", b->pvh, "-device", "isa-debug-exit", NULL });
	}
	if (b->lkvm) {
		kvmtool = n;
		set_argv(&v[n++], "kvmtool", "reset", 0,
			 (char *[]){ b->lkvm, "run", "-k", b->reset, "-m", mib, "-c", "1", "--network", "mode=none", NULL });
	}
	measure_rounds(v, n, b->runs);
	for (int j = 0; j < n; j++)
		row(&v[j], mem);
	for (int j = 3; j < 6; j++)
		ratio(&v[1], &v[j]);
	if (qemu >= 0)
		ratio(&v[1], &v[qemu]);
	if (kvmtool >= 0) {
		ratio(&v[1], &v[kvmtool]);
		ratio(&v[kvmtool], &v[5]);
	}
	printf("\n");
}

/* Whether the 2 MiB hugetlb pool has pages for a guest of mib MiB. */
static int hugetlb_pool_has(long mib)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long free_pages = 0;
	if (f && fscanf(f, "%ld", &free_pages) != 1)
		free_pages = 0;
	if (f)
		fclose(f);
	return free_pages * 2 >= mib;
}

/* What pagoda's options cost at start: each variant against the default, round-robin. */
static void variant_table(const struct bench *b)
{
	static struct vmm_run v[8];
	int n = 0;
	char *pvh = b->pvh, *pg = b->pagoda;
	set_argv(&v[n++], "pagoda (thp)", "pvh-exit", 1, (char *[]){ pg, "run", "-m", "256M", "-k", pvh, NULL });
	const char *backends[] = { "anon", "memfd", "hugetlb" };
	for (int i = 0; i < 3; i++)
		if (strcmp(backends[i], "hugetlb") || hugetlb_pool_has(256))
			set_argv(&v[n++], backends[i], "pvh-exit", 1,
				 (char *[]){ pg, "run", "-m", "256M", "--memory-backend", (char *)backends[i], "-k", pvh, NULL });
	set_argv(&v[n++], "8 vCPUs", "pvh-exit", 1, (char *[]){ pg, "run", "-m", "256M", "-c", "8", "-k", pvh, NULL });
	set_argv(&v[n++], "--seccomp off", "pvh-exit", 1,
		 (char *[]){ pg, "run", "-m", "256M", "--seccomp", "off", "-k", pvh, NULL });
	printf("pagoda's variants, 256M (each against the default, thp, 1 vCPU, sandboxed)\n");
	measure_rounds(v, n, b->runs);
	for (int j = 0; j < n; j++)
		row(&v[j], "256M");
	for (int j = 1; j < n; j++)
		ratio(&v[j], &v[0]);
	if (!hugetlb_pool_has(256))
		printf("no hugetlb row: the 2M pool has not 128 free pages (echo 128 > "
		       "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)\n");
	printf("\n");
}

/* VMs per second, started back to back: what a test loop gets, including any teardown
 * left running after one VM's status that the next VM's start then competes with. */
static double loop_rate(char *const argv[], int want, int runs)
{
	double t0 = now_ms();
	for (int i = 0; i < runs; i++) {
		struct sample s;
		if (run_once(argv, want, &s))
			return -1;
	}
	return runs * 1000.0 / (now_ms() - t0);
}

/* pagoda's exit with the late-teardown helper (the default) against --sync-exit, which
 * waits for the kernel's teardown as every VMM's exit does. */
static void loop_rows(const struct bench *b)
{
	printf("VMs per second, %d started back to back (pvh-exit)\n", b->runs);
	printf("%-6s %10s %12s %8s\n", "memory", "default", "--sync-exit", "ratio");
	const char *mems[] = { "256M", "4G" };
	for (int m = 0; m < 2; m++) {
		char *mem = (char *)mems[m];
		char *late[] = { b->pagoda, "run", "-m", mem, "-k", b->pvh, NULL };
		char *sync[] = { b->pagoda, "run", "--sync-exit", "-m", mem, "-k", b->pvh, NULL };
		double ra = loop_rate(late, 1, b->runs), rb = loop_rate(sync, 1, b->runs);
		if (ra < 0 || rb < 0)
			printf("%-6s %10s\n", mem, "failed");
		else
			printf("%-6s %10.1f %12.1f %7.2fx\n", mem, ra, rb, ra / rb);
	}
}

/* Time from pagoda's start to vCPU 0's first KVM_RUN (all memslots registered), as
 * pagoda's --stats reports it; median of runs, -1 on failure. */
static double first_run_ms(const char *pagoda, const char *tiny, const char *mem, int runs)
{
	double v[MAX_RUNS];
	for (int i = 0; i < runs; i++) {
		char cmd[1024];
		snprintf(cmd, sizeof(cmd), "'%s' run -m %s --stats -k '%s' -p action=poweroff 2>&1", pagoda, mem, tiny);
		FILE *f = popen(cmd, "r");
		char line[512];
		v[i] = -1;
		while (f && fgets(line, sizeof(line), f)) {
			const char *p = strstr(line, "first_kvm_run_ms=");
			if (p)
				v[i] = strtod(p + strlen("first_kvm_run_ms="), NULL);
		}
		if (!f || pclose(f) != 0 || v[i] < 0)
			return -1;
	}
	return median(v, runs);
}

static void first_run_rows(const struct bench *b)
{
	printf("\nVM setup: start to vCPU 0's first KVM_RUN, memslots registered (default backend)\n");
	printf("%-8s %18s\n", "memory", "first KVM_RUN ms");
	const char *sizes[] = { "1G", "8G", "16G" };
	for (int i = 0; i < 3; i++) {
		double ms = first_run_ms(b->pagoda, b->tiny, sizes[i], b->runs);
		if (ms < 0)
			printf("%-8s %18s\n", sizes[i], "failed");
		else
			printf("%-8s %18.2f\n", sizes[i], ms);
	}
}

int main(int argc, char **argv)
{
	struct bench b = { .runs = 21 };
	int a = 1;
	for (; argc - a > 3; a += 2) {
		if (!strcmp(argv[a], "--runs"))
			b.runs = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--kvmtool"))
			b.lkvm = argv[a + 1];
		else
			break;
	}
	if (argc - a != 3 || b.runs < 1 || b.runs > MAX_RUNS) {
		fprintf(stderr, "usage: boot-bench [--runs N (1-%d)] [--kvmtool LKVM] PAGODA TINY_ELF PVH_ELF\n", MAX_RUNS);
		return 2;
	}
	b.pagoda = argv[a], b.tiny = argv[a + 1], b.pvh = argv[a + 2];
	char floor[4096], self[4096], home[] = "/tmp/boot-bench-XXXXXX", reset[4200];
	snprintf(self, sizeof(self), "%s", argv[0]);
	snprintf(floor, sizeof(floor), "%s/kvm-floor", dirname(self));
	b.floor = floor;
	if (b.lkvm) {
		/* kvmtool keeps its IPC socket under $HOME/.lkvm; LKVM_SKIP_VMX_CHECK lets it
		 * start where CPUID shows no VMX/SVM (../shared/peers/kvmtool-pvm-host.patch). */
		if (!mkdtemp(home))
			return perror("mkdtemp"), 1;
		snprintf(reset, sizeof(reset), "%s/reset.bin", home);
		if (write_reset_guest(reset))
			return perror(reset), 1;
		b.reset = reset;
		setenv("HOME", home, 1);
		setenv("LKVM_SKIP_VMX_CHECK", "1", 1);
	}
	b.have_qemu = system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0;
	printf("median of %d rounds, every VMM once per round; wall time from start to exit, CPU time\n"
	       "and peak RSS of the VMM process\n\n", b.runs);
	printf("%-20s %-9s %6s %9s %8s %12s\n", "vmm", "guest", "memory", "wall ms", "CPU ms", "peak RSS MiB");
	start_table(&b, "256M", "256");
	start_table(&b, "4G", "4096");
	if (!b.have_qemu)
		printf("no qemu-system-x86_64: no QEMU figures (apt-get install qemu-system-x86)\n");
	if (!b.lkvm)
		printf("no kvmtool: give --kvmtool LKVM (../shared/peers/README.md builds it)\n");
	variant_table(&b);
	loop_rows(&b);
	first_run_rows(&b);
	if (b.lkvm) {
		unlink(reset);
		rmdir(home);
	}
	return 0;
}
