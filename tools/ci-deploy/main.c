/*
 * ci-deploy: push a commit to a git remote with retries and exponential
 * backoff, keep the deployment state file (what is deployed, what was last
 * good, the deployments before), check a deployment with a command, and roll
 * back to a known good commit.
 */
#include <ctype.h>
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
#include "deploy.h"

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
	char restored[32]; /* a rollback: the deployment it put back, or "" */
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
static void put_record(struct ci_buf *b, const struct record *r,
		       const char *ind);
static int dry_push(const git_oid *oid, const char *sha);
static int dry_rollback(const struct record *t, const char *from, char *why,
			size_t n);
static void open_output(void);
static void gh_output(const char *id, const char *sha, int ok);
static void open_repo(void);
static void resolve_remote(void);
static void local_remote(void);
static void resolve_ref(void);
static void start_log(void);
static void lock_state(void);
static void take_lock(void);
static void to_history(void);
static int lock_held(void);
static void relock(void);
static void begin(const char *sha);
struct attempt;
static int push_attempts(struct record *r, int force);
static int push_once(struct attempt *a, const char *id, int force);
static int remote_tip(git_oid *oid, char *why, size_t n);
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
static double o_verify_timeout = 300;
static int o_force, o_rollback_on_failure, o_forward, dry_run;

/* What the work resolved and holds. */
static struct state st;
static const char *statefile;
static git_repository *repo;
static char *url, *shown_url, *refname, *secret_user, *token;
static int token_ok, lockfd = -1;
static char *lockpath;
static char tmpref[64];
static struct ci_log deploy_log;
static const char *run_id;
static long long t0;
static volatile sig_atomic_t interrupted;

/*
 * The outcome of one push attempt, written by libgit2's callbacks (their
 * payload).
 */
struct attempt {
	const char *id; /* the deployment's, for the server's messages */
	char reason[1024];
	char remote_msg[256]; /* the server's last message line */
	char part[1024]; /* a server's message line not yet ended */
	size_t npart;
	int rejected, permanent, cred_calls, auth_failed;
	int have_old; /* the server said where the ref was: */
	char old[41]; /* its commit, "" when it had none */
};
static struct attempt *cur_attempt; /* for git receive-pack's stderr */
static char prev_sha[41]; /* the remote's commit before the run's push */
static char remote_at[41]; /* at the last attempt's, "" when none */
static int have_prev, have_remote_at, is_local, nonff, outfd = -1;
static char out_sha[41], fallback_prev[41]; /* for GITHUB_OUTPUT */

