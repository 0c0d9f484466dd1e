/* lines.c: split a byte stream into lines, in bounded memory. */
#include <stdlib.h>
#include <string.h>

#include "ci.h"

/*
 * Lines are delivered without their newline, and without a CR just before
 * it. A line longer than max bytes (default CI_LINE_MAX) is delivered in
 * pieces of at most max bytes, cut between UTF-8 characters; every piece but
 * the last is marked continued. Memory stays under max plus a few bytes.
 */
static size_t
limit(const struct ci_lines *l)
{
	return l->max ? l->max : CI_LINE_MAX;
}

static void
deliver(struct ci_lines *l, const char *p, size_t n, ci_line_fn fn, void *arg)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	l->lineno++;
	fn(arg, p, n, 0);
}

/* Append to the pending line, handing out full pieces as they form. */
static void
append(struct ci_lines *l, const char *p, size_t n, ci_line_fn fn, void *arg)
{
	size_t max = limit(l), take, cut;

	while (n > 0) {
		take = max + 4 - l->len < n ? max + 4 - l->len : n;
		if (l->len + take > l->cap) {
			l->cap = l->cap ? l->cap * 2 : 4096;
			if (l->cap < l->len + take)
				l->cap = l->len + take;
			if (l->cap > max + 4)
				l->cap = max + 4;
			l->buf = xrealloc(l->buf, l->cap);
		}
		memcpy(l->buf + l->len, p, take);
		l->len += take;
		p += take;
		n -= take;
		while (l->len > max) {
			cut = ci_utf8_boundary(l->buf, max);
			if (cut == 0)
				cut = max;
			fn(arg, l->buf, cut, 1);
			memmove(l->buf, l->buf + cut, l->len - cut);
			l->len -= cut;
		}
	}
}

void
ci_lines_feed(struct ci_lines *l, const char *data, size_t n, ci_line_fn fn,
	      void *arg)
{
	const char *nl;
	size_t seg;

	while (n > 0) {
		nl = memchr(data, '\n', n);
		if (!nl) {
			append(l, data, n, fn, arg);
			return;
		}
		seg = (size_t)(nl - data);
		if (l->len == 0 && seg <= limit(l)) {
			deliver(l, data, seg, fn, arg);
		} else {
			append(l, data, seg, fn, arg);
			deliver(l, l->buf, l->len, fn, arg);
			l->len = 0;
		}
		data += seg + 1;
		n -= seg + 1;
	}
}

/* At end of input: a last line without a newline is not lost. */
void
ci_lines_finish(struct ci_lines *l, ci_line_fn fn, void *arg)
{
	if (l->len > 0) {
		deliver(l, l->buf, l->len, fn, arg);
		l->len = 0;
	}
}

void
ci_lines_free(struct ci_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}
