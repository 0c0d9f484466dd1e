/* run.c: start, watch, stop and retry the suites: one poll loop. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "testpar.h"

static void tap_case(struct attempt *a, const char *line, size_t len);
static int may_start(const struct suite *s);
static long long next_start(long long now, int later);

/* One poll loop: output, signals, exits and deadlines. */
void
run(void)
{
	struct pollfd *fds = xmalloc((tp.jobs + 1) * sizeof *fds);
	struct attempt **who = xmalloc((tp.jobs + 1) * sizeof *who);
	int sigfd = ci_signal_pipe();

	/* Orphans of a suite become ours: we see them end, and reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	tp.slots = xmalloc(tp.jobs * sizeof *tp.slots);
	memset(tp.slots, 0, tp.jobs * sizeof *tp.slots);
	for (;;) {
		long long now = ci_mono_ms(), next = -1;
		int nfds = 1, timeout;

		schedule();
		/* Idle: the next start, or the end. Busy: only a start that
		 * waits for its time, not for a slot. */
		next = next_start(now, tp.running > 0);
		if (tp.running == 0 && next < 0)
			break;
		fds[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		for (int i = 0; i < tp.jobs; i++) {
			struct attempt *a = &tp.slots[i];
			if (!a->used)
				continue;
			if (!a->eof) {
				fds[nfds] = (struct pollfd){ .fd = a->p.out,
							     .events = POLLIN };
				who[nfds++] = a;
			}
			if (a->timeout_at && (next < 0 || a->timeout_at < next))
				next = a->timeout_at;
			if (a->kill_at && (next < 0 || a->kill_at < next))
				next = a->kill_at;
		}
		if (tp.tty && (next < 0 || tp.status_at + 1000 < next))
			next = tp.status_at + 1000;
		timeout = next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
		if (poll(fds, nfds, timeout) < 0 && errno != EINTR)
			ci_die(1, "poll: %s", strerror(errno));
		if (fds[0].revents)
			on_signals(sigfd);
		for (int i = 1; i < nfds; i++)
			if (fds[i].revents)
				read_output(who[i]);
		reap();
		deadlines(ci_mono_ms());
		for (int i = 0; i < tp.jobs; i++) {
			struct attempt *a = &tp.slots[i];
			if (a->used && a->reaped &&
			    (a->eof || a->give_up ||
			     !ci_proc_group_alive(&a->p)))
				finish(a);
		}
		if (tp.tty)
			status_line(ci_mono_ms());
	}
	if (tp.status_shown)
		out_write("", 0);
	for (int i = 0; i < tp.nqueue; i++) {
		struct suite *s = &tp.suites[tp.queue[i]];
		char why[160];
		if (s->attempts > 0) {
			tp.failed++; /* its retry never started */
			continue;
		}
		if (tp.interrupted)
			snprintf(why, sizeof why,
				 "interrupted by SIG%s before it started",
				 sigabbrev_np(tp.interrupted));
		else
			snprintf(why, sizeof why, "not started: %s",
				 tp.stop_why);
		record_skipped(s, why);
	}
	free(fds);
	free(who);
	free(tp.slots);
}

/*
 * Start what may start. In parallel, the first attempts and ordinary retries
 * share the job slots; suites that failed for contention wait until that
 * batch is over, then run one at a time. Otherwise one at a time throughout.
 * A retry waits out --retry-delay; a suite behind it in the queue may go
 * first meanwhile.
 */
void
schedule(void)
{
	long long now = ci_mono_ms();

	for (;;) {
		int k = -1, pending = 0, alone = 0;

		for (int i = 0; i < tp.nqueue; i++) {
			struct suite *q = &tp.suites[tp.queue[i]];
			if (!may_start(q))
				continue;
			if (tp.parallel && !tp.phase2 && q->alone) {
				alone = 1;
				continue;
			}
			pending = 1;
			if (k < 0 && q->not_before <= now)
				k = i;
		}
		if (tp.parallel && !tp.phase2) {
			if (!pending) {
				if (tp.running > 0 || !alone)
					return;
				tp.phase2 = 1;
				continue;
			}
			if (tp.running >= tp.jobs)
				return;
		} else if (tp.running > 0) {
			return;
		}
		if (k < 0)
			return;
		struct suite *s = &tp.suites[tp.queue[k]];
		memmove(tp.queue + k, tp.queue + k + 1,
			(tp.nqueue - k - 1) * sizeof *tp.queue);
		tp.nqueue--;
		if (tp.parallel && !tp.phase2)
			start(s, 1, 0, NULL);
		else if (tp.parallel)
			start(s, 0, 1, s->why);
		else
			start(s, 0, tp.start_why != NULL, tp.start_why);
	}
}

