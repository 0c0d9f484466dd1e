/*
 * ci-testpar: run test suites side by side, each under /bin/sh -c in its own
 * process group; retry a failed suite; fall back to one suite at a time when
 * the machine is short of memory or CPU; write one log entry per attempt
 * with its Test Execution record.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testpar.h"

struct testpar tp;

static int outputs(void);

static void
usage(FILE *f)
{
	fputs("usage: ci-testpar [--check] [-j N] [--retries N] [--serial] "
	      "[--fail-on-flaky] [--timeout SEC] [--min-free-mb MB] "
	      "[--max-load X] "
	      "[--output grouped|prefixed|quiet] [--junit TYPE=PATH ...] "
	      "TYPE=COMMAND ...\n",
	      f);
}

enum {
	OPT_CHECK = 256,
	OPT_FAILFLAKY,
	OPT_JUNIT,
	OPT_MAXLOAD,
	OPT_MINFREE,
	OPT_OUTPUT,
	OPT_RETRIES,
	OPT_SERIAL,
	OPT_TIMEOUT,
	OPT_VERSION,
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "help", no_argument, NULL, 'h' },
		{ "fail-on-flaky", no_argument, NULL, OPT_FAILFLAKY },
		{ "junit", required_argument, NULL, OPT_JUNIT },
		{ "max-load", required_argument, NULL, OPT_MAXLOAD },
		{ "min-free-mb", required_argument, NULL, OPT_MINFREE },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "serial", no_argument, NULL, OPT_SERIAL },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char **junit = NULL, *term;
	long long min_mb = 512;
	double max_load = 2.0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int c, njunit = 0, serial = 0, check = 0, fail_flaky = 0;

	ci_init(argv[0]);
	tp.jobs = cpus < 1 ? 1 : cpus > MAX_JOBS ? MAX_JOBS : (int)cpus;
	tp.retries = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hj:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CHECK:
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return xfinish_stdout();
		case 'j':
			tp.jobs = (int)xnum("-j", optarg, 1, MAX_JOBS);
			break;
		case OPT_FAILFLAKY:
			fail_flaky = 1;
			break;
		case OPT_JUNIT:
			junit = xrealloc(junit, (njunit + 1) * sizeof *junit);
			junit[njunit++] = optarg;
			break;
		case OPT_MAXLOAD:
			max_load = xdecimal("--max-load", optarg, 0, 1e6);
			break;
		case OPT_MINFREE:
			min_mb = xnum("--min-free-mb", optarg, 0, 1LL << 40);
			break;
		case OPT_OUTPUT:
			if (strcmp(optarg, "grouped") == 0)
				tp.output = OUT_GROUPED;
			else if (strcmp(optarg, "prefixed") == 0)
				tp.output = OUT_PREFIXED;
			else if (strcmp(optarg, "quiet") == 0)
				tp.output = OUT_QUIET;
			else
				ci_usage_error("--output: \"%s\" is not an "
					       "output mode (expected "
					       "grouped, prefixed or quiet)",
					       optarg);
			break;
		case OPT_RETRIES:
			tp.retries = (int)xnum("--retries", optarg, 0, 100);
			break;
		case OPT_SERIAL:
			serial = 1;
			break;
		case OPT_TIMEOUT:
			tp.timeout_ms =
			    xnum("--timeout", optarg, 0, 604800) * 1000;
			break;
		case OPT_VERSION:
			ci_version();
		default:
			ci_bad_option(c, argc, argv);
		}
	}
	parse_suites(argc - optind, argv + optind);
	for (int i = 0; i < njunit; i++)
		parse_junit(junit[i]);
	free(junit);
	if (check)
		return 0;
	if (serial)
		tp.jobs = 1;

	tp.run_id = xrunid_env();
	xlog_open(&tp.log, ci_log_path(NULL), 1);
	/* Never into the NDJSON; under GitHub Actions, with its groups, never
	 * on stdout either, where $(...) would take a workflow command. */
	tp.out_fd = tp.log.is_file && !tp.log.github ? 1 : 2;
	tp.github = tp.log.github;
	term = getenv("TERM");
	tp.tty = isatty(2) && !(term && strcmp(term, "dumb") == 0);
	if (tp.jobs > 1)
		check_contention(min_mb, max_load);
	tp.parallel = tp.jobs > 1 && !tp.start_why;
	run();

	if (tp.nsuites > 1 || tp.skipped > 0) {
		struct ci_buf b = { 0 };
		ci_buf_printf(&b, "==> %d suites: %d passed", tp.nsuites,
			      tp.passed);
		if (tp.flaky)
			ci_buf_printf(&b, " (%d flaky)", tp.flaky);
		ci_buf_printf(&b, ", %d failed, %d skipped; %d attempts\n",
			      tp.failed, tp.skipped, tp.nattempts);
		out_write(b.s, b.len);
		ci_buf_free(&b);
	}
	if (outputs() < 0 && !tp.interrupted)
		return CI_EXIT_ENV;
	if (tp.interrupted) {
		/* Die of the same signal, so that the calling shell stops. */
		sigset_t set;
		signal(tp.interrupted, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, tp.interrupted);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(tp.interrupted);
	}
	if (tp.log_failed)
		return CI_EXIT_ENV;
	if (tp.failed > 0 || tp.skipped > 0 || (fail_flaky && tp.flaky > 0))
		return CI_EXIT_TESTS;
	return tp.out_failed ? 1 : 0;
}

