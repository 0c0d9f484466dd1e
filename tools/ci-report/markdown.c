/*
 * markdown.c: Markdown for $GITHUB_STEP_SUMMARY, which GitHub drops past
 * 1 MiB: every item goes in whole or not at all, under a budget that
 * leaves room for the note saying what was left out. A run has its result,
 * tables of steps and test attempts, its messages as file:line (linked to
 * the commit's file in a GitHub Actions job) and a Mermaid gantt chart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report.h"

#define MD_LIMIT 1000000
#define GANTT_MAX 40000 /* Mermaid refuses diagrams over 50,000 chars */

struct md {
	struct ci_buf *out; /* the summary */
	struct ci_buf item; /* the item being written */
	unsigned long long dropped;
};

static int
md_put(struct md *d, struct ci_buf *b)
{
	if (d->out->len + b->len + 1024 > MD_LIMIT) {
		d->dropped++;
		b->len = 0;
		return 0;
	}
	ci_buf_add(d->out, b->s, b->len);
	b->len = 0;
	return 1;
}

/* Text safe inside a Markdown paragraph or table cell. */
void
md_text(struct ci_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		n = ci_utf8_boundary(s, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			ci_buf_add(b, " ", 1);
		else if (c == '<')
			ci_buf_str(b, "&lt;");
		else if (c == '>')
			ci_buf_str(b, "&gt;");
		else if (c == '&')
			ci_buf_str(b, "&amp;");
		else if (strchr("\\`*_[]|~", c)) {
			ci_buf_add(b, "\\", 1);
			ci_buf_add(b, s + i, 1);
		} else
			ci_buf_add(b, s + i, 1);
	}
	if (n < strlen(s))
		ci_buf_str(b, "...");
}

/*
 * Whether file is a path of the repository: not absolute, not above it,
 * and not the name of the tool that wrote an entry for want of a file.
 */
static int
in_repository(const char *file)
{
	static const char *const tools[] = { "ci-deploy", "ci-log",
					     "ci-report", "ci-runid",
					     "ci-step",   "ci-testpar" };

	if (file[0] == '/' || !strncmp(file, "../", 3))
		return 0;
	for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
		if (!strcmp(file, tools[i]))
			return 0;
	return 1;
}

/* file:line, linked to the commit's file on GitHub when the job says so. */
static void
md_location(struct ci_buf *b, const char *file, long long line, int link)
{
	const char *srv = getenv("GITHUB_SERVER_URL");
	const char *repo = getenv("GITHUB_REPOSITORY");
	const char *sha = getenv("GITHUB_SHA");

	if (link && srv && *srv && repo && *repo && sha && *sha &&
	    in_repository(file)) {
		ci_buf_add(b, "[", 1);
		md_text(b, file, 200);
		ci_buf_printf(b, ":%lld](%s/%s/blob/%s/", line, srv, repo, sha);
		for (const char *p = file; *p; p++)
			if (strchr(
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
				"uvwxyz0123456789-._~/",
				*p))
				ci_buf_add(b, p, 1);
			else
				ci_buf_printf(b, "%%%02X", (unsigned char)*p);
		ci_buf_printf(b, "#L%lld)", line);
		return;
	}
	ci_buf_add(b, "`", 1);
	for (const char *p = file; *p && p - file < 200; p++)
		ci_buf_add(b, *p == '`' || (unsigned char)*p < 0x20 ? "'" : p,
			   1);
	ci_buf_printf(b, ":%lld`", line);
}

#define ICON(st) (status_look[st].icon)

/* A Mermaid task name: no ':', '#' or ';', and not a gantt keyword. */
static void
gantt_name(struct ci_buf *b, const char *s)
{
	static const char *const kw[] = {
		"title",    "section",  "dateformat",  "axisformat",
		"excludes", "includes", "todaymarker", "tickinterval",
		"weekday",  "click",    "acc",         NULL
	};

	for (int i = 0; kw[i]; i++)
		if (strncasecmp(s, kw[i], strlen(kw[i])) == 0) {
			ci_buf_add(b, "_", 1);
			break;
		}
	for (int i = 0; s[i] && i < 60; i++)
		ci_buf_add(b,
			   strchr(":#;%`\"<>{}", s[i]) ||
				   (unsigned char)s[i] < 0x20
			       ? "_"
			       : s + i,
			   1);
}

static void
gantt_task(struct ci_buf *g, const char *name, enum status st, long long s,
	   long long e, int *ntasks)
{
	if (e < s)
		e = s;
	ci_buf_str(g, "    ");
	gantt_name(g, name);
	ci_buf_printf(g, " :%s%lld, %lld\n", status_look[st].gantt, s, e);
	(*ntasks)++;
}

