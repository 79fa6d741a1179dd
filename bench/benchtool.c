/*
 * benchtool.c - small loopback tools for the benchmarks in bench/.
 *
 *   benchtool startup [-n RUNS] URL -- CMD [ARG...]
 *	RUNS times: fork+exec CMD, poll URL every 200 us until it answers
 *	2xx, print the milliseconds from exec to that answer, then SIGTERM
 *	and reap. Prints "startup_ms median=… min=… max=…".
 *   benchtool serve PORT
 *	The floor: a minimal blocking server answering 204 to every request.
 *   benchtool wait [-t MS] URL
 *	Poll URL until it answers 2xx (exit 0) or MS pass (exit 1).
 *   benchtool spawn [-n RUNS] [-u USER] [-o FILE] -- CMD [ARG...]
 *	The floor of process starting: RUNS times posix_spawn CMD with
 *	stdin from /dev/null and stdout/stderr on pipes, read both to EOF,
 *	waitpid. With -u, a child first becomes USER (groups, gid, uid, the
 *	environment envd gives: PATH, HOME, USER, LOGNAME, E2B_SANDBOX; cwd
 *	the home) and runs the loop, so the switch is not measured.
 *   benchtool start [-n RUNS] [-u USER] [-o FILE] URL JSON
 *	RUNS Process.Start calls (Connect JSON, body JSON in one envelope)
 *	over one keep-alive connection, each read to its end-of-stream
 *	envelope; -u sends "Authorization: Basic USER:". Fails unless every
 *	call had an end event with exit status 0.
 *	Both print "ms median=… p99=… min=… max=… runs=…" and, with -o,
 *	append every sample (ms) to FILE.
 *   benchtool pair [-n RUNS] [-u USER] URL JSON -- CMD [ARG...]
 *	The two above interleaved, one of each per iteration (as USER), so
 *	that both see the same load on a busy machine. Prints a "floor ms …"
 *	and an "envd ms …" line and the median of the per-pair ratios.
 *   benchtool get URL
 *	One GET on a fresh connection; the body is read with 1 MiB recv()
 *	calls and dropped. Prints "status=… bytes=… secs=… MBps=…".
 *   benchtool put URL FILE [METHOD [CTYPE]]
 *	Send FILE as the body (Content-Length, sendfile() from the page
 *	cache; METHOD defaults to PUT, CTYPE to application/octet-stream),
 *	then read the answer. CTYPE "multipart" sends FILE as the one part
 *	"file" of a multipart/form-data body instead (the part's head and
 *	the closing boundary written around the sendfile()). Prints the same
 *	line, bytes being FILE's size.
 *   benchtool rss PID...
 *	Sample the summed VmRSS of the PIDs every 10 ms until SIGTERM or
 *	SIGINT, then print "max_kb=…" (cheap enough to run beside a
 *	transfer on a small machine).
 *
 * URLs are http://IPV4:PORT/path. Each tool measures one thing and prints
 * plain "key=value" lines that bench/run.sh turns into ratios.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <spawn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct url {
	struct sockaddr_in sa;
	char path[1024];
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
parse_url(const char *u, struct url *out)
{
	char host[64];
	const char *p, *slash, *colon;
	int port = 80;

	if (strncmp(u, "http://", 7) != 0) {
		fprintf(stderr, "URL must start with http://\n");
		exit(2);
	}
	p = u + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	snprintf(host, sizeof(host), "%.*s",
	    (int)((colon != NULL ? colon : slash) - p), p);
	if (colon != NULL)
		port = atoi(colon + 1);
	memset(&out->sa, 0, sizeof(out->sa));
	out->sa.sin_family = AF_INET;
	out->sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &out->sa.sin_addr) != 1) {
		fprintf(stderr, "host must be an IPv4 literal\n");
		exit(2);
	}
	snprintf(out->path, sizeof(out->path), "%s", *slash ? slash : "/");
}

/* One GET; returns the status code, or -1 when nothing answers. */
static int
probe(const struct url *u)
{
	char req[1200], resp[256];
	ssize_t n;
	int fd, status = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&u->sa, sizeof(u->sa)) != 0)
		goto out;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: bench\r\n"
	    "Connection: close\r\n\r\n", u->path);
	if (write(fd, req, (size_t)n) != n)
		goto out;
	n = read(fd, resp, sizeof(resp) - 1);
	if (n > 12) {
		resp[n] = '\0';
		if (strncmp(resp, "HTTP/1.", 7) == 0)
			status = atoi(resp + 9);
	}
