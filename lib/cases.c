/*
 * cases.c: the test cases of one suite attempt, as a suite's TAP or JUnit
 * report names them, kept within the bounds of log-schema.json's case: at
 * most CI_CASES_MAX of them and CI_CASES_BYTES of text, names and messages
 * cut at a UTF-8 boundary. Written into a Test Execution and read back.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"

const char *const ci_case_statuses[] = { "passed", "failed", "skipped", NULL };

static char *
dup_cut(const char *s, size_t n, size_t max, int *cut)
{
	char *d;

	if (n > max) {
		n = ci_utf8_boundary(s, max);
		if (cut)
			*cut = 1;
	}
	d = xmalloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Strip spaces at both ends of s[0..*n). */
static const char *
trim(const char *s, size_t *n)
{
	while (*n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++, (*n)--;
	while (*n &&
	       (s[*n - 1] == ' ' || s[*n - 1] == '\t' || s[*n - 1] == '\n' ||
		s[*n - 1] == '\r'))
		(*n)--;
	return s;
}

/*
 * Add a case; classname may be NULL or empty, duration_ms < 0 is unknown.
 * Past the bounds the case is only counted, in omitted. The case added, or
 * NULL.
 */
struct ci_case *
ci_cases_add(struct ci_cases *c, const char *name, size_t nlen,
	     const char *classname, size_t clen, int status,
	     long long duration_ms)
{
	struct ci_case *k;

	name = trim(name, &nlen);
	if (classname)
		classname = trim(classname, &clen);
	if (nlen == 0)
		name = "(unnamed)", nlen = 9;
	if (c->n >= CI_CASES_MAX ||
	    c->bytes + nlen + clen + 64 > CI_CASES_BYTES) {
		c->omitted++;
		c->omitted_failed += status == CI_CASE_FAILED;
		return NULL;
	}
	if ((c->n & (c->n - 1)) == 0)
		c->v = xrealloc(c->v, (c->n ? c->n * 2 : 8) * sizeof *c->v);
	k = &c->v[c->n++];
	memset(k, 0, sizeof *k);
	k->name = dup_cut(name, nlen, CI_CASE_NAME, NULL);
	if (classname && clen)
		k->classname = dup_cut(classname, clen, CI_CASE_NAME, NULL);
	k->status = status;
	k->duration_ms = duration_ms;
	c->bytes +=
	    strlen(k->name) + (k->classname ? strlen(k->classname) : 0) + 64;
	return k;
}

/* Add text to a failed case's message: its first CI_CASE_TEXT bytes. */
void
ci_case_message(struct ci_cases *c, struct ci_case *k, const char *s, size_t n)
{
	size_t have, room;
	char *m;

	if (!k || k->message_cut || n == 0)
		return;
	have = k->message ? strlen(k->message) : 0;
	if (have == 0)
		s = trim(s, &n);
	if (n == 0)
		return;
	room = CI_CASE_TEXT - have - (have > 0);
	if (c->bytes + n + 1 > CI_CASES_BYTES)
		room = 0;
	if (n > room) {
		n = ci_utf8_boundary(s, room);
		k->message_cut = 1;
		if (have && n == 0)
			return;
	}
	m = xrealloc(k->message, have + n + 2);
	if (have)
		m[have++] = '\n';
	memcpy(m + have, s, n);
	m[have + n] = '\0';
	k->message = m;
	c->bytes += n + 1;
}

long
ci_cases_failed(const struct ci_cases *c)
{
	long n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += c->v[i].status == CI_CASE_FAILED;
	return n;
}

/* ,"cases":[...],"cases_omitted":N for a test_execution object. */
/* A JSON string of s, with CI_MASK's values as ***. */
static void
json_masked(struct ci_buf *b, const char *s)
{
	static struct ci_buf masked;
	size_t n = strlen(s);

	if (ci_mask(&masked, s, n))
		ci_buf_json_string(b, masked.s, masked.len);
	else
		ci_buf_json_string(b, s, n);
}

void
ci_cases_json(struct ci_buf *b, const struct ci_cases *c)
{
	ci_buf_str(b, ",\"cases\":[");
	for (size_t i = 0; i < c->n; i++) {
		const struct ci_case *k = &c->v[i];
		ci_buf_str(b, i ? ",{\"name\":" : "{\"name\":");
		json_masked(b, k->name);
		if (k->classname) {
			ci_buf_str(b, ",\"classname\":");
			json_masked(b, k->classname);
		}
		ci_buf_printf(b, ",\"status\":\"%s\"",
			      ci_case_statuses[k->status]);
		if (k->duration_ms >= 0)
			ci_buf_printf(b, ",\"duration_ms\":%lld",
				      k->duration_ms);
		if (k->message) {
			ci_buf_str(b, ",\"message\":");
			json_masked(b, k->message);
		}
		if (k->message_cut)
			ci_buf_str(b, ",\"message_cut\":true");
		ci_buf_str(b, "}");
	}
	ci_buf_printf(b, "],\"cases_omitted\":%lld", c->omitted);
}

/*
 * The cases of a valid test_execution object (its "cases" array and
 * "cases_omitted"), added to c.
 */
void
ci_cases_read(struct ci_cases *c, const cJSON *te)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(te, "cases");
	const cJSON *om = cJSON_GetObjectItemCaseSensitive(te, "cases_omitted");

	const cJSON *o, *v;
	struct ci_case *k;
	const char *name, *cls;
	int st;

	cJSON_ArrayForEach(o, arr)
	{
		v = cJSON_GetObjectItemCaseSensitive(o, "name");
		name = cJSON_IsString(v) ? v->valuestring : "";
		v = cJSON_GetObjectItemCaseSensitive(o, "classname");
		cls = cJSON_IsString(v) ? v->valuestring : NULL;
		v = cJSON_GetObjectItemCaseSensitive(o, "status");
		st = CI_CASE_PASSED;
		for (int i = 0; cJSON_IsString(v) && ci_case_statuses[i]; i++)
			if (strcmp(v->valuestring, ci_case_statuses[i]) == 0)
				st = i;
		v = cJSON_GetObjectItemCaseSensitive(o, "duration_ms");
		k = ci_cases_add(
		    c, name, strlen(name), cls, cls ? strlen(cls) : 0, st,
		    cJSON_IsNumber(v) ? (long long)v->valuedouble : -1);
		v = cJSON_GetObjectItemCaseSensitive(o, "message");
		if (k && cJSON_IsString(v))
			ci_case_message(c, k, v->valuestring,
					strlen(v->valuestring));
		if (k &&
		    cJSON_IsTrue(
			cJSON_GetObjectItemCaseSensitive(o, "message_cut")))
			k->message_cut = 1;
	}
	if (cJSON_IsNumber(om) && om->valuedouble > 0 && om->valuedouble < 1e15)
		c->omitted += (long long)om->valuedouble;
}

void
ci_cases_copy(struct ci_cases *dst, const struct ci_cases *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const struct ci_case *s = &src->v[i];
		struct ci_case *k =
		    ci_cases_add(dst, s->name, strlen(s->name), s->classname,
				 s->classname ? strlen(s->classname) : 0,
				 s->status, s->duration_ms);
		if (k && s->message)
			ci_case_message(dst, k, s->message, strlen(s->message));
		if (k)
			k->message_cut |= s->message_cut;
	}
	dst->omitted += src->omitted;
	dst->omitted_failed += src->omitted_failed;
}

/* A case's full name: classname.name, or name alone. */
void
ci_case_fullname(struct ci_buf *b, const struct ci_case *k)
{
	if (k->classname)
		ci_buf_printf(b, "%s.", k->classname);
	ci_buf_str(b, k->name);
}

void
ci_cases_free(struct ci_cases *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].classname);
		free(c->v[i].message);
	}
	free(c->v);
	memset(c, 0, sizeof *c);
}
