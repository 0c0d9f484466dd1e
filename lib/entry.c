/* entry.c: build a log entry and append it with one write(). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ci.h"

/* Entries waiting past this size are written out at once. */
#define FLUSH_AT (64 * 1024)

int
ci_level_ok(const char *level)
{
	return strcmp(level, "info") == 0 || strcmp(level, "warn") == 0 ||
	    strcmp(level, "error") == 0;
}

/* The level an option gives, or a usage error naming the option. */
const char *
ci_level_arg(const char *opt, const char *level)
{
	if (!ci_level_ok(level))
		ci_usage_error("%s: \"%s\" is not a level (expected info, "
			       "warn or error)",
			       opt, level);
	return level;
}

void
ci_entry_init(struct ci_entry *e, const char *run_id, const char *step)
{
	memset(e, 0, sizeof *e);
	e->level = "info";
	e->message = "";
	e->message_len = SIZE_MAX;
	e->run_id = run_id;
	e->source_file = progname;
	e->line_number = 1;
	e->function_name = "main";
	e->step_name = step && *step ? step : "main";
	e->duration_ms = -1;
	e->exit_code = -1;
}

static void hold_annotation(struct ci_log *log, const struct ci_entry *e);
static int over_cap(struct ci_log *log, const struct ci_entry *e);
static void show_annotations(struct ci_log *log);

static void
field(struct ci_buf *b, const char *key, const char *val)
{
	ci_buf_add(b, ",\"", 2);
	ci_buf_str(b, key);
	ci_buf_add(b, "\":", 2);
	ci_buf_json_string(b, val, strlen(val));
}

/* ,"key":N: what printf's %lld writes, without printf's cost. */
static void
number(struct ci_buf *b, const char *key, long long v)
{
	char d[24], *p = d + sizeof d;
	unsigned long long u =
	    v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	ci_buf_add(b, ",\"", 2);
	ci_buf_str(b, key);
	ci_buf_add(b, "\":", 2);
	ci_buf_add(b, p, (size_t)(d + sizeof d - p));
}

/*
 * What follows the message: the fields that a stream of entries (filter
 * mode, captured output) shares, computed once for all of them.
 */
void
ci_entry_tail(struct ci_buf *b, const struct ci_entry *e)
{
	field(b, "run_id", e->run_id);
	field(b, "source_file", e->source_file);
	number(b, "line_number", e->line_number);
	field(b, "function_name", e->function_name);
	field(b, "step_name", e->step_name);
	if (e->duration_ms >= 0)
		number(b, "duration_ms", e->duration_ms);
	if (e->exit_code >= 0)
		number(b, "exit_code", e->exit_code);
	if (e->continued)
		ci_buf_str(b, ",\"continued\":true");
	if (e->extra && *e->extra) {
		ci_buf_add(b, ",", 1);
		ci_buf_str(b, e->extra);
	}
	ci_buf_add(b, "}\n", 2);
}

/* What a message is written as when it holds a secret of CI_MASK. */
static struct ci_buf masked;

/* Append the entry as one line of compact JSON, newline included. */
void
ci_entry_format(struct ci_buf *b, const struct ci_entry *e)
{
	char ts[32];
	size_t mlen =
	    e->message_len == SIZE_MAX ? strlen(e->message) : e->message_len;

	ci_iso8601(ts, e->when.tv_sec || e->when.tv_nsec ? e->when : ci_now(),
		   1);
	ci_buf_str(b, "{\"timestamp\":\"");
	ci_buf_str(b, ts);
	ci_buf_str(b, "\",\"level\":\"");
	ci_buf_str(b, e->level);
	ci_buf_str(b, "\",\"message\":");
	if (ci_mask(&masked, e->message, mlen))
		ci_buf_json_string(b, masked.s, masked.len);
	else
		ci_buf_json_string(b, e->message, mlen);
	if (e->tail)
		ci_buf_str(b, e->tail);
	else
		ci_entry_tail(b, e);
}

/*
 * The default source_file: the script that ran us, as its shell was given
 * it ("bash ./build.sh" gives ./build.sh), else the caller's program name.
 */
