/*
 * test-log.c - the JSON log line formats (request lines are formatted by
 * hand, so their numbers and escaping are checked here).
 */
#include "config.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

/* Read what was logged since the last call (stderr is a temporary file). */
static char *
logged(FILE *f, long *pos)
{
	static char out[8192];
	size_t n;

	fflush(stderr);
	fseek(f, *pos, SEEK_SET);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	*pos += (long)n;
	return out;
}

static int
matches(const char *s, const char *re)
{
	regex_t rx;
	int r;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	r = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return r;
}

#define TIME_RE "^\\{\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\","

int
main(void)
{
	char path[] = "/tmp/envd-test-log.XXXXXX", longpath[3000], *s;
	long pos = 0;
	FILE *f;
	int fd;

	if ((fd = mkstemp(path)) < 0 || dup2(fd, STDERR_FILENO) < 0)
		return 1;
	unlink(path);
	f = fdopen(fd, "r");

	log_request(7, "GET", "/health", 204, 1234567);
	s = logged(f, &pos);
	ok(matches(s, TIME_RE "\"level\":\"info\","), "request line prefix");
	ok(strstr(s, "\"message\":\"request\",\"id\":7,\"method\":\"GET\","
	    "\"path\":\"/health\",\"status\":204,\"duration_ms\":1.235}\n") != NULL,
	    "request line body, duration rounded to the microsecond");

	log_request(18446744073709551615ULL, "POST", "/a\"b\\c\n", 0, 0);
	s = logged(f, &pos);
	ok(strstr(s, "\"id\":18446744073709551615,\"method\":\"POST\","
	    "\"path\":\"/a\\\"b\\\\c\\u000a\",\"status\":0,"
	    "\"duration_ms\":0.000}\n") != NULL, "escaping, zero, max id");

	log_request(1, "GET", "/", 500, 999999500);
	s = logged(f, &pos);
	ok(strstr(s, "\"status\":500,\"duration_ms\":1000.000}\n") != NULL,
	    "rounding carries into the milliseconds");

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	log_request(2, "GET", longpath, 200, 5000);
	s = logged(f, &pos);
	ok(strlen(s) < 2048 && s[strlen(s) - 1] == '\n' &&
	    strstr(s, "\"status\":200,\"duration_ms\":0.005}\n") != NULL,
	    "a long path is cut, the line stays whole");

	log_msg(LOG_WARN, "hello %d \"x\"", 42);
	s = logged(f, &pos);
	ok(matches(s, TIME_RE "\"level\":\"warn\",\"message\":\"hello 42 "
	    "\\\\\"x\\\\\"\"\\}\n$"), "message line");

	log_set_buffered(1);
	log_msg(LOG_ERROR, "buffered");
	s = logged(f, &pos);
	is_str(s, "", "buffered lines wait for a flush");
	log_flush();
	s = logged(f, &pos);
	ok(matches(s, TIME_RE "\"level\":\"error\",\"message\":\"buffered\"\\}\n$"),
	    "flush writes them");
	return done_testing();
}
