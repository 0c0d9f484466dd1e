/* entry.c: build a log entry and append it with one write(). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void
field(struct ci_buf *b, const char *key, const char *val)
{
	ci_buf_add(b, ",\"", 2);
	ci_buf_str(b, key);
	ci_buf_add(b, "\":", 2);
	ci_buf_json_string(b, val, strlen(val));
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
	ci_buf_printf(b, ",\"line_number\":%ld", e->line_number);
	field(b, "function_name", e->function_name);
	field(b, "step_name", e->step_name);
	if (e->duration_ms >= 0)
		ci_buf_printf(b, ",\"duration_ms\":%lld", e->duration_ms);
	if (e->exit_code >= 0)
		ci_buf_printf(b, ",\"exit_code\":%d", e->exit_code);
	if (e->continued)
		ci_buf_str(b, ",\"continued\":true");
	if (e->extra && *e->extra) {
		ci_buf_add(b, ",", 1);
		ci_buf_str(b, e->extra);
	}
	ci_buf_add(b, "}\n", 2);
}

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
			if (arg[0] != '-' && arg[0] != '+' && arg[0])
				return arg;
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
 * Open the destination for appending, creating its directory. A directory
 * that cannot be created or written is an environment failure (exit 4); a
 * file that cannot be opened is a usage error (exit 2).
 */
void
xlog_open(struct ci_log *log, const char *path, int quiet)
{
	const char *gh = getenv("GITHUB_ACTIONS");
	struct stat st;
	char *dir;

	memset(log, 0, sizeof *log);
	log->path = path;
	if (strcmp(path, "-") == 0) {
		log->fd = 1;
	} else {
		dir = ci_dirname(path);
		if (ci_mkdirs(dir, 0777) < 0)
			ci_die(CI_EXIT_ENV,
			       "cannot create log directory %s: %s", dir,
			       strerror(errno));
		log->fd =
		    open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
		if (log->fd < 0) {
			int e = errno;
			if ((e == EACCES || e == EROFS) && stat(path, &st) < 0)
				ci_die(CI_EXIT_ENV,
				       "log directory %s is not writable: %s",
				       dir, strerror(e));
			ci_die(CI_EXIT_USAGE, "cannot open log file %s: %s",
			       path, strerror(e));
		}
		free(dir);
		log->is_file = 1;
	}
	log->echo = log->is_file && !quiet && isatty(2);
	log->color = log->echo && ci_color(2);
	log->github = gh && strcmp(gh, "true") == 0;
	log->annotate_fd = log->is_file ? 1 : 2;
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

	localtime_r(&now.tv_sec, &tm);
	b->len = 0;
	ci_buf_printf(b, "%02d:%02d:%02d %s%-5s%s %s: ", tm.tm_hour, tm.tm_min,
		      tm.tm_sec, log->color ? colors[lv] : "",
		      lv == 2  ? "ERROR"
			  : lv ? "WARN"
			       : "INFO",
		      log->color ? "\033[0m" : "", e->step_name);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)e->message[i];
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

	ci_buf_str(b, e->level[0] == 'e' ? "::error file=" : "::warning file=");
	gh_escape(b, e->source_file, strlen(e->source_file), 1);
	ci_buf_printf(b, ",line=%ld,title=", e->line_number);
	gh_escape(b, e->step_name, strlen(e->step_name), 1);
	ci_buf_str(b, "::");
	gh_escape(b, e->message, n, 0);
	ci_buf_add(b, "\n", 1);
}

/* Add the entry to what the next flush writes; flush when much is waiting. */
void
ci_log_queue(struct ci_log *log, const struct ci_entry *e)
{
	ci_entry_format(&log->out, e);
	if (log->echo)
		echo(log, e);
	if (log->github && e->level[0] != 'i') {
		log->side.len = 0;
		ci_annotation(&log->side, e);
		(void)ci_write_all(log->annotate_fd, log->side.s,
				   log->side.len);
	}
	if (log->out.len >= FLUSH_AT)
		xlog_flush(log);
}

/*
 * Write every waiting entry with one write() on the O_APPEND descriptor:
 * concurrent writers never tear or interleave an entry.
 */
int
ci_log_flush(struct ci_log *log)
{
	int r = 0;

	if (log->out.len > 0)
		r = ci_write_all(log->fd, log->out.s, log->out.len);
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
}