static int caller_is_script;

static const char *
find_caller(void)
{
	static char cmd[4096];
	static const char *const shells[] = { "sh",  "bash", "dash",   "zsh",
					      "ksh", "mksh", "busybox" };
	char path[64];
	const char *arg, *prog, *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)getppid());
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return "unknown";
	n = read(fd, cmd, sizeof cmd - 1);
	close(fd);
	if (n <= 0 || cmd[0] == '\0')
		return "unknown";
	cmd[n] = '\0';
	end = cmd + n;
	prog = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
	for (size_t i = 0; i < sizeof shells / sizeof *shells; i++) {
		if (strcmp(prog, shells[i]) != 0)
			continue;
		for (arg = cmd + strlen(cmd) + 1; arg < end;
		     arg += strlen(arg) + 1) {
			if (strcmp(arg, "-c") == 0)
				break;
			if (arg[0] != '-' && arg[0] != '+' && arg[0]) {
				caller_is_script = 1;
				return arg;
			}
		}
		break;
	}
	return prog;
}

const char *
ci_caller_name(void)
{
	static const char *name;

	if (!name)
		name = find_caller();
	return name;
}

/*
 * The file and line an entry written for the caller comes from, or NULL.
 * The shell library's wrappers say: CI_CALLER_FILE and CI_CALLER_LINE
 * (read once, then taken out of the environment, so that the commands a
 * tool runs do not inherit them). Else the script that ran us, at a line
 * nobody knows: *line is 0.
 * Named from the repository's root; with a root, a file outside it (a
 * runner's temporary script, /dev/fd/N) or a caller that is no script is
 * no honest place: NULL.
 */
const char *
ci_caller_file(long *line)
{
	static struct ci_buf file;
	static long at;
	static int done, none;
	const char *f, *l, *why;
	long long n;

	if (!done) {
		done = 1;
		f = getenv("CI_CALLER_FILE");
		l = getenv("CI_CALLER_LINE");
		if (f && *f && l &&
		    (n = ci_strtonum(l, 1, LONG_MAX, &why)) > 0) {
			ci_repo_path(&file, f, strlen(f));
			at = (long)n;
		} else {
			f = ci_caller_name();
			ci_repo_path(&file, f, strlen(f));
			none = !caller_is_script;
		}
		unsetenv("CI_CALLER_FILE");
		unsetenv("CI_CALLER_LINE");
		none = ci_repo_root() &&
		    (none || file.s[0] == '/' || !strncmp(file.s, "../", 3));
	}
	*line = at;
	return none ? NULL : file.s;
}

/* The calling script and line, and the tool as the function. */
void
ci_from_caller(struct ci_entry *e)
{
	long line;
	const char *f = ci_caller_file(&line);

	e->source_file = f ? f : progname;
	e->line_number = f && line > 0 ? line : 1;
	e->no_line = !f || line <= 0;
	e->function_name = progname;
}

/*
 * Whether the entry's source_file is a file an annotation can point at:
 * not the name of the tool that wrote it for want of one.
 */
int
ci_names_file(const struct ci_entry *e)
{
	return strcmp(e->source_file, progname) != 0;
}

/* The destination: -o, else $CI_LOG_FILE, else "-" for stdout. */
const char *
ci_log_path(const char *opt)
{
	const char *env = getenv("CI_LOG_FILE");

	if (opt && *opt)
		return opt;
	return env && *env ? env : "-";
}

/*
 * Read and write when allowed: ci_append reads the file's last byte. A file
 * we may only write to is still appended to.
 */
static int
open_rw(const char *path, int flags)
{
	int fd = open(path, O_RDWR | flags, 0666);

	if (fd < 0 && errno == EACCES)
		fd = open(path, O_WRONLY | flags, 0666);
	return fd;
}

/*
 * Open the destination for appending, creating its directory when it is
 * missing. Returns 0, or the exit code with why saying what went wrong: a
 * directory that cannot be created or written is an environment failure
 * (CI_EXIT_ENV); a file that cannot be opened is a usage error.
 */
