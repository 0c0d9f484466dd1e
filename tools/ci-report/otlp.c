/*
 * otlp.c: ci-report --format otlp. Each run as one OTLP/JSON
 * ExportTraceServiceRequest on one line, ready to POST to an OTLP/HTTP
 * endpoint's /v1/traces: the run is the root span (kind SERVER), each run
 * of a step a child span, each test attempt a child of its step's span,
 * each of its test cases a child of the attempt's span, warnings and
 * errors events of the span they were logged in. Attributes
 * follow the OpenTelemetry CICD semantic conventions (1.37.0); ids come
 * from lib/trace.c, so ci-runid and ci-step hand out the same ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define OTLP_SEMCONV "https://opentelemetry.io/schemas/1.37.0"
#define OTLP_NAME_MAX 256 /* bytes of a message kept as an event's name */

struct otlp_kv {
	char *key, *value;
};

/* Attributes of one span or event: a JSON array, its first comma known. */
struct otlp_attrs {
	struct ci_buf *b;
	int n, bare; /* bare: the first field of its object */
};

static void
otlp_key(struct otlp_attrs *a, const char *key)
{
	ci_buf_str(a->b,
		   a->n++        ? ","
		       : a->bare ? "\"attributes\":["
				 : ",\"attributes\":[");
	ci_buf_str(a->b, "{\"key\":");
	ci_buf_json_string(a->b, key, strlen(key));
	ci_buf_str(a->b, ",\"value\":");
}

static void
otlp_str(struct otlp_attrs *a, const char *key, const char *v)
{
	otlp_key(a, key);
	ci_buf_str(a->b, "{\"stringValue\":");
	ci_buf_json_string(a->b, v, strlen(v));
	ci_buf_str(a->b, "}}");
}

/* 64-bit integers are strings in OTLP/JSON, as protobuf's JSON has them. */
static void
otlp_int(struct otlp_attrs *a, const char *key, long long v)
{
	otlp_key(a, key);
	ci_buf_printf(a->b, "{\"intValue\":\"%lld\"}}", v);
}

static void
otlp_bool(struct otlp_attrs *a, const char *key, int v)
{
	otlp_key(a, key);
	ci_buf_printf(a->b, "{\"boolValue\":%s}}", v ? "true" : "false");
}

static void
otlp_end_attrs(struct otlp_attrs *a)
{
	if (a->n)
		ci_buf_str(a->b, "]");
	a->n = 0;
}

/* OTEL_RESOURCE_ATTRIBUTES: key=value,...; values may be %-encoded. */
static int
otlp_unescape(char *s)
{
	char *d = s, hex[3] = { 0 };

	for (; *s; s++) {
		if (*s != '%') {
			*d++ = *s;
			continue;
		}
		if (!s[1] || !s[2] || !strchr("0123456789abcdefABCDEF", s[1]) ||
		    !strchr("0123456789abcdefABCDEF", s[2]))
			return -1;
		hex[0] = s[1];
		hex[1] = s[2];
		*d++ = (char)strtol(hex, NULL, 16);
		s += 2;
	}
	*d = '\0';
	return 0;
}

static char *
otlp_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Set key to value, replacing an earlier value of the same key. */
static void
otlp_set(struct otlp_kv **kv, size_t *n, const char *key, const char *value)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*kv)[i].key, key) == 0) {
			free((*kv)[i].value);
			(*kv)[i].value = xstrdup(value);
			return;
		}
	*kv = xrealloc(*kv, (*n + 1) * sizeof **kv);
	(*kv)[*n].key = xstrdup(key);
	(*kv)[(*n)++].value = xstrdup(value);
}

static void
otlp_set_env(struct otlp_kv **kv, size_t *n, const char *key, const char *env)
{
	const char *v = getenv(env);

	if (v && *v)
		otlp_set(kv, n, key, v);
}

/*
 * What produced the trace: service.name (ci-tools, or as OTEL_SERVICE_NAME
 * and OTEL_RESOURCE_ATTRIBUTES say), and the GitHub Actions context when
 * set. A malformed OTEL_RESOURCE_ATTRIBUTES is ignored whole, with a
 * warning, as OpenTelemetry's SDKs do.
 */
