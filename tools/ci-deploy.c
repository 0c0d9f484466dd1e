/*
 * ci-deploy: push a commit to a git remote with retries and exponential
 * backoff, keep the deployment state file (what is deployed, what was last
 * good, the deployments before), check a deployment with a command, and roll
 * back to a known good commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "ci.h"

#define MAX_HISTORY 10
#define MAX_STATE_SIZE (4 << 20)
#define DEFAULT_STATE ".github/deployment-state.json"
#define TMPREF_PREFIX "refs/ci-deploy/"

struct record {
	char id[32]; /* deploy-<epoch seconds> */
	char ts[32];
	char sha[41];
	char status[16]; /* success, failure, rolled_back */
	int attempts;
	char *error; /* error_message, or NULL */
};

/* The state file: currentDeployment, lastKnownGood, history (oldest first). */
struct state {
	int has_cur, has_lkg, nhist;
	struct record cur, lkg, hist[MAX_HISTORY + 1];
};

static void usage(FILE *f);
static int cmd_show(int json, int history);
static int cmd_push(void);
static int cmd_rollback(void);
static const char *state_path(git_repository *r);
static int load_state(const char *path);
static void make_tmpref(const git_oid *oid);
static void bad_state(const char *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void format_state(struct ci_buf *b);
static void open_repo(void);
static void resolve_remote(void);
static void resolve_ref(void);
static void start_log(void);
static void lock_state(void);
static void begin(const char *sha);
static int push_attempts(struct record *r, int force);
static int push_once(int force);
static int run_verify(struct record *r);
static int rollback(char *outcome, size_t n);
static void save(void);
static void set_error(struct record *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_early(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void redact(char *s);
static void pause_for(double sec);
static void say_(struct ci_entry *e, const char *level, long long dur,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Say a line on stderr and, with a run id, log it (step deploy) from here. */
#define SAY(level, dur, ...)                                                   \
	do {                                                                   \
		struct ci_entry e_;                                            \
		ci_entry_init(&e_, run_id, "deploy");                          \
		CI_FROM_CALLER(&e_);                                           \
		say_(&e_, level, dur, __VA_ARGS__);                            \
	} while (0)

/* The command line. */
static const char *o_remote = "origin", *o_ref, *o_commit = "HEAD", *o_state,
		  *o_to, *o_verify;
static long long o_attempts = 3;
static double o_base = 1;
static int o_force, o_rollback_on_failure;

/* What the work resolved and holds. */
static struct state st;
static const char *statefile;
static git_repository *repo;
static char *url, *shown_url, *refname, *secret_user, *token;
static int token_ok, lockfd = -1;
static char tmpref[64];
static struct ci_log deploy_log;
static const char *run_id;
static long long t0;
static volatile sig_atomic_t interrupted;

/* The outcome of one push attempt. */
static char reason[1024], remote_msg[256];
static int rejected, permanent, cred_calls, auth_failed;

static void
usage(FILE *f)
{
	fputs("usage: ci-deploy push [--remote NAME|URL] [--ref REF] "
	      "[--commit REV] [--state FILE] [--attempts N] "
	      "[--backoff-base SEC] [--force] [--verify CMD "
	      "[--rollback-on-failure]]\n"
	      "       ci-deploy rollback [--to DEPLOYMENT_ID] "
	      "[--remote NAME|URL] [--ref REF] [--state FILE] [--attempts N] "
	      "[--backoff-base SEC]\n"
	      "       ci-deploy status [--state FILE] [--json]\n"
	      "       ci-deploy history [--state FILE]\n",
	      f);
}

static void
on_signal(int sig)
{
	interrupted = sig;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "attempts", required_argument, NULL, 'a' },
		{ "backoff-base", required_argument, NULL, 'b' },
		{ "commit", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "ref", required_argument, NULL, 'R' },
		{ "remote", required_argument, NULL, 'r' },
		{ "rollback-on-failure", no_argument, NULL, 'F' },
		{ "state", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 't' },
		{ "verify", required_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name, *opts;
	} cmds[] = {
		{ "push", "abcfrRsvF" },
		{ "rollback", "abrRst" },
		{ "status", "sj" },
		{ "history", "s" },
	};
	const char *cmd = argc > 1 ? argv[1] : NULL, *allowed = NULL;
	int c, json = 0, i;
	struct sigaction sa;

	ci_init(argv[0]);
	if (!cmd)
		ci_usage_error("no command: push, rollback, status or history");
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return xfinish_stdout();
	}
	if (!strcmp(cmd, "--version"))
		ci_version();
	for (i = 0; i < 4 && !allowed; i++)
		if (!strcmp(cmd, cmds[i].name))
			allowed = cmds[i].opts;
	if (!allowed && cmd[0] == '-')
		ci_usage_error("%.64s: unknown option", cmd);
	if (!allowed)
		ci_usage_error("\"%.64s\" is not a command: push, rollback, "
			       "status or history",
			       cmd);
	argc--;
	argv++;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return xfinish_stdout();
		}
		if (c == 'V')
			ci_version();
		if (c == '?' || c == ':')
			ci_bad_option(c, argc, argv);
		if (!strchr(allowed, c))
			ci_usage_error("%s: not an option of %s",
				       argv[optind - 1], cmd);
		switch (c) {
		case 'a':
			o_attempts = xnum("--attempts", optarg, 1, 10);
			break;
		case 'b':
			o_base = xdecimal("--backoff-base", optarg, 0, 3600);
			break;
		case 'c':
			o_commit = optarg;
			break;
		case 'f':
			o_force = 1;
			break;
		case 'F':
			o_rollback_on_failure = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'r':
			o_remote = optarg;
			break;
		case 'R':
			o_ref = optarg;
			break;
		case 's':
			o_state = optarg;
			break;
		case 't':
			o_to = optarg;
			break;
		case 'v':
			o_verify = optarg;
			break;
		}
	}
	if (optind < argc)
		ci_usage_error("unexpected argument \"%.64s\"", argv[optind]);
	if (o_rollback_on_failure && !o_verify)
		ci_usage_error("--rollback-on-failure needs --verify");
	if (o_to && strncmp(o_to, "deploy-", 7) != 0)
		ci_usage_error("--to: \"%.64s\" is not a deployment id "
			       "(deploy-<epoch seconds>)",
			       o_to);
	if (o_state && !*o_state)
		ci_usage_error("--state: empty file name");

	git_libgit2_init();
	if (cmd[0] == 's' || cmd[0] == 'h')
		return cmd_show(json, cmd[0] == 'h');

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: waits end at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t0 = ci_mono_ms();
	return cmd[0] == 'p' ? cmd_push() : cmd_rollback();
}

