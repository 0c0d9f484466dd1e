/*
 * ci-step: run a command as a named, timed pipeline step, with a start and
 * a completion entry in the run's log; open the run with `init` and close
 * it with `complete`, which rebuilds the Pipeline Run record from the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ci.h"

/* How long a command gets after a forwarded signal or a timeout's SIGTERM. */
#define GRACE_MS 5000
/* ci-step's status when --timeout ended the command, as timeout(1). */
#define TIMED_OUT 124

struct capture {
	struct ci_line_sink sink;
	struct ci_lines lines;
	int fd, to; /* read from, copy to */
};

static int do_init(int argc, char **argv);
static int do_step(int argc, char **argv);
static int do_complete(int argc, char **argv);
static int failed_step_status(const struct ci_run *r, int code);
static void group(const char *name, int start);
static void quote_args(struct ci_buf *b, char **argv);
static void run_loop(struct ci_proc *p, struct capture *cap, int ncap,
		     long long timeout_ms, int *timed_out, int *signalled);
static ssize_t pump(struct capture *c);
static void drain(struct capture *c, int wait_ms);
static struct ci_run *read_run(const char *path, const char *run_id,
			       struct ci_runs *rs);

static void
usage(FILE *f)
{
	fputs("usage: ci-step init [--profile dev | ui | full] [--trigger CLI "
	      "| TUI]\n"
	      "       ci-step NAME [--timeout SEC] [--capture [--stderr-level "
	      "LEVEL]] [--] COMMAND [ARG ...]\n"
	      "       ci-step complete [--exit-code N] [--exit]\n",
	      f);
}

int
main(int argc, char **argv)
{
	ci_init(argv[0]);
	if (argc < 2)
		ci_usage_error("missing a step NAME, init or complete");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return xfinish_stdout();
	}
	if (strcmp(argv[1], "--version") == 0)
		ci_version();
	if (argv[1][0] == '-')
		ci_usage_error(
		    "%s: unknown option; the first argument is a step "
		    "NAME, init or complete",
		    argv[1]);
	if (strcmp(argv[1], "init") == 0)
		return do_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "complete") == 0)
		return do_complete(argc - 1, argv + 1);
	return do_step(argc - 1, argv + 1);
}

/* Options common to the three forms: --help and --version. */
static void
common_option(int c, int argc, char **argv)
{
	if (c == 'h') {
		usage(stdout);
		exit(xfinish_stdout());
	}
	if (c == 'V')
		ci_version();
	ci_bad_option(c, argc, argv);
}

/* init: the entry that opens the run and carries its start. */
static int
do_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "profile", required_argument, NULL, 'p' },
		{ "trigger", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *profile = "dev", *trigger = "CLI";
	struct ci_buf extra = { 0 }, msg = { 0 };
	struct ci_entry e;
	struct ci_log log;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'p')
			profile = optarg;
		else if (c == 't')
			trigger = optarg;
		else
			common_option(c, argc, argv);
	}
	if (optind < argc)
		ci_usage_error("init: unexpected argument \"%s\"",
			       argv[optind]);
	if (strcmp(profile, "dev") && strcmp(profile, "ui") &&
	    strcmp(profile, "full"))
		ci_usage_error("--profile: \"%s\" is not a profile (expected "
			       "dev, ui or full)",
			       profile);
	if (strcmp(trigger, "CLI") && strcmp(trigger, "TUI"))
		ci_usage_error(
		    "--trigger: \"%s\" is not a trigger (expected CLI "
		    "or TUI)",
		    trigger);
	ci_entry_init(&e, xrunid_env(), "init");
	xlog_open(&log, ci_log_path(NULL), 0);
	e.when = ci_now();
	CI_FROM_CALLER(&e);
	e.duration_ms = 0;
	e.exit_code = 0;
	ci_buf_printf(&extra,
		      "\"run_start\":{\"start_time\":%lld,\"profile\":\"%s\","
		      "\"triggered_by\":\"%s\"}",
		      (long long)e.when.tv_sec, profile, trigger);
	ci_buf_printf(&msg, "run started (profile %s, triggered by %s)",
		      profile, trigger);
	e.extra = extra.s;
	e.message = msg.s;
	xlog_write(&log, &e);
	xlog_close(&log);
	ci_buf_free(&extra);
	ci_buf_free(&msg);
	return xfinish_stdout();
}