static void
usage(FILE *f)
{
	fputs("usage: ci-deploy push [--remote NAME|URL] [--ref REF] "
	      "[--commit REV] [--state FILE] [--attempts N] "
	      "[--backoff-base SEC] [--force] [--dry-run] [--verify CMD "
	      "[--verify-timeout SEC] [--rollback-on-failure]]\n"
	      "       ci-deploy rollback [--to DEPLOYMENT_ID] "
	      "[--remote NAME|URL] [--ref REF] [--state FILE] [--attempts N] "
	      "[--backoff-base SEC] [--forward] [--dry-run]\n"
	      "       ci-deploy status [--state FILE] [--json]\n"
	      "       ci-deploy history [--state FILE] [--json]\n",
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
		{ "dry-run", no_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "forward", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "ref", required_argument, NULL, 'R' },
		{ "remote", required_argument, NULL, 'r' },
		{ "rollback-on-failure", no_argument, NULL, 'F' },
		{ "state", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 't' },
		{ "verify", required_argument, NULL, 'v' },
		{ "verify-timeout", required_argument, NULL, 'T' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name, *opts;
	} cmds[] = {
		{ "push", "abcdfrRsvFT" },
		{ "rollback", "abdrRstw" },
		{ "status", "sj" },
		{ "history", "sj" },
	};
	const char *cmd = argc > 1 ? argv[1] : NULL, *allowed = NULL;
	int c, json = 0, i, timeout_set = 0;
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
		case 'd':
			dry_run = 1;
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
		case 'T':
			o_verify_timeout =
			    xdecimal("--verify-timeout", optarg, 0, 86400);
			timeout_set = 1;
			break;
		case 'v':
			o_verify = optarg;
			break;
		case 'w':
			o_forward = 1;
			break;
		}
	}
	if (optind < argc)
		ci_usage_error("unexpected argument \"%.64s\"", argv[optind]);
	if (o_rollback_on_failure && !o_verify)
		ci_usage_error("--rollback-on-failure needs --verify");
	if (timeout_set && !o_verify)
		ci_usage_error("--verify-timeout needs --verify");
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
		/* A typo in a directory is not an empty history. */
		char *dir = ci_dirname(statefile);
		struct stat sb;
		if (o_state && (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)))
			ci_die(CI_EXIT_USAGE,
			       "--state: %s: no directory %s to read it from",
			       statefile, dir);
		free(dir);
		if (json)
			puts(history ? "[]" : "null");
		else if (!history)
			printf("no deployment recorded in %s\n", statefile);
		return xfinish_stdout();
	}
	if (json && history) {
		ci_buf_str(&b, "[");
		for (int i = st.nhist; i >= 0; i--) {
			ci_buf_str(&b, i == st.nhist ? "\n  " : ",\n  ");
			put_record(&b, i == st.nhist ? &st.cur : &st.hist[i],
				   "  ");
		}
		ci_buf_str(&b, "\n]\n");
		xwrite_stdout(b.s, b.len);
		ci_buf_free(&b);
	} else if (json) {
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
	char sha[41], id[32], outcome[2560];
	struct record *r = &st.cur;
	int pushed = 0, ok = 0;
	size_t n;

	open_repo();
	start_log();
	open_output();
	if (git_revparse_single(&obj, repo, o_commit) < 0)
		fail_early("--commit: no commit \"%.64s\" in this repository",
			   o_commit);
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0)
		fail_early("--commit: \"%.64s\" is not a commit", o_commit);
	git_oid_tostr(sha, sizeof sha, git_object_id(commit));
	memcpy(out_sha, sha, sizeof sha);
	resolve_remote();
	resolve_ref();
	if (dry_run)
		return dry_push(git_object_id(commit), sha);
	make_tmpref(git_object_id(commit));
	lock_state();
	if (st.has_lkg)
		memcpy(fallback_prev, st.lkg.sha, sizeof fallback_prev);
	begin(sha);
	memcpy(id, r->id, sizeof id);
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
		gh_output(id, sha, 1);
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
	gh_output(id, sha, 0);
	return CI_EXIT_DEPLOY;
}

/*
 * push --dry-run: what the push would do, from the remote's answer; writes
 * nothing, pushes nothing.
 */
static int
dry_push(const git_oid *oid, const char *sha)
{
	char why[1024], tipsha[41];
	git_oid tip;
	int rc;

	load_state(statefile);
	if ((rc = remote_tip(&tip, why, sizeof why)) < 0)
		fail_early("dry run: %s", why);
	if (rc == 0) {
		printf("dry run: would push %s to %s on %s, a new reference\n",
		       sha, refname, shown_url);
		return xfinish_stdout();
	}
	git_oid_tostr(tipsha, sizeof tipsha, &tip);
	if (git_oid_equal(oid, &tip))
		printf("dry run: would push %s to %s on %s, where it is "
		       "already\n",
		       sha, refname, shown_url);
	else if (git_graph_descendant_of(repo, oid, &tip) == 1)
		printf("dry run: would push %s to %s on %s, a fast-forward "
		       "from %s\n",
		       sha, refname, shown_url, tipsha);
	else if (o_force)
		printf("dry run: would push %s to %s on %s, replacing %s "
		       "(--force)\n",
		       sha, refname, shown_url, tipsha);
	else
		fail_early("dry run: would not push %s to %s on %s: "
			   "non-fast-forward: %s on the remote is not an "
			   "ancestor of the commit (--force replaces it)",
			   sha, refname, shown_url, tipsha);
	return xfinish_stdout();
}