static void
gantt(struct md *d, const struct run_report *m, const struct suite_report *su,
      size_t ns)
{
	const struct ci_run *r = m->r;
	struct ci_buf g = { 0 };
	int ntasks = 0, cut = 0;
	char lb[64];

	ci_buf_printf(&g,
		      "\n```mermaid\ngantt\n    title %s\n    dateFormat x\n"
		      "    axisFormat %s\n    section Steps\n",
		      r->id,
		      m->end_ms - m->start_ms < 3600000 ? "%M:%S" : "%H:%M");
	for (size_t i = 0; i < r->nsteps && !cut; i++) {
		const struct ci_step *s = &r->steps[i];
		if (!shown_step(s->name))
			continue;
		gantt_task(&g, s->name, step_status(r, s), step_start(s),
			   step_end(r, s) >= 0 ? step_end(r, s) : m->end_ms,
			   &ntasks);
		cut = g.len > GANTT_MAX;
	}
	if (ns && !cut)
		ci_buf_str(&g, "    section Test attempts\n");
	for (size_t k = 0; k < ns && !cut; k++)
		for (size_t j = 0; j < su[k].n && !cut; j++) {
			const struct ci_attempt *a = su[k].a[j];
			snprintf(lb, sizeof lb, "%s attempt %lld", su[k].type,
				 a->t.attempt_number);
			gantt_task(&g, lb, status_of(a->t.status), a->start_ms,
				   a->end_ms, &ntasks);
			cut = g.len > GANTT_MAX;
		}
	ci_buf_str(&g, "```\n");
	if (cut)
		ci_buf_str(&g,
			   "\n_The timeline shows the first tasks only: "
			   "Mermaid draws at most 50,000 characters._\n");
	if (ntasks)
		md_put(d, &g);
	ci_buf_free(&g);
}

static void
steps(struct md *d, const struct ci_run *r)
{
	struct ci_buf *it = &d->item;
	char t[32];

	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		enum status st = step_status(r, s);
		if (!shown_step(s->name))
			continue;
		ci_buf_str(it, "| ");
		md_text(it, s->name, 64);
		ci_buf_printf(it, " | %s %s | %s | ", ICON(st), ST_NAME(st),
			      dur(t, s->completions ? s->duration_ms : -1));
		if (s->exit_code >= 0)
			ci_buf_printf(it, "%d", s->exit_code);
		ci_buf_str(it, " |\n");
		md_put(d, it);
	}
}

static void
md_name(struct ci_buf *b, const char *name)
{
	md_text(b, name, 200);
}

static void
attempts(struct md *d, const struct suite_report *su, size_t ns)
{
	struct ci_buf *it = &d->item, names = { 0 };
	char t[32], m[48];
	int first = 0;

	if (ns) {
		ci_buf_str(it,
			   "\n| Test suite | Attempt | Status | Failures | "
			   "Duration | Mode |\n|---|---:|---|---:|---:|---|\n");
		md_put(d, it);
	}
	for (size_t k = 0; k < ns; k++)
		for (size_t j = 0; j < su[k].n; j++) {
			const struct ci_attempt *a = su[k].a[j];
			enum status st = status_of(a->t.status);
			ci_buf_printf(
			    it, "| %s | %lld | %s %s%s | %lld | %s | %s |\n",
			    su[k].type, a->t.attempt_number, ICON(st),
			    ST_NAME(st),
			    j + 1 == su[k].n && su[k].flaky ? " (flaky)" : "",
			    a->t.failure_count, dur(t, a->end_ms - a->start_ms),
			    attempt_mode(m, &a->t));
			md_put(d, it);
		}
	for (size_t k = 0; k < ns; k++)
		for (size_t j = 0; j < su[k].n; j++) {
			const struct ci_attempt *a = su[k].a[j];
			names.len = 0;
			if (status_of(a->t.status) != ST_FAILED ||
			    failing_cases(&names, a, md_name) == 0)
				continue;
			ci_buf_printf(it, "%s- %s attempt %lld failing: %s\n",
				      first++ ? "" : "\n**Failing tests**\n\n",
				      su[k].type, a->t.attempt_number, names.s);
			md_put(d, it);
		}
	ci_buf_free(&names);
}

static void
messages(struct md *d, const struct ci_run *r)
{
	static const char *const icon[] = { "ℹ️", "⚠️", "❌" };
	struct ci_buf *it = &d->item;

	if (r->nmsgs) {
		ci_buf_printf(it, "\n**%llu error%s, %llu warning%s**\n\n",
			      r->errors, r->errors == 1 ? "" : "s", r->warnings,
			      r->warnings == 1 ? "" : "s");
		md_put(d, it);
	}
	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		ci_buf_printf(it, "- %s ", icon[g->level]);
		md_location(it, g->source_file, g->line_number, 1);
		ci_buf_str(it, " (");
		md_text(it, g->function_name, 64);
		ci_buf_str(it, ") **");
		md_text(it, g->step, 64);
		ci_buf_str(it, "**: ");
		md_text(it, g->message, 300);
		ci_buf_str(it, "\n");
		md_put(d, it);
	}
	if (r->omitted) {
		ci_buf_printf(it, "- ... and %llu more\n", r->omitted);
		md_put(d, it);
	}
}

