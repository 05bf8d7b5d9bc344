#include "junit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CASES 10000          /* a guest printing results without end is cut here */
#define MAX_DEPTH 8              /* KTAP nesting kept for class names */
#define MAX_CONSOLE (4u << 20)   /* the run's system-out: its first 4 MiB */
#define MAX_DIAG 4096            /* a failure's diagnostic lines */

enum outcome { PASSED, FAILED, SKIPPED };

struct span {
	const char *p;
	size_t len;
};

struct result {
	struct span name, suite, reason;
	enum outcome outcome;
	const char *diag_from, *diag_to; /* the lines between this result and the one before */
};

struct ktap {
	struct result *cases;
	size_t n, dropped;
	struct span suite[MAX_DEPTH];
	const char *since[MAX_DEPTH];    /* where each depth's last result ended */
};

/* Length of the valid UTF-8 character at p, 0 when there is none. */
static size_t utf8_char(const unsigned char *p, size_t left)
{
	size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (!n || n > left || (n == 2 && p[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Text as XML character data: markup escaped, control characters other than tab and
 * line ends, and broken UTF-8 (which no XML parser accepts), as '?'. */
static void xml_text(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = utf8_char(p + i, len - i);
		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '"')
			fputs("&quot;", f);
		else if (!n || (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
			fputc('?', f);
		else
			fwrite(p + i, 1, n, f);
		i += n ? n : 1;
	}
}

static void attr(FILE *f, const char *key, struct span v)
{
	fprintf(f, " %s=\"", key);
	xml_text(f, v.p, v.len);
	fputc('"', f);
}

static struct span span_of(const char *s)
{
	return (struct span){ s, strlen(s) };
}

static bool starts(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(end - p) >= n && !memcmp(p, word, n);
}

/* "ok 3 - name # SKIP reason" from after "ok "/"not ok ": the number, an optional "- ",
 * the name, and a directive. */
static void parse_result(const char *p, const char *end, bool ok, struct result *r)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	while (p < end && *p == ' ')
		p++;
	if (starts(p, end, "- "))
		p += 2;
	const char *hash = memchr(p, '#', (size_t)(end - p));
	const char *name_end = hash ? hash : end;
	while (name_end > p && name_end[-1] == ' ')
		name_end--;
	r->name = (struct span){ p, (size_t)(name_end - p) };
	r->outcome = ok ? PASSED : FAILED;
	r->reason = (struct span){ NULL, 0 };
	if (!hash)
		return;
	const char *d = hash + 1;
	while (d < end && *d == ' ')
		d++;
	if ((end - d >= 4 && !strncasecmp(d, "SKIP", 4)) || (end - d >= 4 && !strncasecmp(d, "TODO", 4))) {
		r->outcome = SKIPPED;
		r->reason = (struct span){ d, (size_t)(end - d) };
	}
}

static void take_line(struct ktap *k, const char *line, const char *end)
{
	const char *p = line;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	size_t depth = (size_t)(p - line) / 4;
	if (depth >= MAX_DEPTH)
		return;
	if (starts(p, end, "# Subtest: ")) {
		k->suite[depth] = (struct span){ p + 11, (size_t)(end - p - 11) };
		return;
	}
	bool ok = starts(p, end, "ok ");
	if (!ok && !starts(p, end, "not ok "))
		return;
	if (k->n == MAX_CASES) {
		k->dropped++;
		return;
	}
	struct result *r = &k->cases[k->n++];
	parse_result(p + (ok ? 3 : 7), end, ok, r);
	r->suite = depth && k->suite[depth].p ? k->suite[depth] : span_of("ktap");
	r->diag_from = k->since[depth] ? k->since[depth] : line;
	r->diag_to = line;
	for (size_t d = depth; d < MAX_DEPTH; d++)
		k->since[d] = end;
	if (depth + 1 < MAX_DEPTH)
		k->suite[depth + 1] = (struct span){ NULL, 0 }; /* that subtest ended */
}

static void parse_ktap(struct ktap *k, const char *s, size_t len)
{
	for (const char *p = s, *end = s + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *trim = e > p && e[-1] == '\r' ? e - 1 : e;
		take_line(k, p, trim);
		p = nl ? nl + 1 : end;
	}
}

/* The "#" lines between a failed result and the one before it at its depth. */
static void write_diag(FILE *f, const struct result *r)
{
	size_t written = 0;
	for (const char *p = r->diag_from; p < r->diag_to && written < MAX_DIAG;) {
		const char *nl = memchr(p, '\n', (size_t)(r->diag_to - p));
		const char *e = nl ? nl + 1 : r->diag_to;
		const char *t = p;
		while (t < e && (*t == ' ' || *t == '\t'))
			t++;
		if (t < e && *t == '#') {
			xml_text(f, t, (size_t)(e - t));
			written += (size_t)(e - t);
		}
		p = e;
	}
}

static void write_case(FILE *f, const struct result *r)
{
	fputs("    <testcase", f);
	attr(f, "classname", r->suite);
	attr(f, "name", r->name);
	if (r->outcome == PASSED) {
		fputs("/>\n", f);
		return;
	}
	fputs(">\n", f);
	if (r->outcome == SKIPPED) {
		fputs("      <skipped", f);
		attr(f, "message", r->reason);
		fputs("/>\n", f);
	} else {
		fputs("      <failure", f);
		attr(f, "message", (struct span){ "not ok", 6 });
		fputs(">", f);
		write_diag(f, r);
		fputs("</failure>\n", f);
	}
	fputs("    </testcase>\n", f);
}

static void write_run_case(FILE *f, const struct junit_run *r)
{
	fputs("    <testcase classname=\"pagoda exec\"", f);
	attr(f, "name", span_of(r->name));
	fprintf(f, " time=\"%.3f\">\n", r->seconds);
	if (r->status)
		fprintf(f, "      <failure message=\"exit status %d\"/>\n", r->status);
	size_t shown = r->console_len < MAX_CONSOLE ? r->console_len : MAX_CONSOLE;
	fputs("      <system-out>", f);
	xml_text(f, r->console, shown);
	if (shown < r->console_len || r->console_dropped)
		fprintf(f, "\n[pagoda: %zu more bytes of the console not shown]\n",
			r->console_len - shown + r->console_dropped);
	fputs("</system-out>\n    </testcase>\n", f);
}

int junit_write(FILE *f, const struct junit_run *r)
{
	struct ktap k = { .cases = calloc(MAX_CASES, sizeof(struct result)) };
	if (!k.cases)
		return -ENOMEM;
	parse_ktap(&k, r->console, r->console_len);
	size_t failures = r->status != 0, skipped = 0;
	for (size_t i = 0; i < k.n; i++) {
		failures += k.cases[i].outcome == FAILED;
		skipped += k.cases[i].outcome == SKIPPED;
	}
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", f);
	fprintf(f, "  <testsuite name=\"pagoda exec\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
		k.n + 1, failures, skipped, r->seconds);
	write_run_case(f, r);
	for (size_t i = 0; i < k.n; i++)
		write_case(f, &k.cases[i]);
	if (k.dropped)
		fprintf(f, "    <!-- pagoda: %zu more results not listed (at most %d) -->\n", k.dropped, MAX_CASES);
	fputs("  </testsuite>\n</testsuites>\n", f);
	free(k.cases);
	return fflush(f) || ferror(f) ? -EIO : 0;
}