/* status and history: read the file as it is; no lock is needed to read. */
static int
cmd_show(int json, int history)
{
	struct ci_buf b = { 0 };
	const struct record *r;

	if (!o_state && git_repository_open_ext(&repo, ".", 0, NULL) < 0)
		repo = NULL;
	statefile = state_path(repo);
	if (load_state(statefile) < 0) {
		if (json)
			puts("null");
		else if (!history)
			printf("no deployment recorded in %s\n", statefile);
		return xfinish_stdout();
	}
	if (json) {
		format_state(&b);
		xwrite_stdout(b.s, b.len);
		ci_buf_free(&b);
	} else if (history) {
		for (int i = st.nhist; i >= 0; i--) {
			r = i == st.nhist ? &st.cur : &st.hist[i];
			printf("%s %s %s %s %d%s%s\n", r->id, r->ts, r->sha,
			       r->status, r->attempts, r->error ? " " : "",
			       r->error ? r->error : "");
		}
	} else {
		r = &st.cur;
		printf("current: %s %s %s %s\n", r->id, r->status, r->sha,
		       r->ts);
		if (st.has_lkg)
			printf("last known good: %s %s %s\n", st.lkg.id,
			       st.lkg.sha, st.lkg.ts);
		else
			puts("last known good: none");
		if (r->error)
			printf("last attempt: %s\n", r->error);
		else
			printf("last attempt: %s after %d attempt%s\n",
			       r->status, r->attempts,
			       r->attempts == 1 ? "" : "s");
	}
	return xfinish_stdout();
}

/* --state, else .github/deployment-state.json at the top of the work tree. */
static const char *
state_path(git_repository *r)
{
	const char *wd = r ? git_repository_workdir(r) : NULL;
	char *p;

	if (o_state || !wd)
		return o_state ? o_state : DEFAULT_STATE;
	p = xmalloc(strlen(wd) + sizeof DEFAULT_STATE);
	strcpy(p, wd);
	strcat(p, DEFAULT_STATE);
	return p;
}

/* push: resolve everything, then start the deployment under the lock. */
static int
cmd_push(void)
{
	git_object *obj, *commit;
	char sha[41], outcome[1536];
	struct record *r = &st.cur;
	int pushed = 0, ok = 0;
	size_t n;

	open_repo();
	start_log();
	if (git_revparse_single(&obj, repo, o_commit) < 0)
		fail_early("--commit: no commit \"%.64s\" in this repository",
			   o_commit);
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0)
		fail_early("--commit: \"%.64s\" is not a commit", o_commit);
	git_oid_tostr(sha, sizeof sha, git_object_id(commit));
	resolve_remote();
	resolve_ref();
	make_tmpref(git_object_id(commit));
	lock_state();
	begin(sha);
	pushed = push_attempts(r, o_force) == 0;
	ok = pushed && (!o_verify || run_verify(r) == 0);
	if (ok) {
		strcpy(r->status, "success");
		free(r->error);
		r->error = NULL;
		st.lkg = *r;
		st.has_lkg = 1;
		save();
		SAY("info", ci_mono_ms() - t0,
		    "%s: deployed %s to %s on %s after %d attempt%s", r->id,
		    r->sha, refname, shown_url, r->attempts,
		    r->attempts == 1 ? "" : "s");
		return xfinish_stdout();
	}
	save();
	n = (size_t)snprintf(outcome, sizeof outcome, "%s: %s", r->id,
			     r->error);
	if (pushed && o_rollback_on_failure && !interrupted) {
		/* As helm upgrade --atomic: undo what did not verify. */
		SAY("error", -1, "%s; rolling back", outcome);
		memcpy(outcome + n, "; ", 3);
		rollback(outcome + n + 2, sizeof outcome - n - 2);
	}
	SAY("error", ci_mono_ms() - t0, "%s", outcome);
	return CI_EXIT_DEPLOY;
}

