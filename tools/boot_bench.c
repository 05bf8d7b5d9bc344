/* Start-to-exit time and peak RSS of `pagoda run` for guests that exit at once, median of
 * N runs, at two guest memory sizes; and QEMU (microvm, KVM) on the same PVH guest as the
 * peer, measured in the same run, with the ratio.
 *
 *   boot-bench [--runs N] PAGODA TINY_ELF PVH_ELF
 *
 * TINY_ELF is entered in long mode and powers off through ACPI; PVH_ELF writes to the
 * debug-exit port from its 32-bit entry (exit code 1 in both VMMs). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 200

struct sample {
	double ms;
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
	s->rss_kib = ru.ru_maxrss;
	return WIFEXITED(status) && WEXITSTATUS(status) == want_status ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median wall time and median peak RSS over runs; returns -1 if any run failed. */
static int measure(char *const argv[], int want, int runs, struct sample *med)
{
	double ms[MAX_RUNS], rss[MAX_RUNS];
	for (int i = 0; i < runs; i++) {
		struct sample s;
		if (run_once(argv, want, &s))
			return -1;
		ms[i] = s.ms;
		rss[i] = (double)s.rss_kib;
	}
	qsort(ms, (size_t)runs, sizeof(double), cmp_double);
	qsort(rss, (size_t)runs, sizeof(double), cmp_double);
	med->ms = ms[runs / 2];
	med->rss_kib = (long)rss[runs / 2];
	return 0;
}

static void row(const char *who, const char *guest, const char *mem, const struct sample *s, int ok)
{
	if (ok)
		printf("%-8s %-10s %6s %10.1f %12.1f\n", who, guest, mem, s->ms, (double)s->rss_kib / 1024);
	else
		printf("%-8s %-10s %6s %10s %12s\n", who, guest, mem, "failed", "-");
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
	qsort(v, (size_t)runs, sizeof(double), cmp_double);
	return v[runs / 2];
}

int main(int argc, char **argv)
{
	int runs = 15, a = 1;
	if (argc > 2 && !strcmp(argv[1], "--runs")) {
		runs = atoi(argv[2]);
		a = 3;
	}
	if (argc - a != 3 || runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "usage: boot-bench [--runs N (1-%d)] PAGODA TINY_ELF PVH_ELF\n", MAX_RUNS);
		return 2;
	}
	char *pagoda = argv[a], *tiny = argv[a + 1], *pvh = argv[a + 2];
	int have_qemu = system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0;
	printf("median of %d runs; wall time from start to exit, peak RSS of the VMM process\n\n", runs);
	printf("%-8s %-10s %6s %10s %12s\n", "vmm", "guest", "memory", "wall ms", "peak RSS MiB");
	const char *mems[] = { "256M", "4G" };
	for (int m = 0; m < 2; m++) {
		char *mem = (char *)mems[m];
		struct sample p_tiny, p_pvh, q_pvh;
		char *pt[] = { pagoda, "run", "-m", mem, "-k", tiny, "-p", "action=poweroff", NULL };
		char *pp[] = { pagoda, "run", "-m", mem, "-k", pvh, NULL };
		char *qq[] = { "qemu-system-x86_64", "-accel", "kvm", "-M", "microvm,x-option-roms=off,rtc=off",
			       "-nodefaults", "-no-user-config", "-display", "none", "-m", mem,
			       "-kernel", pvh, "-device", "isa-debug-exit", NULL };
		int ok_t = measure(pt, 0, runs, &p_tiny) == 0;
		int ok_p = measure(pp, 1, runs, &p_pvh) == 0;
		int ok_q = have_qemu && measure(qq, 1, runs, &q_pvh) == 0;
		row("pagoda", "tiny-64", mem, &p_tiny, ok_t);
		row("pagoda", "pvh-exit", mem, &p_pvh, ok_p);
		if (have_qemu)
			row("qemu", "pvh-exit", mem, &q_pvh, ok_q);
		if (ok_p && ok_q)
			printf("%-8s %-10s %6s %9.2fx %11.2fx   (pagoda / qemu microvm)\n", "ratio", "pvh-exit", mem,
			       p_pvh.ms / q_pvh.ms, (double)p_pvh.rss_kib / (double)q_pvh.rss_kib);
	}
	if (!have_qemu)
		printf("\nno qemu-system-x86_64: no peer figures (apt-get install qemu-system-x86)\n");
	printf("\nVM setup: start to vCPU 0's first KVM_RUN, memslots registered (default backend)\n");
	printf("%-8s %18s\n", "memory", "first KVM_RUN ms");
	const char *sizes[] = { "1G", "8G", "16G" };
	for (int i = 0; i < 3; i++) {
		double ms = first_run_ms(pagoda, tiny, sizes[i], runs);
		if (ms < 0)
			printf("%-8s %18s\n", sizes[i], "failed");
		else
			printf("%-8s %18.2f\n", sizes[i], ms);
	}
	return 0;
}
