/*
 * clickhouse.c: --format clickhouse, one JSONEachRow row per valid log
 * entry, shaped for the table ci.entries of contracts/clickhouse.sql.
 * ClickHouse 18.16 cannot insert nested objects into columns, so
 * run_start, test_execution and pipeline_run are flattened into columns of
 * their own, with a has_ flag saying whether the entry carries the object,
 * and an attempt's test cases into one array column per field of a case.
 * A row leaves out what its entry does not have: 18.16 fills a column left
 * out with its type's default (0, '', [] or NULL), which is what an absent
 * field reads as in the table. The key is a hash of the entry's line, so
 * that the same entry always gives the same key and shipping a log twice
 * stores every entry once. Rows are built without printf: this runs once
 * per entry of logs of many gigabytes.
 */
#include <string.h>

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

/* ,"col": — col a string literal. */
#define COL(b, col) ci_buf_add((b), ",\"" col "\":", sizeof(col) + 3)

static void
digits(struct ci_buf *b, unsigned long long v)
{
	char d[24];
	size_t i = sizeof d;

	do
		d[--i] = (char)('0' + v % 10);
	while (v /= 10);
	ci_buf_add(b, d + i, sizeof d - i);
}

static void
str_col(struct ci_buf *b, const char *col, size_t n, const char *s)
{
	ci_buf_add(b, col, n);
	ci_buf_json_string(b, s, strlen(s));
}
#define STR(b, col, s) str_col((b), ",\"" col "\":", sizeof(col) + 3, (s))

/* A whole number, left out when absent (< 0). */
static void
num_col(struct ci_buf *b, const char *col, size_t n, long long v)
{
	if (v < 0)
		return;
	ci_buf_add(b, col, n);
	digits(b, (unsigned long long)v);
}
#define NUM(b, col, v) num_col((b), ",\"" col "\":", sizeof(col) + 3, (v))

/* A flag, left out when false. */
#define FLAG(b, col, on)                                                       \
	do {                                                                   \
		if (on)                                                        \
			ci_buf_add((b), ",\"" col "\":1", sizeof(col) + 4);    \
	} while (0)

/*
 * An attempt's cases, one array per field, the i-th element of each the
 * i-th case: what ARRAY JOIN turns back into one row per case.
 */
static void
cases_cols(struct ci_buf *b, const struct ci_cases *c)
{
	static const char *const field[] = { "case_name", "case_classname",
					     "case_status", "case_duration_ms",
					     "case_message" };

	NUM(b, "test_cases_omitted", c->omitted);
	for (int f = 0; f < 5; f++) {
		ci_buf_add(b, ",\"", 2);
		ci_buf_str(b, field[f]);
		ci_buf_add(b, "\":[", 3);
		for (size_t i = 0; i < c->n; i++) {
			const struct ci_case *k = &c->v[i];
			const char *v = f == 0 ? k->name
			    : f == 1           ? k->classname
			    : f == 2           ? ci_case_statuses[k->status]
			    : f == 4           ? k->message
					       : NULL;
			if (i)
				ci_buf_add(b, ",", 1);
			if (f == 3 && k->duration_ms >= 0)
				digits(b, (unsigned long long)k->duration_ms);
			else if (f == 3)
				ci_buf_add(b, "null", 4);
			else
				ci_buf_json_string(b, v ? v : "",
						   v ? strlen(v) : 0);
		}
		ci_buf_add(b, "]", 1);
	}
}

void
clickhouse_entry(struct ci_buf *b, const struct ci_view *v, const char *line,
		 size_t len)
{
	static const char *const levels[] = { "\"info\"", "\"warn\"",
					      "\"error\"" };
	const struct ci_test_exec *te = v->test;
	const struct ci_pipeline *p = v->pipeline;
	const char *s;

	ci_buf_add(b, "{\"key\":", 7);
	digits(b, key_of(line, len));
	STR(b, "run_id", v->run_id);
	STR(b, "timestamp", v->timestamp);
	NUM(b, "ts_ms", v->ts_ms);
	NUM(b, "time", v->ts_ms / 1000);
	COL(b, "level");
	ci_buf_str(b, levels[v->level]);
	STR(b, "message", v->message);
	STR(b, "source_file", v->source_file);
	NUM(b, "line_number", v->line_number);
	STR(b, "function_name", v->function_name);
	STR(b, "step_name", v->step_name);
	NUM(b, "duration_ms", v->duration_ms);
	NUM(b, "exit_code", v->exit_code);
	FLAG(b, "continued", v->continued);
	if (v->start) {
		FLAG(b, "has_run_start", 1);
		NUM(b, "run_start_time", v->start->start_time);
		STR(b, "run_start_profile", v->start->profile);
		STR(b, "run_start_triggered_by", v->start->triggered_by);
	}
	if (te) {
		FLAG(b, "has_test_execution", 1);
		STR(b, "test_type", te->test_type);
		NUM(b, "test_attempt_number", te->attempt_number);
		STR(b, "test_status", te->status);
		NUM(b, "test_duration", te->duration);
		NUM(b, "test_failure_count", te->failure_count);
		NUM(b, "test_started_at", te->started_at);
		NUM(b, "test_completed_at", te->completed_at);
		FLAG(b, "test_run_in_parallel", te->run_in_parallel);
		FLAG(b, "test_fallback_to_serial", te->fallback_to_serial);
		if (v->cases)
			cases_cols(b, v->cases);
	}
	if (p) {
		FLAG(b, "has_pipeline_run", 1);
		NUM(b, "pipeline_start_time", p->start_time);
		NUM(b, "pipeline_end_time", p->end_time);
		NUM(b, "pipeline_duration", p->duration);
		NUM(b, "pipeline_exit_code", p->exit_code);
		STR(b, "pipeline_profile", p->profile);
		STR(b, "pipeline_triggered_by", p->triggered_by);
		COL(b, "pipeline_steps_completed");
		ci_buf_add(b, "[", 1);
		s = p->steps;
		for (size_t i = 0; i < p->nsteps; i++) {
			if (i)
				ci_buf_add(b, ",", 1);
			ci_buf_json_string(b, s, strlen(s));
			s += strlen(s) + 1;
		}
		ci_buf_add(b, "]", 1);
	}
	ci_buf_add(b, "}\n", 2);
}
