/*
 * secret.c: credentials. The password or token of a remote URL in every form
 * git accepts (scheme://user:password@host/..., user:password@host:path), a
 * token of --token-file or of the environment; what is shown or recorded is
 * cleaned of them: URLs lose their credentials, known secrets become ***.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ci.h"
#include "deploy.h"

#define SECRET_MIN 4 /* shorter values would mask digits of every time */

static struct ci_buf secrets; /* the values, each NUL-terminated */

static const char *scheme_start(const char *s, const char *sep);
static int ssh_scheme(const char *s, size_t n);
static const char *authority_at(const char *host);
static void hide_structure(char *s, int whole);
static void hide_value(char *s, const char *v);
static void hide_known(char *s);

/* Decode %XX of s (n bytes) into d; its length. */
static size_t
pct_decode(char *d, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], 0 };
			d[k++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			d[k++] = s[i];
		}
	}
	d[k] = '\0';
	return k;
}

/* A value to hide wherever it would appear, as written and %-decoded. */
void
secret_add(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);
	size_t k = pct_decode(d, s, n);

	if (n >= SECRET_MIN) {
		ci_buf_add(&secrets, s, n);
		ci_buf_add(&secrets, "", 1);
	}
	if (k != n && k >= SECRET_MIN) {
		ci_buf_add(&secrets, d, k);
		ci_buf_add(&secrets, "", 1);
	}
	free(d);
}

static char *
dupn(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/*
 * The userinfo of a scp-like URL, user[:password]@host:path: the first @
 * before any /, and the : before it that starts a password, or NULL.
 */
static const char *
scp_password(const char *s, const char **at)
{
	size_t n = strcspn(s, "/");

	if (!(*at = memchr(s, '@', n)))
		return NULL;
	return memchr(s, ':', (size_t)(*at - s));
}

/*
 * Each password of URL u, and the user of a URL whose scheme is not ssh
 * (https://TOKEN@host), becomes a secret.
 */
void
url_secrets(const char *u)
{
	const char *sep = strstr(u, "://"), *host, *at, *colon;

	if (sep && scheme_start(u, sep) == u) {
		host = sep + 3;
		if (!(at = authority_at(host)))
			return;
		if ((colon = memchr(host, ':', (size_t)(at - host))))
			secret_add(colon + 1, (size_t)(at - colon - 1));
		else if (!ssh_scheme(u, (size_t)(sep - u)))
			secret_add(host, (size_t)(at - host));
	} else if (!sep && (colon = scp_password(u, &at))) {
		secret_add(colon + 1, (size_t)(at - colon - 1));
	}
}

/*
 * The credentials of url, the remote's URL, become secrets. From an http(s)
 * URL they are removed and kept as the credential to send (token,
 * secret_user). shown_url is url without credentials.
 */
void
take_url_credentials(void)
{
	const char *sep = strstr(url, "://"), *host, *at, *colon;
	size_t n = sep ? (size_t)(sep - url) : 0;

	url_secrets(url);
	if ((n == 4 || n == 5) && !strncmp(url, "https", n) &&
	    (at = authority_at(host = sep + 3))) {
		if ((colon = memchr(host, ':', (size_t)(at - host)))) {
			secret_user = dupn(host, (size_t)(colon - host));
			token = dupn(colon + 1, (size_t)(at - colon - 1));
		} else {
			token = dupn(host, (size_t)(at - host));
		}
		pct_decode(token, token, strlen(token));
		memmove((char *)host, at + 1, strlen(at + 1) + 1);
		token_ok = 1;
	}
	free(shown_url);
	shown_url = url_shown(url);
}

/* A copy of URL u as it may be shown: without its credentials. */
char *
url_shown(const char *u)
{
	char *s = xstrdup(u);

	hide_structure(s, 1);
	hide_known(s);
	return s;
}

/*
 * An argument that holds a URL (--remote) loses its credentials in place,
 * where /proc/PID/cmdline and ps read it; the bytes freed become NULs.
 */
void
hide_arg(char *arg)
{
	size_t n = strlen(arg);
	char *s = url_shown(arg);
	size_t k = strlen(s);

	memcpy(arg, s, k);
	memset(arg + k, 0, n - k);
	free(s);
}

/*
 * Hide credentials in a message, in place (it never grows): the known
 * secrets, those of the environment's tokens, and the credentials of any
 * scheme://user:password@ URL in it.
 */
void
redact(char *s)
{
	hide_known(s);
	hide_structure(s, 0);
}

/*
 * --token-file: the token is the file's first line, without its line
 * ending. A file that cannot be read or has no token is a usage error.
 */
char *
read_token_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		ci_die(CI_EXIT_USAGE, "--token-file: cannot read %s: %s", path,
		       strerror(errno));
	errno = 0;
	n = getline(&line, &cap, f);
	if (n < 0 && ferror(f))
		ci_die(CI_EXIT_USAGE, "--token-file: cannot read %s: %s", path,
		       strerror(errno ? errno : EIO));
	fclose(f);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n <= 0)
		ci_die(CI_EXIT_USAGE,
		       "--token-file: %s is empty: its first line is the token",
		       path);
	secret_add(line, (size_t)n);
	return line;
}

