/*
 * shard.c: --shard K/N keeps the suites of the K-th of N shards, the same
 * split in every shard given the same suites and timings. The units split
 * are the suites, and the files of a suite given --shard-files. With
 * --timings, each suite weighs the median of its time in the runs recorded
 * there (all its attempts of a run added up), each of its files an equal
 * share; the heaviest units go first, each to the shard with the least
 * weight so far, the lowest index on a tie. Without timings, the units in
 * name order are dealt round robin.
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testpar.h"

struct unit {
	int suite, file; /* file -1: the whole suite */
	long long weight;
};
static struct unit *units;

static void parse_spec(const char *spec);
static int read_timings(const char **paths, int n);
static void read_one(struct ci_reader *rd, const char *path, unsigned *file);
static void keep(const int *home);
static int by_weight(const void *a, const void *b);
static int by_name(const void *a, const void *b);
static int cmp_ll(const void *a, const void *b);
static int cmp_str(const void *a, const void *b);

void
shard(const char *spec, const char **timings, int ntimings)
{
	int n, nu = 0, timed, *order, *home;
	long long *load;

	parse_spec(spec);
	n = tp.shard_n;
	timed = read_timings(timings, ntimings);
	for (int i = 0; i < tp.nsuites; i++)
		nu += tp.suites[i].nfiles ? tp.suites[i].nfiles : 1;
	units = xmalloc(nu * sizeof *units);
	order = xmalloc(nu * sizeof *order);
	home = xmalloc(nu * sizeof *home);
	load = xmalloc(n * sizeof *load);
	memset(load, 0, n * sizeof *load);
	nu = 0;
	for (int i = 0; i < tp.nsuites; i++) {
		const struct suite *s = &tp.suites[i];
		for (int f = s->nfiles ? 0 : -1; f < s->nfiles; f++) {
			units[nu] = (struct unit){ i, f, s->weight };
			if (s->nfiles && timed)
				units[nu].weight /= s->nfiles;
			order[nu] = nu;
			nu++;
		}
	}
	if (timed) {
		qsort(order, nu, sizeof *order, by_weight);
		for (int i = 0; i < nu; i++) {
			int k = 0;
			for (int j = 1; j < n; j++)
				if (load[j] < load[k])
					k = j;
			home[order[i]] = k;
			load[k] += units[order[i]].weight;
		}
	} else {
		qsort(order, nu, sizeof *order, by_name);
		for (int i = 0; i < nu; i++)
			home[order[i]] = i % n;
	}
	keep(home);
	free(units);
	free(order);
	free(home);
	free(load);
}

/*
 * This shard's suites, in the order given, each with this shard's files:
 * a suite of files runs where at least one of them went.
 */
static void
keep(const int *home)
{
	int u = 0, kept = 0;

	for (int i = 0; i < tp.nsuites; i++) {
		struct suite *s = &tp.suites[i];
		int mine = 0, nf = 0;
		for (int f = s->nfiles ? 0 : -1; f < s->nfiles; f++, u++) {
			if (home[u] != tp.shard_k - 1) {
				if (f >= 0)
					free(s->files[f]);
				continue;
			}
			mine = 1;
			if (f >= 0)
				s->files[nf++] = s->files[f];
		}
		s->nfiles = nf;
		if (!mine) {
			free(s->files);
			continue;
		}
		tp.suites[kept] = *s;
		tp.queue[kept] = kept;
		kept++;
	}
	tp.nsuites = tp.nqueue = kept;
}

/*
 * --shard-files TYPE=GLOB: the files of the suite TYPE, in name order, put
 * into its command where it says {files}; with --shard, split like suites.
 */
void
parse_shard_files(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct suite *s;
	glob_t g;

	if (!eq || eq == arg || !eq[1])
		ci_usage_error("--shard-files: \"%.64s\" is not TYPE=GLOB",
			       arg);
	s = suite_named("--shard-files", arg, (size_t)(eq - arg));
	if (s->glob)
		ci_usage_error("--shard-files: suite %s has two globs",
			       s->type);
	if (!strstr(s->cmd, "{files}"))
		ci_usage_error("--shard-files: the command of suite %s has no "
			       "{files}",
			       s->type);
	s->glob = eq + 1;
	if (glob(s->glob, GLOB_NOSORT, NULL, &g) != 0 || g.gl_pathc == 0)
		ci_usage_error("--shard-files %s: \"%.64s\" matches no file",
			       s->type, s->glob);
	s->nfiles = (int)g.gl_pathc;
	s->files = xmalloc(g.gl_pathc * sizeof *s->files);
	for (size_t i = 0; i < g.gl_pathc; i++)
		s->files[i] = xstrdup(g.gl_pathv[i]);
	globfree(&g);
	/* Byte order, not the locale's: the same in every job. */
	qsort(s->files, s->nfiles, sizeof *s->files, cmp_str);
}

/* The command with each {files} replaced by its files, quoted for sh. */
void
expand_files(struct suite *s)
{
	struct ci_buf list = { 0 }, cmd = { 0 };
	const char *p = s->cmd, *q;

	for (int i = 0; i < s->nfiles; i++) {
		ci_buf_str(&list, i ? " '" : "'");
		for (const char *c = s->files[i]; *c; c++)
			if (*c == '\'')
				ci_buf_str(&list, "'\\''");
			else
				ci_buf_add(&list, c, 1);
		ci_buf_str(&list, "'");
		free(s->files[i]);
	}
	free(s->files);
	s->files = NULL;
	while ((q = strstr(p, "{files}"))) {
		ci_buf_add(&cmd, p, (size_t)(q - p));
		ci_buf_add(&cmd, list.s, list.len);
		p = q + 7;
	}
	ci_buf_str(&cmd, p);
	s->cmd = cmd.s;
	ci_buf_free(&list);
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
	const struct unit *x = &units[*(const int *)a];
	const struct unit *y = &units[*(const int *)b];

	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return by_name(a, b);
}

/* By suite name, then file name. */
static int
by_name(const void *a, const void *b)
{
	const struct unit *x = &units[*(const int *)a];
	const struct unit *y = &units[*(const int *)b];
	int c = strcmp(tp.suites[x->suite].type, tp.suites[y->suite].type);

	if (c || x->suite != y->suite)
		return c;
	return x->file < 0 || y->file < 0
	    ? x->file - y->file
	    : strcmp(tp.suites[x->suite].files[x->file],
		     tp.suites[y->suite].files[y->file]);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}
