/*
 * hapi.c - HAProxy runtime API client.
 *
 * HAProxy's non-interactive mode executes one line and closes the
 * connection, so a call is connect, write, read to EOF. Long batches (map
 * replacement) are cut into lines below HAProxy's buffer size, because the
 * CLI reads a line into one buffer (tune.bufsize, 16 KiB by default).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "hapi.h"
#include "xalloc.h"

/* Longest line sent at once, well below tune.bufsize. */
#define HAPI_LINE_MAX 8000

/* Wait until fd is ready for events; -ETIMEDOUT after HAPI_TIMEOUT_MS. */
static int
hapi_wait(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, HAPI_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return 0;
}

int
hapi_command(const char *sock, const char *cmd, char **reply)
{
	struct sockaddr_un sun;
	struct buf b;
	size_t len, off;
	ssize_t n;
	uint8_t *p;
	char *line = NULL;
	int fd = -1, r;

	buf_init(&b, HAPI_REPLY_MAX);
	if (reply != NULL)
		*reply = NULL;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = -errno;
		goto out;
	}
	line = xasprintf("%s\n", cmd);
	len = strlen(line);
	for (off = 0; off < len; off += (size_t)n) {
		if ((r = hapi_wait(fd, POLLOUT)) < 0)
			goto out;
		if ((n = write(fd, line + off, len - off)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				n = 0;
			else {
				r = -errno;
				goto out;
			}
		}
	}
	for (;;) {
		if ((r = hapi_wait(fd, POLLIN)) < 0)
			goto out;
		if ((p = buf_reserve(&b, 4096)) == NULL) {
			r = -EMSGSIZE;
			goto out;
		}
		if ((n = read(fd, p, 4096)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		buf_commit(&b, (size_t)n);
	}
	if (reply != NULL)
		*reply = buf_steal_str(&b, NULL);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	buf_reset(&b);
	return r;
}

int
hapi_alive(const char *sock)
{
	char *reply = NULL;
	int alive;

	alive = hapi_command(sock, "show info", &reply) == 0 &&
	    strstr(reply, "Name:") != NULL;
	free(reply);
	return alive;
}

int
hapi_word_ok(const char *s)
{
	const unsigned char *p;

	if (s == NULL || *s == '\0')
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == ';' || *p == '\\' ||
		    *p == '"' || *p == '\'' || *p == '#')
			return 0;
	return 1;
}

/* Run cmd; an answer that is not blank is HAProxy refusing it. Answers that
 * start with one of the prefixes in ok (NULL-terminated) count as success. */
static int
hapi_expect_blank(const char *sock, const char *cmd, const char *const *ok,
    char **cause)
{
	const char *const *o;
	char *reply = NULL, *s;
	int r;

	if ((r = hapi_command(sock, cmd, &reply)) < 0) {
		if (cause != NULL)
			*cause = xasprintf("HAProxy runtime API %s: %s", sock,
			    strerror(-r));
		goto out;
	}
	for (s = reply; *s == '\n' || *s == ' ' || *s == '\r'; s++)
		;
	if (*s == '\0')
		goto out;
	for (o = ok; o != NULL && *o != NULL; o++)
		if (strncmp(s, *o, strlen(*o)) == 0)
			goto out;
	s[strcspn(s, "\n")] = '\0';
	if (cause != NULL)
		*cause = xasprintf("HAProxy refused '%.40s...': %s", cmd, s);
	r = -EPROTO;
out:
	free(reply);
	return r;
}

int
hapi_map_put(const char *sock, const char *map, const char *key,
    const char *value, char **cause)
{
	char *cmd = NULL;
	int r;

	if (cause != NULL)
		*cause = NULL;
	if (!hapi_word_ok(map) || !hapi_word_ok(key) || !hapi_word_ok(value)) {
		if (cause != NULL)
			*cause = xstrdup("map key or value not sendable");
		r = -EINVAL;
		goto out;
	}
	/* One line, so a request sees the old entry or the new one. */
	cmd = xasprintf("del map %s %s; add map %s %s %s", map, key, map, key,
	    value);
	r = hapi_expect_blank(sock, cmd,
	    (const char *const[]){ "Key not found", NULL }, cause);
out:
	free(cmd);
	return r;
}

int
hapi_map_del(const char *sock, const char *map, const char *key,
    char **cause)
{
	char *cmd = NULL;
	int r;

	if (cause != NULL)
		*cause = NULL;
	if (!hapi_word_ok(map) || !hapi_word_ok(key)) {
		if (cause != NULL)
			*cause = xstrdup("map key not sendable");
		r = -EINVAL;
		goto out;
	}
	cmd = xasprintf("del map %s %s", map, key);
	r = hapi_expect_blank(sock, cmd,
	    (const char *const[]){ "Key not found", NULL }, cause);
out:
	free(cmd);
	return r;
}

int
hapi_map_replace(const char *sock, const char *map,
    const char *const *keys, const char *const *vals, size_t n, char **cause)
{
	struct buf line;
	char *reply = NULL, *cmd = NULL, *s;
	unsigned long ver;
	size_t i;
	int r;

	buf_init(&line, HAPI_LINE_MAX * 2);
	if (cause != NULL)
		*cause = NULL;
	if (!hapi_word_ok(map)) {
		r = -EINVAL;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!hapi_word_ok(keys[i]) || !hapi_word_ok(vals[i])) {
			if (cause != NULL)
				*cause = xstrdup("map key or value not "
				    "sendable");
			r = -EINVAL;
			goto out;
		}
	cmd = xasprintf("prepare map %s", map);
	if ((r = hapi_command(sock, cmd, &reply)) < 0) {
		if (cause != NULL)
			*cause = xasprintf("HAProxy runtime API %s: %s", sock,
			    strerror(-r));
		goto out;
	}
	if ((s = strstr(reply, "New version created:")) == NULL ||
	    sscanf(s, "New version created: %lu", &ver) != 1) {
		reply[strcspn(reply, "\n")] = '\0';
		if (cause != NULL)
			*cause = xasprintf("HAProxy refused 'prepare map': %s",
			    reply);
		r = -EPROTO;
		goto out;
	}
	for (i = 0; i <= n; i++) {
		if (i == n || buf_len(&line) > HAPI_LINE_MAX) {
			if (buf_len(&line) == 0)
				break;
			if (buf_append(&line, "", 1) < 0) {
				r = -ENOBUFS;
				goto out;
			}
			if ((r = hapi_expect_blank(sock,
			    (const char *)buf_ptr(&line), NULL, cause)) < 0)
				goto out;
			buf_reset(&line);
			buf_init(&line, HAPI_LINE_MAX * 2);
			if (i == n)
				break;
		}
		free(cmd);
		cmd = xasprintf("%sadd map @%lu %s %s %s",
		    buf_len(&line) > 0 ? "; " : "", ver, map, keys[i], vals[i]);
		if (buf_puts(&line, cmd) < 0) {
			r = -ENOBUFS;
			goto out;
		}
	}
	free(cmd);
	cmd = xasprintf("commit map @%lu %s", ver, map);
	r = hapi_expect_blank(sock, cmd, NULL, cause);
out:
	buf_reset(&line);
	free(cmd);
	free(reply);
	return r;
}
