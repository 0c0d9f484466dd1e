/*
 * junit.c: JUnit XML, a testsuite per test type of each run, a testcase
 * per attempt. A failed attempt that a later one made good is a
 * flakyFailure (the Surefire form Jenkins reads), so the suite counts as
 * passed and is marked flaky; the attempts of a suite that never passed
 * are failures.
 */
#include <stdio.h>
#include <string.h>

#include "report.h"

/* Text for XML: escaped, and without the characters XML 1.0 forbids. */
static void
xml_text(struct ci_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '&')
			ci_buf_str(b, "&amp;");
		else if (c == '<')
			ci_buf_str(b, "&lt;");
		else if (c == '>')
			ci_buf_str(b, "&gt;");
		else if (c == '"')
			ci_buf_str(b, "&quot;");
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			ci_buf_add(b, "?", 1);
		else if (c == 0xEF && (unsigned char)s[1] == 0xBF &&
			 ((unsigned char)s[2] == 0xBE ||
			  (unsigned char)s[2] == 0xBF)) {
			ci_buf_add(b, "?", 1); /* U+FFFE, U+FFFF */
			s += 2;
		} else
			ci_buf_add(b, s, 1);
	}
}

/* The messages of a test step logged while the attempt ran. */
static void
xml_messages(struct ci_buf *b, const struct ci_run *r,
	     const struct ci_attempt *a)
{
	char step[64];

	snprintf(step, sizeof step, "test-%s", a->t.test_type);
	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		if (strcmp(g->step, step) != 0 || g->ts_ms < a->start_ms ||
		    g->ts_ms > a->end_ms)
			continue;
		ci_buf_printf(b, "%s:%lld (", g->source_file, g->line_number);
		ci_buf_str(b, g->function_name);
		ci_buf_str(b, "): ");
		ci_buf_str(b, g->message);
		ci_buf_str(b, "\n");
	}
}

static void
testcase(struct ci_buf *o, struct ci_buf *scratch, const struct ci_run *r,
	 const struct suite_report *su, const struct ci_attempt *a)
{
	enum status st = status_of(a->t.status);
	int passed = su->status == ST_PASSED;
	long long ms = a->end_ms - a->start_ms;

	ci_buf_printf(o,
		      "    <testcase name=\"%s attempt %lld\" "
		      "classname=\"%s\" time=\"%lld.%03lld\">\n",
		      su->type, a->t.attempt_number, su->type, ms / 1000,
		      ms % 1000);
	if (st == ST_FAILED) {
		ci_buf_printf(o,
			      "      <%s message=\"attempt %lld "
			      "failed: %lld failure%s%s\" "
			      "type=\"failed\">",
			      passed ? "flakyFailure" : "failure",
			      a->t.attempt_number, a->t.failure_count,
			      a->t.failure_count == 1 ? "" : "s",
			      passed ? "; passed on a later attempt" : "");
		scratch->len = 0;
		xml_messages(scratch, r, a);
		if (scratch->len)
			xml_text(o, scratch->s);
		ci_buf_printf(o, "</%s>\n",
			      passed ? "flakyFailure" : "failure");
	} else if (st == ST_SKIPPED)
		ci_buf_str(o, "      <skipped/>\n");
	ci_buf_printf(o,
		      "      <system-out>%s %s attempt %lld: %s, "
		      "%lld failures, %lld s, %s</system-out>\n"
		      "    </testcase>\n",
		      r->id, su->type, a->t.attempt_number, a->t.status,
		      a->t.failure_count, a->t.duration,
		      a->t.fallback_to_serial    ? "serial after falling back"
			  : a->t.run_in_parallel ? "in parallel"
						 : "serial");
}

void
junit_write(struct ci_buf *out, const struct report *rp)
{
	struct ci_buf b = { 0 }, suites = { 0 };
	unsigned long long tests = 0, failures = 0, skipped = 0;
	long long total_ms = 0;
	char ts[32];

	for (size_t i = 0; i < rp->n; i++) {
		const struct ci_run *r = rp->v[i].r;
		struct suite_report *su;
		size_t ns = suites_of(r, &su);
		for (size_t k = 0; k < ns; k++) {
			unsigned long long f = 0, sk = 0;
			int passed = su[k].status == ST_PASSED;
			for (size_t j = 0; j < su[k].n; j++) {
				enum status st =
				    status_of(su[k].a[j]->t.status);
				f += !passed && st == ST_FAILED;
				sk += st == ST_SKIPPED;
			}
			tests += su[k].n;
			failures += f;
			skipped += sk;
			total_ms += su[k].time_ms;
			utc(ts, su[k].a[0]->start_ms, 1);
			ts[10] = 'T';
			ci_buf_printf(&suites,
				      "  <testsuite name=\"%s\" tests=\"%zu\" "
				      "failures=\"%llu\" errors=\"0\" "
				      "skipped=\"%llu\" time=\"%lld.%03lld\" "
				      "timestamp=\"%s\">\n    <properties>\n",
				      su[k].type, su[k].n, f, sk,
				      su[k].time_ms / 1000,
				      su[k].time_ms % 1000, ts);
			ci_buf_printf(&suites,
				      "      <property name=\"run_id\" "
				      "value=\"%s\"/>\n      <property "
				      "name=\"flaky\" value=\"%s\"/>\n      "
				      "<property name=\"fallback_to_serial\" "
				      "value=\"%s\"/>\n    </properties>\n",
				      r->id, su[k].flaky ? "true" : "false",
				      su[k].fallback ? "true" : "false");
			for (size_t j = 0; j < su[k].n; j++)
				testcase(&suites, &b, r, &su[k], su[k].a[j]);
			ci_buf_str(&suites, "  </testsuite>\n");
		}
		free_suites(su, ns);
	}
	ci_buf_printf(out,
		      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<testsuites name=\"ci-report\" tests=\"%llu\" "
		      "failures=\"%llu\" errors=\"0\" skipped=\"%llu\" "
		      "time=\"%lld.%03lld\">\n",
		      tests, failures, skipped, total_ms / 1000,
		      total_ms % 1000);
	if (suites.len)
		ci_buf_add(out, suites.s, suites.len);
	ci_buf_str(out, "</testsuites>\n");
	ci_buf_free(&b);
	ci_buf_free(&suites);
}
