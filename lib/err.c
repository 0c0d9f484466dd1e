/* err.c: messages prefixed with the program's name, and stdout discipline. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ci.h"

const char *progname = "ci";

/*
 * Name the program for messages and ignore SIGPIPE, so that a closed
 * stdout shows up as EPIPE and ends the tool quietly instead of killing it
 * in the middle of an append. Tools that run commands restore SIGPIPE in the
 * child before exec.
 */
void
ci_init(const char *argv0)
{
	const char *slash;

	if (argv0 && *argv0) {
		slash = strrchr(argv0, '/');
		progname = slash ? slash + 1 : argv0;
	}
	signal(SIGPIPE, SIG_IGN);
}

static void
vwarn_line(const char *fmt, va_list ap)
{
	char line[4096];
	int n, m;

	n = snprintf(line, sizeof line, "%s: ", progname);
	m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof line - 2)
		m = sizeof line - 2 - n;
	line[n + m] = '\n';
	/* One write, so that messages of concurrent tools do not mix. */
	(void)ci_write_all(2, line, n + m + 1);
}

void
ci_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn_line(fmt, ap);
	va_end(ap);
}

void
ci_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn_line(fmt, ap);
	va_end(ap);
	exit(code);
}

/* A usage error: one line that names the problem and points at --help. */
void
ci_usage_error(const char *fmt, ...)
{
	char msg[3072];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ci_die(CI_EXIT_USAGE, "%s (see '%s --help')", msg, progname);
}

/*
 * Called for getopt_long's '?' and ':' (the option string starts with ':'):
 * name the unknown option, or the one that lacks its argument, and exit 2.
 */
void
ci_bad_option(int c, int argc, char **argv)
{
	const char *arg =
	    optind - 1 < argc && optind > 0 ? argv[optind - 1] : "";
	char name[64];

	if (strncmp(arg, "--", 2) == 0)
		snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="),
			 arg);
	else
		snprintf(name, sizeof name, "-%c", optopt ? optopt : '?');
	if (c == ':')
		ci_usage_error("%s: missing argument", name);
	ci_usage_error("%s: unknown option", name);
}

void
ci_version(void)
{
	printf("%s %s\n", progname, CI_VERSION);
	exit(xfinish_stdout());
}

int
ci_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static _Noreturn void
stdout_failed(void)
{
	if (errno == EPIPE)
		exit(CI_EXIT_OK);
	ci_die(1, "standard output: %s", strerror(errno));
}

/* Write to stdout past stdio (after flushing it); EPIPE ends quietly. */
void
xwrite_stdout(const void *buf, size_t len)
{
	if (fflush(stdout) == EOF || ci_write_all(1, buf, len) < 0)
		stdout_failed();
}

/* Flush and check stdout at the end of main; returns 0 or exits. */
int
xfinish_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		stdout_failed();
	return 0;
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		ci_die(1, "out of memory (%zu bytes)", n);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		ci_die(1, "out of memory (%zu bytes)", n);
	return p;
}

char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

/* Whether output on fd may be coloured: a terminal, NO_COLOR unset or
 * empty, and TERM not dumb. */
int
ci_color(int fd)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	return isatty(fd) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
}
