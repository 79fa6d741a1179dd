/*
 * fwdtool.c - both ends of the port-forwarding benchmark (bench/run.sh,
 * section forward).
 *
 *   fwdtool serve ADDR PORT
 *	The service behind the forwarders: until killed, accept connections
 *	on ADDR:PORT (IPv4). A connection starting with "B" is read to its
 *	end and answered "ok\n"; one starting with "R" is answered "ok\n" at
 *	once. The server then closes (so TIME_WAIT stays on its side).
 *   fwdtool bulk [-c CONNS] [-b BYTES] [-t SECS] ADDR PORT
 *	CONNS connections at once (default 1), each sending "B" and its
 *	share of BYTES (default 1 GiB) from memory, shutting down writing
 *	and waiting for "ok". Prints "bytes=… secs=… MBps=…". Fails if a
 *	connection fails or SECS (default 120) pass.
 *   fwdtool rate [-c CONC] [-n COUNT] [-t SECS] ADDR PORT
 *	Short request/answer exchanges on fresh connections, CONC in flight
 *	(default 16), until COUNT (default 5000) are done or SECS (default
 *	20) pass: connect, send "R", read "ok\n" to the end, close. Prints
 *	"conns=… failed=… secs=… cps=…"; fails if none succeeded.
 *   fwdtool listen ADDR PORT N
 *	Listen on N consecutive ports from PORT on ADDR, print "listening
 *	N" and hold them until stdin reaches its end.
 *
 * Every loop is bounded in count and time; nothing here is measured by
 * the tool itself except what it prints.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define MAX_CONNS 256
#define MAX_LISTEN 4096

static struct sockaddr_in target;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fwdtool serve ADDR PORT | bulk [-c N] [-b BYTES] "
	    "[-t SECS] ADDR PORT | rate [-c N] [-n COUNT] [-t SECS] ADDR PORT "
	    "| listen ADDR PORT N\n");
	exit(2);
}

static void
set_addr(struct sockaddr_in *sa, const char *addr, const char *port)
{
	long p = strtol(port, NULL, 10);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1 || p <= 0 ||
	    p > 65535) {
		fprintf(stderr, "fwdtool: bad address %s:%s\n", addr, port);
		exit(2);
	}
	sa->sin_port = htons((uint16_t)p);
}

static int
listen_on(const struct sockaddr_in *sa, int backlog)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 ||
	    listen(fd, backlog) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* serve: one epoll loop; a connection's mode is its first byte. */
struct sconn {
	int fd;
	char mode; /* 0 until the first byte */
};

static void
sconn_end(int ep, struct sconn *c)
{
	static const char ok[] = "ok\n";

	(void)send(c->fd, ok, 3, MSG_NOSIGNAL);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static int
cmd_serve(int argc, char **argv)
{
	static char buf[CHUNK];
	struct epoll_event ev, evs[64];
	struct sockaddr_in sa;
	struct sconn *c;
	ssize_t n;
	int lfd, ep, i, k, fd;

	if (argc != 3)
		usage();
	set_addr(&sa, argv[1], argv[2]);
	if ((lfd = listen_on(&sa, 4096)) < 0) {
		perror("fwdtool serve: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		k = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < k; i++) {
			if (evs[i].data.ptr == NULL) {
				fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					continue;
				c = calloc(1, sizeof(*c));
				if (c == NULL)
					abort();
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				continue;
			}
			c = evs[i].data.ptr;
			n = read(c->fd, buf, sizeof(buf));
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n > 0 && c->mode == 0)
				c->mode = buf[0];
			if (n <= 0 || c->mode == 'R')
				sconn_end(ep, c);
		}
	}
}

static long long
parse_num(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || *end != '\0' || v < 0)
		usage();
	return v;
}

struct bulk_arg {
	long long bytes;
	int failed;
};