out:
	close(fd);
	return status;
}

static int
cmd_startup(int argc, char **argv)
{
	struct url u;
	double *ms, t0;
	pid_t pid;
	int runs = 20, i, j, st, ready, s;

	while (argc > 0 && strcmp(argv[0], "-n") == 0 && argc > 1) {
		runs = atoi(argv[1]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 3 || strcmp(argv[1], "--") != 0) {
		fprintf(stderr, "startup [-n RUNS] URL -- CMD...\n");
		return 2;
	}
	parse_url(argv[0], &u);
	if (probe(&u) >= 0) {
		fprintf(stderr, "something already answers at %s\n", argv[0]);
		return 1;
	}
	ms = calloc((size_t)runs, sizeof(*ms));
	for (i = 0; i < runs; i++) {
		t0 = now_ms();
		if ((pid = fork()) == 0) {
			setpgid(0, 0);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		ready = 0;
		while (now_ms() - t0 < 10000) {
			s = probe(&u);
			if (s >= 200 && s < 300) {
				ready = 1;
				break;
			}
			if (waitpid(pid, &st, WNOHANG) == pid) {
				fprintf(stderr, "server exited early\n");
				return 1;
			}
			usleep(200);
		}
		ms[i] = now_ms() - t0;
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
		if (!ready) {
			fprintf(stderr, "timeout waiting for %s\n", argv[0]);
			return 1;
		}
		for (j = 0; j < 5000 && probe(&u) >= 0; j++)
			usleep(1000);
	}
	qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
	printf("startup_ms median=%.2f min=%.2f max=%.2f runs=%d\n",
	    runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2,
	    ms[0], ms[runs - 1], runs);
	free(ms);
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
	struct sockaddr_in sa;
	char buf[4096];
	int ls, c, one = 1;

	if (argc < 1)
		return 2;
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[0]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(ls, 128) != 0) {
		perror("bind");
		return 1;
	}
	for (;;) {
		if ((c = accept(ls, NULL, NULL)) < 0)
			continue;
		if (read(c, buf, sizeof(buf)) > 0 &&
		    write(c, resp, sizeof(resp) - 1) < 0)
			perror("write");
		close(c);
	}
}

static int
cmd_wait(int argc, char **argv)
{
	struct url u;
	double t0 = now_ms(), tmo = 10000;
	int s;

	if (argc > 1 && strcmp(argv[0], "-t") == 0) {
		tmo = atof(argv[1]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 1)
		return 2;
	parse_url(argv[0], &u);
	while (now_ms() - t0 < tmo) {
		s = probe(&u);
		if (s >= 200 && s < 300)
			return 0;
		usleep(1000);
	}
	return 1;
}

/* Connect to u with TCP_NODELAY; exits on failure. */
static int
dial(const struct url *u)
{
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (const struct sockaddr *)&u->sa, sizeof(u->sa)) != 0) {
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * Read an HTTP/1.1 answer from fd into buf (size bufsz): returns the
 * status and sets *hlen to the header length and *have to the bytes
 * read so far, *clen to Content-Length (-1 if absent).
 */
static int
read_head(int fd, char *buf, size_t bufsz, size_t *hlen, size_t *have,
    long long *clen)
{
	char *end, *p;
	ssize_t n;
	size_t got = 0;

	*clen = -1;
	for (;;) {
		n = recv(fd, buf + got, bufsz - got - 1, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
		if (got >= bufsz - 1)
			return -1;
	}
	*hlen = (size_t)(end - buf) + 4;
	*have = got;
	for (p = buf; p < end; p++) {
		if ((p == buf || p[-1] == '\n') &&
		    strncasecmp(p, "Content-Length:", 15) == 0)
			*clen = atoll(p + 15);
	}
	return strncmp(buf, "HTTP/1.", 7) == 0 ? atoi(buf + 9) : -1;
}

static void
report(int status, long long bytes, double ms)
{
	printf("status=%d bytes=%lld secs=%.3f MBps=%.1f\n", status, bytes,
	    ms / 1e3, ms > 0 ? (double)bytes / 1e6 / (ms / 1e3) : 0.0);
}

static int
cmd_get(int argc, char **argv)
{
	const size_t bufsz = 1024 * 1024;
	struct url u;
	char req[1200], *buf;
	long long clen, body;
	size_t hlen, have;
	double t0;
	ssize_t n;
	int fd, status;

	if (argc < 1)
		return 2;
	parse_url(argv[0], &u);
	buf = malloc(bufsz);
	t0 = now_ms();
	fd = dial(&u);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: bench\r\n"
	    "Connection: close\r\n\r\n", u.path);
	if (write(fd, req, (size_t)n) != n)
		return 1;
	if ((status = read_head(fd, buf, 65536, &hlen, &have, &clen)) < 0) {
		fprintf(stderr, "bad answer\n");
		return 1;
	}
	body = (long long)(have - hlen);
	while ((clen < 0 || body < clen) &&
	    (n = recv(fd, buf, bufsz, 0)) > 0)
		body += n;
	report(status, body, now_ms() - t0);
	close(fd);
	free(buf);
	return clen >= 0 && body != clen ? 1 : 0;
}

#define PUT_BOUNDARY "benchtool-7d3f0c9a2e41b5"

static int
cmd_put(int argc, char **argv)
{
	struct url u;
	struct stat st;
	char req[1600], buf[65536];
	const char *method, *ctype, *head = "", *tail = "";
	long long clen;
	size_t hlen, have;
	double t0;
	off_t off = 0;
	ssize_t n;
	int fd, ffd, status;

	if (argc < 2)
		return 2;
	parse_url(argv[0], &u);
	method = argc > 2 ? argv[2] : "PUT";
	ctype = argc > 3 ? argv[3] : "application/octet-stream";
	if ((ffd = open(argv[1], O_RDONLY)) < 0 || fstat(ffd, &st) != 0) {
		perror(argv[1]);
		return 1;
	}
	if (strcmp(ctype, "multipart") == 0) {
		ctype = "multipart/form-data; boundary=" PUT_BOUNDARY;
		head = "--" PUT_BOUNDARY "\r\nContent-Disposition: form-data; "
		    "name=\"file\"; filename=\"bench.bin\"\r\n"
		    "Content-Type: application/octet-stream\r\n\r\n";
		tail = "\r\n--" PUT_BOUNDARY "--\r\n";
	}
	t0 = now_ms();
	fd = dial(&u);
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: bench\r\n"
	    "Content-Type: %s\r\nContent-Length: %lld\r\n"
	    "Connection: close\r\n\r\n%s", method, u.path, ctype,
	    (long long)(st.st_size + strlen(head) + strlen(tail)), head);
	if (n < 0 || (size_t)n >= sizeof(req) ||
	    write(fd, req, (size_t)n) != n)
		return 1;
	while (off < st.st_size) {
		n = sendfile(fd, ffd, &off, (size_t)(st.st_size - off));
		if (n <= 0) {
			perror("sendfile");
			return 1;
		}
	}
	if (write(fd, tail, strlen(tail)) != (ssize_t)strlen(tail))
		return 1;
	status = read_head(fd, buf, sizeof(buf), &hlen, &have, &clen);
	report(status, (long long)st.st_size, now_ms() - t0);
	close(fd);
	close(ffd);
	return status >= 200 && status < 300 ? 0 : 1;
}

static volatile sig_atomic_t rss_stop;

static void
rss_on_signal(int sig)
{
	rss_stop = 1;
}

/* Summed VmRSS of pids[0..n) in kB (processes that are gone count 0). */
static long
rss_sample(char **pids, int n)
{
	char path[64], line[256];
	FILE *f;
	long total = 0, v;
	int i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%s/status", pids[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, "VmRSS: %ld", &v) == 1) {
				total += v;
				break;
			}
		}
		fclose(f);
	}
	return total;
}

