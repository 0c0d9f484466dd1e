/*
 * ci-log: append one structured log entry to the run's NDJSON log, carrying
 * the run id, the step and the source location; with no message, one entry
 * per line of standard input; with --records, one entry per tab-separated
 * record, for a shell that keeps one ci-log open; with --prune, remove old
 * log files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ci.h"

struct stream {
	struct ci_log log;
	struct ci_entry base; /* defaults of every entry */
	int tee; /* copy stdin to stdout; 0 again after EPIPE */
	int tee_failed;
	int ack_fd;
	struct ci_buf acks;
	struct ci_buf msg;
	struct ci_buf rec;
	struct ci_line_sink sink; /* filter mode: each line an entry */
	struct ci_lines *lines;
	int skipping; /* inside a record longer than RECORD_MAX */
	unsigned long bad;
	unsigned long lost; /* --ack-fd: entries that could not be written */
	int failed; /* --ack-fd: a write failed since the last sync answer */
	int serving; /* --ack-fd given: a write failure does not end ci-log */
	int acked; /* flushing for an acknowledged record */
	unsigned long said; /* lost entries of acknowledged records */
	const char *ack_to; /* the record's answer: to --ack-fd when empty */
	size_t ack_len;
};

/* A record's longest line; its message is logged in CI_LINE_MAX pieces. */
#define RECORD_MAX (64u << 20)

static void one_entry(struct stream *st, int argc, char **argv,
		      long long duration);
static void read_stream(struct stream *st, ci_line_fn fn, void *arg);
static int flush(struct stream *st);
static void answer(struct stream *st, const char *to, size_t len, int ok);
static void record_line(void *arg, const char *line, size_t len, int continued);
static int prune(const char *dir, long long keep, long long max_age);

static void
usage(FILE *f)
{
	fputs("usage: ci-log [-q] [--tee] [-l LEVEL] [-s STEP] [--source FILE] "
	      "[--line N] [--function NAME] [--duration-ms N] [-o FILE] "
	      "[MESSAGE ...]\n"
	      "       ci-log --stderr-level LEVEL [-q] [--tee] [-s STEP] "
	      "[-o FILE]\n"
	      "       ci-log --records [-q] [-s STEP] [-o FILE] [--ack-fd FD]\n"
	      "       ci-log --prune [--keep N] [--max-age DAYS] [--dir DIR]\n",
	      f);
}

