/*
 * ci_sh.so: the logging of scripts/lib/ci.sh as bash loadable builtins.
 * log_info, log_warn and log_error MESSAGE ..., and ci_log LEVEL MESSAGE ...,
 * write one entry exactly as ci-log(1) does, through lib/'s entry builder:
 * the caller's file, line and function come from bash's own variables, the
 * step from $CI_STEP as the library has always read it, the run and the
 * destination from the environment (CI_RUN_ID, CI_LOG_FILE), and the
 * entry is appended with one write(2) on an O_APPEND descriptor.
 * ci.sh loads it with enable -f; it refuses to load into another bash
 * release than the one whose headers built it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ci.h"

/* bash's headers, in the order they need each other (loadables.h). */
/* clang-format off */
#include <config.h>
#include "builtins.h"
#include "shell.h"
#include "common.h"
#include "execute_cmd.h"
#include "variables.h"
#include "version.h"
/* clang-format on */

#ifndef CI_BASH_VERSION
#define CI_BASH_VERSION DISTVERSION
#endif

#define EXPORT __attribute__((visibility("default")))

/*
 * The log file is kept open between calls on a descriptor below 10,
 * close-on-exec, so that the commands the script runs do not inherit it.
 * Not 10 or above: bash takes a close-on-exec descriptor there for one it
 * saved for itself, and undoes a script's `exec N>file` on its number.
 * Below 10 a script's redirection onto the number simply replaces ours.
 */
#define KEPT_FD_MIN 3
#define KEPT_FD_MAX 9

static const char *env(const char *name);
static const char *shell_var(const char *name);
static const char *relative(const char *p);
static int destination(struct ci_log *log, const char *path,
		       struct ci_buf *why);
static int write_entries(struct ci_log *log, const struct ci_entry *e);
static void annotations_of(struct ci_log *log, const struct ci_entry *e);

/*
 * One call: the message is the words joined by spaces. A message longer
 * than CI_LINE_MAX is cut into pieces between UTF-8 characters, every piece
 * but the last marked continued, exactly as ci-log's filter mode cuts a long
 * line; the pieces go out with the same one write(). Returns 0, 2 for a
 * missing or malformed CI_RUN_ID or a log file that cannot be opened, 4 when
 * the log directory cannot be made or the entry not written (said once on
 * standard error, as ci-log says it).
 */
static int
log_entry(const char *level, WORD_LIST *list)
{
	static struct ci_buf msg, why, good_id;
	static struct ci_log log;
	struct ci_entry e;
	const char *id = env("CI_RUN_ID"), *path, *bad, *fn, *src;
	int code, line;

	progname = "ci-log";
	msg.len = 0;
	ci_buf_add(&msg, "", 0);
	for (WORD_LIST *w = list; w; w = w->next) {
		if (w != list)
			ci_buf_add(&msg, " ", 1);
		ci_buf_str(&msg, w->word->word);
	}
	if (!good_id.s || strcmp(id, good_id.s) != 0) {
		if (!*id) {
			ci_warn("CI_RUN_ID is not set (mint one with: "
				"export $(ci-runid --env))");
			return CI_EXIT_USAGE;
		}
		if ((bad = ci_runid_check(id))) {
			ci_warn("CI_RUN_ID: \"%.64s\" %s", id, bad);
			return CI_EXIT_USAGE;
		}
		good_id.len = 0;
		ci_buf_str(&good_id, id);
	}
	ci_entry_init(&e, id, shell_var("CI_STEP"));
	e.level = level;
	fn = shell_var("FUNCNAME");
	e.function_name = *fn && strcmp(fn, "source") != 0 ? fn : "main";
	src = shell_var("BASH_SOURCE");
	e.source_file = relative(*src ? src : dollar_vars[0]);
	line = executing_line_number();
	e.line_number = line > 0 ? line : 1;

	path = env("CI_LOG_FILE");
	if (!*path)
		path = "-";
	why.len = 0;
	if ((code = destination(&log, path, &why))) {
		ci_warn("%s", why.s);
		return code;
	}
	ci_log_flags(&log, *env("CI_LOG_QUIET") != '\0');
	if (log.github)
		annotations_of(&log, &e);
	log.out.len = 0;
	e.message = msg.s;
	e.message_len = msg.len;
	return write_entries(&log, &e);
}

