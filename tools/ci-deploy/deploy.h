/* deploy.h: what the files of ci-deploy share. */
#ifndef DEPLOY_H
#define DEPLOY_H

/* local.c: a path or file:// remote through git receive-pack. */
#define LOCAL_SCHEME "ci-deploy-local://"
void local_register(void);
int local_have_git(void);

/* main.c: a line of the server's message (a hook's output, git's stderr). */
void deploy_remote_line(const char *line);

#endif