static int
cmd_rss(int argc, char **argv)
{
	struct sigaction sa;
	long max = 0, v;

	if (argc < 1)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rss_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!rss_stop) {
		if ((v = rss_sample(argv, argc)) > max)
			max = v;
		usleep(10000);
	}
	printf("max_kb=%ld\n", max);
	return 0;
}


/* Print the summary of ms[0..n) and append the samples to f. */
static void
summary(double *ms, int n, FILE *f)
{
	int i;

	if (f != NULL) {
		for (i = 0; i < n; i++)
			fprintf(f, "%.4f\n", ms[i]);
		fclose(f);
	}
	qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
	printf("ms median=%.3f p99=%.3f min=%.3f max=%.3f runs=%d\n",
	    n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2,
	    ms[(n * 99 + 99) / 100 - 1], ms[0], ms[n - 1], n);
}

/* Become user (as envd's children do) with envd's environment for them. */
static int
become(const char *user)
{
	static char env_path[] = "PATH=/usr/local/sbin:/usr/local/bin:"
	    "/usr/sbin:/usr/bin:/sbin:/bin";
	static char env_sandbox[] = "E2B_SANDBOX=false";
	static char home[1100], name[300], logname[300];
	static char *env[6];
	struct passwd *pw;

	if ((pw = getpwnam(user)) == NULL) {
		fprintf(stderr, "no user %s\n", user);
		return -1;
	}
	if (initgroups(user, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		perror("become");
		return -1;
	}
	snprintf(home, sizeof(home), "HOME=%s", pw->pw_dir);
	snprintf(name, sizeof(name), "USER=%s", user);
	snprintf(logname, sizeof(logname), "LOGNAME=%s", user);
	env[0] = env_path;
	env[1] = home;
	env[2] = name;
	env[3] = logname;
	env[4] = env_sandbox;
	env[5] = NULL;
	environ = env;
	if (chdir(pw->pw_dir) != 0)
		perror("chdir");
	return 0;
}

/* One posix_spawn with pipes, read to EOF, waitpid; returns the status. */
static int
spawn_once(char **argv, int devnull)
{
	posix_spawn_file_actions_t fa;
	struct pollfd pfd[2];
	char buf[65536];
	int out[2], err[2], st = -1, open_fds, i;
	pid_t pid;
	ssize_t n;

	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		perror("posix_spawn");
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(err[1]);
	pfd[0].fd = out[0];
	pfd[1].fd = err[0];
	pfd[0].events = pfd[1].events = POLLIN;
	for (open_fds = 2; open_fds > 0;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
		}
	}
	waitpid(pid, &st, 0);
	return st;
}

