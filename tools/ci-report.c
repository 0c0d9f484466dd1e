/*
 * ci-report: summarize ci-tools NDJSON logs. Rebuilds every Pipeline Run
 * found, with its steps, test attempts, warnings and errors, and prints it
 * as text, NDJSON, Markdown for a GitHub step summary, or JUnit XML; or
 * writes each entry as a row for ClickHouse (clickhouse.c). A line that is
 * not a valid log entry is counted and reported, never fatal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ci.h"

/* clickhouse.c */
void ch_row(struct ci_buf *b, const cJSON *e, const char *line, size_t len);

enum { TEXT, JSON, MARKDOWN, JUNIT, CLICKHOUSE, NFORMATS };
enum { REC_ENTRY, REC_BAD, REC_OLD };
#define REC_MAX 8192 /* lines parsed per half of a round */
#define STORE_MAX (1u << 20) /* bytes of strings kept per half */
#define PAR_MIN 512 /* fewer lines than this are parsed on one core */
#define MSG_CAP 50 /* messages kept per run; the rest counted */
#define BAD_SHOWN 5 /* malformed lines shown in a report */

/* One parsed line, with its strings in the batch's store. */
struct rec {
	long long ts_ms, line_number, duration_ms;
	unsigned long long line;
	int kind, level, exit_code, outcome;
	char run_id[CI_RUNID_LEN + 1];
	uint32_t step, msg, src, fn, steps;
	int32_t start, test, pipe; /* offsets of nested objects, or -1 */
};

/* Lines [p, end) parsed by one thread into recs. */
struct batch {
	char *p, *end, *stop;
	unsigned file;
	unsigned long long line0, nlines;
	struct rec *rec;
	size_t n;
	struct ci_buf store, why, rows;
	struct ci_view_store vs;
};

struct bad {
	unsigned file;
	unsigned long long line;
	char *why;
};

static struct {
	int format, last, level, check;
	const char *run, *step;
	long long since_ms;
	char since19[20];
	const char **files;
	unsigned nfiles;
} opt = { .level = -1, .since_ms = -1 };

static struct ci_runs runs, old_runs;
static unsigned long long nbad;
static struct bad shown[BAD_SHOWN];
static int exit_status, threads;

static long long parse_since(const char *s);
static void read_input(unsigned file);
static void report(void);

