/*
 * oom.h - the kernel's out-of-memory kills for GET /metrics "oom_kills"
 * (spec/upstream-0.9.md §4), Firecracker mode only.
 *
 * The watcher keeps /dev/kmsg ($ENVD_KMSG_PATH overrides it, for tests)
 * open non-blocking on the loop and reads every record from the start of
 * the kernel log. A record counts when its priority field is 0..7 (so a
 * line written from user space cannot pass for one) and its message
 * starts with "Out of memory: Killed process ", "Out of memory
 * (oom_kill_allocating_task): Killed process " or "Memory cgroup out of
 * memory: Killed process "; the process name is what lies between
 * "<pid> (" and the last ") total-vm:", "Unknown" when that cannot be
 * found. The latest 32 kills are kept, oldest first.
 *
 * The list is unknown until the whole log has been read once, again after
 * each reopen, and after the watcher gave up. A failed open is retried
 * every second, 5 times; a read error closes the log, forgets the list
 * and reopens it after a second; 5 failed reads in a row (a read that
 * lasted a minute resets the count) give up, and a watcher that gave up
 * starts again after 30 minutes.
 *
 * A read may hold several newline-separated records (a test's FIFO);
 * lines starting with a space are a record's dictionary and are skipped.
 * All state lives on the loop thread.
 */
#ifndef ENVD_OOM_H
#define ENVD_OOM_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

/* Most kills kept. */
#define OOM_KILLS_MAX 32

/* Longest process name kept, in bytes (the kernel's are 15). */
#define OOM_NAME_MAX 255

/* Start watching on loop; a no-op when isnotfc. */
void oom_start(uv_loop_t *loop, int isnotfc);

/* Close the log and the timers (at shutdown). Safe without oom_start(). */
void oom_stop(void);

/*
 * When the list is known, append ,"oom_kills":[{"seq":N,"process":"..."},
 * ...] (oldest first, [] when none) to b and return 1; return 0 and leave
 * b alone when it is unknown; -ENOBUFS when b is full.
 */
int oom_append_json(struct buf *b);

/*
 * Parse one kernel log record (without its trailing newline; anything
 * after the first newline is ignored). Returns 1 for an OOM kill, with
 * *seq and name (NUL-terminated, at most OOM_NAME_MAX bytes, cut there)
 * set, name "Unknown" when it cannot be read; 0 for any other record.
 */
int oom_parse_record(
    const char *rec, size_t len, int64_t *seq, char name[OOM_NAME_MAX + 1]);

#endif
