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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "ci.h"
#include "deploy.h"

#define DEFAULT_STATE ".github/deployment-state.json"

static void usage(FILE *f);
static int cmd_show(int json, int history);
static int cmd_push(void);
static int cmd_rollback(void);
static const char *state_path(git_repository *r);
static int dry_push(const git_oid *oid, const char *sha);
static void open_output(void);
static void gh_output(const char *id, const char *sha, int ok);
static void open_repo(void);
static void resolve_remote(void);
static void local_remote(void);
static void resolve_ref(void);
static void start_log(void);
static void fail_early(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The command line. */
static const char *o_remote = "origin", *o_ref, *o_state;
static char *o_token; /* of --token-file */
const char *o_commit = "HEAD", *o_to, *o_verify;
long long o_attempts = 3;
double o_base = 1, o_verify_timeout = 300;
static int o_force, o_rollback_on_failure;
int o_forward, o_verify_env, dry_run;

/* What the work resolved and holds. */
struct state st;
const char *statefile;
git_repository *repo;
char *url, *shown_url, *refname, *secret_user, *token;
int token_ok;
const char *run_id;
volatile sig_atomic_t interrupted;
static struct ci_log deploy_log;
static long long t0;
static int outfd = -1;
static char out_sha[41]; /* for GITHUB_OUTPUT */
char fallback_prev[41]; /* previous-commit when the server said nothing */

static void
usage(FILE *f)
{
	fputs("usage: ci-deploy push [--remote NAME|URL] [--ref REF] "
	      "[--commit REV] [--state FILE] [--token-file FILE] "
	      "[--attempts N] [--backoff-base SEC] [--force] [--dry-run] "
	      "[--verify CMD [--verify-timeout SEC] [--verify-env] "
	      "[--rollback-on-failure]]\n"
	      "       ci-deploy rollback [--to DEPLOYMENT_ID] "
	      "[--remote NAME|URL] [--ref REF] [--state FILE] "
	      "[--token-file FILE] [--attempts N] [--backoff-base SEC] "
	      "[--forward] [--dry-run]\n"
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
		{ "token-file", required_argument, NULL, 'k' },
		{ "verify", required_argument, NULL, 'v' },
		{ "verify-env", no_argument, NULL, 'e' },
		{ "verify-timeout", required_argument, NULL, 'T' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name, *opts;
	} cmds[] = {
		{ "push", "abcdefkrRsvFT" },
		{ "rollback", "abdkrRstw" },
		{ "status", "sj" },
		{ "history", "sj" },
	};
	const char *cmd = argc > 1 ? argv[1] : NULL, *allowed = NULL;
	int c, json = 0, i, li = 0, timeout_set = 0;
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
	while ((c = getopt_long(argc, argv, ":h", longopts, &li)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return xfinish_stdout();
		}
		if (c == 'V')
			ci_version();
		if (c == '?' || c == ':')
			ci_bad_option(c, argc, argv);
		if (!strchr(allowed, c)) /* by its name: not its argument */
			ci_usage_error("--%s: not an option of %s",
				       longopts[li].name, cmd);
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
		case 'e':
			o_verify_env = 1;
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
		case 'k':
			free(o_token);
			o_token = read_token_file(optarg);
			break;
		case 'r':
			/* Out of argv (/proc/PID/cmdline) as soon as read. */
			o_remote = xstrdup(optarg);
			url_secrets(o_remote);
			hide_arg(optarg);
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
	if (o_verify_env && !o_verify)
		ci_usage_error("--verify-env needs --verify");
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
	char outcome[2048], before[32] = "";
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
	if (st.has_cur)
		memcpy(before, st.cur.id, sizeof before);
	rc = rollback(outcome, sizeof outcome);
	if (rc > 0)
		return xfinish_stdout();
	SAY(rc == 0 ? "info" : "error", ci_mono_ms() - t0, "%s", outcome);
	if (st.has_cur && strcmp(st.cur.id, before) != 0)
		gh_output(st.cur.id, st.cur.sha, rc == 0);
	else
		gh_output("", "", 0);
	return rc == 0 ? xfinish_stdout() : CI_EXIT_DEPLOY;
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
 * --remote: a configured remote (its push URL), else a URL or a path, both
 * rewritten by the url.*.insteadOf and pushInsteadOf of git's configuration.
 * A token in an http(s) URL is taken out of it and given to libgit2 as a
 * credential; the URL shown anywhere has no credentials.
 */
static void
resolve_remote(void)
{
	const char *env, *u, *p, *host;
	git_remote *rem;
	size_t n;

	if (git_remote_lookup(&rem, repo, o_remote) < 0) {
		if (!strchr(o_remote, '/') && !strchr(o_remote, ':'))
			fail_early("--remote: no remote named \"%.64s\" in "
				   "this repository",
				   o_remote);
		if (git_remote_create_anonymous(&rem, repo, o_remote) < 0)
			fail_early("--remote: %s", git_error_last()->message);
	}
	u = git_remote_pushurl(rem) ? git_remote_pushurl(rem)
				    : git_remote_url(rem);
	url = xstrdup(u ? u : "");
	git_remote_free(rem);
	take_url_credentials();
	if (!strncmp(url, "file://", 7) ||
	    (!strstr(url, "://") &&
	     !((p = strchr(url, ':')) && p < url + strcspn(url, "/")))) {
		local_remote();
		return;
	}
	if (!(p = strstr(url, "://"))) {
		need_transport("ssh", 3); /* user@host:path */
		return;
	}
	n = (size_t)(p - url);
	host = p + 3;
	/* --token-file, else the URL's token, else the environment's. */
	if (!(env = getenv("GITHUB_TOKEN")) || !*env)
		env = getenv("GIT_TOKEN");
	if (o_token)
		env = o_token;
	if (env && *env && (o_token || !token)) {
		free(token);
		token = xstrdup(env);
		/* Never sent in the clear, but to this machine. */
		n = strcspn(host, host[0] == '[' ? "]" : ":/");
		token_ok = (p - url == 5) ||
		    (n == 9 && !strncmp(host, "127.0.0.1", 9)) ||
		    (n == 9 && !strncmp(host, "localhost", 9)) ||
		    (n == 4 && !strncmp(host, "[::1", 4));
		n = (size_t)(p - url);
	}
	need_transport(url, n);
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

void
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

/* Sleep, ending early on SIGINT or SIGTERM. */
void
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

void
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
