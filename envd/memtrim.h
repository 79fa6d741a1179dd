/*
 * memtrim.h - give the heap's freed pages back to the kernel after a burst.
 *
 * glibc keeps what a burst freed (a hundred streams' buffers, a thousand
 * connections' state) inside its arenas, so the daemon's RSS stays at the
 * burst's peak, and every sandbox on a host carries it. An owner that has
 * just freed a lot (a process's end, a connection's close) calls
 * memtrim_soon(): MEMTRIM_DELAY_MS later, whatever the number of calls,
 * one malloc_trim(0) hands back every free page of every arena. Nothing
 * runs while nothing happens: the timer is one-shot and unreferenced.
 * Loop thread only, but for memtrim_now().
 */
#ifndef ENVD_MEMTRIM_H
#define ENVD_MEMTRIM_H

#include <uv.h>

#define MEMTRIM_DELAY_MS 1000

/* Set up on loop (once, before the first memtrim_soon()). */
void memtrim_init(uv_loop_t *loop);

/* Trim MEMTRIM_DELAY_MS from now, unless a trim is pending already. */
void memtrim_soon(void);

/*
 * Trim now, on the calling thread, which may be any (malloc_trim(0) takes
 * each arena's lock in turn). For an owner that frees tens of MiB and
 * must not let them stay resident until the delay is over: a ListDir
 * walk's arena, before the next walk fills another thread's. A few
 * milliseconds for 64 MiB.
 */
void memtrim_now(void);

/* Close the timer (shutdown); memtrim_soon() does nothing afterwards. */
void memtrim_stop(void);

#endif
