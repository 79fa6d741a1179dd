/*
 * httpd.c - libmicrohttpd in external epoll mode, driven by the libuv loop.
 *
 * Each MHD daemon's epoll fd is watched by a uv_poll_t and their timeouts by
 * one uv_timer_t; every wake-up runs MHD_run() (a few rounds while MHD has
 * more to do at once) and re-arms the timer. Nothing blocks and nothing
 * polls: an idle daemon sleeps in epoll_wait.
 *
 * Deferred answers and streams park their connection with
 * MHD_suspend_connection(). MHD does not watch a parked socket, so httpd
 * watches it for a hang-up itself (UV_DISCONNECT) and ends the request when
 * the client goes away. Resuming wakes MHD through its internal eventfd,
 * which makes the epoll fd readable, so the loop runs MHD again.
 *
 * Connections are accepted here rather than by MHD, so that each can be
 * given to the daemon that suits its first request. MHD reads a request
 * body in pieces of about half its per-connection memory pool, and zeroes
 * the whole pool between requests on a keep-alive connection, so one pool
 * size cannot serve both small requests and bulk uploads well. The main
 * daemon keeps small pools; a connection whose first bytes are
 * "POST /files" (an upload) goes to a bulk daemon with large pools, which
 * reads up to half a MiB per recv() (at most HTTPD_BULK_CONNS at a time,
 * so that memory stays bounded). The listener uses TCP_DEFER_ACCEPT, so
 * the request line is normally there to peek at when accept() returns; a
 * connection that shows nothing yet goes to the main daemon. A connection
 * stays with its daemon, so a bulk one is closed after its request
 * ("Connection: close"): kept alive for the client's next calls, each of
 * them would zero its MiB, which stays resident until it closes (32 such
 * connections held 32 MiB).
 *
 * This file knows HTTP only: no routes, no auth, no protocol bodies.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uv.h>

#include "buf.h"
#include "cors.h"
#include "fdres.h"
#include "gojson.h"
#include "httpd.h"
#include "log.h"
#include "memtrim.h"
#include "users.h"
#include "xalloc.h"

/*
 * Connections are limited by descriptors, not by a fixed count: half the
 * soft RLIMIT_NOFILE (main() raises it to the hard one) goes to
 * connections, the other half, and at least HTTPD_FD_RESERVE while that
 * leaves connections a quarter, to the files, pipes and watches their
 * requests open (a process start holds several at once; 64 busy clients
 * were seen holding 200 pipes), so that busy clients still find
 * descriptors when idle connections take their whole share. The limit is read again on each accept, so a limit
 * lowered under the running daemon lowers the share at once. Once
 * HTTPD_SHED_MARGIN of it is left, the idle connections (between
 * requests, or still sending their headers) are closed oldest first, so
 * that a new client (the orchestrator's /health) always gets in.
 */
#define HTTPD_FD_RESERVE 384
#define HTTPD_CONN_MIN 16
#define HTTPD_SHED_MARGIN 8
/*
 * The share is a count of connections; what requests and processes hold
 * is not counted. accept() returns the lowest free descriptor, so one at
 * or above the soft limit less HTTPD_FD_LOW (an eighth of the limit when
 * that is less) says that at most that many are left however they are
 * held: each such accept sheds idle connections too (httpd_fd_shed()), and
 * busy clients' process starts and files find descriptors.
 */
#define HTTPD_FD_LOW 64
/* Shed for a process start that found no descriptor (httpd_fd_shed()). */
#define HTTPD_SHED_FOR_FDS 4
#define HTTPD_SHED_IDLE_MS 500
/* What httpd_emfile() did. */
#define HTTPD_EMFILE_SHED 1
#define HTTPD_EMFILE_ONE 2
/*
 * Per-connection memory pool: request headers and the read buffer live in
 * it, so it bounds header size and the size of each body read. libmicrohttpd
 * 0.9.75 zeroes the whole pool between requests on a keep-alive connection,
 * so every KiB here costs time on every request: 256 KiB halves /health
 * throughput compared with 64 KiB, and 16 KiB takes 5% less CPU per Stat
 * RPC than 32 KiB (wrk, 64 connections). 16 KiB still takes a request with
 * 14 KB of headers (nginx's default limit is 8 KiB a line); more gets 431.
 */
#define HTTPD_CONN_MEMORY (16 * 1024)
/*
 * Pool of connections that open with an upload: reads of 512 KiB. Its
 * pages are resident only while such a connection lives (MHD maps pools).
 */
#define HTTPD_BULK_CONN_MEMORY (1024 * 1024)
/* Upload connections beyond this many go to the main daemon. */
#define HTTPD_BULK_CONNS 32
#define HTTPD_BULK_PREFIX "POST /files"
/*
 * The listen backlog: net.core.somaxconn, as Go's listeners take it (the
 * kernel caps a larger one there anyway), HTTPD_BACKLOG where it cannot be
 * read. A flood of connects that overflows the accept queue makes the
 * kernel drop SYNs, and a dropped SYN costs its client a second.
 */
#define HTTPD_BACKLOG 1024
#define HTTPD_BACKLOG_MAX 65535
#define HTTPD_DEFER_ACCEPT 1		/* seconds */
/*
 * Connections accepted per wake-up at most (the listener stays readable, so
 * the loop comes back for the rest after its other work). At the
 * connection limit each accept sheds the oldest idle connection, which MHD
 * closes on its next run; MHD runs after every HTTPD_ACCEPT_RUN accepts,
 * so that it reads the new connections and closes the shed ones, and its
 * own limit leaves room for that many shed ones not closed yet. Were a
 * whole backlog taken before MHD ran, shedding would close the first of
 * them before their requests were read, or MHD would refuse the last
 * (their clients see a reset either way).
 */
#define HTTPD_ACCEPT_BATCH HTTPD_BACKLOG
#define HTTPD_ACCEPT_RUN 32
#define HTTPD_ACCEPT_BACKOFF 100	/* ms without accept() after EMFILE */
#define HTTPD_EMFILE_EPISODE 60000	/* ms: EMFILEs closer are one episode */
/* ms: requests abandoned before their headers end, one line at most */
#define HTTPD_ABANDON_EPISODE 60000
#define HTTPD_IDLE_TIMEOUT 640		/* seconds, as upstream */
/*
 * Seconds of silence allowed while a request's line and headers come in
 * (and before a new connection's first byte), like Go's ReadHeaderTimeout
 * but reset by each byte (MHD's timeouts count inactivity). The idle
 * timeout applies between requests and while a body comes in.
 */
#define HTTPD_HEADER_TIMEOUT 30
#define HTTPD_STREAM_MAX (64 * 1024 * 1024)
#define HTTPD_MAX_EXTRA_HEADERS 24
#define HTTPD_ERROR_MAX (1024 * 1024)	/* REST error body */
#define HTTPD_RUN_BURST 16		/* MHD_run rounds per loop wake-up */
/*
 * MHD sends a file answer with TCP_CORK set until its last chunk. Its
 * sendfile() calls carry 128 KiB each, so the cork batches nothing, and a
 * corked socket costs about 40% more CPU per byte on loopback (measured
 * beside an uncorked sender and nginx). Answers of at least this size are
 * uncorked once MHD has corked them; MHD's own uncork at the end is then
 * a no-op.
 */
#define HTTPD_UNCORK_MIN (1024 * 1024)
/*
 * An answer buffer of at least this size asks for a heap trim once it is
 * freed (memtrim_soon()): after the first such free, glibc serves buffers
 * up to 32 MiB from the heap instead of mapping them, and a keep-alive
 * connection would otherwise leave the pages resident.
 */
#define HTTPD_TRIM_ANSWER_MIN (1024 * 1024)

struct req_watch {
	uv_poll_t poll;		/* UV_DISCONNECT on the parked socket */
	struct req *r;		/* back-pointer; NULL once the req is freed */
};