static const char *
otlp_resource(const char **service)
{
	static struct ci_buf res;
	static char *name;
	struct otlp_kv *kv = NULL;
	struct otlp_attrs a = { .b = &res, .bare = 1 };
	const char *env, *srv, *repo, *run;
	char *copy, *it, *eq, *save = NULL;
	size_t n = 0, from;
	struct ci_buf url = { 0 };

	if (res.s) {
		*service = name;
		return res.s;
	}
	otlp_set(&kv, &n, "service.name", "ci-tools");
	srv = getenv("GITHUB_SERVER_URL");
	repo = getenv("GITHUB_REPOSITORY");
	run = getenv("GITHUB_RUN_ID");
	otlp_set_env(&kv, &n, "github.repository", "GITHUB_REPOSITORY");
	otlp_set_env(&kv, &n, "github.workflow", "GITHUB_WORKFLOW");
	otlp_set_env(&kv, &n, "github.run_id", "GITHUB_RUN_ID");
	otlp_set_env(&kv, &n, "github.run_attempt", "GITHUB_RUN_ATTEMPT");
	otlp_set_env(&kv, &n, "github.sha", "GITHUB_SHA");
	otlp_set_env(&kv, &n, "vcs.ref.head.revision", "GITHUB_SHA");
	otlp_set_env(&kv, &n, "vcs.ref.head.name", "GITHUB_REF_NAME");
	if (srv && *srv && repo && *repo) {
		ci_buf_printf(&url, "%s/%s", srv, repo);
		otlp_set(&kv, &n, "vcs.repository.url.full", url.s);
		if (run && *run) {
			ci_buf_printf(&url, "/actions/runs/%s", run);
			otlp_set(&kv, &n, "cicd.pipeline.run.url.full", url.s);
		}
	}
	ci_buf_free(&url);
	if ((env = getenv("OTEL_RESOURCE_ATTRIBUTES")) && *env) {
		from = n;
		copy = xstrdup(env);
		for (it = strtok_r(copy, ",", &save); it;
		     it = strtok_r(NULL, ",", &save)) {
			if (!*otlp_trim(it))
				continue;
			if (!(eq = strchr(it, '=')) ||
			    (*eq = '\0', !*otlp_trim(it)) ||
			    otlp_unescape(eq + 1) < 0) {
				ci_warn(
				    "OTEL_RESOURCE_ATTRIBUTES: \"%.64s\" is "
				    "not key=value (%%-encoded): the "
				    "variable is ignored",
				    otlp_trim(it));
				for (size_t i = from; i < n; i++) {
					free(kv[i].key);
					free(kv[i].value);
				}
				n = from; /* what it set is dropped */
				break;
			}
			otlp_set(&kv, &n, otlp_trim(it), otlp_trim(eq + 1));
		}
		free(copy);
	}
	otlp_set_env(&kv, &n, "service.name", "OTEL_SERVICE_NAME");
	ci_buf_str(&res, "{");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i].key, "service.name") == 0)
			name = xstrdup(kv[i].value);
		otlp_str(&a, kv[i].key, kv[i].value);
		free(kv[i].key);
		free(kv[i].value);
	}
	otlp_end_attrs(&a);
	ci_buf_str(&res, "}");
	free(kv);
	*service = name;
	return res.s;
}

static void
otlp_time(struct ci_buf *b, const char *key, long long ms)
{
	ci_buf_printf(b, "\"%s\":\"%lld\"", key, (ms < 0 ? 0 : ms) * 1000000);
}

/* The start of a span: ids, name, kind and times. */
static void
otlp_span_head(struct ci_buf *b, int first, const char *trace, const char *span,
	       const char *parent, const char *name, int kind,
	       long long start_ms, long long end_ms)
{
	ci_buf_printf(b, "%s{\"traceId\":\"%s\",\"spanId\":\"%s\"",
		      first ? "" : ",", trace, span);
	if (parent)
		ci_buf_printf(b, ",\"parentSpanId\":\"%s\"", parent);
	ci_buf_str(b, ",\"name\":");
	ci_buf_json_string(b, name, strlen(name));
	ci_buf_printf(b, ",\"kind\":%d", kind);
	ci_buf_str(b, ",");
	otlp_time(b, "startTimeUnixNano", start_ms);
	ci_buf_str(b, ",");
	otlp_time(b, "endTimeUnixNano", end_ms < start_ms ? start_ms : end_ms);
}

