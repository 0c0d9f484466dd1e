/*
 * github.c: the files GitHub Actions reads after a step: NAME=value lines
 * for $GITHUB_ENV and $GITHUB_OUTPUT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ci.h"

/*
 * One variable as the runner reads it: NAME=value, taken literally, or for
 * a value holding a line break NAME<<DELIM, the value, DELIM, with a
 * delimiter that the value does not contain.
 */
void
ci_github_var(struct ci_buf *b, const char *name, const char *value)
{
	char delim[32];
	unsigned k = 0;

	if (!strpbrk(value, "\r\n")) {
		ci_buf_printf(b, "%s=%s\n", name, value);
		return;
	}
	do
		snprintf(delim, sizeof delim, "CI_TOOLS_EOF_%u", k++);
	while (strstr(value, delim));
	ci_buf_printf(b, "%s<<%s\n%s\n%s\n", name, delim, value, delim);
}

/*
 * Append b, lines of ci_github_var, to the file $GITHUB_OUTPUT names, with
 * one write, when GITHUB_ACTIONS is true and it is set. 0, or -1 with a
 * message naming the file.
 */
int
ci_github_outputs(const struct ci_buf *b)
{
	const char *gh = getenv("GITHUB_ACTIONS");
	const char *path = getenv("GITHUB_OUTPUT");
	int fd, e;

	if (!gh || strcmp(gh, "true") != 0 || !path || !*path || !b->len)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0 || ci_write_all(fd, b->s, b->len) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		ci_warn("GITHUB_OUTPUT: cannot write %s: %s", path,
			strerror(e));
		return -1;
	}
	if (close(fd) < 0) {
		ci_warn("GITHUB_OUTPUT: cannot write %s: %s", path,
			strerror(errno));
		return -1;
	}
	return 0;
}
