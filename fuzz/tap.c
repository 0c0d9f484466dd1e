/*
 * tap: ci-testpar's reader of a suite's output (tools/ci-testpar/run.c) on
 * any bytes: TAP test lines become cases, "not ok" lines are counted, the
 * diagnostics after a failed one are its message; in prefixed mode every
 * line is queued whole. The cases stay within the bounds of the log schema,
 * and the failures counted are the failed cases.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/ci-testpar/testpar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct suite s = { .type = "unit" };
	struct attempt a;
	struct ci_buf b = { 0 };
	size_t half = size / 2;
	long failed;

	memset(&a, 0, sizeof a);
	a.s = &s;
	a.lines.max = 1024;
	tp.output = size & 1 ? OUT_PREFIXED : OUT_GROUPED;
	ci_lines_feed(&a.lines, (const char *)data, half, on_line, &a);
	ci_lines_feed(&a.lines, (const char *)data + half, size - half, on_line,
		      &a);
	ci_lines_finish(&a.lines, on_line, &a);
	if (a.tap.n > CI_CASES_MAX || a.tap.bytes > CI_CASES_BYTES)
		abort();
	failed = ci_cases_failed(&a.tap) + a.tap.omitted_failed;
	if (failed < 0 || (unsigned long)failed != a.notok)
		abort();
	ci_cases_json(&b, &a.tap);
	ci_buf_free(&b);
	ci_cases_free(&a.tap);
	ci_buf_free(&a.mem);
	ci_lines_free(&a.lines);
	return 0;
}
