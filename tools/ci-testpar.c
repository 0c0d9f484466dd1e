/*
 * ci-testpar: run test suites side by side, each under /bin/sh -c in its own
 * process group; retry a failed suite; fall back to one suite at a time when
 * the machine is short of memory or CPU; write one log entry per attempt
 * with its Test Execution record.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <expat.h>

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

static struct {
	struct suite *suites;
	int nsuites;
	struct attempt *slots;
	int jobs, retries, output, parallel, phase2, running;
	long long timeout_ms;
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
} R;

static void parse_suites(int argc, char **argv);
static void parse_junit(const char *arg);
static void check_contention(long long min_mb, double max_load);
static void run(void);
static void schedule(void);
static void start(struct suite *s, int parallel, int fallback, const char *why);
static void on_signals(int fd);
static void reap(void);
static int read_output(struct attempt *a);
static void on_line(void *arg, const char *line, size_t len, int continued);
static void deadlines(long long now);
static void finish(struct attempt *a);
static void tap_case(struct attempt *a, const char *line, size_t len);
static long junit_read(const char *path, const struct timespec *since,
		       struct ci_buf *note, struct ci_cases *cases);
static void failing_names(struct ci_buf *b, const struct ci_cases *c);
static void emit(const char *msg, size_t msglen, struct attempt *a);
static void log_entry(struct ci_entry *e);
static void record_skipped(struct suite *s);
static void record(struct ci_entry *e, int number, const char *status,
		   long count, time_t started, int parallel, int fallback,
		   const struct ci_cases *cases);
static void out_write(const void *p, size_t n);
static void status_line(long long now);
static void cleanup(struct attempt *a);

static void
usage(FILE *f)
{
	fputs("usage: ci-testpar [-j N] [--retries N] [--serial] "
	      "[--timeout SEC] [--min-free-mb MB] [--max-load X] "
	      "[--output grouped|prefixed|quiet] [--junit TYPE=PATH ...] "
	      "TYPE=COMMAND ...\n",
	      f);
}

enum {
	OPT_JUNIT = 256,
	OPT_MAXLOAD,
	OPT_MINFREE,
	OPT_OUTPUT,
	OPT_RETRIES,
	OPT_SERIAL,
	OPT_TIMEOUT,
	OPT_VERSION,
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "junit", required_argument, NULL, OPT_JUNIT },
		{ "max-load", required_argument, NULL, OPT_MAXLOAD },
		{ "min-free-mb", required_argument, NULL, OPT_MINFREE },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "serial", no_argument, NULL, OPT_SERIAL },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char **junit = NULL, *term;
	long long min_mb = 512;
	double max_load = 2.0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int c, njunit = 0, serial = 0;

	ci_init(argv[0]);
	R.jobs = cpus < 1 ? 1 : cpus > MAX_JOBS ? MAX_JOBS : (int)cpus;
	R.retries = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hj:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return xfinish_stdout();
		case 'j':
			R.jobs = (int)xnum("-j", optarg, 1, MAX_JOBS);
			break;
		case OPT_JUNIT:
			junit = xrealloc(junit, (njunit + 1) * sizeof *junit);
			junit[njunit++] = optarg;
			break;
		case OPT_MAXLOAD:
			max_load = xdecimal("--max-load", optarg, 0, 1e6);
			break;
		case OPT_MINFREE:
			min_mb = xnum("--min-free-mb", optarg, 0, 1LL << 40);
			break;
		case OPT_OUTPUT:
			if (strcmp(optarg, "grouped") == 0)
				R.output = OUT_GROUPED;
			else if (strcmp(optarg, "prefixed") == 0)
				R.output = OUT_PREFIXED;
			else if (strcmp(optarg, "quiet") == 0)
				R.output = OUT_QUIET;
			else
				ci_usage_error("--output: \"%s\" is not an "
					       "output mode (expected "
					       "grouped, prefixed or quiet)",
					       optarg);
			break;
		case OPT_RETRIES:
			R.retries = (int)xnum("--retries", optarg, 0, 100);
			break;
		case OPT_SERIAL:
			serial = 1;
			break;
		case OPT_TIMEOUT:
			R.timeout_ms =
			    xnum("--timeout", optarg, 0, 604800) * 1000;
			break;
		case OPT_VERSION:
			ci_version();
		default:
			ci_bad_option(c, argc, argv);
		}
	}
	parse_suites(argc - optind, argv + optind);
	for (int i = 0; i < njunit; i++)
		parse_junit(junit[i]);
	free(junit);
	if (serial)
		R.jobs = 1;

	R.run_id = xrunid_env();
	xlog_open(&R.log, ci_log_path(NULL), 1);
	R.out_fd = R.log.is_file ? 1 : 2; /* never into the NDJSON */
	R.github = R.log.github;
	term = getenv("TERM");
	R.tty = isatty(2) && !(term && strcmp(term, "dumb") == 0);
	if (R.jobs > 1)
		check_contention(min_mb, max_load);
	R.parallel = R.jobs > 1 && !R.start_why;
	run();

	if (R.nsuites > 1 || R.skipped > 0) {
		struct ci_buf b = { 0 };
		ci_buf_printf(&b, "==> %d suites: %d passed", R.nsuites,
			      R.passed);
		if (R.flaky)
			ci_buf_printf(&b, " (%d flaky)", R.flaky);
		ci_buf_printf(&b, ", %d failed, %d skipped; %d attempts\n",
			      R.failed, R.skipped, R.nattempts);
		out_write(b.s, b.len);
		ci_buf_free(&b);
	}
	if (R.interrupted) {
		/* Die of the same signal, so that the calling shell stops. */
		sigset_t set;
		signal(R.interrupted, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, R.interrupted);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(R.interrupted);
	}
	if (R.log_failed)
		return CI_EXIT_ENV;
	if (R.failed > 0 || R.skipped > 0)
		return CI_EXIT_TESTS;
	return R.out_failed ? 1 : 0;
}