int
ci_log_open(struct ci_log *log, const char *path, int quiet, struct ci_buf *why)
{
	int flags = O_CREAT | O_APPEND | O_CLOEXEC, e, code = 0;
	struct stat st;
	char *dir;

	memset(log, 0, sizeof *log);
	log->path = path;
	if (strcmp(path, "-") == 0) {
		log->fd = 1;
	} else if ((log->fd = open_rw(path, flags)) < 0) {
		dir = ci_dirname(path);
		if (ci_mkdirs(dir, 0777) < 0) {
			ci_buf_printf(why, "cannot create log directory %s: %s",
				      dir, strerror(errno));
			code = CI_EXIT_ENV;
		} else if ((log->fd = open_rw(path, flags)) < 0) {
			e = errno;
			if ((e == EACCES || e == EROFS) &&
			    stat(path, &st) < 0) {
				ci_buf_printf(why,
					      "log directory %s is not "
					      "writable: %s",
					      dir, strerror(e));
				code = CI_EXIT_ENV;
			} else {
				ci_buf_printf(why,
					      "cannot open log file %s: %s",
					      path, strerror(e));
				code = CI_EXIT_USAGE;
			}
		}
		free(dir);
		if (code)
			return code;
	}
	log->is_file = log->fd != 1;
	ci_log_flags(log, quiet);
	return 0;
}

/* Echo, colour and workflow commands, from the environment and stderr. */
void
ci_log_flags(struct ci_log *log, int quiet)
{
	const char *gh = getenv("GITHUB_ACTIONS");

	log->echo = log->is_file && !quiet && isatty(2);
	log->color = log->echo && ci_color(2);
	log->github = gh && strcmp(gh, "true") == 0;
	/* Never on stdout, where $(...) would take a command for output. */
	log->annotate_fd = 2;
}

void
xlog_open(struct ci_log *log, const char *path, int quiet)
{
	struct ci_buf why = { 0 };
	int code = ci_log_open(log, path, quiet, &why);

	if (code)
		ci_die(code, "%s", why.s);
}

/* A short readable line for a person watching: time, level, step, message. */
static void
echo(struct ci_log *log, const struct ci_entry *e)
{
	static const char *const colors[] = { "\033[36m", "\033[33m",
					      "\033[31m" };
	int lv = e->level[0] == 'e' ? 2 : e->level[0] == 'w';
	struct ci_buf *b = &log->side;
	struct timespec now = e->when.tv_sec ? e->when : ci_now();
	struct tm tm;
	size_t n =
	    e->message_len == SIZE_MAX ? strlen(e->message) : e->message_len;
	const char *m = e->message;

	if (ci_mask(&masked, m, n)) {
		m = masked.s;
		n = masked.len;
	}
	localtime_r(&now.tv_sec, &tm);
	b->len = 0;
	ci_buf_printf(b, "%02d:%02d:%02d %s%-5s%s %s: ", tm.tm_hour, tm.tm_min,
		      tm.tm_sec, log->color ? colors[lv] : "",
		      lv == 2  ? "ERROR"
			  : lv ? "WARN"
			       : "INFO",
		      log->color ? "\033[0m" : "", e->step_name);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)m[i];
		ci_buf_add(b, c < 0x20 || c == 0x7f ? " " : (const char *)&c,
			   1);
	}
	ci_buf_add(b, "\n", 1);
	(void)ci_write_all(2, b->s, b->len);
}

/* GitHub's escaping: % CR LF in messages; also : and , in properties. */
static void
gh_escape(struct ci_buf *b, const char *s, size_t n, int property)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '%':
			ci_buf_str(b, "%25");
			break;
		case '\r':
			ci_buf_str(b, "%0D");
			break;
		case '\n':
			ci_buf_str(b, "%0A");
			break;
		case ':':
			ci_buf_str(b, property ? "%3A" : ":");
			break;
		case ',':
			ci_buf_str(b, property ? "%2C" : ",");
			break;
		case '\0':
			ci_buf_str(b, " ");
			break;
		default:
			ci_buf_add(b, s + i, 1);
		}
	}
}