/* TYPE=COMMAND: TYPE as test_type in log-schema.json, each once. */
void
parse_suites(int argc, char **argv)
{
	if (argc == 0)
		ci_usage_error("no suites: expected TYPE=COMMAND arguments");
	tp.suites = xmalloc(argc * sizeof *tp.suites);
	tp.queue = xmalloc(argc * sizeof *tp.queue);
	for (int i = 0; i < argc; i++) {
		struct suite *s = &tp.suites[i];
		char *eq = strchr(argv[i], '=');
		size_t n = eq ? (size_t)(eq - argv[i]) : 0;

		memset(s, 0, sizeof *s);
		if (!eq)
			ci_usage_error("\"%.64s\" is not TYPE=COMMAND",
				       argv[i]);
		*eq = '\0';
		s->type = argv[i];
		s->cmd = eq + 1;
		if (n == 0 || n > 32 || s->type[0] < 'a' || s->type[0] > 'z' ||
		    s->type[strspn(s->type,
				   "abcdefghijklmnopqrstuvwxyz"
				   "0123456789_-")] != '\0')
			ci_usage_error(
			    "suite type \"%.64s\": expected 1 to 32 lowercase "
			    "letters, digits, - or _, starting with a letter",
			    s->type);
		if (!*s->cmd)
			ci_usage_error("suite %s: the command is empty",
				       s->type);
		for (int j = 0; j < i; j++)
			if (strcmp(tp.suites[j].type, s->type) == 0)
				ci_usage_error("suite %s is given twice",
					       s->type);
		snprintf(s->step, sizeof s->step, "test-%s", s->type);
		tp.queue[tp.nqueue++] = i;
	}
	tp.nsuites = argc;
}

/* --junit TYPE=PATH: where the suite TYPE writes its JUnit XML report. */
void
parse_junit(const char *arg)
{
	const char *eq = strchr(arg, '=');
	int n = eq ? (int)(eq - arg) : 0;

	if (!eq || n == 0 || !eq[1])
		ci_usage_error("--junit: \"%.64s\" is not TYPE=PATH", arg);
	for (int i = 0; i < tp.nsuites; i++) {
		struct suite *s = &tp.suites[i];
		if (strncmp(s->type, arg, n) != 0 || s->type[n] != '\0')
			continue;
		if (s->junit)
			ci_usage_error("--junit: suite %s has two reports",
				       s->type);
		s->junit = eq + 1;
		return;
	}
	ci_usage_error("--junit: no suite %.*s among the TYPE=COMMAND "
		       "arguments",
		       n > 64 ? 64 : n, arg);
}

/*
 * Before the start: too little memory available, or a 1-minute load per
 * processor too high, runs every suite alone. A check that cannot read its
 * /proc file is skipped.
 */
void
check_contention(long long min_mb, double max_load)
{
	char line[256];
	long long kb = -1;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double load;
	FILE *f;

	if (min_mb > 0 && (f = fopen("/proc/meminfo", "re"))) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
				break;
		fclose(f);
		if (kb >= 0 && kb / 1024 < min_mb) {
			snprintf(tp.start_buf, sizeof tp.start_buf,
				 "MemAvailable is %lld MB, below "
				 "--min-free-mb %lld",
				 kb / 1024, min_mb);
			tp.start_why = tp.start_buf;
			return;
		}
	}
	if (max_load > 0 && (f = fopen("/proc/loadavg", "re"))) {
		if (fscanf(f, "%lf", &load) == 1 && cpus > 0 &&
		    load / cpus > max_load) {
			snprintf(tp.start_buf, sizeof tp.start_buf,
				 "the 1-minute load is %.2f per processor, "
				 "above --max-load %g",
				 load / cpus, max_load);
			tp.start_why = tp.start_buf;
		}
		fclose(f);
	}
}

/*
 * For later steps and jobs under GitHub Actions: result, in GitHub's
 * words, and flaky, the suites that passed on a retry.
 */
static int
outputs(void)
{
	struct ci_buf b = { 0 }, flaky = { 0 };
	int r;

	for (int i = 0; i < tp.nsuites; i++)
		if (tp.suites[i].passed && tp.suites[i].attempts > 1)
			ci_buf_printf(&flaky, "%s%s", flaky.len ? " " : "",
				      tp.suites[i].type);
	ci_github_var(&b, "result",
		      tp.failed > 0 || tp.skipped > 0 ? "failure" : "success");
	ci_github_var(&b, "flaky", flaky.len ? flaky.s : "");
	r = ci_github_outputs(&b);
	ci_buf_free(&b);
	ci_buf_free(&flaky);
	return r;
}
