/*
 * diag.c: diagnostics in the common compiler format, FILE:LINE[:COL]: LEVEL:
 * MESSAGE (gcc, clang, shellcheck -f gcc, cppcheck --template=gcc), and
 * paths as they are named from the repository's root.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ci.h"

static const struct {
	const char *word;
	const char *level;
} words[] = {
	{ "fatal error: ", "error" },
	{ "error: ", "error" },
	{ "warning: ", "warn" },
	{ "note: ", "info" },
};

/* A run of digits at s, as a number in 1..LONG_MAX/10; 0 when none. */
static long
number(const char *s, size_t n, size_t *used)
{
	long v = 0;
	size_t i = 0;

	for (; i < n && s[i] >= '0' && s[i] <= '9' && v < LONG_MAX / 10; i++)
		v = v * 10 + (s[i] - '0');
	*used = i;
	return i > 0 && i < n ? v : 0;
}

/*
 * Whether line (n bytes, no newline) is a located diagnostic; if so, d
 * points into it. The file is what comes before the first ":LINE:" that is
 * followed by an optional "COL:", a space and a level word.
 */
int
ci_diag_parse(const char *s, size_t n, struct ci_diag *d)
{
	size_t i, used, at;
	long line, col;

	if (n < 5 || s[0] == ' ' || s[0] == '\t')
		return 0;
	for (i = 1; i + 1 < n; i++) {
		if (s[i] != ':' || s[i + 1] < '0' || s[i + 1] > '9')
			continue;
		at = i + 1;
		line = number(s + at, n - at, &used);
		if (!line || s[at + used] != ':')
			continue;
		at += used + 1;
		col = number(s + at, n - at, &used);
		if (col && s[at + used] == ':')
			at += used + 1;
		else
			col = 0;
		if (at >= n || s[at] != ' ')
			continue;
		at++;
		for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
			size_t wl = strlen(words[w].word);
			if (n - at < wl || memcmp(s + at, words[w].word, wl))
				continue;
			d->file = s;
			d->file_len = i;
			d->line = line;
			d->col = col;
			d->level = words[w].level;
			d->message = s + at + wl;
			d->message_len = n - at - wl;
			return d->message_len > 0;
		}
	}
	return 0;
}

/*
 * The root that paths are named from: GITHUB_WORKSPACE under GitHub
 * Actions, else the git work tree holding the current directory, else
 * none (NULL). Looked up once.
 */
const char *
ci_repo_root(void)
{
	static int done;
	static char *root;
	const char *ws = getenv("GITHUB_WORKSPACE");
	char *dir, *slash;
	struct stat sb;
	struct ci_buf b = { 0 };

	if (done)
		return root;
	done = 1;
	if (ws && *ws == '/')
		return root = realpath(ws, NULL);
	if (!(dir = getcwd(NULL, 0)))
		return NULL;
	for (;;) {
		b.len = 0;
		ci_buf_printf(&b, "%s/.git", dir);
		if (lstat(b.s, &sb) == 0) {
			root = dir;
			break;
		}
		if (!(slash = strrchr(dir, '/')) || slash == dir) {
			free(dir);
			break;
		}
		*slash = '\0';
	}
	ci_buf_free(&b);
	return root;
}

/* Append segment s (n bytes) to path b, folding "." and "..". */
static void
segment(struct ci_buf *b, const char *s, size_t n)
{
	char *slash;

	if (n == 0 || (n == 1 && s[0] == '.'))
		return;
	if (n == 2 && s[0] == '.' && s[1] == '.' && b->len > 0 &&
	    !(b->len >= 2 && !memcmp(b->s + b->len - 2, "..", 2) &&
	      (b->len == 2 || b->s[b->len - 3] == '/'))) {
		slash = memrchr(b->s, '/', b->len);
		b->len = slash ? (size_t)(slash - b->s) : 0;
		b->s[b->len] = '\0';
		return;
	}
	if (b->len > 0)
		ci_buf_add(b, "/", 1);
	ci_buf_add(b, s, n);
}

static void
segments(struct ci_buf *b, const char *s, size_t n)
{
	for (size_t i = 0, j; i < n; i = j + 1) {
		const char *e = memchr(s + i, '/', n - i);
		j = e ? (size_t)(e - s) : n;
		segment(b, s + i, j - i);
	}
}

/*
 * Path p (n bytes) as named from ci_repo_root(), into b: a relative path
 * is relative to the current directory. A path outside the root, or with
 * no root, is kept as it was given.
 */
void
ci_repo_path(struct ci_buf *b, const char *p, size_t n)
{
	const char *root = ci_repo_root();
	struct ci_buf t = { 0 };
	size_t rl = root ? strlen(root) : 0;
	char *cwd = NULL;
	int inside = 0;

	ci_buf_add(&t, "", 0);
	if (!root || n == 0) {
		/* kept as it is */
	} else if (p[0] == '/') {
		if (n > rl + 1 && !strncmp(p, root, rl) && p[rl] == '/') {
			segments(&t, p + rl + 1, n - rl - 1);
			inside = 1;
		}
	} else if ((cwd = getcwd(NULL, 0)) && !strncmp(cwd, root, rl) &&
		   (cwd[rl] == '/' || cwd[rl] == '\0')) {
		segments(&t, cwd + rl, strlen(cwd + rl));
		segments(&t, p, n);
		inside = 1;
	}
	free(cwd);
	/* Above the root, or the root itself, is not inside it. */
	if (inside && t.len > 0 &&
	    !(t.len >= 2 && !memcmp(t.s, "..", 2) &&
	      (t.len == 2 || t.s[2] == '/')))
		ci_buf_add(b, t.s, t.len);
	else
		ci_buf_add(b, p, n);
	ci_buf_free(&t);
}
