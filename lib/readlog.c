/*
 * readlog.c: the one log reader. Reads a log in large blocks, splits it
 * into lines, checks each line's text and schema (logcheck.c), builds the
 * view of each valid entry and adds it to the runs (runs.c). The caller
 * gives the filters, and callbacks for malformed lines and valid entries.
 * A compact entry is read by logcheck.c's scanner, any other line by cJSON.
 * On two cores a worker thread parses pieces of the blocks read ahead
 * while the main thread reads, parses and applies them, always in input
 * order.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ci.h"

enum { REC_ENTRY, REC_BAD, REC_OLD };
#define REC_MAX 8192 /* lines parsed per half of a round */
#define STORE_MAX (1u << 20) /* bytes of strings kept per half */

/* One parsed line, with its strings in the batch's store. */
struct rec {
	long long ts_ms, line_number, duration_ms;
	unsigned long long line;
	const char *raw; /* the line as read, for the entry callback */
	size_t rawlen;
	int kind, level, exit_code, outcome, edge, continued;
	char run_id[CI_RUNID_LEN + 1];
	uint32_t step, msg, src, fn, steps, ts;
	int32_t start, test, pipe; /* offsets of nested objects, or -1 */
	int cases; /* test has cases: apply reads them from raw */
};

/* Lines [p, end) parsed by one thread into recs. */
struct ci_read_batch {
	const struct ci_reader *rd;
	char *p, *end, *stop;
	unsigned long long nlines; /* recs count lines from 1 at p */
	struct rec *rec;
	size_t n;
	int list_level; /* the messages of this level and above are kept */
	struct ci_buf store, why;
	struct ci_view_store vs;
	char *scan; /* the strings of a line read without cJSON */
	size_t scan_cap;
};

/*
 * Cheap tests that rule a line out before it is parsed. They only say no
 * when sure: a line with a \u escape could hide any name, so it is parsed.
 */
static int
prefilter_out(const struct ci_reader *rd, const char *p, size_t len)
{
	char needle[300];
	int n;

	if (memmem(p, len, "\\u", 2))
		return 0;
	if (rd->run && !memmem(p, len, rd->run, CI_RUNID_LEN))
		return 1;
	if (rd->level > 0 && !memmem(p, len, "\"duration_ms\"", 13) &&
	    !memmem(p, len, "\"error\"", 7) &&
	    (rd->level == 2 || !memmem(p, len, "\"warn\"", 6)))
		return 1;
	if (rd->step && strcspn(rd->step, "\"\\") == strlen(rd->step) &&
	    (n = snprintf(needle, sizeof needle, "\"%s\"", rd->step)) > 0 &&
	    (size_t)n < sizeof needle && !memmem(p, len, needle, (size_t)n) &&
	    !memmem(p, len, "\"init\"", 6) &&
	    !memmem(p, len, "\"complete\"", 10))
		return 1;
	return 0;
}

/*
 * With --since, a line written before TIME belongs to a run that started
 * before it: its run id is all that is needed. 1 when the line is such a
 * line and the id was found without parsing (copied to id).
 */
static int
old_line(const struct ci_reader *rd, const char *p, size_t len,
	 char id[CI_RUNID_LEN + 1])
{
	const char *r;

	if (len < 34 || memcmp(p, "{\"timestamp\":\"", 14) != 0 ||
	    memcmp(p + 14, rd->since19, 19) >= 0)
		return 0;
	r = memmem(p, len, "\"run_id\":\"", 10);
	if (!r || (size_t)(p + len - r) < 10 + CI_RUNID_LEN + 1 ||
	    r[10 + CI_RUNID_LEN] != '"')
		return 0;
	memcpy(id, r + 10, CI_RUNID_LEN);
	id[CI_RUNID_LEN] = '\0';
	return strspn(id, "run-0123456789abcdefghijklmnopqrstuvwxyz") ==
	    CI_RUNID_LEN;
}

static uint32_t
keep_str(struct ci_read_batch *b, const char *s)
{
	uint32_t off = (uint32_t)b->store.len;

	ci_buf_add(&b->store, s, strlen(s) + 1);
	return off;
}

static int32_t
keep_obj(struct ci_read_batch *b, const void *o, size_t n)
{
	static const char pad[8];
	int32_t off;

	ci_buf_add(&b->store, pad, (8 - b->store.len % 8) % 8);
	off = (int32_t)b->store.len;
	ci_buf_add(&b->store, o, n);
	return off;
}

