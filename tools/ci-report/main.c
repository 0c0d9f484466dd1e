/*
 * ci-report: summarize ci-tools NDJSON logs. Rebuilds every Pipeline Run
 * found, with its steps, test attempts, warnings and errors, and prints it
 * as text, NDJSON, Markdown for a GitHub step summary, or JUnit XML; or
 * writes each entry as a row for ClickHouse. A line that is not a valid
 * log entry is counted and reported, never fatal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

/* The output formats: a new one is a file and a row (report.h). */
static const struct report_format formats[] = {
	{ "text", text_write, NULL, 1 },
	{ "json", json_write, NULL, 0 },
	{ "markdown", markdown_write, NULL, 1 },
	{ "junit", junit_write, NULL, 0 },
	{ "otlp", otlp_write, NULL, 0 },
	{ "clickhouse", NULL, clickhouse_entry, 0 },
	{ "trends", trends_write, NULL, 0 },
	{ "compare", compare_write, NULL, 0 },
};
#define NFORMATS (sizeof formats / sizeof formats[0])

static struct {
	const struct report_format *format;
	int last, check, trends, follow;
	long long since_ms;
	const char *output;
	const char *run, *cmp[2];
	const char **files;
	unsigned nfiles;
} opt = { .format = &formats[0], .since_ms = -1 };

static struct ci_runs runs, old_runs;
static struct bad_line shown[BAD_SHOWN];
static unsigned long long nbad;
static struct ci_buf out;
static int exit_status;
static const char *rp_style = "text";

static const struct report_format *parse_format(const char *s);
static const struct report_format *format_row(const char *s);
static long long parse_since(const char *s);
static void on_bad(void *arg, unsigned file, unsigned long long line,
		   const char *why);
static void on_entry(void *arg, const struct ci_view *v, const char *line,
		     size_t len);
static void report(void);

