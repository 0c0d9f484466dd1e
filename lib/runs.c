/*
 * runs.c: Pipeline Runs, their steps and Test Executions rebuilt from log
 * entries, by the rules of contracts/entries.md. Memory grows with runs,
 * steps, test attempts and the messages kept, never with entries.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ci.h"

/* Valid entries hold whole numbers >= 0; keep huge ones in range. */
static long long
clamp(double d)
{
	return d < 4e18 ? (long long)d : 4000000000000000000LL;
}

static long long
num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v))
		return -1;
	return clamp(v->valuedouble);
}

static const char *
str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static void
copy(char *dst, size_t n, const char *s)
{
	size_t len = strlen(s);

	len = len < n - 1 ? len : n - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* ci-step's own start and completion entries bound one of its runs. */
static int
edge(const struct ci_view *v, int has_test)
{
	if (strcmp(v->function_name, "ci-step") != 0)
		return 0;
	if (v->duration_ms < 0 && v->level == 0 &&
	    strncmp(v->message, "started: ", 9) == 0)
		return CI_EDGE_START;
	if (v->duration_ms >= 0 && !has_test)
		return CI_EDGE_END;
	return 0;
}

/*
 * Read what a valid entry says, from its fields as ci_entry_fields found
 * them. Strings point into the entry, nested objects into st; the file and
 * line are left to the caller.
 */
void
ci_view_of(struct ci_view *v, const cJSON *const *f, struct ci_view_store *st)
{
	const cJSON *o, *i;
	const char *level;

#define S(x) (cJSON_IsString(f[x]) ? f[x]->valuestring : "")
#define I(x) (cJSON_IsNumber(f[x]) ? clamp(f[x]->valuedouble) : -1)
	memset(v, 0, sizeof *v);
	level = S(CI_F_LEVEL);
	v->run_id = S(CI_F_RUN_ID);
	v->step_name = S(CI_F_STEP_NAME);
	v->message = S(CI_F_MESSAGE);
	v->source_file = S(CI_F_SOURCE_FILE);
	v->function_name = S(CI_F_FUNCTION_NAME);
	v->timestamp = S(CI_F_TIMESTAMP);
	v->ts_ms = ci_timestamp_ms(S(CI_F_TIMESTAMP));
	v->line_number = I(CI_F_LINE_NUMBER);
	v->duration_ms = I(CI_F_DURATION_MS);
	v->exit_code = (int)I(CI_F_EXIT_CODE);
#undef S
#undef I
	v->level = level[0] == 'e' ? 2 : level[0] == 'w';
	v->outcome = ci_step_outcome(f);
	v->continued = cJSON_IsTrue(f[CI_F_CONTINUED]);
	v->edge = edge(v, f[CI_F_TEST_EXECUTION] != NULL);
	if ((o = f[CI_F_RUN_START])) {
		st->start.start_time = num(o, "start_time");
		copy(st->start.profile, sizeof st->start.profile,
		     str(o, "profile"));
		copy(st->start.triggered_by, sizeof st->start.triggered_by,
		     str(o, "triggered_by"));
		v->start = &st->start;
	}
	if ((o = f[CI_F_TEST_EXECUTION])) {
		struct ci_test_exec *t = &st->test;
		copy(t->test_type, sizeof t->test_type, str(o, "test_type"));
		copy(t->status, sizeof t->status, str(o, "status"));
		t->attempt_number = num(o, "attempt_number");
		t->duration = num(o, "duration");
		t->failure_count = num(o, "failure_count");
		t->started_at = num(o, "started_at");
		t->completed_at = num(o, "completed_at");
		t->run_in_parallel = cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(o, "run_in_parallel"));
		t->fallback_to_serial = cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(o, "fallback_to_serial"));
		i = cJSON_GetObjectItemCaseSensitive(o, "shard");
		t->shard_index = i ? (int)num(i, "index") : 0;
		t->shard_count = i ? (int)num(i, "count") : 0;
		v->test = t;
		v->cases_json = cJSON_GetObjectItemCaseSensitive(o, "cases");
	}
	if ((o = f[CI_F_PIPELINE_RUN])) {
		struct ci_pipeline *p = &st->pipeline;
		p->start_time = num(o, "start_time");
		p->end_time = num(o, "end_time");
		p->duration = num(o, "duration");
		p->exit_code = (int)num(o, "exit_code");
		copy(p->profile, sizeof p->profile, str(o, "profile"));
		copy(p->triggered_by, sizeof p->triggered_by,
		     str(o, "triggered_by"));
		st->steps.len = 0;
		p->nsteps = 0;
		cJSON_ArrayForEach(
		    i, cJSON_GetObjectItemCaseSensitive(o, "steps_completed"))
		{
			if (!cJSON_IsString(i))
				continue;
			ci_buf_add(&st->steps, i->valuestring,
				   strlen(i->valuestring) + 1);
			p->nsteps++;
		}
		p->steps = st->steps.s ? st->steps.s : "";
		v->pipeline = p;
	}
}

