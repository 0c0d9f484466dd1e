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
int ci_color(int fd);

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
long long ci_timestamp_ms(const char *s);

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
size_t ci_utf8_len(const unsigned char *s, size_t n);
size_t ci_utf8_boundary(const char *s, size_t n);
void ci_buf_free(struct ci_buf *b);

/* entry.c: build a log entry and append it with one write(). */
#define CI_ANNOTATIONS 10 /* GitHub shows 10 of each kind per step */
/* Annotations written and left out, [error?]; may be shared by processes. */
struct ci_annotation_cap {
	unsigned long shown[2];
	unsigned long omitted[2];
};
struct ci_entry {
	struct timespec when; /* zero: now */
	const char *level; /* info, warn or error */
	const char *message; /* may hold NUL and invalid UTF-8 */
	size_t message_len; /* SIZE_MAX: strlen(message) */
	const char *run_id;
	const char *source_file;
	long line_number; /* >= 1 */
	int no_line; /* line_number is a placeholder: annotate the file only */
	const char *function_name;
	const char *step_name;
	long long duration_ms; /* < 0: absent */
	int exit_code; /* < 0: absent */
	int continued; /* the next entry continues this message */
	int located; /* from a compiler-style diagnostic: annotated first */
	int quiet; /* not echoed: the line was shown already */
	const char *extra; /* "key":value,... already JSON, or NULL */
	const char *tail; /* ci_entry_tail of what follows message, or NULL */
};
struct ci_log {
	int fd;
	int is_file; /* the destination is a file, not stdout */
	int echo; /* a readable line on stderr (a terminal) */
	int color;
	int github; /* GITHUB_ACTIONS=true: workflow commands */
	int annotate_fd; /* where workflow commands go */
	/* With hold set (streams of many entries), annotations are held until
	 * xlog_close: at most CI_ANNOTATIONS of each level, [error?][located?],
	 * and how many more there were. */
	int hold;
	struct ci_buf held[2][2];
	int nheld[2][2];
	unsigned long omitted[2];
	struct ci_buf notice_step, notice_run; /* named by the notice */
	/* With cap set, annotations are written at once, the first
	 * CI_ANNOTATIONS of each level, and the rest counted in it. */
	struct ci_annotation_cap *cap;
	const char *path;
	int ends_whole; /* the file is known to end with a whole entry */
	struct ci_buf out; /* whole entries not yet written */
	struct ci_buf side; /* scratch for echo and annotations */
};
int ci_level_ok(const char *level);
const char *ci_level_arg(const char *opt, const char *level);
void ci_entry_init(struct ci_entry *e, const char *run_id, const char *step);
void ci_entry_tail(struct ci_buf *b, const struct ci_entry *e);
void ci_entry_format(struct ci_buf *b, const struct ci_entry *e);
const char *ci_caller_name(void);
const char *ci_log_path(const char *opt);
int ci_log_open(struct ci_log *log, const char *path, int quiet,
		struct ci_buf *why);
void ci_log_flags(struct ci_log *log, int quiet);
void xlog_open(struct ci_log *log, const char *path, int quiet);
void ci_log_add(struct ci_log *log, const struct ci_entry *e);
void ci_log_add_pieces(struct ci_log *log, const struct ci_entry *e);
void ci_log_queue(struct ci_log *log, const struct ci_entry *e);
int ci_append(int fd, const char *s, size_t len);
int ci_log_flush(struct ci_log *log);
void xlog_flush(struct ci_log *log);
void xlog_write(struct ci_log *log, const struct ci_entry *e);
void xlog_close(struct ci_log *log);
void ci_annotation(struct ci_buf *b, const struct ci_entry *e);
void ci_annotation_notice(struct ci_buf *b, const char *step, const char *run,
			  const char *path, const unsigned long left[2]);
/* Lines to log, each line an entry with the fields of base (ci_sink_line).
 * A line in the compiler format (diag.c) becomes an entry at its own level,
 * file and line; prefix, when set, begins the message of the others. */
struct ci_line_sink {
	struct ci_log *log;
	struct ci_entry base;
	const char *prefix;
	int pass_fd; /* > 0: each line also shown there (when masking) */
	struct ci_buf tails[2]; /* base's end, continued or not */
	struct ci_buf scratch;
};
void ci_sink_line(void *arg, const char *line, size_t len, int continued);
void ci_sink_free(struct ci_line_sink *k);
/* An entry a tool writes on its caller's behalf: the calling script and
 * line, the tool (ci_from_caller). */
