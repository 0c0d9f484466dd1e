/* num.c: one checked parser for numbers from the command line. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "ci.h"

/*
 * Parse a whole decimal integer within [min, max], as OpenBSD's strtonum:
 * on error return 0 and point *why at "is not a number" or "is out of
 * range"; on success *why is NULL.
 */
long long
ci_strtonum(const char *s, long long min, long long max, const char **why)
{
	char *end;
	long long v;

	*why = NULL;
	if (!s || !*s || *s == ' ' || *s == '\t' || *s == '+') {
		*why = "is not a number";
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		*why = "is not a number";
		return 0;
	}
	if (errno == ERANGE || v < min || v > max) {
		*why = "is out of range";
		return 0;
	}
	return v;
}

/* Parse or exit 2: `ci-log: --line: "0" is out of range (1 to 2147483647)`. */
long long
xnum(const char *what, const char *s, long long min, long long max)
{
	const char *why;
	long long v = ci_strtonum(s, min, max, &why);

	if (why)
		ci_usage_error(
		    "%s: \"%s\" %s (expected a whole number from %lld to %lld)",
		    what, s, why, min, max);
	return v;
}

/* The same for a decimal such as a load average: "1.5". */
double
xdecimal(const char *what, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = s && *s && *s != ' ' ? strtod(s, &end) : NAN;
	if (isnan(v) || *end != '\0' || errno == ERANGE || v < min || v > max)
		ci_usage_error("%s: \"%s\" is not a number from %g to %g", what,
			       s ? s : "", min, max);
	return v;
}
