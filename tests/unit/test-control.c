/*
 * test-control.c - FreezeResult encoding and the cgroup helpers that do not
 * need a cgroup2 mount (memory.max, the walk over a plain directory tree).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "control.h"
#include "tap.h"

static int
count_cb(const char *path, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

int
main(void)
{
	struct control_freeze_result res;
	char tmpl[] = "/tmp/test-control.XXXXXX", p[256];
	struct buf b;
	int n = 0, r;

	memset(&res, 0, sizeof(res));
	res.mode = "legacy";
	res.frozen = 2;
	res.requested = 2;
	res.wait_ms = 1;
	buf_init(&b, 4096);
	is_int(control_format_result(&res, &b), 0, "format legacy");
	buf_append(&b, "", 1);
	is_str((const char *)buf_ptr(&b),
	    "{\"allowlisted\":0,\"failed\":0,\"frozen\":2,\"mode\":\"legacy\","
	    "\"notFrozen\":0,\"preFrozen\":0,\"requested\":2,\"sweepMs\":0,"
	    "\"truncated\":false,\"unobservable\":0,\"vanished\":0,"
	    "\"visited\":0,\"waitMs\":1}\n",
	    "legacy example of upstream-0.9.md 5.1, byte for byte");
	buf_reset(&b);

	res.mode = "hierarchy";
	res.allowlisted = 3;
	res.failed = 1;
	res.not_frozen = 4;
	res.pre_frozen = 5;
	res.sweep_ms = 9000000000LL;
	res.truncated = 1;
	res.unobservable = 6;
	res.vanished = 7;
	res.visited = 8;
	res.wait_ms = -1;
	buf_init(&b, 4096);
	is_int(control_format_result(&res, &b), 0, "format hierarchy");
	buf_append(&b, "", 1);
	is_str((const char *)buf_ptr(&b),
	    "{\"allowlisted\":3,\"failed\":1,\"frozen\":2,\"mode\":\"hierarchy\","
	    "\"notFrozen\":4,\"preFrozen\":5,\"requested\":2,"
	    "\"sweepMs\":9000000000,\"truncated\":true,\"unobservable\":6,"
	    "\"vanished\":7,\"visited\":8,\"waitMs\":-1}\n",
	    "every field in its place, int64 beyond 32 bits");
	buf_reset(&b);

	res.mode = "anything";
	buf_init(&b, 16);
	is_int(control_format_result(&res, &b), -ENOBUFS,
	    "a full buffer is refused");
	buf_reset(&b);

	is_int((long long)cgroup_memory_max(1024ULL << 20),
	    (long long)((1024ULL << 20) - (128ULL << 20)),
	    "1 GiB: reserve 128 MiB");
	is_int((long long)cgroup_memory_max(512ULL << 20),
	    (long long)(448ULL << 20), "512 MiB: reserve one eighth");
	is_int((long long)cgroup_memory_max(0), 0, "0 stays 0");

	/* The walk over an ordinary tree: root, a, a/b, c. */
	ok(mkdtemp(tmpl) != NULL, "temp dir");
	snprintf(p, sizeof(p), "%s/a", tmpl);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/a/b", tmpl);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/c", tmpl);
	mkdir(p, 0755);
	r = cgroup_walk(tmpl, 100, count_cb, &n);
	is_int(r, 4, "walk visits 4 directories");
	is_int(n, 4, "callback called 4 times");
	n = 0;
	r = cgroup_walk(tmpl, 2, count_cb, &n);
	is_int(r, -E2BIG, "walk bounded at 2 reports truncation");
	is_int(n, 2, "and visits only 2");

	ok(cgroup_init(tmpl, 0) == 0 && !cgroup_enabled(),
	    "a plain directory is no cgroup2 root: no manager");
	ok(cgroup_fd(CGROUP_USER) == -1 && cgroup_path(CGROUP_PTYS) == NULL,
	    "no manager: no fd, no path");
	{
		char *why = (char *)"x";

		is_int(cgroup_admit(CGROUP_USER, &why), 0,
		    "no manager admits every spawn");
		ok(why == NULL, "no reason");
	}
	ok(cgroup_init(tmpl, 1) == 0, "-no-cgroups: no manager");

	snprintf(p, sizeof(p), "rm -rf '%s'", tmpl);
	if (system(p) != 0)
		printf("# cannot remove %s\n", tmpl);
	return done_testing();
}
