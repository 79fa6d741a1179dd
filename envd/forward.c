/*
 * forward.c - in-process forwarding of loopback TCP listeners.
 *
 * Upstream starts one socat per listener and socat forks per connection;
 * here one loop does it all. Three kinds of object:
 *
 * - the forwarder (one, static): the netlink socket and its poll, the scan
 *   timer, the fd-exhaustion back-off timer, the list of ports and the
 *   list of connections;
 * - struct fwd_port, one per forwarded port: created when a scan first
 *   finds a loopback listener on the port, unlinked when a complete scan no
 *   longer finds one (or at forward_stop), freed in the close callback of
 *   its last listener handle. Connections never point at it, so a port
 *   can go while its connections live on;
 * - struct fwd_listener, one per port and forward address it is bound
 *   on: allocated by a successful bind, detached from its port when the
 *   port stops or its address goes away, freed in its close callback;
 * - struct fwd_conn, one per accepted connection: owns both sockets, both
 *   poll handles and both pipes; unlinked when both directions have ended
 *   or on an error, freed in the close callback of its second handle.
 *
 * Data moves socket -> pipe -> socket with splice(2), never through user
 * memory. Each direction's pipe (created when the direction is first
 * pumped, once the loopback connect completes, so a joined connection
 * holds six descriptors) is the only buffer: while it holds
 * bytes the source is not read, so a slow reader slows the writer down
 * through TCP instead of growing memory. End of input on one side becomes
 * shutdown(SHUT_WR) on the other once the pipe is empty; a reset or a
 * write error on either side resets both.
 *
 * Forward addresses sit in numbered slots; a port's listener for slot i
 * is p->l[i]. With the interface addresses as the default, every tick
 * reads them again: a slot whose address went away has its listeners
 * closed, a new address takes a free slot and is bound by the scan.
 *
 * Descriptors: the forwarder keeps its own use (one per listener, six per
 * connection: two sockets, two pipes, counted from the accept) under a
 * budget, the soft RLIMIT_NOFILE less a reserve for the rest of the
 * daemon, read again every tick. Past the budget a new connection is
 * accepted and reset at once, so the API still finds descriptors; should
 * accept itself fail for want of them, accepting pauses and resumes later.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <uv.h>

#include "forward.h"
#include "log.h"
#include "sockdiag.h"
#include "xalloc.h"

#define FWD_RXBUF_SIZE (64 * 1024)	/* > the kernel's largest dump skb */
#define FWD_PIPE_SIZE (256 * 1024)	/* bytes buffered per direction */
#define FWD_ACCEPT_BURST 64		/* accepts per listener callback */
#define FWD_PUMP_ROUNDS 8		/* splice rounds per direction and wake */
#define FWD_RESUME_MS 250		/* back-off after fd exhaustion */
#define FWD_BACKLOG 511
#define FWD_CONN_UNITS 6		/* descriptors counted per connection */
#define FWD_RESERVE_MIN 32		/* descriptors left to the rest ... */
#define FWD_RESERVE_MAX 1024		/* ... a quarter of the limit, clamped */
#define FWD_NPORTS 65536
#define FWD_WORDS (FWD_NPORTS / 64)

struct fwd_port;

/* A listening socket on one forward address. */
struct fwd_listener {
	uv_poll_t poll;		/* readable: connections to accept */
	int fd;			/* listening socket */
	int paused;		/* accepting stopped for fd exhaustion */
	struct fwd_port *port;	/* owner; outlives the listener */
};

/* One forwarded port. */
struct fwd_port {
	TAILQ_ENTRY(fwd_port) entry;	/* in fwd.ports while forwarded */
	uint16_t port;			/* the port, on loopback and outside */
	int family;			/* of the loopback listener dialled */
	int nopen;			/* listener handles not yet closed */
	int stopped;			/* unlinked; freed when nopen is 0 */
	int busy_logged;		/* a failed bind was logged */
	struct fwd_listener *l[];	/* per address slot, NULL: not bound */
};
TAILQ_HEAD(fwd_port_list, fwd_port);

/* One direction of a connection: bytes from src through pipe to dst. */
struct fwd_dir {
	int pipe[2];		/* read end, write end; -1 until first byte */
	size_t pending;		/* bytes in the pipe */
	int eof;		/* src has ended its output */
	int shut;		/* dst got shutdown(SHUT_WR) */
	int in_blocked;		/* pipe may be full: wait for dst first */
};

