/*
 * shard.c: --shard K/N keeps the suites of the K-th of N shards, the same
 * split in every shard given the same suites and timings. With --timings,
 * each suite weighs the median of its time in the runs recorded there
 * (all its attempts of a run added up); the heaviest go first, each to the
 * shard with the least weight so far, the lowest index on a tie. Without
 * timings, the suites in name order are dealt round robin.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testpar.h"

static void parse_spec(const char *spec);
static int read_timings(const char **paths, int n);
static void read_one(struct ci_reader *rd, const char *path, unsigned *file);
static int by_weight(const void *a, const void *b);
static int by_name(const void *a, const void *b);
static int cmp_ll(const void *a, const void *b);

void
shard(const char *spec, const char **timings, int ntimings)
{
	int n, *order = xmalloc(tp.nsuites * sizeof *order);
	int *home = xmalloc(tp.nsuites * sizeof *home);
	long long *load;

	parse_spec(spec);
	n = tp.shard_n;
	load = xmalloc(n * sizeof *load);
	memset(load, 0, n * sizeof *load);
	for (int i = 0; i < tp.nsuites; i++)
		order[i] = i;
	if (read_timings(timings, ntimings)) {
		qsort(order, tp.nsuites, sizeof *order, by_weight);
		for (int i = 0; i < tp.nsuites; i++) {
			int k = 0;
			for (int j = 1; j < n; j++)
				if (load[j] < load[k])
					k = j;
			home[order[i]] = k;
			load[k] += tp.suites[order[i]].weight;
		}
	} else {
		qsort(order, tp.nsuites, sizeof *order, by_name);
		for (int i = 0; i < tp.nsuites; i++)
			home[order[i]] = i % n;
	}
	/* This shard's suites, in the order given. */
	tp.nqueue = 0;
	for (int i = 0; i < tp.nsuites; i++)
		if (home[i] == tp.shard_k - 1) {
			tp.suites[tp.nqueue] = tp.suites[i];
			tp.queue[tp.nqueue] = tp.nqueue;
			tp.nqueue++;
		}
	tp.nsuites = tp.nqueue;
	free(order);
	free(home);
	free(load);
}

/* K/N: whole numbers, 1 <= K <= N <= CI_SHARDS_MAX. */
static void
parse_spec(const char *spec)
{
	const char *slash = strchr(spec, '/'), *why = NULL;
	char k[24];
	size_t len = slash ? (size_t)(slash - spec) : 0;

	if (slash && len > 0 && len < sizeof k) {
		memcpy(k, spec, len);
		k[len] = '\0';
		tp.shard_k = (int)ci_strtonum(k, 1, CI_SHARDS_MAX, &why);
		if (!why)
			tp.shard_n =
			    (int)ci_strtonum(slash + 1, 1, CI_SHARDS_MAX, &why);
	}
	if (!slash || len == 0 || len >= sizeof k || why ||
	    tp.shard_k > tp.shard_n)
		ci_usage_error("--shard: \"%.64s\" is not K/N (whole numbers, "
			       "1 <= K <= N <= %d)",
			       spec, CI_SHARDS_MAX);
}

/*
 * Each suite's weight from the logs: the median over the runs that ran it
 * of its attempts' time, skipped ones aside. A suite no run has weighs the
 * median of the others. 1 when some suite was found, else 0.
 */
static int
read_timings(const char **paths, int n)
{
	struct ci_runs rs;
	struct ci_reader rd;
	long long *v, *known;
	unsigned file = 0;
	int nknown = 0;

	if (n == 0)
		return 0;
	ci_runs_init(&rs, 3, 0);
	ci_reader_init(&rd, &rs);
	for (int i = 0; i < n; i++)
		read_one(&rd, paths[i], &file);
	ci_reader_free(&rd);
	v = xmalloc((rs.n + 1) * sizeof *v);
	known = xmalloc((tp.nsuites + 1) * sizeof *known);
	for (int i = 0; i < tp.nsuites; i++) {
		struct suite *s = &tp.suites[i];
		size_t nv = 0;
		for (size_t r = 0; r < rs.n; r++) {
			const struct ci_run *run = rs.v[r];
			long long sum = -1;
			for (size_t t = 0; t < run->ntests; t++) {
				const struct ci_attempt *a = &run->tests[t];
				if (strcmp(a->t.test_type, s->type) != 0 ||
				    strcmp(a->t.status, "skipped") == 0)
					continue;
				sum = (sum < 0 ? 0 : sum) + a->end_ms -
				    a->start_ms;
			}
			if (sum >= 0)
				v[nv++] = sum;
		}
		s->weight = -1;
		if (nv == 0)
			continue;
		qsort(v, nv, sizeof *v, cmp_ll);
		s->weight =
		    nv % 2 ? v[nv / 2] : (v[nv / 2 - 1] + v[nv / 2]) / 2;
		known[nknown++] = s->weight;
	}
	if (nknown > 0) {
		long long mid;
		qsort(known, nknown, sizeof *known, cmp_ll);
		mid = nknown % 2
		    ? known[nknown / 2]
		    : (known[nknown / 2 - 1] + known[nknown / 2]) / 2;
		for (int i = 0; i < tp.nsuites; i++)
			if (tp.suites[i].weight < 0)
				tp.suites[i].weight = mid;
	}
	free(v);
	free(known);
	ci_runs_free(&rs);
	return nknown > 0;
}

/*
 * A log, or a directory's *.log files in name order. Every shard must see
 * the same timings, so a path that cannot be read is a usage error, not a
 * shard that splits otherwise.
 */
static void
read_one(struct ci_reader *rd, const char *path, unsigned *file)
{
	struct dirent **names;
	struct stat st;
	int n;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if ((n = scandir(path, &names, NULL, alphasort)) < 0)
			ci_usage_error("--timings: cannot read %s: %s", path,
				       strerror(errno));
		for (int i = 0; i < n; i++) {
			size_t len = strlen(names[i]->d_name);
			struct ci_buf p = { 0 };
			if (len > 4 &&
			    strcmp(names[i]->d_name + len - 4, ".log") == 0) {
				ci_buf_printf(&p, "%s/%s", path,
					      names[i]->d_name);
				read_one(rd, p.s, file);
			}
			ci_buf_free(&p);
			free(names[i]);
		}
		free(names);
		return;
	}
	if (ci_read_path(rd, path, (*file)++) < 0)
		ci_usage_error("--timings: cannot read %s: %s", path,
			       strerror(errno));
}

/* The heaviest first; by name on a tie. */
static int
by_weight(const void *a, const void *b)
{
	const struct suite *x = &tp.suites[*(const int *)a];
	const struct suite *y = &tp.suites[*(const int *)b];

	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return strcmp(x->type, y->type);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(tp.suites[*(const int *)a].type,
		      tp.suites[*(const int *)b].type);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}