/*
 * The log file, kept open between calls on a descriptor of its own. Before
 * each call it is checked to be still ours and still the file CI_LOG_FILE
 * names: a script can take a descriptor's number for its own (`exec
 * 5>file`, `cmd 5>file`), which leaves it without close-on-exec: then
 * it is the script's, forgotten and never closed. A file renamed or
 * removed under the same name, or another CI_LOG_FILE, is opened afresh.
 * Only regular files are kept: a terminal or a pipe named by /dev/stderr is
 * opened for each call, as the script's descriptors are then.
 */
static struct {
	struct ci_buf path;
	int fd; /* -1: none */
	dev_t dev;
	ino_t ino;
	off_t end; /* the file's size after our last whole write, or -1 */
	off_t size; /* its size before this call's write */
} kept = { .fd = -1 };

static int regular; /* the destination is a regular file */

/*
 * Whether the kept descriptor is still ours: a script's redirection onto
 * its number (dup2) leaves it without close-on-exec.
 */
static int
still_ours(void)
{
	int fl = fcntl(kept.fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static int
destination(struct ci_log *log, const char *path, struct ci_buf *why)
{
	struct ci_log opened;
	struct stat st;
	int code, fd;

	log->path = path;
	log->fd = 1;
	log->is_file = regular = log->ends_whole = 0;
	if (strcmp(path, "-") == 0)
		return 0;
	if (kept.fd >= 0 && !still_ours())
		kept.fd = -1;
	if (kept.fd >= 0 && strcmp(kept.path.s, path) == 0 &&
	    stat(path, &st) == 0 && st.st_dev == kept.dev &&
	    st.st_ino == kept.ino) {
		log->fd = kept.fd;
		log->is_file = regular = 1;
		/* Nothing written since our last entry: it ends whole. */
		log->ends_whole = st.st_size == kept.end;
		kept.size = st.st_size;
		return 0;
	}
	if (kept.fd >= 0) {
		close(kept.fd);
		kept.fd = -1;
	}
	if ((code = ci_log_open(&opened, path, 1, why)))
		return code;
	log->fd = opened.fd;
	log->is_file = 1;
	if (fstat(log->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	regular = 1;
	if (log->fd < KEPT_FD_MIN || log->fd > KEPT_FD_MAX ||
	    fcntl(log->fd, F_GETFD) != FD_CLOEXEC) {
		if ((fd = fcntl(log->fd, F_DUPFD_CLOEXEC, KEPT_FD_MIN)) < 0)
			return 0;
		if (fd > KEPT_FD_MAX) {
			close(fd);
			return 0;
		}
		close(log->fd);
	} else
		fd = log->fd;
	log->fd = kept.fd = fd;
	kept.path.len = 0;
	ci_buf_str(&kept.path, path);
	kept.dev = st.st_dev;
	kept.ino = st.st_ino;
	kept.end = -1;
	kept.size = st.st_size;
	return 0;
}

/*
 * The entries (the message's pieces) with their one write(), and the echo
 * and workflow commands before it, with SIGPIPE held off: a closed pipe is
 * an error to report (or, on standard output, the reader's choice to stop
 * reading, as for ci-log), never a signal that kills the script.
 */
static int
write_entries(struct ci_log *log, const struct ci_entry *ent)
{
	sigset_t pipe, old, pending;
	struct timespec zero = { 0, 0 };
	size_t len;
	int r, e;

	/* A regular file raises no SIGPIPE: no need to hold it off. */
	if (regular && !log->github) {
		ci_log_add_pieces(log, ent);
		len = log->out.len;
		r = ci_log_flush(log);
		e = errno;
	} else {
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		sigprocmask(SIG_BLOCK, &pipe, &old);
		ci_log_add_pieces(log, ent);
		len = log->out.len;
		r = ci_log_flush(log);
		e = errno;
		if (!sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 &&
		    sigismember(&pending, SIGPIPE))
			sigtimedwait(&pipe, NULL, &zero);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	/*
	 * Where our entry began the file ended whole, and it ends with our
	 * newline while its size is what it was plus ours: no writer came
	 * between (a file only grows by appends). Else it is checked again.
	 */
	if (log->is_file && log->fd == kept.fd)
		kept.end = r == 0 ? kept.size + (off_t)len : -1;
	else if (log->is_file)
		close(log->fd);
	if (r == 0 || (!log->is_file && e == EPIPE))
		return 0;
	ci_warn("cannot write to %s: %s",
		log->is_file ? log->path : "standard output", strerror(e));
	return CI_EXIT_ENV;
}
/*
 * Under GITHUB_ACTIONS, annotations are capped as ci-log caps those of a
 * stream: the first CI_ANNOTATIONS of each level are written with their
 * entries, the rest only counted, and one notice says how many were left
 * out when the shell that loaded the builtins exits (or the run or the log
 * file changes). The counts live in memory shared with every subshell,
 * pipeline and background job of that shell, so that they count as one.
 */
struct shared {
	struct ci_annotation_cap cap;
	char run[CI_RUNID_LEN + 1];
	char step[256];
	char path[4096];
	int named; /* run and path are set */
};
static struct shared *shared;
static pid_t owner;

static void
notice(void)
{
	struct ci_buf b = { 0 };
	unsigned long left[2];

	if (!shared || !shared->named)
		return;
	left[0] = shared->cap.omitted[0];
	left[1] = shared->cap.omitted[1];
	memset(&shared->cap, 0, sizeof shared->cap);
	shared->named = 0;
	if (!left[0] && !left[1])
		return;
	ci_annotation_notice(&b, shared->step, shared->run, shared->path, left);
	(void)ci_write_all(2, b.s, b.len);
	ci_buf_free(&b);
}

/* At exit (and when the object is unloaded), in the shell that loaded it. */
static void
notice_at_exit(void)
{
	if (getpid() == owner)
		notice();
}

static void
annotations_of(struct ci_log *log, const struct ci_entry *e)
{
	if (!shared || e->level[0] == 'i')
		return;
	if (shared->named &&
	    (strcmp(shared->run, e->run_id) != 0 ||
	     strcmp(shared->path, log->path) != 0))
		notice();
	if (!shared->named) {
		snprintf(shared->run, sizeof shared->run, "%s", e->run_id);
		snprintf(shared->step, sizeof shared->step, "%s", e->step_name);
		snprintf(shared->path, sizeof shared->path, "%s", log->path);
		shared->named = 1;
	}
	log->cap = &shared->cap;
}

/*
 * An environment variable, as ci-log would see it: bash's getenv() gives
 * the exported shell variables, assignments before the call included.
 */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

/* A shell variable's value (an array's element 0), "" when unset. */
static const char *
shell_var(const char *name)
{
	const char *v = get_string_value(name);

	return v ? v : "";
}

/*
 * The path relative to the repository root, as ci.sh computes it: a
 * relative path is taken from the directory the library was sourced in
 * ($ci__pwd0), "/./" is dropped, and the root ($ci__root) is cut off. The
 * last answer is kept: a script logs from few files.
 */
static const char *
relative(const char *p)
{
	static struct ci_buf b, was[3];
	static size_t skip;
	const char *root = shell_var("ci__root");
	const char *pwd0 = get_string_value("ci__pwd0");
	const char *now[3];
	size_t rl = strlen(root);
	char *q;
	int same = 1;

	if (!p || !*p)
		p = "unknown";
	now[0] = p;
	now[1] = root;
	now[2] = pwd0 ? pwd0 : shell_var("PWD");
	for (int i = 0; i < 3; i++)
		same = same && was[i].s && strcmp(was[i].s, now[i]) == 0;
	if (same)
		return b.s + skip;
	for (int i = 0; i < 3; i++) {
		was[i].len = 0;
		ci_buf_str(&was[i], now[i]);
	}
	b.len = 0;
	if (*p != '/') {
		ci_buf_str(&b, now[2]);
		ci_buf_add(&b, "/", 1);
	}
	ci_buf_str(&b, p);
	while ((q = strstr(b.s, "/./"))) {
		memmove(q + 1, q + 3, strlen(q + 3) + 1);
		b.len -= 2;
	}
	skip = rl && strncmp(b.s, root, rl) == 0 && b.s[rl] == '/' ? rl + 1 : 0;
	return b.s + skip;
}

static int
log_info_builtin(WORD_LIST *list)
{
	return log_entry("info", list);
}

static int
log_warn_builtin(WORD_LIST *list)
{
	return log_entry("warn", list);
}

static int
log_error_builtin(WORD_LIST *list)
{
	return log_entry("error", list);
}

static int
ci_log_builtin(WORD_LIST *list)
{
	if (!list || !ci_level_ok(list->word->word)) {
		ci_warn("ci_log: \"%s\" is not a level (expected info, warn or "
			"error)",
			list ? list->word->word : "");
		return CI_EXIT_USAGE;
	}
	return log_entry(list->word->word, list->next);
}

/*
 * Loading: bash's own structures change between releases, so this object
 * works only in the release whose headers built it. Elsewhere it refuses to
 * load, and says why in $ci__why for ci.sh to report.
 */
static int
version_ok(void)
{
	static char why[160];

	if (strcmp(dist_version, CI_BASH_VERSION) == 0) {
		if (!shared) {
			shared =
			    mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			if (shared == MAP_FAILED)
				shared = NULL;
			owner = getpid();
			atexit(notice_at_exit);
		}
		return 1;
	}
	snprintf(why, sizeof why,
		 "ci_sh.so was built for bash %s, this is bash %s",
		 CI_BASH_VERSION, dist_version);
	bind_variable("ci__why", why, 0);
	builtin_error("%s: not loaded", why);
	return 0;
}

EXPORT int
ci_log_builtin_load(char *name)
{
	(void)name;
	return version_ok();
}

EXPORT int
log_info_builtin_load(char *name)
{
	(void)name;
	return version_ok();
}

EXPORT int
log_warn_builtin_load(char *name)
{
	(void)name;
	return version_ok();
}

EXPORT int
log_error_builtin_load(char *name)
{
	(void)name;
	return version_ok();
}

static char *info_doc[] = { "Append an info entry to the run's log.", NULL };
static char *warn_doc[] = { "Append a warn entry to the run's log.", NULL };
static char *error_doc[] = { "Append an error entry to the run's log.", NULL };
static char *ci_log_doc[] = { "Append an entry of LEVEL to the run's log.",
			      NULL };

EXPORT struct builtin log_info_struct = {
	"log_info", log_info_builtin,       BUILTIN_ENABLED,
	info_doc,   "log_info MESSAGE ...", 0,
};
EXPORT struct builtin log_warn_struct = {
	"log_warn", log_warn_builtin,       BUILTIN_ENABLED,
	warn_doc,   "log_warn MESSAGE ...", 0,
};
EXPORT struct builtin log_error_struct = {
	"log_error", log_error_builtin,       BUILTIN_ENABLED,
	error_doc,   "log_error MESSAGE ...", 0,
};
EXPORT struct builtin ci_log_struct = {
	"ci_log",
	ci_log_builtin,
	BUILTIN_ENABLED,
	ci_log_doc,
	"ci_log LEVEL MESSAGE ...",
	0,
};