/*
 * One per connection MHD has taken, from MHD's STARTED notice to its
 * CLOSED one (the handle is freed in its close callback). While the
 * connection has no request past its headers, its socket is watched for
 * the peer's hang-up: MHD reads in edge-triggered mode and a request's
 * bytes and the FIN often arrive in one go, so MHD would not see the EOF
 * until a timeout. The same holds while a request's body comes in
 * (conn.body): a client that hangs up in the middle of its body would
 * otherwise keep the request, its socket and whatever the handler holds
 * (an upload's temporary file) until the idle timeout. Parked requests
 * watch their socket through req_watch instead; no two are active at once.
 * The watch is not stopped when a request comes in, only when it fires
 * while there is nothing to watch for (or a request is parked): starting
 * and stopping it per request cost five epoll_ctl() calls a request on a
 * keep-alive connection.
 */
struct conn {
	TAILQ_ENTRY(conn) entry;	/* in httpd.idle, when idle */
	struct httpd *h;
	struct MHD_Connection *mc;
	uv_poll_t poll;			/* UV_DISCONNECT while idle */
	int fd;
	int polling;			/* poll is started (lazily stopped) */
	int idle;			/* no request past its headers */
	int shed;			/* shut down by us; MHD closes it */
	int bulk;			/* taken by the bulk daemon */
	uint64_t idle_since;		/* uv_now() when it became idle */
	struct req *body;		/* request whose body is coming in */
};

TAILQ_HEAD(conn_list, conn);

struct req_reader {
	struct req *r;		/* NULL once the req is freed */
	req_reader_cb cb;
	void *arg;
	void (*free_fn)(void *);
};

struct req_header {
	const char *name;
	const char *value;
	int owned;		/* name and value are ours to free */
};

enum req_state {
	REQ_NEW,		/* URI seen, headers not yet handled */
	REQ_BODY,		/* dispatched; taking the body */
	REQ_ENDED,		/* end() ran or an answer exists */
};

struct req {
	LIST_ENTRY(req) entry;		/* in httpd.reqs */
	LIST_ENTRY(req) uncork_entry;	/* in httpd.uncork, when uncork */
	struct httpd *h;
	struct MHD_Connection *conn;
	uint64_t id;
	uint64_t t0;			/* uv_hrtime() at the request line */
	enum req_state state;

	char *uri;			/* raw request target, owned */
	const char *query;		/* into uri after '?', or NULL */
	char *method;			/* owned copy */
	char *path;			/* decoded path, owned copy */

	const struct req_handler *handler;
	void *data;			/* the handler's state */
	struct user *user;		/* owned */

	enum req_body_mode body_mode;
	size_t body_max;
	struct buf body;
	int overflow;

	unsigned int in_handler;	/* inside MHD's access callback */
	int responded;			/* an answer was produced */
	int deferred;			/* req_defer() called */
	int suspended;			/* connection parked in MHD */
	int gone;			/* client vanished or daemon stopping */
	int peer_eof;			/* end of stream seen while paused */
	unsigned int status;
	struct MHD_Response *pending;	/* answer produced while parked */

	struct req_header headers[HTTPD_MAX_EXTRA_HEADERS];
	int nheaders;

	int body_wait;			/* a body follows: answer after it */
	int body_paused;		/* req_body_pause() in force */
	size_t body_keep;		/* req_body_keep() of the current chunk */
	int uncork;			/* file answer: undo MHD's TCP_CORK */
	int preflight;			/* answer is a CORS preflight */
	int streaming;			/* answer is a stream */
	int stream_ended;		/* req_stream_end() called */
	struct buf out;			/* stream bytes not yet sent */
	size_t drain_low;
	req_drain_cb drain_cb;
	void *drain_arg;
	struct req_reader *reader;	/* req_respond_reader() state */
	struct req_watch *watch;
};

LIST_HEAD(req_list, req);

struct httpd {
	uv_loop_t *loop;
	struct MHD_Daemon *mhd;		/* small pools: most connections */
	struct MHD_Daemon *bulk;	/* large pools: upload connections */
	int listen_fd;			/* ours; -1 once closed */
	uv_poll_t listen_poll;		/* the listening socket */
	uv_timer_t accept_timer;	/* accepting again after EMFILE */
	uv_poll_t poll;			/* main daemon's epoll fd */
	uv_poll_t bulk_poll;		/* bulk daemon's epoll fd */
	uv_timer_t timer;		/* the sooner of the MHD timeouts */
	int handles_open;
	httpd_dispatch_cb dispatch;
	struct req_list reqs;
	unsigned int nreqs;
	uint64_t next_id;
	int closing;
	int in_run;			/* inside MHD_run() */
	struct req_list uncork;		/* requests with uncork set */
	int kick;			/* run MHD again soon */
	struct conn_list idle;		/* idle connections, oldest first */
	unsigned int nconns;		/* connections MHD holds, unshed */
	unsigned int nidle;		/* in idle */
	unsigned int conn_limit;	/* shed idle ones from here on */
	unsigned int conn_max;		/* MHD's limit: conn_limit at start */
	rlim_t nofile;			/* soft RLIMIT_NOFILE last read */
	uint64_t emfile_at;		/* uv_now() of the last EMFILE */
	unsigned int emfile_quiet;	/* EMFILEs not logged */
	uint64_t abandon_at;		/* uv_now() of the last such line */
	unsigned int abandoned;		/* requests not logged since then */
	void (*shutdown_cb)(struct httpd *, void *);
	void *shutdown_arg;
	struct req_fixed *fixed;	/* fixed answers built: structs the
					 * handlers', responses ours */
};

static void httpd_run(struct httpd *);
static void httpd_notify(void *, struct MHD_Connection *, void **,
    enum MHD_ConnectionNotificationCode);
static unsigned int httpd_shed(struct httpd *, unsigned int);
static int httpd_emfile(struct httpd *, int);
static void httpd_accept_pause(struct httpd *);
static int httpd_fd_short(const struct httpd *, int);
static void httpd_fd_shed(void *);
static void httpd_budget(struct httpd *);
static void httpd_abandoned(struct httpd *);
static struct conn *conn_of(struct MHD_Connection *);
static void conn_set_idle(struct conn *, int);
static void conn_shed(struct conn *);
static void conn_poll_cb(uv_poll_t *, int, int);
static void conn_watch_body(struct conn *, struct req *);
static void conn_unwatch(struct conn *);
static void conn_body_hangup(struct conn *);
static void conn_closed(uv_handle_t *);
static int httpd_bind(int, const struct sockaddr *, socklen_t);
static int httpd_listen(int, int *);
static void httpd_accept_cb(uv_poll_t *, int, int);
static void httpd_accept_resume(uv_timer_t *);
static void httpd_run_daemon(struct httpd *, struct MHD_Daemon *);
static void httpd_uncork(struct httpd *);
static void httpd_poll_cb(uv_poll_t *, int, int);
static void httpd_timer_cb(uv_timer_t *);
static void httpd_handle_closed(uv_handle_t *);
static void *httpd_uri_cb(void *, const char *, struct MHD_Connection *);
static enum MHD_Result httpd_access(void *, struct MHD_Connection *,
    const char *, const char *, const char *, const char *, size_t *, void **);
static void httpd_completed(void *, struct MHD_Connection *, void **,
    enum MHD_RequestTerminationCode);
static void httpd_mhd_log(void *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));
static int req_answer(struct req *, struct MHD_Response *, unsigned int);
static void req_decorate(struct req *, struct MHD_Response *);
static void req_call_end(struct req *);
static int req_body_follows(struct req *);
static int req_has_body(struct req *);
static int req_framing_bad(struct req *);
static ssize_t req_eof_read(void *, uint64_t, char *, size_t);
static void req_park(struct req *);
static void req_unpark(struct req *);
static void req_free(struct req *);
static void req_buf_free_trim(void *);
static ssize_t req_stream_read(void *, uint64_t, char *, size_t);
static ssize_t req_reader_read(void *, uint64_t, char *, size_t);
static void req_reader_free(void *);
static void req_watch_cb(uv_poll_t *, int, int);
static void req_watch_closed(uv_handle_t *);

/* Build a daemon without a listening socket and with pool bytes of
 * memory per connection, or NULL. */