enum fwd_conn_state {
	FWD_CONN_CONNECTING,	/* waiting for the loopback connect */
	FWD_CONN_OPEN,		/* moving bytes */
	FWD_CONN_CLOSING,	/* handles closing; freed by the last */
};

/* One forwarded connection. */
struct fwd_conn {
	LIST_ENTRY(fwd_conn) entry;	/* in fwd.conns until closing */
	enum fwd_conn_state state;
	int cfd;			/* accepted (outside) socket */
	int ufd;			/* socket to the loopback listener */
	uv_poll_t cpoll;		/* on cfd */
	uv_poll_t upoll;		/* on ufd */
	int cev;			/* events cpoll waits for */
	int uev;			/* events upoll waits for */
	int nopen;			/* handles not yet closed */
	struct fwd_dir up;		/* client -> loopback */
	struct fwd_dir down;		/* loopback -> client */
};
LIST_HEAD(fwd_conn_list, fwd_conn);

/* The forwarder. */
static struct {
	uv_loop_t *loop;
	int started;			/* forward_start succeeded */
	int stopping;			/* forward_stop was called */
	struct sockaddr_storage addrs[FORWARD_ADDR_MAX]; /* AF_UNSPEC: free */
	int nslots;			/* address slots in use or usable */
	int follow;			/* re-read interface addresses per tick */
	int list_failed;		/* the last interface listing failed */
	int self_port;			/* never forwarded */
	int nlfd;			/* NETLINK_SOCK_DIAG socket */
	uv_poll_t nlpoll;		/* readable on nlfd */
	uv_timer_t tick;		/* starts a scan */
	uv_timer_t resume;		/* re-arms listeners after EMFILE */
	int scanning;			/* family being dumped, or 0 */
	int scan_failed;		/* a dump of this scan failed */
	uint32_t seq;			/* of the dump being read */
	unsigned char *rx;		/* FWD_RXBUF_SIZE receive buffer */
	uint64_t found4[FWD_WORDS];	/* ports with a 127.0.0.1 listener */
	uint64_t found6[FWD_WORDS];	/* ports with a ::1 listener */
	uint64_t known[FWD_WORDS];	/* ports with a struct fwd_port */
	struct fwd_port_list ports;
	struct fwd_conn_list conns;
	int exhausted;			/* in an fd exhaustion episode */
	int units;			/* descriptors counted against budget */
	int budget;			/* soft limit less the reserve */
	int over_budget;		/* refusing connections; logged */
} fwd = { .nlfd = -1 };

static void fwd_tick_cb(uv_timer_t *);
static void fwd_scan_send(int);
static void fwd_nl_cb(uv_poll_t *, int, int);
static void fwd_found_cb(const struct sockdiag_sock *, void *);
static void fwd_reconcile(void);
static void fwd_port_new(uint16_t, int);
static void fwd_port_bind(struct fwd_port *);
static void fwd_port_stop(struct fwd_port *);
static void fwd_listener_close(struct fwd_port *, int);
static void fwd_listener_closed(uv_handle_t *);
static void fwd_accept_cb(uv_poll_t *, int, int);
static void fwd_exhausted(void);
static void fwd_resume_cb(uv_timer_t *);
static int fwd_conn_new(int, int, uint16_t);
static void fwd_conn_cb(uv_poll_t *, int, int);
static int fwd_dir_pump(struct fwd_dir *, int, int);
static void fwd_conn_pump(struct fwd_conn *);
static void fwd_conn_arm(struct fwd_conn *);
static void fwd_conn_close(struct fwd_conn *, int);
static void fwd_conn_closed(uv_handle_t *);
static void fwd_handle_closed(uv_handle_t *);
static const char *fwd_family_name(int);
static int fwd_bit(const uint64_t *, unsigned int);
static void fwd_update_budget(void);
static void fwd_refuse(int);
static int fwd_interface_addrs(struct sockaddr_storage *, int);
static void fwd_follow_addrs(void);
static int fwd_same_addr(const struct sockaddr_storage *,
    const struct sockaddr_storage *);
static const char *fwd_addr_str(const struct sockaddr_storage *, char *,
    size_t);

static const char *
fwd_family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

static int
fwd_bit(const uint64_t *set, unsigned int i)
{
	return (set[i / 64] >> (i % 64)) & 1;
}

