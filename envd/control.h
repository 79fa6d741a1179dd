/*
 * control.h - the orchestrator's control endpoints (spec/upstream-0.9.md
 * §5): POST /freeze, /unfreeze, /fsfreeze, /fsthaw and /collapse, all
 * behind the access-token gate, and the resume thaw /init runs.
 *
 * A freeze writes "1" to the user and ptys cgroups (cgroup.h) and raises
 * the spawn barrier; the thaw writes "0" to them, then walks the tree and
 * thaws every cgroup with a freeze requested except the daemon's own
 * ancestors and the cgroups the guest had frozen before our freeze. A
 * freeze that no clean thaw follows is thawed by a watchdog after 10
 * minutes of guest time (ENVD_THAW_WATCHDOG_MS, 1..600000, overrides it).
 * mode=hierarchy also freezes, below each cgroup on the daemon's own
 * ancestor chain and above each allowlist entry, every other child that
 * is not allowlisted and not the guest's (upstream-0.9.md §5.1 step 3);
 * without the daemon's own cgroup it falls back to legacy.
 *
 * The freeze lock: a /freeze holds it from its sweep until its wait for
 * the cgroups ends (answered or the client gone). A /freeze, /unfreeze or
 * /init thaw arriving meanwhile waits for it, in arrival order.
 *
 * /fsfreeze and /fsthaw act on "/" (ENVD_FSFREEZE_PATH overrides it, for
 * tests on a scratch file system).
 */
#ifndef ENVD_CONTROL_H
#define ENVD_CONTROL_H

#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "httpd.h"

extern const struct req_handler control_freeze_handler;
extern const struct req_handler control_unfreeze_handler;
extern const struct req_handler control_fsfreeze_handler;
extern const struct req_handler control_fsthaw_handler;
extern const struct req_handler control_collapse_handler;

/* Read the environment overrides and set up the watchdog timer on loop
 * (unreferenced: it never keeps the loop alive). Call after
 * cgroup_init(). */
void control_init(uv_loop_t *loop);

/* Close the watchdog and forget the freeze state (at shutdown). */
void control_stop(void);

/*
 * For POST /init (upstream-0.9.md §3.5). Read control_freeze_generation()
 * when the handler enters; just before answering call
 * control_resume_thaw() with that value:
 *   - when a /freeze took place since (the generation moved), nothing is
 *     thawed and 1 is returned (the handler logs it and goes on);
 *   - otherwise the thaw runs synchronously and 0 is returned when it was
 *     clean, -EIO when some cgroup could not be thawed (logged; /init
 *     still answers 204, as upstream does); client_gone != 0 (the client
 *     already went away) counts this thaw as unobserved.
 * control_take_unobserved() returns the unobserved count and zeroes it:
 * call it once for a 204 whose client is still connected and send the
 * value as X-Envd-Init-Unobserved.
 */
uint64_t control_freeze_generation(void);
int control_resume_thaw(uint64_t generation, int client_gone);
unsigned int control_take_unobserved(void);

/*
 * The thaw of /unfreeze and the watchdog (no generation guard). Returns 0
 * when clean, or -EIO with *errmsg (caller frees; may be NULL) listing
 * the failures joined by newlines.
 */
int control_thaw(char **errmsg);

/* 1 while a /freeze holds the freeze lock or others wait for it. */
int control_locked(void);

/*
 * Call fn(arg) once the freeze lock is free: at once (and return NULL)
 * when it is, else later, in arrival order, returning a handle that is
 * valid until fn runs. control_after_lock_cancel() before then: fn will
 * not run; with thaw != 0 the resume thaw for generation runs in its
 * place, counted unobserved (an /init whose client went away).
 */
struct control_delay;
struct control_delay *control_after_lock(void (*fn)(void *), void *arg);
void control_after_lock_cancel(struct control_delay *d, int thaw,
    uint64_t generation);

/* 1 while a freeze of ours is in effect (not yet cleanly thawed). */
int control_frozen(void);

/* FreezeResult of upstream-0.9.md §5.1. */
struct control_freeze_result {
	int allowlisted;
	int failed;
	int frozen;
	const char *mode;	/* "legacy" or "hierarchy" */
	int not_frozen;
	int pre_frozen;
	int requested;
	int64_t sweep_ms;
	int truncated;
	int unobservable;
	int vanished;
	int visited;
	int64_t wait_ms;
};

/* Append res as Go encodes it (keys in order, no spaces) and "\n".
 * Returns 0 or -ENOBUFS (b full). */
int control_format_result(const struct control_freeze_result *res,
    struct buf *b);

#endif
