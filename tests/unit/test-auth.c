/*
 * test-auth.c - Basic header parsing, the /init token decision table and
 * the guarded token store.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "tap.h"

struct basic_case {
	const char *header;
	int ok;			/* 1: a user, 0: "no user" */
	const char *name;
	size_t namelen;
};

static const struct basic_case basic_cases[] = {
	{ "Basic dXNlcjo=", 1, "user", 4 },		/* "user:" */
	{ "Basic cm9vdDo=", 1, "root", 4 },		/* "root:" */
	{ "basic dXNlcjo=", 1, "user", 4 },		/* scheme case */
	{ "BASIC dXNlcjo=", 1, "user", 4 },
	{ "Basic Og==", 1, "", 0 },			/* ":" */
	{ "Basic dXNlcjpwYXNz", 1, "user", 4 },	/* "user:pass" */
	{ "Basic YTpiOmM=", 1, "a", 1 },		/* "a:b:c" */
	{ "Basic dXNlcg==", 0, NULL, 0 },		/* "user": no ':' */
	{ "Basic dXNlcjo", 0, NULL, 0 },		/* unpadded */
	{ "Basic dXNlcjo=x", 0, NULL, 0 },		/* after padding */
	{ "Basic dXNlcjo=dXNlcjo=", 0, NULL, 0 },
	{ "Basic dXNl\r\ncjo=", 1, "user", 4 },	/* CR LF skipped */
	{ "Basic dXNlc-o=", 0, NULL, 0 },		/* URL alphabet */
	{ "Basic  dXNlcjo=", 0, NULL, 0 },		/* two spaces */
	{ "Basic", 0, NULL, 0 },
	{ "Basic ", 0, NULL, 0 },			/* empty: no ':' */
	{ "Bearer dXNlcjo=", 0, NULL, 0 },
	{ "BasicdXNlcjo=", 0, NULL, 0 },
	{ "Basic =", 0, NULL, 0 },
	{ "Basic Y===", 0, NULL, 0 },
	{ "Basic YTo=", 1, "a", 1 },			/* "a:" */
	{ "Basic YTp=", 1, "a", 1 },			/* stray low bits */
	{ "Basic YQA6", 1, "a\0", 2 },			/* "a\0:" */
	{ "Basic w6k6", 1, "\xc3\xa9", 2 },		/* "é:" */
};

struct row {
	int stored, sent, equal;
	enum auth_mmds mmds;
	enum auth_init_verdict want;
	const char *what;
};

/* auth.md §2 decision table, row by row. */
static const struct row rows[] = {
	{ 0, 0, 0, AUTH_MMDS_ABSENT, AUTH_INIT_ALLOW, "- - absent: open" },
	{ 0, 1, 0, AUTH_MMDS_ABSENT, AUTH_INIT_ALLOW, "- X absent: set" },
	{ 1, 1, 1, AUTH_MMDS_ABSENT, AUTH_INIT_ALLOW, "X X absent: re-send" },
	{ 1, 1, 1, AUTH_MMDS_MATCH, AUTH_INIT_ALLOW, "X X match: re-send" },
	{ 1, 1, 1, AUTH_MMDS_MISMATCH, AUTH_INIT_ALLOW,
	    "X X other hash: re-send" },
	{ 1, 1, 0, AUTH_MMDS_ABSENT, AUTH_INIT_MISMATCH,
	    "X Y absent: validation failed" },
	{ 1, 0, 0, AUTH_MMDS_ABSENT, AUTH_INIT_RESET_DENIED,
	    "X - absent: reset not authorized" },
	{ 1, 1, 0, AUTH_MMDS_MATCH, AUTH_INIT_ALLOW, "X Y hash(Y): rotate" },
	{ 1, 0, 0, AUTH_MMDS_MATCH, AUTH_INIT_ALLOW, "X - hash(\"\"): clear" },
	{ 1, 0, 0, AUTH_MMDS_MISMATCH, AUTH_INIT_RESET_DENIED,
	    "X - hash(Z): reset not authorized" },
	{ 0, 1, 0, AUTH_MMDS_MISMATCH, AUTH_INIT_MISMATCH,
	    "- Y hash(Z): validation failed" },
	{ 0, 0, 0, AUTH_MMDS_MISMATCH, AUTH_INIT_RESET_DENIED,
	    "- - hash(Z): reset not authorized" },
	{ 0, 1, 0, AUTH_MMDS_MATCH, AUTH_INIT_ALLOW, "- Y hash(Y): set" },
};

