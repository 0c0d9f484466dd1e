/*
 * junit.c: JUnit XML, a testsuite per test type of each run. When the
 * log has the suite's cases, a testcase per case, as Maven Surefire and
 * nextest write reruns: a case that failed, then passed on a later attempt
 * has a flakyFailure per failure; one that failed on its last attempt has a
 * failure, then a rerunFailure per later failure. Otherwise a testcase per
 * attempt: a failed attempt that a later one made good is a flakyFailure,
 * so the suite counts as passed and is marked flaky; the attempts of a
 * suite that never passed are failures. Without retries the report is
 * plain Ant JUnit XML.
 */
#include <stdio.h>
#include <stdlib.h>
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
	int passed = part_passed(su, a);
	long long ms = a->end_ms - a->start_ms;
	char part[32] = "";

	/* A suite split over shards has an attempt 1 in each. */
	if (su->parts > 1)
		snprintf(part, sizeof part, " shard %d/%d", a->t.shard_index,
			 a->t.shard_count);
	ci_buf_printf(o,
		      "    <testcase name=\"%s%s attempt %lld\" "
		      "classname=\"%s\" time=\"%lld.%03lld\">\n",
		      su->type, part, a->t.attempt_number, su->type, ms / 1000,
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
		/* Surefire's flakyFailure holds its text in a stackTrace. */
		if (passed)
			ci_buf_str(o, "<stackTrace>");
		if (scratch->len)
			xml_text(o, scratch->s);
		if (passed)
			ci_buf_str(o, "</stackTrace>");
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

/* A case of a suite across its attempts: its last run, its failures. */
struct run_case {
	const struct ci_case *last;
	const struct ci_case **fails;
	size_t nfails;
	char *key;
};

struct case_table {
	struct run_case *v;
	size_t n, cap;
	size_t *slot; /* index + 1, open addressing; 0: empty */
	size_t nslot;
};

static size_t
key_hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static struct run_case *
case_of(struct case_table *t, const struct ci_case *k, struct ci_buf *key)
{
	size_t i;

	key->len = 0;
	ci_case_fullname(key, k);
	if ((t->n + 1) * 2 > t->nslot) {
		free(t->slot);
		t->nslot = t->nslot ? t->nslot * 2 : 64;
		t->slot = calloc(t->nslot, sizeof *t->slot);
		if (!t->slot)
			ci_die(1, "out of memory");
		for (size_t j = 0; j < t->n; j++) {
			i = key_hash(t->v[j].key) & (t->nslot - 1);
			while (t->slot[i])
				i = (i + 1) & (t->nslot - 1);
			t->slot[i] = j + 1;
		}
	}
	for (i = key_hash(key->s) & (t->nslot - 1); t->slot[i];
	     i = (i + 1) & (t->nslot - 1))
		if (strcmp(t->v[t->slot[i] - 1].key, key->s) == 0)
			return &t->v[t->slot[i] - 1];
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xrealloc(t->v, t->cap * sizeof *t->v);
	}
	memset(&t->v[t->n], 0, sizeof t->v[t->n]);
	t->v[t->n].key = xstrdup(key->s);
	t->slot[i] = ++t->n;
	return &t->v[t->n - 1];
}

/* The first line of a message, for a message attribute. */
static void
first_line(struct ci_buf *b, const char *m)
{
	size_t n = strcspn(m, "\n");
	char *s = xmalloc(n + 1);

	memcpy(s, m, n);
	s[n] = '\0';
	xml_text(b, s);
	free(s);
}

static void
case_failure(struct ci_buf *o, const char *el, const struct ci_case *k)
{
	const char *m = k->message ? k->message : "failed";
	int nested = strcmp(el, "failure") != 0;

	ci_buf_printf(o, "      <%s message=\"", el);
	first_line(o, m);
	ci_buf_str(o, "\" type=\"failed\">");
	ci_buf_str(o, nested ? "<stackTrace>" : "");
	xml_text(o, m);
	ci_buf_printf(o, "%s</%s>\n", nested ? "</stackTrace>" : "", el);
}

