/*
 * watchlat.c - write-to-event latency of a WatchDir stream.
 *
 *   watchlat [-n N] PORT DIR
 *	Open filesystem.Filesystem/WatchDir on DIR (Connect JSON over
 *	HTTP/1.1 on 127.0.0.1:PORT), wait for the start message, then N
 *	times: create DIR/wlNNNNN with one byte and measure the time until
 *	the stream carries the first event naming that file. Prints
 *	"watch_us n=… p50=… p99=… mean=… max=…".
 *	Before each of those, the floor: the same file operations in
 *	DIR/.floor (which the stream does not report), watched by a child
 *	process that reads its own inotify instance and writes each
 *	record's name down a pipe; the time until the name comes out of the
 *	pipe. Printed first, as "floor_us n=… p50=… …", so both see the
 *	same load.
 *
 * The stream is read with a small chunked-transfer decoder and searched
 * as bytes (envelopes hold NULs); nothing else of HTTP is needed. One file
 * at a time, with a short pause between files, so each sample is an
 * unloaded latency.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct stream {
	int fd;
	char raw[65536];	/* bytes read, not yet decoded */
	size_t rlen;
	int in_body;		/* past the response headers */
	size_t chunk_left;	/* bytes left in the current chunk */
	char *body;		/* decoded body */
	size_t blen, bcap;
};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
body_add(struct stream *s, const char *p, size_t n)
{
	if (s->blen + n + 1 > s->bcap) {
		s->bcap = (s->blen + n + 1) * 2;
		if ((s->body = realloc(s->body, s->bcap)) == NULL)
			die("realloc");
	}
	memcpy(s->body + s->blen, p, n);
	s->blen += n;
}

/* Decode what raw holds into body (headers skipped, chunks joined). */
static void
decode(struct stream *s)
{
	char *p, *e;
	size_t n;

	for (;;) {
		if (!s->in_body) {
			p = memmem(s->raw, s->rlen, "\r\n\r\n", 4);
			if (p == NULL)
				return;
			if (strncmp(s->raw, "HTTP/1.1 200", 12) != 0) {
				fprintf(stderr, "watchlat: %.*s\n",
				    (int)(p - s->raw), s->raw);
				exit(1);
			}
			n = (size_t)(p - s->raw) + 4;
			s->in_body = 1;
		} else if (s->chunk_left > 0) {
			n = s->rlen < s->chunk_left ? s->rlen : s->chunk_left;
			if (n == 0)
				return;
			body_add(s, s->raw, n);
			s->chunk_left -= n;
		} else {
			/* [CRLF] size CRLF */
			p = s->raw;
			e = s->raw + s->rlen;
			while (p < e && (*p == '\r' || *p == '\n'))
				p++;
			if ((e = memmem(p, (size_t)(e - p), "\r\n", 2)) == NULL)
				return;
			s->chunk_left = strtoul(p, NULL, 16);
			if (s->chunk_left == 0) {
				fprintf(stderr, "watchlat: stream ended\n");
				exit(1);
			}
			n = (size_t)(e - s->raw) + 2;
		}
		memmove(s->raw, s->raw + n, s->rlen - n);
		s->rlen -= n;
	}
}

/* Read until the decoded body holds needle after offset *from. */
static void
wait_for(struct stream *s, const char *needle, size_t *from)
{
	struct pollfd pfd;
	ssize_t r;
	char *hit;

	for (;;) {
		if (s->body != NULL && *from < s->blen &&
		    (hit = memmem(s->body + *from, s->blen - *from, needle,
		    strlen(needle))) != NULL) {
			*from = (size_t)(hit - s->body) + strlen(needle);
			return;
		}
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "watchlat: no \"%s\" within 10 s\n",
			    needle);
			exit(1);
		}
		r = read(s->fd, s->raw + s->rlen, sizeof(s->raw) - s->rlen);
		if (r <= 0)
			die("read");
		s->rlen += (size_t)r;
		decode(s);
	}
}

/* The floor's watcher: until its pipe breaks, write the name of each
 * inotify record on dir, one per line, to fd. */
static void
floor_child(const char *dir, int fd)
{
	char buf[65536], line[NAME_MAX + 2];
	const struct inotify_event *ev;
	ssize_t r, off;
	int in;

	if ((in = inotify_init1(IN_CLOEXEC)) < 0 ||
	    inotify_add_watch(in, dir, IN_CREATE | IN_MODIFY | IN_ATTRIB |
	    IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) < 0)
		die("inotify");
	if (write(fd, "ready\n", 6) != 6)
		_exit(1);
	for (;;) {
		if ((r = read(in, buf, sizeof(buf))) <= 0)
			_exit(1);
		for (off = 0; off < r; off += (ssize_t)sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(buf + off);
			if (ev->len == 0)
				continue;
			snprintf(line, sizeof(line), "%s\n", ev->name);
			if (write(fd, line, strlen(line)) < 0)
				_exit(0);
		}
	}
}

