/*
 * report.h: what the parts of ci-report share. main.c reads the logs with
 * lib/readlog.c and picks the runs, summary.c turns each into the run
 * model below, and one file per output format writes it.
 *
 * A format plugs in as one file and one row of main.c's table formats[]:
 *   { "name", name_write, name_entry, shows_bad }
 * write(out, rp) runs once, after the input is read, with the runs to
 * report, oldest first (rp->n may be 0); entry(out, v, line, len) runs
 * for each valid entry that passes the filters, in input order, with the
 * line as read. Either may be NULL. Both append to out, which main.c
 * writes to stdout: after write, and, for a format with an entry hook,
 * whenever out passes 64 KiB. A format with an entry hook streams: each
 * malformed line is reported on stderr as it is read (FILE:LINE: why, as
 * --check does on stdout). The others list the malformed lines in the
 * report (shows_bad: text, markdown, with report_bad) or main.c does on
 * stderr at the end.
 */
#ifndef REPORT_H
#define REPORT_H

#include "ci.h"

#define MSG_CAP 50 /* messages kept per run; the rest counted */
#define OTLP_EVENTS 10000 /* the same for otlp, whose events they are */
#define OTLP_CASES 10000 /* test case spans per run in otlp; failed first */
#define BAD_SHOWN 5 /* malformed lines shown in a report */
#define FAILING_SHOWN 10 /* failed test cases named per attempt */

/* A status and how each format shows it. */
enum status {
	ST_PASSED,
	ST_FAILED,
	ST_SKIPPED, /* a test attempt that did not run */
	ST_UNFINISHED, /* a step with no completion */
	ST_LOGGED, /* a step of a run that passed, known from entries only */
	ST_INCOMPLETE, /* a run with no complete entry */
};
struct status_look {
	const char *name, *color, *icon, *gantt;
	char bar;
};
extern const struct status_look status_look[]; /* by enum status */
enum status status_of(const char *name);
#define ST_NAME(s) (status_look[s].name)

/* A malformed line: where, and why. */
struct bad_line {
	unsigned file;
	unsigned long long line;
	char *why;
};

/* A run as reported: the seed's Pipeline Run fields, given or derived. */
struct run_report {
	struct ci_run *r;
	long long start_ms, end_ms; /* what the timeline spans */
	long long start_time, end_time, duration;
	int exit_code; /* < 0: unknown, the run is incomplete */
	const char *profile, *triggered_by; /* NULL: unknown */
	enum status result; /* passed, failed or incomplete */
	const char **done;
	size_t ndone;
};

/* One test suite of a run: its attempts in order. */
struct suite_report {
	const char *type;
	enum status status; /* of the last attempt (of each shard) */
	struct ci_attempt **a; /* by shard, then attempt */
	size_t n;
	size_t parts; /* the shards that ran it, or 1 */
	int flaky, fallback;
	long long time_ms;
};

/* Per step across runs: the runs it completed in, median, latest, slowest. */
struct step_across {
	const char *name, *slowest_run;
	long long *d, latest, slowest;
	size_t n;
};

/* What every format is given. */
struct report {
	struct run_report *v;
	size_t n;
	unsigned long long nbad; /* malformed lines */
	const struct bad_line *bad; /* the first BAD_SHOWN of them */
	const char *const *files; /* input names by number; "-": stdin */
	const char *style; /* for trends: text, markdown or json */
};

struct report_format {
	const char *name;
	void (*write)(struct ci_buf *out, const struct report *rp);
	void (*entry)(struct ci_buf *out, const struct ci_view *v,
		      const char *line, size_t len);
	int shows_bad; /* write lists the malformed lines (report_bad) */
};

/* main.c: write out to stdout now, the secrets of CI_MASK as ***. A format
 * whose output grows with the input may call it between runs, then empty
 * out. */
void report_put(const struct ci_buf *b);

/* summary.c: the run model. */
void summarize(struct ci_run *r, struct run_report *m);
size_t suites_of(const struct ci_run *r, struct suite_report **out);
int part_passed(const struct suite_report *su, const struct ci_attempt *a);
void free_suites(struct suite_report *s, size_t n);
size_t steps_across(const struct run_report *m, size_t n,
		    struct step_across **out);
void free_across(struct step_across *a, size_t n);
long long median(const struct step_across *a);
int shown_step(const char *name);
enum status step_status(const struct ci_run *r, const struct ci_step *s);
long long step_start(const struct ci_step *s);
long long step_end(const struct ci_run *r, const struct ci_step *s);
const char *dur(char buf[32], long long ms);
const char *attempt_mode(char buf[48], const struct ci_test_exec *t);
const char *utc(char buf[32], long long ms, int date);
const char *flat(struct ci_buf *b, const char *s, size_t max);
const char *report_file(const struct report *rp, unsigned file);
void report_bad(struct ci_buf *b, const struct report *rp, const char *prefix,
		const char *indent);
long failing_cases(struct ci_buf *names, const struct ci_attempt *a,
		   void (*put)(struct ci_buf *b, const char *name));

/* follow.c: --follow, the live view of a run. */
struct follow_opt {
	const char **files;
	unsigned nfiles;
	const char *run; /* NULL: the newest run not over yet */
	const char *output; /* NULL, or the folder of the steps' STEP.out */
};
int follow(const struct follow_opt *o);

/* One file per format. */
void text_write(struct ci_buf *out, const struct report *rp);
void json_write(struct ci_buf *out, const struct report *rp);
void markdown_write(struct ci_buf *out, const struct report *rp);
void md_text(struct ci_buf *b, const char *s, size_t max);
void junit_write(struct ci_buf *out, const struct report *rp);
void otlp_write(struct ci_buf *out, const struct report *rp);
void clickhouse_entry(struct ci_buf *out, const struct ci_view *v,
		      const char *line, size_t len);
void trends_write(struct ci_buf *out, const struct report *rp);
void compare_write(struct ci_buf *out, const struct report *rp);

#endif
