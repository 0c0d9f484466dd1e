/*
 * trends.c: health across runs (--trends). Per step and per test suite:
 * the runs it was seen in, its failure and flaky rates, the p50 and p95 of
 * its duration, and a regression flag for the latest run; per test case:
 * the flakiest, the slowest, and those that failed in the latest run, each
 * a new failure, already failing, or flaky. As text, Markdown or one JSON
 * object (contracts/report-schema.json's trends).
 *
 * The rules. Runs are taken oldest first; the latest is the last. A step
 * failed in a run when none of its completions succeeded, and was flaky
 * when one failed and a later one succeeded; a suite failed when its last
 * attempt failed, and was flaky when an attempt failed and the last passed;
 * a case likewise over the attempts of its suite. Percentiles are nearest
 * rank. The latest run's duration is a regression when at least
 * REG_MIN_RUNS earlier runs have one and it is above both their p95 and
 * REG_RATIO times their median: the p95 alone flags one run in twenty by
 * chance. A case that failed in the latest run is a new failure when it
 * never failed (on any attempt) in an earlier run, already failing when it
 * failed in the last earlier run that had it, and flaky otherwise.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define REG_MIN_RUNS 5
#define REG_RATIO 1.2
#define TOP 10

struct series {
	char *kind, *name; /* "step", "suite" or a case's suite; its name */
	size_t seen, failed, flaky;
	long long *ms; /* one per run seen, oldest first */
	size_t nms;
	int latest_seen; /* in the latest run */
	/* Cases: what the runs before the latest said, and the latest. */
	int ever_failed, last_failed, latest_failed;
	size_t mark, cri; /* take_cases: the call that saw it; its index */
};

struct table {
	struct series *v;
	size_t n, cap;
	size_t *slot, nslot;
};

static size_t
hash2(const char *a, const char *b)
{
	size_t h = 5381;

	while (*a)
		h = h * 33 + (unsigned char)*a++;
	h = h * 33 + 1;
	while (*b)
		h = h * 33 + (unsigned char)*b++;
	return h;
}

static struct series *
series_of(struct table *t, const char *kind, const char *name)
{
	size_t i;

	if ((t->n + 1) * 2 > t->nslot) {
		free(t->slot);
		t->nslot = t->nslot ? t->nslot * 2 : 256;
		t->slot = calloc(t->nslot, sizeof *t->slot);
		if (!t->slot)
			ci_die(1, "out of memory");
		for (size_t j = 0; j < t->n; j++) {
			i = hash2(t->v[j].kind, t->v[j].name) & (t->nslot - 1);
			while (t->slot[i])
				i = (i + 1) & (t->nslot - 1);
			t->slot[i] = j + 1;
		}
	}
	for (i = hash2(kind, name) & (t->nslot - 1); t->slot[i];
	     i = (i + 1) & (t->nslot - 1)) {
		struct series *s = &t->v[t->slot[i] - 1];
		if (strcmp(s->kind, kind) == 0 && strcmp(s->name, name) == 0)
			return s;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xrealloc(t->v, t->cap * sizeof *t->v);
	}
	memset(&t->v[t->n], 0, sizeof t->v[t->n]);
	t->v[t->n].kind = xstrdup(kind);
	t->v[t->n].name = xstrdup(name);
	t->slot[i] = ++t->n;
	return &t->v[t->n - 1];
}

static void
add_ms(struct series *s, long long ms)
{
	if ((s->nms & (s->nms - 1)) == 0)
		s->ms =
		    xrealloc(s->ms, (s->nms ? s->nms * 2 : 4) * sizeof *s->ms);
	s->ms[s->nms++] = ms < 0 ? 0 : ms;
}

static void
add_run(struct series *s, int failed, int flaky, long long ms, int latest)
{
	s->seen++;
	s->failed += failed;
	s->flaky += flaky;
	if (ms >= 0)
		add_ms(s, ms);
	s->latest_seen = latest;
}

static int
by_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile q (0 to 1) of v[0..n), n > 0, sorted. */
static long long
rank(const long long *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	return v[k ? k - 1 : 0];
}

struct stats {
	long long p50, p95, latest;
	int regression, has;
};

