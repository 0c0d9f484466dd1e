/*
 * ci-runid: mint and check the run's correlation id run-YYYYMMDD-HHMMSS-xxxxxx
 * (UTC, six random characters from [a-z0-9]), and print the environment a
 * pipeline needs: CI_RUN_ID, the log file of the same second, and the W3C
 * TRACEPARENT of the run's root span.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ci.h"

static void print_env(const char *id, time_t t);
static void put_value(const char *s);

static void
usage(FILE *f)
{
	fputs("usage: ci-runid [--time EPOCH] [--env | -n COUNT]\n"
	      "       ci-runid --check ID\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "env", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "time", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *check = NULL, *why;
	char id[CI_RUNID_LEN + 1];
	long long count = 1;
	int c, env = 0, counted = 0;
	time_t t = time(NULL);

	ci_init(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hn:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			check = optarg;
			break;
		case 'e':
			env = 1;
			break;
		case 'h':
			usage(stdout);
			return xfinish_stdout();
		case 'n':
			count = xnum("--count", optarg, 1, 100000000);
			counted = 1;
			break;
		case 't':
			t = (time_t)xnum("--time", optarg, 0, 253402300799LL);
			break;
		case 'V':
			ci_version();
		default:
			ci_bad_option(c, argc, argv);
		}
	}
	if (optind < argc)
		ci_usage_error("unexpected argument \"%s\"", argv[optind]);
	if (check && (env || counted))
		ci_usage_error(
		    "--check cannot be combined with --env or --count");
	if (env && counted)
		ci_usage_error(
		    "--env prints one id: it cannot be combined with --count");

	if (check) {
		if ((why = ci_runid_check(check))) {
			ci_warn("\"%.64s\" %s", check, why);
			return 1;
		}
		return 0;
	}
	for (long long i = 0; i < count; i++) {
		if (ci_runid_new(id, t) < 0)
			ci_die(1,
			       "cannot mint a run id: no randomness from "
			       "getrandom(2)");
		if (env)
			print_env(id, t);
		else
			printf("%s\n", id);
	}
	return xfinish_stdout();
}

/*
 * CI_RUN_ID, CI_LOG_FILE=$CI_LOG_DIR/ci-YYYYMMDD_HHMMSS.log of the same
 * second, and TRACEPARENT for the run's root span.
 */
static void
print_env(const char *id, time_t t)
{
	const char *dir = getenv("CI_LOG_DIR");
	struct ci_buf path = { 0 };
	struct tm tm;
	char name[40], tp[CI_TRACEPARENT_LEN + 1];
	size_t n;

	if (!dir || !*dir)
		dir = "logs";
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	gmtime_r(&t, &tm);
	strftime(name, sizeof name, "ci-%Y%m%d_%H%M%S.log", &tm);
	if (n == 1 && dir[0] == '/')
		n = 0;
	ci_buf_printf(&path, "%.*s/%s", (int)n, dir, name);
	printf("CI_RUN_ID=%s\nCI_LOG_FILE=", id);
	put_value(path.s);
	ci_traceparent(tp, id, NULL, 0);
	printf("\nTRACEPARENT=%s\n", tp);
	ci_buf_free(&path);
}

/* Plain when safe for both eval and $GITHUB_ENV, else quoted for the shell. */
static void
put_value(const char *s)
{
	if (s[strspn(s,
		     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		     "0123456789_-./+:@%,=")] == '\0') {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}
