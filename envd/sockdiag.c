/*
 * sockdiag.c - inet_diag dump requests and answer parsing.
 *
 * The request asks the kernel to filter by state (idiag_states), so an
 * answer lists only listening sockets however many connections are open.
 * The layouts used are the stable uapi ones from <linux/inet_diag.h>.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sockdiag.h"

#define SOCKDIAG_TCP_LISTEN 10

_Static_assert(NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)) ==
    SOCKDIAG_REQUEST_SIZE, "request size");

size_t
sockdiag_request(void *buf, size_t size, int family, uint32_t seq)
{
	struct nlmsghdr nh;
	struct inet_diag_req_v2 req;

	if (size < SOCKDIAG_REQUEST_SIZE ||
	    (family != AF_INET && family != AF_INET6))
		return 0;
	memset(&nh, 0, sizeof(nh));
	nh.nlmsg_len = SOCKDIAG_REQUEST_SIZE;
	nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nh.nlmsg_seq = seq;
	memset(&req, 0, sizeof(req));
	req.sdiag_family = (uint8_t)family;
	req.sdiag_protocol = IPPROTO_TCP;
	req.idiag_states = 1U << SOCKDIAG_TCP_LISTEN;
	memcpy(buf, &nh, sizeof(nh));
	memcpy((char *)buf + NLMSG_HDRLEN, &req, sizeof(req));
	return SOCKDIAG_REQUEST_SIZE;
}

int
sockdiag_parse(const void *buf, size_t len, uint32_t seq,
    sockdiag_sock_cb cb, void *arg)
{
	const unsigned char *p = buf;
	struct nlmsghdr nh;
	struct nlmsgerr e;
	struct inet_diag_msg m;
	struct sockdiag_sock s;
	size_t off = 0, step;

	while (len - off >= sizeof(nh)) {
		memcpy(&nh, p + off, sizeof(nh));
		if (nh.nlmsg_len < sizeof(nh) || nh.nlmsg_len > len - off)
			return -EPROTO;
		step = NLMSG_ALIGN(nh.nlmsg_len);
		if (nh.nlmsg_seq != seq)
			goto next;
		switch (nh.nlmsg_type) {
		case NLMSG_DONE:
			return SOCKDIAG_DONE;
		case NLMSG_ERROR:
			if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(e.error)))
				return -EPROTO;
			memcpy(&e.error, p + off + NLMSG_HDRLEN,
			    sizeof(e.error));
			/* An error of 0 is an acknowledgement. */
			if (e.error == 0)
				goto next;
			return e.error < 0 && e.error > -4096 ? e.error :
			    -EPROTO;
		case SOCK_DIAG_BY_FAMILY:
			break;
		default:
			goto next;
		}
		if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(m)))
			return -EPROTO;
		memcpy(&m, p + off + NLMSG_HDRLEN, sizeof(m));
		if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
			goto next;
		memset(&s, 0, sizeof(s));
		s.family = m.idiag_family;
		s.state = m.idiag_state;
		s.port = ntohs(m.id.idiag_sport);
		memcpy(s.addr, m.id.idiag_src, s.family == AF_INET ? 4 : 16);
		s.inode = m.idiag_inode;
		cb(&s, arg);
next:
		/* The last message's padding may be missing. */
		off = step > len - off ? len : off + step;
	}
	if (off != len)
		return -EPROTO;
	return SOCKDIAG_MORE;
}

int
sockdiag_loopback(const struct sockdiag_sock *s)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff, 127, 0, 0, 1 };
	static const uint8_t lo6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 1 };

	if (s->family == AF_INET)
		return memcmp(s->addr, lo4, 4) == 0 ? AF_INET : 0;
	if (s->family != AF_INET6)
		return 0;
	if (memcmp(s->addr, mapped, 16) == 0)
		return AF_INET;
	return memcmp(s->addr, lo6, 16) == 0 ? AF_INET6 : 0;
}
