/*
 * text.c: the text report, for a terminal. One run: its result, steps,
 * test attempts, a timeline and its messages; several: a table of runs
 * and the steps across them. Colour on a terminal unless NO_COLOR is set
 * or TERM is dumb.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

static int color;

static const char *
paint(const char *code)
{
	return color ? code : "";
}
#define YELLOW paint("\033[33m")
#define RED paint("\033[31m")
#define BOLD paint("\033[1m")
#define RESET paint("\033[0m")
#define COLOR(st) paint(status_look[st].color)

/* One bar of the timeline, against [t0, t1]. */
static void
bar(struct ci_buf *o, const char *label, long long s, long long e, long long t0,
    long long t1, enum status st)
{
	enum { W = 50 };
	long long span = t1 > t0 ? t1 - t0 : 1;
	int c0, c1;
	char lb[64];

	if (s < t0)
		s = t0;
	if (e < s)
		e = s;
	c0 = (int)((s - t0) * W / span);
	c1 = (int)(((e - t0) * W + span - 1) / span);
	if (c0 >= W)
		c0 = W - 1;
	if (c1 <= c0)
		c1 = c0 + 1;
	if (c1 > W)
		c1 = W;
	snprintf(lb, sizeof lb, "%s", label);
	ci_buf_printf(o, "  %-22.22s |%*s%s", lb, c0, "", COLOR(st));
	for (int i = c0; i < c1; i++)
		ci_buf_add(o, &status_look[st].bar, 1);
	ci_buf_printf(o, "%s%*s|\n", RESET, W - c1, "");
}

static void
timeline(struct ci_buf *o, const struct run_report *m,
	 const struct suite_report *su, size_t ns)
{
	const struct ci_run *r = m->r;
	long long t0 = m->start_ms, t1 = m->end_ms, s, e;
	char d[32], d2[32], lb[64];

	ci_buf_printf(o, "\n%sTimeline%s  %s from %s UTC, one column = %s\n",
		      BOLD, RESET, dur(d, t1 - t0), utc(lb, t0, 0),
		      dur(d2, (t1 - t0) / 50));
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *st = &r->steps[i];
		if (!shown_step(st->name))
			continue;
		s = step_start(st);
		e = step_end(r, st) >= 0 ? step_end(r, st) : t1;
		bar(o, st->name, s, e, t0, t1, step_status(r, st));
		for (size_t k = 0; k < ns; k++) {
			if (strncmp(st->name, "test-", 5) != 0 ||
			    strcmp(st->name + 5, su[k].type) != 0)
				continue;
			for (size_t j = 0; j < su[k].n; j++) {
				const struct ci_attempt *a = su[k].a[j];
				snprintf(lb, sizeof lb, "  %s #%lld",
					 a->t.test_type, a->t.attempt_number);
				bar(o, lb, a->start_ms, a->end_ms, t0, t1,
				    status_of(a->t.status));
			}
		}
	}
}

static void
text_name(struct ci_buf *b, const char *name)
{
	struct ci_buf f = { 0 };

	ci_buf_str(b, flat(&f, name, 200));
	ci_buf_free(&f);
}

static void
attempts(struct ci_buf *o, const struct suite_report *su, size_t ns)
{
	struct ci_buf names = { 0 };
	char d[32], t[32], m[48];

	ci_buf_printf(o, "\n%s  %-22s %-10s %9s %8s  %s%s\n", BOLD,
		      "TEST ATTEMPT", "STATUS", "DURATION", "FAILURES", "MODE",
		      RESET);
	for (size_t k = 0; k < ns; k++)
		for (size_t j = 0; j < su[k].n; j++) {
			const struct ci_attempt *a = su[k].a[j];
			enum status st = status_of(a->t.status);
			snprintf(t, sizeof t, "%s #%lld", su[k].type,
				 a->t.attempt_number);
			ci_buf_printf(o, "  %-22s %s%-10s%s %9s %8lld  %s%s\n",
				      t, COLOR(st), ST_NAME(st), RESET,
				      dur(d, a->end_ms - a->start_ms),
				      a->t.failure_count,
				      attempt_mode(m, &a->t),
				      j + 1 == su[k].n && su[k].flaky
					  ? ", flaky: passed on retry"
					  : "");
			names.len = 0;
			if (st == ST_FAILED &&
			    failing_cases(&names, a, text_name) > 0)
				ci_buf_printf(o, "    failing: %s\n", names.s);
		}
	ci_buf_free(&names);
}

static void
messages(struct ci_buf *o, const struct ci_run *r)
{
	static const char *const lv[] = { "INFO", "WARN", "ERROR" };
	struct ci_buf f = { 0 };
	char t[32];

	ci_buf_printf(o,
		      "\n%sErrors and warnings%s  %llu error%s, %llu "
		      "warning%s\n",
		      BOLD, RESET, r->errors, r->errors == 1 ? "" : "s",
		      r->warnings, r->warnings == 1 ? "" : "s");
	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		ci_buf_printf(o, "  %s%-5s%s %s %s %s:%lld (%s): ",
			      g->level == 2       ? RED
				  : g->level == 1 ? YELLOW
						  : "",
			      lv[g->level], RESET, utc(t, g->ts_ms, 0), g->step,
			      g->source_file, g->line_number, g->function_name);
		ci_buf_printf(o, "%s\n", flat(&f, g->message, 300));
	}
	if (r->omitted)
		ci_buf_printf(o,
			      "  ... and %llu more (the first %d are kept)\n",
			      r->omitted, MSG_CAP);
	ci_buf_free(&f);
}

