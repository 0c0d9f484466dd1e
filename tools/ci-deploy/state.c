/*
 * state.c: the state file (read, checked, written atomically) and the lock
 * beside it that serialises runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ci.h"
#include "deploy.h"

#define MAX_STATE_SIZE (4 << 20)

static char *follow(const char *path);
static void take_lock(int stoppable);
static void to_history(void);
static int lock_held(void);
static void relock(void);
static void bad_state(const char *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int lockfd = -1;
static char *lockpath;
/* The file whose problems bad_state reports. */
static const char *where_file;

/*
 * Serialise runs on one state file with a lock on a file beside it (the
 * state file itself is replaced by rename), then read the state. A state
 * file behind symbolic links is the file they lead to: it is replaced
 * there, and its lock is beside it, whatever path reached it. Holding the
 * lock, remove the temporary files that runs killed while writing left: a
 * run writes the file only while it holds the lock. The lock is held until
 * exit.
 */
void
lock_state(void)
{
	char *file = follow(statefile), *dir, why[256];

	free(statefile);
	statefile = file;
	dir = ci_dirname(statefile);
	if (ci_mkdirs(dir, 0777) < 0)
		ci_die(CI_EXIT_ENV, "cannot create directory %s: %s", dir,
		       strerror(errno));
	free(dir);
	lockpath = xmalloc(strlen(statefile) + 6);
	strcpy(lockpath, statefile);
	strcat(lockpath, ".lock");
	take_lock(1);
	ci_replace_leftovers(statefile);
	load_state(statefile);
	if (interrupted) {
		stop_reason(why, sizeof why);
		ci_die(log_errno ? CI_EXIT_ENV : CI_EXIT_DEPLOY,
		       "%s before the deployment started: nothing recorded",
		       why);
	}
}

/*
 * The file that path leads to through symbolic links, also when it does
 * not exist yet; a relative link is read from the directory it is in.
 */
static char *
follow(const char *path)
{
	char *p = xstrdup(path), *dir, *q, link[4096];
	struct stat sb;
	ssize_t n;

	for (int hops = 0; lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode); hops++) {
		if (hops == 40)
			ci_die(CI_EXIT_ENV, "%s: %s", path, strerror(ELOOP));
		if ((n = readlink(p, link, sizeof link - 1)) < 0)
			ci_die(CI_EXIT_ENV,
			       "cannot read the symbolic link %s: %s", p,
			       strerror(errno));
		link[n] = '\0';
		if (link[0] == '/' || !strchr(p, '/')) {
			q = xstrdup(link);
		} else {
			dir = ci_dirname(p);
			q = xmalloc(strlen(dir) + n + 2);
			sprintf(q, "%s/%s", dir, link);
			free(dir);
		}
		free(p);
		p = q;
	}
	return p;
}

/*
 * The lock on the file that lockpath names, once this run holds it. A
 * signal ends the wait when stoppable (nothing is recorded yet); else the
 * run waits on, to record what it did, and stops after.
 */
static void
take_lock(int stoppable)
{
	int waited = 0;

	do {
		if (lockfd >= 0)
			close(lockfd); /* removed as it was taken: again */
		lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
		if (lockfd < 0)
			ci_die(CI_EXIT_ENV, "cannot open lock file %s: %s",
			       lockpath, strerror(errno));
		if (flock(lockfd, LOCK_EX | LOCK_NB) == 0)
			continue;
		if (!waited++)
			ci_warn("waiting for another deployment to release %s",
				lockpath);
		while (flock(lockfd, LOCK_EX) < 0) {
			char why[256];
			if (errno != EINTR)
				ci_die(CI_EXIT_ENV, "cannot lock %s: %s",
				       lockpath, strerror(errno));
			if (!interrupted || !stoppable)
				continue;
			stop_reason(why, sizeof why);
			ci_die(CI_EXIT_DEPLOY,
			       "%s while waiting for %s: nothing recorded", why,
			       lockpath);
		}
	} while (!lock_held());
}

static long long
id_seconds(const struct record *r)
{
	return strtoll(r->id + 7, NULL, 10);
}

/* The current record goes to the history, of which the 10 newest stay. */
static void
to_history(void)
{
	if (!st.has_cur)
		return;
	if (st.nhist == MAX_HISTORY) {
		free(st.hist[0].error);
		memmove(st.hist, st.hist + 1,
			(MAX_HISTORY - 1) * sizeof *st.hist);
		st.nhist--;
	}
	st.hist[st.nhist++] = st.cur;
	st.cur.error = NULL; /* the history's now */
	st.has_cur = 0;
}