/* Percentiles of every run; the regression rule on the latest. */
static struct stats
stats_of(const struct series *s)
{
	struct stats st = { 0 };
	long long *v;
	size_t n = s->nms;

	if (n == 0)
		return st;
	st.has = 1;
	v = xmalloc(n * sizeof *v);
	memcpy(v, s->ms, n * sizeof *v);
	qsort(v, n, sizeof *v, by_ll);
	st.p50 = rank(v, n, 0.5);
	st.p95 = rank(v, n, 0.95);
	if (s->latest_seen) {
		st.latest = s->ms[n - 1];
		if (n - 1 >= REG_MIN_RUNS) {
			memcpy(v, s->ms, (n - 1) * sizeof *v);
			qsort(v, n - 1, sizeof *v, by_ll);
			st.regression = st.latest > rank(v, n - 1, 0.95) &&
			    (double)st.latest >
				REG_RATIO * (double)rank(v, n - 1, 0.5);
		}
	}
	free(v);
	return st;
}

/* A case's run: failed on any attempt, its last status, its last time. */
struct case_run {
	size_t s; /* index in the table, which grows under it */
	int any_failed, last_status;
	long long ms;
};

static void
take_cases(struct table *t, const struct suite_report *su, int latest)
{
	static size_t stamp;
	struct ci_buf name = { 0 };
	struct case_run *cr = NULL;
	size_t ncr = 0;

	stamp++;
	for (size_t j = 0; j < su->n; j++) {
		const struct ci_cases *c = &su->a[j]->cases;
		for (size_t i = 0; i < c->n; i++) {
			struct series *s;
			size_t k;
			name.len = 0;
			ci_case_fullname(&name, &c->v[i]);
			s = series_of(t, su->type, name.s);
			k = s->mark == stamp ? s->cri : ncr;
			if (k == ncr) {
				s->mark = stamp;
				s->cri = k;
				if ((ncr & (ncr - 1)) == 0)
					cr = xrealloc(cr,
						      (ncr ? ncr * 2 : 8) *
							  sizeof *cr);
				memset(&cr[ncr++], 0, sizeof *cr);
				cr[k].s = (size_t)(s - t->v);
			}
			cr[k].any_failed |= c->v[i].status == CI_CASE_FAILED;
			cr[k].last_status = c->v[i].status;
			cr[k].ms = c->v[i].duration_ms;
		}
	}
	for (size_t k = 0; k < ncr; k++) {
		struct series *s = &t->v[cr[k].s];
		int failed = cr[k].last_status == CI_CASE_FAILED;
		if (latest)
			s->latest_failed = failed;
		add_run(s, failed, cr[k].any_failed && !failed, cr[k].ms,
			latest);
		if (!latest) {
			s->ever_failed |= cr[k].any_failed;
			s->last_failed = failed;
		}
	}
	free(cr);
	ci_buf_free(&name);
}

static void
collect(struct table *steps, struct table *suites, struct table *cases,
	const struct report *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		const struct ci_run *r = rp->v[i].r;
		struct suite_report *su;
		size_t ns = suites_of(r, &su);
		int latest = i + 1 == rp->n;

		for (size_t k = 0; k < r->nsteps; k++) {
			const struct ci_step *st = &r->steps[k];
			if (!shown_step(st->name) || st->completions == 0)
				continue;
			add_run(series_of(steps, "step", st->name), !st->ok,
				st->ok && st->failures > 0, st->duration_ms,
				latest);
		}
		for (size_t k = 0; k < ns; k++) {
			add_run(series_of(suites, "suite", su[k].type),
				su[k].status == ST_FAILED, su[k].flaky,
				su[k].time_ms, latest);
			take_cases(cases, &su[k], latest);
		}
		free_suites(su, ns);
	}
}

static double
pct(size_t a, size_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0;
}

static const char *
latest_kind(const struct series *s)
{
	return !s->ever_failed ? "new failure"
	    : s->last_failed   ? "already failing"
			       : "flaky";
}

/* Indexes of the cases to show, best first, at most TOP. */
static const struct table *sort_t;
static int
by_flaky(const void *a, const void *b)
{
	const struct series *x = &sort_t->v[*(const size_t *)a];
	const struct series *y = &sort_t->v[*(const size_t *)b];
	double fx = pct(x->flaky, x->seen), fy = pct(y->flaky, y->seen);

	if (fx != fy)
		return fx > fy ? -1 : 1;
	if (x->flaky != y->flaky)
		return x->flaky > y->flaky ? -1 : 1;
	return strcmp(x->name, y->name);
}

static long long
median_ms(const struct series *s)
{
	return stats_of(s).p50;
}

static int
by_slow(const void *a, const void *b)
{
	const struct series *x = &sort_t->v[*(const size_t *)a];
	const struct series *y = &sort_t->v[*(const size_t *)b];
	long long mx = median_ms(x), my = median_ms(y);

	if (mx != my)
		return mx > my ? -1 : 1;
	return strcmp(x->name, y->name);
}