static struct MHD_Daemon *
httpd_start_mhd(struct httpd *h, size_t pool)
{
	return MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL,
	    httpd_access, h,
	    MHD_OPTION_EXTERNAL_LOGGER, httpd_mhd_log, h,
	    MHD_OPTION_URI_LOG_CALLBACK, httpd_uri_cb, h,
	    MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, httpd_notify, h,
	    MHD_OPTION_CONNECTION_LIMIT,
	    h->conn_max + HTTPD_ACCEPT_RUN + HTTPD_SHED_MARGIN,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
	    MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)4096,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTPD_HEADER_TIMEOUT,
	    /* main() ignores SIGPIPE; MHD only uses sendfile when told. */
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1,
	    MHD_OPTION_END);
}

/* The listen backlog (see HTTPD_BACKLOG). */
static int
httpd_backlog(void)
{
	FILE *f;
	int n = 0;

	if ((f = fopen("/proc/sys/net/core/somaxconn", "re")) != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	if (n <= 0)
		return HTTPD_BACKLOG;
	return n > HTTPD_BACKLOG_MAX ? HTTPD_BACKLOG_MAX : n;
}

/* Bind s to sa and listen. Returns 0, or -errno with s closed. */
static int
httpd_bind(int s, const struct sockaddr *sa, socklen_t len)
{
	int one = 1, defer = HTTPD_DEFER_ACCEPT, err;

	(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, sa, len) != 0 || listen(s, httpd_backlog()) != 0) {
		err = errno;
		close(s);
		return -err;
	}
	(void)setsockopt(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer,
	    sizeof(defer));
	return 0;
}

/*
 * Listen on port: one IPv6 socket that takes IPv4 too, or IPv4 alone when
 * that fails. Returns 0 and sets *fd, or -errno.
 */
static int
httpd_listen(int port, int *fd)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	int s, zero = 0, r;

	*fd = -1;
	s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)port);
		sin6.sin6_addr = in6addr_any;
		(void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
		    sizeof(zero));
		if (httpd_bind(s, (struct sockaddr *)&sin6,
		    sizeof(sin6)) == 0) {
			*fd = s;
			return 0;
		}
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	if ((r = httpd_bind(s, (struct sockaddr *)&sin, sizeof(sin))) != 0)
		return r;
	*fd = s;
	return 0;
}

struct httpd *
httpd_new(uv_loop_t *loop, int port, httpd_dispatch_cb dispatch,
    char **errmsg)
{
	const union MHD_DaemonInfo *info, *binfo;
	struct httpd *h;
	int r;

	*errmsg = NULL;
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->dispatch = dispatch;
	h->next_id = 1;
	LIST_INIT(&h->reqs);
	LIST_INIT(&h->uncork);
	TAILQ_INIT(&h->idle);
	httpd_budget(h);
	h->conn_max = h->conn_limit;
	fdres_fill();

	if ((r = httpd_listen(port, &h->listen_fd)) != 0) {
		*errmsg = xasprintf("cannot listen on port %d: %s", port,
		    strerror(-r));
		free(h);
		return NULL;
	}
	h->mhd = httpd_start_mhd(h, HTTPD_CONN_MEMORY);
	h->bulk = httpd_start_mhd(h, HTTPD_BULK_CONN_MEMORY);
	info = h->mhd != NULL ? MHD_get_daemon_info(h->mhd,
	    MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	binfo = h->bulk != NULL ? MHD_get_daemon_info(h->bulk,
	    MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (info == NULL || binfo == NULL) {
		*errmsg = xstrdup("cannot start libmicrohttpd in epoll mode");
		if (h->mhd != NULL)
			MHD_stop_daemon(h->mhd);
		if (h->bulk != NULL)
			MHD_stop_daemon(h->bulk);
		close(h->listen_fd);
		free(h);
		return NULL;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	uv_timer_init(loop, &h->accept_timer);
	h->accept_timer.data = h;
	if ((r = uv_poll_init(loop, &h->poll, info->epoll_fd)) != 0 ||
	    (r = uv_poll_init(loop, &h->bulk_poll, binfo->epoll_fd)) != 0 ||
	    (r = uv_poll_init(loop, &h->listen_poll, h->listen_fd)) != 0)
		fatal("uv_poll_init: %s", uv_strerror(r));
	h->poll.data = h;
	h->bulk_poll.data = h;
	h->listen_poll.data = h;
	h->handles_open = 5;
	uv_poll_start(&h->poll, UV_READABLE, httpd_poll_cb);
	uv_poll_start(&h->bulk_poll, UV_READABLE, httpd_poll_cb);
	uv_poll_start(&h->listen_poll, UV_READABLE, httpd_accept_cb);
	fdres_on_short(httpd_fd_shed, h);
	httpd_run(h);
	return h;
}

/* Accept up to HTTPD_ACCEPT_BATCH pending connections and hand each to
 * its daemon. */
static void
httpd_accept_cb(uv_poll_t *p, int status, int events)
{
	struct httpd *h = p->data;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	char peek[sizeof(HTTPD_BULK_PREFIX) + 1];
	socklen_t len;
	ssize_t n;
	int fd, added = 0, i, err, last = 0;

	httpd_budget(h);
	if (h->nconns + HTTPD_SHED_MARGIN > h->conn_limit &&
	    httpd_shed(h, h->nconns + HTTPD_SHED_MARGIN - h->conn_limit) > 0)
		httpd_run(h);
	for (i = 0; i < HTTPD_ACCEPT_BATCH && !h->closing; i++) {
		if (added == HTTPD_ACCEPT_RUN) {
			httpd_run(h);
			added = 0;
		}
		if (h->nconns + HTTPD_SHED_MARGIN >= h->conn_limit) {
			/* Only this round's connections are idle: let MHD
			 * read them before any is shed. */
			if (added > 0 && h->nidle <= (unsigned int)added) {
				httpd_run(h);
				added = 0;
			}
			httpd_shed(h, 1);
		}
		len = sizeof(ss);
		fd = accept4(h->listen_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			err = errno;
			if (err == EMFILE || err == ENFILE) {
				if (added > 0) {
					/* Read them before any is shed. */
					httpd_run(h);
					added = 0;
				}
				if ((last = httpd_emfile(h, err)) != 0)
					continue;
				break;
			}
			/* Out of memory: the listener would stay readable,
			 * so stop looking for a while. */
			log_warn("accept: %s", strerror(err));
			httpd_accept_pause(h);
			break;
		}
		if (httpd_fd_short(h, fd))
			httpd_fd_shed(h);
		n = recv(fd, peek, sizeof(peek) - 1, MSG_PEEK | MSG_DONTWAIT);
		d = h->mhd;
		if (n > 0 && httpd_peek_is_bulk(peek, (size_t)n) &&
		    (info = MHD_get_daemon_info(h->bulk,
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS)) != NULL &&
		    info->num_connections < HTTPD_BULK_CONNS)
			d = h->bulk;
		/* MHD owns fd from here, also when it refuses it. */
		if (MHD_add_connection(d, fd, (struct sockaddr *)&ss, len) !=
		    MHD_YES)
			log_debug("connection refused: %s", strerror(errno));
		added++;
		if (last == HTTPD_EMFILE_ONE) {
			/* Taken in with the reserve: the rest of it stays for
			 * process starts and files, the backlog waits. */
			httpd_accept_pause(h);
			break;
		}
		last = 0;
	}
	if (added)
		httpd_run(h);
	fdres_fill();
}

int
httpd_peek_is_bulk(const char *peek, size_t n)
{
	size_t k = sizeof(HTTPD_BULK_PREFIX) - 1;

	/* "POST /files" then ' ' or '?': not /files/compose, not
	 * /filesystem.Filesystem/... */
	return n > k && memcmp(peek, HTTPD_BULK_PREFIX, k) == 0 &&
	    (peek[k] == ' ' || peek[k] == '?');
}

unsigned int
httpd_active(const struct httpd *h)
{
	return h->nreqs;
}

/* Stop accepting for HTTPD_ACCEPT_BACKOFF. */
static void
httpd_accept_pause(struct httpd *h)
{
	uv_poll_stop(&h->listen_poll);
	uv_timer_start(&h->accept_timer, httpd_accept_resume,
	    HTTPD_ACCEPT_BACKOFF, 0);
}

/*
 * accept() failed with err, EMFILE or ENFILE. Shed idle connections so
 * that the next one fits and return HTTPD_EMFILE_SHED: accept again now.
 * With none to shed, close the reserve (fdres.h) and return
 * HTTPD_EMFILE_ONE: accept one connection with it, then pause (the accept
 * round refills what is left). With neither, return 0 with accepting
 * paused. Logged once per episode.
 */
static int
httpd_emfile(struct httpd *h, int err)
{
	uint64_t now = uv_now(h->loop);

	if (h->emfile_at == 0 || now - h->emfile_at >= HTTPD_EMFILE_EPISODE) {
		log_warn("accept: %s with %u connections open; closing idle "
		    "ones (%u more times since the last such line)",
		    strerror(err), h->nconns, h->emfile_quiet);
		h->emfile_quiet = 0;
	} else {
		h->emfile_quiet++;
	}
	h->emfile_at = now;
	if (httpd_shed(h, HTTPD_SHED_MARGIN) > 0) {
		/* MHD closes them now: the next accept() can succeed. */
		httpd_run(h);
		return HTTPD_EMFILE_SHED;
	}
	if (fdres_release() > 0)
		return HTTPD_EMFILE_ONE;
	httpd_accept_pause(h);
	return 0;
}

/* Whether a descriptor just accepted says that few are left. */
static int
httpd_fd_short(const struct httpd *h, int fd)
{
	rlim_t low = h->nofile / 8 < HTTPD_FD_LOW ? h->nofile / 8 :
	    HTTPD_FD_LOW;

	return h->nofile != RLIM_INFINITY && (rlim_t)fd + low >= h->nofile;
}

/*
 * Few descriptors left (fdres_short(): a process start found none, or an
 * accept found the lowest free one high). Shed up to
 * HTTPD_SHED_FOR_FDS idle connections, oldest first, of those idle for
 * HTTPD_SHED_IDLE_MS at least: not the ones just accepted, whose requests
 * MHD has not read yet (a burst of starts would shed each other). MHD
 * closes them when it runs next, which the shut-down sockets make it do
 * on the loop's next round.
 */
static void
httpd_fd_shed(void *arg)
{
	struct httpd *h = arg;
	struct conn *c;
	uint64_t now = uv_now(h->loop);
	unsigned int n;

	for (n = 0; n < HTTPD_SHED_FOR_FDS &&
	    (c = TAILQ_FIRST(&h->idle)) != NULL &&
	    now - c->idle_since >= HTTPD_SHED_IDLE_MS; n++)
		conn_shed(c);
}

/*
 * Set conn_limit from the soft RLIMIT_NOFILE: half of it, or all but
 * HTTPD_FD_RESERVE if less (a quarter at least), at least
 * HTTPD_CONN_MIN, at most what MHD was started with. A change after the
 * start (prlimit on the running daemon) is logged once.
 */
static void
httpd_budget(struct httpd *h)
{
	struct rlimit rl = { 0, 0 };
	rlim_t lim;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == h->nofile)
		return;
	lim = rl.rlim_cur / 2;
	if (rl.rlim_cur > HTTPD_FD_RESERVE &&
	    rl.rlim_cur - HTTPD_FD_RESERVE < lim)
		lim = rl.rlim_cur - HTTPD_FD_RESERVE > rl.rlim_cur / 4 ?
		    rl.rlim_cur - HTTPD_FD_RESERVE : rl.rlim_cur / 4;
	if (lim < HTTPD_CONN_MIN)
		lim = HTTPD_CONN_MIN;
	if (lim > INT_MAX)
		lim = INT_MAX;
	if (h->conn_max != 0 && lim > h->conn_max)
		lim = h->conn_max;
	if (h->nofile != 0)
		log_info("descriptor limit now %llu: at most %llu connections",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)lim);
	h->nofile = rl.rlim_cur;
	h->conn_limit = (unsigned int)lim;
	fdres_limit(rl.rlim_cur == RLIM_INFINITY ? ULONG_MAX :
	    (unsigned long)rl.rlim_cur);
}

/*
 * Close up to n idle connections, oldest first, and return how many. The
 * socket is shut down under MHD, whose next read sees the end and closes
 * the connection.
 */
static unsigned int
httpd_shed(struct httpd *h, unsigned int n)
{
	struct conn *c;
	unsigned int done = 0;

	for (; done < n && (c = TAILQ_FIRST(&h->idle)) != NULL; done++)
		conn_shed(c);
	return done;
}

/* Shut an idle connection down under MHD; it stops counting at once. */
static void
conn_shed(struct conn *c)
{
	conn_set_idle(c, 0);
	conn_unwatch(c);
	(void)shutdown(c->fd, SHUT_RDWR);
	c->shed = 1;
	c->h->nconns--;
}

/* MHD took a connection or is about to close one. */
static void
httpd_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct httpd *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;
		c = xcalloc(1, sizeof(*c));
		c->h = h;
		c->mc = mc;
		c->fd = ci->connect_fd;
		if (uv_poll_init_socket(h->loop, &c->poll, c->fd) != 0) {
			free(c);
			return;
		}
		c->poll.data = c;
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_DAEMON);
		c->bulk = ci != NULL && ci->daemon == h->bulk;
		*socket_context = c;
		h->nconns++;
		conn_set_idle(c, 1);
		return;
	}
	if (c == NULL)
		return;
	*socket_context = NULL;
	conn_set_idle(c, 0);
	conn_watch_body(c, NULL);
	if (!c->shed)
		h->nconns--;
	c->mc = NULL;
	uv_close((uv_handle_t *)&c->poll, conn_closed);
	memtrim_soon();
}

