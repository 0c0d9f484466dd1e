/*
 * output.c: what ci-testpar writes: the suites' output, a status line on
 * a terminal, and one log entry per attempt.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "testpar.h"

/*
 * The result line (the entry's message), and in grouped mode the attempt's
 * whole output under it, folded on GitHub Actions. a is NULL for a suite
 * that never started.
 */
void
emit(const char *msg, size_t msglen, struct attempt *a)
{
	int group = a && tp.output == OUT_GROUPED;
	struct ci_buf b = { 0 };
	char buf[65536];
	char last = '\n';
	ssize_t n;

	if (a && tp.output == OUT_PREFIXED && a->mem.len > 0)
		out_write(a->mem.s, a->mem.len);
	ci_buf_str(&b, group && tp.github ? "::group::" : "==> ");
	ci_buf_add(&b, msg, msglen);
	ci_buf_add(&b, "\n", 1);
	if (group) {
		if (a->mem.len) {
			ci_buf_add(&b, a->mem.s, a->mem.len);
			last = a->mem.s[a->mem.len - 1];
		}
	}
	out_write(b.s, b.len);
	b.len = 0;
	if (group && a->spool >= 0 && lseek(a->spool, 0, SEEK_SET) == 0) {
		/* Whole lines, so that no masked value is cut in two. */
		while ((n = read(a->spool, buf, sizeof buf)) > 0) {
			const char *nl = memrchr(buf, '\n', (size_t)n);
			size_t whole = nl ? (size_t)(nl - buf) + 1 : 0;

			ci_buf_add(&b, buf, whole);
			out_write(b.s, b.len);
			b.len = 0;
			ci_buf_add(&b, buf + whole, (size_t)n - whole);
			last = buf[n - 1];
			if (b.len > sizeof buf) { /* a line with no end */
				out_write(b.s, b.len);
				b.len = 0;
			}
		}
		out_write(b.s, b.len);
		b.len = 0;
	}
	if (last != '\n')
		ci_buf_add(&b, "\n", 1);
	if (group && a->truncated)
		ci_buf_str(&b, "[output cut: no room for a temporary file]\n");
	if (group && tp.github)
		ci_buf_str(&b, "::endgroup::\n");
	out_write(b.s, b.len);
	ci_buf_free(&b);
}

/*
 * Append the entry. A closed standard output (EPIPE) stops the entries
 * quietly; another failure is said once and makes the exit status 4. The
 * suites go on either way: stopping here would leave them running.
 */
void
log_entry(struct ci_entry *e)
{
	if (tp.log_off)
		return;
	if (tp.status_shown)
		out_write("", 0);
	ci_log_queue(&tp.log, e);
	if (ci_log_flush(&tp.log) == 0)
		return;
	tp.log_off = 1;
	if (!tp.log.is_file && errno == EPIPE)
		return;
	ci_warn("cannot write to %s: %s; no more entries",
		tp.log.is_file ? tp.log.path : "standard output",
		strerror(errno));
	tp.log_failed = 1;
}

/* A suite never started: one entry, status skipped, saying why. */
void
record_skipped(struct suite *s, const char *why)
{
	struct ci_entry e;
	struct ci_buf msg = { 0 };

	ci_buf_printf(&msg, "%s skipped: %s", s->type, why);
	ci_entry_init(&e, tp.run_id, s->step);
	CI_FROM_CALLER(&e);
	e.when = ci_now();
	e.level = "warn";
	e.message = msg.s;
	e.duration_ms = 0;
	emit(msg.s, msg.len, NULL);
	record(&e, 1, "skipped", 0, e.when.tv_sec, tp.parallel,
	       tp.start_why != NULL, NULL);
	tp.skipped++;
	ci_buf_free(&msg);
}

/* Append the entry with its Test Execution, ending at e->when. */
void
record(struct ci_entry *e, int number, const char *status, long count,
       time_t started, int parallel, int fallback, const struct ci_cases *cases)
{
	struct ci_test_exec t = { .attempt_number = number };
	struct ci_buf extra = { 0 };

	snprintf(t.test_type, sizeof t.test_type, "%s", e->step_name + 5);
	snprintf(t.status, sizeof t.status, "%s", status);
	t.duration = (long long)(e->when.tv_sec - started);
	t.failure_count = count;
	t.started_at = (long long)started;
	t.completed_at = (long long)e->when.tv_sec;
	t.run_in_parallel = parallel;
	t.fallback_to_serial = fallback;
	t.shard_index = tp.shard_k;
	t.shard_count = tp.shard_n;
	ci_buf_str(&extra, "\"test_execution\":");
	ci_test_exec_json(&extra, &t);
	if (cases) { /* into the object: its last byte is its } */
		extra.len--;
		ci_cases_json(&extra, cases);
		ci_buf_str(&extra, "}");
	}
	e->extra = extra.s;
	log_entry(e);
	ci_buf_free(&extra);
}

/*
 * Suite output and result lines: to standard output, or to standard error
 * when the entries go to standard output, with CI_MASK's values as ***.
 * The status line is erased first. A closed output (EPIPE) is dropped
 * quietly; another failure is said once.
 */
void
out_write(const void *p, size_t n)
{
	static struct ci_buf masked;

	if (tp.status_shown) {
		(void)ci_write_all(2, "\r\033[K", 4);
		tp.status_shown = 0;
		tp.status_at = 0;
	}
	if (tp.out_closed || n == 0)
		return;
	if (ci_mask(&masked, p, n)) {
		p = masked.s;
		n = masked.len;
	}
	if (ci_write_all(tp.out_fd, p, n) == 0)
		return;
	if (errno != EPIPE) {
		ci_warn("%s: %s; suite output dropped",
			tp.out_fd == 1 ? "standard output" : "standard error",
			strerror(errno));
		tp.out_failed = 1;
	}
	tp.out_closed = 1;
}

/* On a terminal: one line, redrawn each second, of the suites running. */
void
status_line(long long now)
{
	struct ci_buf b = { 0 };
	struct winsize ws;
	size_t cols = 80;

	if (now - tp.status_at < 1000 && tp.status_shown)
		return;
	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		cols = ws.ws_col;
	ci_buf_str(&b, "\r\033[K");
	for (int i = 0; i < tp.jobs; i++) {
		struct attempt *a = &tp.slots[i];
		if (a->used)
			ci_buf_printf(&b, "%s[%s #%d %llds]",
				      b.len > 4 ? " " : "", a->s->type,
				      a->number, (now - a->t0) / 1000);
	}
	if (tp.nqueue > 0)
		ci_buf_printf(&b, " +%d waiting", tp.nqueue);
	if (b.len - 4 > cols - 1)
		b.len = 4 + cols - 1;
	(void)ci_write_all(2, b.s, b.len);
	ci_buf_free(&b);
	tp.status_shown = 1;
	tp.status_at = now;
}