enum {
	OPT_ACK = 256,
	OPT_DIR,
	OPT_DURATION,
	OPT_FUNCTION,
	OPT_KEEP,
	OPT_LINE,
	OPT_MAXAGE,
	OPT_PRUNE,
	OPT_RECORDS,
	OPT_SOURCE,
	OPT_STDERR_LEVEL,
	OPT_TEE,
	OPT_VERSION,
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ack-fd", required_argument, NULL, OPT_ACK },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "duration-ms", required_argument, NULL, OPT_DURATION },
		{ "function", required_argument, NULL, OPT_FUNCTION },
		{ "help", no_argument, NULL, 'h' },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "level", required_argument, NULL, 'l' },
		{ "line", required_argument, NULL, OPT_LINE },
		{ "max-age", required_argument, NULL, OPT_MAXAGE },
		{ "output", required_argument, NULL, 'o' },
		{ "prune", no_argument, NULL, OPT_PRUNE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "records", no_argument, NULL, OPT_RECORDS },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "stderr-level", required_argument, NULL, OPT_STDERR_LEVEL },
		{ "step", required_argument, NULL, 's' },
		{ "tee", no_argument, NULL, OPT_TEE },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	static struct stream st;
	const char *out = NULL, *step = getenv("CI_STEP"), *dir = NULL;
	long long duration = -1, keep = -1, max_age = -1;
	size_t nmask;
	int c, quiet = 0, records = 0, pruning = 0, entry_opts = 0;
	int line_given = 0, level_given = 0;
	const char *stderr_level = NULL;

	ci_init(argv[0]);
	ci_entry_init(&st.base, NULL, NULL);
	st.base.source_file = NULL;
	st.ack_fd = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hl:o:qs:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return xfinish_stdout();
		case 'l':
			st.base.level = ci_level_arg("-l", optarg);
			entry_opts = level_given = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 's':
			if (!*optarg)
				ci_usage_error("-s: the step name is empty");
			step = optarg;
			break;
		case OPT_ACK:
			st.ack_fd = (int)xnum("--ack-fd", optarg, 0, 1 << 20);
			if (fcntl(st.ack_fd, F_GETFD) < 0)
				ci_usage_error(
				    "--ack-fd: descriptor %d is not open",
				    st.ack_fd);
			break;
		case OPT_DIR:
			dir = optarg;
			break;
		case OPT_DURATION:
			duration = xnum("--duration-ms", optarg, 0,
					9007199254740991LL);
			break;
		case OPT_FUNCTION:
			if (!*optarg)
				ci_usage_error("--function: the name is empty");
			st.base.function_name = optarg;
			entry_opts = 1;
			break;
		case OPT_KEEP:
			keep = xnum("--keep", optarg, 0, 1000000);
			break;
		case OPT_LINE:
			st.base.line_number =
			    (long)xnum("--line", optarg, 1, 2147483647);
			line_given = 1;
			entry_opts = 1;
			break;
		case OPT_MAXAGE:
			max_age = xnum("--max-age", optarg, 0, 100000);
			break;
		case OPT_PRUNE:
			pruning = 1;
			break;
		case OPT_RECORDS:
			records = 1;
			break;
		case OPT_SOURCE:
			if (!*optarg)
				ci_usage_error(
				    "--source: the file name is empty");
			st.base.source_file = optarg;
			entry_opts = 1;
			break;
		case OPT_STDERR_LEVEL:
			stderr_level = ci_level_arg("--stderr-level", optarg);
			break;
		case OPT_TEE:
			st.tee = 1;
			break;
		case OPT_VERSION:
			ci_version();
		default:
			ci_bad_option(c, argc, argv);
		}
	}
	argc -= optind;
	argv += optind;

	if (pruning) {
		if (argc > 0 || records || st.tee || entry_opts ||
		    duration >= 0)
			ci_usage_error("--prune takes only --keep, --max-age "
				       "and --dir");
		return prune(dir, keep < 0 ? 10 : keep,
			     max_age < 0 ? 30 : max_age);
	}
	if (keep >= 0 || max_age >= 0 || dir)
		ci_usage_error("--keep, --max-age and --dir go with --prune");
	if (records && (argc > 0 || st.tee || duration >= 0))
		ci_usage_error(
		    "--records reads its entries from standard input: "
		    "no MESSAGE, --tee or --duration-ms");
	if (st.ack_fd >= 0 && !records)
		ci_usage_error("--ack-fd goes with --records");
	if (stderr_level && (argc > 0 || records || pruning))
		ci_usage_error(
		    "--stderr-level reads a command's standard error "
		    "from standard input: no MESSAGE or --records");
	if (stderr_level && level_given)
		ci_usage_error("--stderr-level is the level of the lines: it "
			       "cannot go with -l");
	if (stderr_level)
		st.base.level = stderr_level;
	if (argc > 0 && st.tee)
		ci_usage_error(
		    "--tee copies standard input: it cannot go with a "
		    "MESSAGE");
	if (argc == 0 && !records && duration >= 0)
		ci_usage_error("--duration-ms goes with a MESSAGE, not with "
			       "lines from standard input");

	st.base.run_id = xrunid_env();
	st.base.step_name = step && *step ? step : "main";
	if (!st.base.source_file) {
		long line;
		const char *f = ci_caller_file(&line);
		st.base.source_file = f ? f : progname;
		if (f && line > 0 && !line_given)
			st.base.line_number = line;
		else if (!line_given)
			st.base.no_line = 1;
	} else if (!line_given) {
		st.base.no_line = 1;
	}
	out = ci_log_path(out);
	if (st.tee && strcmp(out, "-") == 0)
		ci_usage_error("--tee needs a log file (-o or CI_LOG_FILE): "
			       "standard output would mix entries and input");
	if (st.ack_fd == 1 && strcmp(out, "-") == 0)
		ci_usage_error(
		    "--ack-fd 1 needs a log file (-o or CI_LOG_FILE)");
	xlog_open(&st.log, out, quiet);

	if (argc > 0) {
		one_entry(&st, argc, argv, duration);
		return xfinish_stdout();
	}
	if (st.ack_fd >= 0 && ci_write_all(st.ack_fd, "ready\n", 6) < 0)
		ci_die(CI_EXIT_USAGE, "--ack-fd %d: %s", st.ack_fd,
		       strerror(errno));
	st.serving = st.ack_fd >= 0;
	st.log.hold = 1; /* annotations of many lines, the best first */
	st.sink.log = &st.log;
	st.sink.base = st.base;
	st.sink.base.quiet = st.tee; /* shown by --tee: not echoed again */
	if (stderr_level)
		st.sink.prefix = "stderr: "; /* as ci-step --capture says it */
	if (st.tee && ci_mask_values(&nmask)) {
		st.sink.pass_fd = 1; /* shown line by line, secrets masked */
		st.tee = 0;
	}
	if (records)
		read_stream(&st, record_line, &st);
	else
		read_stream(&st, ci_sink_line, &st.sink);
	xlog_close(&st.log);
	if (st.lost > st.said) /* the others were said call by call */
		ci_warn("%lu entr%s could not be written to %s",
			st.lost - st.said, st.lost - st.said == 1 ? "y" : "ies",
			st.log.is_file ? st.log.path : "standard output");
	if (st.lost > 0)
		return CI_EXIT_ENV;
	if (st.bad > 0) {
		ci_warn("%lu malformed record%s skipped", st.bad,
			st.bad == 1 ? "" : "s");
		return CI_EXIT_USAGE;
	}
	return st.tee_failed ? 1 : xfinish_stdout();
}

