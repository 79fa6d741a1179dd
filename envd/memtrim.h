/*
 * memtrim.h - give the heap's freed pages back to the kernel after a burst.
 *
 * glibc keeps what a burst freed (a hundred streams' buffers, a thousand
 * connections' state) inside its arenas, so the daemon's RSS stays at the
 * burst's peak, and every sandbox on a host carries it. An owner that has
 * just freed a lot, or is about to (a process's end, a connection's close,
 * a ListDir walk's end), calls memtrim_soon(): MEMTRIM_DELAY_MS later one
 * malloc_trim(0) hands back every free page of every arena. Calls while a
 * trim is pending ask for one more trim MEMTRIM_DELAY_MS after it, so
 * there is always a trim at least that long after the last call, and
 * under steady load at most one a MEMTRIM_DELAY_MS. Nothing runs while
 * nothing happens: the timer is one-shot and unreferenced. Loop thread
 * only.
 */
#ifndef ENVD_MEMTRIM_H
#define ENVD_MEMTRIM_H

#include <uv.h>

/* Long enough for an answer still being sent when its owner calls
 * memtrim_soon() to be freed first. */
#define MEMTRIM_DELAY_MS 500

/* Set up on loop (once, before the first memtrim_soon()). */
void memtrim_init(uv_loop_t *loop);

/* Trim MEMTRIM_DELAY_MS from now, or once more after the pending trim. */
void memtrim_soon(void);

/* Close the timer (shutdown); memtrim_soon() does nothing afterwards. */
void memtrim_stop(void);

#endif