/* `::error file=F,line=N,title=STEP::message`, newline included. */
void
ci_annotation(struct ci_buf *b, const struct ci_entry *e)
{
	size_t n =
	    e->message_len == SIZE_MAX ? strlen(e->message) : e->message_len;

	ci_buf_str(b, e->level[0] == 'e' ? "::error " : "::warning ");
	if (ci_names_file(e)) {
		ci_buf_str(b, "file=");
		gh_escape(b, e->source_file, strlen(e->source_file), 1);
		if (e->no_line)
			ci_buf_str(b, ",");
		else
			ci_buf_printf(b, ",line=%ld,", e->line_number);
	}
	ci_buf_str(b, "title=");
	gh_escape(b, e->step_name, strlen(e->step_name), 1);
	ci_buf_str(b, "::");
	if (ci_mask(&masked, e->message, n))
		gh_escape(b, masked.s, masked.len, 0);
	else
		gh_escape(b, e->message, n, 0);
	ci_buf_add(b, "\n", 1);
}

/* Add the entry to what the next flush writes: format, echo, annotate. */
void
ci_log_add(struct ci_log *log, const struct ci_entry *e)
{
	ci_entry_format(&log->out, e);
	if (log->echo && !e->quiet)
		echo(log, e);
	if (log->github && e->level[0] != 'i' && log->hold)
		hold_annotation(log, e);
	else if (log->github && e->level[0] != 'i' && !over_cap(log, e)) {
		log->side.len = 0;
		ci_annotation(&log->side, e);
		(void)ci_write_all(log->annotate_fd, log->side.s,
				   log->side.len);
	}
}

/*
 * ci_log_add of an entry whose message may be longer than CI_LINE_MAX: cut
 * as ci_lines cuts a long line, into pieces of at most CI_LINE_MAX bytes
 * between UTF-8 characters, each but the last marked continued.
 */
void
ci_log_add_pieces(struct ci_log *log, const struct ci_entry *e)
{
	struct ci_entry p = *e;
	const char *m = e->message;
	size_t n = e->message_len == SIZE_MAX ? strlen(m) : e->message_len;
	size_t take;

	while (n > CI_LINE_MAX) {
		if (!(take = ci_utf8_boundary(m, CI_LINE_MAX)))
			take = CI_LINE_MAX;
		p.message = m;
		p.message_len = take;
		p.continued = 1;
		ci_log_add(log, &p);
		m += take;
		n -= take;
	}
	p.message = m;
	p.message_len = n;
	p.continued = e->continued;
	ci_log_add(log, &p);
}

/* ci_log_add, and a flush when much is waiting. */
void
ci_log_queue(struct ci_log *log, const struct ci_entry *e)
{
	ci_log_add(log, e);
	if (log->out.len >= FLUSH_AT)
		xlog_flush(log);
}

/* Whether the file ends without its last newline. */
static int
torn(int fd)
{
	struct timespec ms = { 0, 1000000 };
	struct stat st;
	off_t size = -1;
	char last;

	/*
	 * A concurrent write in progress shows a file growing towards its
	 * newline: only a size that stays put for 10 ms without one is torn.
	 * Writers of these tools never show it (ci_append's lock), others may.
	 */
	for (int still = 0, tries = 0; tries < 1000; tries++) {
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_size == 0 ||
		    pread(fd, &last, 1, st.st_size - 1) != 1 || last == '\n')
			return 0;
		still = st.st_size == size ? still + 1 : 0;
		if (still == 10)
			return 1;
		size = st.st_size;
		nanosleep(&ms, NULL);
	}
	return 0;
}

/*
 * GitHub shows CI_ANNOTATIONS errors and as many warnings per step and
 * drops the rest unseen: hold them, CI_ANNOTATIONS of each level located
 * and as many not, so that xlog_close can show the most useful ones.
 */
static void
hold_annotation(struct ci_log *log, const struct ci_entry *e)
{
	int lv = e->level[0] == 'e', loc = e->located != 0;

	if (log->nheld[lv][loc] >= CI_ANNOTATIONS) {
		log->omitted[lv]++;
		return;
	}
	log->nheld[lv][loc]++;
	ci_annotation(&log->held[lv][loc], e);
	if (!log->notice_step.len) {
		ci_buf_str(&log->notice_step, e->step_name);
		ci_buf_str(&log->notice_run, e->run_id);
	}
}