/* rollback: push the target commit back to the ref, forced. */
static int
cmd_rollback(void)
{
	char outcome[1024];
	int rc;

	open_repo();
	start_log();
	resolve_remote();
	resolve_ref();
	lock_state();
	rc = rollback(outcome, sizeof outcome);
	SAY(rc == 0 ? "info" : "error", ci_mono_ms() - t0, "%s", outcome);
	return rc == 0 ? xfinish_stdout() : CI_EXIT_DEPLOY;
}

static void
open_repo(void)
{
	int rc = git_repository_open_ext(&repo, ".", 0, NULL);

	if (rc == GIT_ENOTFOUND)
		ci_die(CI_EXIT_ENV, "not inside a git repository");
	if (rc < 0)
		ci_die(CI_EXIT_ENV, "cannot open the git repository: %s",
		       git_error_last()->message);
	statefile = state_path(repo);
}

/* With CI_RUN_ID set, events and the outcome are also log entries. */
static void
start_log(void)
{
	const char *id = getenv("CI_RUN_ID");

	if (!id || !*id)
		return;
	run_id = xrunid_env();
	xlog_open(&deploy_log, ci_log_path(NULL), 1);
}

/* Nothing is recorded when the deployment cannot even be named. */
static void
fail_early(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	SAY("error", ci_mono_ms() - t0, "%s", msg);
	exit(CI_EXIT_DEPLOY);
}

/* Exit 4 when libgit2 cannot speak the scheme of the URL. */
static void
need_transport(const char *scheme, size_t n)
{
	static const struct {
		const char *name;
		int feature;
	} t[] = {
		{ "file", 0 },
		{ "git", 0 },
		{ "http", 0 },
		{ "https", GIT_FEATURE_HTTPS },
		{ "ssh", GIT_FEATURE_SSH },
		{ "ssh+git", GIT_FEATURE_SSH },
		{ "git+ssh", GIT_FEATURE_SSH },
	};

	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		if (strlen(t[i].name) != n || strncmp(scheme, t[i].name, n))
			continue;
		if (t[i].feature && !(git_libgit2_features() & t[i].feature))
			ci_die(CI_EXIT_ENV,
			       "libgit2 was built without %s "
			       "support",
			       t[i].name);
		return;
	}
	ci_die(CI_EXIT_ENV,
	       "libgit2 has no transport for %.*s:// (file, git, http, "
	       "https, ssh)",
	       (int)n, scheme);
}

/*
 * --remote: a configured remote (its push URL), else a URL or a path. A
 * token in an http(s) URL is taken out of it and given to libgit2 as a
 * credential; the URL shown anywhere has no credentials.
 */
