/*
 * follow.c: ci-report --follow. Reads the logs as they grow, as tail -F
 * does (a file that does not exist yet is waited for; one replaced or
 * truncated is read again from its start), and shows the run followed:
 * on a terminal a view redrawn in place, else one line per event. Ends
 * with the run's complete entry, printing its report, or on q or Ctrl-C.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

#define TICK_MS 250 /* how often the files are looked at */
#define RECENT 4 /* warnings and errors shown in the view */

struct src {
	const char *path;
	int fd; /* -1: not open (not there yet) */
	dev_t dev;
	ino_t ino;
	off_t off;
	struct ci_buf part; /* a line not ended yet */
	char head[64]; /* its first bytes: another file when they change */
	size_t nhead;
	unsigned long long line;
};

struct recent {
	int level;
	long long line_number;
	char *step, *where, *message;
};

static struct {
	const struct follow_opt *o;
	struct src *src;
	struct ci_runs runs;
	struct ci_reader rd;
	char target[CI_RUNID_LEN + 1];
	char **done; /* runs complete before following began */
	size_t ndone;
	struct ci_buf seen; /* the target's steps seen, "\n" after each */
	/* The events told, by a hash of their entry's line and their number
	 * in it: each is told once, however often the files are read. */
	unsigned long long *told, line_hash;
	size_t ntold, told_cap;
	unsigned nev; /* events of the current entry */
	struct recent recent[RECENT];
	unsigned nrecent;
	int pipe, done_known, started, reload, redraw, color, keys, finished,
	    view;
	struct termios saved;
} F;

static volatile sig_atomic_t got_signal, got_winch;

static void on_entry(void *arg, const struct ci_view *v, const char *line,
		     size_t len);
static void on_bad(void *arg, unsigned file, unsigned long long line,
		   const char *why);
static int poll_sources(void);
static void reload(void);
static void rebuild(void);
static void pick_target(void);
static void draw(void);
static void term_start(void);
static void term_end(void);
static void final_report(void);

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		got_winch = 1;
	else
		got_signal = sig;
}

