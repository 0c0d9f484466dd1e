/*
 * clickhouse.c: ci-report --format clickhouse, one JSONEachRow row per
 * valid log entry, shaped for the table ci.entries of
 * contracts/clickhouse.sql. ClickHouse 18.16 cannot insert nested objects
 * into columns, so test_execution, run_start and pipeline_run are flattened
 * into columns of their own, with a has_ flag saying whether the entry
 * carries the object. A row leaves out what its entry does not have: 18.16
 * fills a column left out with its type's default (0, '', [] or NULL),
 * which is what an absent field reads as in the table. The key is a hash of the
 * entry's line, so that the same entry always gives the same key and shipping a
 * log twice stores every entry once.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ci.h"

void ch_row(struct ci_buf *b, const cJSON *e, const char *line, size_t len);

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

static const cJSON *
get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static void
str(struct ci_buf *b, const char *col, const cJSON *v)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : "";

	ci_buf_printf(b, ",\"%s\":", col);
	ci_buf_json_string(b, s, strlen(s));
}

/* A whole number of a valid entry, left out when absent. */
static void
num(struct ci_buf *b, const char *col, const cJSON *v)
{
	if (cJSON_IsNumber(v))
		ci_buf_printf(b, ",\"%s\":%.0f", col, v->valuedouble);
}

static void
flag(struct ci_buf *b, const char *col, int on)
{
	if (on)
		ci_buf_printf(b, ",\"%s\":1", col);
}

/*
 * Append the row of one entry that passed ci_entry_check; line and len
 * are its text as read, without the newline.
 */
void
ch_row(struct ci_buf *b, const cJSON *e, const char *line, size_t len)
{
	const cJSON *ts = get(e, "timestamp"), *o, *i;
	long long ms = ci_timestamp_ms(ts->valuestring);
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char when[32] = "1970-01-01 00:00:00";
	int n = 0;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	ci_buf_printf(b, "{\"key\":%llu", key_of(line, len));
	str(b, "run_id", get(e, "run_id"));
	str(b, "timestamp", ts);
	ci_buf_printf(b, ",\"ts_ms\":%lld,\"time\":\"%s\"", ms, when);
	str(b, "level", get(e, "level"));
	str(b, "message", get(e, "message"));
	str(b, "source_file", get(e, "source_file"));
	num(b, "line_number", get(e, "line_number"));
	str(b, "function_name", get(e, "function_name"));
	str(b, "step_name", get(e, "step_name"));
	num(b, "duration_ms", get(e, "duration_ms"));
	num(b, "exit_code", get(e, "exit_code"));
	flag(b, "continued", cJSON_IsTrue(get(e, "continued")));

	if ((o = get(e, "run_start"))) {
		flag(b, "has_run_start", 1);
		num(b, "run_start_time", get(o, "start_time"));
		str(b, "run_start_profile", get(o, "profile"));
		str(b, "run_start_triggered_by", get(o, "triggered_by"));
	}

	if ((o = get(e, "test_execution"))) {
		flag(b, "has_test_execution", 1);
		str(b, "test_type", get(o, "test_type"));
		num(b, "test_attempt_number", get(o, "attempt_number"));
		str(b, "test_status", get(o, "status"));
		num(b, "test_duration", get(o, "duration"));
		num(b, "test_failure_count", get(o, "failure_count"));
		num(b, "test_started_at", get(o, "started_at"));
		num(b, "test_completed_at", get(o, "completed_at"));
		flag(b, "test_run_in_parallel",
		     cJSON_IsTrue(get(o, "run_in_parallel")));
		flag(b, "test_fallback_to_serial",
		     cJSON_IsTrue(get(o, "fallback_to_serial")));
	}

	if (!(o = get(e, "pipeline_run"))) {
		ci_buf_str(b, "}\n");
		return;
	}
	flag(b, "has_pipeline_run", 1);
	num(b, "pipeline_start_time", get(o, "start_time"));
	num(b, "pipeline_end_time", get(o, "end_time"));
	num(b, "pipeline_duration", get(o, "duration"));
	num(b, "pipeline_exit_code", get(o, "exit_code"));
	str(b, "pipeline_profile", get(o, "profile"));
	str(b, "pipeline_triggered_by", get(o, "triggered_by"));
	ci_buf_str(b, ",\"pipeline_steps_completed\":[");
	cJSON_ArrayForEach(i, get(o, "steps_completed"))
	{
		if (!cJSON_IsString(i))
			continue;
		ci_buf_str(b, n++ ? "," : "");
		ci_buf_json_string(b, i->valuestring, strlen(i->valuestring));
	}
	ci_buf_str(b, "]}\n");
}
