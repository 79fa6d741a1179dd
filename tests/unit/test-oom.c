/*
 * test-oom.c - OOM kill records and the kernel log watcher, the log being
 * a FIFO this test writes records into ($ENVD_KMSG_PATH).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "oom.h"
#include "tap.h"

struct rcase {
	const char *rec;
	int want;
	int64_t seq;
	const char *name;
};

static const struct rcase rcases[] = {
    {"3,843,52404240,-;Out of memory: Killed process 475 (python3) "
     "total-vm:2443300kB, anon-rss:1000kB",
	1, 843, "python3"},
    {"3,9,1,-;Memory cgroup out of memory: Killed process 12 (node) "
     "total-vm:10kB, anon-rss:1kB, file-rss:0kB",
	1, 9, "node"},
    {"6,10,1,-;Out of memory (oom_kill_allocating_task): Killed process "
     "7 (a b) total-vm:1kB",
	1, 10, "a b"},
    /* Names may hold ") total-vm:"-free parentheses; cut at the last. */
    {"3,11,1,-;Out of memory: Killed process 8 (x) y) total-vm:1kB", 1, 11,
	"x) y"},
    {"3,12,1,-;Out of memory: Killed process 8 (x) total-vm:1kB "
     "(z) total-vm:2kB",
	1, 12, "x) total-vm:1kB (z"},
    /* Only what precedes the first newline is the message. */
    {"3,13,1,-;Out of memory: Killed process 8 (sh) total-vm:1kB\n "
     "SUBSYSTEM=x",
	1, 13, "sh"},
    {"3,14,1,-;Out of memory: Killed process 8 (sh)\n total-vm:1kB", 1, 14,
	"Unknown"},
    {"3,15,1,-;Out of memory: Killed process x8 (sh) total-vm:1kB", 1, 15,
	"Unknown"},
    {"3,16,1,-;Out of memory: Killed process 8 sh total-vm:1kB", 1, 16,
	"Unknown"},
    /* User space writes facility 1 and up: priority 8 or more. */
    {"12,17,1,-;Out of memory: Killed process 8 (sh) total-vm:1kB", 0},
    {"-1,17,1,-;Out of memory: Killed process 8 (sh) total-vm:1kB", 0},
    /* Anchored at the start of the message. */
    {"3,18,1,-;x Out of memory: Killed process 8 (sh) total-vm:1kB", 0},
    {"3,19,1,-;Killed process 8 (sh) total-vm:1kB", 0},
    {"3,x,1,-;Out of memory: Killed process 8 (sh) total-vm:1kB", 0},
    {"3,20;Out of memory: Killed process 8 (sh) total-vm:1kB", 0},
    {"Out of memory: Killed process 8 (sh) total-vm:1kB", 0},
    {"6,21,1,-;random line", 0},
};

static void
test_records(void)
{
	char name[OOM_NAME_MAX + 1], big[600], longname[401];
	int64_t seq;
	size_t i;
	int r;

	for (i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
		seq = -1;
		r = oom_parse_record(
		    rcases[i].rec, strlen(rcases[i].rec), &seq, name);
		is_int(r, rcases[i].want, "record %zu: kill or not", i);
		if (r == 1 && rcases[i].want == 1) {
			ok(seq == rcases[i].seq, "record %zu: seq", i);
			is_str(name, rcases[i].name, "record %zu: name", i);
		}
	}
	memset(longname, 'n', 400);
	longname[400] = '\0';
	snprintf(big, sizeof(big),
	    "3,1,1,-;Out of memory: Killed process 1 "
	    "(%s) total-vm:1kB",
	    longname);
	is_int(oom_parse_record(big, strlen(big), &seq, name), 1, "long name");
	is_int((int)strlen(name), OOM_NAME_MAX, "cut at OOM_NAME_MAX bytes");
}