struct seen {
	uint8_t copy[64];
	size_t len;
	int calls;
};

static int
grab(const uint8_t *tok, size_t len, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->len = len;
	if (len <= sizeof(s->copy))
		memcpy(s->copy, tok, len);
	return 42;
}

/* A printable form of s for test names. */
static const char *
printable(const char *s)
{
	static char out[128];
	size_t n = 0;

	for (; *s != '\0' && n + 5 < sizeof(out); s++) {
		if (*s == '\r' || *s == '\n') {
			out[n++] = '\\';
			out[n++] = *s == '\r' ? 'r' : 'n';
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return out;
}

static void
test_basic(void)
{
	const struct basic_case *c;
	char *name;
	size_t i, nlen;
	int r;

	for (i = 0; i < sizeof(basic_cases) / sizeof(basic_cases[0]); i++) {
		c = &basic_cases[i];
		r = auth_parse_basic(c->header, strlen(c->header), &name,
		    &nlen);
		if (c->ok) {
			ok(r == 0 && name != NULL && nlen == c->namelen &&
			    memcmp(name, c->name, nlen) == 0,
			    "\"%s\" names a %zu-byte user",
			    printable(c->header), c->namelen);
		} else {
			ok(r == -ENOENT && name == NULL && nlen == 0,
			    "\"%s\" is no user", printable(c->header));
		}
		free(name);
	}
	r = auth_parse_basic(NULL, 0, &name, &nlen);
	ok(r == -ENOENT && name == NULL, "NULL header is no user");
}

static void
test_decide(void)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		is_int(auth_init_decide(rows[i].stored, rows[i].sent,
		    rows[i].equal, rows[i].mmds), rows[i].want, "%s",
		    rows[i].what);
	is_str(auth_init_message(AUTH_INIT_MISMATCH),
	    "access token validation failed", "mismatch message");
	is_str(auth_init_message(AUTH_INIT_RESET_DENIED),
	    "access token reset not authorized", "reset message");
	ok(auth_init_message(AUTH_INIT_ALLOW) == NULL, "allow: no message");
}

static void
test_store(void)
{
	static const uint8_t t1[] = "tok-one", t2[] = "tok-two!";
	struct seen s;

	memset(&s, 0, sizeof(s));
	ok(!auth_token_is_set(), "no token at start");
	ok(!auth_token_matches("", 0), "nothing matches without a token");
	ok(!auth_token_matches(NULL, 0), "NULL matches nothing");
	is_int(auth_with_token(grab, &s), -ENOENT, "with_token: -ENOENT");
	is_int(s.calls, 0, "callback not called without a token");

	/* The isnotfc decision table against the real store. */
	is_int(auth_init_check(NULL, 0), AUTH_INIT_ALLOW,
	    "open + no token: allow");
	is_int(auth_init_check(t1, 7), AUTH_INIT_ALLOW,
	    "open + token: first-time setup");
	is_int(auth_token_set(t1, 0), -EINVAL, "empty token refused");
	is_int(auth_token_set(t1, 7), 0, "token set");
	ok(auth_token_is_set(), "token is set");
	ok(auth_token_matches("tok-one", 7), "same token matches");
	ok(!auth_token_matches("tok-one", 6), "prefix does not match");
	ok(!auth_token_matches("tok-onex", 8), "longer does not match");
	ok(!auth_token_matches("tok-two", 7), "other token does not match");
	ok(!auth_token_matches("", 0), "empty does not match");
	is_int(auth_init_check(t1, 7), AUTH_INIT_ALLOW, "re-send: allow");
	is_int(auth_init_check(t2, 8), AUTH_INIT_MISMATCH,
	    "other token: validation failed");
	is_int(auth_init_check(NULL, 0), AUTH_INIT_RESET_DENIED,
	    "no token: reset not authorized");

	is_int(auth_with_token(grab, &s), 42, "with_token returns fn's value");
	is_mem(s.copy, s.len, "tok-one", 7, "callback sees the token bytes");

	is_int(auth_token_set(t2, 8), 0, "token replaced");
	ok(auth_token_matches("tok-two!", 8), "new token matches");
	ok(!auth_token_matches("tok-one", 7), "old token no longer matches");

	auth_token_clear();
	ok(!auth_token_is_set(), "token cleared");
	ok(!auth_token_matches("tok-two!", 8), "cleared token matches nothing");
	auth_token_clear();
	ok(!auth_token_is_set(), "clearing twice is harmless");
	is_int(auth_token_set(t1, 7), 0, "set again");
	auth_free();
	ok(!auth_token_is_set(), "auth_free forgets the token");
}

/* Lowercase hex SHA-512 of s, computed independently of auth.c. */
static void
hexhash(const char *s, char out[129])
{
	unsigned char md[crypto_hash_sha512_BYTES];

	crypto_hash_sha512(md, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(out, 129, md, sizeof(md));
}

/*
 * firecracker.md §5: every situation row, through the hash check and the
 * verdict, against a real stored token. S, R and H are "" for absent;
 * H "-" stands for a failed read (absent).
 */
static void
test_firecracker_rows(void)
{
	static const struct {
		const char *what, *s, *r, *h;
		enum auth_init_verdict want;
	} fr[] = {
		{ "template build", "", "", "-", AUTH_INIT_ALLOW },
		{ "secure sandbox from open template", "", "T", "T",
		  AUTH_INIT_ALLOW },
		{ "open sandbox from open template", "", "", "=",
		  AUTH_INIT_ALLOW },
		{ "resume, same token", "T", "T", "T", AUTH_INIT_ALLOW },
		{ "rotation to U", "T", "U", "U", AUTH_INIT_ALLOW },
		{ "clearing", "T", "", "=", AUTH_INIT_ALLOW },
		{ "retry, no MMDS", "T", "T", "-", AUTH_INIT_ALLOW },
		{ "forged from the guest", "T", "X", "T", AUTH_INIT_MISMATCH },
		{ "reset without hash(\"\")", "T", "", "T",
		  AUTH_INIT_RESET_DENIED },
		{ "reset, MMDS down", "T", "", "-", AUTH_INIT_RESET_DENIED },
		{ "wrong token, MMDS down", "T", "X", "-", AUTH_INIT_MISMATCH },
		{ "first token, other hash", "", "X", "T",
		  AUTH_INIT_MISMATCH },
		{ "empty hash is absent", "T", "U", "", AUTH_INIT_MISMATCH },
	};
	char hex[129], upper[129];
	const char *h;
	size_t i, k;

	for (i = 0; i < sizeof(fr) / sizeof(fr[0]); i++) {
		auth_token_clear();
		if (fr[i].s[0] != '\0')
			auth_token_set((const uint8_t *)fr[i].s,
			    strlen(fr[i].s));
		if (strcmp(fr[i].h, "-") == 0)
			h = NULL;
		else if (fr[i].h[0] == '\0')
			h = "";
		else {
			hexhash(strcmp(fr[i].h, "=") == 0 ? "" : fr[i].h, hex);
			h = hex;
		}
		is_int(auth_init_check_mmds(fr[i].r[0] != '\0' ?
		    (const uint8_t *)fr[i].r : NULL, strlen(fr[i].r),
		    auth_mmds_classify(h, fr[i].r[0] != '\0' ?
		    (const uint8_t *)fr[i].r : NULL, strlen(fr[i].r))),
		    fr[i].want, "firecracker: %s", fr[i].what);
	}
	hexhash("", hex);
	is_str(hex, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921"
	    "d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327a"
	    "f927da3e", "hash of the empty string");
	is_int(auth_mmds_classify(hex, NULL, 0), AUTH_MMDS_MATCH,
	    "no token matches hash(\"\")");
	hexhash("T", hex);
	for (k = 0; k < 129; k++)
		upper[k] = (char)toupper((unsigned char)hex[k]);
	is_int(auth_mmds_classify(upper, (const uint8_t *)"T", 1),
	    AUTH_MMDS_MISMATCH, "upper-case hex is another hash");
	hex[127] = '\0';
	is_int(auth_mmds_classify(hex, (const uint8_t *)"T", 1),
	    AUTH_MMDS_MISMATCH, "a truncated hash does not match");
	ok(auth_init_fast((const uint8_t *)"X", 1) == 0, "fast path: other");
	auth_token_set((const uint8_t *)"X", 1);
	ok(auth_init_fast((const uint8_t *)"X", 1) == 1, "fast path: same");
	ok(auth_init_fast(NULL, 0) == 0, "fast path needs a sent token");
	auth_token_clear();
}

int
main(void)
{
	auth_init();
	test_basic();
	test_decide();
	test_firecracker_rows();
	test_store();
	return done_testing();
}
