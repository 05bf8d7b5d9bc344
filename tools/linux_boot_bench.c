/* Linux booted by several VMMs side by side, round after round (A B C A B C ...): each
 * VMM's time from its start to a marker on its console (the guest's init running), to
 * its exit, its CPU time and peak RSS; medians, and each VMM against the fastest other
 * one. Runs where the VMMs run (tools/linux-boot-bench starts it in the x86 lab).
 *
 *   linux-boot-bench RUNS MARKER HALT NAME CMD... [-- NAME CMD...]...
 *
 * A run counts when the marker appeared and the VMM exited 0, or, for a VMM that does not
 * end when its guest halts (kvmtool without ACPI), when HALT appeared on the console and
 * the VMM was still there HALT_GRACE_MS later: it is killed then and its run ends at
 * HALT (its row is marked *). */
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_VMMS 6
#define MAX_RUNS 50

struct vmm {
	const char *name;
	char **argv;
	double init_ms[MAX_RUNS], end_ms[MAX_RUNS], cpu_ms[MAX_RUNS], rss_mib[MAX_RUNS];
	int ok, ended_at_halt;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define RUN_TIMEOUT_MS 120000.0  /* a VMM that has not ended by then is killed */
#define HALT_GRACE_MS 2000.0

struct markers {
	const char *init, *halt;
};

/* What the console showed, in ms from the start; -1: not seen. */
struct seen {
	double init, halt;
	int late;                   /* the run's time was up */
	int stayed;                 /* the guest halted HALT_GRACE_MS ago, the console is open */
};

/* The end of a VMM's console, shown when a run fails. */
struct console_tail {
	char text[2048];
};

static void keep_tail(struct console_tail *t, const char *buf)
{
	char joined[sizeof(t->text) * 2 + 1];
	snprintf(joined, sizeof(joined), "%s%s", t->text, buf);
	size_t len = strlen(joined), keep = len < sizeof(t->text) - 1 ? len : sizeof(t->text) - 1;
	memcpy(t->text, joined + len - keep, keep + 1);
}

/* Reads the VMM's console until it ends, the run's time is up (then late is set) or the
 * guest halted HALT_GRACE_MS ago. */
static struct seen watch(int fd, const struct markers *mk, double t0, struct console_tail *t)
{
	char buf[2048];
	struct seen s = { -1, -1, 0, 0 };
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		double now = now_ms() - t0, left = RUN_TIMEOUT_MS - now;
		if (s.halt >= 0 && s.halt + HALT_GRACE_MS - now < left)
			left = s.halt + HALT_GRACE_MS - now;
		if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
			s.late = s.halt < 0;
			s.stayed = !s.late;
			return s;
		}
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			return s;
		buf[n] = 0;
		keep_tail(t, buf); /* a marker may straddle two reads: look in the tail */
		if (s.init < 0 && strstr(t->text, mk->init))
			s.init = now_ms() - t0;
		if (s.halt < 0 && strstr(t->text, mk->halt))
			s.halt = now_ms() - t0;
	}
}

static int run_once(struct vmm *v, int i, const struct markers *mk)
{
	int p[2];
	if (pipe(p))
		return -1;
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execvp(v->argv[0], v->argv);
		_exit(127);
	}
	close(p[1]);
	struct console_tail tail = { "" };
	struct seen s = { -1, -1, 1, 0 };
	if (pid > 0)
		s = watch(p[0], mk, t0, &tail);
	int stayed = s.stayed;
	if (pid > 0 && (s.late || stayed))
		kill(pid, SIGKILL);
	close(p[0]);
	int status = 0, late = s.late;
	double init = s.init;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
		return -1;
	v->end_ms[i] = stayed && !late ? s.halt : now_ms() - t0;
	v->init_ms[i] = init;
	if (stayed && !late && init >= 0) {
		v->ended_at_halt = 1;
		status = 0; /* the halt was its end */
	}
	v->cpu_ms[i] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	v->rss_mib[i] = (double)ru.ru_maxrss / 1024;
	if (init >= 0 && !late && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "linux-boot-bench: %s, round %d: %s, %s; its console ended with:\n%s\n", v->name, i + 1,
		init >= 0 ? "the marker came" : "no marker", late ? "killed after 120 s" :
		WIFEXITED(status) ? "exited" : "killed by a signal", tail.text);
	if (WIFEXITED(status))
		fprintf(stderr, "linux-boot-bench: %s exited with %d\n", v->name, WEXITSTATUS(status));
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_RUNS];
	memcpy(s, v, (size_t)n * sizeof(double));
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	return s[n / 2];
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: linux-boot-bench RUNS MARKER HALT NAME CMD... [-- NAME CMD...]...\n");
		return 2;
	}
	int runs = atoi(argv[1]), n = 0;
	struct markers mk = { argv[2], argv[3] };
	if (runs < 1 || runs > MAX_RUNS)
		return fprintf(stderr, "linux-boot-bench: RUNS from 1 to %d\n", MAX_RUNS), 2;
	static struct vmm v[MAX_VMMS];
	for (int a = 4; a < argc && n < MAX_VMMS;) {
		v[n] = (struct vmm){ .name = argv[a], .argv = argv + a + 1, .ok = 1 };
		int e = a + 1;
		while (e < argc && strcmp(argv[e], "--"))
			e++;
		argv[e < argc ? e : argc] = NULL; /* ends this command */
		a = e + 1;
		n++;
	}
	for (int i = 0; i < runs; i++)
		for (int j = 0; j < n; j++)
			if (v[j].ok && run_once(&v[j], i, &mk)) {
				fprintf(stderr, "linux-boot-bench: %s failed in round %d: left out from here on\n",
					v[j].name, i + 1);
				v[j].ok = 0;
			}
	printf("median of %d rounds, every VMM once per round\n", runs);
	printf("%-14s %12s %12s %10s %13s\n", "vmm", "to init ms", "to exit ms", "VMM CPU ms", "peak RSS MiB");
	for (int j = 0; j < n; j++) {
		if (!v[j].ok) {
			printf("%-14s %12s\n", v[j].name, "failed");
			continue;
		}
		printf("%-14s %12.0f %11.0f%s %10.0f %13.1f\n", v[j].name, median(v[j].init_ms, runs),
		       median(v[j].end_ms, runs), v[j].ended_at_halt ? "*" : " ", median(v[j].cpu_ms, runs),
		       median(v[j].rss_mib, runs));
	}
	for (int j = 0; j < n; j++)
		if (v[j].ok && v[j].ended_at_halt)
			printf("* %s stays when its guest halts: its exit is the guest's halt\n", v[j].name);
	/* the first VMM against the fastest of the others, to init */
	int best = -1;
	for (int j = 1; j < n; j++)
		if (v[j].ok && (best < 0 || median(v[j].init_ms, runs) < median(v[best].init_ms, runs)))
			best = j;
	if (v[0].ok && best > 0)
		printf("%s / %s (the faster peer): to init %.2fx, to exit %.2fx\n", v[0].name, v[best].name,
		       median(v[0].init_ms, runs) / median(v[best].init_ms, runs),
		       median(v[0].end_ms, runs) / median(v[best].end_ms, runs));
	return 0;
}