static void
usage(FILE *f)
{
	fputs("usage: ci-report [--format FORMAT] [--run ID | --last] "
	      "[--level LEVEL] [--step NAME] [--since TIME] [FILE ...]\n"
	      "       ci-report --check [FILE ...]\n",
	      f);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "last", no_argument, NULL, 'l' },
		{ "level", required_argument, NULL, 'L' },
		{ "run", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 's' },
		{ "step", required_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const formats[] = { "text", "json", "markdown",
					       "junit", "clickhouse" };
	static const char *const levels[] = { "info", "warn", "error" };
	static const char *stdin_only[] = { "-" };
	const char *why, *format = NULL;
	int c, filtered = 0;

	ci_init(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.check = 1;
			break;
		case 'f':
			format = optarg;
			for (opt.format = 0; opt.format < NFORMATS;
			     opt.format++)
				if (strcmp(optarg, formats[opt.format]) == 0)
					break;
			if (opt.format == NFORMATS)
				ci_usage_error("--format: \"%s\" is not text, "
					       "json, markdown, junit or "
					       "clickhouse",
					       optarg);
			break;
		case 'h':
			usage(stdout);
			return xfinish_stdout();
		case 'l':
			opt.last = filtered = 1;
			break;
		case 'L':
			for (opt.level = 0; opt.level < 3; opt.level++)
				if (strcmp(optarg, levels[opt.level]) == 0)
					break;
			if (opt.level == 3)
				ci_usage_error("--level: \"%s\" is not info, "
					       "warn or error",
					       optarg);
			filtered = 1;
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
			opt.step = optarg;
			filtered = 1;
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
	if (opt.format == CLICKHOUSE && filtered)
		ci_usage_error("--format clickhouse writes every entry: it "
			       "takes no filter");
	opt.files = optind < argc ? (const char **)argv + optind : stdin_only;
	opt.nfiles = optind < argc ? (unsigned)(argc - optind) : 1;

	threads = sysconf(_SC_NPROCESSORS_ONLN) > 1;
	ci_arena_hooks();
	ci_runs_init(&runs, opt.level < 0 ? 1 : opt.level, MSG_CAP);
	ci_runs_init(&old_runs, 3, 0);
	for (unsigned i = 0; i < opt.nfiles; i++)
		read_input(i);
	ci_arena_free();
	if (opt.check || opt.format == CLICKHOUSE) {
		xfinish_stdout();
		return exit_status || !opt.check ? exit_status : nbad > 0;
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

	if ((ms = ci_timestamp_ms(s)) >= 0 && ci_parse_iso8601(s, &ts) == 0)
		goto done;
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
	if (ms < 0)
		ms = 0;
	ci_iso8601(buf, (struct timespec){ .tv_sec = ms / 1000 }, 0);
	memcpy(opt.since19, buf, 19);
	return ms;
}

static const char *
file_name(unsigned file)
{
	return strcmp(opt.files[file], "-") == 0 ? "stdin" : opt.files[file];
}

/* A line that is not a valid entry: counted, the first ones kept. */
static void
bad_line(unsigned file, unsigned long long line, const char *why)
{
	if (opt.check || opt.format == CLICKHOUSE)
		fprintf(opt.check ? stdout : stderr, "%s:%llu: %s\n",
			file_name(file), line, why);
	else if (nbad < BAD_SHOWN) {
		shown[nbad].file = file;
		shown[nbad].line = line;
		shown[nbad].why = xstrdup(why);
	}
	nbad++;
}

/* Where the lines after the first k of [p, end) start; *k lines counted. */
static char *
skip_lines(char *p, char *end, unsigned long long *k)
{
	unsigned long long n = 0;
	char *nl;

	while (n < *k && p < end && (nl = memchr(p, '\n', end - p))) {
		p = nl + 1;
		n++;
	}
	*k = n;
	return p;
}

/*
 * Cheap tests that rule a line out before it is parsed. They only say no
 * when sure: a line with a \u escape could hide any name, so it is parsed.
 */
static int
prefilter_out(const char *p, size_t len)
{
	char needle[300];
	int n;

	if (memmem(p, len, "\\u", 2))
		return 0;
	if (opt.run && !memmem(p, len, opt.run, CI_RUNID_LEN))
		return 1;
	if (opt.level > 0 && !memmem(p, len, "\"duration_ms\"", 13) &&
	    !memmem(p, len, "\"error\"", 7) &&
	    (opt.level == 2 || !memmem(p, len, "\"warn\"", 6)))
		return 1;
	if (opt.step && strcspn(opt.step, "\"\\") == strlen(opt.step) &&
	    (n = snprintf(needle, sizeof needle, "\"%s\"", opt.step)) > 0 &&
	    (size_t)n < sizeof needle && !memmem(p, len, needle, (size_t)n) &&
	    !memmem(p, len, "\"init\"", 6) &&
	    !memmem(p, len, "\"complete\"", 10))
		return 1;
	return 0;
}

/*
 * With --since, a line written before TIME belongs to a run that started
 * before it: its run id is all that is needed. 1 when the line is such a
 * line and the id was found without parsing (copied to id).
 */
static int
old_line(const char *p, size_t len, char id[CI_RUNID_LEN + 1])
{
	const char *r;

	if (len < 34 || memcmp(p, "{\"timestamp\":\"", 14) != 0 ||
	    memcmp(p + 14, opt.since19, 19) >= 0)
		return 0;
	r = memmem(p, len, "\"run_id\":\"", 10);
	if (!r || (size_t)(p + len - r) < 10 + CI_RUNID_LEN + 1 ||
	    r[10 + CI_RUNID_LEN] != '"')
		return 0;
	memcpy(id, r + 10, CI_RUNID_LEN);
	id[CI_RUNID_LEN] = '\0';
	return strspn(id, "run-0123456789abcdefghijklmnopqrstuvwxyz") ==
	    CI_RUNID_LEN;
}

static uint32_t
keep_str(struct batch *b, const char *s)
{
	uint32_t off = (uint32_t)b->store.len;

	ci_buf_add(&b->store, s, strlen(s) + 1);
	return off;
}

static int32_t
keep_obj(struct batch *b, const void *o, size_t n)
{
	static const char pad[8];
	int32_t off;

	ci_buf_add(&b->store, pad, (8 - b->store.len % 8) % 8);
	off = (int32_t)b->store.len;
	ci_buf_add(&b->store, o, n);
	return off;
}

/* The entry's view, kept in the batch until the main thread applies it. */
static void
keep_view(struct batch *b, struct rec *r, const struct ci_view *v)
{
	const char *p;

	r->kind = REC_ENTRY;
	memcpy(r->run_id, v->run_id, CI_RUNID_LEN + 1);
	r->ts_ms = v->ts_ms;
	r->line_number = v->line_number;
	r->duration_ms = v->duration_ms;
	r->level = v->level;
	r->exit_code = v->exit_code;
	r->outcome = v->outcome;
	r->step = keep_str(b, v->step_name);
	r->msg = r->src = r->fn = 0;
	if (v->level >= runs.list_level) {
		r->msg = keep_str(b, v->message);
		r->src = keep_str(b, v->source_file);
		r->fn = keep_str(b, v->function_name);
	}
	r->start = v->start ? keep_obj(b, v->start, sizeof *v->start) : -1;
	r->test = v->test ? keep_obj(b, v->test, sizeof *v->test) : -1;
	r->pipe = -1;
	if (v->pipeline) {
		r->pipe = keep_obj(b, v->pipeline, sizeof *v->pipeline);
		r->steps = (uint32_t)b->store.len;
		p = v->pipeline->steps;
		for (size_t i = 0; i < v->pipeline->nsteps; i++)
			p += strlen(p) + 1;
		ci_buf_add(&b->store, v->pipeline->steps,
			   (size_t)(p - v->pipeline->steps));
	}
}

/* Whether an entry passes the filters that need it parsed. */
static int
wanted(const struct ci_view *v)
{
	if (opt.run && strcmp(v->run_id, opt.run) != 0)
		return 0;
	if (opt.step && strcmp(v->step_name, opt.step) != 0 &&
	    strcmp(v->step_name, "init") != 0 &&
	    strcmp(v->step_name, "complete") != 0)
		return 0;
	if (opt.level > 0 && v->level < opt.level && v->duration_ms < 0)
		return 0;
	return 1;
}

/* Parse one line (NUL-terminated in place) into a rec; 0: nothing kept. */
static int
parse_line(struct batch *b, char *p, size_t len, struct rec *r)
{
	struct ci_view v;
	const char *end = NULL;
	cJSON *e;
	int kept = 0;

	if (len == strspn(p, " \t\r"))
		return 0;
	if (!opt.check && (opt.run || opt.level > 0 || opt.step) &&
	    prefilter_out(p, len))
		return 0;
	if (opt.since_ms >= 0 && old_line(p, len, r->run_id)) {
		r->kind = REC_OLD;
		return 1;
	}
	b->why.len = 0;
	r->kind = REC_BAD;
	if (ci_text_check(p, len, &b->why) < 0) {
		r->msg = keep_str(b, b->why.s);
		return 1;
	}
	p[len] = '\0';
	e = cJSON_ParseWithLengthOpts(p, len + 1, &end, 1);
	if (!e) {
		ci_buf_printf(&b->why, "not JSON (syntax error at column %zu)",
			      end ? (size_t)(end - p) + 1 : 1);
	} else if (ci_entry_check(e, &b->why) == 0) {
		if (opt.format == CLICKHOUSE && !opt.check)
			ch_row(&b->rows, e, p, len);
		else if (!opt.check) {
			ci_view_of(&v, e, &b->vs);
			if (opt.since_ms >= 0 && v.ts_ms < opt.since_ms) {
				memcpy(r->run_id, v.run_id, CI_RUNID_LEN + 1);
				r->kind = REC_OLD;
				kept = 1;
			} else if (wanted(&v)) {
				keep_view(b, r, &v);
				kept = 1;
			}
		}
		ci_arena_reset();
		return kept;
	}
	ci_arena_reset();
	r->msg = keep_str(b, b->why.s);
	return 1;
}

/* Parse the batch's lines until done or its buffers are full. */
static void *
parse(void *arg)
{
	struct batch *b = arg;
	char *p = b->p, *nl;

	b->n = 0;
	b->nlines = 0;
	b->store.len = 0;
	b->rows.len = 0;
	ci_buf_add(&b->store, "", 1); /* offset 0: the empty string */
	while (p < b->end && b->n < REC_MAX && b->store.len < STORE_MAX &&
	       b->rows.len < 4 * STORE_MAX) {
		nl = memchr(p, '\n', b->end - p);
		b->rec[b->n].line = b->line0 + ++b->nlines;
		if (parse_line(b, p, (size_t)(nl - p), &b->rec[b->n]))
			b->n++;
		p = nl + 1;
	}
	b->stop = p;
	return NULL;
}

static void *
parse_thread(void *arg)
{
	parse(arg);
	ci_arena_free();
	return NULL;
}

/* Take a batch's recs into the runs, in input order. */
static void
apply(struct batch *b)
{
	struct ci_view v;
	struct ci_pipeline pl;
	const char *s;

	if (b->rows.len)
		xwrite_stdout(b->rows.s, b->rows.len);
	for (size_t i = 0; i < b->n; i++) {
		struct rec *r = &b->rec[i];
		s = b->store.s;
		if (r->kind == REC_BAD) {
			bad_line(b->file, r->line, s + r->msg);
			continue;
		}
		if (r->kind == REC_OLD) {
			ci_runs_find(&old_runs, r->run_id, 1);
			continue;
		}
		memset(&v, 0, sizeof v);
		v.run_id = r->run_id;
		v.step_name = s + r->step;
		v.message = s + r->msg;
		v.source_file = s + r->src;
		v.function_name = s + r->fn;
		v.ts_ms = r->ts_ms;
		v.line_number = r->line_number;
		v.duration_ms = r->duration_ms;
		v.level = r->level;
		v.exit_code = r->exit_code;
		v.outcome = r->outcome;
		v.start = r->start < 0 ? NULL : (const void *)(s + r->start);
		v.test = r->test < 0 ? NULL : (const void *)(s + r->test);
		if (r->pipe >= 0) {
			memcpy(&pl, s + r->pipe, sizeof pl);
			pl.steps = s + r->steps;
			v.pipeline = &pl;
		}
		v.file = b->file;
		v.line = r->line;
		ci_runs_add(&runs, &v);
	}
}

/* Parse and apply [p, end) on this thread. */
static void
serial(struct batch *b, char *p, char *end, unsigned long long *line)
{
	while (p < end) {
		b->p = p;
		b->end = end;
		b->line0 = *line;
		parse(b);
		apply(b);
		*line += b->nlines;
		p = b->stop;
	}
}

/*
 * A block of whole lines: on two cores, the next lines are cut in two
 * halves parsed at once, then applied in order. cJSON records a parse
 * error's position in a global that nothing here reads.
 */
static void
block(struct batch *b, char *p, char *end, unsigned long long *line)
{
	unsigned long long na, nb, line_b;
	char *cut, *cut2;
	pthread_t t;

	while (p < end) {
		na = REC_MAX;
		cut = skip_lines(p, end, &na);
		nb = REC_MAX;
		cut2 = skip_lines(cut, end, &nb);
		if (!threads || nb < PAR_MIN) {
			serial(&b[0], p, cut2, line);
			p = cut2;
			continue;
		}
		line_b = *line + na;
		b[0].p = p;
		b[0].end = cut;
		b[0].line0 = *line;
		b[1].p = cut;
		b[1].end = cut2;
		b[1].line0 = line_b;
		if (pthread_create(&t, NULL, parse_thread, &b[1]) != 0) {
			serial(&b[0], p, cut2, line);
			p = cut2;
			continue;
		}
		parse(&b[0]);
		pthread_join(t, NULL);
		apply(&b[0]);
		*line += b[0].nlines;
		serial(&b[0], b[0].stop, cut, line);
		apply(&b[1]);
		*line = line_b + b[1].nlines;
		serial(&b[0], b[1].stop, cut2, line);
		p = cut2;
	}
}

static void
read_input(unsigned file)
{
	static struct batch b[2];
	const char *path = opt.files[file];
	unsigned long long line = 0;
	struct ci_nd nd;
	ssize_t n;
	char *p, why[64];
	int fd;

	fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ci_warn("cannot read %s: %s", path, strerror(errno));
		exit_status = CI_EXIT_USAGE;
		return;
	}
	for (int i = 0; i < 2; i++) {
		b[i].file = file;
		if (!b[i].rec)
			b[i].rec = xmalloc(REC_MAX * sizeof *b[i].rec);
	}
	ci_nd_open(&nd, fd);
	while ((n = ci_nd_next(&nd, &p)) != 0 || nd.toolong) {
		if (n < 0) {
			ci_warn("cannot read %s: %s", path, strerror(errno));
			exit_status = CI_EXIT_USAGE;
			break;
		}
		if (nd.toolong) {
			snprintf(why, sizeof why,
				 "longer than %u MiB (%zu bytes)",
				 CI_ND_LINE_MAX >> 20, nd.toolong);
			bad_line(file, ++line, why);
			continue;
		}
		block(b, p, p + n, &line);
	}
	ci_nd_close(&nd);
	if (fd > 0)
		close(fd);
	if (file + 1 == opt.nfiles)
		for (int i = 0; i < 2; i++) {
			free(b[i].rec);
			b[i].rec = NULL;
			ci_buf_free(&b[i].store);
			ci_buf_free(&b[i].why);
			ci_buf_free(&b[i].rows);
			ci_buf_free(&b[i].vs.steps);
		}
}

/* A run as reported: the seed's Pipeline Run fields, given or derived. */
struct sum {
	struct ci_run *r;
	long long start_ms, end_ms; /* what the timeline spans */
	long long start_time, end_time, duration;
	int exit_code; /* < 0: unknown, the run is incomplete */
	const char *profile, *triggered_by, *result; /* NULL: unknown */
	const char **done;
	size_t ndone;
};

/* One test suite of a run: its attempts in order. */
struct suite {
	const char *type, *status;
	struct ci_attempt **a;
	size_t n;
	int flaky, fallback;
	long long time_ms;
};

static int color;
static struct ci_buf out;

static const char *
paint(const char *code)
{
	return color ? code : "";
}
#define GREEN paint("\033[32m")
#define RED paint("\033[31m")
#define YELLOW paint("\033[33m")
#define BOLD paint("\033[1m")
#define DIM paint("\033[2m")
#define RESET paint("\033[0m")

static int
shown_step(const char *name)
{
	return strcmp(name, "init") != 0 && strcmp(name, "complete") != 0;
}

static const char *
step_status(const struct ci_step *s)
{
	return s->ok ? "passed" : s->completions ? "failed" : "unfinished";
}

/* Where a step starts: its first entry, or its first completion's start. */
static long long
step_start(const struct ci_step *s)
{
	return s->completions && s->start_ms < s->first_ms ? s->start_ms
							   : s->first_ms;
}

static int
by_step_start(const void *a, const void *b)
{
	const struct ci_step *x = a, *y = b;
	long long sx = step_start(x), sy = step_start(y);

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
summarize(struct ci_run *r, struct sum *m)
{
	memset(m, 0, sizeof *m);
	/* Reading is over: the steps can be put in the order they started. */
	qsort(r->steps, r->nsteps, sizeof *r->steps, by_step_start);
	r->last_step = 0;
	m->r = r;
	m->start_time = r->has_start ? r->start.start_time
	    : r->has_pipeline        ? r->pipeline.start_time
				     : r->first_ms / 1000;
	m->end_time =
	    r->has_pipeline ? r->pipeline.end_time : r->last_ms / 1000;
	m->duration = r->has_pipeline     ? r->pipeline.duration
	    : m->end_time > m->start_time ? m->end_time - m->start_time
					  : 0;
	m->exit_code = r->has_pipeline ? r->pipeline.exit_code : -1;
	m->profile = r->has_start ? r->start.profile
	    : r->has_pipeline     ? r->pipeline.profile
				  : NULL;
	m->triggered_by = r->has_start ? r->start.triggered_by
	    : r->has_pipeline          ? r->pipeline.triggered_by
				       : NULL;
	m->result = !r->has_pipeline ? "incomplete"
	    : m->exit_code == 0      ? "passed"
				     : "failed";
	m->done = ci_run_completed(r, &m->ndone);
	m->start_ms = r->first_ms;
	m->end_ms = r->last_ms;
	/* start_time is in whole seconds: only earlier by a second counts. */
	if (r->has_start && r->start.start_time * 1000 + 999 < m->start_ms)
		m->start_ms = r->start.start_time * 1000;
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].start_ms >= 0 &&
		    r->steps[i].start_ms < m->start_ms &&
		    shown_step(r->steps[i].name))
			m->start_ms = r->steps[i].start_ms;
}