static void
resolve_remote(void)
{
	const char *env, *u, *at, *p, *host, *hend;
	git_remote *rem;
	struct stat sb;
	size_t n;

	if (git_remote_lookup(&rem, repo, o_remote) == 0) {
		u = git_remote_pushurl(rem) ? git_remote_pushurl(rem)
					    : git_remote_url(rem);
		url = xstrdup(u ? u : "");
		git_remote_free(rem);
	} else if (strchr(o_remote, '/') || strchr(o_remote, ':')) {
		url = xstrdup(o_remote);
	} else {
		fail_early("--remote: no remote named \"%.64s\" in this "
			   "repository",
			   o_remote);
	}
	shown_url = xstrdup(url);
	if ((p = strstr(url, "://"))) {
		n = p - url;
		host = p + 3;
		hend = host + strcspn(host, "/");
		at = memrchr(host, '@', hend - host);
		if ((n == 4 || n == 5) && !strncmp(url, "https", n) && at) {
			const char *colon = memchr(host, ':', at - host);
			if (colon) {
				secret_user = strndup(host, colon - host);
				token = strndup(colon + 1, at - colon - 1);
			} else {
				token = strndup(host, at - host);
			}
			memmove((char *)host, at + 1, strlen(at + 1) + 1);
			free(shown_url);
			shown_url = xstrdup(url);
			token_ok = 1;
		}
		if (!token &&
		    (((env = getenv("GITHUB_TOKEN")) && *env) ||
		     ((env = getenv("GIT_TOKEN")) && *env))) {
			token = xstrdup(env);
			/* Never sent in the clear, but to this machine. */
			n = strcspn(host, host[0] == '[' ? "]" : ":/");
			token_ok = (p - url == 5) ||
			    (n == 9 && !strncmp(host, "127.0.0.1", 9)) ||
			    (n == 9 && !strncmp(host, "localhost", 9)) ||
			    (n == 4 && !strncmp(host, "[::1", 4));
			n = p - url;
		}
		need_transport(url, n);
	} else if ((p = strchr(url, ':')) && p < url + strcspn(url, "/")) {
		need_transport("ssh", 3); /* user@host:path */
	} else if (stat(url, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fail_early("--remote: no git repository at %s", url);
	}
}

/* --ref, with refs/heads/ for a bare name; else the current branch. */
static void
resolve_ref(void)
{
	git_reference *head;
	const char *t;

	if (o_ref) {
		if (!strncmp(o_ref, "refs/", 5))
			refname = xstrdup(o_ref);
		else {
			refname = xmalloc(strlen(o_ref) + 12);
			strcpy(refname, "refs/heads/");
			strcat(refname, o_ref);
		}
		int valid = 0;
		if (git_reference_name_is_valid(&valid, refname) < 0 || !valid)
			ci_usage_error("--ref: \"%.64s\" is not a valid "
				       "reference name",
				       o_ref);
		return;
	}
	if (git_reference_lookup(&head, repo, "HEAD") < 0 ||
	    git_reference_type(head) != GIT_REFERENCE_SYMBOLIC ||
	    !(t = git_reference_symbolic_target(head)) ||
	    strncmp(t, "refs/heads/", 11) != 0)
		ci_usage_error("HEAD is not on a branch: name the ref to "
			       "update with --ref");
	refname = xstrdup(t);
	git_reference_free(head);
}

/*
 * Serialise runs on one state file with a lock on a file beside it (the
 * state file itself is replaced by rename), then read the state. The lock
 * is held until exit.
 */
static void
lock_state(void)
{
	char *dir = ci_dirname(statefile), *lock;

	if (ci_mkdirs(dir, 0777) < 0)
		ci_die(CI_EXIT_ENV, "cannot create directory %s: %s", dir,
		       strerror(errno));
	free(dir);
	lock = xmalloc(strlen(statefile) + 6);
	strcpy(lock, statefile);
	strcat(lock, ".lock");
	lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (lockfd < 0)
		ci_die(CI_EXIT_ENV, "cannot open lock file %s: %s", lock,
		       strerror(errno));
	if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		ci_warn("waiting for another deployment to release %s", lock);
		while (flock(lockfd, LOCK_EX) < 0)
			if (errno != EINTR || interrupted)
				ci_die(CI_EXIT_DEPLOY,
				       "interrupted while waiting for %s",
				       lock);
	}
	free(lock);
	load_state(statefile);
}

static long long
id_seconds(const struct record *r)
{
	return strtoll(r->id + 7, NULL, 10);
}

/*
 * Start a deployment: the current one goes to the history (the 10 newest
 * are kept), and the new one is recorded as in progress at attempt 1. Its
 * id is the epoch second it starts in, after the newest id in the file.
 */
static void
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
			if (interrupted)
				ci_die(CI_EXIT_DEPLOY, "interrupted");
		}
	}
	if (st.has_cur) {
		if (st.nhist == MAX_HISTORY) {
			free(st.hist[0].error);
			memmove(st.hist, st.hist + 1,
				(MAX_HISTORY - 1) * sizeof *st.hist);
			st.nhist--;
		}
		st.hist[st.nhist++] = st.cur;
	}
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

/*
 * Up to --attempts pushes; before attempt k+1 wait 2^k * base seconds. What
 * cannot pass on a retry (authentication, a missing remote or commit, a
 * non-fast-forward) ends at once. The record is written at each attempt.
 */
static int
push_attempts(struct record *r, int force)
{
	double wait;
	int k;

	for (k = 1;; k++) {
		if (k > 1) {
			r->attempts = k;
			set_error(r, "in progress: attempt %d of %lld", k,
				  o_attempts);
			save();
		}
		SAY("info", -1,
		    "%s: attempt %d of %lld: pushing %s to %s on %s", r->id, k,
		    o_attempts, r->sha, refname, shown_url);
		if (push_once(force) == 0)
			return 0;
		SAY("warn", -1, "%s: attempt %d of %lld failed%s: %s", r->id, k,
		    o_attempts, permanent ? ", not retried" : "", reason);
		if (permanent || k == o_attempts || interrupted)
			break;
		wait = o_base * (double)(1LL << k);
		SAY("info", -1,
		    "waiting %g s before attempt %d of %lld (backoff 2^%d x "
		    "%g s, %s)",
		    wait, k + 1, o_attempts, k, o_base, r->id);
		pause_for(wait);
		if (interrupted)
			break;
	}
	if (interrupted)
		snprintf(reason, sizeof reason, "interrupted by %s",
			 interrupted == SIGINT ? "SIGINT" : "SIGTERM");
	set_error(r, "Git operations failed after %d attempts: %s", k, reason);
	return -1;
}

/* A rejection that a retry cannot change. */
static int
permanent_status(const char *s)
{
	static const char *const words[] = {
		"non-fast-forward", "fetch first", "stale info",
		"checked out",      "deny",        "denied",
		"prohibited",       "invalid",     "shallow",
	};

	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strstr(s, words[i]))
			return 1;
	return 0;
}