/* The connection of a request, or NULL. */
static struct conn *
conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/*
 * Mark a connection idle (no request past its headers: watch for the
 * peer's hang-up, sheddable) or busy. A shed connection stays busy.
 */
static void
conn_set_idle(struct conn *c, int idle)
{
	if (c == NULL || c->shed || c->idle == idle)
		return;
	c->idle = idle;
	if (idle) {
		c->idle_since = uv_now(c->h->loop);
		TAILQ_INSERT_TAIL(&c->h->idle, c, entry);
		c->h->nidle++;
		if (!c->polling && uv_poll_start(&c->poll, UV_DISCONNECT,
		    conn_poll_cb) == 0)
			c->polling = 1;
		return;
	}
	/* Busy: the watch stays until it fires (see struct conn). */
	TAILQ_REMOVE(&c->h->idle, c, entry);
	c->h->nidle--;
}

/* Stop watching c's socket. */
static void
conn_unwatch(struct conn *c)
{
	if (c != NULL && c->polling) {
		uv_poll_stop(&c->poll);
		c->polling = 0;
	}
}

/*
 * The peer hung up (or the socket failed). While a body comes in, see
 * conn_body_hangup(). With a request being answered there is nothing to
 * do: stop watching (the watch starts again once the connection is idle,
 * and fires at once if the peer is gone). On an idle connection, bytes
 * the peer sent before that and MHD has not read yet may make a whole
 * request: let MHD read them first. What is left is a partial request or
 * none, so shut the socket down under MHD, which then closes the
 * connection.
 */
static void
conn_poll_cb(uv_poll_t *p, int status, int events)
{
	struct conn *c = p->data;
	struct httpd *h = c->h;
	int unread = 0;

	if (status == 0 && !(events & UV_DISCONNECT))
		return;
	if (!c->idle) {
		if (c->body != NULL && !c->body->suspended)
			conn_body_hangup(c);
		else
			conn_unwatch(c);
		return;
	}
	if (ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0) {
		httpd_run(h);
		if (!c->idle || (ioctl(c->fd, FIONREAD, &unread) == 0 &&
		    unread > 0)) {
			/* Busy now, or MHD reads no more: the header
			 * timeout ends it. */
			conn_unwatch(c);
			return;
		}
	}
	if (c->mc == NULL || !c->idle)
		return;
	conn_shed(c);
	httpd_run(h);
}

/*
 * Watch c for the peer's hang-up while r's body comes in (r NULL: the
 * body is over; the watch stays until it fires). A parked request is not
 * watched here (req_watch does that, so this watch stops).
 */
static void
conn_watch_body(struct conn *c, struct req *r)
{
	if (c == NULL || c->shed)
		return;
	c->body = r;
	if (r != NULL && !r->suspended && !c->polling) {
		if (uv_poll_start(&c->poll, UV_DISCONNECT, conn_poll_cb) == 0)
			c->polling = 1;
	} else if (r != NULL && r->suspended && !c->idle) {
		conn_unwatch(c);
	}
}

