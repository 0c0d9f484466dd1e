/*
 * junit: ci-testpar's reader of a suite's JUnit XML report
 * (tools/ci-testpar/junit.c) on any bytes: a report read whole or refused
 * with a note; the cases stay within the bounds of the log schema.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../tools/ci-testpar/testpar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ci_cases cases = { 0 };
	struct ci_buf note = { 0 }, b = { 0 };
	struct timespec since = { 0 };
	char path[64];
	long failed;
	int fd = memfd_create("junit", 0);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	failed = junit_read(path, &since, &note, &cases);
	if (failed < 0 ? note.len == 0 || cases.n != 0
		       : note.len != 0 || cases.n > CI_CASES_MAX ||
		    cases.bytes > CI_CASES_BYTES ||
		    failed < ci_cases_failed(&cases))
		abort();
	ci_cases_json(&b, &cases);
	ci_cases_free(&cases);
	ci_buf_free(&note);
	ci_buf_free(&b);
	close(fd);
	return 0;
}
