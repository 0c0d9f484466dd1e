/* time.c: UTC timestamps and clocks. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ci.h"

struct timespec
ci_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* Milliseconds on a clock that never jumps, for durations. */
long long
ci_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * 2025-10-20T14:30:45Z, or 2025-10-20T14:30:45.123Z with millis. The
 * formatted second is cached: filter mode stamps many lines a second.
 */
void
ci_iso8601(char buf[32], struct timespec ts, int millis)
{
	static time_t cached = -1;
	static char sec[32];
	struct tm tm;

	if (ts.tv_sec != cached) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
		cached = ts.tv_sec;
	}
	memcpy(buf, sec, 19);
	if (millis) {
		int ms = (int)(ts.tv_nsec / 1000000);
		buf[19] = '.';
		buf[20] = (char)('0' + ms / 100);
		buf[21] = (char)('0' + ms / 10 % 10);
		buf[22] = (char)('0' + ms % 10);
		memcpy(buf + 23, "Z", 2);
	} else
		memcpy(buf + 19, "Z", 2);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/*
 * The one parser of the timestamps the tools write: YYYY-MM-DDTHH:MM:SS,
 * an optional fraction of up to 9 digits, then Z. With calendar, the day
 * exists (month lengths, leap years); without, any day 01-31 passes, as
 * the pattern of contracts/log-schema.json says, and counts on from the
 * month's start (2025-02-31 is March 3rd). 0, or -1 when malformed.
 */
static int
parse_time(const char *s, struct timespec *ts, int calendar)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se, nd = 0;
	long ns = 0;
	const char *p;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
	    digits(s + 17, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > (calendar ? mdays[mo - 1] : 31) ||
	    h > 23 || mi > 59 || se > 60)
		return -1;
	if (calendar && mo == 2 && d == 29 &&
	    !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nd++)
			if (nd < 9)
				ns = ns * 10 + (*p - '0');
		if (nd == 0 || nd > 9)
			return -1;
		for (int i = nd; i < 9; i++)
			ns *= 10;
	}
	if (p[0] != 'Z' || p[1] != '\0')
		return -1;
	ts->tv_sec = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 +
			      mi * 60 + se);
	ts->tv_nsec = ns;
	return 0;
}

/* A timestamp of a day that exists; 0, or -1 when malformed. */
int
ci_parse_iso8601(const char *s, struct timespec *ts)
{
	return parse_time(s, ts, 1);
}

/*
 * Milliseconds since 1970 of a timestamp that matches the schema's pattern
 * (days 01-31 in every month), or -1.
 */
long long
ci_timestamp_ms(const char *s)
{
	struct timespec ts;

	if (parse_time(s, &ts, 0) < 0)
		return -1;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