static void
one_run(struct md *d, const struct run_report *m, const char *h)
{
	const struct ci_run *r = m->r;
	struct ci_buf *it = &d->item;
	struct suite_report *su;
	size_t ns = suites_of(r, &su);
	char t[32];

	ci_buf_printf(it, "%s %s %s %s", h, ICON(m->result), r->id,
		      ST_NAME(m->result));
	if (m->exit_code >= 0)
		ci_buf_printf(it, " (exit %d) in %s\n\n", m->exit_code,
			      dur(t, m->end_ms - m->start_ms));
	else
		ci_buf_printf(it, ": no complete entry, seen for %s\n\n",
			      dur(t, m->end_ms - m->start_ms));
	ci_buf_printf(it, "Started %s UTC", utc(t, m->start_time * 1000, 1));
	if (m->profile)
		ci_buf_printf(it, ", profile `%s`, triggered by `%s`",
			      m->profile, m->triggered_by);
	ci_buf_printf(it, "; %zu steps completed", m->ndone);
	for (size_t i = 0; i < m->ndone; i++) {
		ci_buf_str(it, i ? " → " : ": ");
		md_text(it, m->done[i], 64);
	}
	ci_buf_str(it,
		   ".\n\n| Step | Status | Duration | Exit code |\n"
		   "|---|---|---:|---:|\n");
	md_put(d, it);
	steps(d, r);
	attempts(d, su, ns);
	messages(d, r);
	gantt(d, m, su, ns);
	free_suites(su, ns);
}

static void
many_runs(struct md *d, const struct run_report *m, size_t n)
{
	struct ci_buf *it = &d->item;
	struct step_across *a;
	size_t na = steps_across(m, n, &a), res[3] = { 0 };
	char t[32], t2[32], t3[32];

	for (size_t i = 0; i < n; i++)
		res[m[i].result == ST_PASSED       ? 0
			: m[i].result == ST_FAILED ? 1
						   : 2]++;
	ci_buf_printf(it,
		      "## %s %zu runs: %zu passed, %zu failed, %zu "
		      "incomplete\n\n| Run | Started (UTC) | Duration | Result "
		      "| Errors | Warnings |\n|---|---|---:|---|---:|---:|\n",
		      ICON(res[1]       ? ST_FAILED
			       : res[2] ? ST_INCOMPLETE
					: ST_PASSED),
		      n, res[0], res[1], res[2]);
	md_put(d, it);
	for (size_t i = 0; i < n; i++) {
		ci_buf_printf(it, "| %s | %s | %s | %s %s", m[i].r->id,
			      utc(t, m[i].start_time * 1000, 1),
			      dur(t2, m[i].end_ms - m[i].start_ms),
			      ICON(m[i].result), ST_NAME(m[i].result));
		if (m[i].exit_code > 0)
			ci_buf_printf(it, " (exit %d)", m[i].exit_code);
		ci_buf_printf(it, " | %llu | %llu |\n", m[i].r->errors,
			      m[i].r->warnings);
		md_put(d, it);
	}
	if (na) {
		ci_buf_str(it,
			   "\n| Step | Runs | Median | Latest | Slowest "
			   "| Slowest run |\n|---|---:|---:|---:|---:|"
			   "---|\n");
		md_put(d, it);
	}
	for (size_t k = 0; k < na; k++) {
		ci_buf_str(it, "| ");
		md_text(it, a[k].name, 64);
		ci_buf_printf(it, " | %zu | %s | %s | %s | %s |\n", a[k].n,
			      dur(t, median(&a[k])), dur(t2, a[k].latest),
			      dur(t3, a[k].slowest), a[k].slowest_run);
		md_put(d, it);
	}
	free_across(a, na);
	for (size_t i = n; i-- > 0;) {
		ci_buf_str(it, "\n");
		md_put(d, it);
		one_run(d, &m[i], "###");
	}
}

static void
bad_lines(struct md *d, const struct report *rp)
{
	struct ci_buf *it = &d->item;

	ci_buf_printf(it,
		      "\n> ⚠️ **%llu malformed line%s** in the input "
		      "(not valid log entries; skipped):\n",
		      rp->nbad, rp->nbad == 1 ? "" : "s");
	for (unsigned long long i = 0; i < rp->nbad && i < BAD_SHOWN; i++) {
		ci_buf_str(it, "> - ");
		md_location(it, report_file(rp, rp->bad[i].file),
			    (long long)rp->bad[i].line, 0);
		ci_buf_str(it, ": ");
		md_text(it, rp->bad[i].why, 200);
		ci_buf_str(it, "\n");
	}
	md_put(d, it);
}

void
markdown_write(struct ci_buf *out, const struct report *rp)
{
	struct md d = { .out = out };

	if (rp->n == 0) {
		ci_buf_str(&d.item, "## No runs found\n");
		md_put(&d, &d.item);
	} else if (rp->n == 1)
		one_run(&d, &rp->v[0], "##");
	else
		many_runs(&d, rp->v, rp->n);
	if (rp->nbad)
		bad_lines(&d, rp);
	if (d.dropped)
		ci_buf_printf(
		    out,
		    "\n> ✂️ **Truncated**: %llu more item%s left out "
		    "to stay under GitHub's 1 MiB step summary "
		    "limit. Run `ci-report` on the log for the whole "
		    "report.\n",
		    d.dropped, d.dropped == 1 ? "" : "s");
	ci_buf_free(&d.item);
}