/* rollback: push the target commit back to the ref, forced. */
static int
cmd_rollback(void)
{
	char outcome[2048];
	int rc;

	open_repo();
	start_log();
	open_output();
	resolve_remote();
	resolve_ref();
	if (dry_run)
		load_state(statefile);
	else
		lock_state();
	rc = rollback(outcome, sizeof outcome);
	if (rc > 0)
		return xfinish_stdout();
	SAY(rc == 0 ? "info" : "error", ci_mono_ms() - t0, "%s", outcome);
	if (st.has_cur && st.cur.restored[0])
		gh_output(st.cur.id, st.cur.sha, rc == 0);
	else
		gh_output("", "", 0);
	return rc == 0 ? xfinish_stdout() : CI_EXIT_DEPLOY;
}

/* rollback --dry-run: the target and how it would be pushed; 1 when shown. */
static int
dry_rollback(const struct record *t, const char *from, char *why, size_t n)
{
	char tipsha[41] = "";
	git_oid tip;
	int rc;

	if ((rc = remote_tip(&tip, why, n)) < 0)
		return -1;
	if (rc > 0)
		git_oid_tostr(tipsha, sizeof tipsha, &tip);
	if (o_forward && rc == 0) {
		snprintf(why, n, "dry run: --forward: %s is not on the remote",
			 refname);
		return -1;
	}
	printf("dry run: would roll back %s to %s (%s) on %s at %s, where "
	       "it is %s%s, %s\n",
	       from, t->id, t->sha, refname, shown_url, rc ? "at " : "absent",
	       tipsha,
	       o_forward ? "with a new commit of its tree on top"
			 : "as a forced update");
	return 1;
}

/* GITHUB_OUTPUT: opened before anything is pushed, written at the end. */
static void
open_output(void)
{
	const char *path = getenv("GITHUB_OUTPUT");

	if (!path || !*path || dry_run)
		return;
	outfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (outfd < 0)
		ci_die(CI_EXIT_ENV, "GITHUB_OUTPUT: cannot open %s: %s", path,
		       strerror(errno));
}

static void
gh_output(const char *id, const char *sha, int ok)
{
	struct ci_buf b = { 0 };

	if (outfd < 0)
		return;
	ci_buf_printf(&b,
		      "deployment-id=%s\ncommit=%s\nstatus=%s\n"
		      "previous-commit=%s\n",
		      id, sha, ok ? "success" : "failure",
		      have_prev ? prev_sha : fallback_prev);
	if (ci_write_all(outfd, b.s, b.len) < 0)
		ci_die(CI_EXIT_ENV, "GITHUB_OUTPUT: cannot write %s: %s",
		       getenv("GITHUB_OUTPUT"), strerror(errno));
	close(outfd);
	outfd = -1;
	ci_buf_free(&b);
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
	gh_output("", out_sha, 0);
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
	if (!strncmp(url, "file://", 7) ||
	    (!strstr(url, "://") &&
	     !((p = strchr(url, ':')) && p < url + strcspn(url, "/")))) {
		local_remote();
		return;
	}
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
	} else {
		need_transport("ssh", 3); /* user@host:path */
	}
}

/*
 * A path or file:// URL: pushed through git receive-pack of the repository
 * (local.c), as git push does, so that its hooks and receive.* settings
 * apply. libgit2's own local transport would write the refs itself.
 */
static void
local_remote(void)
{
	char *path = url, *d;
	const char *u;
	struct stat sb;

	if (!strncmp(url, "file://", 7)) { /* %XX as the byte */
		u = url + 7 + (strncmp(url + 7, "localhost/", 10) ? 0 : 9);
		path = d = xmalloc(strlen(u) + 1);
		while (*u) {
			if (u[0] == '%' && isxdigit((unsigned char)u[1]) &&
			    isxdigit((unsigned char)u[2])) {
				char hex[3] = { u[1], u[2], 0 };
				*d++ = (char)strtol(hex, NULL, 16);
				u += 3;
			} else {
				*d++ = *u++;
			}
		}
		*d = '\0';
	}
	if (!local_have_git())
		ci_die(CI_EXIT_ENV,
		       "git is not on PATH: a local remote (%s) is pushed "
		       "with git receive-pack",
		       shown_url);
	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
		fail_early("--remote: no git repository at %s", shown_url);
	is_local = 1;
	d = xmalloc(strlen(LOCAL_SCHEME) + strlen(path) + 1);
	strcpy(d, LOCAL_SCHEME);
	strcat(d, path);
	if (path != url)
		free(path);
	free(url);
	url = d;
	local_register();
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
	char *dir = ci_dirname(statefile);

	if (ci_mkdirs(dir, 0777) < 0)
		ci_die(CI_EXIT_ENV, "cannot create directory %s: %s", dir,
		       strerror(errno));
	free(dir);
	lockpath = xmalloc(strlen(statefile) + 6);
	strcpy(lockpath, statefile);
	strcat(lockpath, ".lock");
	take_lock();
	load_state(statefile);
}

