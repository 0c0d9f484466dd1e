/*
 * cases: a Test Execution's cases read back from a log (lib/cases.c). The
 * input is the test_execution object of an otherwise valid entry; when the
 * entry passes the schema checks, its cases are read, stay within the
 * bounds of log-schema.json, and write back as JSON that reads the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"

static void
bounded(const struct ci_cases *c)
{
	if (c->n > CI_CASES_MAX || c->bytes > CI_CASES_BYTES)
		abort();
	for (size_t i = 0; i < c->n; i++) {
		const struct ci_case *k = &c->v[i];
		if (strlen(k->name) > CI_CASE_NAME ||
		    (k->classname && strlen(k->classname) > CI_CASE_NAME) ||
		    (k->message && strlen(k->message) > CI_CASE_TEXT) ||
		    k->status < CI_CASE_PASSED || k->status > CI_CASE_SKIPPED)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ci_cases c = { 0 }, again = { 0 }, copy = { 0 };
	struct ci_buf b = { 0 }, why = { 0 };
	const cJSON *f[CI_F_N];
	cJSON *e, *back;

	ci_buf_str(&b,
		   "{\"timestamp\":\"2025-10-22T10:00:00.000Z\","
		   "\"level\":\"info\",\"message\":\"m\","
		   "\"run_id\":\"run-20251022-100000-tst003\","
		   "\"source_file\":\"f\",\"line_number\":1,"
		   "\"function_name\":\"f\",\"step_name\":\"test-unit\","
		   "\"test_execution\":");
	ci_buf_add(&b, data, size);
	ci_buf_str(&b, "}");
	if (ci_text_check(b.s, b.len, &why) < 0 ||
	    !(e = cJSON_ParseWithLength(b.s, b.len))) {
		ci_buf_free(&b);
		ci_buf_free(&why);
		return 0;
	}
	if (ci_entry_fields(e, f, &why) == 0) {
		ci_cases_read(&c, f[CI_F_TEST_EXECUTION]);
		bounded(&c);
		ci_cases_copy(&copy, &c);
		bounded(&copy);
		/* As a Test Execution record holds them: {...,"cases":[...]} */
		b.len = 0;
		ci_buf_str(&b, "{\"n\":0");
		ci_cases_json(&b, &c);
		ci_buf_str(&b, "}");
		if (!(back = cJSON_ParseWithLength(b.s, b.len)))
			abort();
		ci_cases_read(&again, back);
		cJSON_Delete(back);
		if (again.n != c.n || again.omitted != c.omitted ||
		    ci_cases_failed(&again) != ci_cases_failed(&c))
			abort();
	}
	cJSON_Delete(e);
	ci_cases_free(&c);
	ci_cases_free(&again);
	ci_cases_free(&copy);
	ci_buf_free(&b);
	ci_buf_free(&why);
	return 0;
}