int
forward_parse_addrs(const char *list, struct sockaddr_storage *out, int max,
    char **cause)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	const char *p = list, *end;
	char item[INET6_ADDRSTRLEN + 1];
	size_t len;
	int n = 0;

	*cause = NULL;
	while (p != NULL && *p != '\0') {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			goto next;
		if (len >= sizeof(item)) {
			*cause = xasprintf("not an IP address: \"%.*s\"",
			    (int)(len > 64 ? 64 : len), p);
			return -EINVAL;
		}
		if (n == max) {
			*cause = xasprintf("more than %d addresses", max);
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		memset(&out[n], 0, sizeof(out[n]));
		sin = (struct sockaddr_in *)&out[n];
		sin6 = (struct sockaddr_in6 *)&out[n];
		if (inet_pton(AF_INET, item, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
		} else if (inet_pton(AF_INET6, item, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
		} else {
			*cause = xasprintf("not an IP address: \"%s\"", item);
			return -EINVAL;
		}
		n++;
next:
		p = end != NULL ? end + 1 : NULL;
	}
	return n;
}

/* Addresses of the non-loopback interfaces that are up (IPv6 link-local
 * ones need a scope and are left out), at most max into out. Returns how
 * many were found, or -1 when the interfaces cannot be listed (logged
 * once until a listing works again). */
static int
fwd_interface_addrs(struct sockaddr_storage *out, int max)
{
	struct ifaddrs *ifa = NULL, *i;
	struct sockaddr_in6 *s6;
	int n = 0;

	if (getifaddrs(&ifa) != 0) {
		if (!fwd.list_failed)
			log_warn("port forwarding: cannot list interfaces: %s",
			    strerror(errno));
		fwd.list_failed = 1;
		return -1;
	}
	fwd.list_failed = 0;
	for (i = ifa; i != NULL && n < max; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_flags & IFF_UP) == 0 ||
		    (i->ifa_flags & IFF_LOOPBACK) != 0)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			memset(&out[n], 0, sizeof(out[n]));
			memcpy(&out[n], i->ifa_addr,
			    sizeof(struct sockaddr_in));
			((struct sockaddr_in *)&out[n])->sin_port = 0;
			n++;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			s6 = (struct sockaddr_in6 *)i->ifa_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) ||
			    IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			memcpy(&out[n], s6, sizeof(*s6));
			((struct sockaddr_in6 *)&out[n])->sin6_port = 0;
			n++;
		}
	}
	freeifaddrs(ifa);
	return n;
}

static int
fwd_same_addr(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		   &((const struct sockaddr_in6 *)b)->sin6_addr,
		   sizeof(struct in6_addr)) == 0;
}

static const char *
fwd_addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *a = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (inet_ntop(ss->ss_family, a, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
	return buf;
}

/*
 * Follow the interface addresses: close the listeners of a slot whose
 * address is gone and free the slot, put a new address in a free slot
 * (the scan binds it). A failed listing changes nothing.
 */
static void
fwd_follow_addrs(void)
{
	struct sockaddr_storage now[FORWARD_ADDR_MAX];
	char host[INET6_ADDRSTRLEN];
	struct fwd_port *p;
	int n, i, j, found;

	if ((n = fwd_interface_addrs(now, FORWARD_ADDR_MAX)) < 0)
		return;
	for (i = 0; i < fwd.nslots; i++) {
		if (fwd.addrs[i].ss_family == AF_UNSPEC)
			continue;
		for (j = 0, found = 0; j < n && !found; j++)
			found = fwd_same_addr(&fwd.addrs[i], &now[j]);
		if (found)
			continue;
		log_debug("forward address %s gone",
		    fwd_addr_str(&fwd.addrs[i], host, sizeof(host)));
		TAILQ_FOREACH(p, &fwd.ports, entry) {
			if (p->l[i] != NULL)
				fwd_listener_close(p, i);
		}
		fwd.addrs[i].ss_family = AF_UNSPEC;
	}
	for (j = 0; j < n; j++) {
		for (i = 0, found = -1; i < fwd.nslots && found < 0; i++) {
			if (fwd_same_addr(&fwd.addrs[i], &now[j]))
				found = i;
		}
		if (found >= 0)
			continue;
		for (i = 0; i < fwd.nslots; i++) {
			if (fwd.addrs[i].ss_family == AF_UNSPEC)
				break;
		}
		if (i == fwd.nslots)
			break;	/* FORWARD_ADDR_MAX in use */
		fwd.addrs[i] = now[j];
		log_debug("forward address %s added",
		    fwd_addr_str(&fwd.addrs[i], host, sizeof(host)));
	}
}

/* The forwarder's share of the soft descriptor limit. */
static void
fwd_update_budget(void)
{
	struct rlimit rl;
	rlim_t reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT32_MAX)
		rl.rlim_cur = INT32_MAX;
	reserve = rl.rlim_cur / 4;
	if (reserve < FWD_RESERVE_MIN)
		reserve = FWD_RESERVE_MIN;
	if (reserve > FWD_RESERVE_MAX)
		reserve = FWD_RESERVE_MAX;
	fwd.budget = rl.rlim_cur > reserve ? (int)(rl.rlim_cur - reserve) : 0;
}

