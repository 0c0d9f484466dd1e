/*
 * ci-testpar: run test suites side by side, each under /bin/sh -c in its own
 * process group; retry a failed suite; fall back to one suite at a time when
 * the machine is short of memory or CPU; write one log entry per attempt
 * with its Test Execution record.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testpar.h"

struct testpar tp;

static void parse_per_suite(const char *opt, const char *arg);
static int outputs(void);

static void
usage(FILE *f)
{
	fputs("usage: ci-testpar [--check] [-j N] [--retries [TYPE=]N ...] "
	      "[--retry-delay SEC] [--serial] [--fail-fast] [--fail-on-flaky] "
	      "[--timeout [TYPE=]SEC ...] [--min-free-mb MB] [--max-load X] "
	      "[--output grouped|prefixed|quiet] [--junit TYPE=PATH ...] "
	      "[--shard K/N [--timings PATH ...]] "
	      "[--shard-files TYPE=GLOB ...] "
	      "TYPE=COMMAND ...\n",
	      f);
}

enum {
	OPT_CHECK = 256,
	OPT_FAILFAST,
	OPT_FAILFLAKY,
	OPT_JUNIT,
	OPT_MAXLOAD,
	OPT_MINFREE,
	OPT_OUTPUT,
	OPT_RETRIES,
	OPT_RETRYDELAY,
	OPT_SERIAL,
	OPT_SHARD,
	OPT_SHARDFILES,
	OPT_TIMEOUT,
	OPT_TIMINGS,
	OPT_VERSION,
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "fail-fast", no_argument, NULL, OPT_FAILFAST },
		{ "fail-on-flaky", no_argument, NULL, OPT_FAILFLAKY },
		{ "help", no_argument, NULL, 'h' },
		{ "junit", required_argument, NULL, OPT_JUNIT },
		{ "max-load", required_argument, NULL, OPT_MAXLOAD },
		{ "min-free-mb", required_argument, NULL, OPT_MINFREE },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "retry-delay", required_argument, NULL, OPT_RETRYDELAY },
		{ "serial", no_argument, NULL, OPT_SERIAL },
		{ "shard", required_argument, NULL, OPT_SHARD },
		{ "shard-files", required_argument, NULL, OPT_SHARDFILES },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "timings", required_argument, NULL, OPT_TIMINGS },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char **junit = NULL, **per = NULL, **timings = NULL, *term;
	const char **files = NULL;
	const char *shard_spec = NULL;
	long long min_mb = 512;
	double max_load = 2.0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int c, njunit = 0, nper = 0, ntimings = 0, nfiles = 0, serial = 0;
	int check = 0;
	int fail_flaky = 0;

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
		case OPT_FAILFAST:
			tp.fail_fast = 1;
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
		case OPT_TIMEOUT:
			/* TYPE=N is the suite's own, once the suites are
			 * known; N is every suite's. */
			if (strchr(optarg, '=')) {
				per = xrealloc(per, (nper + 2) * sizeof *per);
				per[nper++] = c == OPT_RETRIES ? "--retries"
							       : "--timeout";
				per[nper++] = optarg;
			} else if (c == OPT_RETRIES) {
				tp.retries =
				    (int)xnum("--retries", optarg, 0, 100);
			} else {
				tp.timeout_ms =
				    xnum("--timeout", optarg, 0, 604800) * 1000;
			}
			break;
		case OPT_RETRYDELAY:
			tp.retry_delay_ms = llround(
			    xdecimal("--retry-delay", optarg, 0, 3600) * 1000);
			break;
		case OPT_SERIAL:
			serial = 1;
			break;
		case OPT_SHARD:
			shard_spec = optarg;
			break;
		case OPT_SHARDFILES:
			files = xrealloc(files, (nfiles + 1) * sizeof *files);
			files[nfiles++] = optarg;
			break;
		case OPT_TIMINGS:
			timings =
			    xrealloc(timings, (ntimings + 1) * sizeof *timings);
			timings[ntimings++] = optarg;
			break;
		case OPT_VERSION:
			ci_version();
		default:
			ci_bad_option(c, argc, argv);
		}
	}
	if (ntimings && !shard_spec)
		ci_usage_error("--timings goes with --shard K/N");
	parse_suites(argc - optind, argv + optind);
	for (int i = 0; i < njunit; i++)
		parse_junit(junit[i]);
	for (int i = 0; i < nper; i += 2)
		parse_per_suite(per[i], per[i + 1]);
	for (int i = 0; i < nfiles; i++)
		parse_shard_files(files[i]);
	free(junit);
	free(per);
	free(files);
	if (shard_spec)
		shard(shard_spec, timings, ntimings);
	free(timings);
	for (int i = 0; i < tp.nsuites; i++)
		if (tp.suites[i].glob)
			expand_files(&tp.suites[i]);
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

	if (tp.nsuites > 1 || tp.skipped > 0 || tp.shard_n) {
		struct ci_buf b = { 0 };
		ci_buf_str(&b, "==> ");
		if (tp.shard_n)
			ci_buf_printf(
			    &b, "shard %d/%d, %d of %d suites: ", tp.shard_k,
			    tp.shard_n, tp.nsuites, tp.all_suites);
		else
			ci_buf_printf(&b, "%d suites: ", tp.nsuites);
		ci_buf_printf(&b, "%d passed", tp.passed);
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
		s->retries = -1;
		s->timeout_ms = -1;
		tp.queue[tp.nqueue++] = i;
	}
	tp.nsuites = tp.all_suites = argc;
}

/* --junit TYPE=PATH: where the suite TYPE writes its JUnit XML report. */
void
parse_junit(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct suite *s;

	if (!eq || eq == arg || !eq[1])
		ci_usage_error("--junit: \"%.64s\" is not TYPE=PATH", arg);
	s = suite_named("--junit", arg, (size_t)(eq - arg));
	if (s->junit)
		ci_usage_error("--junit: suite %s has two reports", s->type);
	s->junit = eq + 1;
}

/*
 * --retries TYPE=N and --timeout TYPE=SEC: the suite's own, whatever the
 * order of the options; a later one for the same suite replaces an
 * earlier one, as for the options of every suite.
 */
static void
parse_per_suite(const char *opt, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct ci_buf what = { 0 };
	struct suite *s;

	if (eq == arg || !eq[1])
		ci_usage_error("%s: \"%.64s\" is not TYPE=%s", opt, arg,
			       opt[2] == 'r' ? "N" : "SEC");
	s = suite_named(opt, arg, (size_t)(eq - arg));
	ci_buf_printf(&what, "%s %s", opt, s->type);
	if (opt[2] == 'r')
		s->retries = (int)xnum(what.s, eq + 1, 0, 100);
	else
		s->timeout_ms = xnum(what.s, eq + 1, 0, 604800) * 1000;
	ci_buf_free(&what);
}

/* The suite of type arg[0..n), or a usage error of opt. */
struct suite *
suite_named(const char *opt, const char *arg, size_t n)
{
	for (int i = 0; i < tp.nsuites; i++)
		if (strncmp(tp.suites[i].type, arg, n) == 0 &&
		    tp.suites[i].type[n] == '\0')
			return &tp.suites[i];
	ci_usage_error("%s: no suite %.*s among the TYPE=COMMAND arguments",
		       opt, n > 64 ? 64 : (int)n, arg);
}

/* A suite's retries and time limit: its own, else every suite's. */
int
suite_retries(const struct suite *s)
{
	return s->retries >= 0 ? s->retries : tp.retries;
}

long long
suite_timeout(const struct suite *s)
{
	return s->timeout_ms >= 0 ? s->timeout_ms : tp.timeout_ms;
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