/* Read the floor's pipe until a line equal to name "\n" arrives. */
static void
floor_wait(int fd, const char *name)
{
	static char buf[65536];
	static size_t have;
	size_t want = strlen(name);
	char *nl;
	ssize_t r;

	for (;;) {
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t n = (size_t)(nl - buf) + 1;
			int hit = n - 1 == want && memcmp(buf, name, want) == 0;

			memmove(buf, buf + n, have - n);
			have -= n;
			if (hit)
				return;
		}
		if (have == sizeof(buf))
			have = 0;
		if ((r = read(fd, buf + have, sizeof(buf) - have)) <= 0)
			die("floor read");
		have += (size_t)r;
	}
}

/* Create path with one byte, as the measured writer does. */
static void
touch_one(const char *path)
{
	int fd;

	if ((fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC,
	    0644)) < 0)
		die(path);
	if (write(fd, "x", 1) != 1)
		die("write");
	close(fd);
}

/* "LABEL n=… p50=… p99=… mean=… max=…" of lat[0..n), sorted in place. */
static void
print_lat(const char *label, double *lat, int n)
{
	double sum = 0;
	int i;

	for (i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("%s n=%d p50=%.0f p99=%.0f mean=%.0f max=%.0f\n", label, n,
	    lat[n / 2], lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1],
	    sum / n, lat[n - 1]);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct stream s;
	char req[8192], json[4096], env[4101], path[4200], fdir[4096];
	char needle[64];
	double *lat, *flat, t0;
	size_t from = 0, jlen;
	int n = 200, i, c, one = 1, len, pfd[2];
	pid_t child;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n')
			n = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 2 || n <= 0) {
		fprintf(stderr, "usage: watchlat [-n N] PORT DIR\n");
		return 2;
	}
	memset(&s, 0, sizeof(s));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[optind]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");

	jlen = (size_t)snprintf(json, sizeof(json), "{\"path\":\"%s\"}",
	    argv[optind + 1]);
	env[0] = 0;
	env[1] = (char)(jlen >> 24);
	env[2] = (char)(jlen >> 16);
	env[3] = (char)(jlen >> 8);
	env[4] = (char)jlen;
	memcpy(env + 5, json, jlen);
	len = snprintf(req, sizeof(req),
	    "POST /filesystem.Filesystem/WatchDir HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\n"
	    "Content-Type: application/connect+json\r\n"
	    "Connect-Protocol-Version: 1\r\n"
	    "Content-Length: %zu\r\n\r\n", jlen + 5);
	if (write(s.fd, req, (size_t)len) != len ||
	    write(s.fd, env, jlen + 5) != (ssize_t)(jlen + 5))
		die("write");
	wait_for(&s, "{\"start\":{}}", &from);

	snprintf(fdir, sizeof(fdir), "%s/.floor", argv[optind + 1]);
	if (mkdir(fdir, 0755) != 0 && errno != EEXIST)
		die(fdir);
	if (pipe(pfd) != 0)
		die("pipe");
	if ((child = fork()) < 0)
		die("fork");
	if (child == 0) {
		close(pfd[0]);
		floor_child(fdir, pfd[1]);
	}
	close(pfd[1]);
	floor_wait(pfd[0], "ready");

	if ((lat = calloc((size_t)n, sizeof(*lat))) == NULL ||
	    (flat = calloc((size_t)n, sizeof(*flat))) == NULL)
		die("calloc");
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/wl%05d", fdir, i);
		snprintf(needle, sizeof(needle), "wl%05d", i);
		t0 = now_us();
		touch_one(path);
		floor_wait(pfd[0], needle);
		flat[i] = now_us() - t0;
		usleep(2000);

		snprintf(path, sizeof(path), "%s/wl%05d", argv[optind + 1], i);
		snprintf(needle, sizeof(needle), "\"name\":\"wl%05d\"", i);
		t0 = now_us();
		touch_one(path);
		wait_for(&s, needle, &from);
		lat[i] = now_us() - t0;
		usleep(2000);
	}
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	close(pfd[0]);
	print_lat("floor_us", flat, n);
	print_lat("watch_us", lat, n);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/wl%05d", argv[optind + 1], i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/wl%05d", fdir, i);
		unlink(path);
	}
	rmdir(fdir);
	free(flat);
	free(lat);
	free(s.body);
	close(s.fd);
	return 0;
}
