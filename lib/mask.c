/*
 * mask.c: CI_MASK names environment variables, comma-separated, whose
 * values the tools write as *** wherever they would appear: messages,
 * annotations, echoed and passed-through lines, reports.
 */
#include <stdlib.h>
#include <string.h>

#include "ci.h"

#define MASK_MIN 4 /* shorter values would mask digits of every time */

static struct ci_buf names; /* the values, each NUL-terminated */
static size_t nvalues;
static int loaded;

static void
load(void)
{
	const char *list = getenv("CI_MASK"), *v;
	char name[256];
	size_t n;

	loaded = 1;
	for (const char *p = list; p && *p; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		if (n == 0 || n >= sizeof name)
			continue;
		memcpy(name, p, n);
		name[n] = '\0';
		if (!(v = getenv(name)) || strlen(v) < MASK_MIN)
			continue;
		ci_buf_add(&names, v, strlen(v) + 1);
		nvalues++;
	}
}

/* The masked values, one after another, NUL-terminated; NULL if none. */
const char *
ci_mask_values(size_t *n)
{
	if (!loaded)
		load();
	*n = nvalues;
	return nvalues ? names.s : NULL;
}

/*
 * Whether s (n bytes) holds a masked value. If it does, b holds a copy of
 * s with each one replaced by ***, and the caller writes that instead.
 */
int
ci_mask(struct ci_buf *b, const char *s, size_t n)
{
	size_t count, at = 0, best_len = 0;
	const char *v, *best;
	int found = 0;

	if (!(v = ci_mask_values(&count)))
		return 0;
	b->len = 0;
	while (at < n) {
		best = NULL;
		v = names.s;
		for (size_t i = 0; i < count; i++, v += strlen(v) + 1) {
			const char *hit = memmem(s + at, n - at, v, strlen(v));
			if (hit &&
			    (!best || hit < best ||
			     (hit == best && strlen(v) > best_len))) {
				best = hit;
				best_len = strlen(v);
			}
		}
		if (!best)
			break;
		ci_buf_add(b, s + at, (size_t)(best - (s + at)));
		ci_buf_add(b, "***", 3);
		at = (size_t)(best - s) + best_len;
		found = 1;
	}
	if (found)
		ci_buf_add(b, s + at, n - at);
	return found;
}