static int
cmd_spawn(int argc, char **argv)
{
	const char *user = NULL, *out = NULL;
	FILE *outf = NULL;
	double *ms, t0;
	pid_t pid;
	int runs = 200, i, st, devnull;

	while (argc > 1 && argv[0][0] == '-' && strcmp(argv[0], "--") != 0) {
		if (strcmp(argv[0], "-n") == 0)
			runs = atoi(argv[1]);
		else if (strcmp(argv[0], "-u") == 0)
			user = argv[1];
		else if (strcmp(argv[0], "-o") == 0)
			out = argv[1];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2 || strcmp(argv[0], "--") != 0 || runs < 1) {
		fprintf(stderr, "spawn [-n RUNS] [-u USER] [-o FILE] -- CMD...\n");
		return 2;
	}
	/* Opened before the switch to the user, who may not write there. */
	if (out != NULL && (outf = fopen(out, "a")) == NULL) {
		perror(out);
		return 1;
	}
	fflush(stdout);
	if ((pid = fork()) != 0) {
		if (outf != NULL)
			fclose(outf);
		if (pid < 0 || waitpid(pid, &st, 0) < 0)
			return 1;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	if (user != NULL && become(user) != 0)
		_exit(1);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ms = calloc((size_t)runs, sizeof(*ms));
	for (i = -5; i < runs; i++) {	/* five warm-up runs */
		t0 = now_ms();
		st = spawn_once(argv + 1, devnull);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "%s exited with %#x\n", argv[1], st);
			_exit(1);
		}
		if (i >= 0)
			ms[i] = now_ms() - t0;
	}
	summary(ms, runs, outf);
	fflush(stdout);
	_exit(0);
}

