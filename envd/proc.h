/*
 * proc.h - the table of processes started through the Process service.
 *
 * A struct proc owns the child's pidfd, its output pipes (or PTY master),
 * its stdin and its deadline timer. It lives from proc_start() until the
 * child has exited, its output has reached EOF and the end event has gone
 * to every subscriber; then it leaves the table (its end event stays in a
 * 30 s retention cache for late Connect calls) and frees itself once its
 * last libuv handle is closed.
 *
 * Subscribers are Start and Connect streams (struct rpc). Output is read in
 * chunks of up to 32 KiB (16 KiB for a PTY) and each chunk goes to every
 * subscriber as one data event; with no subscriber it is dropped, as
 * upstream does. Back-pressure: when a subscriber has more than
 * PROC_SUB_HIGH bytes queued, the child's output is no longer read (the
 * child blocks on a full pipe) until every subscriber is below
 * PROC_SUB_LOW again; a subscriber that makes no progress at all for
 * PROC_SUB_STALL_MS while holding the process up is disconnected, so the
 * others go on. Memory per subscriber is therefore bounded by about
 * PROC_SUB_HIGH plus one chunk.
 */
#ifndef ENVD_PROC_H
#define ENVD_PROC_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "process/process.pb-c.h"

struct proc;
struct rpc;
struct user;

#define PROC_SUB_HIGH (1024 * 1024)
#define PROC_SUB_LOW (256 * 1024)
#define PROC_SUB_STALL_MS 10000
#define PROC_RETAIN_MS 30000
#define PROC_MAX 4096
#define PROC_STDIN_MAX (16 * 1024 * 1024)
#define PROC_KILL_WAIT_MS 200

struct proc_start_opts {
	const Process__ProcessConfig *config;	/* borrowed; copied */
	const char *tag;			/* NULL: none */
	int pty;
	uint16_t cols, rows;
	int stdin_pipe;
	const struct user *user;
	const char *cwd;			/* resolved */
	char *const *envp;			/* "K=V", NULL-terminated */
	uint64_t timeout_ms;			/* kill after; 0: never */
};

void proc_init(uv_loop_t *loop);
/* Stop watching every process (they keep running) and free the table. */
void proc_shutdown(void);

/*
 * Spawn and register a process, subscribe rpc to it and send the start
 * event. Returns 0, or -errno with *errmsg set (caller frees) when the
 * spawn failed; the rpc is then untouched. *internal (may be NULL) tells a
 * failure of the daemon's pipes (1, *errmsg is then the errno text) from
 * one of the request or a limit (working directory, credentials, PTY,
 * process table full: 0) and from a spawn
 * refused because the target cgroup is frozen (PROC_START_FROZEN, with
 * -EAGAIN; upstream-0.9.md §6.4).
 *
 * A command tagged "_system" stays in the daemon's cgroup; others start in
 * the "ptys" or "user" cgroup (cgroup.h).
 */
#define PROC_START_FROZEN 2
#define PROC_SYSTEM_TAG "_system"
int proc_start(const struct proc_start_opts *o, struct rpc *rpc,
    char **errmsg, int *internal);

/* Live process by pid or tag, or NULL. */
struct proc *proc_find(const Process__ProcessSelector *sel);

/*
 * Connect rpc: to the live process selected (start event, then output and
 * the end event), or to a retained end event (start and end at once).
 * Returns 0, or -ENOENT when neither exists.
 */
int proc_connect(const Process__ProcessSelector *sel, struct rpc *rpc);

/* Cancel callback of streams subscribed by proc_start/proc_connect. */
void proc_unsubscribe(struct rpc *rpc);

/* Call fn for every live process. */
void proc_foreach(void (*fn)(struct proc *p, void *arg), void *arg);
uint32_t proc_pid(const struct proc *p);
const char *proc_tag(const struct proc *p);
const Process__ProcessConfig *proc_config(const struct proc *p);
int proc_is_pty(const struct proc *p);

/*
 * Write input. pty selects the PTY input (1) or stdin (0). Bytes that the
 * child does not take at once are queued; when rpc is not NULL it is
 * answered (empty SendInputResponse) once they are written, or with an
 * error. Empty input is a no-op. Returns 1 when everything is written
 * already (the caller answers rpc), 0 when rpc will be answered (or rpc is
 * NULL), or -errno with *errmsg set (caller frees) for errors to report
 * now: -EPIPE stdin disabled or closed, -ENOBUFS too much queued input,
 * others from write(2).
 */
int proc_write(struct proc *p, int pty, const uint8_t *data, size_t len,
    struct rpc *rpc, char **errmsg);
/* Cancel callback of rpcs waiting in proc_write() or proc_signal(). */
void proc_waiter_cancel(struct rpc *rpc);
/* Close stdin (after queued input). PTY: -EINVAL with *errmsg. */
int proc_close_stdin(struct proc *p, char **errmsg);
/*
 * Send sig (SIGKILL or SIGTERM) to the process only, never its group, and
 * stop waiting for its output before the end event (process.md §4.4). A
 * process that was reaped already is not signalled again. Returns 1 when
 * the caller answers rpc now; 0 when rpc (SIGKILL only) is answered with
 * an empty SendSignalResponse once the process is reaped, or after
 * PROC_KILL_WAIT_MS at most; -errno with *errmsg set (caller frees) when
 * kill(2) failed.
 */
int proc_signal(struct proc *p, int sig, struct rpc *rpc, char **errmsg);
/* Resize the PTY. Not a PTY: -ENOTTY with *errmsg. */
int proc_resize(struct proc *p, uint32_t cols, uint32_t rows, char **errmsg);

/* Text for an end event (exposed for tests): "exit status 1",
 * "signal: killed", "signal: aborted (core dumped)". */
void proc_status_text(int wstatus, char *buf, size_t size, int *exit_code,
    int *exited);

#endif