/* The entry's view, kept in the batch until the main thread applies it. */
static void
keep_view(struct ci_read_batch *b, struct rec *r, const struct ci_view *v)
{
	const char *p;

	r->kind = REC_ENTRY;
	memcpy(r->run_id, v->run_id, CI_RUNID_LEN + 1);
	r->ts_ms = v->ts_ms;
	r->line_number = v->line_number;
	r->duration_ms = v->duration_ms;
	r->level = v->level;
	r->exit_code = v->exit_code;
	r->outcome = v->outcome;
	r->edge = v->edge;
	r->continued = v->continued;
	r->step = keep_str(b, v->step_name);
	r->ts = b->rd->entry ? keep_str(b, v->timestamp) : 0;
	r->msg = r->src = r->fn = 0;
	if (v->level >= b->list_level) {
		r->msg = keep_str(b, v->message);
		r->src = keep_str(b, v->source_file);
		r->fn = keep_str(b, v->function_name);
	}
	r->start = v->start ? keep_obj(b, v->start, sizeof *v->start) : -1;
	r->test = v->test ? keep_obj(b, v->test, sizeof *v->test) : -1;
	r->cases = v->cases_json != NULL;
	r->pipe = -1;
	if (v->pipeline) {
		r->pipe = keep_obj(b, v->pipeline, sizeof *v->pipeline);
		r->steps = (uint32_t)b->store.len;
		p = v->pipeline->steps;
		for (size_t i = 0; i < v->pipeline->nsteps; i++)
			p += strlen(p) + 1;
		ci_buf_add(&b->store, v->pipeline->steps,
			   (size_t)(p - v->pipeline->steps));
	}
}

/* Whether an entry passes the filters that need it parsed. */
static int
wanted(const struct ci_reader *rd, const struct ci_view *v)
{
	if (rd->run && strcmp(v->run_id, rd->run) != 0)
		return 0;
	if (rd->step && strcmp(v->step_name, rd->step) != 0 &&
	    strcmp(v->step_name, "init") != 0 &&
	    strcmp(v->step_name, "complete") != 0)
		return 0;
	if (rd->level > 0 && v->level < rd->level && v->duration_ms < 0)
		return 0;
	return 1;
}

/* A valid entry's view into r, unless filtered out; 0: nothing kept. */
static int
keep(struct ci_read_batch *b, struct rec *r, const struct ci_view *v)
{
	if (b->rd->since_ms >= 0 && v->ts_ms < b->rd->since_ms) {
		memcpy(r->run_id, v->run_id, CI_RUNID_LEN + 1);
		r->kind = REC_OLD;
		return 1;
	}
	if (!wanted(b->rd, v))
		return 0;
	keep_view(b, r, v);
	return 1;
}

/*
 * Parse one line into a rec; 0: nothing kept. The common entry is read by
 * ci_entry_scan, any other line by cJSON (NUL-terminated in place).
 */
static int
parse_line(struct ci_read_batch *b, char *p, size_t len, struct rec *r)
{
	struct ci_view v;
	const char *end = NULL;
	const struct ci_reader *rd = b->rd;
	const cJSON *f[CI_F_N];
	struct ci_flat fl;
	cJSON *e;
	int kept = 0;

	if (len == strspn(p, " \t\r"))
		return 0;
	if (!rd->check && (rd->run || rd->level > 0 || rd->step) &&
	    prefilter_out(rd, p, len))
		return 0;
	if (rd->since_ms >= 0 && old_line(rd, p, len, r->run_id)) {
		r->kind = REC_OLD;
		return 1;
	}
	b->why.len = 0;
	r->kind = REC_BAD;
	if (ci_text_check(p, len, &b->why) < 0) {
		r->msg = keep_str(b, b->why.s);
		return 1;
	}
	if (len + 1 > b->scan_cap) {
		b->scan_cap = len + 1 > 4096 ? len + 1 : 4096;
		b->scan = xrealloc(b->scan, b->scan_cap);
	}
	if (ci_entry_scan(p, len, b->scan, &fl)) {
		if (rd->check)
			return 0;
		ci_view_of_flat(&v, &fl, &b->vs);
		return keep(b, r, &v);
	}
	p[len] = '\0';
	e = cJSON_ParseWithLengthOpts(p, len + 1, &end, 1);
	if (!e) {
		ci_buf_printf(&b->why, "not JSON (syntax error at column %zu)",
			      end ? (size_t)(end - p) + 1 : 1);
	} else if (ci_entry_fields(e, f, &b->why) == 0) {
		if (!rd->check) {
			ci_view_of(&v, f, &b->vs);
			kept = keep(b, r, &v);
		}
		ci_arena_reset();
		return kept;
	}
	ci_arena_reset();
	r->msg = keep_str(b, b->why.s);
	return 1;
}

