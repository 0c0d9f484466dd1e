/* file.c: directories and atomic replacement of whole files. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ci.h"

/* The directory part of path, "." when it has none; free it. */
char *
ci_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return xstrdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return xstrdup("/");
	d = xmalloc(slash - path + 1);
	memcpy(d, path, slash - path);
	d[slash - path] = '\0';
	return d;
}

/* mkdir -p: 0 when dir exists as a directory afterwards. */
int
ci_mkdirs(const char *dir, mode_t mode)
{
	char *p = xstrdup(dir), *s = p;
	struct stat st;
	int r = 0;

	for (;;) {
		while (*s == '/')
			s++;
		s = strchr(s, '/');
		if (s)
			*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			r = -1;
			break;
		}
		if (!s)
			break;
		*s = '/';
	}
	if (r == 0 && stat(p, &st) < 0)
		r = -1;
	else if (r == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		r = -1;
	}
	free(p);
	return r;
}

#define TMP_SUFFIX ".tmp" /* then mkstemp's six letters and digits */

/*
 * Replace path with data so that a reader sees the old file or the new one,
 * never a part: a temporary file in the same directory, fsync, rename, fsync
 * of the directory. The new file keeps the old one's permissions, if any.
 * Returns 0, or -1 with errno set and the old file untouched.
 */
int
ci_replace_file(const char *path, const void *data, size_t len)
{
	char *dir = ci_dirname(path), *tmp;
	size_t n = strlen(path) + 16;
	struct stat st;
	int fd, dfd, saved;

	tmp = xmalloc(n);
	snprintf(tmp, n, "%s" TMP_SUFFIX "XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0)
		goto fail;
	if (fchmod(fd, stat(path, &st) == 0 ? st.st_mode & 07777 : 0644) < 0 ||
	    ci_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(tmp);
	free(dir);
	return 0;
fail:
	saved = errno;
	free(tmp);
	free(dir);
	errno = saved;
	return -1;
}

/*
 * Remove the temporary files ci_replace_file left for path when it was
 * killed while writing (path.tmp and six letters or digits, regular files):
 * call it only where no one else can be writing path, as under the lock
 * that serialises its writers. Returns how many were removed.
 */
int
ci_replace_leftovers(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *dir = ci_dirname(path);
	size_t n = strlen(base), k = strlen(TMP_SUFFIX), i;
	struct dirent *e;
	struct stat sb;
	DIR *d = opendir(dir);
	int removed = 0;

	free(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		const char *s = e->d_name;
		if (strlen(s) != n + k + 6 || strncmp(s, base, n) != 0 ||
		    strncmp(s + n, TMP_SUFFIX, k) != 0)
			continue;
		for (i = n + k; i < n + k + 6 && isalnum((unsigned char)s[i]);
		     i++)
			;
		if (i < n + k + 6 ||
		    fstatat(dirfd(d), s, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		removed += unlinkat(dirfd(d), s, 0) == 0;
	}
	closedir(d);
	return removed;
}
