/*
 * local.c: local remotes (a path, file://) through git receive-pack, as git
 * push does, so that the server's hooks and receive.* settings apply. A
 * smart subtransport of libgit2 whose stream is the pipes of `git
 * receive-pack PATH`: libgit2 speaks the protocol, git does the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/transport.h>

#include "ci.h"
#include "deploy.h"

struct lstream {
	git_smart_subtransport_stream parent;
	pid_t pid;
	int in, out, err; /* the child's stdin, stdout, stderr; -1: closed */
	char line[1024]; /* the stderr line not yet ended */
	size_t len;
	char last[1024]; /* its last whole stderr line */
};

struct lsub {
	git_smart_subtransport parent;
	struct lstream *cur;
};

/* What a local remote's git says on stderr is the server's message. */
static void
err_bytes(struct lstream *s, const char *p, size_t n)
{
	for (; n > 0; p++, n--) {
		if (*p != '\n' && *p != '\r') {
			if (s->len < sizeof s->line - 1)
				s->line[s->len++] = *p;
			continue;
		}
		if (s->len == 0)
			continue;
		s->line[s->len] = '\0';
		snprintf(s->last, sizeof s->last, "%s", s->line);
		deploy_remote_line(s->line);
		s->len = 0;
	}
}

/* Read what stderr has; with block, up to its end. 0 at its end. */
static int
read_err(struct lstream *s, int block)
{
	char buf[4096];
	ssize_t n;

	while (s->err >= 0) {
		n = read(s->err, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && !block)
			return 1;
		if (n <= 0) {
			err_bytes(s, "\n", 1);
			close(s->err);
			s->err = -1;
			return 0;
		}
		err_bytes(s, buf, (size_t)n);
		if (!block)
			return 1;
	}
	return 0;
}

/* The child ended before it said all: why, from its stderr or status. */
static int
ended(struct lstream *s)
{
	int status = 0;

	if (s->err >= 0) {
		fcntl(s->err, F_SETFL, 0);
		read_err(s, 1);
	}
	if (s->pid > 0 && waitpid(s->pid, &status, 0) == s->pid)
		s->pid = 0;
	if (s->last[0])
		git_error_set(GIT_ERROR_NET, "git receive-pack: %s", s->last);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		git_error_set_str(GIT_ERROR_NET,
				  "git receive-pack: cannot run git");
	else
		git_error_set_str(GIT_ERROR_NET,
				  "git receive-pack ended early");
	return -1;
}

static int
s_read(git_smart_subtransport_stream *stream, char *buf, size_t size,
       size_t *got)
{
	struct lstream *s = (struct lstream *)stream;
	struct pollfd p[2];
	ssize_t n;

	*got = 0;
	for (;;) {
		p[0].fd = s->out;
		p[0].events = POLLIN;
		p[1].fd = s->err;
		p[1].events = POLLIN;
		if (poll(p, s->err >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			git_error_set(GIT_ERROR_OS, "poll: %s",
				      strerror(errno));
			return -1;
		}
		if (s->err >= 0 && p[1].revents)
			read_err(s, 0);
		if (!p[0].revents)
			continue;
		n = read(s->out, buf, size);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			git_error_set(GIT_ERROR_OS, "git receive-pack: %s",
				      strerror(errno));
			return -1;
		}
		if (n == 0)
			return ended(s);
		*got = (size_t)n;
		return 0;
	}
}