/* Reset accepted socket fd at once: the budget has no room for it. */
static void
fwd_refuse(int fd)
{
	struct linger lg = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	if (!fwd.over_budget) {
		fwd.over_budget = 1;
		log_warn("port forwarding: %d of %d descriptors in use; "
		    "refusing new connections", fwd.units, fwd.budget);
	}
}

int
forward_start(uv_loop_t *loop, const char *addrs, int isnotfc, int self_port,
    unsigned int tick_ms, char **cause)
{
	int n, r;

	*cause = NULL;
	if (fwd.started)
		return -EALREADY;
	if (addrs != NULL && *addrs != '\0')
		n = forward_parse_addrs(addrs, fwd.addrs, FORWARD_ADDR_MAX,
		    cause);
	else if (!isnotfc)
		n = forward_parse_addrs(FORWARD_FC_ADDR, fwd.addrs,
		    FORWARD_ADDR_MAX, cause);
	else {
		fwd.follow = 1;
		n = 0;	/* the first tick reads the interfaces */
	}
	if (n < 0)
		return n;
	if (n == 0 && !fwd.follow) {
		log_info("port forwarding: no forward address, off");
		return 0;
	}
	fwd.nslots = fwd.follow ? FORWARD_ADDR_MAX : n;
	fwd.loop = loop;
	fwd.self_port = self_port;
	TAILQ_INIT(&fwd.ports);
	LIST_INIT(&fwd.conns);
	fwd.nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG);
	if (fwd.nlfd < 0) {
		r = -errno;
		*cause = xasprintf("netlink sock_diag socket: %s",
		    strerror(errno));
		return r;
	}
	fwd_update_budget();
	fwd.rx = xmalloc(FWD_RXBUF_SIZE);
	uv_poll_init(loop, &fwd.nlpoll, fwd.nlfd);
	uv_poll_start(&fwd.nlpoll, UV_READABLE, fwd_nl_cb);
	uv_unref((uv_handle_t *)&fwd.nlpoll);
	uv_timer_init(loop, &fwd.tick);
	uv_timer_start(&fwd.tick, fwd_tick_cb, 0, tick_ms);
	uv_unref((uv_handle_t *)&fwd.tick);
	uv_timer_init(loop, &fwd.resume);
	uv_unref((uv_handle_t *)&fwd.resume);
	fwd.started = 1;
	if (fwd.follow)
		log_debug("port forwarding on the interface addresses, "
		    "scan every %u ms", tick_ms);
	else
		log_debug("port forwarding on %d address(es), scan every %u ms",
		    fwd.nslots, tick_ms);
	return 0;
}

/* Close callback of the forwarder's own handles. */
static void
fwd_handle_closed(uv_handle_t *h)
{
	if (h == (uv_handle_t *)&fwd.nlpoll) {
		close(fwd.nlfd);
		fwd.nlfd = -1;
		free(fwd.rx);
		fwd.rx = NULL;
	}
}

void
forward_stop(void)
{
	struct fwd_port *p;

	if (!fwd.started || fwd.stopping)
		return;
	fwd.stopping = 1;
	uv_close((uv_handle_t *)&fwd.tick, fwd_handle_closed);
	uv_close((uv_handle_t *)&fwd.resume, fwd_handle_closed);
	uv_close((uv_handle_t *)&fwd.nlpoll, fwd_handle_closed);
	while ((p = TAILQ_FIRST(&fwd.ports)) != NULL)
		fwd_port_stop(p);
	while (!LIST_EMPTY(&fwd.conns))
		fwd_conn_close(LIST_FIRST(&fwd.conns), 0);
}