/* The lock on the file that lockpath names, once this run holds it. */
static void
take_lock(void)
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
		while (flock(lockfd, LOCK_EX) < 0)
			if (errno != EINTR || interrupted)
				ci_die(CI_EXIT_DEPLOY,
				       "interrupted while waiting for %s",
				       lockpath);
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
	take_lock();
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

/*
 * Up to --attempts pushes; before attempt k+1 wait 2^k * base seconds. What
 * cannot pass on a retry (authentication, a missing remote or commit, a
 * non-fast-forward) ends at once; a hook's refusal is retried. The record is
 * written at each attempt.
 */
static int
push_attempts(struct record *r, int force)
{
	struct attempt a;
	double wait;
	int k, rc;

	have_remote_at = 0;
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
		rc = push_once(&a, r->id, force);
		if (a.have_old) {
			have_remote_at = 1;
			memcpy(remote_at, a.old, sizeof remote_at);
		}
		if (rc == 0)
			return 0;
		SAY("warn", -1, "%s: attempt %d of %lld failed%s: %s", r->id, k,
		    o_attempts, a.permanent ? ", not retried" : "", a.reason);
		if (a.permanent || k == o_attempts || interrupted)
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
		snprintf(a.reason, sizeof a.reason, "interrupted by %s",
			 interrupted == SIGINT ? "SIGINT" : "SIGTERM");
	nonff = strstr(a.reason, "non-fast-forward") != NULL;
	set_error(r, "Git operations failed after %d attempt%s: %s", k,
		  k == 1 ? "" : "s", a.reason);
	return -1;
}

/* A rejection that a retry cannot change; a hook's refusal can change. */
static int
permanent_status(const char *s)
{
	static const char *const words[] = {
		"non-fast-forward",
		"fetch first",
		"stale info",
		"checked out",
		"deny",
		"denied",
		"prohibited",
		"invalid",
		"shallow",
		"missing necessary objects",
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
	struct attempt *a = data;

	if (status && !a->rejected) {
		a->rejected = 1;
		a->permanent = permanent_status(status);
		snprintf(a->reason, sizeof a->reason, "remote rejected %s: %s",
			 name, status);
	}
	return 0;
}

/* push_negotiation: the remote's commit before the push. */
static int
on_negotiation(const git_push_update **u, size_t n, void *data)
{
	struct attempt *a = data;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(u[i]->dst_refname, refname) != 0)
			continue;
		a->have_old = 1;
		if (!git_oid_is_zero(&u[i]->src))
			git_oid_tostr(a->old, sizeof a->old, &u[i]->src);
		if (!have_prev++)
			memcpy(prev_sha, a->old, sizeof prev_sha);
	}
	return 0;
}

/*
 * A whole line of the server's message: shown, logged, and kept for the
 * reason. Progress meters (lines ended by a carriage return) are not.
 */
static void
remote_line(struct attempt *a, const char *line)
{
	if (!*line)
		return;
	snprintf(a->remote_msg, sizeof a->remote_msg, "%s", line);
	SAY("info", -1, "%s: remote: %s", a->id, line);
}

void
deploy_remote_line(const char *line)
{
	if (cur_attempt)
		remote_line(cur_attempt, line);
}

