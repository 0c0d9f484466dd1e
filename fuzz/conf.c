/*
 * conf: what C reads of a pipeline.conf. scripts/local-ci/run.sh reads the
 * file itself (in bash); the values it hands on are parsed by ci-testpar:
 * tests.options and tests.options.dev, split into words, and each test.TYPE
 * line as a TYPE=COMMAND suite, checked by ci-testpar --check before the
 * first step. This target reads the input as run.sh does and runs
 * ci-testpar's main with --check on what it hands on. ci-testpar exits on a
 * bad option (status 2, one line): exit is wrapped at link time
 * (-Wl,--wrap=exit) to return here instead, with what main allocated left
 * out of leak checks.
 */
#include <getopt.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/lsan_interface.h>

#include "../tools/ci-testpar/testpar.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int ci_tool_main(int argc, char **argv);
void __real_exit(int code) __attribute__((noreturn));
void __wrap_exit(int code) __attribute__((noreturn));

static jmp_buf back;
static int in_main, exit_code;

void
__wrap_exit(int code)
{
	if (!in_main)
		__real_exit(code);
	exit_code = code;
	longjmp(back, 1);
}

struct conf {
	char *opts[2]; /* tests.options, tests.options.dev */
	char *suites[MAX_ARGS]; /* TYPE=COMMAND, in the order first set */
	int nsuites;
};

static char *
trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return s;
}

/* One "key = value" line, as run.sh takes it; other lines are left out. */
static void
conf_line(struct conf *c, char *line, char *end)
{
	char *eq, *key, *value;
	size_t klen;

	if (end > line && end[-1] == '\r')
		end--;
	if (!(eq = memchr(line, '=', (size_t)(end - line))))
		return;
	value = trim(eq + 1, end);
	key = trim(line, eq);
	if (*key == '#' || !*key)
		return;
	if (strcmp(key, "tests.options") == 0 ||
	    strcmp(key, "tests.options.dev") == 0) {
		int i = key[13] != '\0';
		free(c->opts[i]);
		c->opts[i] = strdup(value);
		return;
	}
	if (strncmp(key, "test.", 5) != 0)
		return;
	key += 5;
	klen = strlen(key);
	for (int i = 0; i < c->nsuites; i++)
		if (strncmp(c->suites[i], key, klen) == 0 &&
		    c->suites[i][klen] == '=') {
			free(c->suites[i]);
			c->suites[i] = NULL;
			if (asprintf(&c->suites[i], "%s=%s", key, value) < 0)
				abort();
			return;
		}
	if (c->nsuites < MAX_ARGS / 2 &&
	    asprintf(&c->suites[c->nsuites++], "%s=%s", key, value) < 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c = { 0 };
	char *text = malloc(size + 1), *p, *nl, *w;
	char *argv[MAX_ARGS + 2];
	volatile int argc = 0;

	memcpy(text, data, size);
	text[size] = '\0';
	for (p = text; p < text + size; p = nl + 1) {
		if (!(nl = memchr(p, '\n', (size_t)(text + size - p))))
			nl = text + size;
		*nl = '\0';
		conf_line(&c, p, nl);
	}
	argv[argc++] = "ci-testpar";
	argv[argc++] = "--check";
	/* The options' words, as bash's read -r -a splits them. */
	for (int i = 0; i < 2; i++)
		for (w = c.opts[i] ? strtok(c.opts[i], " \t") : NULL;
		     w && argc < MAX_ARGS / 2; w = strtok(NULL, " \t"))
			argv[argc++] = w;
	for (int i = 0; i < c.nsuites; i++)
		argv[argc++] = c.suites[i];
	argv[argc] = NULL;

	memset(&tp, 0, sizeof tp);
	optind = 0;
	in_main = 1;
	__lsan_disable();
	if (setjmp(back) == 0)
		exit_code = ci_tool_main(argc, argv);
	__lsan_enable();
	in_main = 0;
	if (exit_code != 0 && exit_code != CI_EXIT_USAGE)
		abort();
	free(tp.suites);
	free(tp.queue);
	free(c.opts[0]);
	free(c.opts[1]);
	for (int i = 0; i < c.nsuites; i++)
		free(c.suites[i]);
	free(text);
	return 0;
}
