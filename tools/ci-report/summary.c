/*
 * summary.c: the run model of ci-report. A run as reported, its test
 * suites, the steps across runs, and how durations, times and statuses
 * are shown in every format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

/* name, colour, Markdown icon, Mermaid gantt tag, timeline bar */
const struct status_look status_look[] = {
	[ST_PASSED] = { "passed", "\033[32m", "✅", "done, ", '=' },
	[ST_FAILED] = { "failed", "\033[31m", "❌", "crit, ", 'x' },
	[ST_SKIPPED] = { "skipped", "\033[33m", "⚠️", "active, ", '.' },
	[ST_UNFINISHED] = { "unfinished", "\033[33m", "⚠️", "active, ",
			    '-' },
	[ST_LOGGED] = { "logged", "\033[36m", "📝", "", '~' },
	[ST_INCOMPLETE] = { "incomplete", "\033[33m", "⚠️", "active, ",
			    '-' },
};

enum status
status_of(const char *name)
{
	for (int s = ST_PASSED; s <= ST_INCOMPLETE; s++)
		if (strcmp(name, status_look[s].name) == 0)
			return (enum status)s;
	return ST_UNFINISHED;
}

int
shown_step(const char *name)
{
	return strcmp(name, "init") != 0 && strcmp(name, "complete") != 0;
}

/* A suite's step whose every attempt was skipped: it never ran. */
static int
skipped_suite(const struct ci_run *r, const char *step)
{
	int n = 0;

	if (strncmp(step, "test-", 5) != 0)
		return 0;
	for (size_t i = 0; i < r->ntests; i++) {
		if (strcmp(r->tests[i].t.test_type, step + 5) != 0)
			continue;
		if (strcmp(r->tests[i].t.status, "skipped") != 0)
			return 0;
		n++;
	}
	return n > 0;
}

/*
 * A step without a completion entry was cut short, unless the run passed:
 * then it is a step that only logged (CI_STEP=configure log_info ...). A
 * suite never started (ci-testpar interrupted, or --fail-fast) is skipped.
 */
enum status
step_status(const struct ci_run *r, const struct ci_step *s)
{
	if (s->ok)
		return ST_PASSED;
	if (s->completions)
		return skipped_suite(r, s->name) ? ST_SKIPPED : ST_FAILED;
	return r->has_pipeline && r->pipeline.exit_code == 0 ? ST_LOGGED
							     : ST_UNFINISHED;
}

/* Where a step ends: its last completion, its last entry when it only
 * logged, and -1 (the end of the run) when it was cut short. */
long long
step_end(const struct ci_run *r, const struct ci_step *s)
{
	if (s->completions)
		return s->end_ms;
	return step_status(r, s) == ST_LOGGED ? s->last_ms : -1;
}

/* Where a step starts: its first entry, or its first completion's start. */
long long
step_start(const struct ci_step *s)
{
	return s->completions && s->start_ms < s->first_ms ? s->start_ms
							   : s->first_ms;
}

static int
by_step_start(const void *a, const void *b)
{
	const struct ci_step *x = a, *y = b;
	long long sx = step_start(x), sy = step_start(y);

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
summarize(struct ci_run *r, struct run_report *m)
{
	memset(m, 0, sizeof *m);
	/* Reading is over: the steps can be put in the order they started. */
	qsort(r->steps, r->nsteps, sizeof *r->steps, by_step_start);
	r->last_step = 0;
	m->r = r;
	m->start_time = r->has_start ? r->start.start_time
	    : r->has_pipeline        ? r->pipeline.start_time
				     : r->first_ms / 1000;
	m->end_time =
	    r->has_pipeline ? r->pipeline.end_time : r->last_ms / 1000;
	m->duration = r->has_pipeline     ? r->pipeline.duration
	    : m->end_time > m->start_time ? m->end_time - m->start_time
					  : 0;
	m->exit_code = r->has_pipeline ? r->pipeline.exit_code : -1;
	m->profile = r->has_start ? r->start.profile
	    : r->has_pipeline     ? r->pipeline.profile
				  : NULL;
	m->triggered_by = r->has_start ? r->start.triggered_by
	    : r->has_pipeline          ? r->pipeline.triggered_by
				       : NULL;
	m->result = !r->has_pipeline ? ST_INCOMPLETE
	    : m->exit_code == 0      ? ST_PASSED
				     : ST_FAILED;
	m->done = ci_run_completed(r, &m->ndone);
	m->start_ms = r->first_ms;
	m->end_ms = r->last_ms;
	/* start_time is in whole seconds: only earlier by a second counts. */
	if (r->has_start && r->start.start_time * 1000 + 999 < m->start_ms)
		m->start_ms = r->start.start_time * 1000;
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].start_ms >= 0 &&
		    r->steps[i].start_ms < m->start_ms &&
		    shown_step(r->steps[i].name))
			m->start_ms = r->steps[i].start_ms;
}