/* The server's messages (a hook's stderr) come in pieces of lines. */
static int
on_sideband(const char *text, int len, void *data)
{
	struct attempt *a = data;

	for (int i = 0; i < len; i++) {
		if (text[i] == '\r') {
			a->npart = 0;
		} else if (text[i] == '\n') {
			while (a->npart && a->part[a->npart - 1] == ' ')
				a->npart--;
			a->part[a->npart] = '\0';
			remote_line(a, a->part);
			a->npart = 0;
		} else if (a->npart < sizeof a->part - 1) {
			a->part[a->npart++] = text[i];
		}
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
	struct attempt *a = data;
	const char *home = getenv("HOME");
	char path[4096];

	(void)u;
	a->cred_calls++;
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		if (token && token_ok && a->cred_calls == 1)
			return git_credential_userpass_plaintext_new(
			    out, secret_user ? secret_user : "x-access-token",
			    token);
		a->auth_failed = 1;
		git_error_set_str(
		    GIT_ERROR_NET,
		    a->cred_calls > 1 ? "authentication failed: the token was "
					"refused"
			: token
			? "authentication required: a token from the "
			  "environment is only sent over https"
			: "authentication required: set GITHUB_TOKEN or "
			  "GIT_TOKEN");
		return GIT_EAUTH;
	}
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		if (a->cred_calls == 1)
			return git_credential_ssh_key_from_agent(
			    out, user ? user : "git");
		for (int i = a->cred_calls - 2; home && i < 3; i++) {
			snprintf(path, sizeof path, "%s/.ssh/%s", home,
				 keys[i]);
			a->cred_calls = i + 2;
			if (access(path, R_OK) == 0)
				return git_credential_ssh_key_new(
				    out, user ? user : "git", NULL, path, NULL);
		}
	} else if (allowed & GIT_CREDENTIAL_USERNAME) {
		return git_credential_username_new(out, user ? user : "git");
	}
	a->auth_failed = 1;
	git_error_set_str(GIT_ERROR_NET,
			  "authentication failed: no ssh key "
			  "was accepted");
	return GIT_EAUTH;
}

/* Errors of libgit2 that a retry cannot change. */
static int
permanent_error(const struct attempt *a, int rc, const git_error *e)
{
	static const char *const words[] = {
		"not exported",
		"does not appear to be a git repo",
		"not found",
		"status code: 401",
		"status code: 403",
		"status code: 404",
		"unsupported URL",
		"unknown scheme",
		"could not find repo",
		"no such repository",
		"not a git repository",
	};
	const char *m = e && e->message ? e->message : "";

	if (a->auth_failed || rc == GIT_EAUTH || rc == GIT_ECERTIFICATE ||
	    rc == GIT_ENONFASTFORWARD || rc == GIT_EBAREREPO ||
	    rc == GIT_EINVALIDSPEC || (e && e->klass == GIT_ERROR_REFERENCE))
		return 1;
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strstr(m, words[i]))
			return 1;
	return 0;
}

static void
start_attempt(struct attempt *a, const char *id, git_remote_callbacks *cb)
{
	memset(a, 0, sizeof *a);
	a->id = id;
	cur_attempt = a;
	cb->push_update_reference = on_ref;
	cb->push_negotiation = on_negotiation;
	cb->credentials = on_credentials;
	cb->sideband_progress = on_sideband;
	cb->payload = a;
	git_error_clear();
}

/* The reason of a libgit2 error. */
static void
attempt_error(struct attempt *a, int rc)
{
	const git_error *e = git_error_last();

	a->permanent = permanent_error(a, rc, e);
	if (rc == GIT_ENONFASTFORWARD)
		snprintf(a->reason, sizeof a->reason,
			 "non-fast-forward: %s on the remote is not an "
			 "ancestor of the commit (--force replaces it)",
			 refname);
	else
		snprintf(a->reason, sizeof a->reason, "%s",
			 e && e->message ? e->message
					 : "unknown libgit2 error");
}

/* One push of tmpref to refname; 0 only when the remote took the ref. */
static int
push_once(struct attempt *a, const char *id, int force)
{
	git_push_options po;
	git_remote *rem;
	char spec[512], *specp = spec;
	git_strarray specs = { &specp, 1 };
	size_t n;
	int rc;

	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	start_attempt(a, id, &po.callbacks);
	snprintf(spec, sizeof spec, "%s%s:%s", force ? "+" : "", tmpref,
		 refname);
	po.proxy_opts.type = GIT_PROXY_AUTO;
	if ((rc = git_remote_create_anonymous(&rem, repo, url)) == 0) {
		rc = git_remote_push(rem, &specs, &po);
		git_remote_free(rem);
	}
	cur_attempt = NULL;
	if (rc < 0) {
		attempt_error(a, rc);
		return -1;
	}
	if (a->rejected && a->remote_msg[0]) {
		n = strlen(a->reason);
		snprintf(a->reason + n, sizeof a->reason - n, " (remote: %s)",
			 a->remote_msg);
	}
	return a->rejected ? -1 : 0;
}