/*
 * A scan is two dumps, IPv4 then IPv6, each with its own sequence number.
 * A scan still running when the next tick comes was lost (an overrun
 * socket drops messages): it is abandoned and a new one starts.
 */
static void
fwd_tick_cb(uv_timer_t *t)
{
	if (fwd.scanning != 0)
		log_debug("port scan did not finish; starting again");
	if (fwd.follow)
		fwd_follow_addrs();
	fwd_update_budget();
	memset(fwd.found4, 0, sizeof(fwd.found4));
	memset(fwd.found6, 0, sizeof(fwd.found6));
	fwd.scan_failed = 0;
	fwd_scan_send(AF_INET);
}

/* Send the dump request for family; on failure the scan ends here. */
static void
fwd_scan_send(int family)
{
	unsigned char req[SOCKDIAG_REQUEST_SIZE];
	struct sockaddr_nl nl;
	size_t len;

	fwd.seq++;
	len = sockdiag_request(req, sizeof(req), family, fwd.seq);
	memset(&nl, 0, sizeof(nl));
	nl.nl_family = AF_NETLINK;
	if (sendto(fwd.nlfd, req, len, 0, (struct sockaddr *)&nl,
	    sizeof(nl)) != (ssize_t)len) {
		log_debug("port scan request failed: %s", strerror(errno));
		fwd.scanning = 0;
		return;
	}
	fwd.scanning = family;
}

/* Record a loopback listener. */
static void
fwd_found_cb(const struct sockdiag_sock *s, void *arg)
{
	uint64_t *set;
	int lo;

	if (s->state != 10 || (lo = sockdiag_loopback(s)) == 0)
		return;
	set = lo == AF_INET ? fwd.found4 : fwd.found6;
	set[s->port / 64] |= (uint64_t)1 << (s->port % 64);
}

static void
fwd_nl_cb(uv_poll_t *h, int status, int events)
{
	ssize_t n;
	int r, family;

	for (;;) {
		n = recv(fwd.nlfd, fwd.rx, FWD_RXBUF_SIZE, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			/* ENOBUFS: answers were dropped; the tick retries. */
			log_debug("port scan: %s", strerror(errno));
			fwd.scanning = 0;
			return;
		}
		if (fwd.scanning == 0)
			continue;	/* the rest of an abandoned dump */
		r = sockdiag_parse(fwd.rx, (size_t)n, fwd.seq, fwd_found_cb,
		    NULL);
		if (r == SOCKDIAG_MORE)
			continue;
		if (r < 0) {
			/* A kernel without IPv6 refuses that dump. */
			if (fwd.scanning == AF_INET || r != -EAFNOSUPPORT)
				fwd.scan_failed = 1;
			log_debug("port scan (%s): %s",
			    fwd_family_name(fwd.scanning), strerror(-r));
		}
		family = fwd.scanning;
		fwd.scanning = 0;
		if (family == AF_INET)
			fwd_scan_send(AF_INET6);
		else
			fwd_reconcile();
	}
}

/*
 * Start forwards for new loopback ports, stop those whose listener is
 * gone (only after a complete scan, so one failed dump does not drop
 * them), and retry binds that failed.
 */
static void
fwd_reconcile(void)
{
	struct fwd_port *p, *next;
	unsigned int w, b, port;
	uint64_t bits;

	for (p = TAILQ_FIRST(&fwd.ports); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (fwd_bit(fwd.found4, p->port))
			p->family = AF_INET;
		else if (fwd_bit(fwd.found6, p->port))
			p->family = AF_INET6;
		else if (!fwd.scan_failed) {
			fwd_port_stop(p);
			continue;
		}
		fwd_port_bind(p);
	}
	for (w = 0; w < FWD_WORDS; w++) {
		bits = (fwd.found4[w] | fwd.found6[w]) & ~fwd.known[w];
		for (b = 0; bits != 0; b++, bits >>= 1) {
			if ((bits & 1) == 0)
				continue;
			port = w * 64 + b;
			if (port == 0 || (int)port == fwd.self_port)
				continue;
			fwd_port_new((uint16_t)port,
			    fwd_bit(fwd.found4, port) ? AF_INET : AF_INET6);
		}
	}
}