static void
one_run(struct ci_buf *o, const struct run_report *m)
{
	const struct ci_run *r = m->r;
	struct suite_report *su;
	size_t ns = suites_of(r, &su);
	struct ci_buf f = { 0 };
	char d[32], t[32], t2[32];

	ci_buf_printf(o, "%sRun %s%s: %s%s%s", BOLD, r->id, RESET,
		      COLOR(m->result), ST_NAME(m->result), RESET);
	if (m->exit_code >= 0)
		ci_buf_printf(o, " (exit %d) in %s\n", m->exit_code,
			      dur(d, m->end_ms - m->start_ms));
	else
		ci_buf_printf(o, " (no complete entry) after %s\n",
			      dur(d, m->end_ms - m->start_ms));
	ci_buf_printf(o, "  %s %s UTC to %s", r->has_pipeline ? "ran" : "seen",
		      utc(t, m->start_time * 1000, 1),
		      utc(t2, m->end_time * 1000, 0));
	if (m->profile)
		ci_buf_printf(o, ", profile %s, triggered by %s", m->profile,
			      m->triggered_by);
	ci_buf_str(o, "\n  steps completed:");
	for (size_t i = 0; i < m->ndone; i++)
		ci_buf_printf(o, " %s", flat(&f, m->done[i], 64));
	ci_buf_printf(o, "%s\n", m->ndone ? "" : " none");

	ci_buf_printf(o, "\n%s  %-22s %-10s %9s %5s%s\n", BOLD, "STEP",
		      "STATUS", "DURATION", "EXIT", RESET);
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		enum status st = step_status(r, s);
		if (!shown_step(s->name))
			continue;
		ci_buf_printf(o, "  %-22s %s%-10s%s %9s", flat(&f, s->name, 64),
			      COLOR(st), ST_NAME(st), RESET,
			      dur(d, s->completions ? s->duration_ms : -1));
		if (s->exit_code >= 0)
			ci_buf_printf(o, " %5d", s->exit_code);
		if (s->completions > 1)
			ci_buf_printf(o, "  %d completions", s->completions);
		ci_buf_str(o, "\n");
	}
	if (ns)
		attempts(o, su, ns);
	timeline(o, m, su, ns);
	if (r->errors + r->warnings + r->nmsgs)
		messages(o, r);
	free_suites(su, ns);
	ci_buf_free(&f);
}

static void
many_runs(struct ci_buf *o, const struct run_report *m, size_t n)
{
	struct step_across *a;
	size_t na = steps_across(m, n, &a);
	char d[32], d2[32], d3[32], t[32], res[32];

	ci_buf_printf(o,
		      "%s%zu runs%s\n\n%s  %-26s  %-19s  %9s  %-14s %6s "
		      "%8s%s\n",
		      BOLD, n, RESET, BOLD, "RUN", "STARTED (UTC)", "DURATION",
		      "RESULT", "ERRORS", "WARNINGS", RESET);
	for (size_t i = 0; i < n; i++) {
		if (m[i].exit_code > 0)
			snprintf(res, sizeof res, "%s (exit %d)",
				 ST_NAME(m[i].result), m[i].exit_code);
		else
			snprintf(res, sizeof res, "%s", ST_NAME(m[i].result));
		ci_buf_printf(o, "  %-26s  %-19s  %9s  %s%-14s%s %6llu %8llu\n",
			      m[i].r->id, utc(t, m[i].start_time * 1000, 1),
			      dur(d, m[i].end_ms - m[i].start_ms),
			      COLOR(m[i].result), res, RESET, m[i].r->errors,
			      m[i].r->warnings);
	}
	if (na)
		ci_buf_printf(o, "\n%s  %-22s %5s %9s %9s %9s  %s%s\n", BOLD,
			      "STEP ACROSS RUNS", "RUNS", "MEDIAN", "LATEST",
			      "SLOWEST", "SLOWEST RUN", RESET);
	for (size_t k = 0; k < na; k++)
		ci_buf_printf(o, "  %-22s %5zu %9s %9s %9s  %s\n", a[k].name,
			      a[k].n, dur(d, median(&a[k])),
			      dur(d2, a[k].latest), dur(d3, a[k].slowest),
			      a[k].slowest_run);
	free_across(a, na);
}

void
text_write(struct ci_buf *out, const struct report *rp)
{
	color = ci_color(1);
	if (rp->n == 0)
		ci_buf_str(out, "No runs found.\n");
	else if (rp->n == 1)
		one_run(out, &rp->v[0]);
	else
		many_runs(out, rp->v, rp->n);
	if (rp->nbad) {
		ci_buf_str(out, "\n");
		report_bad(out, rp, "", "  ");
	}
}