const char *ci_caller_file(long *line);
void ci_from_caller(struct ci_entry *e);
#define CI_FROM_CALLER(e) ci_from_caller(e)
int ci_names_file(const struct ci_entry *e);

/* mask.c: CI_MASK, secrets written as ***. */
const char *ci_mask_values(size_t *n);
int ci_mask(struct ci_buf *b, const char *s, size_t n);

/* github.c: GITHUB_ENV and GITHUB_OUTPUT lines. */
void ci_github_var(struct ci_buf *b, const char *name, const char *value);
int ci_github_outputs(const struct ci_buf *b);

/* diag.c: compiler-style diagnostics; paths as named from the repository. */
struct ci_diag {
	const char *file, *message; /* within the line */
	size_t file_len, message_len;
	long line, col; /* col 0: none */
	const char *level; /* info, warn or error */
};
int ci_diag_parse(const char *s, size_t n, struct ci_diag *d);
const char *ci_repo_root(void);
void ci_repo_path(struct ci_buf *b, const char *p, size_t n);

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

/* proc.c: run commands in their own process group; signals and exit codes. */
struct ci_spawn {
	char *const *argv; /* run directly (PATH searched) */
	const char *shell_cmd; /* or: /bin/sh -c shell_cmd */
	char *const *env_add; /* NAME=value strings to add */
	int capture; /* stdout and stderr through pipes */
	int merge; /* with capture: stderr into the stdout pipe */
	int stdin_null; /* stdin from /dev/null */
	int foreground; /* give it the terminal when stdin is one */
	int lazy_exec; /* return at once: exec_errno is known once reaped */
};
struct ci_proc {
	pid_t pid; /* also its process group */
	int out, err; /* read ends when captured, else -1 */
	int exec_errno; /* why it could not be executed, or 0 */
	int status, done; /* wait status, once reaped */
	int foreground;
	int exec_fd; /* lazy_exec: exec_errno's pipe until reaped, else -1 */
};
int ci_signal_pipe(void);
int ci_proc_start(struct ci_proc *p, const struct ci_spawn *s);
int ci_proc_reap(struct ci_proc *p, int block);
void ci_proc_kill(const struct ci_proc *p, int sig);
int ci_proc_group_alive(const struct ci_proc *p);
int ci_exit_code(const struct ci_proc *p);
void ci_describe_status(struct ci_buf *b, const struct ci_proc *p);

/* file.c: directories and atomic replacement of whole files. */
int ci_mkdirs(const char *dir, mode_t mode);
int ci_replace_file(const char *path, const void *data, size_t len);
int ci_replace_leftovers(const char *path);
char *ci_dirname(const char *path);

/* outcome.c: whether a completion entry's step succeeded (entries.md). */
struct cJSON;
int ci_step_outcome(const struct cJSON *const *f);

/* ndjson.c: NDJSON read in large blocks; a per-thread arena for cJSON. */
#define CI_ND_LINE_MAX (8u << 20) /* longer lines are read past, not held */
#define CI_ND_BUFS 4
struct ci_nd {
	int fd, eof;
	int turns; /* set after open: buffers taken in turn, to CI_ND_BUFS */
	int cur; /* the one in use, buf */
	char *buf, *bufs[CI_ND_BUFS];
	size_t cap, len, given, caps[CI_ND_BUFS];
	size_t skipping; /* bytes of a too-long line read past so far */
	size_t toolong; /* a too-long line ended: its length */
};
void ci_nd_open(struct ci_nd *r, int fd);
ssize_t ci_nd_next(struct ci_nd *r, char **p);
void ci_nd_close(struct ci_nd *r);
void ci_arena_hooks(void);
void ci_arena_reset(void);
void ci_arena_free(void);

/*
 * logcheck.c: the rules of contracts/log-schema.json, for entries read back,
 * and the table-driven checker of JSON shapes they are written in. A shape
 * is a table of fields; an object has each field at most once, no field the
 * table does not name, and every required one. A field's kind says what its
 * value may be:
 *   CI_STR      a string (of at most max characters when max > 0)
 *   CI_STR1     a non-empty string (likewise)
 *   CI_INT      an integer from min to max (max CI_NO_MAX: no maximum)
 *   CI_ENUM     one of the strings of values (NULL-terminated)
 *   CI_PATTERN  a string for which match() is true; expect says what was
 *               expected, in the words "is not <expect>" ("40 lowercase hex
 *               digits", "deploy-<epoch seconds>")
 *   CI_TRUE     true
 *   CI_BOOL     true or false
 *   CI_OBJ      an object of shape sub
 *   CI_OBJ_NULL null, or an object of shape sub
 *   CI_OBJS     an array of at most max objects of shape sub (CI_NO_MAX: any
 *               number); a message names an item as history[3].status
 *   CI_STRS     an array of non-empty strings
 * After its fields pass, an object's shape may run extra(), a check across
 * fields (error_message only with status failure), which reports as
 * ci_shape_fail does. A shape has at most 32 fields.
 */
