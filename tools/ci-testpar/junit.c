/* junit.c: the test cases of a suite's JUnit XML report. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <expat.h>

#include "testpar.h"

struct junit {
	struct ci_cases *cases;
	struct ci_case *k; /* the case being read, or NULL */
	int in_case, in_text; /* in a <testcase>; in its failure's text */
	struct ci_buf text; /* of the failure, its first bytes */
};

static const char *
attr(const XML_Char **attrs, const char *name)
{
	for (; attrs[0]; attrs += 2)
		if (strcmp(attrs[0], name) == 0)
			return attrs[1];
	return NULL;
}

static void XMLCALL
junit_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct junit *j = arg;
	const char *n, *c, *t;
	char *end;
	double sec;
	long long ms = -1;

	if (strcmp(name, "testcase") == 0) {
		n = attr(attrs, "name");
		if (!(c = attr(attrs, "classname")))
			c = attr(attrs, "file");
		if ((t = attr(attrs, "time"))) {
			sec = strtod(t, &end);
			if (end != t && !*end && sec >= 0 && sec < 1e9)
				ms = (long long)(sec * 1000 + 0.5);
		}
		j->in_case = 1;
		j->k = ci_cases_add(j->cases, n ? n : "", n ? strlen(n) : 0, c,
				    c ? strlen(c) : 0, CI_CASE_PASSED, ms);
	} else if (j->in_case &&
		   (strcmp(name, "failure") == 0 ||
		    strcmp(name, "error") == 0)) {
		if (!j->k) {
			j->cases->omitted_failed++;
			return;
		}
		if (j->k->status != CI_CASE_FAILED &&
		    (n = attr(attrs, "message")))
			ci_case_message(j->cases, j->k, n, strlen(n));
		j->k->status = CI_CASE_FAILED;
		j->in_text = 1;
	} else if (j->in_case && j->k && strcmp(name, "skipped") == 0 &&
		   j->k->status != CI_CASE_FAILED) {
		j->k->status = CI_CASE_SKIPPED;
	}
}

static void XMLCALL
junit_end(void *arg, const XML_Char *name)
{
	struct junit *j = arg;

	if (strcmp(name, "testcase") == 0)
		j->in_case = 0, j->k = NULL;
	else if (j->in_text &&
		 (strcmp(name, "failure") == 0 || strcmp(name, "error") == 0)) {
		ci_case_message(j->cases, j->k, j->text.s, j->text.len);
		j->text.len = 0;
		j->in_text = 0;
	}
}

static void XMLCALL
junit_text(void *arg, const XML_Char *s, int len)
{
	struct junit *j = arg;

	if (j->in_text && j->k && j->text.len < 2 * CI_CASE_TEXT)
		ci_buf_add(&j->text, s, (size_t)len);
}

/*
 * The cases of a JUnit XML report (a <testcase> with a <failure> or an
 * <error> failed, one with <skipped> skipped) into cases, and how many
 * failed; or -1 with a note saying why the report was not used: absent,
 * older than the attempt, not well-formed.
 */
long
junit_read(const char *path, const struct timespec *since, struct ci_buf *note,
	   struct ci_cases *cases)
{
	struct junit j = { .cases = cases };
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
	XML_SetCharacterDataHandler(xp, junit_text);
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
	ci_buf_free(&j.text);
	if (note->len) {
		ci_cases_free(cases);
		return -1;
	}
	return ci_cases_failed(cases) + cases->omitted_failed;
}