/* Status: 1 OK, 2 ERROR, 0 unset (left out). */
static void
otlp_status(struct ci_buf *b, int code, const char *message)
{
	if (!code)
		return;
	ci_buf_printf(b, ",\"status\":{");
	if (message && *message) {
		ci_buf_str(b, "\"message\":");
		ci_buf_json_string(b, message, strlen(message));
		ci_buf_str(b, ",");
	}
	ci_buf_printf(b, "\"code\":%d}", code);
}

static int
otlp_hidden_step(const char *name)
{
	return strcmp(name, "init") == 0 || strcmp(name, "complete") == 0;
}

/*
 * The events of a span: the messages kept of step `step` (NULL: of init
 * and complete) logged in its span `span`, with their source location.
 * How many were left out is the span's droppedEventsCount.
 */
static void
otlp_events(struct ci_buf *b, const struct ci_run *r, const char *step,
	    size_t span, unsigned long long logged)
{
	static const char *const level[] = { "info", "warn", "error" };
	struct otlp_attrs a = { .b = b };
	unsigned long long n = 0;
	size_t len;

	for (size_t i = 0; i < r->nmsgs; i++) {
		const struct ci_msg *g = &r->msgs[i];
		if (step ? strcmp(g->step, step) != 0 || g->span != span
			 : !otlp_hidden_step(g->step))
			continue;
		ci_buf_str(b, n++ ? ",{" : ",\"events\":[{");
		otlp_time(b, "timeUnixNano", g->ts_ms);
		len = strlen(g->message);
		if (len > OTLP_NAME_MAX)
			len = ci_utf8_boundary(g->message, OTLP_NAME_MAX);
		ci_buf_str(b, ",\"name\":");
		ci_buf_json_string(b, g->message, len);
		otlp_str(&a, "code.file.path", g->source_file);
		otlp_int(&a, "code.line.number", g->line_number);
		otlp_str(&a, "code.function.name", g->function_name);
		otlp_str(&a, "ci_tools.level", level[g->level]);
		if (!step)
			otlp_str(&a, "cicd.pipeline.task.name", g->step);
		if (len < strlen(g->message))
			otlp_str(&a, "ci_tools.message", g->message);
		otlp_end_attrs(&a);
		ci_buf_str(b, "}");
	}
	if (n)
		ci_buf_str(b, "]");
	if (logged > n)
		ci_buf_printf(b, ",\"droppedEventsCount\":%llu", logged - n);
}

static const char *
otlp_task_result(const struct ci_span *p)
{
	if (p->outcome < 0)
		return NULL;
	if (p->outcome == 1)
		return "success";
	if (p->exit_code == 124)
		return "timeout";
	if (p->exit_code == 129 || p->exit_code == 130 || p->exit_code == 143)
		return "cancellation";
	return "failure";
}

static const char *
otlp_task_type(const char *name)
{
	if (strncmp(name, "test", 4) == 0 && (!name[4] || name[4] == '-'))
		return "test";
	if (strcmp(name, "build") == 0 || strcmp(name, "deploy") == 0)
		return name;
	return NULL;
}

static void
otlp_step_span_id(char id[17], const struct ci_run *r, const struct ci_step *s,
		  size_t k)
{
	ci_span_id(id, r->id,
		   s->spans[k].started ? CI_SPAN_STEP : CI_SPAN_ENTRIES,
		   s->name, s->spans[k].key_ms);
}

static void
otlp_step(struct ci_buf *b, const struct ci_run *r, const struct ci_step *s,
	  size_t k, const char *trace, const char *root, long long last_ms)
{
	const struct ci_span *p = &s->spans[k];
	const char *result = otlp_task_result(p),
		   *type = otlp_task_type(s->name);
	struct otlp_attrs a = { .b = b };
	char id[17], msg[64];

	otlp_step_span_id(id, r, s, k);
	otlp_span_head(b, 0, trace, id, root, s->name, 1, p->start_ms,
		       p->end_ms < 0 ? last_ms : p->end_ms);
	otlp_str(&a, "cicd.pipeline.task.name", s->name);
	if (type)
		otlp_str(&a, "cicd.pipeline.task.type", type);
	if (result)
		otlp_str(&a, "cicd.pipeline.task.run.result", result);
	if (p->exit_code >= 0)
		otlp_int(&a, "process.exit.code", p->exit_code);
	if (p->duration_ms >= 0)
		otlp_int(&a, "ci_tools.duration_ms", p->duration_ms);
	otlp_bool(&a, "ci_tools.ci_step", p->started);
	otlp_end_attrs(&a);
	otlp_events(b, r, s->name, k, p->msgs);
	if (p->outcome == 0 && p->exit_code >= 0)
		snprintf(msg, sizeof msg, "exit code %d", p->exit_code);
	else
		msg[0] = '\0';
	otlp_status(b, p->outcome < 0 ? 0 : p->outcome ? 1 : 2, msg);
	ci_buf_str(b, "}");
}

