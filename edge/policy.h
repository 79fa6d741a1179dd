/*
 * policy.h - a sandbox's egress spec (allowInternetAccess, allowOut,
 * denyOut): classification, validation and the effective configuration.
 *
 * Pure: no I/O, no global state. The rules are those of the platform's API
 * (../shared/spec/network.md §1.2-§1.5).
 */
#ifndef EDGE_POLICY_H
#define EDGE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Upper bound on the entries of allowOut plus denyOut. */
#define POLICY_MAX_ENTRIES 4096

/* Longest domain pattern kept as a match key (a DNS name plus "*."). */
#define POLICY_MAX_DOMAIN 255

enum policy_kind {
	POLICY_IP,     /* a bare address (parses as Go's net.ParseIP) */
	POLICY_CIDR,   /* addr/len */
	POLICY_DOMAIN, /* anything else */
};

/* A network: addr has its host bits cleared. */
struct policy_net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned int len; /* prefix length */
};

/* How a domain key matches an observed hostname. */
enum policy_match {
	POLICY_EXACT,  /* equal to key */
	POLICY_SUFFIX, /* ends with key (".example.com"), or key "" (`*`):
			  any non-empty hostname */
};

struct policy_domain {
	enum policy_match match;
	char *key; /* lower case, no trailing dot; owned */
};

/* The effective egress configuration a sandbox's fence enforces. */
struct policy {
	struct policy_net *allow; /* allowedCidrs, DNS auto-allow included */
	size_t nallow;
	struct policy_net *deny; /* deniedCidrs */
	size_t ndeny;
	struct policy_domain *domains; /* the matchable allowOut domains */
	size_t ndomains;
	int has_domains; /* allowOut had at least one domain entry */
};

/*
 * Classify the string s of len bytes (it may hold NUL bytes, which make it
 * a domain). For an IP or a CIDR, *net (when not NULL) receives the
 * normalised network (a bare IPv4 is /32, a bare IPv6 /128) and
 * *unspecified whether the address part is 0.0.0.0 or :: (IPv4-mapped
 * included).
 */
enum policy_kind policy_classify(const char *s, size_t len,
    struct policy_net *net, int *unspecified);

/*
 * Check network (borrowed; NULL is no rules) as the platform's API does,
 * first failure only: denyOut entries (V4), allowOut entries (V5), domains
 * without "0.0.0.0/0" in denyOut (V6), and field types. Returns 0, or
 * -EINVAL with an owned message in *cause.
 */
int policy_validate(struct json_object *network, char **cause);

/*
 * Build the effective configuration of a validated network (borrowed;
 * NULL is no rules): allowInternetAccess false replaces the deny list by
 * 0.0.0.0/0, a domain in allowOut appends dns (an IPv4 or IPv6 address
 * text) to the allowed networks. Returns 0 and an owned *out (free with
 * policy_free), or -EINVAL with *cause as policy_validate.
 */
int policy_build(struct json_object *network, const char *dns,
    struct policy **out, char **cause);

/* 1 when p carries no rule at all (§1.6): nothing but the fixed ranges. */
int policy_is_open(const struct policy *p);

/* Free p; NULL is fine. */
void policy_free(struct policy *p);

/*
 * Write n as "addr/len" into buf of size bytes. Returns 0, or -ENOSPC.
 * POLICY_NET_STRLEN bytes are always enough.
 */
#define POLICY_NET_STRLEN 64
int policy_net_format(const struct policy_net *n, char *buf, size_t size);

/* 1 when addr (family's size in bytes) lies inside n. */
int policy_net_contains(const struct policy_net *n, int family,
    const uint8_t *addr);

#endif /* EDGE_POLICY_H */