static size_t
pick(const struct table *t, size_t *idx, int (*cmp)(const void *, const void *),
     int (*keep)(const struct series *))
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		if (keep(&t->v[i]))
			idx[n++] = i;
	sort_t = t;
	qsort(idx, n, sizeof *idx, cmp);
	return n;
}

static int
is_flaky(const struct series *s)
{
	return s->flaky > 0;
}

static int
has_time(const struct series *s)
{
	return s->nms > 0;
}

static int
failed_latest(const struct series *s)
{
	return s->latest_seen && s->latest_failed;
}

enum style { TEXT, MARKDOWN, JSON };

/* A name as the style shows it (valid until the next call). */
static const char *
show(const char *name, enum style y)
{
	static struct ci_buf b;

	b.len = 0;
	if (y == MARKDOWN)
		md_text(&b, name, 200);
	else
		flat(&b, name, 200);
	ci_buf_add(&b, "", 1);
	return b.s;
}

static void
series_line(struct ci_buf *o, enum style y, const struct series *s)
{
	struct stats st = stats_of(s);
	char a[32], b[32], c[32];

	if (y == JSON) {
		ci_buf_str(o, "{\"name\":");
		ci_buf_json_string(o, s->name, strlen(s->name));
		ci_buf_printf(o,
			      ",\"runs\":%zu,\"failed\":%zu,\"flaky\":%zu,"
			      "\"failure_rate\":%.4f,\"flaky_rate\":%.4f",
			      s->seen, s->failed, s->flaky,
			      s->seen ? (double)s->failed / (double)s->seen : 0,
			      s->seen ? (double)s->flaky / (double)s->seen : 0);
		if (st.has)
			ci_buf_printf(o, ",\"p50_ms\":%lld,\"p95_ms\":%lld",
				      st.p50, st.p95);
		if (st.has && s->latest_seen)
			ci_buf_printf(o, ",\"latest_ms\":%lld", st.latest);
		ci_buf_printf(o, ",\"regression\":%s}",
			      st.regression ? "true" : "false");
		return;
	}
	dur(a, st.p50);
	dur(b, st.p95);
	if (s->latest_seen && st.has)
		dur(c, st.latest);
	else
		strcpy(c, "-");
	ci_buf_printf(
	    o,
	    y == TEXT ? "  %-24s %5zu %7.1f%% %6.1f%% %8s %8s %8s%s\n"
		      : "| %s | %zu | %.1f%% | %.1f%% | %s | %s | %s "
			"|%s |\n",
	    show(s->name, y), s->seen, pct(s->failed, s->seen),
	    pct(s->flaky, s->seen), st.has ? a : "-", st.has ? b : "-", c,
	    st.regression ? (y == TEXT ? "  regression" : " ⚠️ regression")
			  : "");
}

static void
section(struct ci_buf *o, enum style y, const char *title,
	const struct table *t)
{
	if (y == JSON) {
		ci_buf_printf(o, ",\"%s\":[", title);
		for (size_t i = 0; i < t->n; i++) {
			ci_buf_str(o, i ? "," : "");
			series_line(o, y, &t->v[i]);
		}
		ci_buf_str(o, "]");
		return;
	}
	if (y == TEXT)
		ci_buf_printf(o, "\n  %-24s %5s %8s %7s %8s %8s %8s\n",
			      strcmp(title, "steps") == 0 ? "STEP" : "SUITE",
			      "RUNS", "FAILED", "FLAKY", "P50", "P95",
			      "LATEST");
	else
		ci_buf_printf(o,
			      "\n| %s | Runs | Failed | Flaky | p50 | p95 | "
			      "Latest | |\n|---|---:|---:|---:|---:|---:|---:|"
			      "---|\n",
			      strcmp(title, "steps") == 0 ? "Step" : "Suite");
	for (size_t i = 0; i < t->n; i++)
		series_line(o, y, &t->v[i]);
}