/*
 * The remote's commit of refname, asked of the server (for --dry-run and
 * --forward): 1 when it has the ref, 0 when not, -1 with why.
 */
static int
remote_tip(git_oid *oid, char *why, size_t n)
{
	const git_remote_head **heads;
	git_remote_callbacks cb;
	git_proxy_options px;
	struct attempt a;
	git_remote *rem;
	size_t nh;
	int rc, found = 0;

	git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
	git_proxy_options_init(&px, GIT_PROXY_OPTIONS_VERSION);
	px.type = GIT_PROXY_AUTO;
	start_attempt(&a, "remote", &cb);
	if ((rc = git_remote_create_anonymous(&rem, repo, url)) == 0) {
		rc =
		    git_remote_connect(rem, GIT_DIRECTION_PUSH, &cb, &px, NULL);
		if (rc == 0 && (rc = git_remote_ls(&heads, &nh, rem)) == 0)
			for (size_t i = 0; i < nh && !found; i++)
				if (!strcmp(heads[i]->name, refname)) {
					git_oid_cpy(oid, &heads[i]->oid);
					found = 1;
				}
		git_remote_disconnect(rem);
		git_remote_free(rem);
	}
	cur_attempt = NULL;
	if (rc < 0) {
		attempt_error(&a, rc);
		snprintf(why, n, "%s", a.reason);
		return -1;
	}
	return found;
}

/*
 * --verify: sh -c CMD with CI_DEPLOY_COMMIT and CI_DEPLOY_ID, in a process
 * group of its own; 0 when it passed. Past --verify-timeout, or on SIGINT
 * or SIGTERM, the whole group gets SIGTERM, then SIGKILL 2 s later.
 */