/*
 * Whether a queued suite may still start: not after a signal; after
 * --fail-fast stopped the run, only the retry of a suite already started,
 * whose outcome is not known yet.
 */
static int
may_start(const struct suite *s)
{
	return !tp.interrupted && (!tp.stop_why[0] || s->attempts > 0);
}

/*
 * When the next queued suite of this phase may start, at the earliest now,
 * or only later ones; -1 when none may.
 */
static long long
next_start(long long now, int later)
{
	long long next = -1;

	for (int i = 0; i < tp.nqueue; i++) {
		const struct suite *s = &tp.suites[tp.queue[i]];
		long long t = s->not_before > now ? s->not_before : now;
		if (!may_start(s) || (later && s->not_before <= now) ||
		    (tp.parallel && !tp.phase2 && s->alone))
			continue;
		if (next < 0 || t < next)
			next = t;
	}
	return next;
}

void
start(struct suite *s, int parallel, int fallback, const char *why)
{
	struct attempt *a = tp.slots;
	struct ci_spawn sp = { 0 };

	while (a->used)
		a++;
	memset(a, 0, sizeof *a);
	a->used = 1;
	a->s = s;
	a->number = ++s->attempts;
	a->parallel = parallel;
	a->fallback = fallback;
	a->why = why;
	a->spool = -1;
	snprintf(a->env[0], sizeof a->env[0], "CI_TEST_TYPE=%s", s->type);
	snprintf(a->env[1], sizeof a->env[1], "CI_TEST_ATTEMPT=%d", a->number);
	snprintf(a->env[2], sizeof a->env[2], "CI_STEP=%s", s->step);
	for (int i = 0; i < 3; i++)
		a->envp[i] = a->env[i];
	sp.shell_cmd = s->cmd;
	sp.env_add = a->envp;
	sp.capture = sp.merge = sp.stdin_null = sp.lazy_exec = 1;
	tp.running++;
	tp.nattempts++;
	a->t0 = ci_mono_ms();
	a->rt0 = ci_now();
	if (ci_proc_start(&a->p, &sp) < 0) {
		a->start_errno = errno;
		a->reaped = a->eof = 1;
		finish(a);
		return;
	}
	if (suite_timeout(s) > 0)
		a->timeout_at = a->t0 + suite_timeout(s);
	tp.status_at = 0; /* redraw now */
}

/* Bytes from the self-pipe: exits, and signals to pass on to the suites. */
void
on_signals(int fd)
{
	unsigned char sigs[64];
	ssize_t n;
	long long now = ci_mono_ms();

	while ((n = read(fd, sigs, sizeof sigs)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			int sig = sigs[i];
			if (sig == SIGCHLD)
				continue;
			if (tp.interrupted) {
				/* Again: the next step of TERM, KILL now. */
				for (int j = 0; j < tp.jobs; j++)
					if (tp.slots[j].used &&
					    tp.slots[j].kill_at)
						tp.slots[j].kill_at = now;
				continue;
			}
			tp.interrupted = sig;
			for (int j = 0; j < tp.jobs; j++) {
				struct attempt *a = &tp.slots[j];
				if (!a->used || a->reaped)
					continue;
				a->intr = sig;
				ci_proc_kill(&a->p, sig);
				a->timeout_at = 0;
				a->next_sig =
				    sig == SIGTERM ? SIGKILL : SIGTERM;
				a->kill_at = now + GRACE_MS;
			}
		}
	}
}

/*
 * Reap every child that ended: a suite's shell, or an orphan of a suite
 * that came to us as its subreaper. A suite whose shell ended while
 * processes of its group live on has them stopped: TERM, then KILL.
 */
void
reap(void)
{
	siginfo_t si;

	for (;;) {
		struct attempt *a = NULL;

		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid == 0)
			return;
		for (int i = 0; i < tp.jobs; i++)
			if (tp.slots[i].used && !tp.slots[i].reaped &&
			    tp.slots[i].p.pid == si.si_pid)
				a = &tp.slots[i];
		if (!a) {
			waitpid(si.si_pid, NULL, WNOHANG);
			continue;
		}
		ci_proc_reap(&a->p, 1);
		a->reaped = 1;
		a->timeout_at = 0;
		if (ci_proc_group_alive(&a->p)) {
			ci_proc_kill(&a->p, SIGTERM);
			a->next_sig = SIGKILL;
			a->kill_at = ci_mono_ms() + GRACE_MS;
		}
	}
}

