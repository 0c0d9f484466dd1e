/*
 * push.c: push a commit with retries and backoff, with libgit2; what the
 * server said (a hook's output, a refusal) becomes the reason and is shown.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "ci.h"
#include "deploy.h"

#define TMPREF_PREFIX "refs/ci-deploy/"

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
	int cr; /* a carriage return ended part: a progress meter's */
	int rejected, permanent, cred_calls, auth_failed;
	int have_old; /* the server said where the ref was: */
	char old[41]; /* its commit, "" when it had none */
};

static int push_once(struct attempt *a, const char *id, int force);
static int new_remote(git_remote **rem);

static struct attempt *cur_attempt; /* for git receive-pack's stderr */
static char tmpref[64];
char prev_sha[41]; /* the remote's commit before the run's push */
char remote_at[41]; /* at the last attempt's, "" when none */
int have_prev, have_remote_at, nonff;

/*
 * Up to --attempts pushes; before attempt k+1 wait 2^k * base seconds. What
 * cannot pass on a retry (authentication, a missing remote or commit, a
 * non-fast-forward) ends at once; a hook's refusal is retried. The record is
 * written at each attempt.
 */
int
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
			a->cr = 1;
			continue;
		}
		if (text[i] == '\n') {
			while (a->npart && a->part[a->npart - 1] == ' ')
				a->npart--;
			a->part[a->npart] = '\0';
			remote_line(a, a->part);
			a->npart = a->cr = 0;
			continue;
		}
		if (a->cr) /* CR, then more: the meter's next state */
			a->npart = a->cr = 0;
		if (a->npart < sizeof a->part - 1)
			a->part[a->npart++] = text[i];
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
			? "authentication required: a token from --token-file "
			  "or the environment is only sent over https"
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
	if ((rc = new_remote(&rem)) == 0) {
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
 * The remote of url, which insteadOf and pushInsteadOf already rewrote: not
 * again.
 */
static int
new_remote(git_remote **rem)
{
	git_remote_create_options o;

	git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	o.repository = repo;
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	return git_remote_create_with_opts(rem, url, &o);
}

/*
 * The remote's commit of refname, asked of the server (for --dry-run and
 * --forward): 1 when it has the ref, 0 when not, -1 with why.
 */
int
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
	if ((rc = new_remote(&rem)) == 0) {
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

static void
drop_tmpref(void)
{
	git_reference *ref;

	if (tmpref[0] && git_reference_lookup(&ref, repo, tmpref) == 0) {
		git_reference_delete(ref);
		git_reference_free(ref);
	}
}

/* Whether a name under TMPREF_PREFIX is that of a process that has ended. */
static int
dead_owner(const char *name)
{
	char *end;
	long pid;

	errno = 0;
	pid = strtol(name, &end, 10);
	if (end == name || pid <= 0 || errno ||
	    (*end && strcmp(end, ".lock") != 0))
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/*
 * A process killed while it created or deleted its reference leaves the
 * reference's lock file, and while that stays neither libgit2 nor git can
 * delete the reference: remove the locks of processes that have ended.
 */
static void
drop_dead_locks(void)
{
	char dir[4096];
	struct dirent *e;
	size_t n;
	DIR *d;

	snprintf(dir, sizeof dir, "%s%s", git_repository_commondir(repo),
		 TMPREF_PREFIX);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		n = strlen(e->d_name);
		if (n > 5 && !strcmp(e->d_name + n - 5, ".lock") &&
		    dead_owner(e->d_name))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/*
 * libgit2 pushes references, not object ids: name the commit with a
 * reference of this process, removed at exit. Those left by processes that
 * were killed are removed here, with their lock files.
 */
void
make_tmpref(const git_oid *oid)
{
	git_reference_iterator *it;
	git_reference *ref;
	static int registered;

	drop_dead_locks();
	if (git_reference_iterator_glob_new(&it, repo, TMPREF_PREFIX "*") ==
	    0) {
		while (git_reference_next(&ref, it) == 0) {
			if (dead_owner(git_reference_name(ref) +
				       strlen(TMPREF_PREFIX)))
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