static int
valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* NAME: a start entry, the command, a completion entry. */
static int
do_step(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "capture", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "stderr-level", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = argv[0], *level, *err_level = NULL;
	struct ci_buf msg = { 0 }, how = { 0 };
	struct capture cap[2];
	struct ci_entry e;
	struct ci_spawn sp = { 0 };
	struct ci_proc p;
	struct ci_log log;
	long long timeout_ms = 0, t0, ms;
	size_t nmask;
	char traceparent[sizeof "TRACEPARENT=" + CI_TRACEPARENT_LEN];
	char *env[] = { traceparent, NULL };
	int c, capture = 0, code, timed_out = 0, signalled = 0;

	if (!valid_name(name))
		ci_usage_error(
		    "\"%s\" is not a step name (no spaces or control "
		    "characters)",
		    name);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'c')
			capture = 1;
		else if (c == 's')
			err_level = ci_level_arg("--stderr-level", optarg);
		else if (c == 't')
			timeout_ms =
			    xnum("--timeout", optarg, 1, 31536000) * 1000;
		else
			common_option(c, argc, argv);
	}
	if (optind >= argc)
		ci_usage_error("%s: missing the COMMAND to run", name);
	if (err_level && !capture)
		ci_usage_error("--stderr-level is the level of captured lines: "
			       "give --capture");

	ci_entry_init(&e, xrunid_env(), name);
	CI_FROM_CALLER(&e);
	xlog_open(&log, ci_log_path(NULL), 0);
	ci_buf_str(&msg, "started: ");
	quote_args(&msg, argv + optind);
	e.message = msg.s;
	e.when = ci_now();
	xlog_write(&log, &e);
	/* The step's span, as ci-report derives it from this start entry. */
	memcpy(traceparent, "TRACEPARENT=", 12);
	ci_traceparent(traceparent + 12, e.run_id, name,
		       (long long)e.when.tv_sec * 1000 +
			   e.when.tv_nsec / 1000000);

	if (log.github) /* the step's output, folded under its name */
		group(name, 1);
	log.hold = capture; /* annotations of its lines, the best first */
	(void)ci_signal_pipe();
	sp.argv = argv + optind;
	sp.env_add = env;
	sp.capture = capture;
	sp.foreground = 1;
	t0 = ci_mono_ms();
	if (ci_proc_start(&p, &sp) < 0) {
		ci_buf_printf(&how, "cannot start: %s", strerror(errno));
		code = 126;
		p.pid = -1;
	} else {
		for (int i = 0; i < 2; i++) {
			memset(&cap[i], 0, sizeof cap[i]);
			cap[i].sink.log = &log;
			cap[i].sink.base = e;
			cap[i].sink.base.when = (struct timespec){ 0 };
			/* Shown as it came: not echoed once more. */
			cap[i].sink.base.quiet = 1;
			cap[i].sink.base.level =
			    i && err_level ? err_level : "info";
			cap[i].sink.prefix = i ? "stderr: " : NULL;
			cap[i].fd = i ? p.err : p.out;
			cap[i].to = i ? 2 : 1;
			/* Shown line by line when secrets are to be masked. */
			if (ci_mask_values(&nmask))
				cap[i].sink.pass_fd = cap[i].to;
		}
		run_loop(&p, cap, capture ? 2 : 0, timeout_ms, &timed_out,
			 &signalled);
		/* Nothing of an interrupted or timed-out step outlives it. */
		if ((timed_out || signalled) && ci_proc_group_alive(&p))
			ci_proc_kill(&p, SIGKILL);
		code = timed_out ? TIMED_OUT : ci_exit_code(&p);
		ci_describe_status(&how, &p);
		if (p.exec_errno == ENOENT)
			ci_buf_printf(&how, ": %s", argv[optind]);
	}
	ms = ci_mono_ms() - t0;
	if (log.github)
		group(name, 0);

	msg.len = 0;
	if (code == 0)
		ci_buf_printf(&msg, "finished in %lld.%03lld s", ms / 1000,
			      ms % 1000);
	else if (timed_out)
		ci_buf_printf(&msg,
			      "timed out after %lld s: %s after %lld.%03lld s",
			      timeout_ms / 1000, how.s, ms / 1000, ms % 1000);
	else if (signalled)
		ci_buf_printf(
		    &msg, "interrupted by SIG%s: %s after %lld.%03lld s",
		    sigabbrev_np(signalled), how.s, ms / 1000, ms % 1000);
	else
		ci_buf_printf(&msg, "failed: %s after %lld.%03lld s", how.s,
			      ms / 1000, ms % 1000);
	level = code == 0 ? "info" : "error";
	e.level = level;
	e.message = msg.s;
	e.duration_ms = ms;
	e.exit_code = code > 255 ? 255 : code;
	e.when.tv_sec = e.when.tv_nsec = 0;
	xlog_write(&log, &e);
	if (code != 0 && !log.echo)
		ci_warn("%s: %s", name, msg.s);
	xlog_close(&log);
	for (int i = 0; i < 2 && p.pid > 0; i++)
		ci_sink_free(&cap[i].sink);
	ci_buf_free(&msg);
	ci_buf_free(&how);
	xfinish_stdout();
	return code;
}