/*
 * Read what a suite wrote: 1 when there was something, 0 when nothing more
 * is there for now, -1 at the end (or an error) of its output.
 */
int
read_output(struct attempt *a)
{
	static char block[64 * 1024];
	ssize_t n;

	if (a->eof)
		return -1;
	while ((n = read(a->p.out, block, sizeof block)) < 0 && errno == EINTR)
		;
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0) {
		close(a->p.out);
		a->p.out = -1;
		a->eof = 1;
		ci_lines_finish(&a->lines, on_line, a);
	} else {
		ci_lines_feed(&a->lines, block, (size_t)n, on_line, a);
	}
	if (tp.output == OUT_GROUPED && n > 0) {
		if (a->spool < 0 && a->mem.len + (size_t)n > SPOOL_MEM &&
		    !a->truncated) {
			const char *dir = getenv("TMPDIR");
			char path[4096];
			snprintf(path, sizeof path, "%s/ci-testpar.XXXXXX",
				 dir && *dir ? dir : "/tmp");
			if ((a->spool = mkostemp(path, O_CLOEXEC)) >= 0)
				unlink(path);
			else
				a->truncated = 1;
		}
		if (a->spool >= 0) {
			if (ci_write_all(a->spool, block, (size_t)n) < 0) {
				close(a->spool);
				a->spool = -1;
				a->truncated = 1;
			}
		} else if (!a->truncated) {
			ci_buf_add(&a->mem, block, (size_t)n);
		}
	} else if (tp.output == OUT_PREFIXED && a->mem.len > 0) {
		out_write(a->mem.s, a->mem.len);
		a->mem.len = 0;
	}
	return n > 0 ? 1 : -1;
}

/*
 * Each line of a suite's output: TAP's "not ok" lines (less # TODO and
 * # SKIP) are failed tests; a fork that failed for lack of resources is a
 * sign of contention; in prefixed mode, the line is queued whole.
 */
void
on_line(void *arg, const char *line, size_t len, int continued)
{
	struct attempt *a = arg;
	const char *hash;

	if (!a->in_long) {
		tap_case(a, line, len);
		if (len >= 6 && memcmp(line, "not ok", 6) == 0 &&
		    (len == 6 || line[6] == ' ')) {
			hash = memchr(line, '#', len);
			if (!hash ||
			    (strncasecmp(hash + 1 + strspn(hash + 1, " "),
					 "todo", 4) != 0 &&
			     strncasecmp(hash + 1 + strspn(hash + 1, " "),
					 "skip", 4) != 0))
				a->notok++;
		}
		if (memmem(line, len, "Cannot fork", 11) ||
		    (memmem(line, len, "fork", 4) &&
		     memmem(line, len, "Resource temporarily unavailable", 32)))
			a->forkfail = 1;
	}
	a->in_long = continued;
	if (tp.output == OUT_PREFIXED) {
		ci_buf_printf(&a->mem, "[%s] ", a->s->type);
		ci_buf_add(&a->mem, line, len);
		ci_buf_add(&a->mem, "\n", 1);
	}
}

/* Whether s[0..n) starts with word w, then a space or its end. */
static int
word(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && strncasecmp(s, w, k) == 0 && (n == k || s[k] == ' ');
}

/*
 * A TAP test line, "ok N - name # SKIP why" or "not ok N name", is a case;
 * bats --timing's " in 12ms" is its duration. The diagnostics after a
 * failed one (lines of "#" or of YAML, indented) are its message.
 */
