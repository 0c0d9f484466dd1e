/*
 * state: ci-deploy's reader of its state file (tools/ci-deploy/state.c) on
 * any bytes. A state it accepts is written back as ci-deploy writes it,
 * and that reads again to the same state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/ci-deploy/deploy.h"
#include "ci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
free_errors(void)
{
	free(st.cur.error);
	for (int i = 0; i < st.nhist; i++)
		free(st.hist[i].error);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ci_buf b = { 0 }, why = { 0 }, out = { 0 }, again = { 0 };

	ci_buf_add(&b, data, size);
	if (parse_state(&b, &why) < 0) {
		if (why.len == 0 || memchr(why.s, '\n', why.len))
			abort();
	} else {
		/* cJSON takes a NUL for the end of a string: never let pass. */
		if (memchr(data, '\0', size))
			abort();
		format_state(&out);
		free_errors();
		ci_buf_add(&again, out.s, out.len);
		why.len = 0;
		if (parse_state(&again, &why) < 0)
			abort();
		again.len = 0;
		format_state(&again);
		free_errors();
		if (again.len != out.len || memcmp(again.s, out.s, out.len))
			abort();
	}
	ci_buf_free(&b);
	ci_buf_free(&why);
	ci_buf_free(&out);
	ci_buf_free(&again);
	return 0;
}
