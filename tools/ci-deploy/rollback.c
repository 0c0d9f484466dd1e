/*
 * rollback.c: check a deployment with --verify, and roll back: the target,
 * the new record, and what a rollback that failed leaves.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "ci.h"
#include "deploy.h"

static int dry_rollback(const struct record *t, const char *from, char *why,
			size_t n);

/*
 * --verify: sh -c CMD with CI_DEPLOY_COMMIT and CI_DEPLOY_ID, without
 * GITHUB_TOKEN and GIT_TOKEN unless --verify-env, in a process group of its
 * own; 0 when it passed. Past --verify-timeout, or on SIGINT
 * or SIGTERM, the whole group gets SIGTERM, then SIGKILL 2 s later.
 */
int
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
		if (!o_verify_env) {
			unsetenv("GITHUB_TOKEN");
			unsetenv("GIT_TOKEN");
		}
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

/*
 * Roll back: a new deployment of the target commit, forced (with --forward,
 * of a new commit with its tree), which records the deployment it restored.
 * Only when it succeeds does the deployment rolled back from become
 * rolled_back and the rollback lastKnownGood: a rollback that failed leaves
 * everything else as it was. Writes what happened to outcome.
 */
int
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
