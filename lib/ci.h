/*
 * ci.h: what the ci-* tools share. One section per file of lib/.
 * Functions prefixed x exit on failure; all others return an error.
 */
#ifndef CI_H
#define CI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifndef CI_VERSION
#define CI_VERSION "0.0.0"
#endif

/* Exit codes of contracts/exit-codes.md. */
enum {
	CI_EXIT_OK = 0,
	CI_EXIT_STEP = 1,
	CI_EXIT_USAGE = 2,
	CI_EXIT_TESTS = 3,
	CI_EXIT_ENV = 4,
	CI_EXIT_DEPLOY = 5,
};

/* err.c: messages prefixed with the program's name, and stdout discipline. */
extern const char *progname;
void ci_init(const char *argv0);
void ci_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void ci_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
_Noreturn void ci_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
_Noreturn void ci_bad_option(int c, int argc, char **argv);
_Noreturn void ci_version(void);
int ci_write_all(int fd, const void *buf, size_t len);
void xwrite_stdout(const void *buf, size_t len);
int xfinish_stdout(void);
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* num.c: one checked parser for numbers from the command line. */
long long ci_strtonum(const char *s, long long min, long long max,
		      const char **why);
long long xnum(const char *what, const char *s, long long min, long long max);
double xdecimal(const char *what, const char *s, double min, double max);

/* time.c: UTC timestamps and clocks. */
struct timespec ci_now(void);
long long ci_mono_ms(void);
void ci_iso8601(char buf[32], struct timespec ts, int millis);
int ci_parse_iso8601(const char *s, struct timespec *ts);

/* runid.c: run ids run-YYYYMMDD-HHMMSS-xxxxxx. */
#define CI_RUNID_LEN 26
int ci_runid_new(char buf[CI_RUNID_LEN + 1], time_t t);
const char *ci_runid_check(const char *id);
const char *xrunid_env(void);

/* buf.c: a growable byte buffer and JSON string escaping. */
struct ci_buf {
	char *s;
	size_t len, cap;
};
void ci_buf_add(struct ci_buf *b, const void *p, size_t n);
void ci_buf_str(struct ci_buf *b, const char *s);
void ci_buf_printf(struct ci_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ci_buf_json_string(struct ci_buf *b, const char *s, size_t n);
size_t ci_utf8_boundary(const char *s, size_t n);
void ci_buf_free(struct ci_buf *b);

/* entry.c: build a log entry and append it with one write(). */
struct ci_entry {
	struct timespec when; /* zero: now */
	const char *level; /* info, warn or error */
	const char *message; /* may hold NUL and invalid UTF-8 */
	size_t message_len; /* SIZE_MAX: strlen(message) */
	const char *run_id;
	const char *source_file;
	long line_number; /* >= 1 */
	const char *function_name;
	const char *step_name;
	long long duration_ms; /* < 0: absent */
	int exit_code; /* < 0: absent */
	int continued; /* the next entry continues this message */
	const char *extra; /* "key":value,... already JSON, or NULL */
};
struct ci_log {
	int fd;
	int is_file; /* the destination is a file, not stdout */
	int echo; /* a readable line on stderr (a terminal) */
	int color;
	int github; /* GITHUB_ACTIONS=true: workflow commands */
	int annotate_fd; /* where workflow commands go */
	const char *path;
	struct ci_buf out; /* whole entries not yet written */
	struct ci_buf side; /* scratch for echo and annotations */
};
int ci_level_ok(const char *level);
void ci_entry_init(struct ci_entry *e, const char *run_id, const char *step);
void ci_entry_format(struct ci_buf *b, const struct ci_entry *e);
const char *ci_log_path(const char *opt);
void xlog_open(struct ci_log *log, const char *path, int quiet);
void ci_log_queue(struct ci_log *log, const struct ci_entry *e);
int ci_log_flush(struct ci_log *log);
void xlog_flush(struct ci_log *log);
void xlog_write(struct ci_log *log, const struct ci_entry *e);
void ci_annotation(struct ci_buf *b, const struct ci_entry *e);
/* Point an entry at the C source that writes it. */
#define CI_HERE(e)                                                             \
	((e)->source_file = __FILE__, (e)->line_number = __LINE__,             \
	 (e)->function_name = __func__)

/* lines.c: split a byte stream into lines, in bounded memory. */
#define CI_LINE_MAX (1024 * 1024)
typedef void (*ci_line_fn)(void *arg, const char *line, size_t len,
			   int continued);
struct ci_lines {
	char *buf;
	size_t len, cap;
	size_t max; /* longest piece delivered; 0: CI_LINE_MAX */
	unsigned long lineno; /* whole lines delivered so far */
};
void ci_lines_feed(struct ci_lines *l, const char *data, size_t n,
		   ci_line_fn fn, void *arg);
void ci_lines_finish(struct ci_lines *l, ci_line_fn fn, void *arg);
void ci_lines_free(struct ci_lines *l);

/* file.c: directories and atomic replacement of whole files. */
int ci_mkdirs(const char *dir, mode_t mode);
int ci_replace_file(const char *path, const void *data, size_t len);
char *ci_dirname(const char *path);

/* outcome.c: whether a completion entry's step succeeded (entries.md). */
struct cJSON;
int ci_step_outcome(const struct cJSON *entry);

#endif