/* The message is the arguments joined by spaces. */
static void
one_entry(struct stream *st, int argc, char **argv, long long duration)
{
	struct ci_entry e = st->base;

	for (int i = 0; i < argc; i++) {
		if (i > 0)
			ci_buf_add(&st->msg, " ", 1);
		ci_buf_str(&st->msg, argv[i]);
	}
	e.message = st->msg.s;
	e.message_len = st->msg.len;
	e.duration_ms = duration;
	xlog_write(&st->log, &e);
}

/*
 * Read standard input to its end, a block at a time; every entry of a block
 * is written with one write() before the next read, so that entries reach
 * the file as soon as their line does. When input is a pipe, SIGINT, SIGTERM
 * and SIGHUP are ignored: the writer's end of the pipe ends us, after every
 * line it wrote is logged.
 */
static void
read_stream(struct stream *st, ci_line_fn fn, void *arg)
{
	static char block[64 * 1024];
	struct ci_lines lines = { 0 };
	struct stat sb;
	ssize_t n;

	st->lines = &lines;
	if (fn == record_line)
		lines.max = RECORD_MAX;
	if (fstat(0, &sb) == 0 && S_ISFIFO(sb.st_mode)) {
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
	}
	for (;;) {
		n = read(0, block, sizeof block);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ci_die(CI_EXIT_USAGE, "standard input: %s",
			       strerror(errno));
		if (n == 0)
			break;
		if (st->tee && ci_write_all(1, block, (size_t)n) < 0) {
			if (errno != EPIPE) {
				ci_warn(
				    "--tee: standard output: %s; still logging",
				    strerror(errno));
				st->tee_failed = 1;
			}
			st->tee = 0;
		}
		ci_lines_feed(&lines, block, (size_t)n, fn, arg);
		flush(st);
		/* When the reader of answers went away, keep logging. */
		if (st->acks.len > 0 &&
		    ci_write_all(st->ack_fd, st->acks.s, st->acks.len) < 0)
			st->ack_fd = -1;
		st->acks.len = 0;
	}
	ci_lines_finish(&lines, fn, arg);
	flush(st);
	ci_lines_free(&lines);
}

/*
 * Write what waits; -1 when that failed. Serving the shell library
 * (--ack-fd), a failed write (a full disk) does not end ci-log: the
 * library's pipe would close under the script and SIGPIPE kill it. The
 * failure is said (once, or for each acknowledged record, whose call
 * reports it), the entries are counted as lost, the exit status is 4 and,
 * unless an acknowledged record's answer told, the next sync answer is
 * "fail"; entries written once space is back start on a line of their own.
 */