static const char *
otlp_suite_status(const char *status)
{
	return strcmp(status, "passed") == 0 ? "success"
	    : strcmp(status, "failed") == 0  ? "failure"
	    : strcmp(status, "skipped") == 0 ? "skipped"
					     : status;
}

/*
 * What a run's case spans may hold: OTLP_CASES in all, failed cases first
 * (every one of them while there is room), then the others in log order.
 */
struct otlp_budget {
	size_t failed, other;
};

static struct otlp_budget
otlp_budget_of(const struct ci_run *r)
{
	size_t nf = 0;

	for (size_t i = 0; i < r->ntests; i++)
		nf += (size_t)ci_cases_failed(&r->tests[i].cases);
	if (nf > OTLP_CASES)
		nf = OTLP_CASES;
	return (struct otlp_budget){ nf, OTLP_CASES - nf };
}

/* Mark in keep[] the cases of c that the budget takes; how many it took. */
static size_t
otlp_take(const struct ci_cases *c, struct otlp_budget *bud, char *keep)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++) {
		size_t *left = c->v[i].status == CI_CASE_FAILED ? &bud->failed
								: &bud->other;
		keep[i] = *left > 0;
		if (keep[i]) {
			(*left)--;
			n++;
		}
	}
	return n;
}

/*
 * The cases of attempt t, child spans of its span `parent`. The log gives
 * a case's duration, not its start: the cases are laid end to end from the
 * attempt's start in the order the suite reported them, each cut at the
 * attempt's end; a case without a duration is an instant.
 */
static void
otlp_cases(struct ci_buf *b, const struct ci_run *r, const struct ci_attempt *t,
	   const char *keep, const char *trace, const char *parent)
{
	const struct ci_cases *c = &t->cases;
	struct otlp_attrs a = { .b = b };
	struct ci_buf name = { 0 };
	long long at = t->start_ms, end;
	char id[17], key[80];

	for (size_t i = 0; i < c->n; i++) {
		const struct ci_case *k = &c->v[i];
		if (!keep[i])
			continue;
		if (at > t->end_ms)
			at = t->end_ms;
		end = k->duration_ms > 0 ? at + k->duration_ms : at;
		if (end > t->end_ms)
			end = t->end_ms;
		name.len = 0;
		ci_case_fullname(&name, k);
		if (t->t.shard_count > 0) /* shards of one attempt */
			snprintf(key, sizeof key, "%s#%lld@%d#%zu",
				 t->t.test_type, t->t.attempt_number,
				 t->t.shard_index, i);
		else
			snprintf(key, sizeof key, "%s#%lld#%zu", t->t.test_type,
				 t->t.attempt_number, i);
		ci_span_id(id, r->id, CI_SPAN_CASE, key, t->end_ms);
		otlp_span_head(b, 0, trace, id, parent, name.s, 1, at, end);
		otlp_str(&a, "test.case.name", name.s);
		if (k->status != CI_CASE_SKIPPED)
			otlp_str(&a, "test.case.result.status",
				 k->status == CI_CASE_FAILED ? "fail" : "pass");
		otlp_str(&a, "test.suite.name", t->t.test_type);
		otlp_str(&a, "ci_tools.case.status",
			 ci_case_statuses[k->status]);
		if (k->classname)
			otlp_str(&a, "ci_tools.case.classname", k->classname);
		if (k->duration_ms >= 0)
			otlp_int(&a, "ci_tools.duration_ms", k->duration_ms);
		if (k->message_cut)
			otlp_bool(&a, "ci_tools.case.message_cut", 1);
		otlp_end_attrs(&a);
		otlp_status(b,
			    k->status == CI_CASE_PASSED       ? 1
				: k->status == CI_CASE_FAILED ? 2
							      : 0,
			    k->status == CI_CASE_FAILED
				? (k->message ? k->message : "failed")
				: NULL);
		ci_buf_str(b, "}");
		at = end;
	}
	ci_buf_free(&name);
}

