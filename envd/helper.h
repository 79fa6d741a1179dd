/*
 * helper.h - run a short-lived helper program (findmnt, mount, iptables...)
 * from a worker thread, never from the loop thread: helper_run() blocks.
 *
 * The program is looked up on the daemon's PATH and gets only PATH in its
 * environment (no secret can leak through it), /dev/null as stdin, and one
 * pipe for stdout and stderr. It runs in its own process group; at the
 * deadline the whole group gets SIGKILL and the output pipe is abandoned
 * 2 s later (a grandchild may still hold it).
 */
#ifndef ENVD_HELPER_H
#define ENVD_HELPER_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t helper_now_ms(void);

/*
 * Run argv (argv[0] searched on PATH) until it exits or deadline_ms
 * (helper_now_ms() time) passes. Returns the wait status (>= 0), or -errno
 * (-ETIMEDOUT when killed at the deadline). *out gets its output, at most
 * 64 KiB, NUL-terminated (caller frees), also on error.
 */
int helper_run(char *const argv[], int64_t deadline_ms, char **out);

#endif
