/*
 * test-init.c - decoding /init bodies, RFC 3339 timestamps and the clock
 * rule.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "init.h"
#include "init_req.h"
#include "tap.h"
#include "xalloc.h"

/* Parse a copy of s; the copy is checked for leftover token bytes. */
static int
parse(const char *s, struct init_req **out, const char *secret)
{
	size_t n = strlen(s);
	uint8_t *b = (uint8_t *)xmemdup0(s, n);
	int r;

	r = init_req_parse(b, n, out);
	if (secret != NULL && secret[0] != '\0')
		ok(memmem(b, n, secret, strlen(secret)) == NULL,
		    "token bytes are gone from the buffer");
	free(b);
	return r;
}

static void
test_empty(void)
{
	static const char *const empties[] = { "", " ", "\r\n\t ", "null",
	    " null\n", "{}", " { } " };
	struct init_req *ir;
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		ir = NULL;
		is_int(parse(empties[i], &ir, NULL), 0, "empty body %zu parses",
		    i);
		ok(ir != NULL && ir->token == NULL && !ir->has_env &&
		    !ir->has_ts && ir->default_user == NULL,
		    "empty body %zu sets nothing", i);
		init_req_free(ir);
	}
}

static void
test_full(void)
{
	struct init_req *ir = NULL;
	size_t i;
	int foo = 0, empty = 0;

	is_int(parse("{\"accessToken\":\"s3cr3t-t0ken\",\"defaultUser\":"
	    "\"user\",\"defaultWorkdir\":\"/home/user\",\"envVars\":{\"FOO\":"
	    "\"bar\",\"NUL\":null},\"hyperloopIP\":\"10.11.0.1\","
	    "\"lifecycleID\":\"x\",\"timestamp\":"
	    "\"2026-08-21T10:15:30.123456789Z\",\"caBundle\":\"PEM\","
	    "\"volumeMounts\":[],\"unknown\":[1,{\"a\":[true,false,null]},"
	    "-1.5e+3]}", &ir, "s3cr3t-t0ken"), 0, "orchestrator body parses");
	if (ir == NULL)
		return;
	is_mem(ir->token, ir->token_len, "s3cr3t-t0ken", 12, "token");
	is_str(ir->default_user, "user", "defaultUser");
	is_str(ir->default_workdir, "/home/user", "defaultWorkdir");
	is_str(ir->ca_bundle, "PEM", "caBundle");
	ok(ir->has_env && ir->nenv == 2, "two env vars");
	for (i = 0; i < ir->nenv; i++) {
		if (strcmp(ir->env_keys[i], "FOO") == 0 &&
		    strcmp(ir->env_values[i], "bar") == 0)
			foo = 1;
		if (strcmp(ir->env_keys[i], "NUL") == 0 &&
		    strcmp(ir->env_values[i], "") == 0)
			empty = 1;
	}
	ok(foo, "FOO=bar");
	ok(empty, "a null env value is the empty string");
	ok(ir->has_ts, "timestamp present");
	is_int(ir->ts_sec, 1787307330, "timestamp seconds");
	is_int(ir->ts_nsec, 123456789, "timestamp nanoseconds");
	ok(ir->hyperloop_ip != NULL && !ir->has_volume_mounts, "hyperloopIP kept, volumes ignored");
	init_req_free(ir);

	ir = NULL;
	is_int(parse("{\"envVars\":{}}", &ir, NULL), 0, "empty envVars");
	ok(ir != NULL && ir->has_env && ir->nenv == 0,
	    "empty envVars still replaces");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"envVars\":null,\"defaultUser\":null}", &ir, NULL), 0,
	    "null fields");
	ok(ir != NULL && !ir->has_env && ir->default_user == NULL,
	    "null leaves fields unset");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"envVars\":{\"A\":\"1\",\"A\":\"2\"}}", &ir, NULL), 0,
	    "duplicate env key");
	ok(ir != NULL && ir->nenv == 1 && strcmp(ir->env_values[0], "2") == 0,
	    "duplicate env key: last wins");
	init_req_free(ir);
}