/* Where the scheme that ends at sep ("://") starts, or sep if none does. */
static const char *
scheme_start(const char *s, const char *sep)
{
	const char *p = sep;

	while (p > s &&
	       (isalnum((unsigned char)p[-1]) || p[-1] == '+' || p[-1] == '-' ||
		p[-1] == '.'))
		p--;
	while (p < sep && !isalpha((unsigned char)*p))
		p++;
	return p;
}

/* ssh, ssh+git, git+ssh: the user is a login name, shown. */
static int
ssh_scheme(const char *s, size_t n)
{
	return (n == 3 && !strncasecmp(s, "ssh", 3)) ||
	    (n == 7 &&
	     (!strncasecmp(s, "ssh+git", 7) || !strncasecmp(s, "git+ssh", 7)));
}

/* The @ that ends the userinfo of the authority starting at host, or NULL. */
static const char *
authority_at(const char *host)
{
	size_t n = strcspn(host, "/?#\\ \t\r\n\"'<>`");

	return memrchr(host, '@', n);
}

/*
 * Remove the credentials of each scheme://userinfo@ in s: the whole
 * userinfo, but for ssh the password only. With whole, s is one URL and may
 * also be scp-like, user:password@host:path, which keeps user@.
 */
static void
hide_structure(char *s, int whole)
{
	char *p = s, *host, *at, *colon, *start;

	if (whole && !strstr(s, "://")) {
		if ((colon = (char *)scp_password(s, (const char **)&at)))
			memmove(colon, at, strlen(at) + 1);
		return;
	}
	while ((p = strstr(p, "://"))) {
		start = (char *)scheme_start(s, p);
		host = p + 3;
		if (start < p && (at = (char *)authority_at(host))) {
			colon = memchr(host, ':', (size_t)(at - host));
			if (!ssh_scheme(start, (size_t)(p - start)))
				memmove(host, at + 1, strlen(at + 1) + 1);
			else if (colon)
				memmove(colon, at, strlen(at) + 1);
		}
		p = host;
	}
}

static void
hide_value(char *s, const char *v)
{
	size_t n;
	char *p;

	if (!v || (n = strlen(v)) < SECRET_MIN)
		return;
	while ((p = strstr(s, v))) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + n, strlen(p + n) + 1);
	}
}

/* Each known secret, and each token of the environment, becomes ***. */
static void
hide_known(char *s)
{
	for (size_t off = 0; off < secrets.len;
	     off += strlen(secrets.s + off) + 1)
		hide_value(s, secrets.s + off);
	hide_value(s, token);
	hide_value(s, getenv("GITHUB_TOKEN"));
	hide_value(s, getenv("GIT_TOKEN"));
}