/* Buffered reader over the keep-alive connection. */
struct conn {
	int fd;
	char buf[65536];
	size_t off, len;
};

static int
conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len);
		c->off = 0;
	}
	if (c->len == sizeof(c->buf))
		return -1;
	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

/* Read one CRLF-terminated line (without it) into line. */
static int
conn_line(struct conn *c, char *line, size_t size)
{
	char *nl;
	size_t n;

	while ((nl = memchr(c->buf + c->off, '\n', c->len)) == NULL)
		if (conn_fill(c) != 0)
			return -1;
	n = (size_t)(nl - (c->buf + c->off));
	if (n + 1 > size)
		return -1;
	memcpy(line, c->buf + c->off, n);
	line[n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[n - 1] = '\0';
	c->off += n + 1;
	c->len -= n + 1;
	return 0;
}

static int
conn_read(struct conn *c, char *dst, size_t n)
{
	size_t k;

	while (n > 0) {
		if (c->len == 0 && conn_fill(c) != 0)
			return -1;
		k = c->len < n ? c->len : n;
		memcpy(dst, c->buf + c->off, k);
		c->off += k;
		c->len -= k;
		dst += k;
		n -= k;
	}
	return 0;
}

/*
 * One Start call on c: send it, read the response body (chunked or with a
 * length), walk its envelopes. Returns 0 when an end event with exit
 * status 0 and a clean end-of-stream arrived.
 */
static int
start_once(struct conn *c, const char *req, size_t reqlen)
{
	static char body[1 << 20];
	char line[1024], *p;
	size_t blen = 0, clen = 0, off;
	uint32_t elen;
	int chunked = 0, have_len = 0, ok_end = 0, ok_eos = 0;
	long sz;

	if (write(c->fd, req, reqlen) != (ssize_t)reqlen)
		return -1;
	if (conn_line(c, line, sizeof(line)) != 0 ||
	    strncmp(line, "HTTP/1.1 200", 12) != 0) {
		fprintf(stderr, "bad status line: %s\n", line);
		return -1;
	}
	for (;;) {
		if (conn_line(c, line, sizeof(line)) != 0)
			return -1;
		if (line[0] == '\0')
			break;
		if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
		    strstr(line, "chunked") != NULL)
			chunked = 1;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			have_len = 1;
			clen = (size_t)atol(line + 15);
		}
	}
	if (chunked) {
		for (;;) {
			if (conn_line(c, line, sizeof(line)) != 0)
				return -1;
			sz = strtol(line, &p, 16);
			if (sz < 0 || blen + (size_t)sz > sizeof(body))
				return -1;
			if (sz == 0) {
				if (conn_line(c, line, sizeof(line)) != 0)
					return -1;
				break;
			}
			if (conn_read(c, body + blen, (size_t)sz) != 0 ||
			    conn_line(c, line, sizeof(line)) != 0)
				return -1;
			blen += (size_t)sz;
		}
	} else if (have_len) {
		if (clen > sizeof(body) || conn_read(c, body, clen) != 0)
			return -1;
		blen = clen;
	} else {
		return -1;
	}
	for (off = 0; off + 5 <= blen; off += 5 + elen) {
		elen = (uint32_t)(unsigned char)body[off + 1] << 24 |
		    (uint32_t)(unsigned char)body[off + 2] << 16 |
		    (uint32_t)(unsigned char)body[off + 3] << 8 |
		    (unsigned char)body[off + 4];
		if (off + 5 + elen > blen)
			return -1;
		if (body[off] == 2 && elen == 2 &&
		    memcmp(body + off + 5, "{}", 2) == 0)
			ok_eos = 1;
		if (body[off] == 0 && memmem(body + off + 5, elen,
		    "\"end\":{\"exited\":true,\"status\":\"exit status 0\"}",
		    46) != NULL)
			ok_end = 1;
	}
	if (!ok_end || !ok_eos) {
		fprintf(stderr, "unexpected response (%zu bytes): %.*s\n", blen,
		    blen > 5 ? (int)blen - 5 : 0, body + 5);
		return -1;
	}
	return 0;
}

