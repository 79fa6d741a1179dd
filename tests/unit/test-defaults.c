/*
 * test-defaults.c - the default user and workdir, and X-Envd-Defaults.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "tap.h"

int
main(void)
{
	char *h;

	is_str(defaults_user(), "root", "built-in user is root");
	ok(defaults_workdir() == NULL, "no workdir at start");
	is_int(defaults_fallback(), 1, "fallback at start");
	h = defaults_header();
	is_str(h, "{\"user\":\"root\",\"fallback\":true}",
	    "header at start leaves workdir out");
	free(h);

	defaults_set_user("");
	defaults_set_user(NULL);
	defaults_set_workdir("");
	is_int(defaults_fallback(), 1, "empty user changes nothing");
	ok(defaults_workdir() == NULL, "empty workdir changes nothing");

	defaults_set_workdir("/home/user");
	h = defaults_header();
	is_str(h, "{\"user\":\"root\",\"workdir\":\"/home/user\","
	    "\"fallback\":true}", "workdir set, user still built-in");
	free(h);

	defaults_set_user("user");
	is_str(defaults_user(), "user", "user set");
	is_int(defaults_fallback(), 0, "no fallback once a user was set");
	h = defaults_header();
	is_str(h, "{\"user\":\"user\",\"workdir\":\"/home/user\","
	    "\"fallback\":false}", "header as the orchestrator expects");
	free(h);

	defaults_set_workdir("/tmp/<a&b>");
	h = defaults_header();
	is_str(h, "{\"user\":\"user\",\"workdir\":\"/tmp/\\u003ca\\u0026b"
	    "\\u003e\",\"fallback\":false}", "Go's HTML escaping");
	free(h);

	defaults_free();
	is_str(defaults_user(), "root", "free returns to root");
	ok(defaults_workdir() == NULL, "free forgets the workdir");
	is_int(defaults_fallback(), 1, "free returns to fallback");
	return done_testing();
}