/* Parse the batch's lines until done or its buffers are full. */
static void *
parse(void *arg)
{
	struct ci_read_batch *b = arg;
	char *p = b->p, *nl;

	b->n = 0;
	b->nlines = 0;
	b->store.len = 0;
	ci_buf_add(&b->store, "", 1); /* offset 0: the empty string */
	while (p < b->end && b->n < REC_MAX && b->store.len < STORE_MAX) {
		nl = memchr(p, '\n', b->end - p);
		b->rec[b->n].line = ++b->nlines;
		b->rec[b->n].raw = p;
		b->rec[b->n].rawlen = (size_t)(nl - p);
		if (parse_line(b, p, (size_t)(nl - p), &b->rec[b->n]))
			b->n++;
		p = nl + 1;
	}
	b->stop = p;
	return NULL;
}

/*
 * The test cases of a line that was valid: parsed again, on the thread
 * that applies, since the recs keep only what every entry has. Few lines
 * have cases, and they are read once.
 */
static const struct ci_cases *
read_cases(struct ci_cases *c, const char *raw, size_t len)
{
	cJSON *e = cJSON_ParseWithLength(raw, len);

	memset(c, 0, sizeof *c);
	if (e)
		ci_cases_read(
		    c, cJSON_GetObjectItemCaseSensitive(e, "test_execution"));
	cJSON_Delete(e);
	ci_arena_reset();
	return c;
}

/* Take a batch's recs to the caller, in input order; base: lines before. */
static void
apply(struct ci_read_batch *b, unsigned long long base)
{
	struct ci_view v;
	struct ci_pipeline pl;
	struct ci_cases cases = { 0 };
	const struct ci_reader *rd = b->rd;
	const char *s;

	for (size_t i = 0; i < b->n; i++) {
		struct rec *r = &b->rec[i];
		s = b->store.s;
		if (r->kind == REC_BAD) {
			if (rd->bad)
				rd->bad(rd->arg, rd->file, base + r->line,
					s + r->msg);
			continue;
		}
		if (r->kind == REC_OLD) {
			if (rd->before)
				ci_runs_find(rd->before, r->run_id, 1);
			continue;
		}
		memset(&v, 0, sizeof v);
		v.run_id = r->run_id;
		v.step_name = s + r->step;
		v.message = s + r->msg;
		v.source_file = s + r->src;
		v.function_name = s + r->fn;
		v.ts_ms = r->ts_ms;
		v.line_number = r->line_number;
		v.duration_ms = r->duration_ms;
		v.level = r->level;
		v.exit_code = r->exit_code;
		v.outcome = r->outcome;
		v.edge = r->edge;
		v.continued = r->continued;
		v.timestamp = s + r->ts;
		v.start = r->start < 0 ? NULL : (const void *)(s + r->start);
		v.test = r->test < 0 ? NULL : (const void *)(s + r->test);
		if (r->pipe >= 0) {
			memcpy(&pl, s + r->pipe, sizeof pl);
			pl.steps = s + r->steps;
			v.pipeline = &pl;
		}
		v.file = rd->file;
		v.line = base + r->line;
		if (r->cases)
			v.cases = read_cases(&cases, r->raw, r->rawlen);
		if (rd->runs)
			ci_runs_add(rd->runs, &v);
		if (rd->entry)
			rd->entry(rd->arg, &v, r->raw, r->rawlen);
		if (r->cases)
			ci_cases_free(&cases);
	}
}

/* Parse and apply [p, end) on this thread. */
static void
serial(struct ci_read_batch *b, char *p, char *end, unsigned long long *line)
{
	while (p < end) {
		b->p = p;
		b->end = end;
		parse(b);
		apply(b, *line);
		*line += b->nlines;
		p = b->stop;
	}
}