static size_t
suites_of(const struct ci_run *r, struct suite **out_s)
{
	struct suite *s = xmalloc((r->ntests + 1) * sizeof *s);
	struct ci_attempt *t, *x;
	size_t n = 0, k, j;

	for (size_t i = 0; i < r->ntests; i++) {
		t = &r->tests[i];
		for (k = 0; k < n; k++)
			if (strcmp(s[k].type, t->t.test_type) == 0)
				break;
		if (k == n) {
			memset(&s[n], 0, sizeof s[n]);
			s[n].type = t->t.test_type;
			s[n++].a = xmalloc(r->ntests * sizeof t);
		}
		/* Insert in attempt order; the log's order breaks ties. */
		for (j = s[k].n; j > 0 &&
		     s[k].a[j - 1]->t.attempt_number > t->t.attempt_number;
		     j--)
			s[k].a[j] = s[k].a[j - 1];
		s[k].a[j] = t;
		s[k].n++;
	}
	for (k = 0; k < n; k++) {
		int failed = 0;
		for (j = k + 1; j < n; j++) /* suites by their first start */
			if (s[j].a[0]->start_ms < s[k].a[0]->start_ms ||
			    (s[j].a[0]->start_ms == s[k].a[0]->start_ms &&
			     strcmp(s[j].type, s[k].type) < 0)) {
				struct suite tmp = s[k];
				s[k] = s[j];
				s[j] = tmp;
			}
		for (j = 0; j < s[k].n; j++) {
			x = s[k].a[j];
			failed |= strcmp(x->t.status, "failed") == 0;
			s[k].fallback |= x->t.fallback_to_serial;
			s[k].time_ms += x->end_ms - x->start_ms;
		}
		s[k].status = s[k].a[s[k].n - 1]->t.status;
		s[k].flaky = failed && strcmp(s[k].status, "passed") == 0;
	}
	*out_s = s;
	return n;
}

