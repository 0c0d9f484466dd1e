/*
 * testpar.h: what the parts of ci-testpar share. main.c reads the options
 * and checks the machine, shard.c picks the suites of a shard, run.c
 * starts, watches, stops and retries the suites, junit.c reads their JUnit
 * reports, output.c writes their output, the status line and the log
 * entries.
 */
#ifndef TESTPAR_H
#define TESTPAR_H

#include <time.h>

#include "ci.h"

#define GRACE_MS 2000 /* between the signals that stop a suite */
#define SPOOL_MEM (256 * 1024) /* grouped output kept in memory, per suite */
#define MAX_JOBS 256

enum { OUT_GROUPED, OUT_PREFIXED, OUT_QUIET };

struct suite {
	const char *type, *cmd, *junit;
	char step[40];
	int attempts; /* started so far */
	int passed; /* on some attempt */
	int alone; /* its next attempts run alone: contention */
	char why[160]; /* why they do */
	int retries; /* its own --retries TYPE=N, else -1 */
	long long timeout_ms; /* its own --timeout TYPE=SEC, else -1 */
	long long not_before; /* monotonic ms: its retry waits until then */
	long long weight; /* --shard: its expected duration in ms */
	const char *glob; /* --shard-files: its files, for {files} */
	char **files;
	int nfiles;
};

struct attempt {
	struct suite *s;
	struct ci_proc p;
	int used, number, parallel, fallback;
	const char *why; /* why it runs alone, or NULL */
	long long t0; /* monotonic ms at start */
	struct timespec rt0; /* wall clock at start */
	int start_errno; /* fork failed */
	int reaped, eof;
	int timed_out, intr; /* we stopped it: its time was up, a signal */
	long long timeout_at, kill_at; /* monotonic ms; 0: none */
	int next_sig; /* sent at kill_at; 0: give up on the group */
	int give_up; /* record it even if its pipe is still open */
	struct ci_lines lines;
	int in_long; /* inside a line longer than CI_LINE_MAX */
	unsigned long notok; /* TAP "not ok" lines */
	struct ci_cases tap; /* the cases of its TAP lines */
	struct ci_case *tap_failed; /* the last, when it failed: diagnostics */
	int forkfail; /* output says a fork failed for lack of resources */
	struct ci_buf mem; /* grouped output, or prefixed lines to write */
	int spool; /* grouped output past SPOOL_MEM, or -1 */
	int truncated;
	char env[3][64];
	char *envp[4];
};

/* The state of this run of ci-testpar. */
struct testpar {
	struct suite *suites;
	int nsuites;
	struct attempt *slots;
	int jobs, retries, output, parallel, phase2, running;
	long long timeout_ms, retry_delay_ms;
	int fail_fast; /* stop starting suites after a last failure */
	char stop_why[80]; /* why they were no longer started, or "" */
	int shard_k, shard_n; /* --shard K/N; 0: all suites */
	int all_suites; /* before --shard kept this shard's */
	const char *start_why; /* serial fallback before the start */
	char start_buf[160];
	int *queue, nqueue; /* suites waiting, first to start first */
	const char *run_id;
	struct ci_log log;
	int out_fd, out_closed, out_failed, github;
	int log_off, log_failed; /* entries stopped; because of an error */
	int tty, status_shown;
	long long status_at;
	int interrupted; /* the signal that stops the run */
	int passed, flaky, failed, skipped, nattempts;
};
extern struct testpar tp;

void parse_suites(int argc, char **argv);
void parse_junit(const char *arg);
void shard(const char *spec, const char **timings, int ntimings);
void parse_shard_files(const char *arg);
void expand_files(struct suite *s);
struct suite *suite_named(const char *opt, const char *arg, size_t n);
int suite_retries(const struct suite *s);
long long suite_timeout(const struct suite *s);
void check_contention(long long min_mb, double max_load);
void run(void);
void schedule(void);
void start(struct suite *s, int parallel, int fallback, const char *why);
void on_signals(int fd);
void reap(void);
int read_output(struct attempt *a);
void on_line(void *arg, const char *line, size_t len, int continued);
void deadlines(long long now);
void finish(struct attempt *a);
long junit_read(const char *path, const struct timespec *since,
		struct ci_buf *note, struct ci_cases *cases);
void emit(const char *msg, size_t msglen, struct attempt *a);
void log_entry(struct ci_entry *e);
void record_skipped(struct suite *s, const char *why);
void record(struct ci_entry *e, int number, const char *status, long count,
	    time_t started, int parallel, int fallback,
	    const struct ci_cases *cases);
void out_write(const void *p, size_t n);
void status_line(long long now);
void cleanup(struct attempt *a);

#endif
