/*
 * forward.h - forward loopback TCP listeners to the sandbox's outside
 * addresses (spec firecracker.md §8).
 *
 * Once per tick the daemon asks the kernel (one inet_diag dump per address
 * family, on a non-blocking netlink socket polled by the loop) for the
 * listening TCP sockets. Each port with a listener bound to exactly
 * 127.0.0.1 or ::1 (v4-mapped included) gets a listener of its own on the
 * same port of every forward address; each connection accepted there is
 * joined to the loopback listener, and bytes move both ways with splice(2)
 * through a pipe per direction. Wildcard listeners and the daemon's own
 * port are never forwarded. When the loopback listener goes away, the
 * forward stops accepting; connections already joined run to their end.
 *
 * All of it runs on the caller's libuv loop and never blocks it.
 */
#ifndef ENVD_FORWARD_H
#define ENVD_FORWARD_H

#include <uv.h>

#define FORWARD_FC_ADDR "169.254.0.21"
#define FORWARD_DEFAULT_TICK_MS 1000
#define FORWARD_ADDR_MAX 16

/*
 * Start forwarding on loop. addrs (borrowed) is a comma-separated list of
 * IPv4/IPv6 addresses to listen on, or NULL/"" for the default: under
 * Firecracker (isnotfc 0) FORWARD_FC_ADDR, otherwise the addresses of the
 * non-loopback interfaces that are up (IPv6 link-local ones excepted),
 * read again every tick so that forwards follow an address added or
 * removed (at most FORWARD_ADDR_MAX at a time). self_port is never
 * forwarded; tick_ms is the scan period. The forwarder's descriptors
 * stay under the soft RLIMIT_NOFILE (which the caller raises to the hard
 * limit first, as main() does: each connection holds six descriptors)
 * less a reserve (a quarter of it, 32 to 1024) for the rest of the
 * daemon; past that, new forwarded
 * connections are reset. Returns 0, or -EINVAL with *cause (owned by the
 * caller) for a bad address list, or a negative errno when the netlink
 * socket cannot be opened. An explicit list with no address at all logs
 * that and returns 0, forwarding off.
 */
int forward_start(uv_loop_t *loop, const char *addrs, int isnotfc,
    int self_port, unsigned int tick_ms, char **cause);

/*
 * Stop scanning, close every forward listener and every forwarded
 * connection; the memory goes in the handles' close callbacks, during the
 * loop's next iteration. Safe without forward_start() and twice.
 */
void forward_stop(void);

/*
 * Parse a comma-separated address list into out (at most max entries,
 * each a sockaddr_in or sockaddr_in6 with port 0). Empty items are
 * ignored. Returns the number of addresses, or -EINVAL with *cause set
 * (owned by the caller) for an item that is not an address or for more
 * than max items. Exposed for tests.
 */
int forward_parse_addrs(const char *list, struct sockaddr_storage *out,
    int max, char **cause);

#endif
