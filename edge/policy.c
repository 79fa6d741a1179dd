/*
 * policy.c - classification, validation and expansion of an egress spec.
 *
 * Classification follows Go's net.ParseIP and net.ParseCIDR, which the
 * platform's API uses: dotted-quad IPv4 without leading zeros, IPv6 with an
 * optional trailing dotted quad, no zones; a prefix length of decimal
 * digits (leading zeros allowed) up to 32 or 128. glibc's inet_pton accepts
 * exactly those address forms. Everything else is a "domain", accepted in
 * allowOut without a syntax check.
 *
 * A domain pattern becomes a match key: lower case (matching is ASCII
 * case-insensitive), one trailing dot dropped (the observed hostname loses
 * its own the same way), `*.` turned into a suffix. A pattern that no
 * hostname can ever equal (a port, a scheme, an inner `*`, white space) is
 * accepted and dropped: it would never match.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"
#include "xalloc.h"

#define POLICY_ALL_TRAFFIC "0.0.0.0/0"

static struct json_object *policy_field(struct json_object *, const char *,
    const char *);
static int policy_list(struct json_object *, const char *, const char *,
    struct json_object **, char **);
static int policy_domain_key(const char *, size_t, struct policy_domain *);

enum policy_kind
policy_classify(const char *s, size_t len, struct policy_net *net,
    int *unspecified)
{
	char text[64];
	const char *slash;
	struct policy_net n;
	unsigned int plen, max, i;
	size_t alen;
	int zero;

	if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len) != NULL)
		return POLICY_DOMAIN;
	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	memcpy(text, s, alen);
	text[alen] = '\0';
	memset(&n, 0, sizeof(n));
	if (inet_pton(AF_INET, text, n.addr) == 1) {
		n.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, text, n.addr) == 1) {
		n.family = AF_INET6;
		max = 128;
	} else
		return POLICY_DOMAIN;

	plen = max;
	if (slash != NULL) {
		if (slash + 1 == s + len)
			return POLICY_DOMAIN;
		plen = 0;
		for (i = alen + 1; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return POLICY_DOMAIN;
			plen = plen * 10 + (unsigned int)(s[i] - '0');
			if (plen > max)
				return POLICY_DOMAIN;
		}
	}

	zero = 1;
	for (i = 0; i < 16; i++) {
		/* ::ffff:0.0.0.0 is Go's IPv4 zero too */
		if (n.addr[i] != 0 && !(n.family == AF_INET6 &&
		    (i == 10 || i == 11) && n.addr[i] == 0xff &&
		    n.addr[10] == 0xff && n.addr[11] == 0xff)) {
			zero = 0;
			break;
		}
	}
	if (unspecified != NULL)
		*unspecified = zero;

	n.len = plen;
	for (i = 0; i < max / 8; i++) {
		if (i * 8 >= plen)
			n.addr[i] = 0;
		else if (i * 8 + 8 > plen)
			n.addr[i] &= (uint8_t)(0xff << (8 - (plen - i * 8)));
	}
	if (net != NULL)
		*net = n;
	return slash != NULL ? POLICY_CIDR : POLICY_IP;
}

/* The member name, or its snake_case alias; NULL when absent or null. */
static struct json_object *
policy_field(struct json_object *network, const char *name, const char *alias)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(network, name, &v) || v == NULL)
		json_object_object_get_ex(network, alias, &v);
	return v;
}

/* *out = the array of strings under name (NULL when absent). */
static int
policy_list(struct json_object *network, const char *name, const char *alias,
    struct json_object **out, char **cause)
{
	struct json_object *v;
	size_t i, n;