static void
fwd_port_new(uint16_t port, int family)
{
	struct fwd_port *p;

	p = xcalloc(1, sizeof(*p) + (size_t)fwd.nslots * sizeof(p->l[0]));
	p->port = port;
	p->family = family;
	TAILQ_INSERT_TAIL(&fwd.ports, p, entry);
	fwd.known[port / 64] |= (uint64_t)1 << (port % 64);
	log_debug("port forward started: port %u (%s)", port,
	    fwd_family_name(family));
	fwd_port_bind(p);
}

/* Listen on every forward address not yet bound. A failure (usually the
 * port taken on that address, or the budget spent) is logged once per
 * port and retried quietly on each scan. */
static void
fwd_port_bind(struct fwd_port *p)
{
	struct sockaddr_storage ss;
	struct fwd_listener *l;
	char host[INET6_ADDRSTRLEN];
	socklen_t len;
	int i, fd, one = 1, family, err;

	for (i = 0; i < fwd.nslots; i++) {
		if (p->l[i] != NULL || fwd.addrs[i].ss_family == AF_UNSPEC)
			continue;
		ss = fwd.addrs[i];
		family = ss.ss_family;
		fd = -1;
		if (fwd.units >= fwd.budget) {
			errno = EMFILE;
			goto fail;
		}
		if (family == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_port = htons(p->port);
			len = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons(p->port);
			len = sizeof(struct sockaddr_in6);
		}
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd < 0)
			goto fail;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
		    listen(fd, FWD_BACKLOG) != 0)
			goto fail;
		l = xcalloc(1, sizeof(*l));
		l->fd = fd;
		l->port = p;
		p->l[i] = l;
		uv_poll_init(fwd.loop, &l->poll, fd);
		l->poll.data = l;
		p->nopen++;
		fwd.units++;
		if (!fwd.exhausted)
			uv_poll_start(&l->poll, UV_READABLE, fwd_accept_cb);
		else
			l->paused = 1;
		continue;
fail:
		err = errno;
		if (!p->busy_logged) {
			p->busy_logged = 1;
			log_info("port %u not forwarded on %s: %s", p->port,
			    fwd_addr_str(&ss, host, sizeof(host)),
			    strerror(err));
		}
		if (fd >= 0)
			close(fd);
	}
}

/* Unlink p and close its listeners; p is freed by the last close. */
static void
fwd_port_stop(struct fwd_port *p)
{
	int i;

	TAILQ_REMOVE(&fwd.ports, p, entry);
	fwd.known[p->port / 64] &= ~((uint64_t)1 << (p->port % 64));
	p->stopped = 1;
	log_debug("port forward stopped: port %u (%s)", p->port,
	    fwd_family_name(p->family));
	for (i = 0; i < fwd.nslots; i++) {
		if (p->l[i] != NULL)
			fwd_listener_close(p, i);
	}
	if (p->nopen == 0)
		free(p);
}

/* Detach p's listener of slot i and close it; freed by the callback. */
static void
fwd_listener_close(struct fwd_port *p, int i)
{
	struct fwd_listener *l = p->l[i];

	p->l[i] = NULL;
	uv_close((uv_handle_t *)&l->poll, fwd_listener_closed);
}

static void
fwd_listener_closed(uv_handle_t *h)
{
	struct fwd_listener *l = h->data;
	struct fwd_port *p = l->port;

	close(l->fd);
	free(l);
	fwd.units--;
	if (--p->nopen == 0 && p->stopped)
		free(p);
}

static void
fwd_accept_cb(uv_poll_t *h, int status, int events)
{
	struct fwd_listener *l = h->data;
	int i, fd, r;

	if (status < 0) {
		log_debug("port %u: listener poll: %s", l->port->port,
		    uv_strerror(status));
		return;
	}
	for (i = 0; i < FWD_ACCEPT_BURST; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				fwd_exhausted();
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("port %u: accept: %s", l->port->port,
				    strerror(errno));
			return;
		}
		if (fwd.units + FWD_CONN_UNITS > fwd.budget) {
			fwd_refuse(fd);
			continue;
		}
		if (fwd.over_budget) {
			fwd.over_budget = 0;
			log_info("port forwarding: accepting connections again");
		}
		r = fwd_conn_new(fd, l->port->family, l->port->port);
		if (r == -EMFILE || r == -ENFILE || r == -ENOBUFS ||
		    r == -ENOMEM) {
			fwd_exhausted();
			return;
		}
		if (r == 0 && fwd.exhausted) {
			fwd.exhausted = 0;
			log_info("port forwarding: descriptors available again");
		}
	}
}