static void
free_suites(struct suite *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].a);
	free(s);
}

static const char *
dur(char buf[32], long long ms)
{
	if (ms < 0)
		snprintf(buf, 32, "-");
	else if (ms < 1000)
		snprintf(buf, 32, "%lldms", ms);
	else if (ms < 10000)
		snprintf(buf, 32, "%lld.%llds", ms / 1000, ms % 1000 / 100);
	else if (ms < 60000)
		snprintf(buf, 32, "%llds", ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, 32, "%lldm%02llds", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, 32, "%lldh%02lldm", ms / 3600000,
			 ms / 60000 % 60);
	return buf;
}

/* 2025-10-20 14:30:45 (UTC), or only the time of day. */
static const char *
utc(char buf[32], long long ms, int date)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, 32, date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm))
		snprintf(buf, 32, "?");
	return buf;
}

/* Printable on one line: control characters become spaces. */
static const char *
flat(struct ci_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);

	b->len = 0;
	if (n > max)
		n = ci_utf8_boundary(s, max);
	for (size_t i = 0; i < n; i++)
		ci_buf_add(
		    b, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? " " : s + i,
		    1);
	if (n < strlen(s))
		ci_buf_str(b, "...");
	if (!b->s)
		ci_buf_add(b, "", 0);
	return b->s;
}

static int
by_start(const void *a, const void *b)
{
	const struct sum *x = a, *y = b;

	if (x->start_time != y->start_time)
		return x->start_time < y->start_time ? -1 : 1;
	return x->r->seq < y->r->seq ? -1 : x->r->seq > y->r->seq;
}

/* The runs to report, oldest first. */
static struct sum *
select_runs(size_t *n)
{
	struct sum *m = xmalloc((runs.n + 1) * sizeof *m);
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

/* One bar of the timeline, against [t0, t1]. */
static void
bar(const char *label, long long s, long long e, long long t0, long long t1,
    const char *status)
{
	enum { W = 50 };
	long long span = t1 > t0 ? t1 - t0 : 1;
	int c0, c1, fail = status[0] == 'f', open = status[0] == 'u';
	char lb[64];

	if (s < t0)
		s = t0;
	if (e < s)
		e = s;
	c0 = (int)((s - t0) * W / span);
	c1 = (int)(((e - t0) * W + span - 1) / span);
	if (c0 >= W)
		c0 = W - 1;
	if (c1 <= c0)
		c1 = c0 + 1;
	if (c1 > W)
		c1 = W;
	snprintf(lb, sizeof lb, "%s", label);
	printf("  %-22.22s |%*s%s", lb, c0, "",
	       fail       ? RED
		   : open ? YELLOW
			  : GREEN);
	for (int i = c0; i < c1; i++)
		putchar(fail ? 'x' : open ? '-' : '=');
	printf("%s%*s|\n", RESET, W - c1, "");
}

static void
text_timeline(const struct sum *m, const struct suite *su, size_t ns)
{
	const struct ci_run *r = m->r;
	long long t0 = m->start_ms, t1 = m->end_ms, s, e;
	char d[32], d2[32], lb[64];

	printf("\n%sTimeline%s  %s from %s UTC, one column = %s\n", BOLD, RESET,
	       dur(d, t1 - t0), utc(lb, t0, 0), dur(d2, (t1 - t0) / 50));
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *st = &r->steps[i];
		if (!shown_step(st->name))
			continue;
		s = step_start(st);
		e = st->completions ? st->end_ms : t1;
		bar(st->name, s, e, t0, t1, step_status(st));
		for (size_t k = 0; k < ns; k++) {
			if (strncmp(st->name, "test-", 5) != 0 ||
			    strcmp(st->name + 5, su[k].type) != 0)
				continue;
			for (size_t j = 0; j < su[k].n; j++) {
				const struct ci_attempt *a = su[k].a[j];
				snprintf(lb, sizeof lb, "  %s #%lld",
					 a->t.test_type, a->t.attempt_number);
				bar(lb, a->start_ms, a->end_ms, t0, t1,
				    a->t.status);
			}
		}
	}
}

static void
text_run(const struct sum *m)
{
	const struct ci_run *r = m->r;
	const char *res = m->result;
	struct suite *su;
	size_t ns = suites_of(r, &su);
	struct ci_buf f = { 0 };
	char d[32], t[32], t2[32];

	printf("%sRun %s%s: %s%s%s", BOLD, r->id, RESET,
	       res[0] == 'p'       ? GREEN
		   : res[0] == 'f' ? RED
				   : YELLOW,
	       res, RESET);
	if (m->exit_code >= 0)
		printf(" (exit %d) in %s\n", m->exit_code,
		       dur(d, m->end_ms - m->start_ms));
	else
		printf(" (no complete entry) after %s\n",
		       dur(d, m->end_ms - m->start_ms));
	printf("  %s %s UTC to %s", r->has_pipeline ? "ran" : "seen",
	       utc(t, m->start_time * 1000, 1), utc(t2, m->end_time * 1000, 0));
	if (m->profile)
		printf(", profile %s, triggered by %s", m->profile,
		       m->triggered_by);
	printf("\n  steps completed:");
	for (size_t i = 0; i < m->ndone; i++)
		printf(" %s", flat(&f, m->done[i], 64));
	printf("%s\n", m->ndone ? "" : " none");

	printf("\n%s  %-22s %-10s %9s %5s%s\n", BOLD, "STEP", "STATUS",
	       "DURATION", "EXIT", RESET);
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		const char *st = step_status(s);
		if (!shown_step(s->name))
			continue;
		printf("  %-22s %s%-10s%s %9s", flat(&f, s->name, 64),
		       st[0] == 'p'       ? GREEN
			   : st[0] == 'f' ? RED
					  : YELLOW,
		       st, RESET, dur(d, s->completions ? s->duration_ms : -1));
		if (s->exit_code >= 0)
			printf(" %5d", s->exit_code);
		if (s->completions > 1)
			printf("  %d completions", s->completions);
		putchar('\n');
	}
	if (ns) {
		printf("\n%s  %-22s %-10s %9s %8s  %s%s\n", BOLD,
		       "TEST ATTEMPT", "STATUS", "DURATION", "FAILURES", "MODE",
		       RESET);
		for (size_t k = 0; k < ns; k++)
			for (size_t j = 0; j < su[k].n; j++) {
				const struct ci_attempt *a = su[k].a[j];
				const char *st = a->t.status;
				snprintf(t, sizeof t, "%s #%lld", su[k].type,
					 a->t.attempt_number);
				printf("  %-22s %s%-10s%s %9s %8lld  %s%s\n", t,
				       st[0] == 'p'       ? GREEN
					   : st[0] == 'f' ? RED
							  : YELLOW,
				       st, RESET,
				       dur(d, a->end_ms - a->start_ms),
				       a->t.failure_count,
				       a->t.fallback_to_serial
					   ? "serial (fallback)"
					   : a->t.run_in_parallel ? "parallel"
								  : "serial",
				       j + 1 == su[k].n && su[k].flaky
					   ? ", flaky: passed on retry"
					   : "");
			}
	}
	text_timeline(m, su, ns);
	if (r->errors + r->warnings + r->nmsgs) {
		printf("\n%sErrors and warnings%s  %llu error%s, %llu "
		       "warning%s\n",
		       BOLD, RESET, r->errors, r->errors == 1 ? "" : "s",
		       r->warnings, r->warnings == 1 ? "" : "s");
		for (size_t i = 0; i < r->nmsgs; i++) {
			const struct ci_msg *g = &r->msgs[i];
			printf("  %s%-5s%s %s %s %s:%lld (%s): ",
			       g->level == 2       ? RED
				   : g->level == 1 ? YELLOW
						   : "",
			       g->level == 2       ? "ERROR"
				   : g->level == 1 ? "WARN"
						   : "INFO",
			       RESET, utc(t, g->ts_ms, 0), g->step,
			       g->source_file, g->line_number,
			       g->function_name);
			printf("%s\n", flat(&f, g->message, 300));
		}
		if (r->omitted)
			printf("  ... and %llu more (the first %d are kept)\n",
			       r->omitted, MSG_CAP);
	}
	free_suites(su, ns);
	ci_buf_free(&f);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Per step across runs: the runs it completed in, median, latest, slowest. */