static void *
bulk_one(void *p)
{
	static const char zero[CHUNK];
	struct bulk_arg *a = p;
	long long left = a->bytes;
	char ans[8];
	ssize_t n;
	size_t got = 0;
	int fd;

	a->failed = 1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    connect(fd, (struct sockaddr *)&target, sizeof(target)) != 0 ||
	    send(fd, "B", 1, MSG_NOSIGNAL) != 1)
		goto out;
	while (left > 0) {
		n = send(fd, zero, left < CHUNK ? (size_t)left : CHUNK,
		    MSG_NOSIGNAL);
		if (n <= 0)
			goto out;
		left -= n;
	}
	shutdown(fd, SHUT_WR);
	while (got < 3 && (n = read(fd, ans + got, 3 - got)) > 0)
		got += (size_t)n;
	a->failed = got != 3 || memcmp(ans, "ok\n", 3) != 0;
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int
cmd_bulk(int argc, char **argv)
{
	struct bulk_arg args[MAX_CONNS];
	pthread_t th[MAX_CONNS];
	long long bytes = 1LL << 30;
	int conns = 1, secs = 120, i, o, bad = 0;
	double t0, t;

	while ((o = getopt(argc, argv, "c:b:t:")) != -1) {
		switch (o) {
		case 'c':
			conns = (int)parse_num(optarg);
			break;
		case 'b':
			bytes = parse_num(optarg);
			break;
		case 't':
			secs = (int)parse_num(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || conns < 1 || conns > MAX_CONNS || secs < 1)
		usage();
	set_addr(&target, argv[optind], argv[optind + 1]);
	alarm((unsigned int)secs); /* the default action ends the run */
	t0 = now_s();
	for (i = 0; i < conns; i++) {
		args[i].bytes = bytes / conns + (i == 0 ? bytes % conns : 0);
		if (pthread_create(&th[i], NULL, bulk_one, &args[i]) != 0)
			return 1;
	}
	for (i = 0; i < conns; i++) {
		pthread_join(th[i], NULL);
		bad += args[i].failed;
	}
	t = now_s() - t0;
	printf("bytes=%lld conns=%d failed=%d secs=%.3f MBps=%.1f\n", bytes,
	    conns, bad, t, (double)bytes / t / 1e6);
	return bad != 0;
}

/* rate: CONC non-blocking exchanges on one epoll. */
struct rconn {
	int fd;
	int sent;   /* "R" went out */
	size_t got; /* answer bytes */
};

static int
rconn_open(int ep, struct rconn *c)
{
	struct epoll_event ev;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&target, sizeof(target)) != 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static int
cmd_rate(int argc, char **argv)
{
	static struct rconn cs[MAX_CONNS];
	struct epoll_event ev, evs[MAX_CONNS];
	struct rconn *c;
	long long count = 5000, started = 0, done = 0, failed = 0;
	int conc = 16, secs = 20, ep, i, k, o, err;
	socklen_t len;
	double t0, t;
	char buf[64];
	ssize_t n;

	while ((o = getopt(argc, argv, "c:n:t:")) != -1) {
		switch (o) {
		case 'c':
			conc = (int)parse_num(optarg);
			break;
		case 'n':
			count = parse_num(optarg);
			break;
		case 't':
			secs = (int)parse_num(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || conc < 1 || conc > MAX_CONNS || secs < 1)
		usage();
	set_addr(&target, argv[optind], argv[optind + 1]);
	ep = epoll_create1(EPOLL_CLOEXEC);
	t0 = now_s();
	for (i = 0; i < conc && started < count; i++, started++) {
		if (rconn_open(ep, &cs[i]) != 0)
			failed++;
	}
	while (done + failed < started) {
		t = now_s() - t0;
		if (t > secs)
			break;
		k = epoll_wait(ep, evs, MAX_CONNS, 1000);
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			err = 0;
			if (!c->sent) {
				len = sizeof(err);
				getsockopt(
				    c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err == 0 &&
				    send(c->fd, "R", 1, MSG_NOSIGNAL) == 1) {
					c->sent = 1;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(
					    ep, EPOLL_CTL_MOD, c->fd, &ev);
					continue;
				}
				err = 1;
			} else {
				n = read(c->fd, buf, sizeof(buf));
				if (n < 0 && errno == EAGAIN)
					continue;
				if (n > 0) {
					c->got += (size_t)n;
					continue;
				}
				err = n < 0 || c->got != 3;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			if (err)
				failed++;
			else
				done++;
			if (started < count && now_s() - t0 <= secs) {
				started++;
				if (rconn_open(ep, c) != 0)
					failed++;
			}
		}
	}
	t = now_s() - t0;
	printf("conns=%lld failed=%lld secs=%.3f cps=%.0f\n", done,
	    failed + (started - done - failed), t, (double)done / t);
	return done == 0;
}

static int
cmd_listen(int argc, char **argv)
{
	struct sockaddr_in sa;
	char c;
	long n, i, base;

	if (argc != 4)
		usage();
	set_addr(&sa, argv[1], argv[2]);
	base = ntohs(sa.sin_port);
	n = (long)parse_num(argv[3]);
	if (n < 1 || n > MAX_LISTEN || base + n > 65536)
		usage();
	for (i = 0; i < n; i++) {
		sa.sin_port = htons((uint16_t)(base + i));
		if (listen_on(&sa, 16) < 0) {
			fprintf(stderr, "fwdtool listen: port %ld: %s\n",
			    base + i, strerror(errno));
			return 1;
		}
	}
	printf("listening %ld\n", n);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "bulk") == 0)
		return cmd_bulk(argc - 1, argv + 1);
	if (strcmp(argv[1], "rate") == 0)
		return cmd_rate(argc - 1, argv + 1);
	if (strcmp(argv[1], "listen") == 0)
		return cmd_listen(argc - 1, argv + 1);
	usage();
	return 2;
}