static void
usage(FILE *f)
{
	fputs("usage: ci-report [--format FORMAT] [--run ID | --last] "
	      "[--level LEVEL] [--step NAME] [--since TIME] [FILE ...]\n"
	      "       ci-report --trends [--format text | markdown | json] "
	      "[--since TIME] [FILE ...]\n"
	      "       ci-report --compare RUN_A RUN_B [--format text | "
	      "markdown] [FILE ...]\n"
	      "       ci-report --follow [--run ID] [--output DIR] [FILE ...]\n"
	      "       ci-report --check [FILE ...]\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "compare", required_argument, NULL, 'C' },
		{ "follow", no_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "last", no_argument, NULL, 'l' },
		{ "level", required_argument, NULL, 'L' },
		{ "output", required_argument, NULL, 'o' },
		{ "run", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 's' },
		{ "step", required_argument, NULL, 'S' },
		{ "trends", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const levels[] = { "info", "warn", "error" };
	static const char *stdin_only[] = { "-" };
	struct ci_reader rd;
	const char *why, *format = NULL, *step = NULL;
	int c, filtered = 0, level = -1;

	ci_init(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.check = 1;
			break;
		case 'C':
			if (optind >= argc)
				ci_usage_error("--compare: expected two run "
					       "ids, RUN_A RUN_B");
			opt.cmp[0] = optarg;
			opt.cmp[1] = argv[optind++];
			for (int k = 0; k < 2; k++)
				if ((why = ci_runid_check(opt.cmp[k])))
					ci_usage_error(
					    "--compare: \"%.64s\" %s",
					    opt.cmp[k], why);
			break;
		case 'f':
			opt.follow = 1;
			break;
		case 'F':
			format = optarg;
			opt.format = parse_format(optarg);
			break;
		case 'h':
			usage(stdout);
			return xfinish_stdout();
		case 'l':
			opt.last = filtered = 1;
			break;
		case 'L':
			for (level = 0; level < 3; level++)
				if (strcmp(optarg, levels[level]) == 0)
					break;
			if (level == 3)
				ci_usage_error("--level: \"%s\" is not info, "
					       "warn or error",
					       optarg);
			filtered = 1;
			break;
		case 'o':
			opt.output = optarg;
			break;
		case 'r':
			if ((why = ci_runid_check(optarg)))
				ci_usage_error("--run: \"%.64s\" %s", optarg,
					       why);
			opt.run = optarg;
			filtered = 1;
			break;
		case 's':
			opt.since_ms = parse_since(optarg);
			filtered = 1;
			break;
		case 'S':
			if (!*optarg)
				ci_usage_error("--step: the name is empty");
			step = optarg;
			filtered = 1;
			break;
		case 't':
			opt.trends = 1;
			break;
		case 'V':
			ci_version();
		default:
			ci_bad_option(c, argc, argv);
		}
	}
	if (opt.run && opt.last)
		ci_usage_error("--run and --last cannot be combined");
	if (opt.check && (filtered || format))
		ci_usage_error("--check reads every line: it takes no "
			       "--format and no filter");
	if (!opt.format->write && filtered)
		ci_usage_error("--format %s writes every entry: it takes no "
			       "filter",
			       opt.format->name);
	if (opt.cmp[0]) {
		if (opt.run || opt.last || opt.trends)
			ci_usage_error("--compare takes no --run, --last or "
				       "--trends");
		if (strcmp(opt.format->name, "text") != 0 &&
		    strcmp(opt.format->name, "markdown") != 0)
			ci_usage_error("--compare: --format %s is not text or "
				       "markdown",
				       opt.format->name);
		rp_style = opt.format->name;
		opt.format = format_row("compare");
	}
	if (opt.trends) {
		if (opt.run || opt.last)
			ci_usage_error("--trends reads every run: it takes no "
				       "--run or --last");
		if (strcmp(opt.format->name, "text") != 0 &&
		    strcmp(opt.format->name, "markdown") != 0 &&
		    strcmp(opt.format->name, "json") != 0)
			ci_usage_error("--trends: --format %s is not text, "
				       "markdown or json",
				       opt.format->name);
		rp_style = opt.format->name;
		opt.format = format_row("trends");
	}
	opt.files = optind < argc ? (const char **)argv + optind : stdin_only;
	opt.nfiles = optind < argc ? (unsigned)(argc - optind) : 1;
	if (opt.output && !opt.follow)
		ci_usage_error("--output goes with --follow");
	if (opt.follow) {
		if (opt.check || opt.last || level >= 0 || step ||
		    opt.since_ms >= 0 || (format && strcmp(format, "text")))
			ci_usage_error("--follow shows one run as text: it "
				       "takes only --run and --output");
		return follow(&(struct follow_opt){ opt.files, opt.nfiles,
						    opt.run, opt.output });
	}

	ci_runs_init(&runs, level < 0 ? 1 : level,
		     opt.format->write == otlp_write ? OTLP_EVENTS : MSG_CAP);
	ci_runs_init(&old_runs, 3, 0);
	/* A format that only streams entries needs no runs: memory stays flat.
	 */
	ci_reader_init(&rd, opt.format->write ? &runs : NULL);
	rd.before = &old_runs;
	rd.run = opt.run;
	rd.step = step;
	rd.level = level;
	rd.since_ms = opt.since_ms;
	rd.check = opt.check;
	rd.bad = on_bad;
	rd.entry = opt.format->entry ? on_entry : NULL;
	for (unsigned i = 0; i < opt.nfiles; i++)
		if (ci_read_path(&rd, opt.files[i], i) < 0) {
			ci_warn("cannot read %s: %s", opt.files[i],
				strerror(errno));
			exit_status = CI_EXIT_USAGE;
		}
	ci_reader_free(&rd);
	if (opt.check) {
		xfinish_stdout();
		return exit_status ? exit_status : nbad > 0;
	}
	report();
	ci_runs_free(&runs);
	ci_runs_free(&old_runs);
	for (int i = 0; i < BAD_SHOWN; i++)
		free(shown[i].why);
	xfinish_stdout();
	return exit_status;
}

/*
 * A row of the table by name. The views --trends and --compare are rows
 * too, but chosen by their options: --format names only the others, and
 * the message lists those.
 */
static int
is_view(const struct report_format *f)
{
	return f->write == trends_write || f->write == compare_write;
}

static const struct report_format *
format_row(const char *s)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (strcmp(s, formats[i].name) == 0)
			return &formats[i];
	return NULL;
}

/* --format: a name of the table; the message lists them all. */
static const struct report_format *
parse_format(const char *s)
{
	const struct report_format *f = format_row(s);
	struct ci_buf names = { 0 };
	size_t n = 0, k = 0;

	if (f && !is_view(f))
		return f;
	for (size_t i = 0; i < NFORMATS; i++)
		n += !is_view(&formats[i]);
	for (size_t i = 0; i < NFORMATS; i++) {
		if (is_view(&formats[i]))
			continue;
		ci_buf_printf(&names, "%s%s",
			      k == 0           ? ""
				  : k + 1 == n ? " or "
					       : ", ",
			      formats[i].name);
		k++;
	}
	ci_usage_error("--format: \"%s\" is not %s", s, names.s);
}

/*
 * --since: a UTC time as in the log (2025-10-20T14:30:45Z), a date
 * (2025-10-20, midnight UTC), or an age: 90s, 30m, 12h, 7d ago.
 */
static long long
parse_since(const char *s)
{
	static const char units[] = "smhd";
	static const long long secs[] = { 1, 60, 3600, 86400 };
	char buf[32], *end;
	long long v, ms;
	const char *u;
	struct timespec ts;

	if (ci_parse_iso8601(s, &ts) == 0) {
		ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		goto done;
	}
	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
		if (ci_parse_iso8601(buf, &ts) == 0) {
			ms = (long long)ts.tv_sec * 1000;
			goto done;
		}
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s >= '0' && *s <= '9' && end != s && errno == 0 && *end &&
	    !end[1] && (u = strchr(units, *end)) && v <= 100LL * 365 * 86400) {
		ms = ((long long)time(NULL) - v * secs[u - units]) * 1000;
		goto done;
	}
	ci_usage_error("--since: \"%.64s\" is not a UTC time "
		       "(2025-10-20T14:30:45Z), a date (2025-10-20) or an age "
		       "(30m, 12h, 7d)",
		       s);