struct across {
	const char *name, *slowest_run;
	long long *d, latest, slowest;
	size_t n;
};

static size_t
steps_across(const struct sum *m, size_t n, struct across **out_a)
{
	struct across *a = NULL;
	size_t na = 0, k;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m[i].r->nsteps; j++) {
			const struct ci_step *s = &m[i].r->steps[j];
			if (!shown_step(s->name) || !s->completions)
				continue;
			for (k = 0; k < na; k++)
				if (strcmp(a[k].name, s->name) == 0)
					break;
			if (k == na) {
				a = xrealloc(a, (na + 1) * sizeof *a);
				memset(&a[na], 0, sizeof *a);
				a[na].name = s->name;
				a[na].d = xmalloc(n * sizeof(long long));
				a[na++].slowest = -1;
			}
			a[k].d[a[k].n++] = s->duration_ms;
			a[k].latest = s->duration_ms;
			if (s->duration_ms > a[k].slowest) {
				a[k].slowest = s->duration_ms;
				a[k].slowest_run = m[i].r->id;
			}
		}
	for (k = 0; k < na; k++)
		qsort(a[k].d, a[k].n, sizeof *a[k].d, cmp_ll);
	*out_a = a;
	return na;
}

static long long
median(const struct across *a)
{
	return a->n % 2 ? a->d[a->n / 2]
			: (a->d[a->n / 2 - 1] + a->d[a->n / 2]) / 2;
}

static void
text_many(const struct sum *m, size_t n)
{
	struct across *a;
	size_t na = steps_across(m, n, &a);
	char d[32], t[32], res[32];

	printf("%s%zu runs%s\n\n%s  %-26s  %-19s  %9s  %-14s %6s %8s%s\n", BOLD,
	       n, RESET, BOLD, "RUN", "STARTED (UTC)", "DURATION", "RESULT",
	       "ERRORS", "WARNINGS", RESET);
	for (size_t i = 0; i < n; i++) {
		const char *r = m[i].result;
		if (m[i].exit_code > 0)
			snprintf(res, sizeof res, "%s (exit %d)", r,
				 m[i].exit_code);
		else
			snprintf(res, sizeof res, "%s", r);
		printf("  %-26s  %-19s  %9s  %s%-14s%s %6llu %8llu\n",
		       m[i].r->id, utc(t, m[i].start_time * 1000, 1),
		       dur(d, m[i].end_ms - m[i].start_ms),
		       r[0] == 'p'       ? GREEN
			   : r[0] == 'f' ? RED
					 : YELLOW,
		       res, RESET, m[i].r->errors, m[i].r->warnings);
	}
	if (na) {
		printf("\n%s  %-22s %5s %9s %9s %9s  %s%s\n", BOLD,
		       "STEP ACROSS RUNS", "RUNS", "MEDIAN", "LATEST",
		       "SLOWEST", "SLOWEST RUN", RESET);
		for (size_t k = 0; k < na; k++) {
			char d2[32], d3[32];
			printf("  %-22s %5zu %9s %9s %9s  %s\n", a[k].name,
			       a[k].n, dur(d, median(&a[k])),
			       dur(d2, a[k].latest), dur(d3, a[k].slowest),
			       a[k].slowest_run);
		}
	}
	for (size_t k = 0; k < na; k++)
		free(a[k].d);
	free(a);
}

/* The malformed lines: the first few, and always the total. */
static void
bad_summary(FILE *f, const char *prefix)
{
	if (!nbad)
		return;
	fprintf(f, "%s%llu malformed line%s", prefix, nbad,
		nbad == 1 ? "" : "s");
	fprintf(f,
		f == stdout ? " (not valid log entries; skipped):\n"
			    : " (not valid log entries; skipped)\n");
	for (unsigned long long i = 0; i < nbad && i < BAD_SHOWN; i++)
		fprintf(f, "%s%s%s:%llu: %s\n", prefix, f == stdout ? "  " : "",
			file_name(shown[i].file), shown[i].line, shown[i].why);
	if (nbad > BAD_SHOWN)
		fprintf(f, "%s%s... and %llu more\n", prefix,
			f == stdout ? "  " : "", nbad - BAD_SHOWN);
}

static void
text(const struct sum *m, size_t n)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	color = isatty(1) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
	if (n == 0)
		printf("No runs found.\n");
	else if (n == 1)
		text_run(&m[0]);
	else
		text_many(m, n);
	if (nbad) {
		putchar('\n');
		bad_summary(stdout, "");
	}
}

static void
jstr(struct ci_buf *b, const char *key, const char *v)
{
	ci_buf_printf(b, ",\"%s\":", key);
	if (v)
		ci_buf_json_string(b, v, strlen(v));
	else
		ci_buf_str(b, "null");
}

static void
jnum(struct ci_buf *b, const char *key, long long v, int present)
{
	if (present)
		ci_buf_printf(b, ",\"%s\":%lld", key, v);
	else
		ci_buf_printf(b, ",\"%s\":null", key);
}

static void
json_test(struct ci_buf *b, const struct ci_test_exec *t)
{
	ci_buf_str(b, "{\"test_type\":");
	ci_buf_json_string(b, t->test_type, strlen(t->test_type));
	ci_buf_printf(b,
		      ",\"attempt_number\":%lld,\"status\":\"%s\","
		      "\"duration\":%lld,\"failure_count\":%lld,"
		      "\"started_at\":%lld,\"completed_at\":%lld,"
		      "\"run_in_parallel\":%s,\"fallback_to_serial\":%s}",
		      t->attempt_number, t->status, t->duration,
		      t->failure_count, t->started_at, t->completed_at,
		      t->run_in_parallel ? "true" : "false",
		      t->fallback_to_serial ? "true" : "false");
}

