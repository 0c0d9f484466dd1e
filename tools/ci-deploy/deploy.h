/*
 * deploy.h: what the files of ci-deploy share. main.c reads the command
 * line and runs the commands, push.c pushes (libgit2 and its callbacks),
 * local.c is the transport of local remotes, rollback.c checks a deployment
 * and rolls back, state.c keeps the state file and its lock, secret.c keeps
 * credentials out of everything shown or recorded.
 */
#ifndef DEPLOY_H
#define DEPLOY_H

#include <signal.h>
#include <stdio.h>

#include <git2.h>

#define MAX_HISTORY 10

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

/* main.c: the command line, what it resolved, and saying things. */
extern const char *o_commit, *o_to, *o_verify;
extern long long o_attempts;
extern double o_base, o_verify_timeout;
extern int o_forward, o_verify_env, dry_run;
extern struct state st;
extern const char *statefile;
extern git_repository *repo;
extern char *url, *shown_url, *refname, *secret_user, *token;
extern int token_ok;
extern const char *run_id;
extern volatile sig_atomic_t interrupted;
extern char fallback_prev[41];
struct ci_entry;
void say_(struct ci_entry *e, const char *level, long long dur, const char *fmt,
	  ...) __attribute__((format(printf, 4, 5)));
void set_error(struct record *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pause_for(double sec);

/* Say a line on stderr and, with a run id, log it (step deploy) from here. */
#define SAY(level, dur, ...)                                                   \
	do {                                                                   \
		struct ci_entry e_;                                            \
		ci_entry_init(&e_, run_id, "deploy");                          \
		CI_FROM_CALLER(&e_);                                           \
		say_(&e_, level, dur, __VA_ARGS__);                            \
	} while (0)

/* push.c: pushes with retries; what the server said. */
extern char prev_sha[41], remote_at[41];
extern int have_prev, have_remote_at, nonff;
int push_attempts(struct record *r, int force);
int remote_tip(git_oid *oid, char *why, size_t n);
void make_tmpref(const git_oid *oid);
void deploy_remote_line(const char *line);

/* rollback.c: --verify, and rollbacks (their target, --forward). */
int run_verify(struct record *r);
int rollback(char *outcome, size_t n);

/* state.c: the state file, under a lock beside it. */
void lock_state(void);
int load_state(const char *path);
void begin(const char *sha);
void save(void);
struct ci_buf;
void put_record(struct ci_buf *b, const struct record *r, const char *ind);
void format_state(struct ci_buf *b);

/* secret.c: credentials, and what is shown or recorded cleaned of them. */
void secret_add(const char *s, size_t n);
void url_secrets(const char *u);
void take_url_credentials(void);
char *url_shown(const char *u);
void hide_arg(char *arg);
void redact(char *s);
char *read_token_file(const char *path);

/* local.c: a path or file:// remote through git receive-pack. */
#define LOCAL_SCHEME "ci-deploy-local://"
void local_register(void);
int local_have_git(void);

#endif