static void
alive_cb(uv_timer_t *t)
{
	(void)t;
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* The metrics fragment now, or "unknown". */
static char *
fragment(void)
{
	struct buf b;
	char *s;

	buf_init(&b, 64 * 1024);
	if (oom_append_json(&b) != 1) {
		buf_reset(&b);
		return strdup("unknown");
	}
	s = buf_steal_str(&b, NULL);
	buf_reset(&b);
	return s;
}

static void
spin(uv_loop_t *loop)
{
	int i;

	for (i = 0; i < 20; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(2000);
	}
}

static void
put(int fd, const char *rec)
{
	size_t len = strlen(rec);

	if (write(fd, rec, len) != (ssize_t)len)
		abort();
}

static void
test_watcher(void)
{
	char dir[] = "/tmp/test-oom-XXXXXX", path[64], rec[160], *s, want[64];
	uv_loop_t loop;
	uv_timer_t alive;
	int fd, i;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	if (mkfifo(path, 0600) != 0)
		abort();
	/* Read and write: the FIFO never sees its last writer leave. */
	fd = open(path, O_RDWR | O_NONBLOCK);
	setenv("ENVD_KMSG_PATH", path, 1);

	uv_loop_init(&loop);
	uv_timer_init(&loop, &alive);
	uv_timer_start(&alive, alive_cb, 1000, 1000);

	oom_start(&loop, 1);
	s = fragment();
	is_str(s, "unknown", "outside Firecracker: not watched");
	free(s);

	put(fd,
	    "6,1,1,-;Linux version\n"
	    "3,2,5,-;Out of memory: Killed process 10 (first) "
	    "total-vm:1kB\n SUBSYSTEM=memory\n");
	oom_start(&loop, 0);
	s = fragment();
	is_str(s, "unknown", "unknown before the log was read once");
	free(s);
	spin(&loop);
	s = fragment();
	is_str(s, ",\"oom_kills\":[{\"seq\":2,\"process\":\"first\"}]",
	    "a kill logged before the start is reported");
	free(s);

	put(fd,
	    "14,3,6,-;Out of memory: Killed process 11 (fake) "
	    "total-vm:1kB\n");
	put(fd,
	    "3,4,7,-;Memory cgroup out of memory: Killed process 12 "
	    "(py\"q) total-vm:1kB\n");
	spin(&loop);
	s = fragment();
	is_str(s,
	    ",\"oom_kills\":[{\"seq\":2,\"process\":\"first\"},"
	    "{\"seq\":4,\"process\":\"py\\\"q\"}]",
	    "a new kill is appended, a user-space record is not");
	free(s);

	for (i = 0; i < 40; i++) {
		snprintf(rec, sizeof(rec),
		    "3,%d,9,-;Out of memory: Killed "
		    "process %d (p%d) total-vm:1kB\n",
		    100 + i, i, i);
		put(fd, rec);
	}
	spin(&loop);
	s = fragment();
	snprintf(want, sizeof(want), ",\"oom_kills\":[{\"seq\":108,");
	ok(strncmp(s, want, strlen(want)) == 0, "the oldest are dropped");
	ok(strstr(s, "{\"seq\":139,\"process\":\"p39\"}]") != NULL,
	    "the newest is last");
	{
		int n = 0;
		const char *p = s;

		while ((p = strstr(p, "\"seq\"")) != NULL) {
			n++;
			p++;
		}
		is_int(n, OOM_KILLS_MAX, "at most %d kept", OOM_KILLS_MAX);
	}
	free(s);

	/* A record split across two writes is read whole. */
	put(fd, "3,200,9,-;Out of memory: Killed pro");
	spin(&loop);
	put(fd, "cess 5 (split) total-vm:1kB\n");
	spin(&loop);
	s = fragment();
	ok(strstr(s, "{\"seq\":200,\"process\":\"split\"}]") != NULL,
	    "a record over two reads");
	free(s);

	oom_stop();
	s = fragment();
	is_str(s, "unknown", "unknown after the stop");
	free(s);

	close(fd);
	uv_walk(&loop, close_walk, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	test_records();
	test_watcher();
	return done_testing();
}