/* One run as one line of JSON (contracts/report-schema.json). */
static void
json_run(const struct sum *m)
{
	static const char *const lv[] = { "info", "warn", "error" };
	const struct ci_run *r = m->r;
	struct suite *su;
	size_t ns = suites_of(r, &su);
	char ts[32];

	out.len = 0;
	ci_buf_printf(&out, "{\"run_id\":\"%s\"", r->id);
	jnum(&out, "start_time", m->start_time, 1);
	jnum(&out, "end_time", m->end_time, 1);
	jnum(&out, "duration", m->duration, 1);
	jnum(&out, "exit_code", m->exit_code, m->exit_code >= 0);
	jstr(&out, "profile", m->profile);
	jstr(&out, "triggered_by", m->triggered_by);
	ci_buf_str(&out, ",\"steps_completed\":[");
	for (size_t i = 0; i < m->ndone; i++) {
		ci_buf_str(&out, i ? "," : "");
		ci_buf_json_string(&out, m->done[i], strlen(m->done[i]));
	}
	ci_buf_printf(&out, "],\"complete\":%s",
		      r->has_pipeline ? "true" : "false");
	jstr(&out, "result", m->result);
	ci_buf_printf(&out, ",\"entries\":%llu,\"steps\":[", r->entries);
	for (size_t i = 0, k = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		int c = s->completions > 0;
		if (!shown_step(s->name))
			continue;
		ci_buf_str(&out, k++ ? ",{\"name\":" : "{\"name\":");
		ci_buf_json_string(&out, s->name, strlen(s->name));
		jstr(&out, "status", step_status(s));
		jnum(&out, "start_ms", step_start(s), 1);
		jnum(&out, "end_ms", s->end_ms, c);
		jnum(&out, "duration_ms", s->duration_ms, c);
		jnum(&out, "exit_code", s->exit_code, s->exit_code >= 0);
		jnum(&out, "completions", s->completions, 1);
		ci_buf_str(&out, "}");
	}
	ci_buf_str(&out, "],\"tests\":[");
	for (size_t k = 0; k < ns; k++) {
		ci_buf_str(&out, k ? ",{\"test_type\":" : "{\"test_type\":");
		ci_buf_json_string(&out, su[k].type, strlen(su[k].type));
		ci_buf_printf(&out,
			      ",\"status\":\"%s\",\"attempts\":%zu,"
			      "\"retries\":%zu,\"flaky\":%s,"
			      "\"fallback_to_serial\":%s,\"executions\":[",
			      su[k].status, su[k].n, su[k].n - 1,
			      su[k].flaky ? "true" : "false",
			      su[k].fallback ? "true" : "false");
		for (size_t j = 0; j < su[k].n; j++) {
			ci_buf_str(&out, j ? "," : "");
			json_test(&out, &su[k].a[j]->t);
		}
		ci_buf_str(&out, "]}");
	}
	ci_buf_printf(&out,
		      "],\"error_count\":%llu,\"warning_count\":%llu,"
		      "\"messages_omitted\":%llu,\"messages\":[",
		      r->errors, r->warnings, r->omitted);
	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		ci_iso8601(
		    ts,
		    (struct timespec){ .tv_sec = g->ts_ms / 1000,
				       .tv_nsec = g->ts_ms % 1000 * 1000000 },
		    1);
		ci_buf_printf(&out, "%s{\"level\":\"%s\",\"timestamp\":\"%s\"",
			      i ? "," : "", lv[g->level], ts);
		jstr(&out, "step_name", g->step);
		jstr(&out, "message", g->message);
		jstr(&out, "source_file", g->source_file);
		jnum(&out, "line_number", g->line_number, 1);
		jstr(&out, "function_name", g->function_name);
		jstr(&out, "file", file_name(g->file));
		ci_buf_printf(&out, ",\"line\":%llu}", g->line);
	}
	ci_buf_str(&out, "]}\n");
	xwrite_stdout(out.s, out.len);
	free_suites(su, ns);
}

/*
 * Markdown for $GITHUB_STEP_SUMMARY, which GitHub drops past 1 MiB: every
 * item goes in whole or not at all, under a budget that leaves room for
 * the note saying what was left out.
 */
#define MD_LIMIT 1000000
#define GANTT_MAX 40000 /* Mermaid refuses diagrams over 50,000 chars */
static struct ci_buf md, item;
static unsigned long long md_dropped;

static int
md_put(struct ci_buf *b)
{
	if (md.len + b->len + 1024 > MD_LIMIT) {
		md_dropped++;
		b->len = 0;
		return 0;
	}
	ci_buf_add(&md, b->s, b->len);
	b->len = 0;
	return 1;
}

/* Text safe inside a Markdown paragraph or table cell. */
static void
md_text(struct ci_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		n = ci_utf8_boundary(s, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			ci_buf_add(b, " ", 1);
		else if (c == '<')
			ci_buf_str(b, "&lt;");
		else if (c == '>')
			ci_buf_str(b, "&gt;");
		else if (c == '&')
			ci_buf_str(b, "&amp;");
		else if (strchr("\\`*_[]|~", c)) {
			ci_buf_add(b, "\\", 1);
			ci_buf_add(b, s + i, 1);
		} else
			ci_buf_add(b, s + i, 1);
	}
	if (n < strlen(s))
		ci_buf_str(b, "...");
}

/* file:line, linked to the commit's file on GitHub when the job says so. */
static void
md_location(struct ci_buf *b, const char *file, long long line, int link)
{
	const char *srv = getenv("GITHUB_SERVER_URL");
	const char *repo = getenv("GITHUB_REPOSITORY");
	const char *sha = getenv("GITHUB_SHA");

	if (link && srv && *srv && repo && *repo && sha && *sha) {
		ci_buf_add(b, "[", 1);
		md_text(b, file, 200);
		ci_buf_printf(b, ":%lld](%s/%s/blob/%s/", line, srv, repo, sha);
		for (const char *p = file; *p; p++)
			if (strchr(
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
				"uvwxyz0123456789-._~/",
				*p))
				ci_buf_add(b, p, 1);
			else
				ci_buf_printf(b, "%%%02X", (unsigned char)*p);
		ci_buf_printf(b, "#L%lld)", line);
		return;
	}
	ci_buf_add(b, "`", 1);
	for (const char *p = file; *p && p - file < 200; p++)
		ci_buf_add(b, *p == '`' || (unsigned char)*p < 0x20 ? "'" : p,
			   1);
	ci_buf_printf(b, ":%lld`", line);
}

static const char *
md_icon(const char *status)
{
	return status[0] == 'p' ? "✅" : status[0] == 'f' ? "❌" : "⚠️";
}

/* A Mermaid task name: no ':', '#' or ';', and not a gantt keyword. */
static void
gantt_name(struct ci_buf *b, const char *s)
{
	static const char *const kw[] = {
		"title",    "section",  "dateformat",  "axisformat",
		"excludes", "includes", "todaymarker", "tickinterval",
		"weekday",  "click",    "acc",         NULL
	};

	for (int i = 0; kw[i]; i++)
		if (strncasecmp(s, kw[i], strlen(kw[i])) == 0) {
			ci_buf_add(b, "_", 1);
			break;
		}
	for (int i = 0; s[i] && i < 60; i++)
		ci_buf_add(b,
			   strchr(":#;%`\"<>{}", s[i]) ||
				   (unsigned char)s[i] < 0x20
			       ? "_"
			       : s + i,
			   1);
}

static void
gantt_task(struct ci_buf *g, const char *name, const char *status, long long s,
	   long long e, int *ntasks)
{
	if (e < s)
		e = s;
	ci_buf_str(g, "    ");
	gantt_name(g, name);
	ci_buf_printf(g, " :%s%lld, %lld\n",
		      status[0] == 'p'       ? "done, "
			  : status[0] == 'f' ? "crit, "
					     : "active, ",
		      s, e);
	(*ntasks)++;
}

