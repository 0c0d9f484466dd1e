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

#define BIG CI_NO_MAX
static const char *const levels[] = { "info", "warn", "error", NULL };
static const char *const profiles[] = { "dev", "ui", "full", NULL };
static const char *const triggers[] = { "TUI", "CLI", NULL };
static const char *const statuses[] = { "passed", "failed", "skipped", NULL };

static int
timestamp_pattern(const char *s)
{
	return ci_timestamp_ms(s) >= 0;
}

#define TS                                                                     \
	CI_PATTERN, .required = 1, .match = timestamp_pattern,                 \
		    .expect = "a UTC time YYYY-MM-DDTHH:MM:SS[.fff]Z"
#define RUNID                                                                  \
	CI_PATTERN, .required = 1, .match = runid_pattern,                     \
		    .expect = "a run id run-YYYYMMDD-HHMMSS-xxxxxx"
#define TTYPE                                                                  \
	CI_PATTERN, .required = 1, .match = test_type_pattern,                 \
		    .expect = "a suite name (a-z, 0-9, _ and -, at most 32)"

static const struct ci_field run_start_f[] = {
	{ "start_time", CI_INT, .required = 1, .max = BIG },
	{ "profile", CI_ENUM, .required = 1, .values = profiles },
	{ "triggered_by", CI_ENUM, .required = 1, .values = triggers },
};
static const struct ci_field pipeline_f[] = {
	{ "run_id", RUNID },
	{ "start_time", CI_INT, .required = 1, .max = BIG },
	{ "end_time", CI_INT, .required = 1, .max = BIG },
	{ "duration", CI_INT, .required = 1, .max = BIG },
	{ "exit_code", CI_INT, .required = 1, .max = 5 },
	{ "profile", CI_ENUM, .required = 1, .values = profiles },
	{ "triggered_by", CI_ENUM, .required = 1, .values = triggers },
	{ "steps_completed", CI_STRS, .required = 1 },
};
static const struct ci_field case_f[] = {
	{ "name", CI_STR1, .required = 1, .max = CI_CASE_NAME },
	{ "classname", CI_STR1, .max = CI_CASE_NAME },
	{ "status", CI_ENUM, .required = 1, .values = statuses },
	{ "duration_ms", CI_INT, .max = BIG },
	{ "message", CI_STR, .max = CI_CASE_TEXT },
	{ "message_cut", CI_TRUE, .required = 0 },
};
static const struct ci_shape case_s = CI_SHAPE(case_f, NULL);
static const struct ci_field shard_f[] = {
	{ "index", CI_INT, .required = 1, .min = 1, .max = CI_SHARDS_MAX },
	{ "count", CI_INT, .required = 1, .min = 1, .max = CI_SHARDS_MAX },
};
static const struct ci_shape shard_s = CI_SHAPE(shard_f, NULL);
static const struct ci_field test_f[] = {
	{ "test_type", TTYPE },
	{ "attempt_number", CI_INT, .required = 1, .min = 1, .max = BIG },
	{ "status", CI_ENUM, .required = 1, .values = statuses },
	{ "duration", CI_INT, .required = 1, .max = BIG },
	{ "failure_count", CI_INT, .required = 1, .max = BIG },
	{ "started_at", CI_INT, .required = 1, .max = BIG },
	{ "completed_at", CI_INT, .required = 1, .max = BIG },
	{ "run_in_parallel", CI_BOOL, .required = 1 },
	{ "fallback_to_serial", CI_BOOL, .required = 1 },
	{ "cases", CI_OBJS, .max = CI_CASES_MAX, .sub = &case_s },
	{ "cases_omitted", CI_INT, .max = BIG },
	{ "shard", CI_OBJ, .sub = &shard_s },
};

/* A passed attempt has no failures. */
static int
test_extra(const cJSON *o, const char *path, struct ci_buf *why)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
	const cJSON *fc = cJSON_GetObjectItemCaseSensitive(o, "failure_count");

	if (strcmp(st->valuestring, "passed") == 0 && fc->valuedouble != 0)
		return ci_shape_fail(why, path, "failure_count", fc,
				     "is not 0 with status passed");
	return 0;
}