	*out = NULL;
	if ((v = policy_field(network, name, alias)) == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_array)) {
		*cause = xasprintf("network.%s must be an array of strings",
		    name);
		return -EINVAL;
	}
	n = json_object_array_length(v);
	if (n > POLICY_MAX_ENTRIES) {
		*cause = xasprintf("network.%s has more than %d entries",
		    name, POLICY_MAX_ENTRIES);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!json_object_is_type(json_object_array_get_idx(v, i),
		    json_type_string)) {
			*cause = xasprintf("network.%s must be an array of "
			    "strings", name);
			return -EINVAL;
		}
	}
	*out = v;
	return 0;
}

int
policy_validate(struct json_object *network, char **cause)
{
	struct json_object *allow = NULL, *deny = NULL, *v;
	const char *s;
	size_t i, n, len;
	int r, unspec, domains = 0, all = 0;
	enum policy_kind k;

	*cause = NULL;
	if (network == NULL)
		return 0;
	if (!json_object_is_type(network, json_type_object)) {
		*cause = xstrdup("network must be an object");
		return -EINVAL;
	}
	v = policy_field(network, "allowInternetAccess",
	    "allow_internet_access");
	if (v != NULL && !json_object_is_type(v, json_type_boolean)) {
		*cause = xstrdup("allowInternetAccess must be a boolean");
		return -EINVAL;
	}
	if ((r = policy_list(network, "allowOut", "allow_out", &allow,
	    cause)) != 0 ||
	    (r = policy_list(network, "denyOut", "deny_out", &deny,
	    cause)) != 0)
		return r;
	if (allow != NULL && deny != NULL &&
	    json_object_array_length(allow) + json_object_array_length(deny) >
	    POLICY_MAX_ENTRIES) {
		*cause = xasprintf("network.allowOut and denyOut have more "
		    "than %d entries", POLICY_MAX_ENTRIES);
		return -EINVAL;
	}

	n = deny != NULL ? json_object_array_length(deny) : 0;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(deny, i);
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		k = policy_classify(s, len, NULL, &unspec);
		if (k == POLICY_DOMAIN ||
		    (unspec && strcmp(s, POLICY_ALL_TRAFFIC) != 0)) {
			*cause = xasprintf("invalid denied CIDR %s", s);
			return -EINVAL;
		}
		if (strcmp(s, POLICY_ALL_TRAFFIC) == 0)
			all = 1;
	}
	n = allow != NULL ? json_object_array_length(allow) : 0;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(allow, i);
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		k = policy_classify(s, len, NULL, &unspec);
		if (k == POLICY_DOMAIN)
			domains = 1;
		else if (unspec && strcmp(s, POLICY_ALL_TRAFFIC) != 0) {
			*cause = xasprintf("invalid allowed address %s", s);
			return -EINVAL;
		}
	}
	if (domains && !all) {
		*cause = xstrdup("When specifying allowed domains in allow "
		    "out, you must include 'ALL_TRAFFIC' in deny out to block "
		    "all other traffic.");
		return -EINVAL;
	}
	return 0;
}

/*
 * Turn the allowOut domain s (len bytes) into a match key. Returns 1 with
 * *d filled (key owned), or 0 for a pattern that can never match.
 */
static int
policy_domain_key(const char *s, size_t len, struct policy_domain *d)
{
	char key[POLICY_MAX_DOMAIN + 1];
	size_t i, start = 0;

	if (len == 0 || len > POLICY_MAX_DOMAIN)
		return 0;
	for (i = 0; i < len; i++)
		key[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) :
		    s[i];
	key[len] = '\0';
	if (len == 1 && key[0] == '*') {
		d->match = POLICY_SUFFIX;
		d->key = xstrdup("");
		return 1;
	}
	d->match = POLICY_EXACT;
	if (len >= 2 && key[0] == '*' && key[1] == '.') {
		d->match = POLICY_SUFFIX;
		start = 1;
	}
	if (len - start > 1 && key[len - 1] == '.')
		key[--len] = '\0';
	if (len - start <= (d->match == POLICY_SUFFIX ? 1u : 0u))
		return 0;
	for (i = start; i < len; i++) {
		if (!((key[i] >= 'a' && key[i] <= 'z') ||
		    (key[i] >= '0' && key[i] <= '9') || key[i] == '-' ||
		    key[i] == '.' || key[i] == '_'))
			return 0;
	}
	d->key = xstrdup(key + start);
	return 1;
}