/* Whether the lock file is still the one locked (not removed, replaced). */
static int
lock_held(void)
{
	struct stat a, b;

	return lockfd >= 0 && fstat(lockfd, &a) == 0 &&
	    stat(lockpath, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

/*
 * The lock was lost (its file removed or replaced while this run held it):
 * take it again and record this run's deployment in the file as it now
 * is, so that neither its outcome nor another run's records are lost. It
 * is the current record again: its push is the newest.
 */
static void
relock(void)
{
	struct record mine = st.cur;
	int i, found = 0;

	SAY("warn", -1,
	    "%s: lost the lock %s (removed or replaced): taking it again to "
	    "record the deployment",
	    mine.id, lockpath);
	st.cur.error = NULL;
	for (i = 0; i < st.nhist; i++)
		free(st.hist[i].error);
	close(lockfd);
	lockfd = -1;
	take_lock(0);
	load_state(statefile);
	for (i = 0; i < st.nhist && !found; i++)
		if (!strcmp(st.hist[i].id, mine.id)) {
			free(st.hist[i].error);
			memmove(st.hist + i, st.hist + i + 1,
				(st.nhist - i - 1) * sizeof *st.hist);
			st.nhist--;
			found = 1;
		}
	if (st.has_cur && strcmp(st.cur.id, mine.id) != 0)
		to_history();
	free(st.cur.error);
	st.cur = mine;
	st.has_cur = 1;
	if (!strcmp(mine.status, "success") &&
	    (!st.has_lkg || id_seconds(&mine) >= id_seconds(&st.lkg))) {
		st.lkg = mine;
		st.lkg.error = NULL;
		st.has_lkg = 1;
	}
}

/*
 * Start a deployment: the current one goes to the history (the 10 newest
 * are kept), and the new one is recorded as in progress at attempt 1. Its
 * id is the epoch second it starts in, after the newest id in the file.
 */
void
begin(const char *sha)
{
	long long last = 0, id;
	struct timespec now;
	struct record *r = &st.cur;
	int i;

	for (i = 0; i < st.nhist; i++)
		if (id_seconds(&st.hist[i]) > last)
			last = id_seconds(&st.hist[i]);
	if (st.has_cur && id_seconds(&st.cur) > last)
		last = id_seconds(&st.cur);
	if (st.has_lkg && id_seconds(&st.lkg) > last)
		last = id_seconds(&st.lkg);
	now = ci_now();
	id = now.tv_sec;
	if (last >= id) {
		id = last + 1;
		if (id - now.tv_sec <= 2) {
			/* The same second as the last one: wait for the next.
			 */
			pause_for(id - now.tv_sec - now.tv_nsec / 1000000000.0);
			while ((now = ci_now()).tv_sec < id && !interrupted)
				pause_for(0.001);
			if (interrupted) {
				char why[256];
				stop_reason(why, sizeof why);
				ci_die(CI_EXIT_DEPLOY,
				       "%s while waiting for the next second "
				       "to start the deployment: nothing "
				       "recorded",
				       why);
			}
		}
	}
	if (st.has_cur && st.cur.error &&
	    !strncmp(st.cur.error, "in progress: ", 13)) {
		/* Its run ended without an outcome: the lock is ours. */
		char *was = st.cur.error;
		st.cur.error = NULL;
		set_error(&st.cur,
			  "interrupted: the run ended without an outcome "
			  "(last: %.900s)",
			  was + 13);
		free(was);
	}
	to_history();
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "deploy-%lld", id);
	ci_iso8601(r->ts, now, 0);
	memcpy(r->sha, sha, 41);
	strcpy(r->status, "failure");
	r->attempts = 1;
	set_error(r, "in progress: attempt 1 of %lld", o_attempts);
	st.has_cur = 1;
	save();
}

static void
bad_state(const char *where, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ci_die(CI_EXIT_USAGE, "%s: %s%s%s (the file is left as it is)",
	       where_file, where, *where ? ": " : "", msg);
}

static int
all_of(const char *s, const char *set, size_t min, size_t max)
{
	size_t n = strspn(s, set);

	return s[n] == '\0' && n >= min && n <= max;
}

static int
is_id(const char *s)
{
	return !strncmp(s, "deploy-", 7) && all_of(s + 7, "0123456789", 1, 19);
}

static int
is_time(const char *s)
{
	return ci_timestamp_ms(s) >= 0;
}

static int
is_sha(const char *s)
{
	return all_of(s, "0123456789abcdef", 40, 40);
}

/* Only a failure says why. */
static int
failure_only(const cJSON *o, const char *path, struct ci_buf *why)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "status");

	if (cJSON_GetObjectItemCaseSensitive(o, "error_message") &&
	    strcmp(s->valuestring, "failure") != 0)
		return ci_shape_fail(why, path, "error_message", NULL,
				     "is only for a failure");
	return 0;
}

