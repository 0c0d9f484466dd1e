/*
 * compare.c: two runs side by side (--compare RUN_A RUN_B): the steps and
 * suites that got slower or faster, and the test cases that newly fail,
 * still fail, were fixed, are new or were removed, as text or Markdown.
 *
 * A duration changed when it moved by more than CHANGE_RATIO either way
 * and by at least CHANGE_MS: 20 % of a 50 ms step is noise. A case's status
 * in a run is that of its suite's last attempt that has it.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define CHANGE_RATIO 1.2
#define CHANGE_MS 1000

struct side {
	const char *kind, *name;
	long long ms[2]; /* < 0: not in that run */
	int status[2]; /* cases: CI_CASE_*, or -1 */
};

struct sides {
	struct side *v;
	size_t n;
	char **own; /* names copied, freed at the end */
	size_t nown;
};

static struct side *
side_of(struct sides *s, const char *kind, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].kind, kind) == 0 &&
		    strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	if ((s->n & (s->n - 1)) == 0)
		s->v = xrealloc(s->v, (s->n ? s->n * 2 : 16) * sizeof *s->v);
	s->v[s->n] = (struct side){ kind, name, { -1, -1 }, { -1, -1 } };
	return &s->v[s->n++];
}

static const char *
own(struct sides *s, const char *name)
{
	s->own = xrealloc(s->own, (s->nown + 1) * sizeof *s->own);
	return s->own[s->nown++] = xstrdup(name);
}

static void
take(struct sides *st, struct sides *cs, const struct ci_run *r, int k)
{
	struct suite_report *su;
	size_t ns = suites_of(r, &su);
	struct ci_buf name = { 0 };

	for (size_t i = 0; i < r->nsteps; i++)
		if (shown_step(r->steps[i].name) && r->steps[i].completions)
			side_of(st, "step", r->steps[i].name)->ms[k] =
			    r->steps[i].duration_ms;
	for (size_t i = 0; i < ns; i++) {
		side_of(st, "suite", own(st, su[i].type))->ms[k] =
		    su[i].time_ms;
		for (size_t j = 0; j < su[i].n; j++) {
			const struct ci_cases *c = &su[i].a[j]->cases;
			for (size_t x = 0; x < c->n; x++) {
				struct side *d;
				name.len = 0;
				ci_case_fullname(&name, &c->v[x]);
				d = side_of(cs, su[i].type, name.s);
				if (d->name == name.s) {
					d->name = own(cs, name.s);
					d->kind = own(cs, su[i].type);
				}
				d->status[k] = c->v[x].status;
				d->ms[k] = c->v[x].duration_ms;
			}
		}
	}
	ci_buf_free(&name);
	free_suites(su, ns);
}

static int
changed(const struct side *d, int slower)
{
	long long a = d->ms[0], b = d->ms[1];

	if (a < 0 || b < 0)
		return 0;
	if (slower)
		return b - a >= CHANGE_MS &&
		    (double)b > CHANGE_RATIO * (double)a;
	return a - b >= CHANGE_MS && (double)a > CHANGE_RATIO * (double)b;
}

static void
put_name(struct ci_buf *o, int md, const char *s)
{
	struct ci_buf b = { 0 };

	if (md)
		md_text(o, s, 200);
	else
		ci_buf_str(o, flat(&b, s, 200));
	ci_buf_free(&b);
}

static void
durations(struct ci_buf *o, int md, const struct sides *st, int slower)
{
	char a[32], b[32];
	int any = 0;

	for (size_t i = 0; i < st->n; i++) {
		const struct side *d = &st->v[i];
		if (!changed(d, slower))
			continue;
		if (!any++)
			ci_buf_printf(o, md ? "\n**%s**\n\n" : "\n%s\n",
				      slower ? "Slower" : "Faster");
		ci_buf_str(o, md ? "- " : "  ");
		ci_buf_printf(o, "%s ", d->kind);
		put_name(o, md, d->name);
		ci_buf_printf(o, ": %s -> %s (%+.0f%%)\n", dur(a, d->ms[0]),
			      dur(b, d->ms[1]),
			      100.0 * (double)(d->ms[1] - d->ms[0]) /
				  (double)(d->ms[0] > 0 ? d->ms[0] : 1));
	}
}

enum { NEWLY, STILL, FIXED, ADDED, REMOVED };

static int
case_change(const struct side *d)
{
	int a = d->status[0], b = d->status[1];

	if (a < 0)
		return ADDED;
	if (b < 0)
		return REMOVED;
	if (b == CI_CASE_FAILED)
		return a == CI_CASE_FAILED ? STILL : NEWLY;
	return a == CI_CASE_FAILED ? FIXED : -1;
}

void
compare_write(struct ci_buf *o, const struct report *rp)
{
	static const char *const titles[] = {
		"Newly failing", "Still failing", "Fixed",
		"New tests",     "Removed tests",
	};
	struct sides st = { 0 }, cs = { 0 };
	int md = strcmp(rp->style, "markdown") == 0;

	if (rp->n != 2)
		return;
	for (int k = 0; k < 2; k++)
		take(&st, &cs, rp->v[k].r, k);
	ci_buf_printf(o, md ? "## %s vs %s\n" : "Compare %s with %s\n",
		      rp->v[0].r->id, rp->v[1].r->id);
	ci_buf_printf(o,
		      md ? "\n_A duration changed when it moved by more than "
			   "%.0f%% and at least %s_\n"
			 : "  a duration changed when it moved by more than "
			   "%.0f%% and at least %s\n",
		      (CHANGE_RATIO - 1) * 100, "1s");
	durations(o, md, &st, 1);
	durations(o, md, &st, 0);
	for (int t = NEWLY; t <= REMOVED; t++) {
		int any = 0;
		for (size_t i = 0; i < cs.n; i++) {
			const struct side *d = &cs.v[i];
			if (case_change(d) != t)
				continue;
			if (!any++)
				ci_buf_printf(o, md ? "\n**%s**\n\n" : "\n%s\n",
					      titles[t]);
			ci_buf_str(o, md ? "- " : "  ");
			put_name(o, md, d->kind);
			ci_buf_str(o, ": ");
			put_name(o, md, d->name);
			ci_buf_str(o, "\n");
		}
	}
	for (size_t i = 0; i < st.nown; i++)
		free(st.own[i]);
	for (size_t i = 0; i < cs.nown; i++)
		free(cs.own[i]);
	free(st.own);
	free(cs.own);
	free(st.v);
	free(cs.v);
}
