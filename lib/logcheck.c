/* logcheck.c: the rules of contracts/log-schema.json, for entries read back. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"

/* Whether s has no byte below 0x20 or above 0x7F: 8 bytes at a time. */
static int
plain_ascii(const unsigned char *s, size_t n)
{
	const uint64_t l7f = 0x7f7f7f7f7f7f7f7fULL, l60 = 0x6060606060606060ULL;
	const uint64_t l80 = 0x8080808080808080ULL;
	uint64_t w, acc = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= (w | ~((w & l7f) + l60)) & l80;
	}
	for (; i < n; i++)
		acc |= s[i] < 0x20 || s[i] > 0x7f;
	return acc == 0;
}

/*
 * The checks that a JSON parser as lenient as cJSON leaves out: no NUL
 * byte, valid UTF-8, no raw control character inside a string or between
 * tokens (other than tab and CR). 0, or -1 with the reason in why.
 */
int
ci_text_check(const char *str, size_t n, struct ci_buf *why)
{
	const unsigned char *s = (const unsigned char *)str;
	int in_string = 0;
	size_t len;

	if (plain_ascii(s, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x80) {
			if (!(len = ci_utf8_len(s + i, n - i))) {
				ci_buf_printf(why,
					      "not valid UTF-8 (byte 0x%02X at "
					      "column %zu)",
					      s[i], i + 1);
				return -1;
			}
			i += len - 1;
		} else if (s[i] == 0) {
			ci_buf_printf(why, "not JSON: a NUL byte at column %zu",
				      i + 1);
			return -1;
		} else if (s[i] < 0x20 &&
			   (in_string || (s[i] != '\t' && s[i] != '\r'))) {
			ci_buf_printf(why,
				      "not JSON: a raw control character "
				      "(0x%02X) at column %zu",
				      s[i], i + 1);
			return -1;
		} else if (s[i] == '"')
			in_string = !in_string;
		else if (s[i] == '\\' && in_string)
			i++;
	}
	return 0;
}

