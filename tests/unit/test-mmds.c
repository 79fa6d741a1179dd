/*
 * test-mmds.c - the MMDS answer parser and metadata decoder on canned
 * answers.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmds.h"
#include "tap.h"

static int
http(const char *s, int eof, unsigned int *st, char **body)
{
	size_t off, len;
	int r;

	*body = NULL;
	r = mmds_http_parse((const uint8_t *)s, strlen(s), eof, st, &off,
	    &len);
	if (r == 0)
		*body = strndup(s + off, len);
	return r;
}

static void
test_http(void)
{
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 600 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2"
		    "\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\nX: y\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
		"garbage",
		"",
	};
	unsigned int st;
	char *b;
	size_t i;

	is_int(http("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ntoken", 0,
	    &st, &b), 0, "Content-Length body complete before EOF");
	is_int((int)st, 200, "status 200");
	is_str(b, "token", "body");
	free(b);
	is_int(http("HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\nabcdef", 1,
	    &st, &b), 0, "lower-case header, extra bytes ignored");
	is_str(b, "abc", "body cut at Content-Length");
	free(b);
	is_int(http("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nto", 0, &st,
	    &b), -EAGAIN, "short body: more needed");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nto", 1, &st,
	    &b), -EINVAL, "short body at EOF: error");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Len", 0, &st, &b), -EAGAIN,
	    "partial headers: more needed");
	is_int(http("HTTP/1.1 200 OK\r\nContent-Len", 1, &st, &b), -EINVAL,
	    "partial headers at EOF: error");
	is_int(http("HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\n{\"a\":1}", 1,
	    &st, &b), 0, "body delimited by the close");
	is_int((int)st, 404, "status 404 kept (not checked by the caller)");
	is_str(b, "{\"a\":1}", "close-delimited body");
	free(b);
	is_int(http("HTTP/1.1 200 OK\r\n\r\n{}", 0, &st, &b), -EAGAIN,
	    "no length, no EOF: more needed");
	is_int(http("HTTP/1.1 204\r\n\r\n", 1, &st, &b), 0,
	    "status line without reason");
	is_str(b, "", "empty body");
	free(b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(http(bad[i], 1, &st, &b), -EINVAL, "malformed %zu", i);
}

static void
test_opts(void)
{
	static const char *const bad[] = {
		"", "[]", "\"x\"", "{", "{\"instanceID\":1}",
		"{\"envID\":{}}", "{\"address\":true}",
		"{\"accessTokenHash\":[]}", "{\"instanceID\":\"a\\u0000b\"}",
		"{} x", "{\"a\":1,}", "null",
	};
	struct mmds_opts o;
	const char *full = "{\"instanceID\":\"isb1\",\"envID\":\"tpl\","
	    "\"address\":\"http://192.0.2.1/logs\",\"accessTokenHash\":"
	    "\"cf83\",\"other\":[1,{\"x\":null}]}";
	size_t i;

	is_int(mmds_opts_parse((const uint8_t *)full, strlen(full), &o), 0,
	    "orchestrator record parses");
	is_str(o.instance_id, "isb1", "instanceID");
	is_str(o.env_id, "tpl", "envID");
	is_str(o.address, "http://192.0.2.1/logs", "address");
	is_str(o.token_hash, "cf83", "accessTokenHash");
	mmds_opts_clear(&o);
	ok(o.instance_id == NULL && o.token_hash == NULL, "clear empties");
	is_int(mmds_opts_parse((const uint8_t *)"{\"instanceID\":null} \n",
	    21, &o), 0, "null member and trailing whitespace");
	ok(o.instance_id == NULL && o.env_id == NULL && o.address == NULL &&
	    o.token_hash == NULL, "nothing set from {instanceID:null}");
	mmds_opts_clear(&o);
	is_int(mmds_opts_parse((const uint8_t *)"{\"InstanceID\":\"x\"}", 18,
	    &o), 0, "other case parses");
	ok(o.instance_id == NULL, "keys are matched exactly");
	mmds_opts_clear(&o);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(mmds_opts_parse((const uint8_t *)bad[i], strlen(bad[i]),
		    &o), -EINVAL, "bad record %zu", i);
		ok(o.instance_id == NULL && o.env_id == NULL,
		    "bad record %zu sets nothing", i);
	}
}

int
main(void)
{
	test_http();
	test_opts();
	return done_testing();
}
