/*
 * logcheck: the checks of an entry read back (lib/logcheck.c), the
 * timestamp and run id parsers, on any bytes taken as one line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ci_buf why = { 0 }, line = { 0 };
	struct ci_view_store vs = { 0 };
	struct ci_view v;
	struct timespec ts;
	const cJSON *f[CI_F_N];
	cJSON *e;
	int ok, fields;

	ci_buf_add(&line, data, size);
	ci_parse_iso8601(line.s, &ts);
	ci_timestamp_ms(line.s);
	ci_runid_check(line.s);
	if (ci_text_check(line.s, line.len, &why) == 0 &&
	    (e = cJSON_ParseWithLength(line.s, line.len))) {
		why.len = 0;
		ok = ci_entry_check(e, &why) == 0;
		why.len = 0;
		fields = ci_entry_fields(e, f, &why) == 0;
		/* The two say the same of every entry. */
		if (ok != fields)
			abort();
		if (fields) {
			ci_view_of(&v, f, &vs);
			if (!v.run_id || strlen(v.run_id) != CI_RUNID_LEN ||
			    v.level < 0 || v.level > 2)
				abort();
		}
		cJSON_Delete(e);
	}
	ci_buf_free(&why);
	ci_buf_free(&line);
	ci_buf_free(&vs.steps);
	return 0;
}