static const struct ci_shape run_start_s = CI_SHAPE(run_start_f, NULL);
static const struct ci_shape pipeline_s = CI_SHAPE(pipeline_f, NULL);
static const struct ci_shape test_s = CI_SHAPE(test_f, test_extra);
static const struct ci_field entry_f[] = {
	{ "timestamp", TS },
	{ "level", CI_ENUM, .required = 1, .values = levels },
	{ "message", CI_STR, .required = 1 },
	{ "run_id", RUNID },
	{ "source_file", CI_STR1, .required = 1 },
	{ "line_number", CI_INT, .required = 1, .min = 1, .max = BIG },
	{ "function_name", CI_STR1, .required = 1 },
	{ "step_name", CI_STR1, .required = 1 },
	{ "duration_ms", CI_INT, .max = BIG },
	{ "exit_code", CI_INT, .max = 255 },
	{ "continued", CI_TRUE, .required = 0 },
	{ "run_start", CI_OBJ, .sub = &run_start_s },
	{ "test_execution", CI_OBJ, .sub = &test_s },
	{ "pipeline_run", CI_OBJ, .sub = &pipeline_s },
};
static const struct ci_shape entry_s = CI_SHAPE(entry_f, NULL);
_Static_assert(sizeof entry_f / sizeof entry_f[0] == CI_F_N,
	       "entry_f is in the order of CI_F_");
_Static_assert(
    sizeof run_start_f / sizeof run_start_f[0] == CI_RS_N &&
	sizeof test_f / sizeof test_f[0] == CI_TE_N &&
	sizeof pipeline_f / sizeof pipeline_f[0] == CI_PR_N &&
	(int)CI_TE_N <= (int)CI_F_N,
    "the objects' fields are in the order of CI_RS_, CI_TE_, CI_PR_");

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

/*
 * The reason a value is wrong, in the form every check uses:
 * path.name: value what. Returns -1, for return ci_shape_fail(...).
 */