/* TYPE=COMMAND: TYPE as test_type in log-schema.json, each once. */
static void
parse_suites(int argc, char **argv)
{
	if (argc == 0)
		ci_usage_error("no suites: expected TYPE=COMMAND arguments");
	R.suites = xmalloc(argc * sizeof *R.suites);
	R.queue = xmalloc(argc * sizeof *R.queue);
	for (int i = 0; i < argc; i++) {
		struct suite *s = &R.suites[i];
		char *eq = strchr(argv[i], '=');
		size_t n = eq ? (size_t)(eq - argv[i]) : 0;

		memset(s, 0, sizeof *s);
		if (!eq)
			ci_usage_error("\"%.64s\" is not TYPE=COMMAND",
				       argv[i]);
		*eq = '\0';
		s->type = argv[i];
		s->cmd = eq + 1;
		if (n == 0 || n > 32 || s->type[0] < 'a' || s->type[0] > 'z' ||
		    s->type[strspn(s->type,
				   "abcdefghijklmnopqrstuvwxyz"
				   "0123456789_-")] != '\0')
			ci_usage_error(
			    "suite type \"%.64s\": expected 1 to 32 lowercase "
			    "letters, digits, - or _, starting with a letter",
			    s->type);
		if (!*s->cmd)
			ci_usage_error("suite %s: the command is empty",
				       s->type);
		for (int j = 0; j < i; j++)
			if (strcmp(R.suites[j].type, s->type) == 0)
				ci_usage_error("suite %s is given twice",
					       s->type);
		snprintf(s->step, sizeof s->step, "test-%s", s->type);
		R.queue[R.nqueue++] = i;
	}
	R.nsuites = argc;
}

/* --junit TYPE=PATH: where the suite TYPE writes its JUnit XML report. */
static void
parse_junit(const char *arg)
{
	const char *eq = strchr(arg, '=');
	int n = eq ? (int)(eq - arg) : 0;

	if (!eq || n == 0 || !eq[1])
		ci_usage_error("--junit: \"%.64s\" is not TYPE=PATH", arg);
	for (int i = 0; i < R.nsuites; i++) {
		struct suite *s = &R.suites[i];
		if (strncmp(s->type, arg, n) != 0 || s->type[n] != '\0')
			continue;
		if (s->junit)
			ci_usage_error("--junit: suite %s has two reports",
				       s->type);
		s->junit = eq + 1;
		return;
	}
	ci_usage_error("--junit: no suite %.*s among the TYPE=COMMAND "
		       "arguments",
		       n > 64 ? 64 : n, arg);
}

