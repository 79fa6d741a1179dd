/*
 * test-fdres.c - fdres: the reserve fills within the limit, frees its
 * descriptors for the one that ran out, fills again once some are back,
 * opens a request's file with it (fdres_openat) when none is left, and
 * passes fdres_short() on to whoever registered.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdres.h"
#include "tap.h"

#define LIMIT 64

static int shorts;

static void
short_cb(void *arg)
{
	(*(int *)arg)++;
}

/* Open /dev/null until the limit; returns how many were opened. */
static int
exhaust(int *fds, int max)
{
	int n = 0;

	while (n < max && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
		n++;
	return n;
}

int
main(void)
{
	struct rlimit rl;
	int fds[LIMIT], n, i, fd;

	fdres_short();	/* nobody registered: nothing */
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = LIMIT;
	ok(setrlimit(RLIMIT_NOFILE, &rl) == 0, "soft limit %d", LIMIT);

	fdres_fill();
	is_int(fdres_held(), FDRES_SIZE, "filled to FDRES_SIZE");
	fd = open("/dev/null", O_RDONLY);
	ok(fd >= 0, "descriptors left beside the reserve");
	close(fd);

	n = exhaust(fds, LIMIT);
	fd = open("/dev/null", O_RDONLY);
	ok(fd < 0 && errno == EMFILE, "then none left (EMFILE after %d)", n);
	fdres_fill();
	is_int(fdres_held(), FDRES_SIZE, "a full reserve asks for nothing");

	is_int(fdres_release(), FDRES_SIZE, "release frees the reserve");
	is_int(fdres_held(), 0, "and holds nothing");
	fd = open("/dev/null", O_RDONLY);
	ok(fd >= 0, "so the one that ran out gets a descriptor");
	is_int(fdres_release(), 0, "an empty reserve frees nothing");
	fdres_fill();
	is_int(fdres_held(), FDRES_SIZE - 1,
	    "filled as far as descriptors allow");

	for (i = 0; i < 4; i++)
		close(fds[i]);
	close(fd);
	fdres_fill();
	is_int(fdres_held(), FDRES_SIZE, "full again once descriptors are back");
	for (i = 4; i < n; i++)
		close(fds[i]);

	/* fdres_openat: plain openat() when it works, the reserve when not. */
	n = exhaust(fds, LIMIT);
	fd = fdres_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0);
	ok(fd >= 0 && fdres_held() == FDRES_SIZE - 1,
	    "fdres_openat with none left: the reserve's (%u kept)",
	    fdres_held());
	close(fd);
	fdres_release();
	fd = fdres_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0);
	ok(fd >= 0 && fdres_held() == 0, "fdres_openat with some left: plain");
	close(fd);
	fd = fdres_openat(AT_FDCWD, "/nonexistent/envd", O_RDONLY, 0);
	ok(fd < 0 && errno == ENOENT, "fdres_openat keeps other errors");
	for (i = 0; i < n; i++)
		close(fds[i]);
	fdres_fill();
	fd = fdres_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0);
	ok(fd >= 0 && fdres_held() == FDRES_SIZE,
	    "fdres_openat with plenty: the reserve untouched");
	close(fd);

	/* A lowered limit: reserve descriptors at or above it move below. */
	fdres_release();
	n = exhaust(fds, 40);
	fdres_fill();
	for (i = 0; i < n; i++)
		close(fds[i]);
	fdres_limit(40);
	fd = open("/dev/null", O_RDONLY);
	ok(fdres_held() == FDRES_SIZE && fd >= 0 && fd < 40,
	    "after fdres_limit(40): all %u below 40 again", fdres_held());
	close(fd);
	rl.rlim_cur = 40;
	ok(setrlimit(RLIMIT_NOFILE, &rl) == 0, "soft limit 40");
	n = exhaust(fds, LIMIT);
	is_int(fdres_release(), FDRES_SIZE, "the reserve there to release");
	i = exhaust(fds + n, LIMIT - n);
	is_int(i, FDRES_SIZE, "and what it frees is usable below 40");
	for (i = 0; i < n + FDRES_SIZE; i++)
		close(fds[i]);

	fdres_on_short(short_cb, &shorts);
	fdres_short();
	fdres_short();
	is_int(shorts, 2, "fdres_short() calls the registered owner");
	fdres_on_short(NULL, NULL);
	fdres_short();
	is_int(shorts, 2, "and nobody once unregistered");
	fdres_release();
	return done_testing();
}