static void
batch_free(struct ci_read_batch *b)
{
	free(b->rec);
	ci_buf_free(&b->store);
	ci_buf_free(&b->why);
	ci_buf_free(&b->vs.steps);
	free(b->scan);
}

/* The reader of runs, with no filter: set the fields, then read. */
void
ci_reader_init(struct ci_reader *rd, struct ci_runs *runs)
{
	memset(rd, 0, sizeof *rd);
	rd->runs = runs;
	rd->since_ms = -1;
	rd->threads = sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

/*
 * Read the log on fd to its end as input number file (for ci_view.file and
 * the callbacks). 0, or -1 with errno on a read error (what was read
 * before it counts).
 */
static struct ci_read_batch *
prepare(struct ci_reader *rd, unsigned file)
{
	struct ci_read_batch *b;
	char buf[32];

	if (!rd->b) {
		rd->b = b = xmalloc(sizeof *b);
		memset(b, 0, sizeof *b);
		b->rd = rd;
		b->rec = xmalloc(REC_MAX * sizeof *b->rec);
	}
	b = rd->b;
	b->list_level = rd->entry ? 0 : rd->runs ? rd->runs->list_level : 3;
	if (rd->since_ms >= 0) {
		ci_iso8601(
		    buf, (struct timespec){ .tv_sec = rd->since_ms / 1000 }, 0);
		memcpy(rd->since19, buf, 19);
	}
	rd->file = file;
	ci_arena_hooks();
	return b;
}

/*
 * Reading ahead: ci_nd's blocks are cut in pieces that both threads parse,
 * and that the main thread applies in input order as they become ready,
 * between reading the next block and parsing pieces itself. With its
 * buffers in turn ci_nd keeps a block until the CI_ND_BUFS-th read after
 * it, so that many blocks are in flight: one applied while the next are
 * parsed, and a thread that the system holds back a while does not hold
 * up the other.
 */
#define PIECES 4 /* pieces a block is cut in */
#define QUEUE (CI_ND_BUFS * PIECES)
enum { P_FREE, P_READY, P_PARSING, P_PARSED };
struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ci_read_batch *q; /* QUEUE batches, a ring */
	int state[QUEUE];
	unsigned long long blk[QUEUE]; /* which read of ci_nd it is from */
	unsigned long long head, next, tail; /* to apply, parse, fill */
	int quit;
};

/* Parse the next piece ready (the lock held; 0: none). */
static int
parse_next(struct pipe *pp)
{
	size_t i = pp->next % QUEUE;

	if (pp->next == pp->tail)
		return 0;
	pp->state[i] = P_PARSING;
	pp->next++;
	pthread_mutex_unlock(&pp->mu);
	parse(&pp->q[i]);
	pthread_mutex_lock(&pp->mu);
	pp->state[i] = P_PARSED;
	pthread_cond_broadcast(&pp->cv);
	return 1;
}

static void *
worker(void *arg)
{
	struct pipe *pp = arg;

	pthread_mutex_lock(&pp->mu);
	while (!pp->quit)
		if (!parse_next(pp))
			pthread_cond_wait(&pp->cv, &pp->mu);
	pthread_mutex_unlock(&pp->mu);
	ci_arena_free();
	return NULL;
}

/* The block [p, end) of whole lines, read by ci_nd's read blk, queued. */
static void
cut(struct pipe *pp, char *p, char *end, unsigned long long blk)
{
	size_t step = (size_t)(end - p) / PIECES + 1, i;
	char *c;

	while (p < end) {
		c = (size_t)(end - p) > step ? p + step : end;
		c = (char *)memchr(c - 1, '\n', (size_t)(end - c) + 1) + 1;
		i = pp->tail++ % QUEUE;
		pp->q[i].p = p;
		pp->q[i].end = c;
		pp->blk[i] = blk;
		pp->state[i] = P_READY;
		p = c;
	}
	pthread_cond_broadcast(&pp->cv);
}

/* A parsed piece to the caller; what did not fit is parsed here. */
static void
apply_piece(struct ci_read_batch *b, struct ci_read_batch *rest,
	    unsigned long long *line)
{
	apply(b, *line);
	*line += b->nlines;
	if (b->stop < b->end)
		serial(rest, b->stop, b->end, line);
}