/*
 * Before the start: too little memory available, or a 1-minute load per
 * processor too high, runs every suite alone. A check that cannot read its
 * /proc file is skipped.
 */
static void
check_contention(long long min_mb, double max_load)
{
	char line[256];
	long long kb = -1;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double load;
	FILE *f;

	if (min_mb > 0 && (f = fopen("/proc/meminfo", "re"))) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
				break;
		fclose(f);
		if (kb >= 0 && kb / 1024 < min_mb) {
			snprintf(R.start_buf, sizeof R.start_buf,
				 "MemAvailable is %lld MB, below "
				 "--min-free-mb %lld",
				 kb / 1024, min_mb);
			R.start_why = R.start_buf;
			return;
		}
	}
	if (max_load > 0 && (f = fopen("/proc/loadavg", "re"))) {
		if (fscanf(f, "%lf", &load) == 1 && cpus > 0 &&
		    load / cpus > max_load) {
			snprintf(R.start_buf, sizeof R.start_buf,
				 "the 1-minute load is %.2f per processor, "
				 "above --max-load %g",
				 load / cpus, max_load);
			R.start_why = R.start_buf;
		}
		fclose(f);
	}
}

/* One poll loop: output, signals, exits and deadlines. */
static void
run(void)
{
	struct pollfd *fds = xmalloc((R.jobs + 1) * sizeof *fds);
	struct attempt **who = xmalloc((R.jobs + 1) * sizeof *who);
	int sigfd = ci_signal_pipe();

	/* Orphans of a suite become ours: we see them end, and reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	R.slots = xmalloc(R.jobs * sizeof *R.slots);
	memset(R.slots, 0, R.jobs * sizeof *R.slots);
	for (;;) {
		long long now = ci_mono_ms(), next = -1;
		int nfds = 1, timeout;

		schedule();
		if (R.running == 0)
			break;
		fds[0] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		for (int i = 0; i < R.jobs; i++) {
			struct attempt *a = &R.slots[i];
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
		if (R.tty && (next < 0 || R.status_at + 1000 < next))
			next = R.status_at + 1000;
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
		for (int i = 0; i < R.jobs; i++) {
			struct attempt *a = &R.slots[i];
			if (a->used && a->reaped &&
			    (a->eof || a->give_up ||
			     !ci_proc_group_alive(&a->p)))
				finish(a);
		}
		if (R.tty)
			status_line(ci_mono_ms());
	}
	if (R.status_shown)
		out_write("", 0);
	for (int i = 0; i < R.nqueue; i++) {
		if (R.suites[R.queue[i]].attempts == 0)
			record_skipped(&R.suites[R.queue[i]]);
		else
			R.failed++; /* its retry never started */
	}
	free(fds);
	free(who);
	free(R.slots);
}

/*
 * Start what may start. In parallel, the first attempts and ordinary retries
 * share the job slots; suites that failed for contention wait until that
 * batch is over, then run one at a time. Otherwise one at a time throughout.
 */
static void
schedule(void)
{
	while (!R.interrupted && R.nqueue > 0) {
		int k = 0;

		if (R.parallel && !R.phase2) {
			while (k < R.nqueue && R.suites[R.queue[k]].alone)
				k++;
			if (k == R.nqueue) {
				if (R.running > 0)
					return;
				R.phase2 = 1;
				continue;
			}
			if (R.running >= R.jobs)
				return;
		} else if (R.running > 0) {
			return;
		}
		struct suite *s = &R.suites[R.queue[k]];
		memmove(R.queue + k, R.queue + k + 1,
			(R.nqueue - k - 1) * sizeof *R.queue);
		R.nqueue--;
		if (R.parallel && !R.phase2)
			start(s, 1, 0, NULL);
		else if (R.parallel)
			start(s, 0, 1, s->why);
		else
			start(s, 0, R.start_why != NULL, R.start_why);
	}
}