/* GitHub's fold of a step's output: ::group::NAME, then ::endgroup::. */
static void
group(const char *name, int start)
{
	struct ci_buf b = { 0 };

	if (start)
		ci_buf_printf(&b, "::group::%s\n", name);
	else
		ci_buf_str(&b, "::endgroup::\n");
	(void)ci_write_all(2, b.s, b.len);
	ci_buf_free(&b);
}

/* The command for a message: arguments that need it in single quotes. */
static void
quote_args(struct ci_buf *b, char **argv)
{
	for (int i = 0; argv[i]; i++) {
		const char *a = argv[i];
		if (i > 0)
			ci_buf_add(b, " ", 1);
		if (*a &&
		    a[strcspn(a, " \t\n'\"\\$`*?[]{}()<>|&;!#~")] == '\0') {
			ci_buf_str(b, a);
			continue;
		}
		ci_buf_add(b, "'", 1);
		for (; *a; a++)
			ci_buf_str(b, *a == '\'' ? "'\\''" : (char[]){ *a, 0 });
		ci_buf_add(b, "'", 1);
	}
}

/*
 * Wait for the command: copy and log captured output, pass SIGINT, SIGTERM
 * and SIGHUP on to its process group, enforce the timeout; a command still
 * running GRACE_MS after a forwarded signal or the timeout's SIGTERM gets
 * SIGKILL.
 */
static void
run_loop(struct ci_proc *p, struct capture *cap, int ncap, long long timeout_ms,
	 int *timed_out, int *signalled)
{
	long long start = ci_mono_ms(), kill_at = -1, now, wait_ms;
	struct pollfd pf[3];
	unsigned char sigs[64];
	ssize_t n;
	int np;

	while (!ci_proc_reap(p, 0)) {
		now = ci_mono_ms();
		if (timeout_ms > 0 && !*timed_out &&
		    now - start >= timeout_ms) {
			*timed_out = 1;
			ci_proc_kill(p, SIGTERM);
			kill_at = now + GRACE_MS;
		}
		if (kill_at >= 0 && now >= kill_at) {
			ci_proc_kill(p, SIGKILL);
			kill_at = now + 60000;
		}
		wait_ms = 1000;
		if (timeout_ms > 0 && !*timed_out)
			wait_ms = start + timeout_ms - now;
		if (kill_at >= 0 && kill_at - now < wait_ms)
			wait_ms = kill_at - now;
		pf[0].fd = ci_signal_pipe();
		pf[0].events = POLLIN;
		np = 1;
		for (int i = 0; i < ncap; i++) {
			pf[np].fd = cap[i].fd;
			pf[np++].events = POLLIN;
		}
		if (poll(pf, np, (int)(wait_ms < 0 ? 0 : wait_ms)) < 0 &&
		    errno != EINTR)
			ci_die(1, "poll: %s", strerror(errno));
		if (pf[0].revents & POLLIN) {
			n = read(pf[0].fd, sigs, sizeof sigs);
			for (ssize_t i = 0; i < n; i++) {
				if (sigs[i] == SIGCHLD)
					continue;
				ci_proc_kill(p, sigs[i]);
				if (!*signalled)
					*signalled = sigs[i];
				if (kill_at < 0)
					kill_at = ci_mono_ms() + GRACE_MS;
			}
		}
		for (int i = 0; i < ncap; i++) {
			if (cap[i].fd < 0 ||
			    !(pf[i + 1].revents & (POLLIN | POLLHUP)))
				continue;
			if (pump(&cap[i]) == 0) {
				close(cap[i].fd);
				cap[i].fd = -1;
			}
		}
	}
	for (int i = 0; i < ncap; i++)
		drain(&cap[i], 100);
}