/* contracts/deployment-state-schema.json, as tables of lib/logcheck.c. */
static const char *const statuses[] = { "success", "failure", "rolled_back",
					NULL };
#define ID_FIELD(field, req)                                                   \
	{                                                                      \
		.name = field, .kind = CI_PATTERN, .required = req,            \
		.match = is_id, .expect = "deploy-<epoch seconds>"             \
	}
static const struct ci_field record_fields[] = {
	ID_FIELD("deployment_id", 1),
	{ .name = "timestamp",
	  .kind = CI_PATTERN,
	  .required = 1,
	  .match = is_time,
	  .expect = "an ISO 8601 UTC time" },
	{ .name = "commit_sha",
	  .kind = CI_PATTERN,
	  .required = 1,
	  .match = is_sha,
	  .expect = "40 lowercase hex digits" },
	{ .name = "status",
	  .kind = CI_ENUM,
	  .required = 1,
	  .values = statuses },
	{ .name = "git_operations_attempts",
	  .kind = CI_INT,
	  .required = 1,
	  .min = 1,
	  .max = 10 },
	ID_FIELD("restored_deployment_id", 0),
	{ .name = "error_message", .kind = CI_STR1 },
};
static const struct ci_shape record_shape =
    CI_SHAPE(record_fields, failure_only);
static const struct ci_field lkg_fields[] = {
	ID_FIELD("deployment_id", 1),
	{ .name = "commit_sha",
	  .kind = CI_PATTERN,
	  .required = 1,
	  .match = is_sha,
	  .expect = "40 lowercase hex digits" },
	{ .name = "timestamp",
	  .kind = CI_PATTERN,
	  .required = 1,
	  .match = is_time,
	  .expect = "an ISO 8601 UTC time" },
};
static const struct ci_shape lkg_shape = CI_SHAPE(lkg_fields, NULL);
static const struct ci_field state_fields[] = {
	{ .name = "currentDeployment",
	  .kind = CI_OBJ,
	  .required = 1,
	  .sub = &record_shape },
	{ .name = "lastKnownGood",
	  .kind = CI_OBJ_NULL,
	  .required = 1,
	  .sub = &lkg_shape },
	{ .name = "history",
	  .kind = CI_OBJS,
	  .required = 1,
	  .max = MAX_HISTORY,
	  .sub = &record_shape },
};
static const struct ci_shape state_shape = CI_SHAPE(state_fields, NULL);

static void
copy(char *dst, size_t n, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	snprintf(dst, n, "%s", v ? v->valuestring : "");
}

/* A record of a checked state. */
static void
get_record(const cJSON *o, struct record *r)
{
	const cJSON *v;

	memset(r, 0, sizeof *r);
	copy(r->id, sizeof r->id, o, "deployment_id");
	copy(r->ts, sizeof r->ts, o, "timestamp");
	copy(r->sha, sizeof r->sha, o, "commit_sha");
	copy(r->status, sizeof r->status, o, "status");
	copy(r->restored, sizeof r->restored, o, "restored_deployment_id");
	v = cJSON_GetObjectItemCaseSensitive(o, "git_operations_attempts");
	r->attempts = (int)v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "error_message")))
		r->error = xstrdup(v->valuestring);
}

/*
 * The state file's bytes b (a NUL is added) into st; 0, or -1 and why
 * when they are not a valid state.
 */