/*
 * ci_view_of for an entry that ci_entry_scan read: the same view of the
 * same entry. Strings point into fl's, nested objects into st.
 */
void
ci_view_of_flat(struct ci_view *v, const struct ci_flat *fl,
		struct ci_view_store *st)
{
	const struct ci_flat_obj *o = &fl->top;
	const char *p;

#define HAS(o, x) ((o)->seen & (1u << (x)))
#define S(o, x) (HAS(o, x) ? (o)->s[x] : "")
#define I(o, x) (HAS(o, x) ? (o)->num[x] : -1)
	memset(v, 0, sizeof *v);
	v->run_id = S(o, CI_F_RUN_ID);
	v->step_name = S(o, CI_F_STEP_NAME);
	v->message = S(o, CI_F_MESSAGE);
	v->source_file = S(o, CI_F_SOURCE_FILE);
	v->function_name = S(o, CI_F_FUNCTION_NAME);
	v->timestamp = S(o, CI_F_TIMESTAMP);
	v->ts_ms = fl->ts_ms;
	v->line_number = I(o, CI_F_LINE_NUMBER);
	v->duration_ms = I(o, CI_F_DURATION_MS);
	v->exit_code = (int)I(o, CI_F_EXIT_CODE);
	v->level = S(o, CI_F_LEVEL)[0] == 'e' ? 2 : S(o, CI_F_LEVEL)[0] == 'w';
	v->continued = HAS(o, CI_F_CONTINUED) != 0;
	if (HAS(o, CI_F_RUN_START)) {
		o = &fl->run_start;
		st->start.start_time = I(o, CI_RS_START_TIME);
		copy(st->start.profile, sizeof st->start.profile,
		     S(o, CI_RS_PROFILE));
		copy(st->start.triggered_by, sizeof st->start.triggered_by,
		     S(o, CI_RS_TRIGGERED_BY));
		v->start = &st->start;
	}
	if (HAS(&fl->top, CI_F_TEST_EXECUTION)) {
		struct ci_test_exec *t = &st->test;
		o = &fl->test;
		copy(t->test_type, sizeof t->test_type, S(o, CI_TE_TEST_TYPE));
		copy(t->status, sizeof t->status, S(o, CI_TE_STATUS));
		t->attempt_number = I(o, CI_TE_ATTEMPT_NUMBER);
		t->duration = I(o, CI_TE_DURATION);
		t->failure_count = I(o, CI_TE_FAILURE_COUNT);
		t->started_at = I(o, CI_TE_STARTED_AT);
		t->completed_at = I(o, CI_TE_COMPLETED_AT);
		t->run_in_parallel = I(o, CI_TE_RUN_IN_PARALLEL) == 1;
		t->fallback_to_serial = I(o, CI_TE_FALLBACK_TO_SERIAL) == 1;
		v->test = t;
	}
	if (HAS(&fl->top, CI_F_PIPELINE_RUN)) {
		struct ci_pipeline *pl = &st->pipeline;
		o = &fl->pipeline;
		pl->start_time = I(o, CI_PR_START_TIME);
		pl->end_time = I(o, CI_PR_END_TIME);
		pl->duration = I(o, CI_PR_DURATION);
		pl->exit_code = (int)I(o, CI_PR_EXIT_CODE);
		copy(pl->profile, sizeof pl->profile, S(o, CI_PR_PROFILE));
		copy(pl->triggered_by, sizeof pl->triggered_by,
		     S(o, CI_PR_TRIGGERED_BY));
		st->steps.len = 0;
		p = o->strs;
		for (size_t i = 0; i < o->nstrs; i++, p += strlen(p) + 1)
			ci_buf_add(&st->steps, p, strlen(p) + 1);
		pl->nsteps = o->nstrs;
		pl->steps = st->steps.s ? st->steps.s : "";
		v->pipeline = pl;
	}
#undef HAS
#undef S
#undef I
	/* As ci_step_outcome. */
	v->outcome = v->duration_ms < 0 ? -1
	    : v->test                   ? strcmp(v->test->status, "passed") == 0
	    : v->exit_code >= 0         ? v->exit_code == 0
					: v->level != 2;
	v->edge = edge(v, v->test != NULL);
}

