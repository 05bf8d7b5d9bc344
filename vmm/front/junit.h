/* JUnit XML for one run (`pagoda exec --junit FILE`): what CI engines (GitLab, Jenkins,
 * GitHub Actions, LAVA) read. One test case for the command, failed when its status is
 * not 0, with the console as its output; and, where the console carries KTAP or TAP
 * results (kselftests, KUnit), one test case per result: "ok" passes, "not ok" fails
 * with the diagnostic lines before it, "# SKIP" and "# TODO" are skipped. The console is
 * the guest's: anything in it is escaped, cut at a bound, and never trusted as markup. */
#ifndef PAGODA_FRONT_JUNIT_H
#define PAGODA_FRONT_JUNIT_H

#include <stddef.h>
#include <stdio.h>

struct junit_run {
	const char *name;    /* the command, as the run's test case is named */
	int status;          /* the command's exit status */
	double seconds;
	const char *console; /* what the guest printed (not NUL-terminated) */
	size_t console_len;
	size_t console_dropped; /* printed after what was kept */
};

/* Writes the XML document to f: 0, or -errno. */
int junit_write(FILE *f, const struct junit_run *r);

#endif