static int
flush(struct stream *st)
{
	size_t n;

	if (!st->serving) {
		xlog_flush(&st->log);
		return 0;
	}
	n = st->log.out.len;
	if (ci_log_flush(&st->log) == 0 || (!st->log.is_file && errno == EPIPE))
		return 0;
	if (st->lost == 0 || st->acked)
		ci_warn("cannot write to %s: %s%s",
			st->log.is_file ? st->log.path : "standard output",
			strerror(errno),
			st->acked
			    ? ""
			    : "; entries are lost until it can be written");
	for (size_t i = 0; i < n; i++) {
		st->lost += st->log.out.s[i] == '\n';
		st->said += st->acked && st->log.out.s[i] == '\n';
	}
	st->failed |= !st->acked; /* an acknowledged one was answered */
	return -1;
}

/*
 * Answer an acknowledged record: on --ack-fd (to empty), else on the pipe
 * named (a subshell's own): "sync" when its entry is written, "fail" when
 * not. A name that is not a pipe, or a pipe nobody reads, gets no answer.
 */
static void
answer(struct stream *st, const char *to, size_t len, int ok)
{
	const char *a = ok ? "sync\n" : "fail\n";
	struct stat sb;
	char path[PATH_MAX];
	int fd;

	if (len == 0) {
		if (st->ack_fd >= 0)
			ci_buf_add(&st->acks, a, 5);
		return;
	}
	if (len >= sizeof path)
		return;
	memcpy(path, to, len);
	path[len] = '\0';
	if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &sb) == 0 && S_ISFIFO(sb.st_mode))
		(void)ci_write_all(fd, a, 5);
	close(fd);
}

static void
reject(struct stream *st, unsigned long lineno, const char *why)
{
	ci_warn("input line %lu: %s; record skipped", lineno, why);
	st->bad++;
	if (st->ack_to)
		answer(st, st->ack_to, st->ack_len, 0);
}

/* Undo the escapes of a record's message: \\ \t \n \r. */
static void
unescape(struct ci_buf *b, const char *s, size_t n)
{
	b->len = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\' && i + 1 < n && strchr("\\tnr", s[i + 1])) {
			c = s[++i];
			c = c == 't'   ? '\t'
			    : c == 'n' ? '\n'
			    : c == 'r' ? '\r'
				       : c;
		}
		ci_buf_add(b, &c, 1);
	}
}

/*
 * LEVEL TAB STEP TAB SOURCE TAB LINE TAB FUNCTION TAB MESSAGE. An empty
 * field takes the value of the matching option or its default; the message
 * is the rest of the line and may hold tabs.
 */
static void
record_line(void *arg, const char *line, size_t len, int continued)
{
	struct stream *st = arg;
	struct ci_entry e = st->base;
	unsigned long lineno = st->lines->lineno + (continued ? 1 : 0);
	char *f[5], *p, *end, *tab;
	const char *why;
	long long n;
	int nf;

	if (continued || st->skipping) {
		if (!st->skipping)
			reject(st, lineno, "record longer than 64 MiB");
		st->skipping = continued;
		return;
	}
	if (len == 0) {
		/* A sync request: answered once what came before is written. */
		if (st->ack_fd >= 0) {
			flush(st);
			ci_buf_add(&st->acks, st->failed ? "fail\n" : "sync\n",
				   5);
		}
		st->failed = 0;
		return;
	}
	st->rec.len = 0;
	ci_buf_add(&st->rec, line, len);
	p = st->rec.s;
	end = p + len;
	/* ?[PIPE] TAB before the fields: answer once the entry is written. */
	st->ack_to = NULL;
	if (*p == '?' && (tab = memchr(p, '\t', len))) {
		st->ack_to = p + 1;
		st->ack_len = (size_t)(tab - st->ack_to);
		p = tab + 1;
	}
	for (nf = 0; nf < 5; nf++) {
		if (!(tab = memchr(p, '\t', (size_t)(end - p))))
			break;
		*tab = '\0';
		f[nf] = p;
		p = tab + 1;
	}
	st->msg.len = 0;
	if (nf < 5) {
		ci_buf_printf(&st->msg,
			      "%d field%s, expected 6 separated by tabs "
			      "(level, step, source, line, function, message)",
			      nf + 1, nf ? "s" : "");
		reject(st, lineno, st->msg.s);
		return;
	}
	if (*f[0] && !ci_level_ok(f[0])) {
		ci_buf_printf(&st->msg,
			      "level \"%.32s\" is not info, warn or error",
			      f[0]);
		reject(st, lineno, st->msg.s);
		return;
	}
	if (*f[3]) {
		n = ci_strtonum(f[3], 1, 2147483647, &why);
		if (why) {
			ci_buf_printf(
			    &st->msg,
			    "line \"%.32s\" is not a line number (>= 1)", f[3]);
			reject(st, lineno, st->msg.s);
			return;
		}
		e.line_number = (long)n;
		e.no_line = 0;
	}
	if (*f[0])
		e.level = f[0];
	if (*f[1])
		e.step_name = f[1];
	if (*f[2])
		e.source_file = f[2];
	if (*f[4])
		e.function_name = f[4];
	unescape(&st->msg, p, (size_t)(end - p));
	e.message = st->msg.s ? st->msg.s : "";
	e.message_len = st->msg.len;
	ci_log_add_pieces(&st->log, &e);
	if (st->ack_to) {
		/* Written last of its write: a short one did not write it. */
		st->acked = 1;
		answer(st, st->ack_to, st->ack_len, flush(st) == 0);
		st->acked = 0;
	}
}