#define CI_NO_MAX 0x7fffffffffffffffLL
enum ci_kind {
	CI_STR,
	CI_STR1,
	CI_INT,
	CI_ENUM,
	CI_PATTERN,
	CI_TRUE,
	CI_BOOL,
	CI_OBJ,
	CI_OBJ_NULL,
	CI_OBJS,
	CI_STRS,
};
struct ci_shape;
struct ci_field {
	const char *name;
	enum ci_kind kind;
	int required;
	long long min, max; /* CI_INT; max also CI_OBJS */
	const char *const *values; /* CI_ENUM */
	const struct ci_shape *sub; /* CI_OBJ, CI_OBJ_NULL, CI_OBJS */
	int (*match)(const char *s); /* CI_PATTERN: 1 when s is good */
	const char *expect; /* CI_PATTERN: what match() accepts */
};
struct ci_shape {
	const struct ci_field *f;
	size_t n;
	int (*extra)(const struct cJSON *o, const char *path,
		     struct ci_buf *why); /* NULL, or 0 / -1 and why */
};
#define CI_SHAPE(fields, extra_fn)                                             \
	{                                                                      \
		fields, sizeof fields / sizeof fields[0], extra_fn             \
	}
int ci_shape_check(const struct cJSON *v, const struct ci_shape *s,
		   const char *path, struct ci_buf *why);
int ci_shape_fail(struct ci_buf *why, const char *path, const char *name,
		  const struct cJSON *v, const char *what);
int ci_text_check(const char *s, size_t n, struct ci_buf *why);
int ci_entry_check(const struct cJSON *entry, struct ci_buf *why);
enum { /* an entry's fields, in the schema's order */
       CI_F_TIMESTAMP,
       CI_F_LEVEL,
       CI_F_MESSAGE,
       CI_F_RUN_ID,
       CI_F_SOURCE_FILE,
       CI_F_LINE_NUMBER,
       CI_F_FUNCTION_NAME,
       CI_F_STEP_NAME,
       CI_F_DURATION_MS,
       CI_F_EXIT_CODE,
       CI_F_CONTINUED,
       CI_F_RUN_START,
       CI_F_TEST_EXECUTION,
       CI_F_PIPELINE_RUN,
       CI_F_N
};
int ci_entry_fields(const struct cJSON *entry, const struct cJSON *f[CI_F_N],
		    struct ci_buf *why);
enum { /* run_start's fields, in the schema's order */
       CI_RS_START_TIME,
       CI_RS_PROFILE,
       CI_RS_TRIGGERED_BY,
       CI_RS_N
};
enum { /* test_execution's */
       CI_TE_TEST_TYPE,
       CI_TE_ATTEMPT_NUMBER,
       CI_TE_STATUS,
       CI_TE_DURATION,
       CI_TE_FAILURE_COUNT,
       CI_TE_STARTED_AT,
       CI_TE_COMPLETED_AT,
       CI_TE_RUN_IN_PARALLEL,
       CI_TE_FALLBACK_TO_SERIAL,
       CI_TE_CASES,
       CI_TE_CASES_OMITTED,
       CI_TE_SHARD,
       CI_TE_N
};
enum { /* pipeline_run's */
       CI_PR_RUN_ID,
       CI_PR_START_TIME,
       CI_PR_END_TIME,
       CI_PR_DURATION,
       CI_PR_EXIT_CODE,
       CI_PR_PROFILE,
       CI_PR_TRIGGERED_BY,
       CI_PR_STEPS_COMPLETED,
       CI_PR_N
};
struct ci_flat_obj { /* one object's fields, read without cJSON */
	const char *s[CI_F_N]; /* its strings, by the shape's order */
	long long num[CI_F_N]; /* its integers; true 1, false 0 */
	uint32_t seen; /* bit i: field i is there */
	const char *strs; /* an array of strings: its items, one after */
	size_t nstrs; /* another, each NUL-terminated */
};
struct ci_flat { /* an entry of objects without arrays of objects */
	struct ci_flat_obj top, run_start, test, pipeline;
	long long ts_ms; /* its timestamp's */
};
int ci_entry_scan(const char *p, size_t n, char *str, struct ci_flat *fl);