static int
digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int
two(const char *s)
{
	return (s[0] - '0') * 10 + s[1] - '0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long
days(long long y, int m, int d)
{
	long long era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/*
 * Milliseconds since 1970 of a timestamp that matches the schema's pattern
 * (YYYY-MM-DDTHH:MM:SS, up to 9 digits of a fraction, Z), or -1.
 */
long long
ci_timestamp_ms(const char *s)
{
	int y, mo, d, h, mi, se, ms = 0, nd = 0;
	const char *p;

	if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' ||
	    !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
	    s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
	    !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return -1;
	y = two(s) * 100 + two(s + 2);
	mo = two(s + 5);
	d = two(s + 8);
	h = two(s + 11);
	mi = two(s + 14);
	se = two(s + 17);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nd++)
			if (nd < 3)
				ms = ms * 10 + (*p - '0');
		if (nd < 1 || nd > 9)
			return -1;
		for (int i = nd; i < 3; i++)
			ms *= 10;
	}
	if (p[0] != 'Z' || p[1] != '\0')
		return -1;
	return (days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000 + ms;
}

/* The run_id pattern of the schema (looser than ci_runid_check's dates). */
static int
runid_pattern(const char *s)
{
	int mo, d;

	if (strlen(s) != CI_RUNID_LEN || strncmp(s, "run-", 4) != 0 ||
	    !digits(s + 4, 8) || s[12] != '-' || !digits(s + 13, 6) ||
	    s[19] != '-')
		return 0;
	mo = two(s + 8);
	d = two(s + 10);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || two(s + 13) > 23 ||
	    two(s + 15) > 59 || two(s + 17) > 59)
		return 0;
	for (int i = 20; i < CI_RUNID_LEN; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* ^[a-z][a-z0-9_-]{0,31}$ */
static int
test_type_pattern(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

enum kind { STR, STR1, INT, ENUM, TS, RUNID, TRUE, BOOL, OBJ, STRS, TTYPE };

struct spec;
struct field {
	const char *name;
	enum kind kind;
	int required;
	long long min, max;
	const char *const *values; /* ENUM: NULL-terminated */
	const struct spec *sub; /* OBJ */
};
struct spec {
	const struct field *f;
	size_t n;
};

#define BIG LLONG_MAX /* no maximum */
static const char *const levels[] = { "info", "warn", "error", NULL };
static const char *const profiles[] = { "dev", "ui", "full", NULL };
static const char *const triggers[] = { "TUI", "CLI", NULL };
static const char *const statuses[] = { "passed", "failed", "skipped", NULL };

static const struct field run_start_f[] = {
	{ "start_time", INT, 1, 0, BIG, NULL, NULL },
	{ "profile", ENUM, 1, 0, 0, profiles, NULL },
	{ "triggered_by", ENUM, 1, 0, 0, triggers, NULL },
};
static const struct field pipeline_f[] = {
	{ "run_id", RUNID, 1, 0, 0, NULL, NULL },
	{ "start_time", INT, 1, 0, BIG, NULL, NULL },
	{ "end_time", INT, 1, 0, BIG, NULL, NULL },
	{ "duration", INT, 1, 0, BIG, NULL, NULL },
	{ "exit_code", INT, 1, 0, 5, NULL, NULL },
	{ "profile", ENUM, 1, 0, 0, profiles, NULL },
	{ "triggered_by", ENUM, 1, 0, 0, triggers, NULL },
	{ "steps_completed", STRS, 1, 0, 0, NULL, NULL },
};
static const struct field test_f[] = {
	{ "test_type", TTYPE, 1, 0, 0, NULL, NULL },
	{ "attempt_number", INT, 1, 1, BIG, NULL, NULL },
	{ "status", ENUM, 1, 0, 0, statuses, NULL },
	{ "duration", INT, 1, 0, BIG, NULL, NULL },
	{ "failure_count", INT, 1, 0, BIG, NULL, NULL },
	{ "started_at", INT, 1, 0, BIG, NULL, NULL },
	{ "completed_at", INT, 1, 0, BIG, NULL, NULL },
	{ "run_in_parallel", BOOL, 1, 0, 0, NULL, NULL },
	{ "fallback_to_serial", BOOL, 1, 0, 0, NULL, NULL },
};
#define SPEC(a)                                                                \
	{                                                                      \
		a, sizeof a / sizeof a[0]                                      \
	}
static const struct spec run_start_s = SPEC(run_start_f);
static const struct spec pipeline_s = SPEC(pipeline_f);
static const struct spec test_s = SPEC(test_f);
static const struct field entry_f[] = {
	{ "timestamp", TS, 1, 0, 0, NULL, NULL },
	{ "level", ENUM, 1, 0, 0, levels, NULL },
	{ "message", STR, 1, 0, 0, NULL, NULL },
	{ "run_id", RUNID, 1, 0, 0, NULL, NULL },
	{ "source_file", STR1, 1, 0, 0, NULL, NULL },
	{ "line_number", INT, 1, 1, BIG, NULL, NULL },
	{ "function_name", STR1, 1, 0, 0, NULL, NULL },
	{ "step_name", STR1, 1, 0, 0, NULL, NULL },
	{ "duration_ms", INT, 0, 0, BIG, NULL, NULL },
	{ "exit_code", INT, 0, 0, 255, NULL, NULL },
	{ "continued", TRUE, 0, 0, 0, NULL, NULL },
	{ "run_start", OBJ, 0, 0, 0, NULL, &run_start_s },
	{ "test_execution", OBJ, 0, 0, 0, NULL, &test_s },
	{ "pipeline_run", OBJ, 0, 0, 0, NULL, &pipeline_s },
};
static const struct spec entry_s = SPEC(entry_f);

/* A short, printable rendering of a value for a message. */
static void
show(struct ci_buf *b, const cJSON *v)
{
	const char *t;
	size_t n;

	if (cJSON_IsString(v)) {
		n = strlen(v->valuestring);
		ci_buf_json_string(b, v->valuestring, n > 40 ? 40 : n);
		if (n > 40)
			ci_buf_str(b, "...");
		return;
	}
	if (cJSON_IsNumber(v))
		ci_buf_printf(b, "%.17g", v->valuedouble);
	else {
		t = cJSON_IsBool(v)     ? (cJSON_IsTrue(v) ? "true" : "false")
		    : cJSON_IsNull(v)   ? "null"
		    : cJSON_IsArray(v)  ? "an array"
		    : cJSON_IsObject(v) ? "an object"
					: "a value";
		ci_buf_str(b, t);
	}
}

static int
bad(struct ci_buf *why, const char *path, const char *name, const cJSON *v,
    const char *what)
{
	ci_buf_printf(why, "%s%s%s: ", path, *path ? "." : "", name);
	if (v) {
		show(why, v);
		ci_buf_str(why, " ");
	}
	ci_buf_str(why, what);
	return -1;
}

static int
is_integer(const cJSON *v)
{
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
	    floor(v->valuedouble) == v->valuedouble;
}

static int check_object(const cJSON *o, const struct spec *sp, const char *path,
			struct ci_buf *why);

static int
check_value(const cJSON *v, const struct field *f, const char *path,
	    struct ci_buf *why)
{
	char range[64];
	const char *const *e;

	switch (f->kind) {
	case STR:
	case STR1:
		if (!cJSON_IsString(v))
			return bad(why, path, f->name, v, "is not a string");
		if (f->kind == STR1 && !*v->valuestring)
			return bad(why, path, f->name, v, "is empty");
		return 0;
	case INT:
		if (!is_integer(v))
			return bad(why, path, f->name, v, "is not an integer");
		if (v->valuedouble < (double)f->min ||
		    (f->max != BIG && v->valuedouble > (double)f->max)) {
			if (f->max == BIG)
				snprintf(range, sizeof range,
					 "is less than %lld", f->min);
			else
				snprintf(range, sizeof range,
					 "is out of range (%lld to %lld)",
					 f->min, f->max);
			return bad(why, path, f->name, v, range);
		}
		return 0;
	case ENUM:
		if (cJSON_IsString(v))
			for (e = f->values; *e; e++)
				if (strcmp(v->valuestring, *e) == 0)
					return 0;
		bad(why, path, f->name, v, "is not one of");
		for (e = f->values; *e; e++)
			ci_buf_printf(why, "%s %s", e == f->values ? "" : ",",
				      *e);
		return -1;
	case TS:
		if (!cJSON_IsString(v) || ci_timestamp_ms(v->valuestring) < 0)
			return bad(why, path, f->name, v,
				   "is not a UTC time "
				   "YYYY-MM-DDTHH:MM:SS[.fff]Z");
		return 0;
	case RUNID:
		if (!cJSON_IsString(v) || !runid_pattern(v->valuestring))
			return bad(why, path, f->name, v,
				   "is not a run id "
				   "run-YYYYMMDD-HHMMSS-xxxxxx");
		return 0;
	case TTYPE:
		if (!cJSON_IsString(v) || !test_type_pattern(v->valuestring))
			return bad(why, path, f->name, v,
				   "is not a suite name (a-z, 0-9, _ and -, "
				   "at most 32)");
		return 0;
	case TRUE:
		return cJSON_IsTrue(v)
		    ? 0
		    : bad(why, path, f->name, v, "is not true");
	case BOOL:
		return cJSON_IsBool(v)
		    ? 0
		    : bad(why, path, f->name, v, "is not true or false");
	case OBJ:
		if (!cJSON_IsObject(v))
			return bad(why, path, f->name, v, "is not an object");
		return check_object(v, f->sub, f->name, why);
	case STRS:
		if (!cJSON_IsArray(v))
			return bad(why, path, f->name, v, "is not an array");
		for (const cJSON *i = v->child; i; i = i->next)
			if (!cJSON_IsString(i) || !*i->valuestring)
				return bad(why, path, f->name, i,
					   "has an item that is not a "
					   "non-empty string:");
		return 0;
	}
	return 0;
}

static int
check_object(const cJSON *o, const struct spec *sp, const char *path,
	     struct ci_buf *why)
{
	uint32_t seen = 0;
	const cJSON *v, *st, *fc;
	size_t i, k, hint = 0;

	for (v = o->child; v; v = v->next) {
		/* Fields mostly come in the schema's order: look there first.
		 */
		for (k = 0; k < sp->n; k++) {
			i = (hint + k) % sp->n;
			if (strcmp(v->string, sp->f[i].name) == 0)
				break;
		}
		if (k == sp->n) {
			ci_buf_printf(why, "%s%sunknown field ", path,
				      *path ? ": " : "");
			ci_buf_json_string(why, v->string, strlen(v->string));
			return -1;
		}
		if (seen & (1u << i)) {
			ci_buf_printf(why, "%s%sfield \"%s\" appears twice",
				      path, *path ? ": " : "", sp->f[i].name);
			return -1;
		}
		seen |= 1u << i;
		hint = i + 1;
		if (check_value(v, &sp->f[i], path, why) < 0)
			return -1;
	}
	for (i = 0; i < sp->n; i++)
		if (sp->f[i].required && !(seen & (1u << i))) {
			ci_buf_printf(why, "%s%smissing field \"%s\"", path,
				      *path ? ": " : "", sp->f[i].name);
			return -1;
		}
	if (sp == &test_s) {
		st = cJSON_GetObjectItemCaseSensitive(o, "status");
		fc = cJSON_GetObjectItemCaseSensitive(o, "failure_count");
		if (strcmp(st->valuestring, "passed") == 0 &&
		    fc->valuedouble != 0)
			return bad(why, path, "failure_count", fc,
				   "is not 0 with status passed");
	}
	return 0;
}

/* 0 when a parsed line is a valid entry, else -1 with the reason in why. */
int
ci_entry_check(const cJSON *entry, struct ci_buf *why)
{
	if (!cJSON_IsObject(entry)) {
		ci_buf_str(why, "not an object: ");
		show(why, entry);
		return -1;
	}
	return check_object(entry, &entry_s, "", why);
}