int
follow(const struct follow_opt *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	const char *term = getenv("TERM");
	long long last_draw = 0;
	char c;

	F.o = o;
	F.src = xmalloc(o->nfiles * sizeof *F.src);
	memset(F.src, 0, o->nfiles * sizeof *F.src);
	for (unsigned i = 0; i < o->nfiles; i++) {
		struct stat st;
		if (stat(o->files[i], &st) == 0 && S_ISDIR(st.st_mode))
			ci_die(CI_EXIT_USAGE,
			       "%s: is a directory, not a log (follow "
			       "its files: %s/ci-*.log)",
			       o->files[i], o->files[i]);
		F.src[i].path = o->files[i];
		F.src[i].fd = strcmp(o->files[i], "-") == 0 ? 0 : -1;
	}
	if (o->run)
		memcpy(F.target, o->run, CI_RUNID_LEN + 1);
	F.redraw = isatty(1) && !(term && strcmp(term, "dumb") == 0);
	F.color = F.redraw && ci_color(1);
	F.keys = F.redraw && isatty(0);
	for (unsigned i = 0; i < o->nfiles; i++)
		if (F.src[i].fd == 0) {
			/* Read as it comes, never waited on: the keys are
			 * not there. */
			F.keys = 0;
			F.pipe = 1;
			fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* What is there already, then what is added. */
	F.reload = 1;
	while (F.reload)
		reload();
	if (F.redraw)
		term_start();
	while (!F.finished && !got_signal) {
		if (F.redraw &&
		    (got_winch || ci_mono_ms() - last_draw >= 1000)) {
			got_winch = 0;
			draw();
			last_draw = ci_mono_ms();
		}
		pfd.fd = F.keys ? 0 : -1;
		if (poll(&pfd, 1, TICK_MS) > 0 && (pfd.revents & POLLIN) &&
		    read(0, &c, 1) == 1) {
			if (c == 'q' || c == 'Q')
				break;
			F.view = c == 'o' && F.view != 1 ? 1
			    : c == 'e' && F.view != 2    ? 2
							 : 0;
			last_draw = 0;
		}
		if (poll_sources())
			last_draw = 0;
		while (F.reload)
			reload();
	}
	if (F.redraw)
		term_end();
	if (F.finished)
		final_report();
	else if (!F.redraw)
		xfinish_stdout();
	return got_signal ? 128 + got_signal : F.finished ? 0 : 1;
}

/*
 * Read every file from its start: once to find the run to follow (the one
 * given, else the newest not over before, even after its file was
 * replaced), then again with its events told, each only once.
 */
static void
reload(void)
{
	char was[CI_RUNID_LEN + 1];

	F.reload = 0;
	if (F.pipe) {
		/* Standard input is read once: its first run is followed. */
		F.started = 1;
		rebuild();
		poll_sources();
		return;
	}
	F.started = 0;
	rebuild();
	poll_sources();
	for (size_t i = 0; i < F.runs.n && !F.done_known; i++)
		if (F.runs.v[i]->has_pipeline &&
		    strcmp(F.runs.v[i]->id, F.target) != 0) {
			F.done =
			    xrealloc(F.done, (F.ndone + 1) * sizeof *F.done);
			F.done[F.ndone++] = xstrdup(F.runs.v[i]->id);
		}
	F.done_known = 1;
	memcpy(was, F.target, sizeof was);
	if (!F.o->run && (!*F.target || !ci_runs_find(&F.runs, F.target, 0))) {
		*F.target = '\0';
		pick_target();
	}
	if (strcmp(was, F.target) != 0 && F.told) {
		F.ntold = 0;
		memset(F.told, 0, F.told_cap * sizeof *F.told);
	}
	F.started = 1;
	rebuild();
	poll_sources();
}

/* Empty runs, and every file to be read from its start. */
static void
rebuild(void)
{
	ci_reader_free(&F.rd);
	if (F.runs.table)
		ci_runs_free(&F.runs);
	ci_runs_init(&F.runs, 1, MSG_CAP);
	ci_reader_init(&F.rd, &F.runs);
	F.rd.entry = on_entry;
	F.rd.bad = on_bad;
	F.seen.len = 0;
	for (unsigned i = 0; i < F.o->nfiles; i++) {
		struct src *s = &F.src[i];
		if (s->fd > 0)
			close(s->fd);
		if (s->fd != 0)
			s->fd = -1;
		s->off = 0;
		s->line = 0;
		s->nhead = 0;
		s->part.len = 0;
	}
	for (unsigned i = 0; i < F.nrecent; i++) {
		free(F.recent[i].step);
		free(F.recent[i].where);
		free(F.recent[i].message);
	}
	F.nrecent = 0;
}

/* The newest run that was not over before following began. */
static void
pick_target(void)
{
	const struct ci_run *best = NULL;
	size_t k;

	for (size_t i = 0; i < F.runs.n; i++) {
		for (k = 0; k < F.ndone; k++)
			if (strcmp(F.done[k], F.runs.v[i]->id) == 0)
				break;
		if (k == F.ndone &&
		    (!best || F.runs.v[i]->first_ms >= best->first_ms))
			best = F.runs.v[i];
	}
	if (best)
		memcpy(F.target, best->id, CI_RUNID_LEN + 1);
}

/* Read what one file has gained; 1 if it did. */
static int
read_more(struct src *s, unsigned file)
{
	char buf[65536], *nl;
	ssize_t n;
	int got = 0;
	size_t whole;

	while ((n = read(s->fd, buf, sizeof buf)) > 0) {
		got = 1;
		s->off += n;
		ci_buf_add(&s->part, buf, (size_t)n);
		nl = memrchr(s->part.s, '\n', s->part.len);
		if (!nl)
			continue;
		whole = (size_t)(nl - s->part.s) + 1;
		ci_read_lines(&F.rd, s->part.s, whole, file, &s->line);
		memmove(s->part.s, s->part.s + whole, s->part.len - whole);
		s->part.len -= whole;
	}
	return got;
}

/*
 * Whether the first bytes of the file changed: truncated and written
 * again between two looks, which its size alone does not tell.
 */
static int
changed_head(struct src *s)
{
	char buf[sizeof s->head];
	ssize_t n;

	if (s->nhead < sizeof s->head) {
		n = pread(s->fd, s->head, sizeof s->head, 0);
		s->nhead = n > 0 ? (size_t)n : 0;
		return 0;
	}
	n = pread(s->fd, buf, sizeof buf, 0);
	return n != (ssize_t)sizeof buf || memcmp(buf, s->head, sizeof buf);
}

/*
 * Look at every file: open one that has appeared, read what was added,
 * and start again when one was replaced (another inode at its name) or
 * truncated. 1 when something was read.
 */
static int
poll_sources(void)
{
	struct stat st;
	int got = 0;

	for (unsigned i = 0; i < F.o->nfiles; i++) {
		struct src *s = &F.src[i];
		if (s->fd == 0) {
			got |= read_more(s, i);
			continue;
		}
		if (s->fd < 0) {
			s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
			if (s->fd < 0)
				continue;
			if (fstat(s->fd, &st) == 0) {
				s->dev = st.st_dev;
				s->ino = st.st_ino;
			}
		}
		got |= read_more(s, i);
		if (stat(s->path, &st) < 0)
			continue; /* gone: what is open is still read */
		if (st.st_dev != s->dev || st.st_ino != s->ino ||
		    st.st_size < s->off || changed_head(s)) {
			F.reload = 1;
			return 1;
		}
	}
	return got;
}

static void
on_bad(void *arg, unsigned file, unsigned long long line, const char *why)
{
	(void)arg;
	if (!F.redraw)
		fprintf(stderr, "%s: %s:%llu: %s\n", progname, F.o->files[file],
			line, why);
}

/* 1 the first time h is seen (a set of hashes, open addressing). */
static int
first_time(unsigned long long h)
{
	size_t i, cap;
	unsigned long long *old;

	h |= 1; /* 0: an empty slot */
	if (2 * (F.ntold + 1) > F.told_cap) {
		old = F.told;
		cap = F.told_cap;
		F.told_cap = cap ? cap * 2 : 256;
		F.told = xmalloc(F.told_cap * sizeof *F.told);
		memset(F.told, 0, F.told_cap * sizeof *F.told);
		F.ntold = 0;
		for (i = 0; i < cap; i++)
			if (old[i])
				first_time(old[i]);
		free(old);
	}
	for (i = h % F.told_cap; F.told[i]; i = (i + 1) % F.told_cap)
		if (F.told[i] == h)
			return 0;
	F.told[i] = h;
	F.ntold++;
	return 1;
}

/* One line of the event list, once even when the files are read again. */
static void event(const struct ci_view *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
event(const struct ci_view *v, const char *fmt, ...)
{
	char t[32], *s = NULL;
	va_list ap;

	if (!first_time(F.line_hash + 0x9e3779b97f4a7c15ULL * ++F.nev))
		return;
	if (F.redraw)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	utc(t, v->ts_ms, 0);
	printf("%s %s\n", t, s ? s : "");
	free(s);
	fflush(stdout);
}

static void
keep_recent(const struct ci_view *v)
{
	struct recent *r;
	struct ci_buf w = { 0 };

	if (F.nrecent == RECENT) {
		free(F.recent[0].step);
		free(F.recent[0].where);
		free(F.recent[0].message);
		memmove(F.recent, F.recent + 1,
			(RECENT - 1) * sizeof *F.recent);
		F.nrecent--;
	}
	r = &F.recent[F.nrecent++];
	r->level = v->level;
	r->step = xstrdup(v->step_name);
	r->message = xstrdup(v->message);
	if (*v->source_file && v->line_number > 0)
		ci_buf_printf(&w, "%s:%lld", v->source_file, v->line_number);
	else
		ci_buf_str(&w, *v->source_file ? v->source_file : "-");
	r->where = w.s;
}

/* A valid entry: an event when it is the followed run's. */
static void
on_entry(void *arg, const struct ci_view *v, const char *line, size_t len)
{
	struct ci_buf b = { 0 }, name = { 0 };
	char d[32];
	size_t k;

	(void)arg;
	if (!F.started)
		return;
	F.line_hash = 14695981039346656037ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		F.line_hash =
		    (F.line_hash ^ (unsigned char)line[i]) * 1099511628211ULL;
	F.nev = 0;
	if (!*F.target) {
		for (k = 0; k < F.ndone; k++)
			if (strcmp(F.done[k], v->run_id) == 0)
				break;
		if (k == F.ndone)
			memcpy(F.target, v->run_id, CI_RUNID_LEN + 1);
	}
	if (strcmp(v->run_id, F.target) != 0)
		return;
	if (v->start) {
		event(v, "run %s started: profile %s, triggered by %s",
		      v->run_id, v->start->profile, v->start->triggered_by);
		return;
	}
	if (v->pipeline) {
		event(v, "run %s %s: exit code %d, %s", v->run_id,
		      v->pipeline->exit_code == 0 ? "passed" : "failed",
		      v->pipeline->exit_code,
		      dur(d, v->pipeline->duration * 1000));
		F.finished = 1;
		return;
	}
	if (shown_step(v->step_name) && strcmp(v->step_name, "main") != 0) {
		ci_buf_printf(&name, "\n%s\n", v->step_name);
		if (!F.seen.s ||
		    !memmem(F.seen.s, F.seen.len, name.s, name.len)) {
			ci_buf_str(&F.seen, name.s);
			if (!v->test && v->duration_ms < 0)
				event(v, "step %s started", v->step_name);
		}
		ci_buf_free(&name);
	}
	if (v->test) {
		event(v, "test %s attempt %lld %s (%s)", v->test->test_type,
		      v->test->attempt_number, v->test->status,
		      dur(d,
			  v->duration_ms >= 0 ? v->duration_ms
					      : v->test->duration * 1000));
	} else if (v->duration_ms >= 0 && shown_step(v->step_name)) {
		event(v, "step %s %s (%s)", v->step_name,
		      v->outcome ? "passed" : "failed", dur(d, v->duration_ms));
	}
	if (v->level >= 1) {
		keep_recent(v);
		flat(&b, v->message, 200);
		event(v, "%s %s: %s: %s", v->level == 2 ? "error" : "warn",
		      v->step_name, F.recent[F.nrecent - 1].where, b.s);
		ci_buf_free(&b);
	}
}

/* The terminal view. */

static void
term_start(void)
{
	struct termios t;

	if (F.keys && tcgetattr(0, &F.saved) == 0) {
		t = F.saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		tcsetattr(0, TCSANOW, &t);
	} else {
		F.keys = 0;
	}
	fputs("\033[?1049h\033[?25l", stdout);
	fflush(stdout);
}

static void
term_end(void)
{
	if (F.keys)
		tcsetattr(0, TCSANOW, &F.saved);
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
}

static const char *
paint(const char *code)
{
	return F.color ? code : "";
}

/* A line of the view, cut to the width of the screen. */
static void put(struct ci_buf *o, int cols, const char *color, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
static void
put(struct ci_buf *o, int cols, const char *color, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	n = ci_utf8_boundary(line, strlen(line));
	while (ci_utf8_len((const unsigned char *)line, n) > (size_t)cols)
		n = ci_utf8_boundary(line, n - 1);
	ci_buf_str(o, paint(color));
	ci_buf_add(o, line, n);
	ci_buf_printf(o, "%s\033[K\r\n", paint("\033[0m"));
}

static long long
median_ll(long long *v, size_t n)
{
	long long t;

	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--)
			t = v[j], v[j] = v[j - 1], v[j - 1] = t;
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The step running now, or the last one seen. */
static const struct ci_step *
current_step(const struct ci_run *r)
{
	const struct ci_step *cur = NULL;

	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		if (!shown_step(s->name) || strcmp(s->name, "main") == 0)
			continue;
		if (!cur || (s->completions == 0) > (cur->completions == 0) ||
		    ((s->completions == 0) == (cur->completions == 0) &&
		     s->seq > cur->seq))
			cur = s;
	}
	return cur;
}

/* The last lines of a file, for the output view. */
static void
tail_file(struct ci_buf *o, int cols, const char *path, int rows)
{
	char buf[16384], *p, *e, *start;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), k = 0;
	off_t size;

	if (fd < 0) {
		put(o, cols, "", "  (no output yet: %s)", path);
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof buf - 1)
		lseek(fd, size - (off_t)sizeof buf + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	e = buf + n;
	if (e > buf && e[-1] == '\n')
		e--;
	for (p = e; p > buf && k < rows; p--)
		if (p[-1] == '\n')
			k++;
	start = p == buf ? buf : p + 1;
	while (start < e) {
		p = memchr(start, '\n', (size_t)(e - start));
		if (!p)
			p = e;
		*p = '\0';
		put(o, cols, "", "  %s", start);
		start = p + 1;
	}
}

static void
draw(void)
{
	struct winsize ws;
	int cols = 80, rows = 24, used;
	struct ci_buf o = { 0 }, path = { 0 };
	const struct ci_run *r =
	    *F.target ? ci_runs_find(&F.runs, F.target, 0) : NULL;
	const struct ci_step *cur;
	struct suite_report *su = NULL;
	size_t nsu = 0, nsteps = 0, first = 0, k, n;
	long long now = (long long)ci_now().tv_sec * 1000 +
	    ci_now().tv_nsec / 1000000,
		  start, *d, med = -1, el;
	char d1[32], d2[32];
	const char *prof;

	if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
		cols = ws.ws_col, rows = ws.ws_row;
	ci_buf_str(&o, "\033[H");
	if (!r) {
		put(&o, cols, "\033[1m",
		    "ci-report --follow: waiting for a run");
		for (unsigned i = 0; i < F.o->nfiles; i++)
			put(&o, cols, "", "  %s%s", F.o->files[i],
			    F.src[i].fd < 0 ? " (not there yet)" : "");
		goto out;
	}
	prof = r->has_start ? r->start.profile : "?";
	start = r->has_start && r->start.start_time * 1000 <= r->first_ms
	    ? r->start.start_time * 1000
	    : r->first_ms;
	el = now - start;
	put(&o, cols, "\033[1m", "Run %s  profile %s  triggered by %s", r->id,
	    prof, r->has_start ? r->start.triggered_by : "?");
	/* The progress estimate: earlier complete runs of the profile. */
	d = xmalloc((F.runs.n + 1) * sizeof *d);
	n = 0;
	for (size_t i = 0; i < F.runs.n; i++)
		if (F.runs.v[i] != r && F.runs.v[i]->has_pipeline &&
		    strcmp(F.runs.v[i]->pipeline.profile, prof) == 0)
			d[n++] = F.runs.v[i]->pipeline.duration * 1000;
	if (n)
		med = median_ll(d, n);
	free(d);
	if (med > 0) {
		int pct = (int)(el * 100 / med), w = 30,
		    fill = pct >= 100 ? w : pct * w / 100;
		char barb[64];
		memset(barb, '#', (size_t)fill);
		memset(barb + fill, '.', (size_t)(w - fill));
		barb[w] = '\0';
		put(&o, cols, "",
		    "Elapsed %s of ~%s (median of %zu %s run%s) [%s] %d%%",
		    dur(d1, el), dur(d2, med), n, prof, n == 1 ? "" : "s", barb,
		    pct);
	} else {
		put(&o, cols, "", "Elapsed %s (no earlier %s run to compare)",
		    dur(d1, el), prof);
	}
	put(&o, cols, "", "%s", "");
	cur = current_step(r);
	used = 3;
	if (F.view == 1) {
		put(&o, cols, "\033[1m", "Output of %s  (o: back)",
		    cur ? cur->name : "-");
		if (F.o->output && cur)
			ci_buf_printf(&path, "%s/%s.out", F.o->output,
				      cur->name);
		if (path.s)
			tail_file(&o, cols, path.s, rows - used - 2);
		else
			put(&o, cols, "", "  (no output directory: --output)");
		goto out;
	}
	if (F.view == 2) {
		put(&o, cols, "\033[1m",
		    "Warnings %llu, errors %llu  (e: back)", r->warnings,
		    r->errors);
		k = r->nmsgs > (size_t)(rows - used - 2)
		    ? r->nmsgs - (size_t)(rows - used - 2)
		    : 0;
		for (; k < r->nmsgs; k++) {
			const struct ci_msg *m = &r->msgs[k];
			put(&o, cols, m->level == 2 ? "\033[31m" : "\033[33m",
			    "  %-5s %-12.12s %s:%lld %s",
			    m->level == 2 ? "error" : "warn", m->step,
			    *m->source_file ? m->source_file : "-",
			    m->line_number, m->message);
		}
		goto out;
	}
	for (size_t i = 0; i < r->nsteps; i++)
		nsteps += shown_step(r->steps[i].name) &&
		    strcmp(r->steps[i].name, "main") != 0;
	nsu = suites_of(r, &su);
	/* 24 rows: 3 at the top, the steps, the suites, 2 + RECENT for the
	 * messages, 1 for the keys; the oldest steps give way first. */
	n = (size_t)(rows > 12 ? rows : 12) - 3 - 1 - 1 - nsu -
	    (F.nrecent ? 1 + F.nrecent : 1) - 1;
	if ((long)n < 1)
		n = 1;
	if (nsteps > n)
		first = nsteps - n;
	put(&o, cols, "\033[1m", "Steps");
	k = 0;
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct ci_step *s = &r->steps[i];
		enum status st;
		if (!shown_step(s->name) || strcmp(s->name, "main") == 0 ||
		    k++ < first)
			continue;
		st = step_status(r, s);
		if (st == ST_UNFINISHED && !r->has_pipeline)
			put(&o, cols, "\033[36m", "  %-24.24s running   %s",
			    s->name, dur(d1, now - s->first_ms));
		else
			put(&o, cols, status_look[st].color,
			    "  %-24.24s %-9s %s", s->name, ST_NAME(st),
			    dur(d1, s->duration_ms));
	}
	if (nsu)
		put(&o, cols, "\033[1m", "Tests");
	for (size_t i = 0; i < nsu; i++) {
		struct ci_buf a = { 0 };
		for (size_t j = 0; j < su[i].n; j++)
			ci_buf_printf(
			    &a, "%s#%lld %s %s", j ? ", " : "",
			    su[i].a[j]->t.attempt_number, su[i].a[j]->t.status,
			    dur(d1, su[i].a[j]->end_ms - su[i].a[j]->start_ms));
		put(&o, cols, status_look[su[i].status].color, "  %-12.12s %s",
		    su[i].type, a.s ? a.s : "");
		ci_buf_free(&a);
	}
	free_suites(su, nsu);
	put(&o, cols,
	    r->errors         ? "\033[31m"
		: r->warnings ? "\033[33m"
			      : "",
	    "Warnings %llu  Errors %llu", r->warnings, r->errors);
	for (unsigned i = 0; i < F.nrecent; i++)
		put(&o, cols, F.recent[i].level == 2 ? "\033[31m" : "\033[33m",
		    "  %-5s %-12.12s %s %s",
		    F.recent[i].level == 2 ? "error" : "warn", F.recent[i].step,
		    F.recent[i].where, F.recent[i].message);
out:
	ci_buf_str(&o, "\033[J");
	ci_buf_printf(&o, "\033[%d;1H%s%.*s%s", rows, paint("\033[7m"), cols,
		      " q quit   o output of the step   e errors ",
		      paint("\033[0m"));
	fwrite(o.s, 1, o.len, stdout);
	fflush(stdout);
	ci_buf_free(&o);
	ci_buf_free(&path);
}

/* The run is over: its report, as ci-report --run ID prints it. */
static void
final_report(void)
{
	struct report rp = { .files = F.o->files };
	struct run_report m;
	struct ci_buf out = { 0 };
	struct ci_run *r = ci_runs_find(&F.runs, F.target, 0);

	if (r) {
		summarize(r, &m);
		rp.v = &m;
		rp.n = 1;
	}
	if (!F.redraw)
		ci_buf_str(&out, "\n");
	text_write(&out, &rp);
	xwrite_stdout(out.s, out.len);
	if (r)
		free(m.done);
	ci_buf_free(&out);
	xfinish_stdout();
}