/* The loop of the main thread; 0, or -1 on a read error. */
static int
pipeline(struct ci_reader *rd, struct pipe *pp, struct ci_nd *nd)
{
	unsigned long long line = 0, reads = 0;
	size_t toolong = 0, i;
	int ended = 0, rc = 0, err = 0;
	ssize_t n = 0;
	char *p, why[64];

	pthread_mutex_lock(&pp->mu);
	for (;;) {
		i = pp->head % QUEUE;
		if (pp->head < pp->tail && pp->state[i] == P_PARSED) {
			pthread_mutex_unlock(&pp->mu);
			apply_piece(&pp->q[i], rd->b, &line);
			pthread_mutex_lock(&pp->mu);
			pp->state[i] = P_FREE;
			pp->head++;
		} else if (toolong && pp->head == pp->tail) {
			snprintf(why, sizeof why,
				 "longer than %u MiB (%zu bytes)",
				 CI_ND_LINE_MAX >> 20, toolong);
			++line;
			if (rd->bad)
				rd->bad(rd->arg, rd->file, line, why);
			toolong = 0;
		} else if (!ended && !toolong &&
			   pp->tail - pp->head + PIECES <= QUEUE &&
			   (pp->head == pp->tail ||
			    pp->blk[i] + CI_ND_BUFS - 1 >= reads)) {
			/* the next read reuses the buffer of its CI_ND_BUFS-th
			 * read before */
			pthread_mutex_unlock(&pp->mu);
			n = ci_nd_next(nd, &p);
			pthread_mutex_lock(&pp->mu);
			if (n < 0) {
				err = errno;
				rc = -1;
				ended = 1;
			} else if (nd->toolong)
				toolong = nd->toolong;
			else if (n == 0)
				ended = 1;
			else
				cut(pp, p, p + n, reads);
			reads++;
		} else if (!parse_next(pp)) {
			if (ended && !toolong && pp->head == pp->tail)
				break;
			pthread_cond_wait(&pp->cv, &pp->mu);
		}
	}
	pp->quit = 1;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
	errno = err;
	return rc;
}

int
ci_read_fd(struct ci_reader *rd, int fd, unsigned file)
{
	struct ci_read_batch q[QUEUE];
	struct pipe pp = { .q = q };
	struct ci_nd nd;
	pthread_t t;
	int rc, threaded = 0, e;

	prepare(rd, file);
	memset(q, 0, sizeof q);
	for (int i = 0; i < QUEUE; i++) {
		q[i].rd = rd;
		q[i].list_level = rd->b->list_level;
		q[i].rec = xmalloc(REC_MAX * sizeof *q[i].rec);
	}
	pthread_mutex_init(&pp.mu, NULL);
	pthread_cond_init(&pp.cv, NULL);
	ci_nd_open(&nd, fd);
	nd.turns = CI_ND_BUFS;
	if (rd->threads && pthread_create(&t, NULL, worker, &pp) == 0)
		threaded = 1;
	rc = pipeline(rd, &pp, &nd);
	e = errno;
	if (threaded)
		pthread_join(t, NULL);
	ci_nd_close(&nd);
	for (int i = 0; i < QUEUE; i++)
		batch_free(&q[i]);
	pthread_mutex_destroy(&pp.mu);
	pthread_cond_destroy(&pp.cv);
	ci_arena_free();
	cJSON_InitHooks(NULL);
	errno = e;
	return rc;
}

/*
 * Read the whole lines [p, p + n) of input number file, each ending in a
 * newline, as its lines *line + 1 and on (*line counts them), on this
 * thread: for a reader that reads a log itself as it grows, a small block
 * at a time. p is changed.
 */
void
ci_read_lines(struct ci_reader *rd, char *p, size_t n, unsigned file,
	      unsigned long long *line)
{
	serial(prepare(rd, file), p, p + n, line);
	ci_arena_free();
	cJSON_InitHooks(NULL);
}

/* Read the file at path ("-": stdin); as ci_read_fd, -1 if it cannot open. */
int
ci_read_path(struct ci_reader *rd, const char *path, unsigned file)
{
	int fd, rc, e;

	fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = ci_read_fd(rd, fd, file);
	e = errno;
	if (fd > 0)
		close(fd);
	errno = e;
	return rc;
}

void
ci_reader_free(struct ci_reader *rd)
{
	if (!rd->b)
		return;
	batch_free(rd->b);
	free(rd->b);
	rd->b = NULL;
}