/*
 * The peer hung up while a body was coming in. MHD reads in edge-triggered
 * mode and may have seen the last bytes and the FIN in one read (or been
 * held back by SO_RCVLOWAT), so it would not read again until a timeout.
 * The peer sends nothing more, so shut our receiving side down: that wakes
 * MHD, which reads what is queued, then the end of the stream. A complete
 * body is answered as usual (the sending side stays open); an incomplete
 * one ends the request as aborted (done() runs with ok = 0) and MHD closes
 * the connection.
 */
static void
conn_body_hangup(struct conn *c)
{
	int one = 1;

	conn_unwatch(c);
	c->body = NULL;
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	(void)shutdown(c->fd, SHUT_RD);
	httpd_run(c->h);
}

static void
conn_closed(uv_handle_t *handle)
{
	free(handle->data);
}

/* The accept back-off is over: watch the listener again. */
static void
httpd_accept_resume(uv_timer_t *t)
{
	struct httpd *h = t->data;

	if (h->listen_fd >= 0)
		uv_poll_start(&h->listen_poll, UV_READABLE, httpd_accept_cb);
}

/* Run one daemon until it has nothing to do right away (bounded). */
static void
httpd_run_daemon(struct httpd *h, struct MHD_Daemon *d)
{
	MHD_UNSIGNED_LONG_LONG ms;
	int i;

	/*
	 * A connection with more to send right away (a large sendfile goes
	 * out 128 KiB per MHD_run) makes the timeout 0: serve it a few more
	 * rounds before going back to the loop, which keeps bulk transfers
	 * from paying a loop iteration per chunk.
	 */
	for (i = 0; i < HTTPD_RUN_BURST; i++) {
		MHD_run(d);
		if (!LIST_EMPTY(&h->uncork))
			httpd_uncork(h);
		if (h->kick || MHD_get_timeout(d, &ms) != MHD_YES || ms != 0)
			break;
	}
}

/* Take TCP_CORK off the sockets of file answers that MHD has corked. */
static void
httpd_uncork(struct httpd *h)
{
	const union MHD_ConnectionInfo *ci;
	struct req *r, *next;
	socklen_t len;
	int on, off = 0;

	for (r = LIST_FIRST(&h->uncork); r != NULL; r = next) {
		next = LIST_NEXT(r, uncork_entry);
		ci = MHD_get_connection_info(r->conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		len = sizeof(on);
		if (ci != NULL && (getsockopt(ci->connect_fd, IPPROTO_TCP,
		    TCP_CORK, &on, &len) != 0 || on == 0))
			continue;	/* not corked yet */
		if (ci != NULL)
			(void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_CORK,
			    &off, sizeof(off));
		r->uncork = 0;
		LIST_REMOVE(r, uncork_entry);
	}
}

/* Let MHD do all pending work, then sleep until its next timeout. */
static void
httpd_run(struct httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms, bms;
	int have, bhave;

	if (h->mhd == NULL)
		return;
	h->in_run = 1;
	h->kick = 0;
	httpd_run_daemon(h, h->mhd);
	httpd_run_daemon(h, h->bulk);
	h->in_run = 0;
	if (h->kick) {
		/* A connection was resumed during the run. */
		h->kick = 0;
		uv_timer_start(&h->timer, httpd_timer_cb, 0, 0);
		return;
	}
	have = MHD_get_timeout(h->mhd, &ms) == MHD_YES;
	bhave = MHD_get_timeout(h->bulk, &bms) == MHD_YES;
	if (bhave && (!have || bms < ms)) {
		ms = bms;
		have = 1;
	}
	if (have) {
		if (ms > UINT32_MAX)
			ms = UINT32_MAX;
		uv_timer_start(&h->timer, httpd_timer_cb, (uint64_t)ms, 0);
	} else {
		uv_timer_stop(&h->timer);
	}
}

static void
httpd_poll_cb(uv_poll_t *p, int status, int events)
{
	httpd_run(p->data);
}

static void
httpd_timer_cb(uv_timer_t *t)
{
	httpd_run(t->data);
}

static void
httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (!log_is_verbose())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

void
httpd_shutdown(struct httpd *h, void (*cb)(struct httpd *, void *), void *arg)
{
	struct req *r;

	h->closing = 1;
	fdres_on_short(NULL, NULL);
	h->shutdown_cb = cb;
	h->shutdown_arg = arg;
	uv_poll_stop(&h->listen_poll);
	uv_timer_stop(&h->accept_timer);
	close(h->listen_fd);
	h->listen_fd = -1;
	/* MHD must not be stopped with parked connections: wake them all. */
	LIST_FOREACH(r, &h->reqs, entry) {
		r->gone = 1;
		if (r->suspended)
			req_unpark(r);
	}
	MHD_run(h->mhd);
	MHD_run(h->bulk);
	uv_poll_stop(&h->poll);
	uv_poll_stop(&h->bulk_poll);
	uv_timer_stop(&h->timer);
	MHD_stop_daemon(h->mhd);
	MHD_stop_daemon(h->bulk);
	h->mhd = NULL;
	h->bulk = NULL;
	while (h->fixed != NULL) {
		struct req_fixed *f = h->fixed;

		h->fixed = f->next;
		MHD_destroy_response(f->resp);
		f->resp = NULL;
		f->next = NULL;
	}
	uv_close((uv_handle_t *)&h->listen_poll, httpd_handle_closed);
	uv_close((uv_handle_t *)&h->accept_timer, httpd_handle_closed);
	uv_close((uv_handle_t *)&h->poll, httpd_handle_closed);
	uv_close((uv_handle_t *)&h->bulk_poll, httpd_handle_closed);
	uv_close((uv_handle_t *)&h->timer, httpd_handle_closed);
}

static void
httpd_handle_closed(uv_handle_t *handle)
{
	struct httpd *h = handle->data;

	if (--h->handles_open == 0 && h->shutdown_cb != NULL)
		h->shutdown_cb(h, h->shutdown_arg);
}

void
httpd_free(struct httpd *h)
{
	free(h);
}

/* MHD's first sight of a request: allocate its struct req. */
static void *
httpd_uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct httpd *h = cls;
	struct req *r;
	char *q;

	/* A request line: its headers must follow in good time. */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
	    (unsigned int)HTTPD_HEADER_TIMEOUT);
	r = xcalloc(1, sizeof(*r));
	r->h = h;
	r->conn = conn;
	r->id = h->next_id++;
	r->t0 = uv_hrtime();
	r->uri = xstrdup(uri != NULL ? uri : "");
	if ((q = strchr(r->uri, '?')) != NULL)
		r->query = q + 1;
	r->body_mode = REQ_BODY_BUFFER;
	r->body_max = HTTPD_BODY_MAX_DEFAULT;
	buf_init(&r->body, HTTPD_BODY_MAX_DEFAULT);
	buf_init(&r->out, HTTPD_STREAM_MAX);
	LIST_INSERT_HEAD(&h->reqs, r, entry);
	h->nreqs++;
	return r;
}