/* cases.c: a suite attempt's test cases, bounded as log-schema.json says. */
#define CI_CASES_MAX 10000 /* cases per attempt; more are counted */
#define CI_CASES_BYTES (4u << 20) /* of names and messages, per attempt */
#define CI_CASE_NAME 512 /* bytes of a name or classname */
#define CI_CASE_TEXT 1024 /* bytes of a failure's message */
enum { CI_CASE_PASSED, CI_CASE_FAILED, CI_CASE_SKIPPED };
extern const char *const ci_case_statuses[]; /* by status, then NULL */
struct ci_case {
	char *name, *classname, *message; /* classname, message: or NULL */
	int status, message_cut;
	long long duration_ms; /* < 0: not known */
};
struct ci_cases {
	struct ci_case *v;
	size_t n, bytes;
	long long omitted; /* past the bounds */
	long omitted_failed; /* of them, failed: for counts */
};
struct ci_case *ci_cases_add(struct ci_cases *c, const char *name, size_t nlen,
			     const char *classname, size_t clen, int status,
			     long long duration_ms);
void ci_case_message(struct ci_cases *c, struct ci_case *k, const char *s,
		     size_t n);
long ci_cases_failed(const struct ci_cases *c);
void ci_cases_json(struct ci_buf *b, const struct ci_cases *c);
void ci_cases_read(struct ci_cases *c, const struct cJSON *te);
void ci_cases_copy(struct ci_cases *dst, const struct ci_cases *src);
void ci_case_fullname(struct ci_buf *b, const struct ci_case *k);
void ci_cases_free(struct ci_cases *c);

/* runs.c: Pipeline Runs, steps and Test Executions rebuilt from entries. */
#define CI_SHARDS_MAX 256 /* ci-testpar --shard K/N: N at most */
struct ci_run_start {
	long long start_time;
	char profile[8], triggered_by[8];
};
struct ci_pipeline {
	long long start_time, end_time, duration;
	int exit_code;
	char profile[8], triggered_by[8];
	size_t nsteps;
	const char *steps; /* nsteps NUL-terminated names, one after another */
};
struct ci_test_exec {
	char test_type[33], status[8];
	long long attempt_number, duration, failure_count;
	long long started_at, completed_at;
	int run_in_parallel, fallback_to_serial;
	int shard_index, shard_count; /* ci-testpar --shard K/N; 0: none */
};
struct ci_view { /* what one valid entry says */
	const char *run_id, *step_name, *message, *source_file, *function_name;
	const char *timestamp; /* as written */
	long long ts_ms, line_number, duration_ms; /* duration_ms < 0: none */
	int level; /* 0 info, 1 warn, 2 error */
	int exit_code; /* < 0: none */
	int outcome; /* ci_step_outcome */
	int edge; /* CI_EDGE_START or CI_EDGE_END of a ci-step run, or 0 */
	int continued; /* the next entry continues the message */
	const struct ci_run_start *start;
	const struct ci_test_exec *test;
	const struct cJSON *cases_json; /* test's cases array, or NULL */
	const struct ci_cases *cases; /* what the reader made of it, or NULL */
	const struct ci_pipeline *pipeline;
	unsigned file; /* where it was read: input number and line */
	unsigned long long line;
};
struct ci_view_store {
	struct ci_run_start start;
	struct ci_test_exec test;
	struct ci_pipeline pipeline;
	struct ci_buf steps;
};
enum { CI_EDGE_START = 1, CI_EDGE_END = 2 };
/* One run of a step from ci-step's start entry, or its other entries. */
struct ci_span {
	long long key_ms; /* what its span id is derived from */
	long long start_ms, end_ms; /* end_ms < 0: not ended */
	int started; /* opened by ci-step's start entry */
	int exit_code, outcome; /* of its completions; < 0: none */
	long long duration_ms; /* its completions' added; < 0: none */
	unsigned long long msgs; /* its messages kept or omitted */
};
struct ci_step {
	char *name;
	struct ci_span *spans;
	size_t nspans, loose; /* loose: 1 + its span of other entries, or 0 */
	long long first_ms, last_ms; /* its first and last entries */
	long long start_ms, end_ms; /* of its completions; < 0: none */
	long long duration_ms; /* its completions' durations added */
	int completions, failures, ok, exit_code;
	unsigned long long seq, ok_seq; /* first entry, first success */
	/* A suite's step run in shards (ci-testpar --shard-files): ok once
	 * every shard that ran it passed. */
	uint64_t shard_seen[CI_SHARDS_MAX / 64], shard_ok[CI_SHARDS_MAX / 64];
};
struct ci_attempt {
	struct ci_test_exec t;
	long long start_ms, end_ms;
	const char *step; /* its step's name, and the span it ran in */
	size_t span;
	int has_cases; /* the entry had cases (maybe none) */
	struct ci_cases cases;
};
struct ci_msg {
	int level;
	long long ts_ms, line_number;
	char *step, *message, *source_file, *function_name;
	size_t span; /* of its step */
	unsigned file;
	unsigned long long line;
};
struct ci_run {
	char id[CI_RUNID_LEN + 1];
	unsigned long long seq; /* runs in the order first seen */
	long long first_ms, last_ms; /* its entries' earliest and latest */
	unsigned long long entries, warnings, errors, omitted;
	int has_start, has_pipeline;
	struct ci_run_start start;
	struct ci_pipeline pipeline;
	struct ci_step *steps;
	size_t nsteps, last_step;
	struct ci_attempt *tests;
	size_t ntests;
	struct ci_msg *msgs;
	size_t nmsgs;
};
struct ci_runs {
	struct ci_run **v, **table, *last; /* last: the run found last */
	size_t n, tsize;
	int list_level; /* messages of this level and above are kept */
	size_t msg_cap; /* at most this many per run; the rest counted */
	unsigned long long seq;
};
void ci_view_of(struct ci_view *v, const struct cJSON *const *f,
		struct ci_view_store *st);