int
policy_build(struct json_object *network, const char *dns,
    struct policy **out, char **cause)
{
	struct json_object *allow = NULL, *deny = NULL, *v;
	struct policy *p = NULL;
	struct policy_net n;
	const char *s;
	size_t i, na, nd, len;
	int r, unspec, open_internet = 1;

	*out = NULL;
	if ((r = policy_validate(network, cause)) != 0)
		goto out;
	if (policy_classify(dns, strlen(dns), &n, &unspec) != POLICY_IP ||
	    unspec) {
		*cause = xasprintf("bad DNS server address %s", dns);
		r = -EINVAL;
		goto out;
	}
	p = xcalloc(1, sizeof(*p));
	if (network != NULL) {
		v = policy_field(network, "allowInternetAccess",
		    "allow_internet_access");
		if (v != NULL && !json_object_get_boolean(v))
			open_internet = 0;
		(void)policy_list(network, "allowOut", "allow_out", &allow,
		    cause);
		(void)policy_list(network, "denyOut", "deny_out", &deny,
		    cause);
	}
	na = allow != NULL ? json_object_array_length(allow) : 0;
	nd = deny != NULL ? json_object_array_length(deny) : 0;

	/* room for the DNS server and for 0.0.0.0/0 */
	p->allow = xcalloc(na + 1, sizeof(*p->allow));
	p->deny = xcalloc(nd + 1, sizeof(*p->deny));
	p->domains = xcalloc(na + 1, sizeof(*p->domains));
	for (i = 0; i < na; i++) {
		v = json_object_array_get_idx(allow, i);
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (policy_classify(s, len, &p->allow[p->nallow], NULL) !=
		    POLICY_DOMAIN) {
			p->nallow++;
			continue;
		}
		p->has_domains = 1;
		if (policy_domain_key(s, len, &p->domains[p->ndomains]))
			p->ndomains++;
	}
	if (p->has_domains)
		p->allow[p->nallow++] = n;
	if (!open_internet) {
		(void)policy_classify(POLICY_ALL_TRAFFIC,
		    strlen(POLICY_ALL_TRAFFIC), &p->deny[0], NULL);
		p->ndeny = 1;
	} else {
		for (i = 0; i < nd; i++) {
			v = json_object_array_get_idx(deny, i);
			(void)policy_classify(json_object_get_string(v),
			    (size_t)json_object_get_string_len(v),
			    &p->deny[p->ndeny++], NULL);
		}
	}
	*out = p;
	p = NULL;
	r = 0;
out:
	policy_free(p);
	return r;
}

int
policy_is_open(const struct policy *p)
{
	return p->nallow == 0 && p->ndeny == 0 && !p->has_domains;
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->ndomains; i++)
		free(p->domains[i].key);
	free(p->domains);
	free(p->allow);
	free(p->deny);
	free(p);
}

int
policy_net_format(const struct policy_net *n, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	int w;

	if (inet_ntop(n->family, n->addr, a, sizeof(a)) == NULL)
		return -EAFNOSUPPORT;
	w = snprintf(buf, size, "%s/%u", a, n->len);
	if (w < 0 || (size_t)w >= size)
		return -ENOSPC;
	return 0;
}

int
policy_net_contains(const struct policy_net *n, int family,
    const uint8_t *addr)
{
	unsigned int i, full = n->len / 8, rest = n->len % 8;

	if (family != n->family)
		return 0;
	for (i = 0; i < full; i++)
		if (addr[i] != n->addr[i])
			return 0;
	if (rest != 0 &&
	    (addr[full] & (uint8_t)(0xff << (8 - rest))) != n->addr[full])
		return 0;
	return 1;
}