void
ci_runs_init(struct ci_runs *rs, int list_level, size_t msg_cap)
{
	memset(rs, 0, sizeof *rs);
	rs->list_level = list_level;
	rs->msg_cap = msg_cap;
}

static size_t
hash(const char *id)
{
	size_t h = 5381;

	while (*id)
		h = h * 33 + (unsigned char)*id++;
	return h;
}

/* The run of this id; a new one when create is set, else NULL. */
struct ci_run *
ci_runs_find(struct ci_runs *rs, const char *id, int create)
{
	struct ci_run *r;
	size_t i;

	/* Entries mostly come run by run: the last one found first. */
	if (rs->last && strcmp(rs->last->id, id) == 0)
		return rs->last;
	if (rs->tsize) {
		for (i = hash(id) & (rs->tsize - 1); rs->table[i];
		     i = (i + 1) & (rs->tsize - 1))
			if (strcmp(rs->table[i]->id, id) == 0)
				return rs->last = rs->table[i];
	}
	if (!create)
		return NULL;
	if ((rs->n + 1) * 2 > rs->tsize) {
		size_t old = rs->tsize;
		struct ci_run **t = rs->table;
		rs->tsize = old ? old * 2 : 64;
		rs->table = calloc(rs->tsize, sizeof *rs->table);
		if (!rs->table)
			ci_die(1, "out of memory");
		for (size_t k = 0; k < old; k++)
			if (t[k]) {
				i = hash(t[k]->id) & (rs->tsize - 1);
				while (rs->table[i])
					i = (i + 1) & (rs->tsize - 1);
				rs->table[i] = t[k];
			}
		free(t);
		rs->v = xrealloc(rs->v, rs->tsize * sizeof *rs->v);
	}
	r = calloc(1, sizeof *r);
	if (!r)
		ci_die(1, "out of memory");
	copy(r->id, sizeof r->id, id);
	r->seq = rs->n;
	r->first_ms = r->last_ms = -1;
	rs->v[rs->n++] = r;
	for (i = hash(id) & (rs->tsize - 1); rs->table[i];
	     i = (i + 1) & (rs->tsize - 1))
		;
	rs->table[i] = r;
	return rs->last = r;
}

static struct ci_step *
step_of(struct ci_run *r, const char *name, unsigned long long seq)
{
	struct ci_step *s;

	if (r->nsteps && strcmp(r->steps[r->last_step].name, name) == 0)
		return &r->steps[r->last_step];
	for (size_t i = 0; i < r->nsteps; i++)
		if (strcmp(r->steps[i].name, name) == 0)
			return &r->steps[r->last_step = i];
	if ((r->nsteps & (r->nsteps - 1)) == 0)
		r->steps = xrealloc(r->steps,
				    (r->nsteps ? r->nsteps * 2 : 8) *
					sizeof *r->steps);
	s = &r->steps[r->last_step = r->nsteps++];
	memset(s, 0, sizeof *s);
	s->name = xstrdup(name);
	s->first_ms = s->last_ms = s->start_ms = s->end_ms = -1;
	s->exit_code = -1;
	s->seq = seq;
	return s;
}