void ci_view_of_flat(struct ci_view *v, const struct ci_flat *fl,
		     struct ci_view_store *st);
void ci_runs_init(struct ci_runs *rs, int list_level, size_t msg_cap);
struct ci_run *ci_runs_find(struct ci_runs *rs, const char *id, int create);
void ci_runs_add(struct ci_runs *rs, const struct ci_view *v);
const char **ci_run_completed(const struct ci_run *r, size_t *n);
void ci_test_exec_json(struct ci_buf *b, const struct ci_test_exec *t);
void ci_pipeline_json(struct ci_buf *b, const char *run_id,
		      const struct ci_pipeline *p);
void ci_runs_free(struct ci_runs *rs);

/*
 * readlog.c: the one log reader: lines, text and schema checks, entry
 * views, runs. Every tool that reads a log back reads it here, so every
 * tool agrees on which lines count. Set the fields after ci_reader_init.
 */
struct ci_read_batch;
struct ci_reader {
	struct ci_runs *runs; /* valid entries are added here; may be NULL */
	struct ci_runs *before; /* since_ms: runs seen before it, by id */
	const char *run; /* only this run's entries */
	const char *step; /* only this step's, with init and complete */
	int level; /* > 0: only this level and above, and completions */
	long long since_ms; /* >= 0: entries before it only go to before */
	int check; /* check every line, build nothing: only bad is called */
	int threads; /* parse on two cores (the default when there are) */
	/* A line that is not a valid entry: input number, line, reason. */
	void (*bad)(void *arg, unsigned file, unsigned long long line,
		    const char *why);
	/* A valid entry that passes the filters, in input order, with its
	 * line as read (not NUL-terminated); after it went to runs. */
	void (*entry)(void *arg, const struct ci_view *v, const char *line,
		      size_t len);
	void *arg;
	/* the reader's own */
	unsigned file;
	char since19[20];
	struct ci_read_batch *b;
};
void ci_reader_init(struct ci_reader *rd, struct ci_runs *runs);
int ci_read_fd(struct ci_reader *rd, int fd, unsigned file);
int ci_read_path(struct ci_reader *rd, const char *path, unsigned file);
void ci_read_lines(struct ci_reader *rd, char *p, size_t n, unsigned file,
		   unsigned long long *line);
void ci_reader_free(struct ci_reader *rd);

/* trace.c: trace and span ids derived from the log (W3C trace context). */
#define CI_TRACEPARENT_LEN 55
#define CI_SPAN_RUN "run" /* the root span: the run */
#define CI_SPAN_STEP "step" /* a step from ci-step's start entry */
#define CI_SPAN_ENTRIES "entries" /* a step's entries outside ci-step */
#define CI_SPAN_ATTEMPT "attempt" /* a test attempt */
#define CI_SPAN_CASE "case" /* a test case of an attempt */
void ci_trace_id(char out[33], const char *run_id);
void ci_span_id(char out[17], const char *run_id, const char *kind,
		const char *name, long long key);
void ci_traceparent(char out[CI_TRACEPARENT_LEN + 1], const char *run_id,
		    const char *step, long long key_ms);

#endif