/*
 * Out of descriptors: a level-triggered listener would wake the loop
 * again at once, so every listener stops accepting and the resume timer
 * re-arms them later. Logged once per episode; the episode ends with the
 * next connection set up.
 */
static void
fwd_exhausted(void)
{
	struct fwd_port *p;
	int i;

	if (!fwd.exhausted) {
		fwd.exhausted = 1;
		log_warn("port forwarding: out of file descriptors; "
		    "pausing accepts");
	}
	TAILQ_FOREACH(p, &fwd.ports, entry) {
		for (i = 0; i < fwd.nslots; i++) {
			if (p->l[i] != NULL && !p->l[i]->paused) {
				uv_poll_stop(&p->l[i]->poll);
				p->l[i]->paused = 1;
			}
		}
	}
	if (!uv_is_active((uv_handle_t *)&fwd.resume))
		uv_timer_start(&fwd.resume, fwd_resume_cb, FWD_RESUME_MS, 0);
}

static void
fwd_resume_cb(uv_timer_t *t)
{
	struct fwd_port *p;
	int i;

	TAILQ_FOREACH(p, &fwd.ports, entry) {
		for (i = 0; i < fwd.nslots; i++) {
			if (p->l[i] != NULL && p->l[i]->paused) {
				p->l[i]->paused = 0;
				uv_poll_start(&p->l[i]->poll, UV_READABLE,
				    fwd_accept_cb);
			}
		}
	}
}

/*
 * Join accepted socket cfd (owned from here on, closed on failure) to
 * the loopback listener of family on port. Returns 0 or a negative errno.
 */
static int
fwd_conn_new(int cfd, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct fwd_conn *c;
	struct pollfd pfd;
	socklen_t len;
	int ufd, r;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	ufd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ufd < 0) {
		r = -errno;
		close(cfd);
		return r;
	}
	if (connect(ufd, (struct sockaddr *)&ss, len) != 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		log_debug("port %u: connect to loopback: %s", port,
		    strerror(errno));
		close(ufd);
		close(cfd);
		return r;
	}
	c = xcalloc(1, sizeof(*c));
	c->cfd = cfd;
	c->ufd = ufd;
	c->up.pipe[0] = c->up.pipe[1] = -1;
	c->down.pipe[0] = c->down.pipe[1] = -1;
	c->state = FWD_CONN_CONNECTING;
	uv_poll_init(fwd.loop, &c->cpoll, cfd);
	uv_poll_init(fwd.loop, &c->upoll, ufd);
	c->cpoll.data = c->upoll.data = c;
	c->nopen = 2;
	fwd.units += FWD_CONN_UNITS;
	LIST_INSERT_HEAD(&fwd.conns, c, entry);
	/*
	 * A connect to loopback is usually done by the time it returns:
	 * then the bytes the client sent already move now rather than one
	 * loop iteration later. Otherwise (or on an error) wait for it.
	 */
	pfd.fd = ufd;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 1 && pfd.revents == POLLOUT) {
		c->state = FWD_CONN_OPEN;
		fwd_conn_pump(c);
		return 0;
	}
	c->uev = UV_WRITABLE;
	uv_poll_start(&c->upoll, c->uev, fwd_conn_cb);
	return 0;
}

static void
fwd_conn_cb(uv_poll_t *h, int status, int events)
{
	struct fwd_conn *c = h->data;
	socklen_t len = sizeof(int);
	int err = 0;

	if (c->state == FWD_CONN_CLOSING)
		return;
	if (status < 0) {
		/* POLLERR: a reset, or a refused connect. */
		fwd_conn_close(c, 1);
		return;
	}
	if (c->state == FWD_CONN_CONNECTING) {
		if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			fwd_conn_close(c, 1);
			return;
		}
		c->state = FWD_CONN_OPEN;
	}
	fwd_conn_pump(c);
}

/*
 * Move what can be moved from src to dst through d's pipe, a bounded
 * number of rounds (the loop comes back while the sockets stay ready).
 * Returns 0, or a negative errno when the connection must be reset.
 */