/* push_update_reference: a non-NULL status is a rejected ref. */
static int
on_ref(const char *name, const char *status, void *data)
{
	(void)data;
	if (status && !rejected) {
		rejected = 1;
		permanent = permanent_status(status);
		snprintf(reason, sizeof reason, "remote rejected %s: %s", name,
			 status);
	}
	return 0;
}

/* Keep the server's last message line (a hook's stderr) for the reason. */
static int
on_sideband(const char *text, int len, void *data)
{
	const char *end = text + len, *p;
	size_t n;

	(void)data;
	while (end > text &&
	       (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	for (p = end; p > text && p[-1] != '\n' && p[-1] != '\r'; p--)
		;
	if ((n = end - p) > 0) {
		n = n < sizeof remote_msg - 1 ? n : sizeof remote_msg - 1;
		memcpy(remote_msg, p, n);
		remote_msg[n] = '\0';
	}
	return 0;
}

/* The token for https; for ssh the agent, then the usual key files. */
static int
on_credentials(git_credential **out, const char *u, const char *user,
	       unsigned int allowed, void *data)
{
	static const char *const keys[] = { "id_ed25519", "id_ecdsa",
					    "id_rsa" };
	const char *home = getenv("HOME");
	char path[4096];

	(void)u;
	(void)data;
	cred_calls++;
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		if (token && token_ok && cred_calls == 1)
			return git_credential_userpass_plaintext_new(
			    out, secret_user ? secret_user : "x-access-token",
			    token);
		auth_failed = 1;
		git_error_set_str(
		    GIT_ERROR_NET,
		    cred_calls > 1 ? "authentication failed: the token was "
				     "refused"
			: token
			? "authentication required: a token from the "
			  "environment is only sent over https"
			: "authentication required: set GITHUB_TOKEN or "
			  "GIT_TOKEN");
		return GIT_EAUTH;
	}
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		if (cred_calls == 1)
			return git_credential_ssh_key_from_agent(
			    out, user ? user : "git");
		for (int i = cred_calls - 2; home && i < 3; i++) {
			snprintf(path, sizeof path, "%s/.ssh/%s", home,
				 keys[i]);
			cred_calls = i + 2;
			if (access(path, R_OK) == 0)
				return git_credential_ssh_key_new(
				    out, user ? user : "git", NULL, path, NULL);
		}
	} else if (allowed & GIT_CREDENTIAL_USERNAME) {
		return git_credential_username_new(out, user ? user : "git");
	}
	auth_failed = 1;
	git_error_set_str(GIT_ERROR_NET,
			  "authentication failed: no ssh key "
			  "was accepted");
	return GIT_EAUTH;
}

/* Errors of libgit2 that a retry cannot change. */
static int
permanent_error(int rc, const git_error *e)
{
	static const char *const words[] = {
		"not exported",        "does not appear to be a git repo",
		"not found",           "status code: 401",
		"status code: 403",    "status code: 404",
		"unsupported URL",     "unknown scheme",
		"could not find repo",
	};
	const char *m = e && e->message ? e->message : "";

	if (auth_failed || rc == GIT_EAUTH || rc == GIT_ECERTIFICATE ||
	    rc == GIT_ENONFASTFORWARD || rc == GIT_EBAREREPO ||
	    rc == GIT_EINVALIDSPEC || (e && e->klass == GIT_ERROR_REFERENCE))
		return 1;
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strstr(m, words[i]))
			return 1;
	return 0;
}

/* One push of tmpref to refname; 0 only when the remote took the ref. */
static int
push_once(int force)
{
	git_push_options po;
	git_remote *rem;
	const git_error *e;
	char spec[512], *specp = spec;
	git_strarray specs = { &specp, 1 };
	size_t n;
	int rc;

	rejected = permanent = cred_calls = auth_failed = 0;
	reason[0] = remote_msg[0] = '\0';
	snprintf(spec, sizeof spec, "%s%s:%s", force ? "+" : "", tmpref,
		 refname);
	git_error_clear();
	if ((rc = git_remote_create_anonymous(&rem, repo, url)) == 0) {
		git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
		po.callbacks.push_update_reference = on_ref;
		po.callbacks.credentials = on_credentials;
		po.callbacks.sideband_progress = on_sideband;
		po.proxy_opts.type = GIT_PROXY_AUTO;
		rc = git_remote_push(rem, &specs, &po);
		git_remote_free(rem);
	}
	if (rc < 0) {
		e = git_error_last();
		permanent = permanent_error(rc, e);
		if (rc == GIT_ENONFASTFORWARD)
			snprintf(reason, sizeof reason,
				 "non-fast-forward: %s on the remote is not an "
				 "ancestor of the commit (--force replaces it)",
				 refname);
		else
			snprintf(reason, sizeof reason, "%s",
				 e && e->message ? e->message
						 : "unknown libgit2 error");
		return -1;
	}
	if (rejected && remote_msg[0]) {
		n = strlen(reason);
		snprintf(reason + n, sizeof reason - n, " (remote: %s)",
			 remote_msg);
	}
	return rejected ? -1 : 0;
}

