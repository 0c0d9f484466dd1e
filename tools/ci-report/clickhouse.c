/*
 * clickhouse.c: --format clickhouse, one JSONEachRow row per valid log
 * entry, shaped for the table ci.entries of contracts/clickhouse.sql.
 * ClickHouse 18.16 cannot insert nested objects into columns, so
 * run_start, test_execution and pipeline_run are flattened into columns of
 * their own, with a has_ flag saying whether the entry carries the object.
 * A row leaves out what its entry does not have: 18.16 fills a column left
 * out with its type's default (0, '', [] or NULL), which is what an absent
 * field reads as in the table. The key is a hash of the entry's line, so
 * that the same entry always gives the same key and shipping a log twice
 * stores every entry once.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report.h"

/* FNV-1a, 64 bits: the entry's key. */
static unsigned long long
key_of(const char *p, size_t n)
{
	unsigned long long h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void
str(struct ci_buf *b, const char *col, const char *s)
{
	ci_buf_printf(b, ",\"%s\":", col);
	ci_buf_json_string(b, s, strlen(s));
}

/* A whole number, left out when absent (< 0). */
static void
num(struct ci_buf *b, const char *col, long long v)
{
	if (v >= 0)
		ci_buf_printf(b, ",\"%s\":%lld", col, v);
}

/* A flag, left out when false. */
static void
flag(struct ci_buf *b, const char *col, int on)
{
	if (on)
		ci_buf_printf(b, ",\"%s\":1", col);
}

void
clickhouse_entry(struct ci_buf *b, const struct ci_view *v, const char *line,
		 size_t len)
{
	static const char *const levels[] = { "info", "warn", "error" };
	time_t t = (time_t)(v->ts_ms / 1000);
	struct tm tm;
	char when[32] = "1970-01-01 00:00:00";
	const struct ci_test_exec *te = v->test;
	const struct ci_pipeline *p = v->pipeline;
	const char *s;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	ci_buf_printf(b, "{\"key\":%llu", key_of(line, len));
	str(b, "run_id", v->run_id);
	str(b, "timestamp", v->timestamp);
	ci_buf_printf(b, ",\"ts_ms\":%lld,\"time\":\"%s\",\"level\":\"%s\"",
		      v->ts_ms, when, levels[v->level]);
	str(b, "message", v->message);
	str(b, "source_file", v->source_file);
	num(b, "line_number", v->line_number);
	str(b, "function_name", v->function_name);
	str(b, "step_name", v->step_name);
	num(b, "duration_ms", v->duration_ms);
	num(b, "exit_code", v->exit_code);
	flag(b, "continued", v->continued);
	if (v->start) {
		flag(b, "has_run_start", 1);
		num(b, "run_start_time", v->start->start_time);
		str(b, "run_start_profile", v->start->profile);
		str(b, "run_start_triggered_by", v->start->triggered_by);
	}
	if (te) {
		flag(b, "has_test_execution", 1);
		str(b, "test_type", te->test_type);
		num(b, "test_attempt_number", te->attempt_number);
		str(b, "test_status", te->status);
		num(b, "test_duration", te->duration);
		num(b, "test_failure_count", te->failure_count);
		num(b, "test_started_at", te->started_at);
		num(b, "test_completed_at", te->completed_at);
		flag(b, "test_run_in_parallel", te->run_in_parallel);
		flag(b, "test_fallback_to_serial", te->fallback_to_serial);
	}
	if (p) {
		flag(b, "has_pipeline_run", 1);
		num(b, "pipeline_start_time", p->start_time);
		num(b, "pipeline_end_time", p->end_time);
		num(b, "pipeline_duration", p->duration);
		num(b, "pipeline_exit_code", p->exit_code);
		str(b, "pipeline_profile", p->profile);
		str(b, "pipeline_triggered_by", p->triggered_by);
		ci_buf_str(b, ",\"pipeline_steps_completed\":[");
		s = p->steps;
		for (size_t i = 0; i < p->nsteps; i++) {
			ci_buf_str(b, i ? "," : "");
			ci_buf_json_string(b, s, strlen(s));
			s += strlen(s) + 1;
		}
		ci_buf_str(b, "]");
	}
	ci_buf_str(b, "}\n");
}
