/* buf.c: a growable byte buffer and JSON string escaping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ci.h"

static void
reserve(struct ci_buf *b, size_t n)
{
	size_t cap;

	if (b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->s = xrealloc(b->s, cap);
	b->cap = cap;
}

/* The buffer stays NUL-terminated, so b->s is also a C string. */
void
ci_buf_add(struct ci_buf *b, const void *p, size_t n)
{
	reserve(b, n);
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
ci_buf_str(struct ci_buf *b, const char *s)
{
	ci_buf_add(b, s, strlen(s));
}

void
ci_buf_printf(struct ci_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
ci_buf_free(struct ci_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
size_t
ci_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t len;

	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/*
 * Append s[0..n) as a JSON string with its quotes. Quote, backslash and
 * control characters are escaped (\n, \r, \t, \b, \f, else \u00XX, NUL and
 * DEL included); each byte that does not start a valid UTF-8 sequence
 * becomes U+FFFD. The output is always valid JSON in valid UTF-8.
 */
void
ci_buf_json_string(struct ci_buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	static const char short_escape[0x20] = {
		['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n',
		['\f'] = 'f', ['\r'] = 'r',
	};
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run, len;
	char esc[6];

	reserve(b, n + 2);
	b->s[b->len++] = '"';
	while (i < n) {
		for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x7f &&
		     s[run] != '"' && s[run] != '\\';
		     run++)
			;
		if (run > i) {
			ci_buf_add(b, s + i, run - i);
			i = run;
			continue;
		}
		if (s[i] >= 0x80) {
			if ((len = ci_utf8_len(s + i, n - i))) {
				ci_buf_add(b, s + i, len);
				i += len;
			} else {
				ci_buf_add(b, "\xEF\xBF\xBD", 3);
				i++;
			}
			continue;
		}
		esc[0] = '\\';
		if (s[i] == '"' || s[i] == '\\') {
			esc[1] = (char)s[i];
			len = 2;
		} else if (s[i] < 0x20 && short_escape[s[i]]) {
			esc[1] = short_escape[s[i]];
			len = 2;
		} else {
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[s[i] >> 4];
			esc[5] = hex[s[i] & 15];
			len = 6;
		}
		ci_buf_add(b, esc, len);
		i++;
	}
	ci_buf_add(b, "\"", 1);
}

/* The largest m <= n at which s can be cut without splitting a character. */
size_t
ci_utf8_boundary(const char *s, size_t n)
{
	size_t m = n;

	for (int k = 0; k < 3 && m > 0; k++) {
		unsigned char c = (unsigned char)s[m];
		if ((c & 0xC0) != 0x80)
			return m;
		m--;
	}
	return ((unsigned char)s[m] & 0xC0) == 0x80 ? n : m;
}