done:
	return ms < 0 ? 0 : ms;
}

static const char *
file_name(unsigned file)
{
	return strcmp(opt.files[file], "-") == 0 ? "stdin" : opt.files[file];
}

/*
 * A line that is not a valid entry: listed with --check, on stderr at once
 * for a streaming format, else counted and the first ones kept.
 */
static void
on_bad(void *arg, unsigned file, unsigned long long line, const char *why)
{
	(void)arg;
	if (opt.check)
		printf("%s:%llu: %s\n", file_name(file), line, why);
	else if (opt.format->entry)
		fprintf(stderr, "%s: %s:%llu: %s\n", progname, file_name(file),
			line, why);
	else if (nbad < BAD_SHOWN) {
		shown[nbad].file = file;
		shown[nbad].line = line;
		shown[nbad].why = xstrdup(why);
	}
	nbad++;
}

/* A valid entry for a streaming format; its output goes out in chunks. */
static void
on_entry(void *arg, const struct ci_view *v, const char *line, size_t len)
{
	(void)arg;
	opt.format->entry(&out, v, line, len);
	if (out.len >= 64 * 1024) {
		report_put(&out);
		out.len = 0;
	}
}

/* The report, with the secrets of CI_MASK as ***. */
void
report_put(const struct ci_buf *b)
{
	static struct ci_buf masked;

	if (ci_mask(&masked, b->s ? b->s : "", b->len))
		xwrite_stdout(masked.s, masked.len);
	else
		xwrite_stdout(b->s, b->len);
}

static int
by_start(const void *a, const void *b)
{
	const struct run_report *x = a, *y = b;

	if (x->start_time != y->start_time)
		return x->start_time < y->start_time ? -1 : 1;
	return x->r->seq < y->r->seq ? -1 : x->r->seq > y->r->seq;
}

/* The runs to report, oldest first. */
static struct run_report *
select_runs(size_t *n)
{
	struct run_report *m = xmalloc((runs.n + 1) * sizeof *m);
	size_t k = 0;

	for (size_t i = 0; i < runs.n; i++) {
		struct ci_run *r = runs.v[i];
		if (ci_runs_find(&old_runs, r->id, 0))
			continue;
		summarize(r, &m[k]);
		if (opt.since_ms >= 0 &&
		    m[k].start_time * 1000 < opt.since_ms) {
			free(m[k].done);
			continue;
		}
		k++;
	}
	qsort(m, k, sizeof *m, by_start);
	if (opt.last && k > 1) {
		for (size_t i = 0; i + 1 < k; i++)
			free(m[i].done);
		m[0] = m[k - 1];
		k = 1;
	}
	*n = k;
	return m;
}

/* --compare: RUN_A, then RUN_B, of the runs read; either missing: 2. */
static void
pick_two(struct report *rp)
{
	struct run_report two[2];

	for (int k = 0; k < 2; k++) {
		size_t i = 0;
		while (i < rp->n && strcmp(rp->v[i].r->id, opt.cmp[k]) != 0)
			i++;
		if (i == rp->n)
			ci_die(CI_EXIT_USAGE,
			       "--compare: no run %s in the input", opt.cmp[k]);
		two[k] = rp->v[i];
	}
	for (size_t i = 0; i < rp->n; i++)
		if (rp->v[i].r != two[0].r && rp->v[i].r != two[1].r)
			free(rp->v[i].done);
	if (two[0].r == two[1].r)
		two[1].done = NULL; /* freed once */
	rp->v[0] = two[0];
	rp->v[1] = two[1];
	rp->n = 2;
}

static void
report(void)
{
	struct report rp = { .nbad = nbad,
			     .bad = shown,
			     .files = opt.files,
			     .style = rp_style };
	struct ci_buf err = { 0 };

	rp.v = select_runs(&rp.n);
	if (opt.cmp[0])
		pick_two(&rp);
	if (opt.run && rp.n == 0) {
		report_bad(&err, &rp, "ci-report: ", "");
		fputs(err.s ? err.s : "", stderr);
		ci_die(CI_EXIT_USAGE, "--run: no run %s in the input", opt.run);
	}
	if (opt.format->write)
		opt.format->write(&out, &rp);
	report_put(&out);
	if (!opt.format->shows_bad && !opt.format->entry) {
		report_bad(&err, &rp, "ci-report: ", "");
		fputs(err.s ? err.s : "", stderr);
	}
	for (size_t i = 0; i < rp.n; i++)
		free(rp.v[i].done);
	free(rp.v);
	ci_buf_free(&out);
	ci_buf_free(&err);
}
