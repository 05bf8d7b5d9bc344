/* A minimal test harness: CHECK records a failure with its line and goes on, so one run
 * shows every broken expectation; main returns check_result(). */
#ifndef PAGODA_TEST_CHECK_H
#define PAGODA_TEST_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;
/* Cases that could not run here (they need root, say): the test then ends as skipped
 * (exit 77) when nothing failed, never as passed. */
static int skipped_cases;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b); \
	check_count++; \
	if (a_ != b_) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == 0x%" PRIx64 ", expected %s == 0x%" PRIx64 "\n", \
			__FILE__, __LINE__, #a, a_, #b, b_); \
	} \
} while (0)

/* The message must mention each of the words (what is wrong and how to fix it). */
#define CHECK_MSG(msg, word) do { \
	check_count++; \
	if (!strstr((msg), (word))) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, (msg), (word)); \
	} \
} while (0)

static inline int check_result(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

static inline int check_result_or_skip(const char *name)
{
	if (skipped_cases && !check_failures) {
		fprintf(stderr, "%s: %d checks, 0 failed, %d cases could not run here: skipped\n", name, check_count,
			skipped_cases);
		return 77;
	}
	return check_result(name);
}

#endif