static void
tap_case(struct attempt *a, const char *line, size_t len)
{
	const char *p = line, *end = line + len, *h, *dir = NULL;
	int failed, status;
	long long ms = -1;

	if (!word(p, len, "ok") && !word(p, len, "not ok")) {
		size_t skip = len && line[0] == '#';
		skip += skip && len > 1 && line[1] == ' ';
		if (a->tap_failed && len && (line[0] == '#' || line[0] == ' '))
			ci_case_message(&a->tap, a->tap_failed, line + skip,
					len - skip);
		else
			a->tap_failed = NULL;
		return;
	}
	failed = line[0] == 'n';
	p += failed ? 6 : 2;
	while (p < end && *p == ' ')
		p++;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	while (p < end && *p == ' ')
		p++;
	if (end - p >= 2 && p[0] == '-' && p[1] == ' ')
		p += 2;
	/* The directive: the last " # SKIP" or " # TODO". */
	for (h = end; h > p; h--)
		if (h[-1] == '#' && (h - 1 == p || h[-2] == ' ')) {
			const char *w = h;
			while (w < end && *w == ' ')
				w++;
			if (end - w >= 4 &&
			    (strncasecmp(w, "skip", 4) == 0 ||
			     strncasecmp(w, "todo", 4) == 0)) {
				dir = h - 1;
				break;
			}
		}
	status = dir ? CI_CASE_SKIPPED
	    : failed ? CI_CASE_FAILED
		     : CI_CASE_PASSED;
	h = dir ? dir : end;
	while (h > p && h[-1] == ' ')
		h--;
	if (h - p > 6 && h[-1] == 's' && h[-2] == 'm') {
		const char *d = h - 2;
		while (d > p && d[-1] >= '0' && d[-1] <= '9')
			d--;
		if (d < h - 2 && d - p > 4 && memcmp(d - 4, " in ", 4) == 0) {
			ms = strtoll(d, NULL, 10);
			h = d - 4;
		}
	}
	a->tap_failed =
	    ci_cases_add(&a->tap, p, (size_t)(h - p), NULL, 0, status, ms);
	if (status != CI_CASE_FAILED)
		a->tap_failed = NULL;
}

/* Timeouts, and the next signal for suites being stopped. */
void
deadlines(long long now)
{
	for (int i = 0; i < tp.jobs; i++) {
		struct attempt *a = &tp.slots[i];
		if (!a->used)
			continue;
		if (a->timeout_at && now >= a->timeout_at) {
			a->timed_out = 1;
			a->timeout_at = 0;
			ci_proc_kill(&a->p, SIGTERM);
			a->next_sig = SIGKILL;
			a->kill_at = now + GRACE_MS;
		} else if (a->kill_at && now >= a->kill_at) {
			if (a->next_sig) {
				ci_proc_kill(&a->p, a->next_sig);
				a->next_sig =
				    a->next_sig == SIGKILL ? 0 : SIGKILL;
				a->kill_at = now + GRACE_MS;
			} else {
				/* Past KILL: let the pipe go once reaped. */
				a->give_up = 1;
				a->kill_at = 0;
			}
		}
	}
}

/* "; failing: a, b, ... and N more": the first 10 failed cases. */
static void
failing_names(struct ci_buf *b, const struct ci_cases *c)
{
	long shown = 0, failed = ci_cases_failed(c) + c->omitted_failed;

	if (failed == 0)
		return;
	ci_buf_str(b, "; failing: ");
	for (size_t i = 0; i < c->n && shown < 10; i++) {
		if (c->v[i].status != CI_CASE_FAILED)
			continue;
		ci_buf_str(b, shown++ ? ", " : "");
		ci_case_fullname(b, &c->v[i]);
	}
	if (failed > shown)
		ci_buf_printf(b, " and %ld more", failed - shown);
}

