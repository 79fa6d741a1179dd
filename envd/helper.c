/*
 * helper.c - run a short-lived helper program with a deadline.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "helper.h"
#include "xalloc.h"

#define HELPER_ABANDON_MS 2000
#define HELPER_OUTPUT_MAX (64 * 1024)

int64_t
helper_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Run argv until it exits or deadline_ms (monotonic) passes. Returns the
 * wait status (>= 0) or -errno (-ETIMEDOUT when killed at the deadline).
 * *out gets its stdout and stderr combined (bounded; caller frees).
 */
int
helper_run(char *const argv[], int64_t deadline_ms, char **out)
{
	static char *const env_none[] = { NULL };
	char *env[2] = { NULL, NULL };
	const char *path = getenv("PATH");
	struct buf b;
	struct pollfd pfd;
	int pipefd[2], st = 0, killed = 0, r, dn;
	int64_t left, abandon = 0;
	char tmp[4096];
	ssize_t k;
	pid_t pid;

	*out = NULL;
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		r = -errno;
		*out = xstrdup("");
		return r;
	}
	env[0] = path != NULL ? xasprintf("PATH=%s", path) : NULL;
	pid = fork();
	if (pid == 0) {
		/* Child: only async-signal-safe calls until exec. */
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		(void)setpgid(0, 0);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(127);
		execvpe(argv[0], argv, env[0] != NULL ? env : env_none);
		_exit(127);
	}
	r = pid < 0 ? -errno : 0;
	free(env[0]);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		*out = xstrdup("");
		return r;
	}
	(void)setpgid(pid, pid);	/* either side may win the race */
	buf_init(&b, HELPER_OUTPUT_MAX);
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	for (;;) {
		left = (killed ? abandon : deadline_ms) - helper_now_ms();
		if (left <= 0) {
			if (killed)
				break;	/* abandon the pipe */
			kill(-pid, SIGKILL);
			killed = 1;
			abandon = helper_now_ms() + HELPER_ABANDON_MS;
			continue;
		}
		dn = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		if (dn < 0 && errno == EINTR)
			continue;
		if (dn <= 0)
			continue;
		k = read(pipefd[0], tmp, sizeof(tmp));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;	/* EOF: every writer is gone */
		(void)buf_append(&b, tmp, (size_t)k < HELPER_OUTPUT_MAX -
		    buf_len(&b) ? (size_t)k : HELPER_OUTPUT_MAX - buf_len(&b));
	}
	close(pipefd[0]);
	if (!killed) {
		/* Output closed; wait for the exit within the budget. */
		while ((r = waitpid(pid, &st, WNOHANG)) == 0 &&
		    helper_now_ms() < deadline_ms)
			usleep(10000);
		if (r == 0) {
			kill(-pid, SIGKILL);
			killed = 1;
		}
	}
	if (killed)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	*out = buf_steal_str(&b, NULL);
	return killed ? -ETIMEDOUT : st;
}

