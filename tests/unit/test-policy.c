/*
 * test-policy.c - egress spec classification, validation (every row of
 * network.md §1.3 V4-V6 and §1.2), allowInternetAccess and the DNS
 * auto-allow.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"
#include "tap.h"

#define V6MSG "When specifying allowed domains in allow out, you must " \
	"include 'ALL_TRAFFIC' in deny out to block all other traffic."

/* Validate the JSON text js; returns the message (static) or "ok". */
static const char *
check(const char *js)
{
	static char msg[512];
	struct json_object *o = json_tokener_parse(js);
	char *cause = NULL;
	int r;

	r = policy_validate(o, &cause);
	if (r == 0)
		snprintf(msg, sizeof(msg), "%s", cause == NULL ? "ok" : "?");
	else
		snprintf(msg, sizeof(msg), "%s", cause ? cause : "(none)");
	free(cause);
	json_object_put(o);
	return msg;
}

static const char *
kind(const char *s)
{
	struct policy_net n;
	char buf[POLICY_NET_STRLEN];
	static char out[128];
	int unspec = 0;

	switch (policy_classify(s, strlen(s), &n, &unspec)) {
	case POLICY_DOMAIN:
		return "domain";
	case POLICY_IP:
	case POLICY_CIDR:
		policy_net_format(&n, buf, sizeof(buf));
		snprintf(out, sizeof(out), "%s%s", buf, unspec ? " unspec" :
		    "");
		return out;
	}
	return "?";
}

static struct policy *
build(const char *js, const char *dns)
{
	struct json_object *o = js != NULL ? json_tokener_parse(js) : NULL;
	struct policy *p = NULL;
	char *cause = NULL;

	if (policy_build(o, dns, &p, &cause) != 0)
		printf("# build failed: %s\n", cause);
	free(cause);
	json_object_put(o);
	return p;
}

static const char *
nets(const struct policy_net *n, size_t count)
{
	static char out[1024];
	char buf[POLICY_NET_STRLEN];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < count; i++) {
		policy_net_format(&n[i], buf, sizeof(buf));
		if (i > 0)
			strcat(out, " ");
		strcat(out, buf);
	}
	return out;
}