/* --verify: sh -c CMD with CI_DEPLOY_COMMIT and CI_DEPLOY_ID; 0 when it passed.
 */
static int
run_verify(struct record *r)
{
	int status;
	pid_t pid;

	set_error(r, "in progress: verifying");
	save();
	SAY("info", -1, "%s: verifying: %s", r->id, o_verify);
	fflush(stdout);
	if ((pid = fork()) < 0)
		ci_die(CI_EXIT_ENV, "cannot fork: %s", strerror(errno));
	if (pid == 0) {
		setenv("CI_DEPLOY_COMMIT", r->sha, 1);
		setenv("CI_DEPLOY_ID", r->id, 1);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		dup2(2, 1); /* stdout carries log entries only */
		execl("/bin/sh", "sh", "-c", o_verify, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			ci_die(CI_EXIT_ENV, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	strcpy(r->status, "failure");
	if (WIFEXITED(status))
		set_error(r, "verification failed: %.200s exited %d", o_verify,
			  WEXITSTATUS(status));
	else
		set_error(r,
			  "verification failed: %.200s was killed by "
			  "signal %d",
			  o_verify, WTERMSIG(status));
	return -1;
}

static int
no_target(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(why, n, "no rollback target: ");

	va_start(ap, fmt);
	vsnprintf(why + k, n - k, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * The rollback target: --to (a successful deployment in the file); else
 * lastKnownGood when the current deployment did not succeed (the newest
 * successful one when a rollback from lastKnownGood failed); else the newest
 * successful deployment of another commit before the current one.
 */
static int
find_target(struct record *t, char *why, size_t n)
{
	int i, ok, lkg;

	if (!st.has_cur)
		return no_target(why, n, "no deployment recorded in %s",
				 statefile);
	if (o_to && !strcmp(o_to, st.cur.id))
		return no_target(why, n, "%.64s is the current deployment",
				 o_to);
	for (i = st.nhist - 1; o_to && i >= 0; i--) {
		if (strcmp(o_to, st.hist[i].id) != 0)
			continue;
		if (strcmp(st.hist[i].status, "success") != 0)
			return no_target(why, n, "%.64s did not succeed (%s)",
					 o_to, st.hist[i].status);
		*t = st.hist[i];
		return 0;
	}
	if (o_to && !(st.has_lkg && !strcmp(o_to, st.lkg.id)))
		return no_target(why, n, "no deployment %.64s in %s", o_to,
				 statefile);
	/* A lastKnownGood whose rollback was begun (and failed) is not. */
	for (i = 0, lkg = st.has_lkg; i < st.nhist && lkg; i++)
		if (!strcmp(st.hist[i].id, st.lkg.id) &&
		    !strcmp(st.hist[i].status, "rolled_back"))
			lkg = 0;
	if (o_to || (strcmp(st.cur.status, "success") != 0 && lkg)) {
		*t = st.lkg;
		return 0;
	}
	ok = strcmp(st.cur.status, "success") != 0;
	for (i = st.nhist - 1; i >= 0; i--)
		if (!strcmp(st.hist[i].status, "success") &&
		    (ok || strcmp(st.hist[i].sha, st.cur.sha) != 0)) {
			*t = st.hist[i];
			return 0;
		}
	if (ok)
		return no_target(why, n, "no deployment has succeeded");
	return no_target(why, n,
			 "no successful deployment of another commit before %s",
			 st.cur.id);
}

/*
 * Roll back from the current deployment: it becomes rolled_back, and the
 * rollback is a new deployment of the target commit, forced, which becomes
 * lastKnownGood when it succeeds. Writes what happened to outcome.
 */
static int
rollback(char *outcome, size_t n)
{
	struct record t, *r = &st.cur;
	git_commit *commit;
	git_oid oid;
	char from[32];

	if (find_target(&t, outcome, n) < 0)
		return -1;
	git_oid_fromstr(&oid, t.sha);
	if (git_commit_lookup(&commit, repo, &oid) < 0)
		return no_target(outcome, n,
				 "commit %s of %s is not in this repository "
				 "(fetch it first)",
				 t.sha, t.id);
	git_commit_free(commit);
	make_tmpref(&oid);
	memcpy(from, st.cur.id, sizeof from);
	/* Rolled back from as soon as the rollback begins. */
	strcpy(st.cur.status, "rolled_back");
	free(st.cur.error);
	st.cur.error = NULL;
	begin(t.sha);
	SAY("info", -1, "%s: rolling back %s to %s (%s) on %s", r->id, from,
	    t.id, t.sha, refname);
	if (push_attempts(r, 1) < 0) {
		save();
		snprintf(outcome, n, "%s: rollback to %s failed: %s", r->id,
			 t.id, r->error);
		return -1;
	}
	strcpy(r->status, "success");
	free(r->error);
	r->error = NULL;
	st.lkg = *r;
	st.has_lkg = 1;
	save();
	snprintf(outcome, n, "%s: rolled back %s to %s (%s) on %s", r->id, from,
		 t.id, t.sha, refname);
	return 0;
}

static void
drop_tmpref(void)
{
	git_reference *ref;

	if (tmpref[0] && git_reference_lookup(&ref, repo, tmpref) == 0) {
		git_reference_delete(ref);
		git_reference_free(ref);
	}
}

/*
 * libgit2 pushes references, not object ids: name the commit with a
 * reference of this process, removed at exit. Those left by processes that
 * were killed are removed here.
 */
static void
make_tmpref(const git_oid *oid)
{
	git_reference_iterator *it;
	git_reference *ref;
	static int registered;
	const char *name;
	long pid;

	if (git_reference_iterator_glob_new(&it, repo, TMPREF_PREFIX "*") ==
	    0) {
		while (git_reference_next(&ref, it) == 0) {
			name = git_reference_name(ref);
			pid = strtol(name + strlen(TMPREF_PREFIX), NULL, 10);
			if (pid > 0 && kill((pid_t)pid, 0) < 0 &&
			    errno == ESRCH)
				git_reference_delete(ref);
			git_reference_free(ref);
		}
		git_reference_iterator_free(it);
	}
	snprintf(tmpref, sizeof tmpref, TMPREF_PREFIX "%ld", (long)getpid());
	if (git_reference_create(&ref, repo, tmpref, oid, 1, NULL) < 0)
		ci_die(CI_EXIT_ENV, "cannot create %s in this repository: %s",
		       tmpref, git_error_last()->message);
	git_reference_free(ref);
	if (!registered++)
		atexit(drop_tmpref);
}

/* The file whose problems bad_state reports. */
static const char *where_file;

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

/* Only the listed keys, each at most once, and the required ones. */
static void
check_keys(const cJSON *o, const char *where, const char *const *keys,
	   int nkeys, int nrequired)
{
	const cJSON *c;
	int seen[8] = { 0 }, i;

	if (!cJSON_IsObject(o))
		bad_state(where, "not an object");
	cJSON_ArrayForEach(c, o)
	{
		for (i = 0; i < nkeys; i++)
			if (c->string && !strcmp(c->string, keys[i]))
				break;
		if (i == nkeys)
			bad_state(where, "unknown key \"%.64s\"",
				  c->string ? c->string : "");
		if (seen[i]++)
			bad_state(where, "key \"%s\" appears twice", keys[i]);
	}
	for (i = 0; i < nrequired; i++)
		if (!seen[i])
			bad_state(where, "no \"%s\"", keys[i]);
}

static int
all_of(const char *s, const char *set, size_t min, size_t max)
{
	size_t n = strspn(s, set);

	return s[n] == '\0' && n >= min && n <= max;
}

static void
get_string(const cJSON *o, const char *key, const char *where, char *dst,
	   size_t n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char w[96];

	snprintf(w, sizeof w, "%s.%s", where, key);
	if (!cJSON_IsString(v))
		bad_state(w, "not a string");
	if (!strcmp(key, "deployment_id") &&
	    (strncmp(v->valuestring, "deploy-", 7) ||
	     !all_of(v->valuestring + 7, "0123456789", 1, 19)))
		bad_state(w, "\"%.64s\" is not deploy-<epoch seconds>",
			  v->valuestring);
	if (!strcmp(key, "timestamp") && ci_timestamp_ms(v->valuestring) < 0)
		bad_state(w, "\"%.64s\" is not an ISO 8601 UTC time",
			  v->valuestring);
	if (!strcmp(key, "commit_sha") &&
	    !all_of(v->valuestring, "0123456789abcdef", 40, 40))
		bad_state(w, "\"%.64s\" is not 40 lowercase hex digits",
			  v->valuestring);
	if (!strcmp(key, "status") && strcmp(v->valuestring, "success") &&
	    strcmp(v->valuestring, "failure") &&
	    strcmp(v->valuestring, "rolled_back"))
		bad_state(w, "\"%.64s\" is not success, failure or rolled_back",
			  v->valuestring);
	snprintf(dst, n, "%s", v->valuestring);
}

static void
get_record(const cJSON *o, const char *where, struct record *r)
{
	static const char *const keys[] = {
		"deployment_id",
		"timestamp",
		"commit_sha",
		"status",
		"git_operations_attempts",
		"error_message",
	};
	const cJSON *v;
	char w[96];

	check_keys(o, where, keys, 6, 5);
	get_string(o, "deployment_id", where, r->id, sizeof r->id);
	get_string(o, "timestamp", where, r->ts, sizeof r->ts);
	get_string(o, "commit_sha", where, r->sha, sizeof r->sha);
	get_string(o, "status", where, r->status, sizeof r->status);
	v = cJSON_GetObjectItemCaseSensitive(o, "git_operations_attempts");
	snprintf(w, sizeof w, "%s.git_operations_attempts", where);
	if (!cJSON_IsNumber(v))
		bad_state(w, "not a number");
	if (!(v->valuedouble >= 1 && v->valuedouble <= 10))
		bad_state(w, "%g is not from 1 to 10", v->valuedouble);
	if (v->valuedouble != (double)(int)v->valuedouble)
		bad_state(w, "%g is not a whole number", v->valuedouble);
	r->attempts = (int)v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(o, "error_message");
	snprintf(w, sizeof w, "%s.error_message", where);
	r->error = NULL;
	if (!v)
		return;
	if (strcmp(r->status, "failure") != 0)
		bad_state(w, "only a failure has an error_message");
	if (!cJSON_IsString(v) || !*v->valuestring)
		bad_state(w, "not a non-empty string");
	r->error = xstrdup(v->valuestring);
}

/* Read and check the state file; -1 when there is none. Exits 2 when bad. */
static int
load_state(const char *path)
{
	static const char *const keys[] = { "currentDeployment",
					    "lastKnownGood", "history" };
	struct ci_buf b = { 0 }, why = { 0 };
	const char *end = NULL;
	const cJSON *v, *h;
	char buf[65536], w[32];
	cJSON *root;
	ssize_t n;
	int fd, i, line = 1;

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
	/* What cJSON lets pass: NUL, bad UTF-8, raw controls in strings. */
	for (size_t at = 0, eol; at < b.len; at = eol + 1, line++) {
		eol = at + strcspn(b.s + at, "\n");
		eol = eol < b.len ? eol : b.len;
		if (ci_text_check(b.s + at, eol - at, &why) < 0)
			bad_state("", "line %d: %s", line, why.s);
	}
	line = 1;
	ci_buf_add(&b, "", 1);
	root = cJSON_ParseWithLengthOpts(b.s, b.len, &end, 1);
	if (!root || end != b.s + b.len - 1) {
		if (!end)
			end = cJSON_GetErrorPtr();
		for (const char *p = b.s; end && p < end; p++)
			line += *p == '\n';
		bad_state("", "not valid JSON (line %d)", line);
	}
	check_keys(root, "", keys, 3, 3);
	get_record(cJSON_GetObjectItemCaseSensitive(root, keys[0]),
		   "currentDeployment", &st.cur);
	st.has_cur = 1;
	v = cJSON_GetObjectItemCaseSensitive(root, keys[1]);
	if (!cJSON_IsNull(v)) {
		static const char *const lkg[] = { "deployment_id",
						   "commit_sha", "timestamp" };
		check_keys(v, "lastKnownGood", lkg, 3, 3);
		get_string(v, "deployment_id", "lastKnownGood", st.lkg.id,
			   sizeof st.lkg.id);
		get_string(v, "commit_sha", "lastKnownGood", st.lkg.sha,
			   sizeof st.lkg.sha);
		get_string(v, "timestamp", "lastKnownGood", st.lkg.ts,
			   sizeof st.lkg.ts);
		strcpy(st.lkg.status, "success");
		st.has_lkg = 1;
	}
	h = cJSON_GetObjectItemCaseSensitive(root, keys[2]);
	if (!cJSON_IsArray(h))
		bad_state("history", "not an array");
	if (cJSON_GetArraySize(h) > MAX_HISTORY)
		bad_state("history", "%d deployments, more than %d",
			  cJSON_GetArraySize(h), MAX_HISTORY);
	i = 0;
	cJSON_ArrayForEach(v, h)
	{
		snprintf(w, sizeof w, "history[%d]", i);
		get_record(v, w, &st.hist[i++]);
	}
	st.nhist = i;
	cJSON_Delete(root);
	ci_buf_free(&b);
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

static void
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
		      r->attempts, r->error ? "," : "");
	if (r->error)
		put_field(b, in, "error_message", r->error, 1);
	ci_buf_printf(b, "%s}", ind);
}

/* The state as the seed writes it: two spaces, keys in the seed's order. */
static void
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
static void
save(void)
{
	struct ci_buf b = { 0 };

	format_state(&b);
	if (ci_replace_file(statefile, b.s, b.len) < 0)
		ci_die(CI_EXIT_ENV, "cannot write %s: %s", statefile,
		       strerror(errno));
	ci_buf_free(&b);
}

static void
set_error(struct record *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	redact(msg);
	free(r->error);
	r->error = xstrdup(msg);
}

/* Hide credentials: the token of the URL and those of the environment. */
static void
redact(char *s)
{
	const char *secrets[] = { token, getenv("GITHUB_TOKEN"),
				  getenv("GIT_TOKEN") };
	char *p;
	size_t n;

	for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
		if (!secrets[i] || (n = strlen(secrets[i])) < 4)
			continue;
		while ((p = strstr(s, secrets[i]))) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + n, strlen(p + n) + 1);
		}
	}
}

/* Sleep, ending early on SIGINT or SIGTERM. */
static void
pause_for(double sec)
{
	struct timespec ts;

	if (sec <= 0)
		return;
	ts.tv_sec = (time_t)sec;
	ts.tv_nsec = (long)((sec - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !interrupted)
		;
}

static void
say_(struct ci_entry *e, const char *level, long long dur, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	redact(msg);
	ci_warn("%s", msg);
	if (!run_id)
		return;
	e->level = level;
	e->message = msg;
	e->duration_ms = dur;
	xlog_write(&deploy_log, e);
}