static enum MHD_Result
httpd_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct httpd *h = cls;
	struct req *r = *req_cls;
	size_t n;

	if (r == NULL) {
		/* No URI callback ran (cannot happen with MHD >= 0.9.75). */
		r = *req_cls = httpd_uri_cb(h, url, conn);
	}
	r->in_handler++;
	if (r->state == REQ_NEW) {
		struct conn *c = conn_of(conn);

		r->conn = conn;
		/* Headers in: the idle timeout covers the body and answer. */
		conn_set_idle(c, 0);
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
		    (unsigned int)HTTPD_IDLE_TIMEOUT);
		r->method = xstrdup(method);
		r->path = xstrdup(url);
		r->state = REQ_BODY;
		r->body_wait = req_body_follows(r);
		if (req_framing_bad(r)) {
			/* Where this body ends is in doubt: answer and close
			 * rather than read what follows as a request. */
			r->body_wait = 0;
			req_add_header_static(r, "Connection", "close");
			req_respond_text(r, 400, "400 Bad Request");
		} else if (h->closing) {
			req_respond_text(r, 503, "shutting down\n");
		} else {
			if (c != NULL && c->bulk)
				req_add_header_static(r, "Connection",
				    "close");
			h->dispatch(r);
		}
		if (!r->responded && r->handler != NULL &&
		    r->handler->begin != NULL)
			r->handler->begin(r);
		if (r->state == REQ_BODY && req_has_body(r))
			conn_watch_body(c, r);
		goto out;
	}

	if (*upload_data_size > 0) {
		/* Paused: what MHD still holds waits for req_body_resume(). */
		if (r->body_paused && !r->responded && r->state == REQ_BODY)
			goto out;
		n = *upload_data_size;
		*upload_data_size = 0;
		if (r->state == REQ_BODY)
			conn_watch_body(conn_of(conn), r);
		if (r->responded || r->state != REQ_BODY)
			goto out;	/* answered early: drop the rest */
		switch (r->body_mode) {
		case REQ_BODY_BUFFER:
			if (buf_append(&r->body, upload_data, n) != 0) {
				r->overflow = 1;
				req_call_end(r);
			}
			break;
		case REQ_BODY_STREAM:
			r->body_keep = 0;
			if (r->handler->body(r, (const uint8_t *)upload_data,
			    n) != 0 && !r->responded)
				req_respond_error(r, 500, "body rejected");
			if (!r->responded && r->body_paused &&
			    r->body_keep <= n)
				*upload_data_size = r->body_keep;
			r->body_keep = 0;
			break;
		case REQ_BODY_DISCARD:
			break;
		}
		goto out;
	}

	/* The body is complete, or a parked request was resumed. */
	if (r->pending != NULL) {
		struct MHD_Response *resp = r->pending;

		r->pending = NULL;
		MHD_queue_response(conn, r->status, resp);
		MHD_destroy_response(resp);
		goto out;
	}
	r->body_wait = 0;
	if (r->state == REQ_BODY) {
		conn_watch_body(conn_of(conn), NULL);
		req_call_end(r);
	}
	if (!r->responded && !r->suspended) {
		if (r->gone) {
			req_respond_text(r, 503, "shutting down\n");
		} else if (!r->deferred) {
			log_error("handler %s produced no answer for %s",
			    r->handler != NULL ? r->handler->name : "(none)",
			    r->path);
			req_respond_error(r, 500, "internal error");
		}
	}
out:
	r->in_handler--;
	return MHD_YES;
}

static enum MHD_Result
req_framing_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t key_len, const char *value, size_t value_len)
{
	httpd_framing_add(cls, key, value);
	return MHD_YES;
}

void
httpd_framing_add(struct httpd_framing *f, const char *key,
    const char *value)
{
	if (strcasecmp(key, "Transfer-Encoding") == 0)
		f->chunked = 1;
	if (strcasecmp(key, "Content-Length") != 0)
		return;
	if (f->length == NULL)
		f->length = value;
	else if (strcmp(f->length, value) != 0)
		f->lengths_differ = 1;
}

int
httpd_framing_bad(const struct httpd_framing *f)
{
	return f->lengths_differ || (f->chunked && f->length != NULL);
}

/* Whether the request's body framing is ambiguous (httpd_framing_bad). */
static int
req_framing_bad(struct req *r)
{
	struct httpd_framing f = { NULL, 0, 0 };

	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, req_framing_cb,
	    &f);
	return httpd_framing_bad(&f);
}

/*
 * Whether the client sends a body after the headers that it expects to be
 * read before an answer. An answer given before then (an early error) is
 * held until the body is in: MHD would send it at once and close the
 * connection, and a client still writing its body would get a reset
 * instead of the answer. A client that asked "Expect: 100-continue" has not
 * sent its body yet and is better answered at once.
 */
static int
req_body_follows(struct req *r)
{
	const char *v;

	if ((v = req_header(r, "Expect")) != NULL &&
	    strcasecmp(v, "100-continue") == 0)
		return 0;
	if (req_header(r, "Transfer-Encoding") != NULL)
		return 1;
	v = req_header(r, "Content-Length");
	return v != NULL && strspn(v, "0") != strlen(v);
}

/* Whether a body follows the headers (announced by its framing). */
static int
req_has_body(struct req *r)
{
	const char *v;

	if (req_header(r, "Transfer-Encoding") != NULL)
		return 1;
	v = req_header(r, "Content-Length");
	return v != NULL && strspn(v, "0") != strlen(v);
}

/* A 304's body, which MHD never reads. */
static ssize_t
req_eof_read(void *cls, uint64_t pos, char *out, size_t max)
{
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Run the handler's end() once. */
static void
req_call_end(struct req *r)
{
	if (r->state == REQ_ENDED)
		return;
	r->state = REQ_ENDED;
	if (!r->responded && r->handler != NULL && r->handler->end != NULL)
		r->handler->end(r);
}

/*
 * A request ended before its headers did (the client closed, was shed or
 * timed out, or MHD refused the headers): it has no method or path to log,
 * and an attacker can make thousands a second, so they are counted and
 * logged in one line a minute at most.
 */
static void
httpd_abandoned(struct httpd *h)
{
	uint64_t now = uv_now(h->loop);

	h->abandoned++;
	if (h->abandon_at != 0 && now - h->abandon_at < HTTPD_ABANDON_EPISODE)
		return;
	log_info("%u requests ended before their headers (since the last "
	    "such line)", h->abandoned);
	h->abandoned = 0;
	h->abandon_at = now;
}

static void
httpd_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	if (r == NULL)
		return;
	*req_cls = NULL;
	conn_watch_body(conn_of(conn), NULL);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		r->gone = 1;
	if (r->handler != NULL && r->handler->done != NULL)
		r->handler->done(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	if (r->state == REQ_NEW && !r->responded)
		httpd_abandoned(r->h);
	else if (r->handler == NULL || !r->handler->quiet || !r->responded ||
	    r->status < 200 || r->status >= 300 || log_is_verbose())
		log_request(r->id, r->method != NULL ? r->method : "",
		    r->path != NULL ? r->path : "",
		    r->responded ? r->status : 0, uv_hrtime() - r->t0);
	req_free(r);
	/* Between requests: idle until the next request line. */
	conn_set_idle(conn_of(conn), 1);
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
	    (unsigned int)HTTPD_IDLE_TIMEOUT);
}

static void
req_free(struct req *r)
{
	int i;

	LIST_REMOVE(r, entry);
	r->h->nreqs--;
	if (r->uncork)
		LIST_REMOVE(r, uncork_entry);
	if (r->watch != NULL) {
		/* Closing a poll handle takes its fd out of the loop's epoll
		 * set, under the connection's watch too: stop that one, so
		 * that it is started again (conn_set_idle). */
		if (r->conn != NULL)
			conn_unwatch(conn_of(r->conn));
		r->watch->r = NULL;
		uv_close((uv_handle_t *)&r->watch->poll, req_watch_closed);
	}
	if (r->reader != NULL)
		r->reader->r = NULL;
	if (r->pending != NULL)
		MHD_destroy_response(r->pending);
	for (i = 0; i < r->nheaders; i++) {
		if (r->headers[i].owned) {
			free((char *)r->headers[i].name);
			free((char *)r->headers[i].value);
		}
	}
	users_free(r->user);
	buf_reset(&r->body);
	buf_reset(&r->out);
	free(r->uri);
	free(r->method);
	free(r->path);
	free(r);
}

/* --- properties --- */

uint64_t
req_id(const struct req *r)
{
	return r->id;
}

const char *
req_method(const struct req *r)
{
	return r->method != NULL ? r->method : "";
}

const char *
req_path(const struct req *r)
{
	return r->path != NULL ? r->path : "";
}

const char *
req_query(const struct req *r)
{
	return r->query;
}

const char *
req_header(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
req_header_n(const struct req *r, const char *name, size_t *len)
{
	const char *v = NULL;

	if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, name,
	    strlen(name), &v, len) != MHD_YES)
		return NULL;
	return v;
}

struct req_foreach {
	int (*fn)(void *, const char *, const char *);
	void *arg;
	int stop;
};