static void
start(struct suite *s, int parallel, int fallback, const char *why)
{
	struct attempt *a = R.slots;
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
	R.running++;
	R.nattempts++;
	a->t0 = ci_mono_ms();
	a->rt0 = ci_now();
	if (ci_proc_start(&a->p, &sp) < 0) {
		a->start_errno = errno;
		a->reaped = a->eof = 1;
		finish(a);
		return;
	}
	if (R.timeout_ms > 0)
		a->timeout_at = a->t0 + R.timeout_ms;
	R.status_at = 0; /* redraw now */
}

/* Bytes from the self-pipe: exits, and signals to pass on to the suites. */
static void
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
			if (R.interrupted) {
				/* Again: the next step of TERM, KILL now. */
				for (int j = 0; j < R.jobs; j++)
					if (R.slots[j].used &&
					    R.slots[j].kill_at)
						R.slots[j].kill_at = now;
				continue;
			}
			R.interrupted = sig;
			for (int j = 0; j < R.jobs; j++) {
				struct attempt *a = &R.slots[j];
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
static void
reap(void)
{
	siginfo_t si;

	for (;;) {
		struct attempt *a = NULL;

		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid == 0)
			return;
		for (int i = 0; i < R.jobs; i++)
			if (R.slots[i].used && !R.slots[i].reaped &&
			    R.slots[i].p.pid == si.si_pid)
				a = &R.slots[i];
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
static int
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
	if (R.output == OUT_GROUPED && n > 0) {
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
	} else if (R.output == OUT_PREFIXED && a->mem.len > 0) {
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
static void
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
	if (R.output == OUT_PREFIXED) {
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
static void
deadlines(long long now)
{
	for (int i = 0; i < R.jobs; i++) {
		struct attempt *a = &R.slots[i];
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

/* The attempt is over: its record, its output, and what comes next. */
static void
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
				      R.timeout_ms / 1000);
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
	retry = !ok && !R.interrupted && a->number <= R.retries;

	/* "unit failed (attempt 1 of 2, 0.4 s, in parallel): exited ..." */
	ci_buf_printf(&msg, "%s %s (attempt %d of %d, %lld.%lld s, %s)",
		      s->type, ok ? "passed" : "failed", a->number,
		      R.retries + 1, ms / 1000, ms % 1000 / 100,
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
	if (retry && contention && R.parallel && !R.phase2) {
		ci_buf_str(&msg, "; will retry alone after the parallel batch");
		if (!s->alone)
			snprintf(s->why, sizeof s->why,
				 "attempt %d showed contention: %s", a->number,
				 how.s);
		s->alone = 1;
	} else if (retry) {
		ci_buf_str(&msg, "; will retry");
	}

	ci_entry_init(&e, R.run_id, s->step);
	CI_FROM_CALLER(&e);
	e.when = end;
	e.level = !ok ? "error" : a->number > 1 ? "warn" : "info";
	e.message = msg.s;
	e.message_len = msg.len;
	e.duration_ms = ms;
	e.exit_code = code;
	emit(msg.s, msg.len, a);
	record(&e, a->number, ok ? "passed" : "failed", ok ? 0 : count,
	       a->rt0.tv_sec, a->parallel, a->fallback, cases);

	if (ok) {
		s->passed = 1;
		R.passed++;
		R.flaky += a->number > 1;
	} else if (retry) {
		R.queue[R.nqueue++] = (int)(s - R.suites);
	} else {
		R.failed++;
	}
	ci_buf_free(&msg);
	ci_buf_free(&how);
	ci_buf_free(&note);
	ci_cases_free(&junit);
	cleanup(a);
}

struct junit {
	struct ci_cases *cases;
	struct ci_case *k; /* the case being read, or NULL */
	int in_case, in_text; /* in a <testcase>; in its failure's text */
	struct ci_buf text; /* of the failure, its first bytes */
};

static const char *
attr(const XML_Char **attrs, const char *name)
{
	for (; attrs[0]; attrs += 2)
		if (strcmp(attrs[0], name) == 0)
			return attrs[1];
	return NULL;
}

static void XMLCALL
junit_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct junit *j = arg;
	const char *n, *c, *t;
	char *end;
	double sec;
	long long ms = -1;

	if (strcmp(name, "testcase") == 0) {
		n = attr(attrs, "name");
		if (!(c = attr(attrs, "classname")))
			c = attr(attrs, "file");
		if ((t = attr(attrs, "time"))) {
			sec = strtod(t, &end);
			if (end != t && !*end && sec >= 0 && sec < 1e9)
				ms = (long long)(sec * 1000 + 0.5);
		}
		j->in_case = 1;
		j->k = ci_cases_add(j->cases, n ? n : "", n ? strlen(n) : 0, c,
				    c ? strlen(c) : 0, CI_CASE_PASSED, ms);
	} else if (j->in_case &&
		   (strcmp(name, "failure") == 0 ||
		    strcmp(name, "error") == 0)) {
		if (!j->k) {
			j->cases->omitted_failed++;
			return;
		}
		if (j->k->status != CI_CASE_FAILED &&
		    (n = attr(attrs, "message")))
			ci_case_message(j->cases, j->k, n, strlen(n));
		j->k->status = CI_CASE_FAILED;
		j->in_text = 1;
	} else if (j->in_case && j->k && strcmp(name, "skipped") == 0 &&
		   j->k->status != CI_CASE_FAILED) {
		j->k->status = CI_CASE_SKIPPED;
	}
}

static void XMLCALL
junit_end(void *arg, const XML_Char *name)
{
	struct junit *j = arg;

	if (strcmp(name, "testcase") == 0)
		j->in_case = 0, j->k = NULL;
	else if (j->in_text &&
		 (strcmp(name, "failure") == 0 || strcmp(name, "error") == 0)) {
		ci_case_message(j->cases, j->k, j->text.s, j->text.len);
		j->text.len = 0;
		j->in_text = 0;
	}
}

static void XMLCALL
junit_text(void *arg, const XML_Char *s, int len)
{
	struct junit *j = arg;

	if (j->in_text && j->k && j->text.len < 2 * CI_CASE_TEXT)
		ci_buf_add(&j->text, s, (size_t)len);
}

/*
 * The cases of a JUnit XML report (a <testcase> with a <failure> or an
 * <error> failed, one with <skipped> skipped) into cases, and how many
 * failed; or -1 with a note saying why the report was not used: absent,
 * older than the attempt, not well-formed.
 */
static long
junit_read(const char *path, const struct timespec *since, struct ci_buf *note,
	   struct ci_cases *cases)
{
	struct junit j = { .cases = cases };
	struct stat st;
	XML_Parser xp;
	char buf[16384];
	ssize_t n;
	int fd, done = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		ci_buf_printf(note, "JUnit report %s: %s", path,
			      strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* File times lag the clock by a tick: allow 50 ms. */
	if ((long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 <
	    (long long)since->tv_sec * 1000 + since->tv_nsec / 1000000 - 50) {
		ci_buf_printf(
		    note, "JUnit report %s: not written by this attempt", path);
		close(fd);
		return -1;
	}
	if (!(xp = XML_ParserCreate(NULL)))
		ci_die(1, "out of memory");
	XML_SetUserData(xp, &j);
	XML_SetElementHandler(xp, junit_start, junit_end);
	XML_SetCharacterDataHandler(xp, junit_text);
	while (!done) {
		while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
			;
		if (n < 0) {
			ci_buf_printf(note, "JUnit report %s: %s", path,
				      strerror(errno));
			break;
		}
		done = n == 0;
		if (XML_Parse(xp, buf, (int)n, done) == XML_STATUS_ERROR) {
			ci_buf_printf(
			    note, "JUnit report %s: line %lu: %s", path,
			    (unsigned long)XML_GetCurrentLineNumber(xp),
			    XML_ErrorString(XML_GetErrorCode(xp)));
			break;
		}
	}
	XML_ParserFree(xp);
	close(fd);
	ci_buf_free(&j.text);
	if (note->len) {
		ci_cases_free(cases);
		return -1;
	}
	return ci_cases_failed(cases) + cases->omitted_failed;
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

/*
 * The result line (the entry's message), and in grouped mode the attempt's
 * whole output under it, folded on GitHub Actions. a is NULL for a suite
 * that never started.
 */
static void
emit(const char *msg, size_t msglen, struct attempt *a)
{
	int group = a && R.output == OUT_GROUPED;
	struct ci_buf b = { 0 };
	char buf[65536];
	char last = '\n';
	ssize_t n;

	if (a && R.output == OUT_PREFIXED && a->mem.len > 0)
		out_write(a->mem.s, a->mem.len);
	ci_buf_str(&b, group && R.github ? "::group::" : "==> ");
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
		while ((n = read(a->spool, buf, sizeof buf)) > 0) {
			out_write(buf, (size_t)n);
			last = buf[n - 1];
		}
	}
	if (last != '\n')
		ci_buf_add(&b, "\n", 1);
	if (group && a->truncated)
		ci_buf_str(&b, "[output cut: no room for a temporary file]\n");
	if (group && R.github)
		ci_buf_str(&b, "::endgroup::\n");
	out_write(b.s, b.len);
	ci_buf_free(&b);
}

/*
 * Append the entry. A closed standard output (EPIPE) stops the entries
 * quietly; another failure is said once and makes the exit status 4. The
 * suites go on either way: stopping here would leave them running.
 */
static void
log_entry(struct ci_entry *e)
{
	if (R.log_off)
		return;
	if (R.status_shown)
		out_write("", 0);
	ci_log_queue(&R.log, e);
	if (ci_log_flush(&R.log) == 0)
		return;
	R.log_off = 1;
	if (!R.log.is_file && errno == EPIPE)
		return;
	ci_warn("cannot write to %s: %s; no more entries",
		R.log.is_file ? R.log.path : "standard output",
		strerror(errno));
	R.log_failed = 1;
}

/* A suite the run was interrupted before: one entry, status skipped. */
static void
record_skipped(struct suite *s)
{
	struct ci_entry e;
	struct ci_buf msg = { 0 };

	ci_buf_printf(&msg,
		      "%s skipped: interrupted by SIG%s before it started",
		      s->type, sigabbrev_np(R.interrupted));
	ci_entry_init(&e, R.run_id, s->step);
	CI_FROM_CALLER(&e);
	e.when = ci_now();
	e.level = "warn";
	e.message = msg.s;
	e.duration_ms = 0;
	emit(msg.s, msg.len, NULL);
	record(&e, 1, "skipped", 0, e.when.tv_sec, R.parallel,
	       R.start_why != NULL, NULL);
	R.skipped++;
	ci_buf_free(&msg);
}

/* Append the entry with its Test Execution, ending at e->when. */
static void
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
 * when the entries go to standard output. The status line is erased first.
 * A closed output (EPIPE) is dropped quietly; another failure is said once.
 */
static void
out_write(const void *p, size_t n)
{
	if (R.status_shown) {
		(void)ci_write_all(2, "\r\033[K", 4);
		R.status_shown = 0;
		R.status_at = 0;
	}
	if (R.out_closed || n == 0)
		return;
	if (ci_write_all(R.out_fd, p, n) == 0)
		return;
	if (errno != EPIPE) {
		ci_warn("%s: %s; suite output dropped",
			R.out_fd == 1 ? "standard output" : "standard error",
			strerror(errno));
		R.out_failed = 1;
	}
	R.out_closed = 1;
}

/* On a terminal: one line, redrawn each second, of the suites running. */
static void
status_line(long long now)
{
	struct ci_buf b = { 0 };
	struct winsize ws;
	size_t cols = 80;

	if (now - R.status_at < 1000 && R.status_shown)
		return;
	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		cols = ws.ws_col;
	ci_buf_str(&b, "\r\033[K");
	for (int i = 0; i < R.jobs; i++) {
		struct attempt *a = &R.slots[i];
		if (a->used)
			ci_buf_printf(&b, "%s[%s #%d %llds]",
				      b.len > 4 ? " " : "", a->s->type,
				      a->number, (now - a->t0) / 1000);
	}
	if (R.nqueue > 0)
		ci_buf_printf(&b, " +%d waiting", R.nqueue);
	if (b.len - 4 > cols - 1)
		b.len = 4 + cols - 1;
	(void)ci_write_all(2, b.s, b.len);
	ci_buf_free(&b);
	R.status_shown = 1;
	R.status_at = now;
}

static void
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
	R.running--;
}
