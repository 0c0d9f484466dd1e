/* ndjson.c: NDJSON read in large blocks, and a per-line arena for cJSON. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ci.h"

#define ND_BLOCK (1u << 20)
#define ARENA_CHUNK (1u << 20)

/* Start reading fd, into a buffer of 1 MiB (r->turns of them). */
void
ci_nd_open(struct ci_nd *r, int fd)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
	r->cap = ND_BLOCK;
	r->buf = xmalloc(r->cap + 1);
	r->turns = 1;
}

void
ci_nd_close(struct ci_nd *r)
{
	r->bufs[r->cur] = r->buf;
	for (int i = 0; i < CI_ND_BUFS; i++)
		free(r->bufs[i]);
	memset(r->bufs, 0, sizeof r->bufs);
	r->buf = NULL;
}

/* Read until the buffer is full or the input ends; -1 on a read error. */
static int
fill(struct ci_nd *r)
{
	ssize_t n;

	while (!r->eof && r->len < r->cap) {
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			r->eof = 1;
		r->len += (size_t)n;
	}
	return 0;
}

/*
 * The next block of whole lines, each ending in '\n' (one is added to a
 * last line that has none): returns its length and points *p at it, 0 at
 * the end of the input, -1 on a read error (errno set). The block stays
 * valid, and may be written to, until the next call; with r->turns set
 * to n, until the n-th call after it (n buffers take turns). A line longer than
 * CI_ND_LINE_MAX is never held: it is read past, and the call returns 0
 * with r->toolong set to its length (the end of the input is then at a call
 * that returns 0 with r->toolong 0).
 */
ssize_t
ci_nd_next(struct ci_nd *r, char **p)
{
	char *nl;
	int k;

	if (r->given && r->turns > 1) {
		k = (r->cur + 1) % r->turns;
		if (r->caps[k] < r->cap) {
			r->bufs[k] = xrealloc(r->bufs[k], r->cap + 1);
			r->caps[k] = r->cap;
		}
		memcpy(r->bufs[k], r->buf + r->given, r->len - r->given);
		r->bufs[r->cur] = r->buf;
		r->caps[r->cur] = r->cap;
		r->cur = k;
		r->buf = r->bufs[k];
		r->cap = r->caps[k];
	} else if (r->given)
		memmove(r->buf, r->buf + r->given, r->len - r->given);
	r->len -= r->given;
	r->given = 0;
	r->toolong = 0;
	for (;;) {
		if (r->skipping) {
			nl = memchr(r->buf, '\n', r->len);
			if (nl || r->eof) {
				r->given =
				    nl ? (size_t)(nl - r->buf) + 1 : r->len;
				r->toolong =
				    r->skipping + r->given - (nl != NULL);
				r->skipping = 0;
				return 0;
			}
			r->skipping += r->len;
			r->len = 0;
		}
		if (fill(r) < 0)
			return -1;
		if (r->skipping)
			continue;
		nl = r->len ? memrchr(r->buf, '\n', r->len) : NULL;
		if (nl) {
			r->given = (size_t)(nl - r->buf) + 1;
			*p = r->buf;
			return (ssize_t)r->given;
		}
		if (r->len > CI_ND_LINE_MAX) {
			r->skipping = r->len;
			r->len = 0;
			continue;
		}
		if (r->eof) {
			if (r->len == 0)
				return 0;
			r->buf[r->len++] = '\n'; /* the +1 of the allocation */
			r->given = r->len;
			*p = r->buf;
			return (ssize_t)r->len;
		}
		/* A long line: grow up to the limit, then give up on it. */
		r->cap = r->cap * 2 > CI_ND_LINE_MAX + 1 ? CI_ND_LINE_MAX + 1
							 : r->cap * 2;
		r->buf = xrealloc(r->buf, r->cap + 1);
	}
}

/*
 * The arena: cJSON's allocations of one line come from a chunk of this
 * thread that ci_arena_reset empties, so parsing a line costs no malloc and
 * no free. Chunks past the first, taken by long lines, are given back at
 * the reset: memory stays at one chunk plus the longest line's tree.
 */
struct chunk {
	struct chunk *next;
	size_t size, used;
	max_align_t data[];
};
static _Thread_local struct chunk *arena;

static void *
arena_alloc(size_t n)
{
	struct chunk *c = arena;
	size_t size;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < n) {
		size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		c = malloc(sizeof *c + size);
		if (!c)
			return NULL; /* cJSON reports the parse as failed */
		c->size = size;
		c->used = 0;
		c->next = arena;
		arena = c;
	}
	c->used += n;
	return (char *)c->data + c->used - n;
}

static void
arena_free(void *p)
{
	(void)p;
}

/* From now on, cJSON allocates from the calling thread's arena. */
void
ci_arena_hooks(void)
{
	cJSON_Hooks h = { arena_alloc, arena_free };

	cJSON_InitHooks(&h);
}

/* Forget every tree parsed since the last reset; keep one plain chunk. */
void
ci_arena_reset(void)
{
	struct chunk *c, *keep = NULL;

	while ((c = arena)) {
		arena = c->next;
		if (!keep && c->size == ARENA_CHUNK)
			keep = c;
		else
			free(c);
	}
	if (keep) {
		keep->used = 0;
		keep->next = NULL;
	}
	arena = keep;
}

/* Give the thread's arena back, at the end of the thread. */
void
ci_arena_free(void)
{
	ci_arena_reset();
	free(arena);
	arena = NULL;
}
