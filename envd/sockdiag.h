/*
 * sockdiag.h - NETLINK_SOCK_DIAG (inet_diag) dump requests and answers.
 *
 * Pure code: it builds the request datagram and parses answer datagrams
 * held in memory; the caller owns the netlink socket and does the I/O.
 * Every field is read with memcpy, so input need not be aligned.
 */
#ifndef ENVD_SOCKDIAG_H
#define ENVD_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>

/* Size of the request datagram sockdiag_request() writes. */
#define SOCKDIAG_REQUEST_SIZE 72

/* sockdiag_parse() results besides a negative errno. */
#define SOCKDIAG_MORE 0		/* the dump continues in a later datagram */
#define SOCKDIAG_DONE 1		/* NLMSG_DONE seen: the dump is complete */

/* One socket from a dump answer. */
struct sockdiag_sock {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t state;		/* TCP state (TCP_LISTEN = 10) */
	uint16_t port;		/* local port, host byte order */
	uint8_t addr[16];	/* local address; 4 bytes used for AF_INET */
	uint32_t inode;		/* socket inode */
};

/* Called once per socket in an answer; s is borrowed for the call. */
typedef void (*sockdiag_sock_cb)(const struct sockdiag_sock *s, void *arg);

/*
 * Write into buf (size bytes, at least SOCKDIAG_REQUEST_SIZE) a
 * SOCK_DIAG_BY_FAMILY dump request for the TCP sockets of family
 * (AF_INET or AF_INET6) in state LISTEN, with sequence number seq.
 * Returns the length written, or 0 when buf is too small or family is
 * neither.
 */
size_t sockdiag_request(void *buf, size_t size, int family, uint32_t seq);

/*
 * Parse one answer datagram (len bytes of buf) of the dump with sequence
 * number seq, calling cb for each socket. Messages of another sequence
 * number are skipped. Returns SOCKDIAG_DONE when the datagram ends the
 * dump, SOCKDIAG_MORE when more datagrams follow, -EPROTO when a message is
 * truncated or malformed (sockets before it have been reported), or the
 * negative errno of an NLMSG_ERROR answer.
 */
int sockdiag_parse(const void *buf, size_t len, uint32_t seq,
    sockdiag_sock_cb cb, void *arg);

/*
 * Classify a socket's local address: AF_INET for exactly 127.0.0.1 (also
 * as the v4-mapped ::ffff:127.0.0.1), AF_INET6 for exactly ::1, 0 for
 * anything else (wildcards, other 127/8 addresses, outside addresses).
 */
int sockdiag_loopback(const struct sockdiag_sock *s);

#endif