static int
fwd_dir_pump(struct fwd_dir *d, int src, int dst)
{
	const unsigned int fl = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
	ssize_t n;
	int round, moved;

	for (round = 0; round < FWD_PUMP_ROUNDS; round++) {
		moved = 0;
		if (!d->eof && !d->in_blocked && d->pending < FWD_PIPE_SIZE) {
			if (d->pipe[0] < 0) {
				if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) != 0)
					return -errno;
				(void)fcntl(d->pipe[1], F_SETPIPE_SZ,
				    FWD_PIPE_SIZE);
			}
			n = splice(src, NULL, d->pipe[1], NULL,
			    FWD_PIPE_SIZE - d->pending, fl);
			if (n > 0) {
				d->pending += (size_t)n;
				moved = 1;
			} else if (n == 0) {
				d->eof = 1;
				moved = 1;
			} else if (errno == EAGAIN) {
				/* Empty socket, or a pipe out of slots. */
				d->in_blocked = d->pending > 0;
			} else if (errno != EINTR) {
				return -errno;
			}
		}
		if (d->pending > 0) {
			n = splice(d->pipe[0], NULL, dst, NULL, d->pending, fl);
			if (n > 0) {
				d->pending -= (size_t)n;
				d->in_blocked = 0;
				moved = 1;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -errno;
			}
		}
		if (d->eof && d->pending == 0 && !d->shut) {
			if (shutdown(dst, SHUT_WR) != 0 && errno != ENOTCONN)
				return -errno;
			d->shut = 1;
		}
		if (!moved)
			break;
	}
	return 0;
}

/* Pump both directions, then close or re-arm the polls. */
static void
fwd_conn_pump(struct fwd_conn *c)
{
	if (fwd_dir_pump(&c->up, c->cfd, c->ufd) != 0 ||
	    fwd_dir_pump(&c->down, c->ufd, c->cfd) != 0) {
		fwd_conn_close(c, 1);
		return;
	}
	if (c->up.shut && c->down.shut) {
		fwd_conn_close(c, 0);
		return;
	}
	fwd_conn_arm(c);
}

/*
 * Wait for what the directions need: a source is read while its pipe has
 * room, a destination is waited on while its pipe holds bytes.
 */
static void
fwd_conn_arm(struct fwd_conn *c)
{
	int cev = 0, uev = 0;

	if (!c->up.eof && !c->up.in_blocked)
		cev |= UV_READABLE;
	if (c->down.pending > 0)
		cev |= UV_WRITABLE;
	if (!c->down.eof && !c->down.in_blocked)
		uev |= UV_READABLE;
	if (c->up.pending > 0)
		uev |= UV_WRITABLE;
	if (cev != c->cev) {
		c->cev = cev;
		if (cev != 0)
			uv_poll_start(&c->cpoll, cev, fwd_conn_cb);
		else
			uv_poll_stop(&c->cpoll);
	}
	if (uev != c->uev) {
		c->uev = uev;
		if (uev != 0)
			uv_poll_start(&c->upoll, uev, fwd_conn_cb);
		else
			uv_poll_stop(&c->upoll);
	}
}

/* Unlink c and close its handles; reset makes both peers see a reset
 * rather than an orderly end. c is freed by the second close callback. */
static void
fwd_conn_close(struct fwd_conn *c, int reset)
{
	struct linger lg = { 1, 0 };

	if (c->state == FWD_CONN_CLOSING)
		return;
	c->state = FWD_CONN_CLOSING;
	LIST_REMOVE(c, entry);
	if (reset) {
		(void)setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg));
		(void)setsockopt(c->ufd, SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg));
	}
	uv_close((uv_handle_t *)&c->cpoll, fwd_conn_closed);
	uv_close((uv_handle_t *)&c->upoll, fwd_conn_closed);
}

static void
fwd_conn_closed(uv_handle_t *h)
{
	struct fwd_conn *c = h->data;
	int i;

	if (--c->nopen > 0)
		return;
	close(c->cfd);
	close(c->ufd);
	for (i = 0; i < 2; i++) {
		if (c->up.pipe[i] >= 0)
			close(c->up.pipe[i]);
		if (c->down.pipe[i] >= 0)
			close(c->down.pipe[i]);
	}
	fwd.units -= FWD_CONN_UNITS;
	free(c);
}