static void
case_item(struct ci_buf *o, enum style y, const struct series *s,
	  const char *what, int first)
{
	struct stats st = stats_of(s);
	char d[32];

	if (y == JSON) {
		ci_buf_str(o, first ? "{\"suite\":" : ",{\"suite\":");
		ci_buf_json_string(o, s->kind, strlen(s->kind));
		ci_buf_str(o, ",\"name\":");
		ci_buf_json_string(o, s->name, strlen(s->name));
		ci_buf_printf(o, ",\"runs\":%zu,\"failed\":%zu,\"flaky\":%zu",
			      s->seen, s->failed, s->flaky);
		if (st.has)
			ci_buf_printf(o, ",\"p50_ms\":%lld", st.p50);
		if (what)
			ci_buf_printf(o, ",\"kind\":\"%s\"", what);
		ci_buf_str(o, "}");
		return;
	}
	ci_buf_printf(o, y == TEXT ? "  %-8s " : "- %s: ", show(s->kind, y));
	ci_buf_printf(o, "%s: ", show(s->name, y));
	if (what)
		ci_buf_printf(o, "%s\n", what);
	else
		ci_buf_printf(o,
			      "flaky in %zu of %zu runs (%.1f%%), failed in "
			      "%zu, p50 %s\n",
			      s->flaky, s->seen, pct(s->flaky, s->seen),
			      s->failed, st.has ? dur(d, st.p50) : "-");
}

static void
case_section(struct ci_buf *o, enum style y, const char *key, const char *title,
	     const struct table *t, const size_t *idx, size_t n, int latest)
{
	if (y == JSON)
		ci_buf_printf(o, ",\"%s\":[", key);
	else if (n)
		ci_buf_printf(o, y == TEXT ? "\n%s\n" : "\n**%s**\n\n", title);
	for (size_t i = 0; i < n; i++)
		case_item(o, y, &t->v[idx[i]],
			  latest ? latest_kind(&t->v[idx[i]]) : NULL, i == 0);
	if (y == JSON)
		ci_buf_str(o, "]");
}

static void
trends(struct ci_buf *o, const struct report *rp, enum style y)
{
	struct table steps = { 0 }, suites = { 0 }, cases = { 0 };
	size_t *idx, n;
	const char *first = rp->n ? rp->v[0].r->id : "",
		   *last = rp->n ? rp->v[rp->n - 1].r->id : "";

	collect(&steps, &suites, &cases, rp);
	idx = xmalloc((cases.n + 1) * sizeof *idx);
	if (y == JSON)
		ci_buf_printf(o,
			      "{\"trends\":{\"runs\":%zu,\"first_run\":%s%s%s,"
			      "\"latest_run\":%s%s%s,\"regression_rule\":"
			      "{\"min_earlier_runs\":%d,\"above_p95\":true,"
			      "\"above_median_ratio\":%.1f}",
			      rp->n, rp->n ? "\"" : "", rp->n ? first : "null",
			      rp->n ? "\"" : "", rp->n ? "\"" : "",
			      rp->n ? last : "null", rp->n ? "\"" : "",
			      REG_MIN_RUNS, REG_RATIO);
	else
		ci_buf_printf(o,
			      y == TEXT ? "Trends over %zu runs, %s to %s\n"
					: "## Trends over %zu runs\n\n%s to "
					  "%s\n",
			      rp->n, first, last);
	section(o, y, "steps", &steps);
	section(o, y, "suites", &suites);
	if (y != JSON)
		ci_buf_printf(o,
			      "%sregression: the latest run took longer than "
			      "the p95 of at least %d earlier runs and %.1fx "
			      "their median%s\n",
			      y == TEXT ? "\n  " : "\n_", REG_MIN_RUNS,
			      REG_RATIO, y == TEXT ? "" : "_");
	n = pick(&cases, idx, by_flaky, is_flaky);
	case_section(o, y, "flakiest_cases", "Flakiest tests", &cases, idx,
		     n < TOP ? n : TOP, 0);
	n = pick(&cases, idx, by_slow, has_time);
	case_section(o, y, "slowest_cases", "Slowest tests (by p50)", &cases,
		     idx, n < TOP ? n : TOP, 0);
	n = pick(&cases, idx, by_slow, failed_latest);
	case_section(o, y, "failed_in_latest", "Failed in the latest run",
		     &cases, idx, n, 1);
	if (y == JSON)
		ci_buf_str(o, "}}\n");
	free(idx);
	for (struct table *t = &steps; t; t = t == &steps ? &suites
		 : t == &suites                           ? &cases
							  : NULL) {
		for (size_t i = 0; i < t->n; i++) {
			free(t->v[i].kind);
			free(t->v[i].name);
			free(t->v[i].ms);
		}
		free(t->v);
		free(t->slot);
	}
}

void
trends_write(struct ci_buf *out, const struct report *rp)
{
	trends(out, rp,
	       strcmp(rp->style, "json") == 0           ? JSON
		   : strcmp(rp->style, "markdown") == 0 ? MARKDOWN
							: TEXT);
}