/* One read of captured output: shown, and logged line by line. */
static ssize_t
pump(struct capture *c)
{
	char buf[65536];
	ssize_t n = read(c->fd, buf, sizeof buf);

	if (n > 0) {
		if (!c->sink.pass_fd)
			(void)ci_write_all(c->to, buf, (size_t)n);
		ci_lines_feed(&c->lines, buf, (size_t)n, ci_sink_line,
			      &c->sink);
		xlog_flush(c->sink.log);
	}
	return n;
}

/*
 * After the command ended: what is left in its pipe, until EOF, or until
 * nothing came for wait_ms (a background process may hold the pipe open).
 */
static void
drain(struct capture *c, int wait_ms)
{
	struct pollfd pf;

	while (c->fd >= 0) {
		pf.fd = c->fd;
		pf.events = POLLIN;
		if (poll(&pf, 1, wait_ms) <= 0)
			break;
		if (pump(c) <= 0)
			break;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	ci_lines_finish(&c->lines, ci_sink_line, &c->sink);
	xlog_flush(c->sink.log);
	ci_lines_free(&c->lines);
}

/* complete: rebuild the Pipeline Run from the log and close the run. */
static int
do_complete(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "exit", no_argument, NULL, 'e' },
		{ "exit-code", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const meaning[] = {
		"success",
		"a step failed",
		"usage or configuration error",
		"tests failed",
		"environment check failed",
		"deployment failed",
	};
	const char *path = getenv("CI_LOG_FILE"), *run_id, **done;
	struct ci_runs rs;
	struct ci_run *r;
	size_t ndone;
	struct ci_pipeline pr = { 0 };
	struct ci_buf msg = { 0 }, extra = { 0 }, steps = { 0 };
	struct ci_entry e;
	struct ci_log log;
	struct timespec now;
	long long code = 0, init_ms = 0, start_time, asked;
	const char *why_one = NULL;
	int c, exit_as_run = 0, outputs;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'x')
			code = xnum("--exit-code", optarg, 0, 255);
		else if (c == 'e')
			exit_as_run = 1;
		else
			common_option(c, argc, argv);
	}
	if (optind < argc)
		ci_usage_error("complete: unexpected argument \"%s\"",
			       argv[optind]);
	run_id = xrunid_env();
	if (!path || !*path)
		ci_die(CI_EXIT_USAGE,
		       "complete reads the run's log: CI_LOG_FILE "
		       "is not set");
	r = read_run(path, run_id, &rs);
	if (!r || !r->has_start)
		ci_die(CI_EXIT_USAGE,
		       "no init entry for run %s in %s (open the "
		       "run with: ci-step init)",
		       run_id, path);
	asked = code;
	if (code > 5) {
		code = 1; /* not in contracts/exit-codes.md: a failed step */
		why_one = "which contracts/exit-codes.md does not define";
	} else if (code > 1 && failed_step_status(r, (int)code)) {
		code = 1; /* make's 2 is a failed step, not a usage error */
		why_one = "the status of a failed step's command";
	}
	now = ci_now();
	start_time = r->start.start_time;
	init_ms = start_time * 1000;
	for (size_t i = 0; i < r->nsteps; i++)
		if (strcmp(r->steps[i].name, "init") == 0)
			init_ms = r->steps[i].first_ms;
	/* Steps as they succeeded, not those of an earlier complete entry. */
	r->has_pipeline = 0;
	done = ci_run_completed(r, &ndone);
	for (size_t i = 0; i < ndone; i++)
		if (strcmp(done[i], "complete") != 0) {
			ci_buf_add(&steps, done[i], strlen(done[i]) + 1);
			pr.nsteps++;
		}
	free(done);
	ci_buf_add(&steps, "complete", sizeof "complete");
	pr.nsteps++;
	pr.steps = steps.s;
	pr.start_time = start_time;
	pr.end_time = now.tv_sec;
	pr.duration = now.tv_sec > start_time ? now.tv_sec - start_time : 0;
	pr.exit_code = (int)code;
	memcpy(pr.profile, r->start.profile, sizeof pr.profile);
	memcpy(pr.triggered_by, r->start.triggered_by, sizeof pr.triggered_by);
	ci_buf_str(&extra, "\"pipeline_run\":");
	ci_pipeline_json(&extra, run_id, &pr);

	ci_entry_init(&e, run_id, "complete");
	e.when = now;
	CI_FROM_CALLER(&e);
	e.level = code == 0 ? "info" : "error";
	e.duration_ms =
	    (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - init_ms;
	if (e.duration_ms < 0)
		e.duration_ms = 0;
	ci_buf_printf(&msg,
		      "run %s with exit code %lld (%s) after %lld s, %zu "
		      "steps completed",
		      code == 0 ? "finished" : "failed", code, meaning[code],
		      (long long)(now.tv_sec - start_time), pr.nsteps);
	if (why_one)
		ci_buf_printf(&msg, "; exit code %lld given, %s", asked,
			      why_one);
	e.message = msg.s;
	e.extra = extra.s;
	xlog_open(&log, path, 0);
	xlog_write(&log, &e);
	xlog_close(&log);
	printf("%s\n", extra.s + strlen("\"pipeline_run\":"));
	/* For later steps and jobs, in GitHub's own words. */
	msg.len = 0;
	ci_github_var(&msg, "result", code == 0 ? "success" : "failure");
	ci_buf_printf(&msg, "exit-code=%lld\n", code);
	outputs = ci_github_outputs(&msg);
	ci_runs_free(&rs);
	ci_buf_free(&steps);
	ci_buf_free(&msg);
	ci_buf_free(&extra);
	xfinish_stdout();
	if (outputs < 0)
		return CI_EXIT_ENV;
	return exit_as_run ? (int)code : 0;
}