/* The attempt is over: its record, its output, and what comes next. */
void
finish(struct attempt *a)
{
	struct suite *s = a->s;
	struct ci_entry e;
	struct ci_buf msg = { 0 }, how = { 0 }, note = { 0 };
	struct ci_cases junit = { 0 }, *cases = NULL;
	struct timespec end;
	long long ms;
	int sig = 0, code = -1, ok, contention, retry, counted = 1;
	long count = 0;

	while (read_output(a) > 0)
		;
	if (!a->eof) { /* the pipe is held by a process we let go */
		ci_lines_finish(&a->lines, on_line, a);
		a->eof = 1;
	}
	end = ci_now();
	ms = ci_mono_ms() - a->t0;
	if (a->start_errno) {
		ci_buf_printf(&how, "cannot start: %s",
			      strerror(a->start_errno));
	} else {
		code = ci_exit_code(&a->p);
		sig = WIFSIGNALED(a->p.status) ? WTERMSIG(a->p.status) : 0;
		if (a->timed_out)
			ci_buf_printf(&how, "timed out after %lld s, ",
				      suite_timeout(s) / 1000);
		else if (a->intr)
			ci_buf_printf(&how, "interrupted by SIG%s, ",
				      sigabbrev_np(a->intr));
		ci_describe_status(&how, &a->p);
		if (a->forkfail && code != 0)
			ci_buf_str(&how, " after a fork failed");
	}
	ok = code == 0 && !a->timed_out && !a->intr;
	contention = !ok && !a->timed_out && !a->intr &&
	    (a->start_errno == EAGAIN || a->start_errno == ENOMEM ||
	     sig == SIGKILL || code == 137 || a->forkfail);
	/* The cases of the report, else of TAP, else none. */
	if (s->junit && !a->start_errno &&
	    junit_read(s->junit, &a->rt0, &note, &junit) >= 0)
		cases = &junit;
	else if (a->tap.n > 0 || a->tap.omitted > 0)
		cases = &a->tap;
	if (!ok) {
		/* The report, else TAP, else the suite itself: 1. */
		if (cases == &junit)
			count = ci_cases_failed(&junit) + junit.omitted_failed;
		if (count <= 0 && a->notok > 0)
			count = (long)a->notok;
		if (count <= 0)
			count = 1, counted = 0;
	}
	retry = !ok && !tp.interrupted && a->number <= suite_retries(s);

	/* "unit failed (attempt 1 of 2, 0.4 s, in parallel): exited ..." */
	ci_buf_printf(&msg, "%s %s (attempt %d of %d, %lld.%lld s, %s)",
		      s->type, ok ? "passed" : "failed", a->number,
		      suite_retries(s) + 1, ms / 1000, ms % 1000 / 100,
		      a->parallel ? "in parallel" : "alone");
	if (ok && a->number > 1)
		ci_buf_str(&msg, ": flaky, passed on a retry");
	if (!ok) {
		ci_buf_printf(&msg, ": %s", how.s);
		if (counted)
			ci_buf_printf(&msg, ", %ld test%s failed", count,
				      count == 1 ? "" : "s");
		if (contention)
			ci_buf_str(&msg, ", a sign of contention");
	}
	if (a->fallback && a->why)
		ci_buf_printf(&msg, "; serial fallback: %s", a->why);
	if (note.len && !ok)
		ci_buf_printf(&msg, "; %s", note.s);
	if (!ok && cases)
		failing_names(&msg, cases);
	if (retry && contention && tp.parallel && !tp.phase2) {
		ci_buf_str(&msg, "; will retry alone after the parallel batch");
		if (!s->alone)
			snprintf(s->why, sizeof s->why,
				 "attempt %d showed contention: %s", a->number,
				 how.s);
		s->alone = 1;
	} else if (retry) {
		ci_buf_str(&msg, "; will retry");
	}
	if (retry && tp.retry_delay_ms > 0)
		ci_buf_printf(&msg, " in %g s",
			      (double)tp.retry_delay_ms / 1000);

	ci_entry_init(&e, tp.run_id, s->step);
	CI_FROM_CALLER(&e);
	e.when = end;
	/* A failure that will be retried is a warning: only the last is an
	 * error. */
	e.level = !ok       ? (retry ? "warn" : "error")
	    : a->number > 1 ? "warn"
			    : "info";
	e.message = msg.s;
	e.message_len = msg.len;
	e.duration_ms = ms;
	e.exit_code = code;
	emit(msg.s, msg.len, a);
	record(&e, a->number, ok ? "passed" : "failed", ok ? 0 : count,
	       a->rt0.tv_sec, a->parallel, a->fallback, cases);

	if (ok) {
		s->passed = 1;
		tp.passed++;
		tp.flaky += a->number > 1;
	} else if (retry) {
		s->not_before = ci_mono_ms() + tp.retry_delay_ms;
		tp.queue[tp.nqueue++] = (int)(s - tp.suites);
	} else {
		tp.failed++;
		/* The first last failure stops the starts: the suites
		 * running go on to their end, their results real. */
		if (tp.fail_fast && !tp.stop_why[0])
			snprintf(tp.stop_why, sizeof tp.stop_why,
				 "--fail-fast after %s failed", s->type);
	}
	ci_buf_free(&msg);
	ci_buf_free(&how);
	ci_buf_free(&note);
	ci_cases_free(&junit);
	cleanup(a);
}

void
cleanup(struct attempt *a)
{
	if (a->p.out >= 0)
		close(a->p.out);
	if (a->spool >= 0)
		close(a->spool);
	ci_lines_free(&a->lines);
	ci_cases_free(&a->tap);
	ci_buf_free(&a->mem);
	a->used = 0;
	tp.running--;
}
