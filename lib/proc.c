/* proc.c: run commands in their own process group; signals and exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ci.h"

static int sigpipe_fds[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	(void)write(sigpipe_fds[1], &c, 1);
	errno = saved;
}

/*
 * The self-pipe: SIGINT, SIGTERM, SIGHUP and SIGCHLD are caught and each
 * arrives as one byte (the signal number) to read from the returned
 * descriptor, so that one poll(2) loop handles output, signals and exits.
 */
int
ci_signal_pipe(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD };
	struct sigaction sa;

	if (sigpipe_fds[0] >= 0)
		return sigpipe_fds[0];
	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		ci_die(1, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		sigaction(sigs[i], &sa, NULL);
	return sigpipe_fds[0];
}

/* In the child: signals as a fresh program expects them, then exec. */
static _Noreturn void
child(const struct ci_spawn *s, int errfd, int out[2], int err[2], int fg)
{
	static const int sigs[] = { SIGINT,  SIGTERM, SIGHUP,  SIGCHLD,
				    SIGPIPE, SIGQUIT, SIGTTOU, SIGTTIN };
	sigset_t none;
	int e;

	setpgid(0, 0);
	if (fg) {
		signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(0, getpid());
	}
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (s->stdin_null) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
	}
	if (out[1] >= 0) {
		dup2(out[1], 1);
		dup2(err[1] >= 0 ? err[1] : out[1], 2);
	}
	for (char *const *v = s->env_add; v && *v; v++)
		putenv(*v);
	if (s->shell_cmd)
		execl("/bin/sh", "sh", "-c", s->shell_cmd, (char *)NULL);
	else
		execvp(s->argv[0], s->argv);
	e = errno;
	(void)write(errfd, &e, sizeof e);
	_exit(127);
}

/*
 * Start a command in a process group of its own (pid == pgid), with stdout
 * and stderr through pipes when capture is set. Returns 0, or -1 with errno
 * when it could not fork (EAGAIN: out of processes or memory). A command that
 * cannot be executed still starts: p->exec_errno says why, and it ends with
 * status 127. With lazy_exec, it returns without waiting for the exec, so
 * that the caller can start the next command meanwhile; exec_errno is then
 * set by ci_proc_reap.
 */
int
ci_proc_start(struct ci_proc *p, const struct ci_spawn *s)
{
	int errp[2], out[2] = { -1, -1 }, err[2] = { -1, -1 }, e = 0, fg;
	ssize_t n;

	memset(p, 0, sizeof *p);
	p->out = p->err = p->exec_fd = -1;
	if (pipe2(errp, O_CLOEXEC) < 0)
		return -1;
	if (s->capture &&
	    (pipe2(out, O_CLOEXEC) < 0 ||
	     (!s->merge && pipe2(err, O_CLOEXEC) < 0))) {
		e = errno;
		goto fail;
	}
	fg = s->foreground && isatty(0) && tcgetpgrp(0) == getpgrp();
	p->pid = fork();
	if (p->pid < 0) {
		e = errno;
		goto fail;
	}
	if (p->pid == 0)
		child(s, errp[1], out, err, fg);
	setpgid(p->pid, p->pid); /* also here: no race with a kill */
	p->foreground = fg;
	close(errp[1]);
	if (s->lazy_exec) {
		p->exec_fd = errp[0];
	} else {
		while ((n = read(errp[0], &e, sizeof e)) < 0 && errno == EINTR)
			;
		p->exec_errno = n == (ssize_t)sizeof e ? e : 0;
		close(errp[0]);
	}
	if (out[1] >= 0) {
		close(out[1]);
		p->out = out[0];
		fcntl(p->out, F_SETFL, O_NONBLOCK);
	}
	if (err[1] >= 0) {
		close(err[1]);
		p->err = err[0];
		fcntl(p->err, F_SETFL, O_NONBLOCK);
	}
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		close(errp[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	errno = e;
	return -1;
}

/* Reap the command if it ended; 1 when it has (p->status set), else 0. */
int
ci_proc_reap(struct ci_proc *p, int block)
{
	pid_t r;
	int st;

	if (p->done)
		return 1;
	while ((r = waitpid(p->pid, &st, block ? 0 : WNOHANG)) < 0 &&
	       errno == EINTR)
		;
	if (r != p->pid)
		return 0;
	p->status = st;
	p->done = 1;
	if (p->exec_fd >= 0) { /* the child is gone: this read cannot block */
		ssize_t n;
		int e = 0;
		while ((n = read(p->exec_fd, &e, sizeof e)) < 0 &&
		       errno == EINTR)
			;
		p->exec_errno = n == (ssize_t)sizeof e ? e : 0;
		close(p->exec_fd);
		p->exec_fd = -1;
	}
	if (p->foreground) {
		void (*old)(int) = signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(0, getpgrp());
		signal(SIGTTOU, old);
	}
	return 1;
}

/* Send sig to the command's whole process group. */
void
ci_proc_kill(const struct ci_proc *p, int sig)
{
	if (p->pid > 0)
		kill(-p->pid, sig);
}

/* Whether any process of the command's group is still alive. */
int
ci_proc_group_alive(const struct ci_proc *p)
{
	return p->pid > 0 && kill(-p->pid, 0) == 0;
}

/*
 * The shell's convention for a wait status: the exit status, 128+N when
 * killed by signal N; 127 when the command was not found and 126 when it
 * could not be executed.
 */
int
ci_exit_code(const struct ci_proc *p)
{
	if (p->exec_errno)
		return p->exec_errno == ENOENT ? 127 : 126;
	if (WIFSIGNALED(p->status))
		return 128 + WTERMSIG(p->status);
	return WEXITSTATUS(p->status);
}

/* "exited with status 2", "killed by signal 9 (SIGKILL)", ... */
void
ci_describe_status(struct ci_buf *b, const struct ci_proc *p)
{
	if (p->exec_errno == ENOENT)
		ci_buf_str(b, "command not found");
	else if (p->exec_errno)
		ci_buf_printf(b, "cannot execute: %s", strerror(p->exec_errno));
	else if (WIFSIGNALED(p->status))
		ci_buf_printf(b, "killed by signal %d (SIG%s)",
			      WTERMSIG(p->status),
			      sigabbrev_np(WTERMSIG(p->status))
				  ? sigabbrev_np(WTERMSIG(p->status))
				  : "?");
	else
		ci_buf_printf(b, "exited with status %d",
			      WEXITSTATUS(p->status));
}