static int
s_write(git_smart_subtransport_stream *stream, const char *buf, size_t len)
{
	struct lstream *s = (struct lstream *)stream;
	ssize_t n;

	while (len > 0) {
		n = write(s->in, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE)
			return ended(s);
		if (n < 0) {
			git_error_set(GIT_ERROR_OS, "git receive-pack: %s",
				      strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The stream lives as long as its subtransport's connection. */
static void
s_free(git_smart_subtransport_stream *stream)
{
	(void)stream;
}

/*
 * The end of the connection: stdin closed, what the child still says read
 * (post-receive runs after the report), and the child waited for, as git
 * push waits.
 */
static void
stream_close(struct lstream *s)
{
	char buf[4096];
	ssize_t n;

	if (s->in >= 0)
		close(s->in);
	if (s->out >= 0) {
		fcntl(s->out, F_SETFL, 0);
		while ((n = read(s->out, buf, sizeof buf)) != 0)
			if (n < 0 && errno != EINTR)
				break;
		close(s->out);
	}
	if (s->err >= 0) {
		fcntl(s->err, F_SETFL, 0);
		read_err(s, 1);
	}
	while (s->pid > 0 && waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(s);
}

/* The variables of git rev-parse --local-env-vars: this repository's. */
static const char *const local_env[] = {
	"GIT_ALTERNATE_OBJECT_DIRECTORIES",
	"GIT_CONFIG",
	"GIT_CONFIG_PARAMETERS",
	"GIT_CONFIG_COUNT",
	"GIT_OBJECT_DIRECTORY",
	"GIT_DIR",
	"GIT_WORK_TREE",
	"GIT_IMPLICIT_WORK_TREE",
	"GIT_GRAFT_FILE",
	"GIT_INDEX_FILE",
	"GIT_NO_REPLACE_OBJECTS",
	"GIT_REPLACE_REF_BASE",
	"GIT_PREFIX",
	"GIT_INTERNAL_SUPER_PREFIX",
	"GIT_SHALLOW_FILE",
	"GIT_COMMON_DIR",
};

static int
stream_new(struct lstream **out, const char *path, const char *service)
{
	int in[2], o[2], e[2];
	struct lstream *s;

	if (pipe2(in, O_CLOEXEC) < 0)
		goto fail;
	if (pipe2(o, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		goto fail;
	}
	if (pipe2(e, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		close(o[0]);
		close(o[1]);
		goto fail;
	}
	s = calloc(1, sizeof *s);
	if (!s || (s->pid = fork()) < 0) {
		free(s);
		for (int i = 0; i < 2; i++) {
			close(in[i]);
			close(o[i]);
			close(e[i]);
		}
		goto fail;
	}
	if (s->pid == 0) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		for (size_t i = 0; i < sizeof local_env / sizeof *local_env;
		     i++)
			unsetenv(local_env[i]);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		execlp("git", "git", service, path, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	s->in = in[1];
	s->out = o[0];
	s->err = e[0];
	fcntl(s->err, F_SETFL, O_NONBLOCK);
	s->parent.read = s_read;
	s->parent.write = s_write;
	s->parent.free = s_free;
	*out = s;
	return 0;
fail:
	git_error_set(GIT_ERROR_OS, "cannot start git %s: %s", service,
		      strerror(errno));
	return -1;
}

static int
sub_action(git_smart_subtransport_stream **out, git_smart_subtransport *t,
	   const char *address, git_smart_service_t action)
{
	struct lsub *sub = (struct lsub *)t;
	const char *path = address + strlen(LOCAL_SCHEME);
	const char *service = action == GIT_SERVICE_UPLOADPACK_LS ||
		action == GIT_SERVICE_UPLOADPACK
	    ? "upload-pack"
	    : "receive-pack";

	if ((action == GIT_SERVICE_UPLOADPACK ||
	     action == GIT_SERVICE_RECEIVEPACK) &&
	    sub->cur) {
		*out = &sub->cur->parent;
		return 0;
	}
	if (sub->cur) {
		stream_close(sub->cur);
		sub->cur = NULL;
	}
	if (stream_new(&sub->cur, path, service) < 0)
		return -1;
	sub->cur->parent.subtransport = t;
	*out = &sub->cur->parent;
	return 0;
}

static int
sub_close(git_smart_subtransport *t)
{
	struct lsub *sub = (struct lsub *)t;

	if (sub->cur)
		stream_close(sub->cur);
	sub->cur = NULL;
	return 0;
}

static void
sub_free(git_smart_subtransport *t)
{
	sub_close(t);
	free(t);
}

static int
sub_new(git_smart_subtransport **out, git_transport *owner, void *param)
{
	struct lsub *sub = calloc(1, sizeof *sub);

	(void)owner;
	(void)param;
	if (!sub) {
		git_error_set_oom();
		return -1;
	}
	sub->parent.action = sub_action;
	sub->parent.close = sub_close;
	sub->parent.free = sub_free;
	*out = &sub->parent;
	return 0;
}

static git_smart_subtransport_definition local_def = { sub_new, 0, NULL };

static int
transport_new(git_transport **out, git_remote *owner, void *param)
{
	(void)param;
	return git_transport_smart(out, owner, &local_def);
}

/* URLs LOCAL_SCHEME + path go through git receive-pack of path. */
void
local_register(void)
{
	if (git_transport_register("ci-deploy-local", transport_new, NULL) < 0)
		ci_die(CI_EXIT_ENV, "cannot register the local transport: %s",
		       git_error_last()->message);
}

/* Whether git is an executable of PATH. */
int
local_have_git(void)
{
	const char *path = getenv("PATH"), *p, *end;
	char file[4096];
	struct stat sb;

	for (p = path ? path : ""; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ":");
		snprintf(file, sizeof file, "%.*s/git",
			 end > p ? (int)(end - p) : 1, end > p ? p : ".");
		if (stat(file, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    access(file, X_OK) == 0)
			return 1;
	}
	return 0;
}
