/*
 * fdres.h - descriptors held back for the moment the daemon runs out.
 *
 * Connections (a socket each), requests (files, pipes, watches) and
 * processes (three pipes and a pidfd, eight descriptors while starting)
 * share the soft RLIMIT_NOFILE. When a flood of connections has taken the
 * last ones, the daemon must still drop the head of its backlog and start
 * the next process. FDRES_SIZE descriptors on /dev/null are kept open for
 * that: whoever gets EMFILE or ENFILE calls fdres_release(), which closes
 * them, and tries once more; fdres_fill() takes them back once descriptors
 * are free again (after that retry, and whenever an owner has just closed
 * some of its own: a process's end, a round of accepts). So processes and
 * the accept loop get ahead of whatever takes descriptors next. Beyond the
 * reserve, fdres_short() asks for descriptors to be given up.
 *
 * Loop thread only. Every reserve descriptor is close-on-exec.
 */
#ifndef ENVD_FDRES_H
#define ENVD_FDRES_H

#include <sys/types.h>

/* Two process starts' worth. */
#define FDRES_SIZE 16

/* Open what is missing of the reserve, as far as descriptors allow. A
 * full reserve costs nothing. */
void fdres_fill(void);

/* Close the reserve; returns how many descriptors that freed (0: it was
 * empty, a retry would fail the same way). */
unsigned int fdres_release(void);

/*
 * openat(dirfd, path, flags, mode), and on EMFILE or ENFILE once more with
 * the reserve closed, which is filled again afterwards: a request's file
 * gets ahead of the next connection. Returns the descriptor, or -1 with
 * errno.
 */
int fdres_openat(int dirfd, const char *path, int flags, mode_t mode);

/*
 * The soft RLIMIT_NOFILE has changed to lim (prlimit on the running
 * daemon): reserve descriptors numbered lim or above free nothing below
 * it, so they are closed and the reserve filled again below lim, as far
 * as descriptors allow.
 */
void fdres_limit(unsigned long lim);

/* Descriptors the reserve holds now. */
unsigned int fdres_held(void);

/*
 * Who can give descriptors up on request: cb(arg) closes some (httpd: idle
 * connections, oldest first), free by the loop's next round at the latest.
 * One at a time; NULL unregisters.
 */
void fdres_on_short(void (*cb)(void *arg), void *arg);

/* Out of descriptors even with the reserve: ask cb to give some up. */
void fdres_short(void);

#endif