static size_t
new_span(struct ci_step *s, long long ts_ms, int started)
{
	struct ci_span *p;

	if ((s->nspans & (s->nspans - 1)) == 0)
		s->spans = xrealloc(s->spans,
				    (s->nspans ? s->nspans * 2 : 2) *
					sizeof *s->spans);
	p = &s->spans[s->nspans];
	memset(p, 0, sizeof *p);
	p->key_ms = p->start_ms = ts_ms;
	p->end_ms = started ? -1 : ts_ms;
	p->started = started;
	p->exit_code = p->outcome = -1;
	p->duration_ms = -1;
	return s->nspans++;
}

/*
 * The span an entry belongs to: ci-step's start entry opens one, its
 * completion closes the oldest one still open; any other entry goes to the
 * newest one open, or else to the span of the step's other entries.
 */
static size_t
span_of(struct ci_step *s, const struct ci_view *v)
{
	size_t i, oldest = SIZE_MAX, newest = SIZE_MAX;
	struct ci_span *p;
	long long start = v->ts_ms;

	if (v->edge == CI_EDGE_START)
		return new_span(s, v->ts_ms, 1);
	for (i = 0; i < s->nspans; i++)
		if (s->spans[i].started && s->spans[i].end_ms < 0) {
			if (oldest == SIZE_MAX)
				oldest = i;
			newest = i;
		}
	if (v->edge == CI_EDGE_END && oldest != SIZE_MAX) {
		p = &s->spans[oldest];
		p->end_ms = v->ts_ms < p->start_ms ? p->start_ms : v->ts_ms;
		p->exit_code = v->exit_code;
		p->outcome = v->outcome;
		p->duration_ms = v->duration_ms;
		return oldest;
	}
	if (v->edge != CI_EDGE_END && newest != SIZE_MAX)
		return newest;
	if (!s->loose)
		s->loose = 1 + new_span(s, v->ts_ms, 0);
	p = &s->spans[s->loose - 1];
	if (v->duration_ms >= 0) {
		start = v->ts_ms - v->duration_ms;
		if (v->exit_code >= 0)
			p->exit_code = v->exit_code;
		if (v->outcome > p->outcome)
			p->outcome = v->outcome;
		p->duration_ms =
		    (p->duration_ms < 0 ? 0 : p->duration_ms) + v->duration_ms;
	}
	if (start < p->start_ms)
		p->start_ms = start < 0 ? 0 : start;
	if (v->ts_ms > p->end_ms)
		p->end_ms = v->ts_ms;
	return s->loose - 1;
}

static void
completion(struct ci_runs *rs, struct ci_run *r, struct ci_step *s,
	   const struct ci_view *v, size_t span)
{
	long long start = v->ts_ms - v->duration_ms;

	s->completions++;
	s->duration_ms += v->duration_ms;
	if (s->start_ms < 0 || start < s->start_ms)
		s->start_ms = start < 0 ? 0 : start;
	if (v->ts_ms > s->end_ms)
		s->end_ms = v->ts_ms;
	if (v->exit_code >= 0)
		s->exit_code = v->exit_code;
	if (v->test && v->test->shard_count > 0) {
		int ok = 1, k = v->test->shard_index - 1;
		s->shard_seen[k / 64] |= 1ULL << k % 64;
		if (v->outcome == 1)
			s->shard_ok[k / 64] |= 1ULL << k % 64;
		for (int i = 0; i < CI_SHARDS_MAX / 64; i++)
			ok &= s->shard_ok[i] == s->shard_seen[i];
		if (ok && !s->ok)
			s->ok_seq = rs->seq;
		s->ok = ok;
		s->failures += v->outcome == 0;
	} else if (v->outcome == 1 && !s->ok) {
		s->ok = 1;
		s->ok_seq = rs->seq;
	} else if (v->outcome == 0)
		s->failures++;
	if (v->test) {
		if ((r->ntests & (r->ntests - 1)) == 0)
			r->tests = xrealloc(r->tests,
					    (r->ntests ? r->ntests * 2 : 4) *
						sizeof *r->tests);
		struct ci_attempt *a = &r->tests[r->ntests++];
		memset(a, 0, sizeof *a);
		a->t = *v->test;
		a->start_ms = start;
		a->end_ms = v->ts_ms;
		a->step = s->name;
		a->span = span;
		if (v->cases) {
			a->has_cases = 1;
			ci_cases_copy(&a->cases, v->cases);
		}
	}
}

