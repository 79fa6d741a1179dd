/*
 * nft.c - one nftables table per sandbox.
 *
 * The table has two base chains on prerouting, both ignoring every packet
 * that did not arrive on the sandbox's host-end interface:
 *   filter (priority -150, before NAT): a source other than the sandbox's
 *     address is dropped (a sandbox that changes its own address, or
 *     flushes its own ruleset, still cannot get out); established flows
 *     pass; IPv6 is dropped (the guest has no IPv6 path, so IPv6 entries
 *     open nothing); the always-denied ranges are dropped for every
 *     protocol; other protocols than TCP meet allow before deny;
 *   nat (priority dstnat): every new TCP connection is redirected to one
 *     of the egress proxy's listeners, chosen by its destination, so the
 *     kernel accepts it first and the proxy decides (a blocked connection
 *     is accepted and closed, as the platform documents).
 * Replacing a table is "add; delete; define" in one transaction: the
 * first command makes the delete valid when there was no table.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "nft.h"
#include "xalloc.h"

#define NFT_TABLE_PREFIX "envd_egress_"

/* network.md §2.3, IPv4 part; the IPv6 ones are covered by dropping IPv6. */
static const char *const nft_fixed_deny[] = { "10.0.0.0/8", "100.64.0.0/10",
	"127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16" };

static int nft_set(struct buf *, const char *, const struct policy_net *,
    size_t);
static int nft_iface_ok(const char *);
static int nft_note_ok(const char *);

int
nft_id_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > NFT_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '_' ||
		    id[i] == '-'))
			return 0;
	}
	return 1;
}

static int
nft_iface_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= IF_NAMESIZE)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '"' || s[i] == '\\')
			return 0;
	return 1;
}

static int
nft_note_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n > NFT_NOTE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < ' ' || s[i] > '~' || s[i] == '"' || s[i] == '\\')
			return 0;
	return 1;
}

/* Append a named IPv4 interval set holding the IPv4 networks of n. */
static int
nft_set(struct buf *b, const char *name, const struct policy_net *n,
    size_t count)
{
	char text[POLICY_NET_STRLEN];
	size_t i;
	int first = 1, r;

	if ((r = buf_puts(b, "\tset ")) != 0 || (r = buf_puts(b, name)) != 0 ||
	    (r = buf_puts(b, " {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
	    "\t\tauto-merge\n")) != 0)
		return r;
	for (i = 0; i < count; i++) {
		if (n[i].family != AF_INET)
			continue;
		if ((r = policy_net_format(&n[i], text, sizeof(text))) != 0 ||
		    (r = buf_puts(b, first ? "\t\telements = { " : ", ")) != 0 ||
		    (r = buf_puts(b, text)) != 0)
			return r;
		first = 0;
	}
	if (!first && (r = buf_puts(b, " }\n")) != 0)
		return r;
	return buf_puts(b, "\t}\n");
}