static int
run_verify(struct record *r)
{
	long long start = ci_mono_ms(), limit = -1, killed = -1, now;
	int status = 0, timed_out = 0;
	pid_t pid, w;

	set_error(r, "in progress: verifying");
	save();
	SAY("info", -1, "%s: verifying: %s", r->id, o_verify);
	fflush(stdout);
	if (o_verify_timeout > 0)
		limit = start + (long long)(o_verify_timeout * 1000);
	if ((pid = fork()) < 0)
		ci_die(CI_EXIT_ENV, "cannot fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		setenv("CI_DEPLOY_COMMIT", r->sha, 1);
		setenv("CI_DEPLOY_ID", r->id, 1);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		dup2(2, 1); /* stdout carries log entries only */
		execl("/bin/sh", "sh", "-c", o_verify, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 ||
	       (w < 0 && errno == EINTR)) {
		now = ci_mono_ms();
		if (killed < 0 &&
		    (interrupted || (limit >= 0 && now >= limit))) {
			timed_out = !interrupted;
			kill(-pid, SIGTERM);
			killed = now;
		} else if (killed >= 0 && now - killed >= 2000) {
			kill(-pid, SIGKILL);
		}
		pause_for(0.01);
	}
	if (w < 0)
		ci_die(CI_EXIT_ENV, "waitpid: %s", strerror(errno));
	if (killed >= 0)
		kill(-pid, SIGKILL); /* what it left behind in its group */
	if (!timed_out && !interrupted && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		return 0;
	strcpy(r->status, "failure");
	if (timed_out)
		set_error(r,
			  "verification failed: %.200s timed out after %g s "
			  "(--verify-timeout); its process group was killed",
			  o_verify, o_verify_timeout);
	else if (interrupted)
		set_error(r, "verification failed: interrupted by %s",
			  interrupted == SIGINT ? "SIGINT" : "SIGTERM");
	else if (WIFEXITED(status))
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

/* The records, newest first: 0 is the current one; NULL past the oldest. */
static struct record *
nth(int i)
{
	if (!st.has_cur || i < 0 || i > st.nhist)
		return NULL;
	return i == 0 ? &st.cur : &st.hist[st.nhist - i];
}

/* A rollback that did not succeed changed nothing to roll back from. */
static int
failed_rollback(const struct record *r)
{
	return r->restored[0] && !strcmp(r->status, "failure");
}

/*
 * The rollback target, from the deployment to roll back from: the newest
 * record that is not a failed rollback. --to names a successful deployment
 * of the file. Else, when the deployment to roll back from did not succeed,
 * lastKnownGood (what was live and good before it); else the newest
 * successful deployment before it of another commit.
 */
static int
find_target(struct record *t, struct record **from, char *why, size_t n)
{
	struct record *r, *e = NULL;
	int i, fail, lkg = st.has_lkg;

	if (!st.has_cur)
		return no_target(why, n, "no deployment recorded in %s",
				 statefile);
	for (i = 0; (r = nth(i)) && !e; i++)
		if (!failed_rollback(r))
			e = r;
	if (!e)
		return no_target(why, n,
				 "%s holds only rollbacks that failed: name "
				 "the target with --to",
				 statefile);
	*from = e;
	for (i = 0; (r = nth(i)) && o_to; i++) {
		if (strcmp(o_to, r->id) != 0)
			continue;
		if (r == e)
			return no_target(
			    why, n, "%.64s is the current deployment", o_to);
		if (strcmp(r->status, "success") != 0)
			return no_target(why, n, "%.64s did not succeed (%s)",
					 o_to, r->status);
		*t = *r;
		return 0;
	}
	if (o_to && !(st.has_lkg && !strcmp(o_to, st.lkg.id)))
		return no_target(why, n, "no deployment %.64s in %s", o_to,
				 statefile);
	/* A lastKnownGood rolled back from (older files) is no target. */
	for (i = 0; (r = nth(i)) && lkg; i++)
		if (!strcmp(r->id, st.lkg.id) &&
		    !strcmp(r->status, "rolled_back"))
			lkg = 0;
	fail = strcmp(e->status, "success") != 0;
	if (o_to || (fail && lkg)) {
		*t = st.lkg;
		return 0;
	}
	for (i = 0; (r = nth(i)) != e; i++)
		;
	for (i++; (r = nth(i)); i++)
		if (!strcmp(r->status, "success") &&
		    (fail || strcmp(r->sha, e->sha) != 0)) {
			*t = *r;
			return 0;
		}
	if (fail)
		return no_target(why, n, "no deployment has succeeded");
	return no_target(why, n,
			 "no successful deployment of another commit before %s",
			 e->id);
}

/*
 * --forward: a new commit on top of the remote's, with the target's tree,
 * for a remote that refuses non-fast-forward updates.
 */
static int
forward_commit(git_oid *out, const struct record *t, const char *from,
	       char *why, size_t n)
{
	git_commit *parent = NULL, *target = NULL;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_oid tip, toid;
	char msg[512], tipsha[41];
	int rc;

	if ((rc = remote_tip(&tip, why, n)) < 0)
		return -1;
	if (rc == 0) {
		snprintf(why, n, "--forward: %s is not on the remote", refname);
		return -1;
	}
	git_oid_tostr(tipsha, sizeof tipsha, &tip);
	git_oid_fromstr(&toid, t->sha);
	if (git_commit_lookup(&parent, repo, &tip) < 0) {
		snprintf(why, n,
			 "--forward: the remote's commit %s is not in this "
			 "repository (fetch it first)",
			 tipsha);
		return -1;
	}
	snprintf(msg, sizeof msg,
		 "Roll back to %s (%s)\n\nThe tree of %s, deployed as %s, "
		 "on top of %s, undoing %s.\n",
		 t->sha, t->id, t->sha, t->id, tipsha, from);
	rc = git_commit_lookup(&target, repo, &toid) < 0 ||
	    git_commit_tree(&tree, target) < 0 ||
	    ((git_signature_default(&sig, repo) < 0 &&
	      git_signature_now(&sig, "ci-deploy", "ci-deploy@localhost") <
		  0)) ||
	    git_commit_create(out, repo, NULL, sig, sig, NULL, msg, tree, 1,
			      (const git_commit **)&parent) < 0;
	if (rc)
		snprintf(why, n, "--forward: cannot make the commit: %s",
			 git_error_last()->message);
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(target);
	git_commit_free(parent);
	return rc ? -1 : 0;
}

/*
 * Roll back: a new deployment of the target commit, forced (with --forward,
 * of a new commit with its tree), which records the deployment it restored.
 * Only when it succeeds does the deployment rolled back from become
 * rolled_back and the rollback lastKnownGood: a rollback that failed leaves
 * everything else as it was. Writes what happened to outcome.
 */
static int
rollback(char *outcome, size_t n)
{
	struct record t, *from = NULL, *r = &st.cur;
	char fid[32], why[1024], newsha[41];
	git_commit *commit;
	git_oid oid;
	int i, rc;

	if (find_target(&t, &from, outcome, n) < 0)
		return -1;
	git_oid_fromstr(&oid, t.sha);
	if (git_commit_lookup(&commit, repo, &oid) < 0)
		return no_target(outcome, n,
				 "commit %s of %s is not in this repository "
				 "(fetch it first)",
				 t.sha, t.id);
	git_commit_free(commit);
	memcpy(fid, from->id, sizeof fid);
	if (!fallback_prev[0])
		memcpy(fallback_prev, from->sha, sizeof fallback_prev);
	if (dry_run)
		return dry_rollback(&t, fid, outcome, n);
	rc = o_forward ? forward_commit(&oid, &t, fid, why, sizeof why) : 0;
	git_oid_tostr(newsha, sizeof newsha, &oid);
	if (rc == 0)
		make_tmpref(&oid);
	begin(newsha);
	memcpy(r->restored, t.id, sizeof r->restored);
	save();
	SAY("info", -1, "%s: rolling back %s to %s (%s) on %s%s%s", r->id, fid,
	    t.id, t.sha, refname, o_forward ? " with a new commit " : "",
	    o_forward && rc == 0 ? newsha : "");
	if (rc < 0)
		set_error(r, "Git operations failed after 1 attempt: %s", why);
	if (rc < 0 || push_attempts(r, !o_forward) < 0) {
		save();
		i = snprintf(outcome, n, "%s: rollback of %s to %s failed: %s",
			     r->id, fid, t.id, r->error);
		if (have_remote_at && (size_t)i < n)
			i += snprintf(outcome + i, n - i,
				      "; the remote is still at %s",
				      remote_at[0] ? remote_at : "nothing");
		if (nonff && !o_forward && (size_t)i < n)
			snprintf(outcome + i, n - i,
				 "; the remote refuses non-fast-forward "
				 "updates: rollback --forward pushes a new "
				 "commit with the tree of %s instead",
				 t.id);
		return -1;
	}
	strcpy(r->status, "success");
	free(r->error);
	r->error = NULL;
	for (i = 1; (from = nth(i)); i++)
		if (!strcmp(from->id, fid)) {
			strcpy(from->status, "rolled_back");
			free(from->error);
			from->error = NULL;
		}
	st.lkg = *r;
	st.has_lkg = 1;
	save();
	if (o_forward)
		snprintf(outcome, n,
			 "%s: rolled back %s to %s (%s) on %s with the new "
			 "commit %s",
			 r->id, fid, t.id, t.sha, refname, r->sha);
	else
		snprintf(outcome, n, "%s: rolled back %s to %s (%s) on %s",
			 r->id, fid, t.id, t.sha, refname);
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
	if ((!strcmp(key, "deployment_id") ||
	     !strcmp(key, "restored_deployment_id")) &&
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
		"restored_deployment_id",
	};
	const cJSON *v;
	char w[96];

	check_keys(o, where, keys, 7, 5);
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
	r->restored[0] = '\0';
	if (cJSON_GetObjectItemCaseSensitive(o, "restored_deployment_id"))
		get_string(o, "restored_deployment_id", where, r->restored,
			   sizeof r->restored);
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
		      r->attempts, r->error || r->restored[0] ? "," : "");
	if (r->restored[0])
		put_field(b, in, "restored_deployment_id", r->restored,
			  !r->error);
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

	if (lockfd >= 0 && !lock_held())
		relock();
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