/*
 * Whether code is the raw status of a step that failed, other than a test
 * step (whose tool, ci-testpar, exits with the contract's 3 itself): then
 * the script passed on its command's status, not a code of the contract.
 */
static int
failed_step_status(const struct ci_run *r, int code)
{
	char name[40];

	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		int test = 0;

		if (s->ok || !s->failures || s->exit_code != code)
			continue;
		for (size_t k = 0; k < r->ntests && !test; k++) {
			snprintf(name, sizeof name, "test-%s",
				 r->tests[k].t.test_type);
			test = strcmp(name, s->name) == 0;
		}
		if (!test)
			return 1;
	}
	return 0;
}

/*
 * This run as lib/readlog.c rebuilds it from the log, by the rules of
 * ci-report: lines of other runs are passed over unparsed, and lines that
 * break contracts/log-schema.json are skipped.
 */
static struct ci_run *
read_run(const char *path, const char *run_id, struct ci_runs *rs)
{
	struct ci_reader rd;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		ci_die(CI_EXIT_USAGE, "cannot read the run's log %s: %s", path,
		       strerror(errno));
	ci_runs_init(rs, 3, 0); /* no messages kept: only steps matter */
	ci_reader_init(&rd, rs);
	rd.run = run_id;
	if (ci_read_fd(&rd, fd, 0) < 0)
		ci_die(CI_EXIT_USAGE, "cannot read the run's log %s: %s", path,
		       strerror(errno));
	ci_reader_free(&rd);
	close(fd);
	return ci_runs_find(rs, run_id, 0);
}
