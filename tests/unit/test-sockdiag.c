/*
 * test-sockdiag.c - inet_diag request layout and answer parsing, on
 * answer bytes laid out by hand from the uapi offsets.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "sockdiag.h"
#include "tap.h"

#define MSG_LEN 88		/* nlmsghdr 16 + inet_diag_msg 72 */

struct seen {
	int n;
	struct sockdiag_sock s[16];
};

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* netlink is host byte order */
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* Append a netlink header at p; returns the bytes written (16). */
static size_t
hdr(uint8_t *p, uint32_t len, uint16_t type, uint32_t seq)
{
	memset(p, 0, 16);
	put32(p, len);
	put16(p + 4, type);
	put16(p + 6, 2);	/* NLM_F_MULTI */
	put32(p + 8, seq);
	put32(p + 12, 4242);
	return 16;
}

/* Append one SOCK_DIAG_BY_FAMILY message; returns MSG_LEN. */
static size_t
sock(uint8_t *p, uint32_t seq, uint8_t family, uint8_t state, uint16_t port,
    const uint8_t *addr, uint32_t inode)
{
	hdr(p, MSG_LEN, 20, seq);
	memset(p + 16, 0, 72);
	p[16] = family;
	p[17] = state;
	p[20] = (uint8_t)(port >> 8);	/* idiag_sport, big-endian */
	p[21] = (uint8_t)port;
	memcpy(p + 24, addr, family == AF_INET ? 4 : 16);
	put32(p + 16 + 68, inode);
	return MSG_LEN;
}

static void
collect(const struct sockdiag_sock *s, void *arg)
{
	struct seen *v = arg;

	if (v->n < 16)
		v->s[v->n] = *s;
	v->n++;
}

static const uint8_t lo4[4] = { 127, 0, 0, 1 };
static const uint8_t any4[4] = { 0, 0, 0, 0 };
static const uint8_t other4[4] = { 127, 0, 0, 2 };
static const uint8_t out4[4] = { 192, 0, 2, 2 };
static const uint8_t lo6[16] = { [15] = 1 };
static const uint8_t any6[16] = { 0 };
static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, [12] = 127,
	[15] = 1 };
static const uint8_t mapped_any[16] = { [10] = 0xff, [11] = 0xff };

/* A typical two-datagram IPv4 answer: sockets, then NLMSG_DONE alone. */
static size_t
answer(uint8_t *b, uint32_t seq)
{
	size_t n = 0;

	n += sock(b + n, seq, AF_INET, 10, 8080, lo4, 101);
	n += sock(b + n, seq, AF_INET, 10, 80, any4, 102);
	n += sock(b + n, seq, AF_INET, 10, 8081, other4, 103);
	n += sock(b + n, seq, AF_INET, 10, 8082, out4, 104);
	return n;
}