static void
md_gantt(const struct sum *m, const struct suite *su, size_t ns)
{
	const struct ci_run *r = m->r;
	struct ci_buf g = { 0 };
	int ntasks = 0, cut = 0;
	char lb[64];

	ci_buf_printf(&g,
		      "\n```mermaid\ngantt\n    title %s\n    dateFormat x\n"
		      "    axisFormat %s\n    section Steps\n",
		      r->id,
		      m->end_ms - m->start_ms < 3600000 ? "%M:%S" : "%H:%M");
	for (size_t i = 0; i < r->nsteps && !cut; i++) {
		const struct ci_step *s = &r->steps[i];
		if (!shown_step(s->name))
			continue;
		gantt_task(&g, s->name, step_status(s), step_start(s),
			   s->completions ? s->end_ms : m->end_ms, &ntasks);
		cut = g.len > GANTT_MAX;
	}
	if (ns && !cut)
		ci_buf_str(&g, "    section Test attempts\n");
	for (size_t k = 0; k < ns && !cut; k++)
		for (size_t j = 0; j < su[k].n && !cut; j++) {
			const struct ci_attempt *a = su[k].a[j];
			snprintf(lb, sizeof lb, "%s attempt %lld", su[k].type,
				 a->t.attempt_number);
			gantt_task(&g, lb, a->t.status, a->start_ms, a->end_ms,
				   &ntasks);
			cut = g.len > GANTT_MAX;
		}
	ci_buf_str(&g, "```\n");
	if (cut)
		ci_buf_str(&g,
			   "\n_The timeline shows the first tasks only: "
			   "Mermaid draws at most 50,000 characters._\n");
	if (ntasks)
		md_put(&g);
	ci_buf_free(&g);
}

static void
md_run(const struct sum *m, const char *h)
{
	const struct ci_run *r = m->r;
	struct suite *su;
	size_t ns = suites_of(r, &su);
	char d[32], t[32];

	ci_buf_printf(&item, "%s %s %s %s", h, md_icon(m->result), r->id,
		      m->result);
	if (m->exit_code >= 0)
		ci_buf_printf(&item, " (exit %d) in %s\n\n", m->exit_code,
			      dur(d, m->end_ms - m->start_ms));
	else
		ci_buf_printf(&item, ": no complete entry, seen for %s\n\n",
			      dur(d, m->end_ms - m->start_ms));
	ci_buf_printf(&item, "Started %s UTC", utc(t, m->start_time * 1000, 1));
	if (m->profile)
		ci_buf_printf(&item, ", profile `%s`, triggered by `%s`",
			      m->profile, m->triggered_by);
	ci_buf_printf(&item, "; %zu steps completed", m->ndone);
	for (size_t i = 0; i < m->ndone; i++) {
		ci_buf_str(&item, i ? " → " : ": ");
		md_text(&item, m->done[i], 64);
	}
	ci_buf_str(&item,
		   ".\n\n| Step | Status | Duration | Exit code |\n"
		   "|---|---|---:|---:|\n");
	md_put(&item);
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		const char *st = step_status(s);
		if (!shown_step(s->name))
			continue;
		ci_buf_str(&item, "| ");
		md_text(&item, s->name, 64);
		ci_buf_printf(&item, " | %s %s | %s | ", md_icon(st), st,
			      dur(d, s->completions ? s->duration_ms : -1));
		if (s->exit_code >= 0)
			ci_buf_printf(&item, "%d", s->exit_code);
		ci_buf_str(&item, " |\n");
		md_put(&item);
	}
	if (ns) {
		ci_buf_str(&item,
			   "\n| Test suite | Attempt | Status | Failures | "
			   "Duration | Mode |\n|---|---:|---|---:|---:|---|\n");
		md_put(&item);
	}
	for (size_t k = 0; k < ns; k++)
		for (size_t j = 0; j < su[k].n; j++) {
			const struct ci_attempt *a = su[k].a[j];
			ci_buf_printf(
			    &item, "| %s | %lld | %s %s%s | %lld | %s | %s |\n",
			    su[k].type, a->t.attempt_number,
			    md_icon(a->t.status), a->t.status,
			    j + 1 == su[k].n && su[k].flaky ? " (flaky)" : "",
			    a->t.failure_count, dur(d, a->end_ms - a->start_ms),
			    a->t.fallback_to_serial    ? "serial (fallback)"
				: a->t.run_in_parallel ? "parallel"
						       : "serial");
			md_put(&item);
		}
	if (r->nmsgs) {
		ci_buf_printf(&item, "\n**%llu error%s, %llu warning%s**\n\n",
			      r->errors, r->errors == 1 ? "" : "s", r->warnings,
			      r->warnings == 1 ? "" : "s");
		md_put(&item);
	}
	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		ci_buf_printf(&item, "- %s ",
			      g->level == 2       ? "❌"
				  : g->level == 1 ? "⚠️"
						  : "ℹ️");
		md_location(&item, g->source_file, g->line_number, 1);
		ci_buf_str(&item, " (");
		md_text(&item, g->function_name, 64);
		ci_buf_str(&item, ") **");
		md_text(&item, g->step, 64);
		ci_buf_str(&item, "**: ");
		md_text(&item, g->message, 300);
		ci_buf_str(&item, "\n");
		md_put(&item);
	}
	if (r->omitted) {
		ci_buf_printf(&item, "- ... and %llu more\n", r->omitted);
		md_put(&item);
	}
	md_gantt(m, su, ns);
	free_suites(su, ns);
}

static void
md_many(const struct sum *m, size_t n)
{
	struct across *a;
	size_t na = steps_across(m, n, &a), res[3] = { 0 };
	char d[32], d2[32], d3[32], t[32];

	for (size_t i = 0; i < n; i++)
		res[m[i].result[0] == 'p'       ? 0
			: m[i].result[0] == 'f' ? 1
						: 2]++;
	ci_buf_printf(&item,
		      "## %s %zu runs: %zu passed, %zu failed, %zu "
		      "incomplete\n\n| Run | Started (UTC) | Duration | Result "
		      "| Errors | Warnings |\n|---|---|---:|---|---:|---:|\n",
		      res[1]       ? "❌"
			  : res[2] ? "⚠️"
				   : "✅",
		      n, res[0], res[1], res[2]);
	md_put(&item);
	for (size_t i = 0; i < n; i++) {
		ci_buf_printf(&item, "| %s | %s | %s | %s %s", m[i].r->id,
			      utc(t, m[i].start_time * 1000, 1),
			      dur(d, m[i].end_ms - m[i].start_ms),
			      md_icon(m[i].result), m[i].result);
		if (m[i].exit_code > 0)
			ci_buf_printf(&item, " (exit %d)", m[i].exit_code);
		ci_buf_printf(&item, " | %llu | %llu |\n", m[i].r->errors,
			      m[i].r->warnings);
		md_put(&item);
	}
	if (na) {
		ci_buf_str(&item,
			   "\n| Step | Runs | Median | Latest | Slowest "
			   "| Slowest run |\n|---|---:|---:|---:|---:|"
			   "---|\n");
		md_put(&item);
	}
	for (size_t k = 0; k < na; k++) {
		ci_buf_str(&item, "| ");
		md_text(&item, a[k].name, 64);
		ci_buf_printf(&item, " | %zu | %s | %s | %s | %s |\n", a[k].n,
			      dur(d, median(&a[k])), dur(d2, a[k].latest),
			      dur(d3, a[k].slowest), a[k].slowest_run);
		md_put(&item);
		free(a[k].d);
	}
	free(a);
	for (size_t i = n; i-- > 0;) {
		ci_buf_str(&item, "\n");
		md_put(&item);
		md_run(&m[i], "###");
	}
}

