/*
 * json.c: one line of JSON per run (contracts/report-schema.json): the
 * Pipeline Run's fields, its steps, test suites with their Test
 * Executions, and its messages.
 */
#include <string.h>

#include "report.h"

static void
jstr(struct ci_buf *b, const char *key, const char *v)
{
	ci_buf_printf(b, ",\"%s\":", key);
	if (v)
		ci_buf_json_string(b, v, strlen(v));
	else
		ci_buf_str(b, "null");
}

static void
jnum(struct ci_buf *b, const char *key, long long v, int present)
{
	if (present)
		ci_buf_printf(b, ",\"%s\":%lld", key, v);
	else
		ci_buf_printf(b, ",\"%s\":null", key);
}

static void
steps(struct ci_buf *b, const struct ci_run *r)
{
	for (size_t i = 0, k = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		int c = s->completions > 0;
		long long end = step_end(r, s);
		if (!shown_step(s->name))
			continue;
		ci_buf_str(b, k++ ? ",{\"name\":" : "{\"name\":");
		ci_buf_json_string(b, s->name, strlen(s->name));
		jstr(b, "status", ST_NAME(step_status(r, s)));
		jnum(b, "start_ms", step_start(s), 1);
		jnum(b, "end_ms", end, end >= 0);
		jnum(b, "duration_ms", s->duration_ms, c);
		jnum(b, "exit_code", s->exit_code, s->exit_code >= 0);
		jnum(b, "completions", s->completions, 1);
		ci_buf_str(b, "}");
	}
}

static void
suites(struct ci_buf *b, const struct ci_run *r)
{
	struct suite_report *su;
	size_t ns = suites_of(r, &su);

	for (size_t k = 0; k < ns; k++) {
		ci_buf_str(b, k ? ",{\"test_type\":" : "{\"test_type\":");
		ci_buf_json_string(b, su[k].type, strlen(su[k].type));
		ci_buf_printf(b,
			      ",\"status\":\"%s\",\"attempts\":%zu,"
			      "\"retries\":%zu,\"flaky\":%s,"
			      "\"fallback_to_serial\":%s,\"executions\":[",
			      ST_NAME(su[k].status), su[k].n,
			      su[k].n - su[k].parts,
			      su[k].flaky ? "true" : "false",
			      su[k].fallback ? "true" : "false");
		for (size_t j = 0; j < su[k].n; j++) {
			ci_buf_str(b, j ? "," : "");
			ci_test_exec_json(b, &su[k].a[j]->t);
		}
		ci_buf_str(b, "]}");
	}
	free_suites(su, ns);
}

static void
messages(struct ci_buf *b, const struct report *rp, const struct ci_run *r)
{
	static const char *const lv[] = { "info", "warn", "error" };
	char ts[32];

	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		ci_iso8601(
		    ts,
		    (struct timespec){ .tv_sec = g->ts_ms / 1000,
				       .tv_nsec = g->ts_ms % 1000 * 1000000 },
		    1);
		ci_buf_printf(b, "%s{\"level\":\"%s\",\"timestamp\":\"%s\"",
			      i ? "," : "", lv[g->level], ts);
		jstr(b, "step_name", g->step);
		jstr(b, "message", g->message);
		jstr(b, "source_file", g->source_file);
		jnum(b, "line_number", g->line_number, 1);
		jstr(b, "function_name", g->function_name);
		jstr(b, "file", report_file(rp, g->file));
		ci_buf_printf(b, ",\"line\":%llu}", g->line);
	}
}

static void
one_run(struct ci_buf *b, const struct report *rp, const struct run_report *m)
{
	const struct ci_run *r = m->r;

	ci_buf_printf(b, "{\"run_id\":\"%s\"", r->id);
	jnum(b, "start_time", m->start_time, 1);
	jnum(b, "end_time", m->end_time, 1);
	jnum(b, "duration", m->duration, 1);
	jnum(b, "exit_code", m->exit_code, m->exit_code >= 0);
	jstr(b, "profile", m->profile);
	jstr(b, "triggered_by", m->triggered_by);
	ci_buf_str(b, ",\"steps_completed\":[");
	for (size_t i = 0; i < m->ndone; i++) {
		ci_buf_str(b, i ? "," : "");
		ci_buf_json_string(b, m->done[i], strlen(m->done[i]));
	}
	ci_buf_printf(b, "],\"complete\":%s",
		      r->has_pipeline ? "true" : "false");
	jstr(b, "result", ST_NAME(m->result));
	ci_buf_printf(b, ",\"entries\":%llu,\"steps\":[", r->entries);
	steps(b, r);
	ci_buf_str(b, "],\"tests\":[");
	suites(b, r);
	ci_buf_printf(b,
		      "],\"error_count\":%llu,\"warning_count\":%llu,"
		      "\"messages_omitted\":%llu,\"messages\":[",
		      r->errors, r->warnings, r->omitted);
	messages(b, rp, r);
	ci_buf_str(b, "]}\n");
}

void
json_write(struct ci_buf *out, const struct report *rp)
{
	for (size_t i = 0; i < rp->n; i++)
		one_run(out, rp, &rp->v[i]);
}