static void
otlp_attempt(struct ci_buf *b, const struct ci_run *r,
	     const struct ci_attempt *t, const char *trace, const char *root,
	     struct otlp_budget *bud)
{
	const struct ci_test_exec *x = &t->t;
	struct otlp_attrs a = { .b = b };
	char id[17], parent[17], name[80];
	const char *pid = root;
	char *keep = xmalloc(t->cases.n + 1);
	size_t taken = otlp_take(&t->cases, bud, keep);

	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].name == t->step &&
		    t->span < r->steps[i].nspans &&
		    !otlp_hidden_step(t->step)) {
			otlp_step_span_id(parent, r, &r->steps[i], t->span);
			pid = parent;
		}
	if (x->shard_count > 0) /* shards of one attempt */
		snprintf(name, sizeof name, "%s#%lld@%d", x->test_type,
			 x->attempt_number, x->shard_index);
	else
		snprintf(name, sizeof name, "%s#%lld", x->test_type,
			 x->attempt_number);
	ci_span_id(id, r->id, CI_SPAN_ATTEMPT, name, t->end_ms);
	snprintf(name, sizeof name, "%s attempt %lld", x->test_type,
		 x->attempt_number);
	otlp_span_head(b, 0, trace, id, pid, name, 1, t->start_ms, t->end_ms);
	otlp_str(&a, "test.suite.name", x->test_type);
	otlp_str(&a, "test.suite.run.status", otlp_suite_status(x->status));
	otlp_str(&a, "test_execution.test_type", x->test_type);
	otlp_int(&a, "test_execution.attempt_number", x->attempt_number);
	otlp_str(&a, "test_execution.status", x->status);
	otlp_int(&a, "test_execution.duration", x->duration);
	otlp_int(&a, "test_execution.failure_count", x->failure_count);
	otlp_int(&a, "test_execution.started_at", x->started_at);
	otlp_int(&a, "test_execution.completed_at", x->completed_at);
	otlp_bool(&a, "test_execution.run_in_parallel", x->run_in_parallel);
	otlp_bool(&a, "test_execution.fallback_to_serial",
		  x->fallback_to_serial);
	if (x->shard_count > 0) {
		otlp_int(&a, "test_execution.shard.index", x->shard_index);
		otlp_int(&a, "test_execution.shard.count", x->shard_count);
	}
	if (t->has_cases) {
		otlp_int(&a, "ci_tools.cases",
			 (long long)t->cases.n + t->cases.omitted);
		otlp_int(&a, "ci_tools.cases_dropped",
			 (long long)(t->cases.n - taken) + t->cases.omitted);
	}
	otlp_end_attrs(&a);
	snprintf(name, sizeof name, "%lld failure%s", x->failure_count,
		 x->failure_count == 1 ? "" : "s");
	otlp_status(b,
		    strcmp(x->status, "passed") == 0       ? 1
			: strcmp(x->status, "failed") == 0 ? 2
							   : 0,
		    strcmp(x->status, "failed") == 0 ? name : NULL);
	ci_buf_str(b, "}");
	otlp_cases(b, r, t, keep, trace, id);
	free(keep);
}

/* The meaning of a run's exit code (contracts/exit-codes.md), as error.type. */
static const char *
otlp_error_type(int code)
{
	static const char *const type[] = { "",
					    "step_failed",
					    "usage",
					    "tests_failed",
					    "environment",
					    "deployment_failed" };

	return code >= 0 && code <= 5 ? type[code] : "failure";
}

