/* junit.c: failed test cases in a suite's JUnit XML report. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <expat.h>

#include "testpar.h"

struct junit {
	long failures;
	int in_case, case_failed;
};

static void XMLCALL
junit_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct junit *j = arg;

	(void)attrs;
	if (strcmp(name, "testcase") == 0)
		j->in_case = 1, j->case_failed = 0;
	else if (j->in_case &&
		 (strcmp(name, "failure") == 0 || strcmp(name, "error") == 0))
		j->case_failed = 1;
}

static void XMLCALL
junit_end(void *arg, const XML_Char *name)
{
	struct junit *j = arg;

	if (strcmp(name, "testcase") == 0 && j->in_case) {
		j->failures += j->case_failed;
		j->in_case = 0;
	}
}

/*
 * Failed test cases in a JUnit XML report (a <testcase> with a <failure> or
 * an <error>), or -1 with a note saying why the report was not used: absent,
 * older than the attempt, not well-formed.
 */
long
junit_failures(const char *path, const struct timespec *since,
	       struct ci_buf *note)
{
	struct junit j = { 0 };
	struct stat st;
	XML_Parser xp;
	char buf[16384];
	ssize_t n;
	int fd, done = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		ci_buf_printf(note, "JUnit report %s: %s", path,
			      strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* File times lag the clock by a tick: allow 50 ms. */
	if ((long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 <
	    (long long)since->tv_sec * 1000 + since->tv_nsec / 1000000 - 50) {
		ci_buf_printf(
		    note, "JUnit report %s: not written by this attempt", path);
		close(fd);
		return -1;
	}
	if (!(xp = XML_ParserCreate(NULL)))
		ci_die(1, "out of memory");
	XML_SetUserData(xp, &j);
	XML_SetElementHandler(xp, junit_start, junit_end);
	while (!done) {
		while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
			;
		if (n < 0) {
			ci_buf_printf(note, "JUnit report %s: %s", path,
				      strerror(errno));
			break;
		}
		done = n == 0;
		if (XML_Parse(xp, buf, (int)n, done) == XML_STATUS_ERROR) {
			ci_buf_printf(
			    note, "JUnit report %s: line %lu: %s", path,
			    (unsigned long)XML_GetCurrentLineNumber(xp),
			    XML_ErrorString(XML_GetErrorCode(xp)));
			break;
		}
	}
	XML_ParserFree(xp);
	close(fd);
	return note->len ? -1 : j.failures;
}
