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

static int print_env(const char *id, time_t t, int github);
static void add_masks(void);
static void put_var(const char *name, const char *value, int github);

static void
usage(FILE *f)
{
	fputs(
	    "usage: ci-runid [--time EPOCH] [--env [--format shell | github] | "
	    "-n COUNT]\n"
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
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "time", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *check = NULL, *format = NULL, *why;
	char id[CI_RUNID_LEN + 1];
	long long count = 1;
	int c, env = 0, counted = 0, github = 0, outputs_failed = 0;
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
		case 'f':
			format = optarg;
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
	if (format && !env)
		ci_usage_error("--format is the format of --env: give --env");
	if (format && strcmp(format, "github") == 0)
		github = 1;
	else if (format && strcmp(format, "shell") != 0)
		ci_usage_error("--format: \"%.64s\" is not shell or github",
			       format);

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
		if (env && print_env(id, t, github) < 0)
			outputs_failed = 1;
		else if (!env)
			printf("%s\n", id);
	}
	xfinish_stdout();
	return outputs_failed ? CI_EXIT_ENV : 0;
}

/*
 * CI_RUN_ID, CI_LOG_FILE=$CI_LOG_DIR/ci-YYYYMMDD_HHMMSS.log of the same
 * second, and TRACEPARENT for the run's root span; under GitHub Actions
 * also the step's outputs. -1 when those failed.
 */
static int
print_env(const char *id, time_t t, int github)
{
	const char *dir = getenv("CI_LOG_DIR");
	struct ci_buf path = { 0 }, out = { 0 };
	struct tm tm;
	char name[40], tp[CI_TRACEPARENT_LEN + 1];
	size_t n;
	int failed;

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
	put_var("CI_RUN_ID", id, github);
	put_var("CI_LOG_FILE", path.s, github);
	ci_traceparent(tp, id, NULL, 0);
	put_var("TRACEPARENT", tp, github);
	add_masks();
	/* For later steps and jobs: steps.ID.outputs.run-id and log-file. */
	out.len = 0;
	ci_github_var(&out, "run-id", id);
	ci_github_var(&out, "log-file", path.s);
	failed = ci_github_outputs(&out);
	ci_buf_free(&out);
	ci_buf_free(&path);
	return failed;
}

/*
 * One variable. For the shell: an export that eval takes whole, the value
 * quoted when it holds anything but a few safe characters. For GITHUB_ENV:
 * what the runner reads literally.
 */
static void
put_var(const char *name, const char *value, int github)
{
	struct ci_buf b = { 0 };

	if (github) {
		ci_github_var(&b, name, value);
		fputs(b.s, stdout);
		ci_buf_free(&b);
		return;
	}
	printf("export %s=", name);
	if (value[strspn(value,
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_-./+:@%,=")] == '\0') {
		printf("%s\n", value);
		return;
	}
	putchar('\'');
	for (const char *s = value; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	fputs("'\n", stdout);
}

/* Under GitHub Actions, the runner masks CI_MASK's secrets in its logs too. */
static void
add_masks(void)
{
	const char *gh = getenv("GITHUB_ACTIONS"), *v;
	struct ci_buf b = { 0 };
	size_t n;

	if (!gh || strcmp(gh, "true") != 0 || !(v = ci_mask_values(&n)))
		return;
	for (size_t i = 0; i < n; i++, v += strlen(v) + 1)
		ci_buf_printf(&b, "::add-mask::%s\n", v);
	(void)ci_write_all(2, b.s, b.len);
	ci_buf_free(&b);
}