/* Lines [0, n) of annotations b, to fd. */
static void
put_lines(int fd, const struct ci_buf *b, int n)
{
	const char *p = b->s, *end;

	if (!p) /* nothing held, and no pointer to count from */
		return;
	end = p + b->len;
	for (int i = 0; i < n && p < end; i++)
		p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	(void)ci_write_all(fd, b->s, (size_t)(p - b->s));
}

/* The held annotations, located first, and a notice of what is left out. */
static void
show_annotations(struct ci_log *log)
{
	unsigned long left[2];
	struct ci_buf *b = &log->side;

	for (int lv = 1; lv >= 0; lv--) {
		int loc = log->nheld[lv][1];
		int rest = CI_ANNOTATIONS - loc;

		if (rest > log->nheld[lv][0])
			rest = log->nheld[lv][0];
		put_lines(log->annotate_fd, &log->held[lv][1], loc);
		put_lines(log->annotate_fd, &log->held[lv][0], rest);
		left[lv] = log->omitted[lv] +
		    (unsigned long)(log->nheld[lv][0] - rest);
		ci_buf_free(&log->held[lv][0]);
		ci_buf_free(&log->held[lv][1]);
	}
	if (left[0] || left[1]) {
		b->len = 0;
		ci_annotation_notice(b, log->notice_step.s, log->notice_run.s,
				     log->path, left);
		(void)ci_write_all(log->annotate_fd, b->s, b->len);
	}
	ci_buf_free(&log->notice_step);
	ci_buf_free(&log->notice_run);
}

/*
 * The notice of the annotations left out, left[error?] of them: where
 * every one can be read. Newline included.
 */
void
ci_annotation_notice(struct ci_buf *b, const char *step, const char *run,
		     const char *path, const unsigned long left[2])
{
	ci_buf_str(b, "::notice title=");
	gh_escape(b, step, strlen(step), 1);
	ci_buf_str(b, "::");
	if (left[1])
		ci_buf_printf(b, "%lu more error%s", left[1],
			      left[1] == 1 ? "" : "s");
	if (left[0])
		ci_buf_printf(b, "%s%lu more warning%s", left[1] ? " and " : "",
			      left[0], left[0] == 1 ? "" : "s");
	ci_buf_printf(b, " of this step %s not shown here; ",
		      left[0] + left[1] == 1 ? "is" : "are");
	ci_buf_str(b, "every one is in the log: ci-report --run ");
	gh_escape(b, run, strlen(run), 0);
	if (path) {
		ci_buf_str(b, " ");
		gh_escape(b, path, strlen(path), 0);
	}
	ci_buf_add(b, "\n", 1);
}

/*
 * With a cap, whether the entry's annotation is one too many: counted, not
 * written. The counts may be shared by several processes (a script's
 * subshells): each takes its turn atomically.
 */
static int
over_cap(struct ci_log *log, const struct ci_entry *e)
{
	int lv = e->level[0] == 'e';

	if (!log->cap)
		return 0;
	if (__atomic_fetch_add(&log->cap->shown[lv], 1, __ATOMIC_RELAXED) <
	    CI_ANNOTATIONS)
		return 0;
	__atomic_fetch_add(&log->cap->omitted[lv], 1, __ATOMIC_RELAXED);
	return 1;
}

/*
 * Append whole entries to a file with one write() on its O_APPEND
 * descriptor, so that concurrent writers never tear or interleave an entry.
 * When an earlier write failed half-way (a full disk) and left the file
 * without its last newline, these entries begin with one: the torn entry,
 * which was reported, is the only one lost.
 */
static int
append(int fd, const char *s, size_t len)
{
	struct iovec iov[2] = { { "\n", 1 }, { (void *)s, len } };
	ssize_t n;

	if (torn(fd)) {
		while ((n = writev(fd, iov, 2)) < 0 && errno == EINTR)
			;
		if (n < 0)
			return -1;
		if ((size_t)n > len)
			return 0;
		n = n > 0 ? n - 1 : 0;
		return ci_write_all(fd, s + n, len - (size_t)n);
	}
	return ci_write_all(fd, s, len);
}