/* Whether attempt x goes after t: by shard, then attempt number. */
static int
later(const struct ci_attempt *x, const struct ci_attempt *t)
{
	if (x->t.shard_index != t->t.shard_index)
		return x->t.shard_index > t->t.shard_index;
	return x->t.attempt_number > t->t.attempt_number;
}

size_t
suites_of(const struct ci_run *r, struct suite_report **out)
{
	struct suite_report *s = xmalloc((r->ntests + 1) * sizeof *s);
	struct ci_attempt *t, *x;
	size_t n = 0, k, j;

	for (size_t i = 0; i < r->ntests; i++) {
		t = &r->tests[i];
		for (k = 0; k < n; k++)
			if (strcmp(s[k].type, t->t.test_type) == 0)
				break;
		if (k == n) {
			memset(&s[n], 0, sizeof s[n]);
			s[n].type = t->t.test_type;
			s[n++].a = xmalloc(r->ntests * sizeof t);
		}
		/* Insert in shard, then attempt order; the log's order breaks
		 * ties. */
		for (j = s[k].n; j > 0 && later(s[k].a[j - 1], t); j--)
			s[k].a[j] = s[k].a[j - 1];
		s[k].a[j] = t;
		s[k].n++;
	}
	for (k = 0; k < n; k++) {
		int failed = 0;
		for (j = k + 1; j < n; j++) /* suites by their first start */
			if (s[j].a[0]->start_ms < s[k].a[0]->start_ms ||
			    (s[j].a[0]->start_ms == s[k].a[0]->start_ms &&
			     strcmp(s[j].type, s[k].type) < 0)) {
				struct suite_report tmp = s[k];
				s[k] = s[j];
				s[j] = tmp;
			}
		/* Each shard's last attempt: one failed, the suite failed;
		 * all skipped, skipped. */
		s[k].status = ST_SKIPPED;
		s[k].parts = 0;
		for (j = 0; j < s[k].n; j++) {
			enum status st;
			x = s[k].a[j];
			failed |= status_of(x->t.status) == ST_FAILED;
			s[k].fallback |= x->t.fallback_to_serial;
			s[k].time_ms += x->end_ms - x->start_ms;
			if (j + 1 < s[k].n &&
			    s[k].a[j + 1]->t.shard_index == x->t.shard_index)
				continue;
			s[k].parts++;
			st = status_of(x->t.status);
			if (st == ST_FAILED || s[k].status == ST_SKIPPED)
				s[k].status = st;
		}
		s[k].flaky = failed && s[k].status == ST_PASSED;
	}
	*out = s;
	return n;
}

/* Whether the last attempt of a's shard (of the suite, unsharded) passed. */
int
part_passed(const struct suite_report *su, const struct ci_attempt *a)
{
	const struct ci_attempt *last = a;

	for (size_t j = 0; j < su->n; j++)
		if (su->a[j]->t.shard_index == a->t.shard_index)
			last = su->a[j];
	return status_of(last->t.status) == ST_PASSED;
}

void
free_suites(struct suite_report *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].a);
	free(s);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

size_t
steps_across(const struct run_report *m, size_t n, struct step_across **out)
{
	struct step_across *a = NULL;
	size_t na = 0, k;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m[i].r->nsteps; j++) {
			const struct ci_step *s = &m[i].r->steps[j];
			if (!shown_step(s->name) || !s->completions)
				continue;
			for (k = 0; k < na; k++)
				if (strcmp(a[k].name, s->name) == 0)
					break;
			if (k == na) {
				a = xrealloc(a, (na + 1) * sizeof *a);
				memset(&a[na], 0, sizeof *a);
				a[na].name = s->name;
				a[na].d = xmalloc(n * sizeof(long long));
				a[na++].slowest = -1;
			}
			a[k].d[a[k].n++] = s->duration_ms;
			a[k].latest = s->duration_ms;
			if (s->duration_ms > a[k].slowest) {
				a[k].slowest = s->duration_ms;
				a[k].slowest_run = m[i].r->id;
			}
		}
	for (k = 0; k < na; k++)
		qsort(a[k].d, a[k].n, sizeof *a[k].d, cmp_ll);
	*out = a;
	return na;
}

