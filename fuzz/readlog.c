/*
 * readlog: the one log reader (lib/readlog.c) on any bytes: lines, text and
 * schema checks, entry views and runs. The input is read twice, as a whole
 * log and again with the filters of the first valid entry; the cheap tests
 * that rule a line out before it is parsed must never drop an entry that
 * the filters keep. One input in eight is read through a file descriptor
 * (lib/ndjson.c, whose 4 MiB buffer would slow every run); the reader's
 * batches are kept from one run to the next, as a reader reading many
 * files keeps them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ci.h"

struct seen {
	unsigned long long bad, entries, wanted;
	int level;
	char run[CI_RUNID_LEN + 1], step[64];
	int has_first;
};

static void
bad(void *arg, unsigned file, unsigned long long line, const char *why)
{
	struct seen *s = arg;

	(void)file;
	(void)line;
	s->bad += strlen(why) > 0;
}

/* What the filters of the first entry keep, as the reader's rules say. */
static int
kept(const struct seen *s, const struct ci_view *v)
{
	if (strcmp(v->run_id, s->run) != 0)
		return 0;
	if (strcmp(v->step_name, s->step) != 0 &&
	    strcmp(v->step_name, "init") != 0 &&
	    strcmp(v->step_name, "complete") != 0)
		return 0;
	return v->level >= s->level || v->duration_ms >= 0;
}

static void
entry(void *arg, const struct ci_view *v, const char *line, size_t len)
{
	struct seen *s = arg;

	if (!memchr(line, '{', len) || !v->run_id || !v->step_name)
		abort();
	if (!s->has_first && strlen(v->step_name) < sizeof s->step) {
		s->has_first = 1;
		memcpy(s->run, v->run_id, CI_RUNID_LEN + 1);
		strcpy(s->step, v->step_name);
	}
	s->entries++;
	if (s->has_first && kept(s, v))
		s->wanted++;
}

static void
walk(const struct ci_runs *rs)
{
	struct ci_buf b = { 0 };
	size_t n;

	for (size_t i = 0; i < rs->n; i++) {
		const struct ci_run *r = rs->v[i];
		free(ci_run_completed(r, &n));
		for (size_t k = 0; k < r->ntests; k++) {
			ci_test_exec_json(&b, &r->tests[k].t);
			ci_cases_json(&b, &r->tests[k].cases);
		}
		if (r->has_pipeline)
			ci_pipeline_json(&b, r->id, &r->pipeline);
	}
	ci_buf_free(&b);
}

static struct ci_read_batch *kept_batches;

static void
reader(struct ci_reader *rd, struct ci_runs *runs)
{
	ci_reader_init(rd, runs);
	rd->b = kept_batches;
	rd->threads = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ci_reader rd; /* its batches point to it */
	struct ci_runs runs;
	struct seen all = { 0 }, filtered = { 0 };
	struct ci_buf copy = { 0 };
	unsigned long long line = 0;
	int fd;

	/* Whole lines, as the reader of a growing log gives them. */
	ci_buf_add(&copy, data, size);
	if (size && data[size - 1] != '\n')
		ci_buf_add(&copy, "\n", 1);
	all.level = size ? data[0] % 3 : 0;
	ci_runs_init(&runs, 0, 64);
	reader(&rd, &runs);
	rd.bad = bad;
	rd.entry = entry;
	rd.arg = &all;
	if (size % 8 == 0) {
		fd = memfd_create("log", 0);
		if (fd < 0 || write(fd, data, size) != (ssize_t)size ||
		    lseek(fd, 0, SEEK_SET) != 0 || ci_read_fd(&rd, fd, 1) < 0)
			abort();
		close(fd);
	} else {
		ci_read_lines(&rd, copy.s, copy.len, 1, &line);
		/* ci_read_lines writes into the lines: take them again. */
		copy.len = 0;
		ci_buf_add(&copy, data, size);
		if (size && data[size - 1] != '\n')
			ci_buf_add(&copy, "\n", 1);
	}
	kept_batches = rd.b;
	walk(&runs);
	ci_runs_free(&runs);

	if (all.has_first) {
		/* The same lines, filtered as the first entry says. */
		line = 0;
		filtered = all;
		filtered.entries = filtered.wanted = 0;
		filtered.has_first = 1;
		ci_runs_init(&runs, 1, 8);
		reader(&rd, &runs);
		rd.run = all.run;
		rd.step = all.step;
		rd.level = all.level;
		rd.entry = entry;
		rd.arg = &filtered;
		ci_read_lines(&rd, copy.s, copy.len, 1, &line);
		kept_batches = rd.b;
		ci_runs_free(&runs);
		if (filtered.entries != all.wanted)
			abort();
	}
	ci_buf_free(&copy);
	return 0;
}
