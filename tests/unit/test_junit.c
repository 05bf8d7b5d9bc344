/* JUnit XML from a run's console (vmm/front/junit.c): the command's case, one case per
 * KTAP/TAP result with its outcome, and a hostile console that stays well-formed text. */
#include "check.h"

#include <stdlib.h>

#include "../../vmm/front/junit.h"

/* The document junit_write makes for console text (malloc'd). */
static char *xml_for(const char *console, size_t len, int status)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	struct junit_run r = { .name = "make check", .status = status, .seconds = 1.5,
			       .console = console, .console_len = len };
	CHECK_EQ(junit_write(f, &r), 0);
	fclose(f);
	return buf;
}

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void ktap_results(void)
{
	const char *out =
		"KTAP version 1\n"
		"1..3\n"
		"    KTAP version 1\n"
		"    # Subtest: list\n"
		"    1..2\n"
		"    ok 1 list_add\n"
		"    # expected 3, got 4\n"
		"    not ok 2 list_del\n"
		"ok 1 list\r\n"
		"ok 2 - lonely # SKIP no hardware\n"
		"not ok 3 later # TODO not yet\n"
		"# Totals: pass:2 fail:1 skip:1\n";
	char *x = xml_for(out, strlen(out), 1);
	CHECK(strstr(x, "<testsuite name=\"pagoda exec\" tests=\"6\" failures=\"2\" skipped=\"2\""));
	CHECK(strstr(x, "<testcase classname=\"pagoda exec\" name=\"make check\" time=\"1.500\">"));
	CHECK(strstr(x, "<failure message=\"exit status 1\"/>"));
	CHECK(strstr(x, "<testcase classname=\"list\" name=\"list_add\"/>"));
	CHECK(strstr(x, "<testcase classname=\"list\" name=\"list_del\">"));
	CHECK(strstr(x, "<failure message=\"not ok\"># expected 3, got 4\n</failure>"));
	CHECK(strstr(x, "<testcase classname=\"ktap\" name=\"list\"/>"));
	CHECK(strstr(x, "name=\"lonely\">\n      <skipped message=\"SKIP no hardware\"/>"));
	CHECK(strstr(x, "name=\"later\">\n      <skipped message=\"TODO not yet\"/>"));
	free(x);
}

static void plain_run(void)
{
	const char *out = "hello\n";
	char *x = xml_for(out, strlen(out), 0);
	CHECK(strstr(x, "tests=\"1\" failures=\"0\" skipped=\"0\""));
	CHECK(!strstr(x, "<failure"));
	CHECK(strstr(x, "<system-out>hello\n</system-out>"));
	free(x);
}

/* The console is the guest's: markup, control bytes and broken UTF-8 come out as text. */
static void hostile_console(void)
{
	const char out[] = "ok 1 <a href=\"x\">&</a>\n\x1b[31m\x01\xff\xc3\xa9\n</system-out></testcase>\0tail";
	char *x = xml_for(out, sizeof(out) - 1, 0);
	CHECK(strstr(x, "name=\"&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;\""));
	CHECK(strstr(x, "?[31m??\xc3\xa9\n&lt;/system-out&gt;&lt;/testcase&gt;?tail</system-out>"));
	CHECK_EQ(count(x, "</system-out>"), 1);
	free(x);
}

/* A flood of results is cut at a bound, said in a comment. */
static void flood(void)
{
	size_t n = 20000, len = 0;
	char *out = malloc(n * 12);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "ok %zu\n", i % 100000);
	char *x = xml_for(out, len, 0);
	CHECK(strstr(x, "tests=\"10001\""));
	CHECK(strstr(x, "<!-- pagoda: 10000 more results not listed (at most 10000) -->"));
	free(x);
	free(out);
}

int main(void)
{
	ktap_results();
	plain_run();
	hostile_console();
	flood();
	return check_result("junit");
}