struct logfile {
	char *name;
	time_t mtime;
};

static int
newest_first(const void *a, const void *b)
{
	const struct logfile *x = a, *y = b;

	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? 1 : -1;
	return strcmp(y->name, x->name);
}

/*
 * Remove ci-*.log files of the log directory beyond the keep newest, and
 * those older than max_age days; never the current run's file ($CI_LOG_FILE)
 * and never anything but a regular file of that name.
 */
static int
prune(const char *dir, long long keep, long long max_age)
{
	const char *cur = getenv("CI_LOG_FILE"),
		   *env_dir = getenv("CI_LOG_DIR");
	struct stat cur_st, fst;
	struct logfile *files = NULL;
	struct ci_buf path = { 0 };
	struct dirent *d;
	size_t n = 0, cap = 0;
	int have_cur, status = 0, dfd;
	time_t now = time(NULL);
	char *cur_dir = NULL;
	DIR *dp;

	if (!dir && cur && *cur)
		dir = cur_dir = ci_dirname(cur);
	if (!dir)
		dir = env_dir && *env_dir ? env_dir : "logs";
	have_cur = cur && *cur && stat(cur, &cur_st) == 0;
	if (!(dp = opendir(dir))) {
		if (errno == ENOENT)
			return xfinish_stdout();
		ci_die(CI_EXIT_ENV, "cannot read log directory %s: %s", dir,
		       strerror(errno));
	}
	dfd = dirfd(dp);
	while ((d = readdir(dp))) {
		if (fnmatch("ci-*.log", d->d_name, FNM_PERIOD) != 0)
			continue;
		if (fstatat(dfd, d->d_name, &fst, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(fst.st_mode))
			continue;
		if (have_cur && fst.st_dev == cur_st.st_dev &&
		    fst.st_ino == cur_st.st_ino)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			files = xrealloc(files, cap * sizeof *files);
		}
		files[n].name = xstrdup(d->d_name);
		files[n++].mtime = fst.st_mtime;
	}
	if (n > 1)
		qsort(files, n, sizeof *files, newest_first);
	/* The current file, when there is one, is one of those kept. */
	if (have_cur && keep > 0)
		keep--;
	for (size_t i = 0; i < n; i++) {
		if ((long long)i < keep &&
		    now - files[i].mtime <= max_age * 86400)
			continue;
		path.len = 0;
		ci_buf_printf(&path, "%s/%s", dir, files[i].name);
		if (unlinkat(dfd, files[i].name, 0) < 0) {
			ci_warn("cannot remove %s: %s", path.s,
				strerror(errno));
			status = CI_EXIT_ENV;
		} else {
			printf("removed %s\n", path.s);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(files[i].name);
	free(files);
	free(cur_dir);
	ci_buf_free(&path);
	closedir(dp);
	xfinish_stdout();
	return status;
}