int
ci_shape_fail(struct ci_buf *why, const char *path, const char *name,
	      const cJSON *v, const char *what)
{
	ci_buf_printf(why, "%s%s%s: ", path, *path && *name ? "." : "", name);
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

static int check_object(const cJSON *o, const struct ci_shape *s,
			const char *path, struct ci_buf *why,
			const cJSON **found);

/* Where a field's object lives: path.name, or path.name[i] in an array. */
static void
sub_path(char *dst, size_t n, const char *path, const char *name, int i)
{
	int w = snprintf(dst, n, "%s%s%s", path, *path ? "." : "", name);

	if (i >= 0 && w >= 0 && (size_t)w < n)
		snprintf(dst + w, n - w, "[%d]", i);
}

/* Characters of valid UTF-8: the bytes that do not continue one. */
static long long
chars(const char *s)
{
	long long n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static int
check_value(const cJSON *v, const struct ci_field *f, const char *path,
	    struct ci_buf *why)
{
	char range[64], sub[256];
	const char *const *e;
	int i;

	switch (f->kind) {
	case CI_STR:
	case CI_STR1:
		if (!cJSON_IsString(v))
			return ci_shape_fail(why, path, f->name, v,
					     "is not a string");
		if (f->kind == CI_STR1 && !*v->valuestring)
			return ci_shape_fail(why, path, f->name, v, "is empty");
		if (f->max > 0 && chars(v->valuestring) > f->max) {
			snprintf(range, sizeof range,
				 "is longer than %lld characters", f->max);
			return ci_shape_fail(why, path, f->name, v, range);
		}
		return 0;
	case CI_INT:
		if (!is_integer(v))
			return ci_shape_fail(why, path, f->name, v,
					     "is not an integer");
		if (v->valuedouble < (double)f->min ||
		    (f->max != BIG && v->valuedouble > (double)f->max)) {
			if (f->max == BIG)
				snprintf(range, sizeof range,
					 "is less than %lld", f->min);
			else
				snprintf(range, sizeof range,
					 "is out of range (%lld to %lld)",
					 f->min, f->max);
			return ci_shape_fail(why, path, f->name, v, range);
		}
		return 0;
	case CI_ENUM:
		if (cJSON_IsString(v))
			for (e = f->values; *e; e++)
				if (strcmp(v->valuestring, *e) == 0)
					return 0;
		ci_shape_fail(why, path, f->name, v, "is not one of");
		for (e = f->values; *e; e++)
			ci_buf_printf(why, "%s %s", e == f->values ? "" : ",",
				      *e);
		return -1;
	case CI_PATTERN:
		if (cJSON_IsString(v) && f->match(v->valuestring))
			return 0;
		ci_shape_fail(why, path, f->name, v, "is not ");
		ci_buf_str(why, f->expect ? f->expect : "of the right form");
		return -1;
	case CI_TRUE:
		return cJSON_IsTrue(v)
		    ? 0
		    : ci_shape_fail(why, path, f->name, v, "is not true");
	case CI_BOOL:
		return cJSON_IsBool(v) ? 0
				       : ci_shape_fail(why, path, f->name, v,
						       "is not true or false");
	case CI_OBJ_NULL:
		if (cJSON_IsNull(v))
			return 0;
		if (!cJSON_IsObject(v))
			return ci_shape_fail(why, path, f->name, v,
					     "is not an object or null");
		/* fall through */
	case CI_OBJ:
		if (!cJSON_IsObject(v))
			return ci_shape_fail(why, path, f->name, v,
					     "is not an object");
		sub_path(sub, sizeof sub, path, f->name, -1);
		return check_object(v, f->sub, sub, why, NULL);
	case CI_OBJS:
		if (!cJSON_IsArray(v))
			return ci_shape_fail(why, path, f->name, v,
					     "is not an array");
		if (f->max != BIG && cJSON_GetArraySize(v) > f->max) {
			snprintf(range, sizeof range,
				 "has %d items, more than %lld",
				 cJSON_GetArraySize(v), f->max);
			return ci_shape_fail(why, path, f->name, NULL, range);
		}
		i = 0;
		for (const cJSON *o = v->child; o; o = o->next, i++) {
			sub_path(sub, sizeof sub, path, f->name, i);
			if (!cJSON_IsObject(o))
				return ci_shape_fail(why, sub, "", o,
						     "is not an object");
			if (check_object(o, f->sub, sub, why, NULL) < 0)
				return -1;
		}
		return 0;
	case CI_STRS:
		if (!cJSON_IsArray(v))
			return ci_shape_fail(why, path, f->name, v,
					     "is not an array");
		for (const cJSON *it = v->child; it; it = it->next)
			if (!cJSON_IsString(it) || !*it->valuestring)
				return ci_shape_fail(
				    why, path, f->name, it,
				    "has an item that is not a "
				    "non-empty string:");
		return 0;
	}
	return 0;
}

/* With found, the value of each field goes to found[its index], or NULL. */
static int
check_object(const cJSON *o, const struct ci_shape *s, const char *path,
	     struct ci_buf *why, const cJSON **found)
{
	uint32_t seen = 0;
	const cJSON *v;
	size_t i, k, hint = 0;

	for (v = o->child; v; v = v->next) {
		/* Fields mostly come in the schema's order: look there first.
		 */
		for (k = 0; k < s->n; k++) {
			i = (hint + k) % s->n;
			if (strcmp(v->string, s->f[i].name) == 0)
				break;
		}
		if (k == s->n) {
			ci_buf_printf(why, "%s%sunknown field ", path,
				      *path ? ": " : "");
			ci_buf_json_string(why, v->string, strlen(v->string));
			return -1;
		}
		if (seen & (1u << i)) {
			ci_buf_printf(why, "%s%sfield \"%s\" appears twice",
				      path, *path ? ": " : "", s->f[i].name);
			return -1;
		}
		seen |= 1u << i;
		hint = i + 1;
		if (found)
			found[i] = v;
		if (check_value(v, &s->f[i], path, why) < 0)
			return -1;
	}
	for (i = 0; i < s->n; i++)
		if (s->f[i].required && !(seen & (1u << i))) {
			ci_buf_printf(why, "%s%smissing field \"%s\"", path,
				      *path ? ": " : "", s->f[i].name);
			return -1;
		}
	return s->extra ? s->extra(o, path, why) : 0;
}

/*
 * 0 when v is an object of shape s, else -1 with a one-line reason in why
 * that names the field by its path from path (e.g. history[3].status).
 */
int
ci_shape_check(const cJSON *v, const struct ci_shape *s, const char *path,
	       struct ci_buf *why)
{
	if (!cJSON_IsObject(v)) {
		if (*path)
			return ci_shape_fail(why, path, "", v,
					     "is not an object");
		ci_buf_str(why, "not an object: ");
		show(why, v);
		return -1;
	}
	return check_object(v, s, path, why, NULL);
}

/* 0 when a parsed line is a valid entry, else -1 with the reason in why. */
int
ci_entry_check(const cJSON *entry, struct ci_buf *why)
{
	return ci_shape_check(entry, &entry_s, "", why);
}

/*
 * ci_entry_check, and in the same pass over the entry's fields, the value
 * of each (f[CI_F_...]; NULL when absent), for ci_view_of.
 */
int
ci_entry_fields(const cJSON *entry, const cJSON *f[CI_F_N], struct ci_buf *why)
{
	memset(f, 0, CI_F_N * sizeof *f);
	if (!cJSON_IsObject(entry))
		return ci_shape_check(entry, &entry_s, "", why);
	return check_object(entry, &entry_s, "", why, f);
}

/*
 * A JSON string from p (after its opening quote) decoded into *out and
 * NUL-terminated: the byte after its closing quote, or NULL at a \u
 * escape, an unknown escape or the end.
 */
static const char *
scan_string(const char *p, const char *end, char **out)
{
	static const char esc[256] = {
		['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
		['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'
	};
	const uint64_t ones = 0x0101010101010101ULL, high = ones << 7;
	uint64_t w, q, b;
	char *o = *out, c;

	for (;;) {
		/* 8 bytes at a time up to a quote or a backslash */
		while (end - p >= 8) {
			memcpy(&w, p, 8);
			q = w ^ (ones * '"');
			b = w ^ (ones * '\\');
			if (((q - ones) & ~q & high) | ((b - ones) & ~b & high))
				break;
			memcpy(o, p, 8);
			o += 8;
			p += 8;
		}
		if (p >= end)
			return NULL;
		if ((c = *p++) == '"') {
			*o++ = '\0';
			*out = o;
			return p;
		}
		if (c == '\\' && (p == end || !(c = esc[(unsigned char)*p++])))
			return NULL;
		*o++ = c;
	}
}

/* A string value that field f accepts. */
static int
scan_str_ok(const struct ci_field *f, const char *s)
{
	const char *const *e;

	switch (f->kind) {
	case CI_STR1:
		if (!*s)
			return 0;
		/* fall through */
	case CI_STR:
		return f->max <= 0 || chars(s) <= f->max;
	case CI_ENUM:
		for (e = f->values; *e; e++)
			if (**e == *s && strcmp(s, *e) == 0)
				return 1;
		return 0;
	case CI_PATTERN:
		return f->match(s);
	default:
		return 0;
	}
}

/* A string of field i of shape sh that the field accepts, into o. */
static const char *
scan_str_field(const char *p, const char *end, const struct ci_shape *sh,
	       size_t i, struct ci_flat_obj *o, char **str, struct ci_flat *fl)
{
	if (p >= end || *p++ != '"')
		return NULL;
	o->s[i] = *str;
	if (!(p = scan_string(p, end, str)))
		return NULL;
	if (sh == &entry_s && i == CI_F_TIMESTAMP) {
		/* timestamp_pattern, with its time kept */
		if ((fl->ts_ms = ci_timestamp_ms(o->s[i])) < 0)
			return NULL;
	} else if (!scan_str_ok(&sh->f[i], o->s[i]))
		return NULL;
	return p;
}

/* An array of non-empty strings, its items into o. */
static const char *
scan_strs(const char *p, const char *end, struct ci_flat_obj *o, char **str)
{
	if (p >= end || *p++ != '[')
		return NULL;
	o->strs = *str;
	o->nstrs = 0;
	if (p < end && *p == ']')
		return p + 1;
	for (;;) {
		if (p >= end || *p++ != '"' || p >= end || *p == '"' ||
		    !(p = scan_string(p, end, str)))
			return NULL;
		o->nstrs++;
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p == ']')
			return p + 1;
		else
			return NULL;
	}
}

/* Where each of an entry's objects is read to. */
static struct ci_flat_obj *
scan_sub(const struct ci_shape *sub, struct ci_flat *fl)
{
	return sub == &run_start_s ? &fl->run_start
	    : sub == &test_s       ? &fl->test
	    : sub == &pipeline_s   ? &fl->pipeline
				   : NULL;
}

/*
 * The object from p (after its '{') of shape sh, valid, into o: the byte
 * after its '}', or NULL when it is not valid or not of the forms read
 * here. An entry's objects go to fl.
 */
static const char *
scan_object(const char *p, const char *end, const struct ci_shape *sh,
	    struct ci_flat_obj *o, char **str, struct ci_flat *fl)
{
	const struct ci_field *f;
	struct ci_flat_obj *sub;
	size_t i, j, m, hint = 0;
	long long x;
	int digits;

	o->seen = 0;
	for (;;) {
		if (p >= end || *p++ != '"')
			return NULL;
		/* Its name, looked for first after the field before. */
		for (m = 0, i = hint; m < sh->n; m++) {
			f = &sh->f[i];
			for (j = 0;
			     f->name[j] && p + j < end && p[j] == f->name[j];
			     j++)
				;
			if (!f->name[j] && (size_t)(end - p) > j + 1 &&
			    p[j] == '"' && p[j + 1] == ':')
				break;
			i = i + 1 < sh->n ? i + 1 : 0;
		}
		if (m == sh->n || o->seen & (1u << i))
			return NULL;
		o->seen |= 1u << i;
		hint = i + 1 < sh->n ? i + 1 : 0;
		p += j + 2;
		switch (f->kind) {
		case CI_INT:
			x = 0;
			for (digits = 0;
			     digits <= 15 && p < end && *p >= '0' && *p <= '9';
			     p++, digits++)
				x = x * 10 + (*p - '0');
			if (digits < 1 || digits > 15 ||
			    (digits > 1 && p[-digits] == '0') || x < f->min ||
			    (f->max != BIG && x > f->max))
				return NULL;
			o->num[i] = x;
			break;
		case CI_BOOL:
			if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
				o->num[i] = 0;
				p += 5;
				break;
			}
			/* fall through */
		case CI_TRUE:
			if (end - p < 4 || memcmp(p, "true", 4) != 0)
				return NULL;
			o->num[i] = 1;
			p += 4;
			break;
		case CI_STR:
		case CI_STR1:
		case CI_ENUM:
		case CI_PATTERN:
			if (!(p = scan_str_field(p, end, sh, i, o, str, fl)))
				return NULL;
			break;
		case CI_STRS:
			if (!(p = scan_strs(p, end, o, str)))
				return NULL;
			break;
		case CI_OBJ:
			if (sh != &entry_s || !(sub = scan_sub(f->sub, fl)) ||
			    p >= end || *p++ != '{' ||
			    !(p = scan_object(p, end, f->sub, sub, str, fl)))
				return NULL;
			break;
		default: /* arrays of objects: cJSON reads them */
			return NULL;
		}
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p == '}')
			break;
		else
			return NULL;
	}
	for (i = 0; i < sh->n; i++)
		if (sh->f[i].required && !(o->seen & (1u << i)))
			return NULL;
	/* test_extra: a passed attempt has no failures */
	if (sh == &test_s && strcmp(o->s[CI_TE_STATUS], "passed") == 0 &&
	    o->num[CI_TE_FAILURE_COUNT] != 0)
		return NULL;
	if (sh->extra && sh != &test_s)
		return NULL;
	return p + 1;
}

/*
 * The common entry without a parser: compact, with no array of objects
 * (test cases), strings without a \u escape and whole numbers of at most
 * 15 digits. 1 when the line [p, p + n) is such an entry and valid, with
 * its fields in fl and its strings decoded into str (n + 1 bytes). 0 for
 * any other line, valid or not: cJSON and ci_entry_fields decide it, and
 * give the reason. It only says yes where they say yes too, so both read
 * the same lines the same way.
 */
int
ci_entry_scan(const char *p, size_t n, char *str, struct ci_flat *fl)
{
	const char *end = p + n;

	if (n < 2 || *p != '{')
		return 0;
	return scan_object(p + 1, end, &entry_s, &fl->top, &str, fl) == end;
}