int
nft_render(const struct nft_fence *f, char **text, char **cause)
{
	struct policy_net fixed[sizeof(nft_fixed_deny) / sizeof(*nft_fixed_deny)];
	struct in_addr a;
	struct buf b;
	char *line = NULL;
	size_t i, len;
	int r;

	*text = NULL;
	buf_init(&b, 1u << 24);
	if (!nft_id_ok(f->id) || !nft_iface_ok(f->iface) ||
	    !nft_note_ok(f->note) || inet_pton(AF_INET, f->addr, &a) != 1) {
		*cause = xasprintf("bad sandbox ID, interface, state directory "
		    "or IPv4 address for the egress table");
		r = -EINVAL;
		goto out;
	}
	for (i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		(void)policy_classify(nft_fixed_deny[i],
		    strlen(nft_fixed_deny[i]), &fixed[i], NULL);

	line = xasprintf("add table inet " NFT_TABLE_PREFIX "%s\n"
	    "delete table inet " NFT_TABLE_PREFIX "%s\n"
	    "table inet " NFT_TABLE_PREFIX "%s {\n\tcomment \"%s\"\n", f->id,
	    f->id, f->id, f->note);
	if ((r = buf_puts(&b, line)) != 0 ||
	    (r = nft_set(&b, "fixed", fixed, sizeof(fixed) / sizeof(*fixed))) !=
	    0 ||
	    (r = nft_set(&b, "allow", f->policy->allow, f->policy->nallow)) !=
	    0 ||
	    (r = nft_set(&b, "deny", f->policy->deny, f->policy->ndeny)) != 0)
		goto nospace;
	free(line);
	line = xasprintf("\tchain filter {\n"
	    "\t\ttype filter hook prerouting priority -150; policy accept;\n"
	    "\t\tiifname != \"%s\" return\n"
	    "\t\tmeta nfproto ipv6 drop\n"
	    "\t\tip saddr != %s drop\n"
	    "\t\tct state established,related accept\n"
	    "\t\tip daddr @fixed drop\n"
	    "\t\tmeta l4proto tcp accept\n"
	    "\t\tip daddr @allow accept\n"
	    "\t\tip daddr @deny drop\n"
	    "\t}\n"
	    "\tchain nat {\n"
	    "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	    "\t\tiifname != \"%s\" return\n"
	    "\t\tmeta l4proto != tcp return\n",
	    f->iface, f->addr, f->iface);
	if ((r = buf_puts(&b, line)) != 0)
		goto nospace;
	if (f->policy->has_domains) {
		free(line);
		line = xasprintf("\t\ttcp dport 80 ip daddr != @allow "
		    "redirect to :%d\n"
		    "\t\ttcp dport 443 ip daddr != @allow redirect to :%d\n",
		    NFT_PORT_HTTP, NFT_PORT_TLS);
		if ((r = buf_puts(&b, line)) != 0)
			goto nospace;
	}
	free(line);
	line = xasprintf("\t\tip daddr @allow meta l4proto tcp redirect to :%d\n"
	    "\t\tip daddr @deny meta l4proto tcp redirect to :%d\n"
	    "\t\tmeta l4proto tcp redirect to :%d\n"
	    "\t}\n"
	    "}\n", NFT_PORT_PASS, NFT_PORT_BLOCK, NFT_PORT_PASS);
	if ((r = buf_puts(&b, line)) != 0)
		goto nospace;
	*text = buf_steal_str(&b, &len);
	r = 0;
	goto out;
nospace:
	*cause = xstrdup("egress table too large");
out:
	free(line);
	buf_reset(&b);
	return r;
}

int
nft_run(const char *script, char **cause)
{
	struct nft_ctx *ctx;
	const char *err;
	size_t n;
	int r = 0;

	if ((ctx = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL) {
		*cause = xstrdup("cannot create an nftables context");
		return -ENOMEM;
	}
	if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		*cause = xstrdup("cannot buffer nftables output");
		r = -ENOMEM;
		goto out;
	}
	if (nft_run_cmd_from_buffer(ctx, script) != 0) {
		err = nft_ctx_get_error_buffer(ctx);
		n = err != NULL ? strlen(err) : 0;
		while (n > 0 && err[n - 1] == '\n')
			n--;
		*cause = xasprintf("nftables: %.*s", (int)n,
		    n > 0 ? err : "failed (are we root?)");
		r = -EIO;
	}
out:
	nft_ctx_free(ctx);
	return r;
}

int
nft_apply(const struct nft_fence *f, char **cause)
{
	char *script = NULL;
	int r;

	if ((r = nft_render(f, &script, cause)) == 0)
		r = nft_run(script, cause);
	free(script);
	return r;
}

int
nft_delete(const char *id, char **cause)
{
	char *script;
	int r;

	if (!nft_id_ok(id)) {
		*cause = xasprintf("bad sandbox ID for the egress table");
		return -EINVAL;
	}
	script = xasprintf("add table inet " NFT_TABLE_PREFIX "%s\n"
	    "delete table inet " NFT_TABLE_PREFIX "%s\n", id, id);
	r = nft_run(script, cause);
	free(script);
	return r;
}

int
nft_note(const char *id, char *note, char **cause)
{
	struct nft_ctx *ctx = NULL;
	const char *out, *p, *q;
	char *cmd = NULL;
	int r;

	if (!nft_id_ok(id)) {
		*cause = xasprintf("bad sandbox ID for the egress table");
		return -EINVAL;
	}
	if ((ctx = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL ||
	    nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		*cause = xstrdup("cannot create an nftables context");
		r = -ENOMEM;
		goto out;
	}
	cmd = xasprintf("list table inet " NFT_TABLE_PREFIX "%s", id);
	if (nft_run_cmd_from_buffer(ctx, cmd) != 0) {
		/* "No such file or directory" is the only way to tell */
		out = nft_ctx_get_error_buffer(ctx);
		if (out != NULL && strstr(out, "No such file") != NULL) {
			r = -ENOENT;
			goto out;
		}
		*cause = xasprintf("nftables: cannot list the egress table "
		    "of %s", id);
		r = -EIO;
		goto out;
	}
	out = nft_ctx_get_output_buffer(ctx);
	note[0] = '\0';
	if (out != NULL && (p = strstr(out, "\n\tcomment \"")) != NULL) {
		p += strlen("\n\tcomment \"");
		if ((q = strchr(p, '"')) != NULL &&
		    (size_t)(q - p) <= NFT_NOTE_MAX) {
			memcpy(note, p, (size_t)(q - p));
			note[q - p] = '\0';
		}
	}
	r = 0;
out:
	free(cmd);
	if (ctx != NULL)
		nft_ctx_free(ctx);
	return r;
}

int
nft_list_ids(char ***ids, size_t *n, char **cause)
{
	static const char line[] = "table inet " NFT_TABLE_PREFIX;
	struct nft_ctx *ctx;
	const char *out, *p, *e;
	char *id;
	size_t cap = 0;
	int r = 0;

	*ids = NULL;
	*n = 0;
	if ((ctx = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL ||
	    nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		*cause = xstrdup("cannot create an nftables context");
		r = -ENOMEM;
		goto out;
	}
	if (nft_run_cmd_from_buffer(ctx, "list tables inet") != 0) {
		*cause = xstrdup("nftables: cannot list the tables");
		r = -EIO;
		goto out;
	}
	out = nft_ctx_get_output_buffer(ctx);
	for (p = out != NULL ? out : ""; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		if ((e = strchr(p, '\n')) == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) <= sizeof(line) - 1 ||
		    strncmp(p, line, sizeof(line) - 1) != 0)
			continue;
		id = xstrndup(p + sizeof(line) - 1,
		    (size_t)(e - p) - (sizeof(line) - 1));
		if (!nft_id_ok(id)) {
			free(id);
			continue;
		}
		if (*n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			*ids = xreallocarray(*ids, cap, sizeof(**ids));
		}
		(*ids)[(*n)++] = id;
	}
out:
	if (ctx != NULL)
		nft_ctx_free(ctx);
	return r;
}

int
nft_route_iface(const char *addr, char *name, char **cause)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	union {
		struct nlmsghdr nh;
		char raw[8192];
	} resp;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 5 };
	struct nlmsghdr *nh;
	struct rtattr *rta;
	struct in_addr dst;
	ssize_t n;
	size_t len;
	int fd = -1, r, oif = 0;

	if (inet_pton(AF_INET, addr, &dst) != 1) {
		*cause = xasprintf("bad IPv4 address %s", addr);
		return -EINVAL;
	}
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = (unsigned int)time(NULL);
	req.rt.rtm_family = AF_INET;
	req.rt.rtm_dst_len = 32;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = RTA_DST;
	rta->rta_len = RTA_LENGTH(sizeof(dst));
	memcpy(RTA_DATA(rta), &dst, sizeof(dst));
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + rta->rta_len;

	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	    NETLINK_ROUTE)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa,
	    sizeof(sa)) < 0 ||
	    (n = recv(fd, &resp, sizeof(resp), 0)) < 0) {
		r = -errno;
		*cause = xasprintf("route lookup for %s: %s", addr,
		    strerror(errno));
		goto out;
	}
	for (nh = &resp.nh; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR)
			break;
		if (nh->nlmsg_type != RTM_NEWROUTE)
			continue;
		len = RTM_PAYLOAD(nh);
		for (rta = RTM_RTA(NLMSG_DATA(nh)); RTA_OK(rta, len);
		    rta = RTA_NEXT(rta, len))
			if (rta->rta_type == RTA_OIF &&
			    RTA_PAYLOAD(rta) >= sizeof(int))
				memcpy(&oif, RTA_DATA(rta), sizeof(int));
	}
	if (oif <= 0 || if_indextoname((unsigned int)oif, name) == NULL) {
		*cause = xasprintf("no route to %s", addr);
		r = -ENETUNREACH;
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}