static char *
dup_cut(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *d;

	if (n > max)
		n = ci_utf8_boundary(s, max);
	d = xmalloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void
keep_message(struct ci_runs *rs, struct ci_run *r, const struct ci_view *v,
	     struct ci_step *s, size_t span)
{
	struct ci_msg *m;

	s->spans[span].msgs++;
	if (r->nmsgs >= rs->msg_cap) {
		r->omitted++;
		return;
	}
	if ((r->nmsgs & (r->nmsgs - 1)) == 0)
		r->msgs = xrealloc(
		    r->msgs, (r->nmsgs ? r->nmsgs * 2 : 4) * sizeof *r->msgs);
	m = &r->msgs[r->nmsgs++];
	m->level = v->level;
	m->ts_ms = v->ts_ms;
	m->line_number = v->line_number;
	m->step = dup_cut(v->step_name, 256);
	m->message = dup_cut(v->message, 1024);
	m->source_file = dup_cut(v->source_file, 512);
	m->function_name = dup_cut(v->function_name, 256);
	m->span = span;
	m->file = v->file;
	m->line = v->line;
}

/* Take one valid entry into the run it belongs to. */
void
ci_runs_add(struct ci_runs *rs, const struct ci_view *v)
{
	struct ci_run *r = ci_runs_find(rs, v->run_id, 1);
	struct ci_step *s;
	size_t span;

	rs->seq++;
	r->entries++;
	if (r->first_ms < 0 || v->ts_ms < r->first_ms)
		r->first_ms = v->ts_ms;
	if (v->ts_ms > r->last_ms)
		r->last_ms = v->ts_ms;
	if (v->start && !r->has_start) {
		r->has_start = 1;
		r->start = *v->start;
	}
	if (v->pipeline) {
		free((char *)r->pipeline.steps);
		r->has_pipeline = 1;
		r->pipeline = *v->pipeline;
		size_t len = 0;
		for (size_t i = 0; i < v->pipeline->nsteps; i++)
			len += strlen(v->pipeline->steps + len) + 1;
		r->pipeline.steps =
		    memcpy(xmalloc(len + 1), v->pipeline->steps, len);
	}
	s = step_of(r, v->step_name, rs->seq);
	span = span_of(s, v);
	if (v->duration_ms >= 0)
		completion(rs, r, s, v, span);
	if (s->first_ms < 0 || v->ts_ms < s->first_ms)
		s->first_ms = v->ts_ms;
	if (v->ts_ms > s->last_ms)
		s->last_ms = v->ts_ms;
	if (v->level == 2)
		r->errors++;
	else if (v->level == 1)
		r->warnings++;
	if (v->level >= rs->list_level)
		keep_message(rs, r, v, s, span);
}

static int
by_ok_seq(const void *a, const void *b)
{
	const struct ci_step *x = *(struct ci_step *const *)a;
	const struct ci_step *y = *(struct ci_step *const *)b;

	return x->ok_seq < y->ok_seq ? -1 : x->ok_seq > y->ok_seq;
}

/*
 * The run's steps_completed: the complete entry's list when there is one,
 * else the steps that succeeded in the order of their first success. An
 * array of *n names to free (the names stay the run's).
 */
const char **
ci_run_completed(const struct ci_run *r, size_t *n)
{
	const char **names;
	const struct ci_step **ok;
	const char *p;
	size_t k = 0;

	if (r->has_pipeline) {
		names = xmalloc((r->pipeline.nsteps + 1) * sizeof *names);
		p = r->pipeline.steps;
		for (size_t i = 0; i < r->pipeline.nsteps; i++) {
			names[i] = p;
			p += strlen(p) + 1;
		}
		*n = r->pipeline.nsteps;
		return names;
	}
	ok = xmalloc((r->nsteps + 1) * sizeof *ok);
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].ok)
			ok[k++] = &r->steps[i];
	qsort(ok, k, sizeof *ok, by_ok_seq);
	names = xmalloc((k + 1) * sizeof *names);
	for (size_t i = 0; i < k; i++)
		names[i] = ok[i]->name;
	free(ok);
	*n = k;
	return names;
}