int
main(void)
{
	struct policy *p;
	struct policy_net n;
	uint8_t a[16];
	int unspec;

	/* §1.2 classification */
	is_str(kind("1.2.3.4"), "1.2.3.4/32", "IPv4 is /32");
	is_str(kind("01.1.1.1"), "domain", "leading zero is not an IP");
	is_str(kind("1.2.3"), "domain", "three parts are not an IP");
	is_str(kind("256.1.1.1"), "domain", "octet over 255");
	is_str(kind("1.2.3.4/24"), "1.2.3.0/24", "host bits cleared");
	is_str(kind("1.2.3.4/024"), "1.2.3.0/24", "prefix leading zero ok");
	is_str(kind("1.2.3.4/33"), "domain", "/33 is a domain");
	is_str(kind("1.2.3.4/"), "domain", "empty prefix");
	is_str(kind("1.2.3.4/+1"), "domain", "signed prefix");
	is_str(kind("2001:db8::1"), "2001:db8::1/128", "bare IPv6 is /128");
	is_str(kind("2001:db8::/32"), "2001:db8::/32", "IPv6 CIDR");
	is_str(kind("2001:db8::/129"), "domain", "/129");
	is_str(kind("::ffff:1.2.3.4"), "::ffff:1.2.3.4/128", "mapped IPv6");
	is_str(kind("fe80::1%eth0"), "domain", "zone rejected");
	is_str(kind("0.0.0.0"), "0.0.0.0/32 unspec", "0.0.0.0 unspecified");
	is_str(kind("::"), "::/128 unspec", ":: unspecified");
	is_str(kind("::ffff:0.0.0.0"), "::ffff:0.0.0.0/128 unspec",
	    "mapped zero unspecified");
	is_str(kind("0.0.0.0/8"), "0.0.0.0/8 unspec", "0.0.0.0/8 unspec");
	is_str(kind("0.1.0.0/8"), "0.0.0.0/8", "0.1.0.0/8 is specified");
	is_str(kind(" 1.2.3.4"), "domain", "no trimming");
	is_str(kind("x.com:443"), "domain", "host:port is a domain");
	ok(policy_classify("1.2.3.4\0x", 9, &n, &unspec) == POLICY_DOMAIN,
	    "embedded NUL is a domain");

	/* V4 */
	is_str(check("{\"denyOut\":[\"not-a-cidr\"]}"),
	    "invalid denied CIDR not-a-cidr", "N01 denied garbage");
	is_str(check("{\"denyOut\":[\"example.com\"]}"),
	    "invalid denied CIDR example.com", "N02 denied domain");
	is_str(check("{\"denyOut\":[\"0.0.0.0/8\"]}"),
	    "invalid denied CIDR 0.0.0.0/8", "N06 denied unspecified");
	is_str(check("{\"denyOut\":[\"::/0\"]}"), "invalid denied CIDR ::/0",
	    "denied ::/0");
	is_str(check("{\"denyOut\":[\"1.2.3.4/33\"]}"),
	    "invalid denied CIDR 1.2.3.4/33", "denied /33");
	is_str(check("{\"denyOut\":[\"0.0.0.0/0\",\"8.8.8.8\",\"10.0.0.0/8\","
	    "\"2001:db8::1\"]}"), "ok", "denied valid entries");
	is_str(check("{\"denyOut\":[\"x\"],\"allowOut\":[\"0.0.0.0\"]}"),
	    "invalid denied CIDR x", "V4 before V5");
	/* V5 */
	is_str(check("{\"allowOut\":[\"0.0.0.0\"]}"),
	    "invalid allowed address 0.0.0.0", "N06 allowed 0.0.0.0");
	is_str(check("{\"allowOut\":[\"::/0\"]}"),
	    "invalid allowed address ::/0", "allowed ::/0");
	is_str(check("{\"allowOut\":[\"0.0.0.0/0\"]}"), "ok",
	    "allowed 0.0.0.0/0 is the exception");
	is_str(check("{\"allowOut\":[\"x.com\",\"0.0.0.0\"]}"),
	    "invalid allowed address 0.0.0.0", "V5 before V6");
	/* V6 */
	is_str(check("{\"allowOut\":[\"example.com\"]}"), V6MSG,
	    "N03 domain without deny-all");
	is_str(check("{\"allowOut\":[\"*.example.com\"],"
	    "\"denyOut\":[\"10.0.0.0/8\"]}"), V6MSG, "N04");
	is_str(check("{\"allowInternetAccess\":false,"
	    "\"allowOut\":[\"example.com\"]}"), V6MSG,
	    "N05 the flag does not satisfy V6");
	is_str(check("{\"allowOut\":[\"1.2.3.4/33\"]}"), V6MSG,
	    "/33 in allowOut is a domain");
	is_str(check("{\"allowOut\":[\"*.example.com\",\"8.8.8.8\","
	    "\"1.2.3.0/24\"],\"denyOut\":[\"0.0.0.0/0\"]}"), "ok", "N07");
	is_str(check("{\"allowOut\":[\"https://x.com\",\"x.com:443\",\"\"],"
	    "\"denyOut\":[\"0.0.0.0/0\"]}"), "ok", "odd domains accepted");
	is_str(check("{\"allowOut\":[\"10.0.0.1\",\"1.1.1.1\",\"1.1.1.1\"],"
	    "\"denyOut\":[\"1.1.1.1\"]}"), "ok",
	    "overlaps, duplicates, private ranges accepted");
	is_str(check("{\"allow_out\":[\"x.com\"],\"deny_out\":[\"0.0.0.0/0\"]}"),
	    "ok", "snake_case aliases");
	/* types */
	is_str(check("{\"allowOut\":\"1.1.1.1\"}"),
	    "network.allowOut must be an array of strings", "not an array");
	is_str(check("{\"denyOut\":[1]}"),
	    "network.denyOut must be an array of strings", "not strings");
	is_str(check("{\"allowInternetAccess\":\"no\"}"),
	    "allowInternetAccess must be a boolean", "flag type");
	is_str(check("[]"), "network must be an object", "network type");
	is_str(check("{}"), "ok", "empty object");
	is_str(check("{\"allowOut\":null,\"denyOut\":null}"), "ok", "nulls");

	/* §1.4, §1.5 effective config */
	p = build("{\"allowOut\":[\"*.Example.COM.\",\"198.51.100.7\","
	    "\"1.2.3.4/24\"],\"denyOut\":[\"0.0.0.0/0\"]}", "192.0.2.53");
	ok(p != NULL, "build N07 shape");
	if (p != NULL) {
		is_str(nets(p->allow, p->nallow),
		    "198.51.100.7/32 1.2.3.0/24 192.0.2.53/32",
		    "DNS server auto-allowed after the entries");
		is_str(nets(p->deny, p->ndeny), "0.0.0.0/0", "deny");
		is_int(p->ndomains, 1, "one domain");
		is_str(p->domains[0].key, ".example.com", "suffix key");
		is_int(p->domains[0].match, POLICY_SUFFIX, "suffix match");
		ok(!policy_is_open(p), "not open");
	}
	policy_free(p);
	p = build("{\"allowOut\":[\"1.1.1.1\"]}", "192.0.2.53");
	is_str(nets(p->allow, p->nallow), "1.1.1.1/32",
	    "no domain, no auto-allow");
	policy_free(p);
	p = build("{\"allowInternetAccess\":false,"
	    "\"allowOut\":[\"198.51.100.1\"],\"denyOut\":[\"1.1.1.1\"]}",
	    "192.0.2.53");
	is_str(nets(p->deny, p->ndeny), "0.0.0.0/0",
	    "allowInternetAccess false replaces the deny list");
	is_str(nets(p->allow, p->nallow), "198.51.100.1/32",
	    "and keeps allowOut");
	policy_free(p);
	p = build("{\"allowInternetAccess\":true}", "8.8.8.8");
	ok(p != NULL && policy_is_open(p), "true is open");
	policy_free(p);
	p = build(NULL, "8.8.8.8");
	ok(p != NULL && policy_is_open(p), "no network is open");
	policy_free(p);
	p = build("{\"allowOut\":[\"*\",\"API.example.test\",\"x.com:443\","
	    "\"foo.*.com\",\"*.\",\"\",\"a.b.\"],\"denyOut\":[\"0.0.0.0/0\"]}",
	    "8.8.8.8");
	ok(p != NULL && p->ndomains == 3, "unmatchable patterns dropped");
	if (p != NULL && p->ndomains == 3) {
		ok(p->domains[0].match == POLICY_SUFFIX &&
		    strcmp(p->domains[0].key, "") == 0, "* is any hostname");
		ok(p->domains[1].match == POLICY_EXACT &&
		    strcmp(p->domains[1].key, "api.example.test") == 0,
		    "exact lower-cased");
		is_str(p->domains[2].key, "a.b", "trailing dot dropped");
	}
	policy_free(p);
	{
		struct json_object *o = json_tokener_parse("{}");
		char *cause = NULL;
		ok(policy_build(o, "not-an-ip", &p, &cause) == -EINVAL &&
		    p == NULL && cause != NULL, "bad DNS address refused");
		free(cause);
		json_object_put(o);
	}

	(void)policy_classify("10.0.0.0/8", 10, &n, NULL);
	inet_pton(AF_INET, "10.255.1.2", a);
	ok(policy_net_contains(&n, AF_INET, a), "contains");
	inet_pton(AF_INET, "11.0.0.1", a);
	ok(!policy_net_contains(&n, AF_INET, a), "not contains");
	return done_testing();
}
