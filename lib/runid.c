/* runid.c: run ids run-YYYYMMDD-HHMMSS-xxxxxx. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ci.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/*
 * Six characters from [a-z0-9], drawn from getrandom(2) by rejection so that
 * each is uniform: bytes of 252 and over (7 * 36) are drawn again.
 */
static int
suffix(char out[6])
{
	unsigned char r[32];
	size_t i = 0, have = 0;

	for (int k = 0; k < 6;) {
		if (i == have) {
			ssize_t n = getrandom(r, sizeof r, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			have = (size_t)n;
			i = 0;
		}
		if (r[i] < 252)
			out[k++] = alphabet[r[i] % 36];
		i++;
	}
	return 0;
}

/* A new id for the UTC time t; -1 when the system has no randomness. */
int
ci_runid_new(char buf[CI_RUNID_LEN + 1], time_t t)
{
	struct tm tm;
	char rnd[6], tmp[64];

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || suffix(rnd) < 0)
		return -1;
	snprintf(tmp, sizeof tmp, "run-%04d%02d%02d-%02d%02d%02d-%.6s",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, rnd);
	memcpy(buf, tmp, CI_RUNID_LEN + 1);
	return 0;
}

static int
num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + s[i] - '0';
	}
	return v;
}

/* NULL for a well-formed id, else what is wrong with it. */
const char *
ci_runid_check(const char *id)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };
	size_t len = strlen(id);
	int y, mo, d, h, mi, s;

	if (strncmp(id, "run-", 4) != 0)
		return "does not start with \"run-\"";
	if (len != CI_RUNID_LEN || id[12] != '-' || id[19] != '-')
		return "is not of the form run-YYYYMMDD-HHMMSS-xxxxxx";
	y = num(id + 4, 4);
	mo = num(id + 8, 2);
	d = num(id + 10, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 || y % 400 == 0))))
		return "has no valid date YYYYMMDD after \"run-\"";
	h = num(id + 13, 2);
	mi = num(id + 15, 2);
	s = num(id + 17, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
		return "has no valid time HHMMSS after the date";
	for (int i = 20; i < CI_RUNID_LEN; i++)
		if (!strchr(alphabet, id[i]) || id[i] == '\0')
			return "does not end in 6 characters from a-z and 0-9";
	return NULL;
}

/* $CI_RUN_ID, or exit 2 saying it is missing or what is wrong with it. */
const char *
xrunid_env(void)
{
	const char *id = getenv("CI_RUN_ID"), *why;

	if (!id || !*id)
		ci_die(CI_EXIT_USAGE,
		       "CI_RUN_ID is not set (mint one with: "
		       "eval \"$(ci-runid --env)\")");
	if ((why = ci_runid_check(id)))
		ci_die(CI_EXIT_USAGE, "CI_RUN_ID: \"%.64s\" %s", id, why);
	return id;
}