/*
 * The suite's cases as testcases; how many into *tests, *failures and
 * *skipped. 0 when the last attempt failed with no failed case (a crash
 * after its tests), which the caller reports as an attempt too.
 */
static int
case_testcases(struct ci_buf *o, const struct suite_report *su,
	       unsigned long long *tests, unsigned long long *failures,
	       unsigned long long *skipped)
{
	struct case_table t = { 0 };
	struct ci_buf key = { 0 };
	int last_failed = 0;

	for (size_t j = 0; j < su->n; j++) {
		const struct ci_cases *c = &su->a[j]->cases;
		for (size_t i = 0; i < c->n; i++) {
			struct run_case *rc = case_of(&t, &c->v[i], &key);
			rc->last = &c->v[i];
			if (c->v[i].status != CI_CASE_FAILED)
				continue;
			rc->fails = xrealloc(
			    rc->fails, (rc->nfails + 1) * sizeof *rc->fails);
			rc->fails[rc->nfails++] = &c->v[i];
		}
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct run_case *rc = &t.v[i];
		const struct ci_case *k = rc->last;
		long long ms = k->duration_ms > 0 ? k->duration_ms : 0;

		ci_buf_str(o, "    <testcase name=\"");
		xml_text(o, k->name);
		ci_buf_str(o, "\" classname=\"");
		xml_text(o, k->classname ? k->classname : su->type);
		ci_buf_printf(o, "\" time=\"%lld.%03lld\">\n", ms / 1000,
			      ms % 1000);
		(*tests)++;
		if (k->status == CI_CASE_FAILED) {
			(*failures)++;
			last_failed = 1;
			case_failure(o, "failure", rc->fails[0]);
			for (size_t f = 1; f < rc->nfails; f++)
				case_failure(o, "rerunFailure", rc->fails[f]);
		} else {
			for (size_t f = 0; f < rc->nfails; f++)
				case_failure(o, "flakyFailure", rc->fails[f]);
			if (k->status == CI_CASE_SKIPPED) {
				(*skipped)++;
				ci_buf_str(o, "      <skipped/>\n");
			}
		}
		ci_buf_str(o, "    </testcase>\n");
	}
	for (size_t i = 0; i < t.n; i++) {
		free(t.v[i].fails);
		free(t.v[i].key);
	}
	free(t.v);
	free(t.slot);
	ci_buf_free(&key);
	return last_failed || su->status != ST_FAILED;
}

void
junit_write(struct ci_buf *out, const struct report *rp)
{
	struct ci_buf b = { 0 }, suites = { 0 }, cases = { 0 };
	unsigned long long tests = 0, failures = 0, skipped = 0;
	long long total_ms = 0;
	char ts[32];

	for (size_t i = 0; i < rp->n; i++) {
		const struct ci_run *r = rp->v[i].r;
		struct suite_report *su;
		size_t ns = suites_of(r, &su);
		for (size_t k = 0; k < ns; k++) {
			unsigned long long f = 0, sk = 0, nt = 0;
			int by_case = 0;
			size_t first = 0;
			cases.len = 0;
			for (size_t j = 0; j < su[k].n; j++)
				by_case |= su[k].a[j]->has_cases;
			if (by_case &&
			    case_testcases(&cases, &su[k], &nt, &f, &sk))
				first = su[k].n; /* no attempt testcases */
			else if (by_case)
				first = su[k].n - 1; /* the last one only */
			for (size_t j = first; j < su[k].n; j++) {
				enum status st =
				    status_of(su[k].a[j]->t.status);
				f += !part_passed(&su[k], su[k].a[j]) &&
				    st == ST_FAILED;
				sk += st == ST_SKIPPED;
				nt++;
			}
			tests += nt;
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
				      su[k].type, (size_t)nt, f, sk,
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
			if (cases.len)
				ci_buf_add(&suites, cases.s, cases.len);
			for (size_t j = first; j < su[k].n; j++)
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
	ci_buf_free(&cases);
}