/* The Start request for json, with a Basic header for user (or none). */
static char *
start_request(const char *user, const char *json, size_t *lenp)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char auth[256] = "", cred[200], *req;
	size_t jlen = strlen(json), reqlen, i, n, k;
	unsigned int v;

	if (user != NULL) {
		n = (size_t)snprintf(cred, sizeof(cred), "%s:", user);
		k = (size_t)snprintf(auth, sizeof(auth), "Authorization: Basic ");
		for (i = 0; i < n; i += 3) {
			v = (unsigned char)cred[i] << 16;
			if (i + 1 < n)
				v |= (unsigned char)cred[i + 1] << 8;
			if (i + 2 < n)
				v |= (unsigned char)cred[i + 2];
			auth[k++] = b64[v >> 18 & 63];
			auth[k++] = b64[v >> 12 & 63];
			auth[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
			auth[k++] = i + 2 < n ? b64[v & 63] : '=';
		}
		auth[k] = '\0';
		strcat(auth, "\r\n");
	}
	req = malloc(jlen + 2048);
	reqlen = (size_t)snprintf(req, 2048, "POST /process.Process/Start "
	    "HTTP/1.1\r\nHost: bench\r\nContent-Type: application/connect+json"
	    "\r\nConnect-Protocol-Version: 1\r\nKeepalive-Ping-Interval: 50\r\n"
	    "%sContent-Length: %zu\r\n\r\n", auth, jlen + 5);
	req[reqlen++] = 0;
	req[reqlen++] = (char)(jlen >> 24);
	req[reqlen++] = (char)(jlen >> 16);
	req[reqlen++] = (char)(jlen >> 8);
	req[reqlen++] = (char)jlen;
	memcpy(req + reqlen, json, jlen);
	*lenp = reqlen + jlen;
	return req;
}