static void
test_tokens(void)
{
	struct init_req *ir;

	ir = NULL;
	is_int(parse("{\"accessToken\":\"a\\\\b\"}", &ir, NULL), -EINVAL,
	    "escaped backslash in token: 400");
	is_int(parse("{\"accessToken\":\"\\u0061bc\"}", &ir, NULL), -EINVAL,
	    "\\u escape in token: 400");
	is_int(parse("{\"accessToken\":\"ab\\\"c\"}", &ir, NULL), -EINVAL,
	    "escaped quote in token: 400");
	is_int(parse("{\"accessToken\":\"\"}", &ir, NULL), -EINVAL,
	    "empty token: 400");
	is_int(parse("{\"accessToken\":5}", &ir, NULL), -EINVAL,
	    "numeric token: 400");
	is_int(parse("{\"accessToken\":[\"x\"]}", &ir, NULL), -EINVAL,
	    "array token: 400");
	is_int(parse("{\"accessToken\":\"x\",\"accessToken\":\"\"}", &ir,
	    NULL), -EINVAL, "any bad occurrence: 400");
	ok(ir == NULL, "no request on failure");

	is_int(parse("{\"accessToken\":null}", &ir, NULL), 0, "null token");
	ok(ir != NULL && ir->token == NULL, "null token is absent");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"accessToken\":\"first\",\"accessToken\":\"second\"}",
	    &ir, "first"), 0, "two tokens");
	ok(ir != NULL && ir->token_len == 6 &&
	    memcmp(ir->token, "second", 6) == 0, "last token wins");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"accessToken\":\"first\",\"accessToken\":null}", &ir,
	    "first"), 0, "token then null");
	ok(ir != NULL && ir->token == NULL, "a later null unsets the token");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"access\\u0054oken\":\"tok\\/x\"}", &ir, NULL),
	    -EINVAL, "escaped key names the token too");
	is_int(parse("{\"access\\u0054oken\":\"plain-token\"}", &ir,
	    "plain-token"), 0, "escaped key, plain token");
	ok(ir != NULL && ir->token_len == 11, "escaped key: token taken");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"nested\":{\"accessToken\":\"a\\\\b\"}}", &ir, NULL),
	    0, "nested accessToken is just data");
	ok(ir != NULL && ir->token == NULL, "nested accessToken ignored");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"AccessToken\":\"x\"}", &ir, NULL), 0,
	    "keys are exact");
	ok(ir != NULL && ir->token == NULL, "AccessToken is not accessToken");
	init_req_free(ir);
	ir = NULL;
	is_int(parse("{\"accessToken\":\"\xc3\xa9t\xff\"}", &ir, NULL), 0,
	    "token bytes are raw bytes");
	ok(ir != NULL && ir->token_len == 4, "non-UTF-8 token kept as is");
	init_req_free(ir);
}

