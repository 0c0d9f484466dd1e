/* outcome.c: the rule of contracts/entries.md for completion entries. */
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"

/*
 * For an entry's fields (ci_entry_fields): -1 when it does not close a
 * step (no duration_ms), else 1 when the step succeeded and 0 when it
 * failed. test_execution's status decides, else exit_code, else the level.
 */
int
ci_step_outcome(const cJSON *const *f)
{
	const cJSON *v;

	if (!cJSON_IsNumber(f[CI_F_DURATION_MS]))
		return -1;
	if (cJSON_IsObject(f[CI_F_TEST_EXECUTION])) {
		v = cJSON_GetObjectItemCaseSensitive(f[CI_F_TEST_EXECUTION],
						     "status");
		return cJSON_IsString(v) &&
		    strcmp(v->valuestring, "passed") == 0;
	}
	if (cJSON_IsNumber(f[CI_F_EXIT_CODE]))
		return f[CI_F_EXIT_CODE]->valuedouble == 0;
	v = f[CI_F_LEVEL];
	return !(cJSON_IsString(v) && strcmp(v->valuestring, "error") == 0);
}