/* One run: one ExportTraceServiceRequest, one line. */
static void
otlp_run(struct ci_buf *out, const struct ci_run *r)
{
	struct ci_buf b = { 0 };
	struct otlp_attrs a = { .b = &b };
	const char *service, *resource = otlp_resource(&service);
	const char *pipeline = getenv("GITHUB_WORKFLOW"), *profile = NULL;
	const char *triggered = NULL, **done;
	char trace[33], root[17], name[320], key[32];
	long long start = r->first_ms, end = r->last_ms;
	int code = r->has_pipeline ? r->pipeline.exit_code : -1;
	unsigned long long root_msgs = 0;
	size_t ndone;
	struct otlp_budget bud;

	if (!pipeline || !*pipeline)
		pipeline = service;
	if (r->has_start) {
		profile = r->start.profile;
		triggered = r->start.triggered_by;
		if (r->start.start_time * 1000 + 999 < start)
			start = r->start.start_time * 1000;
	} else if (r->has_pipeline) {
		profile = r->pipeline.profile;
		triggered = r->pipeline.triggered_by;
	}
	for (size_t i = 0; i < r->nsteps; i++)
		for (size_t k = 0; k < r->steps[i].nspans; k++) {
			const struct ci_span *p = &r->steps[i].spans[k];
			if (otlp_hidden_step(r->steps[i].name))
				root_msgs += p->msgs;
			else if (p->start_ms < start)
				start = p->start_ms;
		}
	for (size_t i = 0; i < r->ntests; i++)
		if (r->tests[i].start_ms < start)
			start = r->tests[i].start_ms;
	ci_trace_id(trace, r->id);
	ci_span_id(root, r->id, CI_SPAN_RUN, "", 0);
	snprintf(name, sizeof name, "RUN %.256s%s%s", pipeline,
		 profile ? " " : "", profile ? profile : "");

	ci_buf_printf(&b,
		      "{\"resourceSpans\":[{\"resource\":%s,"
		      "\"scopeSpans\":[{\"scope\":{\"name\":\"ci-report\","
		      "\"version\":\"" CI_VERSION "\"},\"spans\":[",
		      resource);
	otlp_span_head(&b, 1, trace, root, NULL, name, 2, start, end);
	otlp_str(&a, "cicd.pipeline.name", pipeline);
	otlp_str(&a, "cicd.pipeline.action.name", "RUN");
	otlp_str(&a, "cicd.pipeline.run.id", r->id);
	if (code >= 0)
		otlp_str(&a, "cicd.pipeline.result",
			 code == 0 ? "success" : "failure");
	else
		otlp_str(&a, "cicd.pipeline.run.state", "executing");
	if (code > 0)
		otlp_str(&a, "error.type", otlp_error_type(code));
	if (code >= 0)
		otlp_int(&a, "process.exit.code", code);
	if (profile) {
		otlp_str(&a, "ci_tools.profile", profile);
		otlp_str(&a, "ci_tools.triggered_by", triggered);
	}
	done = ci_run_completed(r, &ndone);
	if (ndone) {
		otlp_key(&a, "ci_tools.steps_completed");
		ci_buf_str(&b, "{\"arrayValue\":{\"values\":[");
		for (size_t i = 0; i < ndone; i++) {
			ci_buf_str(
			    &b, i ? ",{\"stringValue\":" : "{\"stringValue\":");
			ci_buf_json_string(&b, done[i], strlen(done[i]));
			ci_buf_str(&b, "}");
		}
		ci_buf_str(&b, "]}}}");
	}
	free(done);
	otlp_end_attrs(&a);
	otlp_events(&b, r, NULL, 0, root_msgs);
	snprintf(key, sizeof key, "exit code %d", code);
	otlp_status(&b,
		    code < 0        ? 0
			: code == 0 ? 1
				    : 2,
		    code > 0 ? key : NULL);
	ci_buf_str(&b, "}");
	for (size_t i = 0; i < r->nsteps; i++)
		if (!otlp_hidden_step(r->steps[i].name))
			for (size_t k = 0; k < r->steps[i].nspans; k++)
				otlp_step(&b, r, &r->steps[i], k, trace, root,
					  end);
	bud = otlp_budget_of(r);
	for (size_t i = 0; i < r->ntests; i++)
		otlp_attempt(&b, r, &r->tests[i], trace, root, &bud);
	ci_buf_str(&b, "]}],\"schemaUrl\":\"" OTLP_SEMCONV "\"}]}\n");
	ci_buf_add(out, b.s, b.len);
	ci_buf_free(&b);
}

void
otlp_write(struct ci_buf *out, const struct report *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		otlp_run(out, rp->v[i].r);
		if (out->len >= 1 << 20) { /* a run's line can be megabytes */
			report_put(out);
			out->len = 0;
		}
	}
}