int
parse_state(struct ci_buf *b, struct ci_buf *why)
{
	struct ci_buf text = { 0 };
	const char *end = NULL;
	const cJSON *v;
	cJSON *root;
	int line = 1;

	memset(&st, 0, sizeof st);
	/* What cJSON lets pass: NUL, bad UTF-8, raw controls in strings. */
	for (size_t at = 0, eol; at < b->len; at = eol + 1, line++) {
		const char *nl = memchr(b->s + at, '\n', b->len - at);
		eol = nl ? (size_t)(nl - b->s) : b->len;
		if (ci_text_check(b->s + at, eol - at, &text) < 0) {
			ci_buf_printf(why, "line %d: %s", line, text.s);
			ci_buf_free(&text);
			return -1;
		}
	}
	line = 1;
	ci_buf_add(b, "", 1);
	root = cJSON_ParseWithLengthOpts(b->s, b->len, &end, 1);
	if (!root || end != b->s + b->len - 1) {
		if (!end)
			end = cJSON_GetErrorPtr();
		for (const char *p = b->s; end && p < end; p++)
			line += *p == '\n';
		cJSON_Delete(root);
		ci_buf_printf(why, "not valid JSON (line %d)", line);
		return -1;
	}
	if (ci_shape_check(root, &state_shape, "", why) < 0) {
		cJSON_Delete(root);
		return -1;
	}
	get_record(cJSON_GetObjectItemCaseSensitive(root, "currentDeployment"),
		   &st.cur);
	st.has_cur = 1;
	v = cJSON_GetObjectItemCaseSensitive(root, "lastKnownGood");
	if (!cJSON_IsNull(v)) {
		copy(st.lkg.id, sizeof st.lkg.id, v, "deployment_id");
		copy(st.lkg.sha, sizeof st.lkg.sha, v, "commit_sha");
		copy(st.lkg.ts, sizeof st.lkg.ts, v, "timestamp");
		strcpy(st.lkg.status, "success");
		st.has_lkg = 1;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "history");
	for (v = v->child; v; v = v->next)
		get_record(v, &st.hist[st.nhist++]);
	cJSON_Delete(root);
	return 0;
}

/* Read and check the state file; -1 when there is none. Exits 2 when bad. */
int
load_state(const char *path)
{
	struct ci_buf b = { 0 }, why = { 0 };
	char buf[65536];
	ssize_t n;
	int fd;

	where_file = path;
	memset(&st, 0, sizeof st);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return -1;
		ci_die(CI_EXIT_USAGE, "cannot read %s: %s", path,
		       strerror(errno));
	}
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ci_die(CI_EXIT_USAGE, "cannot read %s: %s", path,
			       strerror(errno));
		ci_buf_add(&b, buf, n);
		if (b.len > MAX_STATE_SIZE)
			bad_state("", "larger than %d bytes", MAX_STATE_SIZE);
	}
	close(fd);
	if (parse_state(&b, &why) < 0)
		bad_state("", "%s", why.s);
	ci_buf_free(&b);
	ci_buf_free(&why);
	return 0;
}

static void
put_field(struct ci_buf *b, const char *ind, const char *key, const char *val,
	  int last)
{
	ci_buf_printf(b, "%s\"%s\": ", ind, key);
	ci_buf_json_string(b, val, strlen(val));
	ci_buf_str(b, last ? "\n" : ",\n");
}

void
put_record(struct ci_buf *b, const struct record *r, const char *ind)
{
	char in[16];

	snprintf(in, sizeof in, "%s  ", ind);
	ci_buf_str(b, "{\n");
	put_field(b, in, "deployment_id", r->id, 0);
	put_field(b, in, "timestamp", r->ts, 0);
	put_field(b, in, "commit_sha", r->sha, 0);
	put_field(b, in, "status", r->status, 0);
	ci_buf_printf(b, "%s\"git_operations_attempts\": %d%s\n", in,
		      r->attempts, r->error || r->restored[0] ? "," : "");
	if (r->restored[0])
		put_field(b, in, "restored_deployment_id", r->restored,
			  !r->error);
	if (r->error)
		put_field(b, in, "error_message", r->error, 1);
	ci_buf_printf(b, "%s}", ind);
}

/* The state as the seed writes it: two spaces, keys in the seed's order. */
void
format_state(struct ci_buf *b)
{
	ci_buf_str(b, "{\n  \"currentDeployment\": ");
	put_record(b, &st.cur, "  ");
	ci_buf_str(b, ",\n  \"lastKnownGood\": ");
	if (st.has_lkg) {
		ci_buf_str(b, "{\n");
		put_field(b, "    ", "deployment_id", st.lkg.id, 0);
		put_field(b, "    ", "commit_sha", st.lkg.sha, 0);
		put_field(b, "    ", "timestamp", st.lkg.ts, 1);
		ci_buf_str(b, "  }");
	} else {
		ci_buf_str(b, "null");
	}
	ci_buf_str(b, ",\n  \"history\": [");
	for (int i = 0; i < st.nhist; i++) {
		ci_buf_str(b, i ? ",\n    " : "\n    ");
		put_record(b, &st.hist[i], "    ");
	}
	ci_buf_str(b, st.nhist ? "\n  ]\n}\n" : "]\n}\n");
}

/* Replace the state file atomically; a reader sees the old or the new. */
void
save(void)
{
	struct ci_buf b = { 0 };

	if (lockfd >= 0 && !lock_held())
		relock();
	format_state(&b);
	if (ci_replace_file(statefile, b.s, b.len) < 0)
		ci_die(CI_EXIT_ENV, "cannot write %s: %s", statefile,
		       strerror(errno));
	ci_buf_free(&b);
}