static enum MHD_Result
req_foreach_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct req_foreach *f = cls;

	if (f->stop)
		return MHD_NO;
	if (f->fn(f->arg, key, value != NULL ? value : "") != 0) {
		f->stop = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

void
req_headers_foreach(const struct req *r,
    int (*fn)(void *, const char *, const char *), void *arg)
{
	struct req_foreach f = { fn, arg, 0 };

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, req_foreach_cb, &f);
}

uv_loop_t *
req_loop(const struct req *r)
{
	return r->h->loop;
}

void
req_set_handler(struct req *r, const struct req_handler *handler, void *data)
{
	r->handler = handler;
	r->data = data;
}

void *
req_data(const struct req *r)
{
	return r->data;
}

void
req_set_data(struct req *r, void *data)
{
	r->data = data;
}

void
req_set_user(struct req *r, struct user *u)
{
	users_free(r->user);
	r->user = u;
}

const struct user *
req_user(const struct req *r)
{
	return r->user;
}

void
req_body_mode(struct req *r, enum req_body_mode mode, size_t max)
{
	r->body_mode = mode;
	r->body_max = max;
	r->body.max = max;
}

struct buf *
req_body(struct req *r)
{
	return &r->body;
}

void
req_body_pause(struct req *r)
{
	if (r->responded || r->state != REQ_BODY || r->body_paused)
		return;
	r->body_paused = 1;
	/* One watch on the socket at a time: the parked one takes over. */
	conn_watch_body(conn_of(r->conn), NULL);
	req_park(r);
}

void
req_body_keep(struct req *r, size_t n)
{
	if (r->body_paused)
		r->body_keep = n;
}

void
req_body_resume(struct req *r)
{
	struct httpd *h = r->h;

	if (!r->body_paused)
		return;
	r->body_paused = 0;
	if (r->responded || r->state != REQ_BODY)
		return;
	if (r->suspended) {
		req_unpark(r);
	} else if (h->mhd != NULL) {
		/* Unparked by a hang-up meanwhile: let MHD go on. */
		uv_timer_start(&h->timer, httpd_timer_cb, 0, 0);
	}
	conn_watch_body(conn_of(r->conn), r);
}

int
req_body_overflow(const struct req *r)
{
	return r->overflow;
}

/* --- answers --- */

void
req_add_header(struct req *r, const char *name, const char *value)
{
	if (r->nheaders >= HTTPD_MAX_EXTRA_HEADERS) {
		log_error("too many response headers for %s", req_path(r));
		return;
	}
	r->headers[r->nheaders].name = xstrdup(name);
	r->headers[r->nheaders].value = xstrdup(value);
	r->headers[r->nheaders].owned = 1;
	r->nheaders++;
}

void
req_add_header_static(struct req *r, const char *name, const char *value)
{
	if (r->nheaders >= HTTPD_MAX_EXTRA_HEADERS) {
		log_error("too many response headers for %s", req_path(r));
		return;
	}
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = value;
	r->headers[r->nheaders].owned = 0;
	r->nheaders++;
}

/* Headers every answer carries: version, CORS, and the handler's own. */
static void
req_decorate(struct req *r, struct MHD_Response *resp)
{
	int i;

	MHD_add_response_header(resp, "X-Envd-Version", ENVD_COMPAT_VERSION);
	if (!r->preflight)
		cors_decorate(req_header(r, "Origin") != NULL, req_method(r),
	    (cors_add_header_fn)MHD_add_response_header, resp);
	for (i = 0; i < r->nheaders; i++)
		MHD_add_response_header(resp, r->headers[i].name,
		    r->headers[i].value);
}

/* Hand resp to MHD now (inside the access callback) or when resumed. */
static int
req_answer(struct req *r, struct MHD_Response *resp, unsigned int status)
{
	if (resp == NULL)
		fatal("libmicrohttpd could not create a response");
	if (r->responded) {
		MHD_destroy_response(resp);
		return -EALREADY;
	}
	r->responded = 1;
	r->status = status;
	req_decorate(r, resp);
	if (r->in_handler && !r->suspended && !r->body_wait) {
		/* MHD refuses answers while the body is still arriving; it
		 * takes this one once the rest of the body is read. */
		if (MHD_queue_response(r->conn, status, resp) == MHD_YES) {
			MHD_destroy_response(resp);
			return 0;
		}
	}
	r->pending = resp;
	if (r->suspended)
		req_unpark(r);
	return 0;
}

int
req_respond(struct req *r, unsigned int status, const char *ctype,
    const void *body, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (resp != NULL && ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	return req_answer(r, resp, status);
}

/* Whether f's shared response, decorated for a request without Origin and
 * without headers of its own, is right for r and can be queued now. */
static int
req_fixed_suits(struct req *r)
{
	return !r->responded && r->nheaders == 0 && !r->preflight &&
	    r->in_handler && !r->suspended && !r->body_wait &&
	    req_header(r, "Origin") == NULL;
}

int
req_respond_fixed(struct req *r, struct req_fixed *f)
{
	struct MHD_Response *resp;
	int i;

	if (req_fixed_suits(r)) {
		if (f->resp == NULL) {
			resp = MHD_create_response_from_buffer(0, NULL,
			    MHD_RESPMEM_PERSISTENT);
			if (resp == NULL)
				fatal("libmicrohttpd could not create a "
				    "response");
			req_decorate(r, resp);
			for (i = 0; f->headers[i] != NULL; i += 2)
				MHD_add_response_header(resp, f->headers[i],
				    f->headers[i + 1]);
			f->resp = resp;
			f->next = r->h->fixed;
			r->h->fixed = f;
		}
		if (MHD_queue_response(r->conn, f->status, f->resp) ==
		    MHD_YES) {
			r->responded = 1;
			r->status = f->status;
			return 0;
		}
	}
	for (i = 0; f->headers[i] != NULL; i += 2)
		req_add_header_static(r, f->headers[i], f->headers[i + 1]);
	return req_respond(r, f->status, NULL, NULL, 0);
}

/*
 * MHD gives an answer of no content "Content-Length: 0", which a 304 must
 * not carry (RFC 9110 section 8.6) unless a 200 would; an answer of size
 * bytes that MHD does not send (a 304 has no content) carries the 200's.
 */
int
req_respond_not_modified(struct req *r, uint64_t size)
{
	return req_answer(r, MHD_create_response_from_callback(size, 4096,
	    req_eof_read, NULL, NULL), 304);
}

int
req_respond_buf(struct req *r, unsigned int status, const char *ctype,
    struct buf *b)
{
	struct MHD_Response *resp;
	size_t len;
	char *data;

	if (b->off == 0 && b->data != NULL) {
		/* Hand the storage over without a copy. */
		data = (char *)b->data;
		len = b->len;
		b->data = NULL;
		buf_reset(b);
	} else {
		data = buf_steal_str(b, &len);
	}
	resp = MHD_create_response_from_buffer_with_free_callback(len, data,
	    len >= HTTPD_TRIM_ANSWER_MIN ? req_buf_free_trim : free);
	if (resp == NULL)
		free(data);
	else if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	return req_answer(r, resp, status);
}

/* MHD is done with a big answer buffer (see HTTPD_TRIM_ANSWER_MIN). */
static void
req_buf_free_trim(void *p)
{
	free(p);
	memtrim_soon();
}

int
req_respond_fd(struct req *r, unsigned int status, const char *ctype,
    int fd, uint64_t off, uint64_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (resp == NULL) {
		close(fd);
		return req_respond_error(r, 500, "cannot send file");
	}
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	if (!r->responded && len >= HTTPD_UNCORK_MIN) {
		r->uncork = 1;
		LIST_INSERT_HEAD(&r->h->uncork, r, uncork_entry);
	}
	return req_answer(r, resp, status);
}

int
req_respond_reader(struct req *r, unsigned int status, const char *ctype,
    req_reader_cb cb, void *arg, void (*free_fn)(void *))
{
	struct MHD_Response *resp;
	struct req_reader *rd;

	if (r->responded) {
		if (free_fn != NULL)
			free_fn(arg);
		return -EALREADY;
	}
	rd = xcalloc(1, sizeof(*rd));
	rd->r = r;
	rd->cb = cb;
	rd->arg = arg;
	rd->free_fn = free_fn;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
	    req_reader_read, rd, req_reader_free);
	if (resp == NULL)
		fatal("libmicrohttpd could not create a response");
	r->reader = rd;
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	return req_answer(r, resp, status);
}