void
ci_runs_free(struct ci_runs *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		struct ci_run *r = rs->v[i];
		for (size_t k = 0; k < r->nsteps; k++) {
			free(r->steps[k].name);
			free(r->steps[k].spans);
		}
		for (size_t k = 0; k < r->nmsgs; k++) {
			free(r->msgs[k].step);
			free(r->msgs[k].message);
			free(r->msgs[k].source_file);
			free(r->msgs[k].function_name);
		}
		free((char *)r->pipeline.steps);
		free(r->steps);
		for (size_t k = 0; k < r->ntests; k++)
			ci_cases_free(&r->tests[k].cases);
		free(r->tests);
		free(r->msgs);
		free(r);
	}
	free(rs->v);
	free(rs->table);
	memset(rs, 0, sizeof *rs);
}

/* A Test Execution as the schema's test_execution object, fields in order. */
void
ci_test_exec_json(struct ci_buf *b, const struct ci_test_exec *t)
{
	ci_buf_str(b, "{\"test_type\":");
	ci_buf_json_string(b, t->test_type, strlen(t->test_type));
	ci_buf_printf(b,
		      ",\"attempt_number\":%lld,\"status\":\"%s\","
		      "\"duration\":%lld,\"failure_count\":%lld,"
		      "\"started_at\":%lld,\"completed_at\":%lld,"
		      "\"run_in_parallel\":%s,\"fallback_to_serial\":%s",
		      t->attempt_number, t->status, t->duration,
		      t->failure_count, t->started_at, t->completed_at,
		      t->run_in_parallel ? "true" : "false",
		      t->fallback_to_serial ? "true" : "false");
	if (t->shard_count > 0)
		ci_buf_printf(b, ",\"shard\":{\"index\":%d,\"count\":%d}",
			      t->shard_index, t->shard_count);
	ci_buf_str(b, "}");
}

/* A Pipeline Run as the schema's pipeline_run object, fields in order. */
void
ci_pipeline_json(struct ci_buf *b, const char *run_id,
		 const struct ci_pipeline *p)
{
	const char *s = p->steps;

	ci_buf_str(b, "{\"run_id\":");
	ci_buf_json_string(b, run_id, strlen(run_id));
	ci_buf_printf(b,
		      ",\"start_time\":%lld,\"end_time\":%lld,"
		      "\"duration\":%lld,\"exit_code\":%d,\"profile\":",
		      p->start_time, p->end_time, p->duration, p->exit_code);
	ci_buf_json_string(b, p->profile, strlen(p->profile));
	ci_buf_str(b, ",\"triggered_by\":");
	ci_buf_json_string(b, p->triggered_by, strlen(p->triggered_by));
	ci_buf_str(b, ",\"steps_completed\":[");
	for (size_t i = 0; i < p->nsteps; i++, s += strlen(s) + 1) {
		ci_buf_str(b, i ? "," : "");
		ci_buf_json_string(b, s, strlen(s));
	}
	ci_buf_str(b, "]}");
}