static void
markdown(const struct sum *m, size_t n)
{
	if (n == 0) {
		ci_buf_str(&item, "## No runs found\n");
		md_put(&item);
	} else if (n == 1)
		md_run(&m[0], "##");
	else
		md_many(m, n);
	if (nbad) {
		ci_buf_printf(
		    &item,
		    "\n> ⚠️ **%llu malformed line%s** in the input "
		    "(not valid log entries; skipped)%s\n",
		    nbad, nbad == 1 ? "" : "s", ":");
		for (unsigned long long i = 0; i < nbad && i < BAD_SHOWN; i++) {
			ci_buf_str(&item, "> - ");
			md_location(&item, file_name(shown[i].file),
				    (long long)shown[i].line, 0);
			ci_buf_str(&item, ": ");
			md_text(&item, shown[i].why, 200);
			ci_buf_str(&item, "\n");
		}
		md_put(&item);
	}
	if (md_dropped)
		ci_buf_printf(
		    &md,
		    "\n> ✂️ **Truncated**: %llu more item%s left out "
		    "to stay under GitHub's 1 MiB step summary limit. "
		    "Run `ci-report` on the log for the whole "
		    "report.\n",
		    md_dropped, md_dropped == 1 ? "" : "s");
	xwrite_stdout(md.s, md.len);
	ci_buf_free(&md);
	ci_buf_free(&item);
}

/* Text for XML: escaped, and without the characters XML 1.0 forbids. */
static void
xml_text(struct ci_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '&')
			ci_buf_str(b, "&amp;");
		else if (c == '<')
			ci_buf_str(b, "&lt;");
		else if (c == '>')
			ci_buf_str(b, "&gt;");
		else if (c == '"')
			ci_buf_str(b, "&quot;");
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			ci_buf_add(b, "?", 1);
		else if (c == 0xEF && (unsigned char)s[1] == 0xBF &&
			 ((unsigned char)s[2] == 0xBE ||
			  (unsigned char)s[2] == 0xBF)) {
			ci_buf_add(b, "?", 1); /* U+FFFE, U+FFFF */
			s += 2;
		} else
			ci_buf_add(b, s, 1);
	}
}

/* The messages of a test step logged while the attempt ran. */
static void
xml_messages(struct ci_buf *b, const struct ci_run *r,
	     const struct ci_attempt *a)
{
	char step[64];

	snprintf(step, sizeof step, "test-%s", a->t.test_type);
	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		if (strcmp(g->step, step) != 0 || g->ts_ms < a->start_ms ||
		    g->ts_ms > a->end_ms)
			continue;
		ci_buf_printf(b, "%s:%lld (", g->source_file, g->line_number);
		ci_buf_str(b, g->function_name);
		ci_buf_str(b, "): ");
		ci_buf_str(b, g->message);
		ci_buf_str(b, "\n");
	}
}

/*
 * JUnit XML: a testsuite per test type of each run, a testcase per attempt.
 * A failed attempt that a later one made good is a flakyFailure (the
 * Surefire form Jenkins reads), so the suite counts as passed and is marked
 * flaky; the attempts of a suite that never passed are failures.
 */
static void
junit(const struct sum *m, size_t n)
{
	struct ci_buf b = { 0 }, tmp = { 0 };
	unsigned long long tests = 0, failures = 0, skipped = 0;
	long long total_ms = 0;
	char ts[32];

	for (size_t i = 0; i < n; i++) {
		const struct ci_run *r = m[i].r;
		struct suite *su;
		size_t ns = suites_of(r, &su);
		for (size_t k = 0; k < ns; k++) {
			unsigned long long f = 0, sk = 0;
			int passed = strcmp(su[k].status, "passed") == 0;
			for (size_t j = 0; j < su[k].n; j++) {
				f += !passed &&
				    strcmp(su[k].a[j]->t.status, "failed") == 0;
				sk += strcmp(su[k].a[j]->t.status, "skipped") ==
				    0;
			}
			tests += su[k].n;
			failures += f;
			skipped += sk;
			total_ms += su[k].time_ms;
			utc(ts, su[k].a[0]->start_ms, 1);
			ts[10] = 'T';
			ci_buf_printf(&tmp,
				      "  <testsuite name=\"%s\" tests=\"%zu\" "
				      "failures=\"%llu\" errors=\"0\" "
				      "skipped=\"%llu\" time=\"%lld.%03lld\" "
				      "timestamp=\"%s\">\n    <properties>\n",
				      su[k].type, su[k].n, f, sk,
				      su[k].time_ms / 1000,
				      su[k].time_ms % 1000, ts);
			ci_buf_printf(&tmp,
				      "      <property name=\"run_id\" "
				      "value=\"%s\"/>\n      <property "
				      "name=\"flaky\" value=\"%s\"/>\n      "
				      "<property name=\"fallback_to_serial\" "
				      "value=\"%s\"/>\n    </properties>\n",
				      r->id, su[k].flaky ? "true" : "false",
				      su[k].fallback ? "true" : "false");
			for (size_t j = 0; j < su[k].n; j++) {
				const struct ci_attempt *a = su[k].a[j];
				const char *st = a->t.status;
				long long ms = a->end_ms - a->start_ms;
				ci_buf_printf(
				    &tmp,
				    "    <testcase name=\"%s attempt %lld\" "
				    "classname=\"%s\" time=\"%lld.%03lld\">\n",
				    su[k].type, a->t.attempt_number, su[k].type,
				    ms / 1000, ms % 1000);
				if (st[0] == 'f') {
					ci_buf_printf(
					    &tmp,
					    "      <%s message=\"attempt %lld "
					    "failed: %lld failure%s%s\" "
					    "type=\"failed\">",
					    passed ? "flakyFailure" : "failure",
					    a->t.attempt_number,
					    a->t.failure_count,
					    a->t.failure_count == 1 ? "" : "s",
					    passed ? "; passed on a later "
						     "attempt"
						   : "");
					b.len = 0;
					xml_messages(&b, r, a);
					if (b.len)
						xml_text(&tmp, b.s);
					ci_buf_printf(&tmp, "</%s>\n",
						      passed ? "flakyFailure"
							     : "failure");
				} else if (st[0] == 's')
					ci_buf_str(&tmp, "      <skipped/>\n");
				ci_buf_printf(
				    &tmp,
				    "      <system-out>%s %s attempt %lld: %s, "
				    "%lld failures, %lld s, %s</system-out>\n"
				    "    </testcase>\n",
				    r->id, su[k].type, a->t.attempt_number, st,
				    a->t.failure_count, a->t.duration,
				    a->t.fallback_to_serial
					? "serial after falling back"
					: a->t.run_in_parallel ? "in parallel"
							       : "serial");
			}
			ci_buf_str(&tmp, "  </testsuite>\n");
		}
		free_suites(su, ns);
	}
	ci_buf_printf(&out,
		      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<testsuites name=\"ci-report\" tests=\"%llu\" "
		      "failures=\"%llu\" errors=\"0\" skipped=\"%llu\" "
		      "time=\"%lld.%03lld\">\n",
		      tests, failures, skipped, total_ms / 1000,
		      total_ms % 1000);
	if (tmp.len)
		ci_buf_add(&out, tmp.s, tmp.len);
	ci_buf_str(&out, "</testsuites>\n");
	xwrite_stdout(out.s, out.len);
	ci_buf_free(&b);
	ci_buf_free(&tmp);
}

static void
report(void)
{
	size_t n;
	struct sum *m = select_runs(&n);

	if (opt.run && n == 0) {
		bad_summary(stderr, "ci-report: ");
		ci_die(CI_EXIT_USAGE, "--run: no run %s in the input", opt.run);
	}
	if (opt.format == TEXT)
		text(m, n);
	else if (opt.format == MARKDOWN)
		markdown(m, n);
	else if (opt.format == JSON)
		for (size_t i = 0; i < n; i++)
			json_run(&m[i]);
	else
		junit(m, n);
	if (opt.format == JSON || opt.format == JUNIT)
		bad_summary(stderr, "ci-report: ");
	for (size_t i = 0; i < n; i++)
		free(m[i].done);
	free(m);
	ci_buf_free(&out);
}
