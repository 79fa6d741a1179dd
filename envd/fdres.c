/*
 * fdres.c - see fdres.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fdres.h"

static int fdres_fd[FDRES_SIZE];
static unsigned int fdres_n;
static void (*fdres_short_cb)(void *);
static void *fdres_short_arg;

void
fdres_fill(void)
{
	int fd;

	while (fdres_n < FDRES_SIZE) {
		if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			return;
		fdres_fd[fdres_n++] = fd;
	}
}

unsigned int
fdres_release(void)
{
	unsigned int n = fdres_n;

	while (fdres_n > 0)
		close(fdres_fd[--fdres_n]);
	return n;
}

int
fdres_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd, err;

	fd = openat(dirfd, path, flags, mode);
	if (fd >= 0 || (errno != EMFILE && errno != ENFILE) ||
	    fdres_release() == 0)
		return fd;
	fd = openat(dirfd, path, flags, mode);
	err = errno;
	fdres_fill();
	errno = err;
	return fd;
}

void
fdres_limit(unsigned long lim)
{
	unsigned int i, kept = 0;

	for (i = 0; i < fdres_n; i++) {
		if ((unsigned long)fdres_fd[i] < lim)
			fdres_fd[kept++] = fdres_fd[i];
		else
			close(fdres_fd[i]);
	}
	fdres_n = kept;
	fdres_fill();
}

unsigned int
fdres_held(void)
{
	return fdres_n;
}

void
fdres_on_short(void (*cb)(void *arg), void *arg)
{
	fdres_short_cb = cb;
	fdres_short_arg = arg;
}

void
fdres_short(void)
{
	if (fdres_short_cb != NULL)
		fdres_short_cb(fdres_short_arg);
}
