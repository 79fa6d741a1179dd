/*
 * logexp.h - the log exporter of Firecracker mode (firecracker.md §11).
 *
 * Every line the daemon logs is queued (on the loop thread; lines logged
 * from other threads are dropped and counted) and, once the metadata
 * service gave a collector address ("http://<IPv4>[:port]/<path>"), sent
 * as one POST per line, one at a time, Content-Type: application/json,
 * Connection: close, 10 s per request, with the record's instanceID and
 * envID set and the keys sorted. Log lines never carry a token or a body
 * (log.h), and the exporter sends nothing else. The queue holds at most
 * 8 MiB and drops the oldest lines first; a line over 192 KiB is dropped;
 * a failed send drops its line. Nothing blocks the loop.
 */
#ifndef ENVD_LOGEXP_H
#define ENVD_LOGEXP_H

#include <stdint.h>

#include <uv.h>

/* Start exporting from loop's thread; a no-op when isnotfc. */
void logexp_setup(uv_loop_t *loop, int isnotfc);

/*
 * A successful metadata read: address (may be NULL or ""; then stay idle
 * or keep the last target) and the IDs to tag lines with (NULL = "").
 */
void logexp_set_target(const char *address, const char *instance_id,
    const char *env_id);

/*
 * Before a pause (upstream-0.9.md §5.1 step 6): send what is queued for
 * up to budget_ms, then drop what is left, the send in flight included,
 * so no line from before the pause is sent after it; then cb(arg). With
 * budget_ms 0, no collector address yet, or outside Firecracker, the
 * queue is dropped at once. When cb ran before the return, NULL is
 * returned; otherwise a handle valid until cb runs, for
 * logexp_flush_cancel() (the caller went away: cb will not run, the
 * flush still ends at its deadline).
 */
struct logexp_flush;
struct logexp_flush *logexp_flush(uint64_t budget_ms, void (*cb)(void *),
    void *arg);
void logexp_flush_cancel(struct logexp_flush *f);

/* Lines dropped so far (queue full, too long, off-thread, send failed). */
uint64_t logexp_dropped(void);

/* Lines sent with a 2xx answer so far. */
uint64_t logexp_sent(void);

/* Shutdown begins: drop the queue, end the send in flight, close. */
void logexp_stop(void);

/* Stop and release everything (shutdown, after the loop ended). */
void logexp_free(void);

#endif