/*
 * The writers of these tools take turns on a file (flock), so that none
 * looks at its end while another's write is under way: a writer stopped in
 * the middle of a long write (a busy machine) would look torn.
 */
int
ci_append(int fd, const char *s, size_t len)
{
	struct stat st;
	int locked, r, e;

	if (len == 0)
		return 0;
	locked = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    flock(fd, LOCK_EX) == 0;
	r = append(fd, s, len);
	if (locked) {
		e = errno;
		flock(fd, LOCK_UN);
		errno = e;
	}
	return r;
}

/* Write every waiting entry with one write(). */
int
ci_log_flush(struct ci_log *log)
{
	int r = 0;

	if (log->out.len > 0)
		r = log->is_file && !log->ends_whole
		    ? ci_append(log->fd, log->out.s, log->out.len)
		    : ci_write_all(log->fd, log->out.s, log->out.len);
	log->out.len = 0;
	return r;
}

void
xlog_flush(struct ci_log *log)
{
	if (ci_log_flush(log) == 0)
		return;
	if (!log->is_file && errno == EPIPE)
		exit(CI_EXIT_OK);
	ci_die(CI_EXIT_ENV, "cannot write to %s: %s",
	       log->is_file ? log->path : "standard output", strerror(errno));
}

void
xlog_write(struct ci_log *log, const struct ci_entry *e)
{
	ci_log_queue(log, e);
	xlog_flush(log);
}

/* Write what waits, close the file and free the buffers. */
void
xlog_close(struct ci_log *log)
{
	xlog_flush(log);
	if (log->github && log->hold)
		show_annotations(log);
	if (log->is_file)
		close(log->fd);
	log->fd = -1;
	ci_buf_free(&log->out);
	ci_buf_free(&log->side);
}

/*
 * A line to log (a ci_line_fn): one entry, as the sink's base but for its
 * message. Every entry of a sink ends the same: that is formatted once.
 */
void
ci_sink_line(void *arg, const char *line, size_t len, int continued)
{
	struct ci_line_sink *k = arg;
	struct ci_entry e = k->base;
	struct ci_diag d;
	size_t at;

	if (k->pass_fd > 0) {
		if (ci_mask(&masked, line, len))
			(void)ci_write_all(k->pass_fd, masked.s, masked.len);
		else
			(void)ci_write_all(k->pass_fd, line, len);
		if (!continued)
			(void)ci_write_all(k->pass_fd, "\n", 1);
	}

	if (!continued && ci_diag_parse(line, len, &d)) {
		/* Its own level and place: a path, then the message after it.
		 */
		k->scratch.len = 0;
		ci_repo_path(&k->scratch, d.file, d.file_len);
		at = k->scratch.len + 1;
		ci_buf_add(&k->scratch, "", 1);
		ci_buf_add(&k->scratch, d.message, d.message_len);
		e.level = d.level;
		e.source_file = k->scratch.s;
		e.line_number = d.line;
		e.no_line = 0;
		e.located = 1;
		e.message = k->scratch.s + at;
		e.message_len = d.message_len;
		ci_log_queue(k->log, &e);
		return;
	}
	if (k->prefix) {
		k->scratch.len = 0;
		ci_buf_str(&k->scratch, k->prefix);
		ci_buf_add(&k->scratch, line, len);
		line = k->scratch.s;
		len = k->scratch.len;
	}
	if (!k->tails[continued].s) {
		e.continued = continued;
		ci_entry_tail(&k->tails[continued], &e);
	}
	e.message = line;
	e.message_len = len;
	e.tail = k->tails[continued].s;
	ci_log_queue(k->log, &e);
}

void
ci_sink_free(struct ci_line_sink *k)
{
	ci_buf_free(&k->tails[0]);
	ci_buf_free(&k->tails[1]);
	ci_buf_free(&k->scratch);
}