void
free_across(struct step_across *a, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(a[k].d);
	free(a);
}

long long
median(const struct step_across *a)
{
	return a->n % 2 ? a->d[a->n / 2]
			: (a->d[a->n / 2 - 1] + a->d[a->n / 2]) / 2;
}

const char *
dur(char buf[32], long long ms)
{
	if (ms < 0)
		snprintf(buf, 32, "-");
	else if (ms < 1000)
		snprintf(buf, 32, "%lldms", ms);
	else if (ms < 10000)
		snprintf(buf, 32, "%lld.%llds", ms / 1000, ms % 1000 / 100);
	else if (ms < 60000)
		snprintf(buf, 32, "%llds", ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, 32, "%lldm%02llds", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, 32, "%lldh%02lldm", ms / 3600000,
			 ms / 60000 % 60);
	return buf;
}

/* How an attempt ran: "parallel", "serial (fallback)" or "serial", and
 * ", shard K/N" when ci-testpar --shard ran it. */
const char *
attempt_mode(char buf[48], const struct ci_test_exec *t)
{
	int n = snprintf(buf, 48, "%s",
			 t->fallback_to_serial    ? "serial (fallback)"
			     : t->run_in_parallel ? "parallel"
						  : "serial");
	if (t->shard_count > 0)
		snprintf(buf + n, 48 - n, ", shard %d/%d", t->shard_index,
			 t->shard_count);
	return buf;
}

/* 2025-10-20 14:30:45 (UTC), or only the time of day. */
const char *
utc(char buf[32], long long ms, int date)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, 32, date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm))
		snprintf(buf, 32, "?");
	return buf;
}

/* Printable on one line: control characters become spaces. */
const char *
flat(struct ci_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);

	b->len = 0;
	if (n > max)
		n = ci_utf8_boundary(s, max);
	for (size_t i = 0; i < n; i++)
		ci_buf_add(
		    b, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? " " : s + i,
		    1);
	if (n < strlen(s))
		ci_buf_str(b, "...");
	if (!b->s)
		ci_buf_add(b, "", 0);
	return b->s;
}

const char *
report_file(const struct report *rp, unsigned file)
{
	return strcmp(rp->files[file], "-") == 0 ? "stdin" : rp->files[file];
}

/*
 * The malformed lines: the first few, and always the total. Indented
 * under a heading that ends in ':' in a report, one message a line on
 * stderr (indent "").
 */
void
report_bad(struct ci_buf *b, const struct report *rp, const char *prefix,
	   const char *indent)
{
	unsigned long long n = rp->nbad;

	if (!n)
		return;
	ci_buf_printf(b, "%s%llu malformed line%s", prefix, n,
		      n == 1 ? "" : "s");
	ci_buf_str(b,
		   *indent ? " (not valid log entries; skipped):\n"
			   : " (not valid log entries; skipped)\n");
	for (unsigned long long i = 0; i < n && i < BAD_SHOWN; i++)
		ci_buf_printf(b, "%s%s%s:%llu: %s\n", prefix, indent,
			      report_file(rp, rp->bad[i].file), rp->bad[i].line,
			      rp->bad[i].why);
	if (n > BAD_SHOWN)
		ci_buf_printf(b, "%s%s... and %llu more\n", prefix, indent,
			      n - BAD_SHOWN);
}

/*
 * The failed cases of an attempt: how many, and in names the first
 * FAILING_SHOWN of them, each through put (which escapes it for the
 * format), joined by ", ", then " and N more".
 */
long
failing_cases(struct ci_buf *names, const struct ci_attempt *a,
	      void (*put)(struct ci_buf *b, const char *name))
{
	struct ci_buf full = { 0 };
	long failed = 0, shown = 0;

	for (size_t i = 0; i < a->cases.n; i++) {
		if (a->cases.v[i].status != CI_CASE_FAILED)
			continue;
		if (failed++ >= FAILING_SHOWN)
			continue;
		full.len = 0;
		ci_case_fullname(&full, &a->cases.v[i]);
		ci_buf_str(names, shown++ ? ", " : "");
		put(names, full.s);
	}
	if (failed > shown)
		ci_buf_printf(names, " and %ld more", failed - shown);
	ci_buf_free(&full);
	return failed;
}
