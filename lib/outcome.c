/* outcome.c: the rule of contracts/entries.md for completion entries. */
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"

/*
 * For a parsed entry: -1 when it does not close a step (no duration_ms),
 * else 1 when the step succeeded and 0 when it failed. test_execution's
 * status decides, else exit_code, else the level.
 */
int
ci_step_outcome(const cJSON *entry)
{
	const cJSON *te, *v;

	if (!cJSON_IsNumber(
		cJSON_GetObjectItemCaseSensitive(entry, "duration_ms")))
		return -1;
	te = cJSON_GetObjectItemCaseSensitive(entry, "test_execution");
	if (cJSON_IsObject(te)) {
		v = cJSON_GetObjectItemCaseSensitive(te, "status");
		return cJSON_IsString(v) &&
		    strcmp(v->valuestring, "passed") == 0;
	}
	v = cJSON_GetObjectItemCaseSensitive(entry, "exit_code");
	if (cJSON_IsNumber(v))
		return v->valuedouble == 0;
	v = cJSON_GetObjectItemCaseSensitive(entry, "level");
	return !(cJSON_IsString(v) && strcmp(v->valuestring, "error") == 0);
}