static ssize_t
req_reader_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct req_reader *rd = cls;
	ssize_t n;

	if (rd->r == NULL || rd->r->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = rd->cb(rd->arg, (uint8_t *)out, max);
	if (n > 0)
		return n;
	if (n == -1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	req_park(rd->r);
	return 0;
}

static void
req_reader_free(void *cls)
{
	struct req_reader *rd = cls;

	if (rd->r != NULL)
		rd->r->reader = NULL;
	if (rd->free_fn != NULL)
		rd->free_fn(rd->arg);
	free(rd);
}

void
req_reader_wake(struct req *r)
{
	if (r->suspended)
		req_unpark(r);
}

/*
 * Upstream writes these with encoding/json (HTML-safe escaping, so '<'
 * becomes \u003c) and http.Error-style headers; messages can be long (a
 * list of uploaded paths), so they are bounded by HTTPD_ERROR_MAX only.
 */
int
req_respond_error(struct req *r, unsigned int status, const char *msg)
{
	struct buf b;
	char num[16];

	snprintf(num, sizeof(num), "%u", status);
	buf_init(&b, HTTPD_ERROR_MAX);
	if (buf_puts(&b, "{\"code\":") != 0 || buf_puts(&b, num) != 0 ||
	    buf_puts(&b, ",\"message\":") != 0 ||
	    gojson_quote(&b, msg, strlen(msg)) != 0 ||
	    buf_puts(&b, "}\n") != 0) {
		buf_reset(&b);
		(void)buf_puts(&b, "{\"code\":");
		(void)buf_puts(&b, num);
		(void)buf_puts(&b, ",\"message\":\"error message too long\"}\n");
	}
	req_add_header(r, "X-Content-Type-Options", "nosniff");
	return req_respond_buf(r, status, "application/json; charset=utf-8",
	    &b);
}

int
req_respond_preflight(struct req *r)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		fatal("libmicrohttpd could not create a response");
	cors_preflight(req_header(r, "Origin") != NULL,
	    req_header(r, "Access-Control-Request-Method"),
	    req_header(r, "Access-Control-Request-Headers"),
	    (cors_add_header_fn)MHD_add_response_header, resp);
	r->preflight = 1;
	return req_answer(r, resp, 204);
}

int
req_respond_text(struct req *r, unsigned int status, const char *text)
{
	return req_respond(r, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

void
req_defer(struct req *r)
{
	r->deferred = 1;
	if (!r->responded)
		req_park(r);
}

int
req_responded(const struct req *r)
{
	return r->responded;
}

/* --- parking --- */

/* Suspend the connection and watch its socket for a hang-up. */
static void
req_park(struct req *r)
{
	const union MHD_ConnectionInfo *ci;
	int fd;

	if (r->suspended)
		return;
	MHD_suspend_connection(r->conn);
	r->suspended = 1;
	/* One watch on the socket at a time (libuv allows one poll handle
	 * an fd): the parked one takes over. */
	conn_unwatch(conn_of(r->conn));
	if (r->watch == NULL) {
		ci = MHD_get_connection_info(r->conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;
		fd = ci->connect_fd;
		r->watch = xcalloc(1, sizeof(*r->watch));
		r->watch->r = r;
		if (uv_poll_init_socket(r->h->loop, &r->watch->poll, fd) != 0) {
			free(r->watch);
			r->watch = NULL;
			return;
		}
		r->watch->poll.data = r->watch;
	}
	uv_poll_start(&r->watch->poll, UV_DISCONNECT, req_watch_cb);
}

/*
 * Give the connection back to MHD. In external polling mode MHD notices a
 * resumed connection only in its next MHD_run(), so schedule one.
 */
static void
req_unpark(struct req *r)
{
	struct httpd *h = r->h;

	if (!r->suspended)
		return;
	if (r->watch != NULL)
		uv_poll_stop(&r->watch->poll);
	r->suspended = 0;
	MHD_resume_connection(r->conn);
	if (h->in_run)
		h->kick = 1;
	else if (h->mhd != NULL)
		uv_timer_start(&h->timer, httpd_timer_cb, 0, 0);
}

static void
req_watch_cb(uv_poll_t *p, int status, int events)
{
	struct req_watch *w = p->data;
	struct req *r = w->r;

	if (r == NULL)
		return;
	if (status < 0 || (events & UV_DISCONNECT)) {
		uv_poll_stop(p);
		if (status == 0 && r->body_paused) {
			/* Perhaps only the end of the body (a half-close):
			 * the body watch looks again once it is resumed. */
			r->peer_eof = 1;
			return;
		}
		r->gone = 1;
		req_unpark(r);
	}
}

static void
req_watch_closed(uv_handle_t *handle)
{
	free(handle->data);
}

/* --- streams --- */

int
req_stream_begin(struct req *r, unsigned int status, const char *ctype)
{
	struct MHD_Response *resp;

	if (r->responded)
		return -EALREADY;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
	    req_stream_read, r, NULL);
	if (resp == NULL)
		fatal("libmicrohttpd could not create a response");
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	r->streaming = 1;
	return req_answer(r, resp, status);
}

static ssize_t
req_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct req *r = cls;
	size_t n;

	if (r->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = buf_len(&r->out);
	if (n > 0) {
		if (n > max)
			n = max;
		memcpy(out, buf_ptr(&r->out), n);
		buf_consume(&r->out, n);
		if (r->drain_cb != NULL && buf_len(&r->out) <= r->drain_low) {
			req_drain_cb cb = r->drain_cb;

			r->drain_cb = NULL;
			cb(r, r->drain_arg);
		}
		return (ssize_t)n;
	}
	if (r->stream_ended)
		return MHD_CONTENT_READER_END_OF_STREAM;
	req_park(r);
	return 0;
}

int
req_stream_write(struct req *r, const void *data, size_t len)
{
	if (r->gone || r->stream_ended || !r->streaming)
		return -EPIPE;
	if (buf_append(&r->out, data, len) != 0) {
		/* The hard cap is far above any caller's own bound. */
		log_error("stream buffer overflow on %s; ending it", r->path);
		r->gone = 1;
		req_unpark(r);
		return -EPIPE;
	}
	if (r->suspended)
		req_unpark(r);
	return 0;
}

size_t
req_stream_pending(const struct req *r)
{
	return buf_len(&r->out);
}

void
req_stream_on_drain(struct req *r, size_t low, req_drain_cb cb, void *arg)
{
	r->drain_low = low;
	r->drain_cb = cb;
	r->drain_arg = arg;
}

void
req_stream_end(struct req *r)
{
	if (r->stream_ended)
		return;
	r->stream_ended = 1;
	if (r->suspended)
		req_unpark(r);
}

void
req_abort(struct req *r)
{
	const union MHD_ConnectionInfo *ci;

	r->gone = 1;
	buf_reset(&r->out);
	/*
	 * MHD writes only when the socket takes data, so a client that does
	 * not read would keep the connection until the idle timeout. Shut the
	 * socket down: MHD's next write fails and it closes the connection.
	 */
	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		(void)shutdown(ci->connect_fd, SHUT_RDWR);
	if (r->suspended)
		req_unpark(r);
}

int
req_set_rcvlowat(struct req *r, size_t bytes)
{
	const union MHD_ConnectionInfo *ci;
	int v = bytes > INT_MAX ? INT_MAX : bytes < 1 ? 1 : (int)bytes;

	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return -EBADF;
	if (setsockopt(ci->connect_fd, SOL_SOCKET, SO_RCVLOWAT, &v,
	    sizeof(v)) != 0)
		return -errno;
	return 0;
}

int
req_gone(const struct req *r)
{
	return r->gone;
}

int
req_peer_eof(const struct req *r)
{
	return r->peer_eof;
}

size_t
req_unread(const struct req *r)
{
	const union MHD_ConnectionInfo *ci;
	int n = 0;

	if (r->conn == NULL || (ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL ||
	    ioctl(ci->connect_fd, FIONREAD, &n) != 0 || n < 0)
		return 0;
	return (size_t)n;
}
