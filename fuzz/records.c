/*
 * records: ci-log's two readers of standard input on any bytes: --records
 * (level, step, source, line, function and message, tab-separated) and
 * filter mode (a line an entry, compiler-style diagnostics at their own
 * level and place), with masking and GitHub's workflow commands on. The
 * entries go to /dev/null; each must come out as one line.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../tools/ci-log.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	ci_init((*argv)[0]);
	setenv("GITHUB_ACTIONS", "true", 1);
	setenv("GITHUB_WORKSPACE", "/tmp", 1);
	setenv("FUZZ_SECRET", "hunter2", 1);
	setenv("CI_MASK", "FUZZ_SECRET", 1);
	return 0;
}

/* Whole entries only: what waits to be written ends with a newline. */
static void
whole(const struct ci_log *log)
{
	if (log->out.len && log->out.s[log->out.len - 1] != '\n')
		abort();
}

static void
done(struct stream *s)
{
	whole(&s->log);
	xlog_close(&s->log);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			ci_buf_free(&s->log.held[i][j]);
	ci_buf_free(&s->log.notice_step);
	ci_buf_free(&s->log.notice_run);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct stream s;
	struct ci_lines lines = { 0 }, lines2 = { 0 };
	struct ci_buf why = { 0 };
	size_t half = size / 2;

	memset(&s, 0, sizeof s);
	ci_entry_init(&s.base, "run-20251022-100000-tst003", "fuzz");
	s.base.source_file = "fuzz.sh";
	s.ack_fd = -1;
	if (ci_log_open(&s.log, "/dev/null", 1, &why) != 0)
		abort();
	s.log.hold = 1;

	/* Records, fed in two parts, pieces of 4 KiB at most. */
	lines.max = 4096;
	s.lines = &lines;
	ci_lines_feed(&lines, (const char *)data, half, record_line, &s);
	whole(&s.log);
	flush(&s);
	ci_lines_feed(&lines, (const char *)data + half, size - half,
		      record_line, &s);
	ci_lines_finish(&lines, record_line, &s);
	flush(&s);
	ci_lines_free(&lines);

	/* The same bytes as lines of a command's output. */
	s.sink.log = &s.log;
	s.sink.base = s.base;
	s.sink.prefix = size & 1 ? "[unit] " : NULL;
	lines2.max = 4096;
	ci_lines_feed(&lines2, (const char *)data, size, ci_sink_line, &s.sink);
	ci_lines_finish(&lines2, ci_sink_line, &s.sink);
	ci_lines_free(&lines2);
	done(&s);
	ci_sink_free(&s.sink);
	ci_buf_free(&s.msg);
	ci_buf_free(&s.rec);
	ci_buf_free(&s.acks);
	ci_buf_free(&why);
	return 0;
}