static void
test_bad(void)
{
	static const char *const bad[] = {
		"{", "}", "{\"a\":1,}", "{'a':1}", "{\"a\":NaN}", "[]", "1",
		"\"x\"", "true", "{} x", "{}{}", "{\"a\":\"\x01\"}",
		"{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}",
		"{\"a\":1e}", "{\"a\" 1}", "{a:1}", "{\"a\":tru}",
		"{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "nul", "{\"a\":[1,]}",
		"{\"a\":/*c*/1}",
		"{\"envVars\":\"x\"}", "{\"envVars\":[]}",
		"{\"envVars\":{\"A\":1}}", "{\"envVars\":{\"A\":{}}}",
		"{\"envVars\":{\"A\":\"a\\u0000b\"}}",
		"{\"defaultUser\":5}", "{\"defaultUser\":\"r\\u0000\"}",
		"{\"defaultWorkdir\":true}", "{\"caBundle\":{}}",
		"{\"timestamp\":5}", "{\"timestamp\":\"yesterday\"}",
		"{\"hyperloopIP\":1}", "{\"lifecycleID\":[]}",
		"{\"volumeMounts\":{}}", "{\"volumeMounts\":[1]}",
	};
	struct init_req *ir = NULL;
	char deep[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(parse(bad[i], &ir, NULL), -EINVAL, "bad body %s",
		    bad[i]);
	ok(ir == NULL, "no request from bad bodies");

	memset(deep, 0, sizeof(deep));
	strcpy(deep, "{\"x\":");
	for (i = 0; i < 70; i++)
		strcat(deep, "[");
	for (i = 0; i < 70; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	is_int(parse(deep, &ir, NULL), -EINVAL, "nesting deeper than 64");
	memset(deep, 0, sizeof(deep));
	strcpy(deep, "{\"x\":");
	for (i = 0; i < 60; i++)
		strcat(deep, "[");
	for (i = 0; i < 60; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	is_int(parse(deep, &ir, NULL), 0, "nesting of 61 is fine");
	init_req_free(ir);
}

struct tcase {
	const char *s;
	int ok;
	int64_t sec;
	long nsec;
};

static const struct tcase tcases[] = {
	{ "1970-01-01T00:00:00Z", 1, 0, 0 },
	{ "2026-08-21T10:15:30Z", 1, 1787307330, 0 },
	{ "2026-08-21T10:15:30.1Z", 1, 1787307330, 100000000 },
	{ "2026-08-21T10:15:30.123456789Z", 1, 1787307330, 123456789 },
	{ "2026-08-21T10:15:30.1234567891234Z", 1, 1787307330, 123456789 },
	{ "2026-08-21T12:15:30.5+02:00", 1, 1787307330, 500000000 },
	{ "2026-08-21T04:45:30-05:30", 1, 1787307330, 0 },
	{ "2026-08-21T10:15:30-00:00", 1, 1787307330, 0 },
	{ "1969-12-31T23:59:59.999999999Z", 1, -1, 999999999 },
	{ "2024-02-29T00:00:00Z", 1, 1709164800, 0 },
	{ "2000-02-29T00:00:00Z", 1, 951782400, 0 },
	{ "0001-01-01T00:00:00Z", 1, -62135596800LL, 0 },
	{ "9999-12-31T23:59:59Z", 1, 253402300799LL, 0 },
	{ "2023-02-29T00:00:00Z", 0, 0, 0 },
	{ "1900-02-29T00:00:00Z", 0, 0, 0 },
	{ "2026-04-31T00:00:00Z", 0, 0, 0 },
	{ "2026-13-01T00:00:00Z", 0, 0, 0 },
	{ "2026-00-01T00:00:00Z", 0, 0, 0 },
	{ "2026-01-00T00:00:00Z", 0, 0, 0 },
	{ "2026-01-01T24:00:00Z", 0, 0, 0 },
	{ "2026-01-01T00:60:00Z", 0, 0, 0 },
	{ "2026-01-01T00:00:60Z", 0, 0, 0 },
	{ "2026-01-01t00:00:00Z", 0, 0, 0 },
	{ "2026-01-01 00:00:00Z", 0, 0, 0 },
	{ "2026-01-01T00:00:00z", 0, 0, 0 },
	{ "2026-01-01T00:00:00", 0, 0, 0 },
	{ "2026-01-01T00:00:00.Z", 0, 0, 0 },
	{ "2026-01-01T00:00:00,5Z", 0, 0, 0 },
	{ "2026-01-01T00:00:00+24:00", 0, 0, 0 },
	{ "2026-01-01T00:00:00+01:60", 0, 0, 0 },
	{ "2026-01-01T00:00:00+0100", 0, 0, 0 },
	{ "2026-01-01T00:00:00+01", 0, 0, 0 },
	{ "2026-01-01T00:00:00ZZ", 0, 0, 0 },
	{ "2026-1-01T00:00:00Z", 0, 0, 0 },
	{ "+2026-01-01T00:00:00Z", 0, 0, 0 },
	{ "", 0, 0, 0 },
};

static void
test_time(void)
{
	int64_t sec;
	long nsec;
	size_t i;
	int r;

	for (i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++) {
		r = init_req_parse_time(tcases[i].s, strlen(tcases[i].s), &sec,
		    &nsec);
		if (tcases[i].ok)
			ok(r == 0 && sec == tcases[i].sec &&
			    nsec == tcases[i].nsec, "time %s", tcases[i].s);
		else
			is_int(r, -EINVAL, "bad time \"%s\"", tcases[i].s);
	}
}

static void
test_clock(void)
{
	const int64_t ms = 1000000, host = 1787307330LL * 1000000000;

	ok(!init_clock_should_set(host, host), "equal: leave the clock");
	ok(!init_clock_should_set(host - 50 * ms, host),
	    "exactly 50 ms behind: leave");
	ok(init_clock_should_set(host - 50 * ms - 1, host),
	    "more than 50 ms behind: set");
	ok(!init_clock_should_set(host + 5000 * ms, host),
	    "exactly 5 s ahead: leave");
	ok(init_clock_should_set(host + 5000 * ms + 1, host),
	    "more than 5 s ahead: set");
	ok(!init_clock_should_set(host + 4000 * ms, host), "4 s ahead: leave");
	ok(init_clock_should_set(0, INT64_MAX), "far future host: set");
	ok(init_clock_should_set(host, INT64_MIN), "far past host: set");
	is_str(init_default_user(), "root", "default user starts as root");
	ok(init_default_workdir() == NULL, "no default workdir at start");
}

/* Flip bits and truncate: every variant must decode or fail cleanly. */
static void
test_mutations(void)
{
	static const char seed[] = "{\"accessToken\":\"tok\",\"envVars\":"
	    "{\"A\":\"b\"},\"timestamp\":\"2026-08-21T10:15:30.5Z\","
	    "\"defaultUser\":\"user\",\"x\":[1,-2.5e3,true,null,\"\\u00e9\"]}";
	struct init_req *ir;
	uint8_t b[sizeof(seed)];
	size_t n = sizeof(seed) - 1, i, bit;
	int fails = 0, oks = 0;

	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(b, seed, n);
			b[i] ^= (uint8_t)(1u << bit);
			ir = NULL;
			if (init_req_parse(b, n, &ir) == 0)
				oks++;
			else
				fails++;
			init_req_free(ir);
		}
		memcpy(b, seed, n);
		ir = NULL;
		if (init_req_parse(b, i, &ir) == 0)
			oks++;
		else
			fails++;
		init_req_free(ir);
	}
	ok(oks + fails == (int)(n * 9), "%d mutants parsed, %d rejected", oks,
	    fails);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_empty();
	test_full();
	test_tokens();
	test_bad();
	test_time();
	test_clock();
	test_mutations();
	return done_testing();
}