int
main(void)
{
	uint8_t req[SOCKDIAG_REQUEST_SIZE + 8], b[4096], m[4096];
	struct seen v;
	struct sockdiag_sock s;
	uint32_t u32;
	uint16_t u16;
	size_t n, len, i;
	int r, j, bad;

	/* The request. */
	is_int(sockdiag_request(req, sizeof(req), AF_INET, 7),
	    SOCKDIAG_REQUEST_SIZE, "IPv4 request is 72 bytes");
	memcpy(&u32, req, 4);
	is_int(u32, 72, "nlmsg_len");
	memcpy(&u16, req + 4, 2);
	is_int(u16, 20, "nlmsg_type SOCK_DIAG_BY_FAMILY");
	memcpy(&u16, req + 6, 2);
	is_int(u16, 0x301, "flags NLM_F_REQUEST|NLM_F_DUMP");
	memcpy(&u32, req + 8, 4);
	is_int(u32, 7, "sequence number");
	is_int(req[16], AF_INET, "sdiag_family");
	is_int(req[17], 6, "sdiag_protocol TCP");
	memcpy(&u32, req + 20, 4);
	is_int(u32, 1U << 10, "idiag_states = LISTEN only");
	is_int(sockdiag_request(req, sizeof(req), AF_INET6, 8),
	    SOCKDIAG_REQUEST_SIZE, "IPv6 request");
	is_int(req[16], AF_INET6, "IPv6 sdiag_family");
	is_int(sockdiag_request(req, 71, AF_INET, 1), 0, "short buffer: 0");
	is_int(sockdiag_request(req, sizeof(req), AF_UNIX, 1), 0,
	    "other family: 0");

	/* An IPv4 answer, then DONE. */
	len = answer(b, 5);
	memset(&v, 0, sizeof(v));
	r = sockdiag_parse(b, len, 5, collect, &v);
	is_int(r, SOCKDIAG_MORE, "datagram without DONE: more to come");
	is_int(v.n, 4, "four sockets reported");
	is_int(v.s[0].port, 8080, "port from network byte order");
	is_int(v.s[0].inode, 101, "inode");
	is_int(v.s[0].state, 10, "state LISTEN");
	is_int(sockdiag_loopback(&v.s[0]), AF_INET, "127.0.0.1 is loopback");
	is_int(sockdiag_loopback(&v.s[1]), 0, "0.0.0.0 is not");
	is_int(sockdiag_loopback(&v.s[2]), 0, "127.0.0.2 is not");
	is_int(sockdiag_loopback(&v.s[3]), 0, "192.0.2.2 is not");
	len = hdr(b, 20, 3, 5) + 4;
	memset(b + 16, 0, 4);
	memset(&v, 0, sizeof(v));
	is_int(sockdiag_parse(b, len, 5, collect, &v), SOCKDIAG_DONE,
	    "NLMSG_DONE ends the dump");
	is_int(v.n, 0, "no socket in DONE");

	/* IPv6: ::1, v4-mapped 127.0.0.1, ::, ::ffff:0.0.0.0; DONE in the
	 * same datagram, without padding after it. */
	n = 0;
	n += sock(b + n, 9, AF_INET6, 10, 9000, lo6, 1);
	n += sock(b + n, 9, AF_INET6, 10, 7000, mapped, 2);
	n += sock(b + n, 9, AF_INET6, 10, 443, any6, 3);
	n += sock(b + n, 8, AF_INET6, 10, 6000, lo6, 4);	/* stale seq */
	n += sock(b + n, 9, AF_INET6, 10, 444, mapped_any, 5);
	n += hdr(b + n, 20, 3, 9);
	memset(b + n, 0, 4);
	n += 4;
	memset(&v, 0, sizeof(v));
	is_int(sockdiag_parse(b, n, 9, collect, &v), SOCKDIAG_DONE,
	    "IPv6 answer with DONE");
	is_int(v.n, 4, "stale sequence number skipped");
	is_int(sockdiag_loopback(&v.s[0]), AF_INET6, "::1 is IPv6 loopback");
	is_int(sockdiag_loopback(&v.s[1]), AF_INET,
	    "::ffff:127.0.0.1 is IPv4 loopback");
	is_int(sockdiag_loopback(&v.s[2]), 0, ":: is not");
	is_int(sockdiag_loopback(&v.s[3]), 0, "::ffff:0.0.0.0 is not");
	is_int(v.s[1].port, 7000, "v4-mapped port");

	/* NLMSG_ERROR. */
	n = hdr(b, 36, 2, 3) + 20;
	put32(b + 16, (uint32_t)-EPERM);
	memset(b + 20, 0, 16);
	is_int(sockdiag_parse(b, n, 3, collect, &v), -EPERM,
	    "NLMSG_ERROR gives its errno");
	put32(b + 16, 0);
	is_int(sockdiag_parse(b, n, 3, collect, &v), SOCKDIAG_MORE,
	    "error 0 is an acknowledgement");
	put32(b + 16, 5);
	is_int(sockdiag_parse(b, n, 3, collect, &v), -EPROTO,
	    "positive error code is malformed");
	n = hdr(b, 18, 2, 3);
	is_int(sockdiag_parse(b, n + 2, 3, collect, &v), -EPROTO,
	    "short NLMSG_ERROR is malformed");

	/* Malformed framing. */
	len = answer(b, 5);
	hdr(b + MSG_LEN, 8, 20, 5);
	memset(&v, 0, sizeof(v));
	is_int(sockdiag_parse(b, len, 5, collect, &v), -EPROTO,
	    "nlmsg_len below the header: -EPROTO");
	is_int(v.n, 1, "sockets before it were reported");
	len = answer(b, 5);
	put32(b + MSG_LEN, 4000);
	is_int(sockdiag_parse(b, len, 5, collect, &v), -EPROTO,
	    "nlmsg_len past the datagram: -EPROTO");
	len = answer(b, 5);
	put32(b, 40);
	is_int(sockdiag_parse(b, len, 5, collect, &v), -EPROTO,
	    "diag message shorter than inet_diag_msg: -EPROTO");
	is_int(sockdiag_parse(b, 0, 5, collect, &v), SOCKDIAG_MORE,
	    "empty datagram: nothing, more to come");
	len = answer(b, 5);
	bad = 0;
	for (i = 1; i < len; i++) {
		if (i % MSG_LEN == 0)
			continue;
		memset(&v, 0, sizeof(v));
		r = sockdiag_parse(b, i, 5, collect, &v);
		if (r != -EPROTO || v.n != (int)(i / MSG_LEN))
			bad++;
	}
	is_int(bad, 0, "every truncation is -EPROTO after whole messages");

	/* Unaligned input parses the same. */
	len = answer(m + 1, 5);
	memset(&v, 0, sizeof(v));
	is_int(sockdiag_parse(m + 1, len, 5, collect, &v), SOCKDIAG_MORE,
	    "unaligned datagram parses");
	is_int(v.n, 4, "unaligned: four sockets");

	/* Deterministic mutation: bit flips and truncations stay bounded. */
	len = answer(b, 5);
	bad = 0;
	for (j = 0; j < 20000; j++) {
		memcpy(m, b, len);
		for (i = 0; i < 1 + rng() % 4; i++)
			m[rng() % len] ^= (uint8_t)(1U << (rng() % 8));
		n = len - rng() % 8;
		memset(&v, 0, sizeof(v));
		r = sockdiag_parse(m, n, 5, collect, &v);
		if ((r != SOCKDIAG_MORE && r != SOCKDIAG_DONE && r >= 0) ||
		    v.n > 4)
			bad++;
		for (i = 0; i < (size_t)v.n && i < 16; i++) {
			s = v.s[i];
			if (s.family != AF_INET && s.family != AF_INET6)
				bad++;
		}
	}
	is_int(bad, 0, "20000 mutated answers: bounded results");
	return done_testing();
}