/* A keep-alive connection to u, or NULL. */
static struct conn *
start_dial(const struct url *u)
{
	struct conn *c;
	int one = 1;

	c = calloc(1, sizeof(*c));
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c->fd, (const struct sockaddr *)&u->sa, sizeof(u->sa)) != 0) {
		perror("connect");
		free(c);
		return NULL;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

static int
cmd_start(int argc, char **argv)
{
	const char *user = NULL, *out = NULL;
	struct url u;
	struct conn *c;
	double *ms, t0;
	size_t reqlen;
	char *req;
	int runs = 200, r;

	while (argc > 2 && argv[0][0] == '-') {
		if (strcmp(argv[0], "-n") == 0)
			runs = atoi(argv[1]);
		else if (strcmp(argv[0], "-u") == 0)
			user = argv[1];
		else if (strcmp(argv[0], "-o") == 0)
			out = argv[1];
		argv += 2;
		argc -= 2;
	}
	if (argc != 2 || runs < 1) {
		fprintf(stderr, "start [-n RUNS] [-u USER] [-o FILE] URL JSON\n");
		return 2;
	}
	parse_url(argv[0], &u);
	req = start_request(user, argv[1], &reqlen);
	if ((c = start_dial(&u)) == NULL)
		return 1;
	ms = calloc((size_t)runs, sizeof(*ms));
	for (r = -5; r < runs; r++) {	/* five warm-up runs */
		t0 = now_ms();
		if (start_once(c, req, reqlen) != 0) {
			fprintf(stderr, "Start call %d failed\n", r);
			return 1;
		}
		if (r >= 0)
			ms[r] = now_ms() - t0;
	}
	summary(ms, runs, out != NULL ? fopen(out, "a") : NULL);
	close(c->fd);
	free(c);
	free(req);
	free(ms);
	return 0;
}

/*
 * Floor and daemon side by side: each iteration runs one posix_spawn and
 * one Start (in alternating order), so both see the same machine load.
 * Runs as USER after the switch (the Start needs no privilege).
 */
static int
cmd_pair(int argc, char **argv)
{
	const char *user = NULL, *json;
	struct url u;
	struct conn *c;
	double *fl, *ev, *ratio, t0;
	size_t reqlen;
	char *req;
	pid_t pid;
	int runs = 200, r, st, devnull, k, side;

	while (argc > 2 && argv[0][0] == '-') {
		if (strcmp(argv[0], "-n") == 0)
			runs = atoi(argv[1]);
		else if (strcmp(argv[0], "-u") == 0)
			user = argv[1];
		argv += 2;
		argc -= 2;
	}
	if (argc < 4 || strcmp(argv[2], "--") != 0 || runs < 1) {
		fprintf(stderr, "pair [-n RUNS] [-u USER] URL JSON -- CMD...\n");
		return 2;
	}
	parse_url(argv[0], &u);
	json = argv[1];
	fflush(stdout);
	if ((pid = fork()) != 0) {
		if (pid < 0 || waitpid(pid, &st, 0) < 0)
			return 1;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
	if (user != NULL && become(user) != 0)
		_exit(1);
	req = start_request(user, json, &reqlen);
	if ((c = start_dial(&u)) == NULL)
		_exit(1);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fl = calloc((size_t)runs, sizeof(*fl));
	ev = calloc((size_t)runs, sizeof(*ev));
	ratio = calloc((size_t)runs, sizeof(*ratio));
	for (r = -5; r < runs; r++) {	/* five warm-up pairs */
		for (k = 0; k < 2; k++) {
			side = (k + (r & 1)) & 1;
			t0 = now_ms();
			if (side == 0) {
				st = spawn_once(argv + 3, devnull);
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
					fprintf(stderr, "%s exited with %#x\n",
					    argv[3], st);
					_exit(1);
				}
				if (r >= 0)
					fl[r] = now_ms() - t0;
			} else {
				if (start_once(c, req, reqlen) != 0) {
					fprintf(stderr, "Start call %d failed\n",
					    r);
					_exit(1);
				}
				if (r >= 0)
					ev[r] = now_ms() - t0;
			}
		}
		if (r >= 0)
			ratio[r] = ev[r] / fl[r];
	}
	printf("floor ");
	summary(fl, runs, NULL);
	printf("envd ");
	summary(ev, runs, NULL);
	qsort(ratio, (size_t)runs, sizeof(*ratio), cmp_double);
	printf("pair ratio median=%.3f\n", runs % 2 ? ratio[runs / 2] :
	    (ratio[runs / 2 - 1] + ratio[runs / 2]) / 2);
	fflush(stdout);
	_exit(0);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: benchtool "
		    "startup|serve|wait|get|put|rss|spawn|start|pair ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "startup") == 0)
		return cmd_startup(argc - 2, argv + 2);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "wait") == 0)
		return cmd_wait(argc - 2, argv + 2);
	if (strcmp(argv[1], "spawn") == 0)
		return cmd_spawn(argc - 2, argv + 2);
	if (strcmp(argv[1], "start") == 0)
		return cmd_start(argc - 2, argv + 2);
	if (strcmp(argv[1], "pair") == 0)
		return cmd_pair(argc - 2, argv + 2);
	if (strcmp(argv[1], "get") == 0)
		return cmd_get(argc - 2, argv + 2);
	if (strcmp(argv[1], "put") == 0)
		return cmd_put(argc - 2, argv + 2);
	if (strcmp(argv[1], "rss") == 0)
		return cmd_rss(argc - 2, argv + 2);
	fprintf(stderr, "unknown tool %s\n", argv[1]);
	return 2;
}
