/*
 * trace.c: W3C trace context ids derived from what the log records, so
 * that ci-runid and ci-step hand their children the ids that ci-report
 * --format otlp later writes for the same run and step. A run's trace id
 * and root span id come from its run id; a step's span id from the run id,
 * the step's name and the time of ci-step's start entry (or of the first
 * of the step's other entries); a test attempt's from the suite, the
 * attempt number and the time it ended, a test case's from the same and
 * its place among the attempt's cases (contracts/entries.md).
 */
#include <stdio.h>
#include <string.h>

#include "ci.h"

/* FNV-1a over the fields, each ended by a NUL, then a 64-bit finalizer. */
static uint64_t
hash(uint64_t seed, const char *run_id, const char *kind, const char *name,
     long long key)
{
	const char *parts[3] = { run_id, kind, name };
	char num[24];
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	snprintf(num, sizeof num, "%lld", key);
	for (int i = 0; i < 4; i++) {
		const unsigned char *p =
		    (const unsigned char *)(i < 3 ? parts[i] : num);
		do {
			h ^= *p;
			h *= 0x100000001b3ULL;
		} while (*p++);
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h ? h : 1; /* all-zero ids are invalid */
}

void
ci_trace_id(char out[33], const char *run_id)
{
	snprintf(out, 33, "%016llx%016llx",
		 (unsigned long long)hash(1, run_id, "trace", "", 0),
		 (unsigned long long)hash(2, run_id, "trace", "", 0));
}

void
ci_span_id(char out[17], const char *run_id, const char *kind, const char *name,
	   long long key)
{
	snprintf(out, 17, "%016llx",
		 (unsigned long long)hash(3, run_id, kind, name, key));
}

/* TRACEPARENT for a step's span, or with step NULL for the run's root. */
void
ci_traceparent(char out[CI_TRACEPARENT_LEN + 1], const char *run_id,
	       const char *step, long long key_ms)
{
	char trace[33], span[17];

	ci_trace_id(trace, run_id);
	if (step)
		ci_span_id(span, run_id, CI_SPAN_STEP, step, key_ms);
	else
		ci_span_id(span, run_id, CI_SPAN_RUN, "", 0);
	snprintf(out, CI_TRACEPARENT_LEN + 1, "00-%s-%s-01", trace, span);
}
