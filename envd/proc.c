/*
 * proc.c - process table, output fan-out, input queue, exit and end events.
 *
 * Every process has up to four watched descriptors (struct proc_fd): the
 * pidfd, stdout, stderr and stdin, or the pidfd and one PTY master that is
 * both read and written. Each is a uv_poll_t; the struct proc counts its
 * open handles and frees itself from the last close callback, after it has
 * left the table.
 *
 * Order of a process's end (process.md §4.4): the child is reaped as soon as
 * its pidfd is readable, so it never lingers as a zombie, but the end event
 * waits for EOF on its output, unless the process was signalled through the
 * API or its deadline, in which case output reading stops when it exits.
 * Where pidfd_open() is not available, a SIGCHLD watcher reaps instead.
 *
 * A reaped pid is never signalled again (it may belong to someone else by
 * then): signals to a process that exited but still holds its output open
 * only cancel the output readers.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "cgroup.h"
#include "connect.h"
#include "errtext.h"
#include "fdres.h"
#include "log.h"
#include "memtrim.h"
#include "pbjson.h"
#include "proc.h"
#include "spawn.h"
#include "users.h"
#include "xalloc.h"

enum proc_fd_kind {
	PROC_FD_PID,
	PROC_FD_STDOUT,
	PROC_FD_STDERR,
	PROC_FD_STDIN,
	PROC_FD_PTY,		/* read output and write input */
};

struct proc_fd {
	uv_poll_t poll;
	struct proc *p;
	int fd;
	enum proc_fd_kind kind;
	int reading;		/* output wanted from this fd */
	int eof;		/* output finished */
	int closed;		/* uv_close called */
	int events;		/* current uv_poll events */
};

struct proc_sub {
	LIST_ENTRY(proc_sub) entry;
	struct proc *p;
	struct rpc *rpc;
	int dead;			/* client gone; cancel follows */
	int full;			/* above PROC_SUB_HIGH */
	uint64_t full_since;		/* uv_now when it went full */
	size_t full_pending;		/* rpc_pending at that time */
};

struct proc_waiter {
	TAILQ_ENTRY(proc_waiter) entry;
	struct proc *p;
	struct rpc *rpc;
	int kill;			/* in kill_waiters, not waiters */
	uint64_t mark;			/* done when written >= mark */
};

/*
 * The end of a process kept for PROC_RETAIN_MS, so that a Connect that
 * comes late still gets it. Owned by the retention lists below: on the age
 * queue (oldest first; every entry lives PROC_RETAIN_MS, so that is also
 * the order of expiry) and in one pid bucket and, with a tag, one tag
 * bucket, so that no step walks all PROC_MAX of them.
 */
struct proc_retained {
	TAILQ_ENTRY(proc_retained) age;
	LIST_ENTRY(proc_retained) by_pid;
	LIST_ENTRY(proc_retained) by_tag;	/* only when tag != NULL */
	uint32_t pid;
	char *tag;
	uint64_t expires;
	int exit_code, exited;
	char status[80];
};

struct proc {
	LIST_ENTRY(proc) entry;		/* in the table while live */
	pid_t pid;
	char *tag;
	Process__ProcessConfig *config;	/* copy of the request */
	int is_pty;
	int in_table;

	struct proc_fd *pidfd;
	struct proc_fd *out;		/* stdout, or the PTY */
	struct proc_fd *err;
	struct proc_fd *in;		/* stdin, or NULL (PTY: out) */
	int handles;			/* open libuv handles */

	LIST_HEAD(, proc_sub) subs;
	int paused;			/* output reading paused */
	uv_timer_t *stall_timer;
	uv_timer_t *deadline;

	struct buf inq;			/* input not yet written */
	uint64_t written;		/* input bytes written so far */
	uint64_t queued;		/* input bytes accepted so far */
	int close_in_after;		/* close stdin once inq is empty */
	TAILQ_HEAD(, proc_waiter) waiters;	/* SendInput answers */
	TAILQ_HEAD(, proc_waiter) kill_waiters;	/* SIGKILL answers */
	uv_timer_t *kill_timer;		/* bounds the wait for a reap */

	int exited;
	int wstatus;
	int signalled;			/* killed through the API/deadline */
	int ended;			/* end event sent */
};

static uv_loop_t *proc_loop;
static LIST_HEAD(, proc) proc_table = LIST_HEAD_INITIALIZER(proc_table);
#define PROC_RETAIN_BUCKETS 512	/* a power of two */
LIST_HEAD(proc_retained_bucket, proc_retained);
static TAILQ_HEAD(, proc_retained) proc_retained_age =
    TAILQ_HEAD_INITIALIZER(proc_retained_age);
static struct proc_retained_bucket proc_retained_pid[PROC_RETAIN_BUCKETS];
static struct proc_retained_bucket proc_retained_tag[PROC_RETAIN_BUCKETS];
static unsigned int proc_count;
static unsigned int proc_nretained;
static uint8_t proc_readbuf[32 * 1024];
static uv_signal_t *proc_sigchld;	/* only without pidfd_open() */

static struct proc_fd *proc_fd_new(struct proc *, int, enum proc_fd_kind);
static void proc_fd_update(struct proc_fd *);
static void proc_fd_close(struct proc_fd *);
static void proc_fd_closed(uv_handle_t *);
static void proc_fd_cb(uv_poll_t *, int, int);
static void proc_read(struct proc_fd *);
static void proc_write_ready(struct proc *);
static void proc_reap(struct proc *);
static void proc_stop_readers(struct proc *);
static void proc_cancel_output(struct proc *);
static void proc_kill_waiters_finish(struct proc *);
static void proc_kill_timer_cb(uv_timer_t *);
static void proc_sigchld_cb(uv_signal_t *, int);
static void proc_sigchld_closed(uv_handle_t *);
static void proc_maybe_end(struct proc *);
static void proc_release(struct proc *);
static void proc_fanout(struct proc *, enum proc_fd_kind, const uint8_t *,
    size_t);
static void proc_check_pressure(struct proc *);
static void proc_sub_drained(struct rpc *, void *);
static void proc_set_paused(struct proc *, int);
static void proc_stall_cb(uv_timer_t *);
static void proc_deadline_cb(uv_timer_t *);
static void proc_timer_closed(uv_handle_t *);
static void proc_send_start(struct rpc *, uint32_t);
static void proc_send_end(struct rpc *, int, int, const char *);
static void proc_sub_free(struct proc_sub *);
static void proc_waiters_finish(struct proc *, const char *);
static void proc_retain(struct proc *, int, int, const char *);
static struct proc_retained *proc_retained_find(
    const Process__ProcessSelector *);
static void proc_retained_drop(struct proc_retained *);
static void proc_retained_expire(void);
static void proc_retained_evict(uint32_t, const char *);

/* The tag bucket of a retained end: FNV-1a of the tag. */
static inline unsigned int
proc_tag_bucket(const char *tag)
{
	uint32_t h = 2166136261u;

	while (*tag != '\0')
		h = (h ^ (uint8_t)*tag++) * 16777619u;
	return h % PROC_RETAIN_BUCKETS;
}

void
proc_init(uv_loop_t *loop)
{
	proc_loop = loop;
}

/* --- descriptors --- */

static struct proc_fd *
proc_fd_new(struct proc *p, int fd, enum proc_fd_kind kind)
{
	struct proc_fd *f;

	f = xcalloc(1, sizeof(*f));
	f->p = p;
	f->fd = fd;
	f->kind = kind;
	if (uv_poll_init(proc_loop, &f->poll, fd) != 0) {
		/* Cannot happen for pipes, PTYs and pidfds. */
		fatal("cannot watch fd %d", fd);
	}
	f->poll.data = f;
	p->handles++;
	return f;
}

/* Start or stop the poll to match what the fd is needed for. */
static void
proc_fd_update(struct proc_fd *f)
{
	struct proc *p;
	int ev = 0;

	if (f == NULL || f->closed)
		return;
	p = f->p;
	switch (f->kind) {
	case PROC_FD_PID:
		ev = p->exited ? 0 : UV_READABLE;
		break;
	case PROC_FD_STDOUT:
	case PROC_FD_STDERR:
		ev = (!f->eof && !p->paused) ? UV_READABLE : 0;
		break;
	case PROC_FD_STDIN:
		ev = buf_len(&p->inq) > 0 ? UV_WRITABLE : 0;
		break;
	case PROC_FD_PTY:
		ev = (!f->eof && !p->paused) ? UV_READABLE : 0;
		if (buf_len(&p->inq) > 0 && !f->eof)
			ev |= UV_WRITABLE;
		break;
	}
	if (ev == f->events)
		return;
	f->events = ev;
	if (ev == 0)
		uv_poll_stop(&f->poll);
	else
		uv_poll_start(&f->poll, ev, proc_fd_cb);
}

static void
proc_fd_close(struct proc_fd *f)
{
	if (f == NULL || f->closed)
		return;
	f->closed = 1;
	uv_close((uv_handle_t *)&f->poll, proc_fd_closed);
}

static void
proc_fd_closed(uv_handle_t *h)
{
	struct proc_fd *f = h->data;
	struct proc *p = f->p;

	close(f->fd);
	fdres_fill();	/* back to the reserve, if a start used it */
	if (p->pidfd == f)
		p->pidfd = NULL;
	if (p->out == f)
		p->out = NULL;
	if (p->err == f)
		p->err = NULL;
	if (p->in == f)
		p->in = NULL;
	free(f);
	if (--p->handles == 0 && !p->in_table)
		proc_release(p);
}

static void
proc_fd_cb(uv_poll_t *h, int status, int events)
{
	struct proc_fd *f = h->data;
	struct proc *p = f->p;

	if (f->kind == PROC_FD_PID) {
		proc_reap(p);
		return;
	}
	if (f->kind == PROC_FD_STDIN) {
		proc_write_ready(p);
		return;
	}
	if (f->kind == PROC_FD_PTY && (events & UV_WRITABLE)) {
		proc_write_ready(p);
		if (f->closed)
			return;
	}
	if ((events & (UV_READABLE | UV_DISCONNECT)) || status < 0)
		proc_read(f);
}

/* Read what is there (a few chunks at most per wake-up) and fan it out. */
static void
proc_read(struct proc_fd *f)
{
	struct proc *p = f->p;
	size_t chunk = f->kind == PROC_FD_PTY ? 16 * 1024 : 32 * 1024;
	ssize_t n;
	int i;

	for (i = 0; i < 4 && !p->paused && !f->eof; i++) {
		n = read(f->fd, proc_readbuf, chunk);
		if (n > 0) {
			proc_fanout(p, f->kind, proc_readbuf, (size_t)n);
			if ((size_t)n < chunk)
				break;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		/* EOF, or EIO from a PTY whose slave side is all closed. */
		f->eof = 1;
	}
	if (f->eof) {
		if (f->kind == PROC_FD_PTY) {
			proc_fd_update(f);
		} else {
			proc_fd_close(f);
		}
		proc_maybe_end(p);
		return;
	}
	proc_fd_update(f);
}

/* --- output fan-out and back-pressure --- */

static void
proc_fanout(struct proc *p, enum proc_fd_kind kind, const uint8_t *data,
    size_t len)
{
	Process__StartResponse resp = PROCESS__START_RESPONSE__INIT;
	Process__ProcessEvent ev = PROCESS__PROCESS_EVENT__INIT;
	Process__ProcessEvent__DataEvent de =
	    PROCESS__PROCESS_EVENT__DATA_EVENT__INIT;
	struct proc_sub *s, *next;

	if (LIST_EMPTY(&p->subs))
		return;		/* nobody listens: dropped, as upstream */
	switch (kind) {
	case PROC_FD_STDERR:
		de.output_case = PROCESS__PROCESS_EVENT__DATA_EVENT__OUTPUT_STDERR;
		de.stderr.data = (uint8_t *)data;
		de.stderr.len = len;
		break;
	case PROC_FD_PTY:
		de.output_case = PROCESS__PROCESS_EVENT__DATA_EVENT__OUTPUT_PTY;
		de.pty.data = (uint8_t *)data;
		de.pty.len = len;
		break;
	default:
		de.output_case = PROCESS__PROCESS_EVENT__DATA_EVENT__OUTPUT_STDOUT;
		de.stdout.data = (uint8_t *)data;
		de.stdout.len = len;
		break;
	}
	ev.event_case = PROCESS__PROCESS_EVENT__EVENT_DATA;
	ev.data = &de;
	resp.event = &ev;
	for (s = LIST_FIRST(&p->subs); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (!s->dead && rpc_send(s->rpc, &resp.base) != 0)
			s->dead = 1;	/* gone: its cancel unsubscribes it */
	}
	proc_check_pressure(p);
}

/* Pause output reading while any subscriber holds too much. */
static void
proc_check_pressure(struct proc *p)
{
	struct proc_sub *s;
	int any = 0;

	LIST_FOREACH(s, &p->subs, entry) {
		if (s->dead || rpc_finished(s->rpc)) {
			s->full = 0;	/* holds nobody up any more */
			continue;
		}
		if (!s->full && rpc_pending(s->rpc) > PROC_SUB_HIGH) {
			s->full = 1;
			s->full_since = uv_now(proc_loop);
			s->full_pending = rpc_pending(s->rpc);
			rpc_on_drain(s->rpc, PROC_SUB_LOW, proc_sub_drained, s);
		}
		any |= s->full;
	}
	proc_set_paused(p, any);
}

static void
proc_sub_drained(struct rpc *rpc, void *arg)
{
	struct proc_sub *s = arg;

	s->full = 0;
	proc_check_pressure(s->p);
}

static void
proc_set_paused(struct proc *p, int paused)
{
	if (p->paused == paused)
		return;
	p->paused = paused;
	proc_fd_update(p->out);
	proc_fd_update(p->err);
	if (paused) {
		if (p->stall_timer == NULL) {
			p->stall_timer = xcalloc(1, sizeof(*p->stall_timer));
			uv_timer_init(proc_loop, p->stall_timer);
			p->stall_timer->data = p;
			p->handles++;
		}
		uv_timer_start(p->stall_timer, proc_stall_cb, 1000, 1000);
	} else if (p->stall_timer != NULL) {
		uv_timer_stop(p->stall_timer);
		/* Output may be waiting that arrived while paused. */
	}
}

/* Disconnect subscribers that have made no progress for too long. */
static void
proc_stall_cb(uv_timer_t *t)
{
	struct proc *p = t->data;
	struct proc_sub *s, *next;
	uint64_t now = uv_now(proc_loop);
	size_t pend;

	for (s = LIST_FIRST(&p->subs); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (!s->full)
			continue;
		pend = rpc_pending(s->rpc);
		if (pend < s->full_pending) {
			s->full_pending = pend;	/* progress */
			s->full_since = now;
			continue;
		}
		if (now - s->full_since < PROC_SUB_STALL_MS)
			continue;
		log_warn("process %d: a subscriber has not read for %d s; "
		    "disconnecting it", (int)p->pid, PROC_SUB_STALL_MS / 1000);
		rpc_abort(s->rpc);
		proc_sub_free(s);
	}
	proc_check_pressure(p);
}

/* --- input --- */

int
proc_write(struct proc *p, int pty, const uint8_t *data, size_t len,
    struct rpc *rpc, char **errmsg)
{
	struct proc_waiter *w;
	struct proc_fd *f = p->is_pty ? p->out : p->in;
	ssize_t n = 0;

	*errmsg = NULL;
	if (f == NULL || f->closed || p->close_in_after ||
	    (p->is_pty && f->eof)) {
		*errmsg = xstrdup(pty ? "error writing to tty: tty closed" :
		    "error writing to stdin: stdin not enabled or closed");
		return -EPIPE;
	}
	if (len == 0)
		return rpc != NULL ? 1 : 0;	/* a valid no-op */
	if (buf_len(&p->inq) + len > PROC_STDIN_MAX) {
		*errmsg = xasprintf("error writing to %s: more than %d bytes "
		    "waiting for the process to read them", pty ? "tty" :
		    "stdin", PROC_STDIN_MAX);
		return -ENOBUFS;
	}
	if (buf_len(&p->inq) == 0) {
		n = write(f->fd, data, len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				*errmsg = xasprintf("error writing to %s: "
				    "write %s: %s", pty ? "tty" : "stdin",
				    pty ? "/dev/ptmx" : "|1", errtext(errno));
				return -errno;
			}
			n = 0;
		}
		p->written += (uint64_t)n;
	}
	p->queued += len;
	if ((size_t)n < len) {
		buf_append(&p->inq, data + n, len - (size_t)n);
		proc_fd_update(f);
	}
	if (rpc == NULL)
		return 0;
	if (p->written >= p->queued) {
		rpc_set_data(rpc, NULL);
		return 1;	/* written: caller answers at once */
	}
	w = xcalloc(1, sizeof(*w));
	w->p = p;
	w->rpc = rpc;
	w->mark = p->queued;
	rpc_set_data(rpc, w);
	TAILQ_INSERT_TAIL(&p->waiters, w, entry);
	return 0;
}

void
proc_waiter_cancel(struct rpc *rpc)
{
	struct proc_waiter *w = rpc_data(rpc);

	if (w == NULL)
		return;
	rpc_set_data(rpc, NULL);
	if (w->kill)
		TAILQ_REMOVE(&w->p->kill_waiters, w, entry);
	else
		TAILQ_REMOVE(&w->p->waiters, w, entry);
	free(w);
}

/* Answer waiters whose input is written; with err, fail them all. */
static void
proc_waiters_finish(struct proc *p, const char *err)
{
	Process__SendInputResponse ok = PROCESS__SEND_INPUT_RESPONSE__INIT;
	struct proc_waiter *w, *next;

	for (w = TAILQ_FIRST(&p->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (err == NULL && w->mark > p->written)
			break;
		TAILQ_REMOVE(&p->waiters, w, entry);
		rpc_set_data(w->rpc, NULL);
		if (err != NULL)
			rpc_error(w->rpc, CONNECT_INTERNAL, "%s", err);
		else
			rpc_reply(w->rpc, &ok.base);
		free(w);
	}
}

static void
proc_write_ready(struct proc *p)
{
	struct proc_fd *f = p->is_pty ? p->out : p->in;
	char *err;
	ssize_t n;

	if (f == NULL)
		return;
	while (buf_len(&p->inq) > 0) {
		n = write(f->fd, buf_ptr(&p->inq), buf_len(&p->inq));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			err = xasprintf("error writing to %s: %s",
			    p->is_pty ? "tty" : "stdin", errtext(errno));
			buf_reset(&p->inq);
			p->written = p->queued;
			proc_waiters_finish(p, err);
			free(err);
			break;
		}
		buf_consume(&p->inq, (size_t)n);
		p->written += (uint64_t)n;
	}
	proc_waiters_finish(p, NULL);
	if (buf_len(&p->inq) == 0 && p->close_in_after && !p->is_pty) {
		proc_fd_close(p->in);
		return;
	}
	proc_fd_update(f);
}

int
proc_close_stdin(struct proc *p, char **errmsg)
{
	*errmsg = NULL;
	if (p->is_pty) {
		*errmsg = xstrdup("cannot close stdin for PTY process — send "
		    "Ctrl+D (0x04) instead");
		return -EINVAL;
	}
	if (p->in == NULL || p->in->closed || p->close_in_after)
		return 0;	/* disabled or already closed: no-op */
	p->close_in_after = 1;
	if (buf_len(&p->inq) == 0)
		proc_fd_close(p->in);
	return 0;
}

int
proc_signal(struct proc *p, int sig, struct rpc *rpc, char **errmsg)
{
	struct proc_waiter *w;
	int wait;

	*errmsg = NULL;
	/* Reaped already: the pid is not ours to signal any more. */
	if (!p->exited && kill(p->pid, sig) < 0) {
		*errmsg = xasprintf("error sending signal: %s", errtext(errno));
		return -errno;
	}
	wait = rpc != NULL && sig == SIGKILL && !p->exited;
	proc_cancel_output(p);
	if (!wait)
		return 1;
	/* Answer once the process is reaped (or after a short while). */
	w = xcalloc(1, sizeof(*w));
	w->p = p;
	w->rpc = rpc;
	w->kill = 1;
	rpc_set_data(rpc, w);
	TAILQ_INSERT_TAIL(&p->kill_waiters, w, entry);
	if (p->kill_timer == NULL) {
		p->kill_timer = xcalloc(1, sizeof(*p->kill_timer));
		uv_timer_init(proc_loop, p->kill_timer);
		p->kill_timer->data = p;
		p->handles++;
	}
	if (!uv_is_active((uv_handle_t *)p->kill_timer))
		uv_timer_start(p->kill_timer, proc_kill_timer_cb,
		    PROC_KILL_WAIT_MS, 0);
	return 0;
}

/* Answer every SendSignal waiting for the reap. */
static void
proc_kill_waiters_finish(struct proc *p)
{
	Process__SendSignalResponse ok = PROCESS__SEND_SIGNAL_RESPONSE__INIT;
	struct proc_waiter *w;

	while ((w = TAILQ_FIRST(&p->kill_waiters)) != NULL) {
		TAILQ_REMOVE(&p->kill_waiters, w, entry);
		rpc_set_data(w->rpc, NULL);
		rpc_reply(w->rpc, &ok.base);
		free(w);
	}
	if (p->kill_timer != NULL)
		uv_timer_stop(p->kill_timer);
}

static void
proc_kill_timer_cb(uv_timer_t *t)
{
	proc_kill_waiters_finish(t->data);
}

/*
 * After SendSignal or the deadline, output no longer holds the end event
 * back: once the child is reaped, the readers stop (process.md §4.4).
 */
static void
proc_cancel_output(struct proc *p)
{
	p->signalled = 1;
	if (!p->exited)
		return;		/* proc_reap() stops the readers */
	proc_stop_readers(p);
	proc_maybe_end(p);
}

int
proc_resize(struct proc *p, uint32_t cols, uint32_t rows, char **errmsg)
{
	int r;

	*errmsg = NULL;
	if (!p->is_pty || p->out == NULL) {
		*errmsg = xstrdup("error resizing tty: tty not assigned to "
		    "process");
		return -ENOTTY;
	}
	if ((r = spawn_pty_resize(p->out->fd, (uint16_t)cols,
	    (uint16_t)rows)) != 0) {
		*errmsg = xasprintf("error resizing tty: %s", errtext(r));
		return r;
	}
	return 0;
}

/* --- lifecycle --- */

void
proc_status_text(int ws, char *buf, size_t size, int *exit_code, int *exited)
{
	if (WIFEXITED(ws)) {
		*exited = 1;
		*exit_code = WEXITSTATUS(ws);
		snprintf(buf, size, "exit status %d", *exit_code);
		return;
	}
	*exited = 0;
	*exit_code = -1;
	if (WIFSIGNALED(ws)) {
		static const char *const names[] = {
			NULL, "hangup", "interrupt", "quit",
			"illegal instruction", "trace/breakpoint trap",
			"aborted", "bus error", "floating point exception",
			"killed", "user defined signal 1",
			"segmentation fault", "user defined signal 2",
			"broken pipe", "alarm clock", "terminated",
			"stack fault", "child exited", "continued",
			"stopped (signal)", "stopped", "stopped (tty input)",
			"stopped (tty output)", "urgent I/O condition",
			"CPU time limit exceeded", "file size limit exceeded",
			"virtual timer expired", "profiling timer expired",
			"window changed", "I/O possible", "power failure",
			"bad system call",
		};
		int sig = WTERMSIG(ws);

		if (sig > 0 && sig < (int)(sizeof(names) / sizeof(names[0])))
			snprintf(buf, size, "signal: %s%s", names[sig],
			    WCOREDUMP(ws) ? " (core dumped)" : "");
		else
			snprintf(buf, size, "signal: signal %d%s", sig,
			    WCOREDUMP(ws) ? " (core dumped)" : "");
		return;
	}
	snprintf(buf, size, "exit status %d", -1);
}

/* The child exited: reap it now so it is never a zombie. */
static void
proc_reap(struct proc *p)
{
	int ws;
	pid_t r;

	do {
		r = waitpid(p->pid, &ws, WNOHANG);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return;		/* not yet: the pidfd spoke early */
	p->exited = 1;
	p->wstatus = r > 0 ? ws : 0;
	proc_fd_close(p->pidfd);
	proc_kill_waiters_finish(p);
	if (p->signalled)
		proc_stop_readers(p);
	proc_maybe_end(p);
}

/* Stop reading output: what is still unread is lost. */
static void
proc_stop_readers(struct proc *p)
{
	if (p->out != NULL)
		p->out->eof = 1;
	if (p->err != NULL)
		p->err->eof = 1;
	if (p->is_pty)
		proc_fd_update(p->out);
	else
		proc_fd_close(p->out);
	proc_fd_close(p->err);
}

/* Without pidfds: reap whichever of ours has exited. */
static void
proc_sigchld_cb(uv_signal_t *h, int sig)
{
	struct proc *p, *next;

	for (p = LIST_FIRST(&proc_table); p != NULL; p = next) {
		next = LIST_NEXT(p, entry);
		if (p->pidfd == NULL && !p->exited)
			proc_reap(p);
	}
}

static void
proc_sigchld_closed(uv_handle_t *h)
{
	free(h);
}

/* Send the end event once the child is reaped and its output is over. */
static void
proc_maybe_end(struct proc *p)
{
	struct proc_sub *s;
	char status[80];
	int code, exited;

	if (p->ended || !p->exited)
		return;
	if ((p->out != NULL && !p->out->eof) || (p->err != NULL &&
	    !p->err->eof))
		return;
	p->ended = 1;
	proc_kill_waiters_finish(p);
	proc_status_text(p->wstatus, status, sizeof(status), &code, &exited);
	while ((s = LIST_FIRST(&p->subs)) != NULL) {
		proc_send_end(s->rpc, code, exited, status);
		rpc_end(s->rpc);
		proc_sub_free(s);
	}
	proc_retain(p, code, exited, status);
	memtrim_soon();		/* its buffers and subscribers are freed */

	LIST_REMOVE(p, entry);
	p->in_table = 0;
	proc_count--;
	proc_waiters_finish(p, "error writing to stdin: process exited");
	proc_fd_close(p->pidfd);
	proc_fd_close(p->out);
	proc_fd_close(p->err);
	proc_fd_close(p->in);
	if (p->deadline != NULL) {
		uv_close((uv_handle_t *)p->deadline, proc_timer_closed);
		p->deadline = NULL;
	}
	if (p->stall_timer != NULL) {
		uv_close((uv_handle_t *)p->stall_timer, proc_timer_closed);
		p->stall_timer = NULL;
	}
	if (p->kill_timer != NULL) {
		uv_close((uv_handle_t *)p->kill_timer, proc_timer_closed);
		p->kill_timer = NULL;
	}
	if (p->handles == 0)
		proc_release(p);
}

static void
proc_timer_closed(uv_handle_t *h)
{
	struct proc *p = h->data;

	free(h);
	if (--p->handles == 0 && !p->in_table)
		proc_release(p);
}

static void
proc_release(struct proc *p)
{
	buf_reset(&p->inq);
	protobuf_c_message_free_unpacked(&p->config->base, NULL);
	free(p->tag);
	free(p);
}

static void
proc_deadline_cb(uv_timer_t *t)
{
	struct proc *p = t->data;

	if (!p->exited && kill(p->pid, SIGKILL) < 0)
		log_warn("process %d: deadline kill: %s", (int)p->pid,
		    strerror(errno));
	proc_cancel_output(p);
}

/* --- start, connect, subscribers --- */

static void
proc_send_start(struct rpc *rpc, uint32_t pid)
{
	Process__StartResponse resp = PROCESS__START_RESPONSE__INIT;
	Process__ProcessEvent ev = PROCESS__PROCESS_EVENT__INIT;
	Process__ProcessEvent__StartEvent se =
	    PROCESS__PROCESS_EVENT__START_EVENT__INIT;
	Process__ProcessEvent__KeepAlive ka =
	    PROCESS__PROCESS_EVENT__KEEP_ALIVE__INIT;

	se.pid = pid;
	ev.event_case = PROCESS__PROCESS_EVENT__EVENT_START;
	ev.start = &se;
	resp.event = &ev;
	rpc_send(rpc, &resp.base);
	ev.event_case = PROCESS__PROCESS_EVENT__EVENT_KEEPALIVE;
	ev.keepalive = &ka;
	rpc_keepalive(rpc, &resp.base);
}

static void
proc_send_end(struct rpc *rpc, int code, int exited, const char *status)
{
	Process__StartResponse resp = PROCESS__START_RESPONSE__INIT;
	Process__ProcessEvent ev = PROCESS__PROCESS_EVENT__INIT;
	Process__ProcessEvent__EndEvent ee =
	    PROCESS__PROCESS_EVENT__END_EVENT__INIT;

	ee.exit_code = code;
	ee.exited = exited;
	ee.status = (char *)status;
	if (!(exited && code == 0)) {
		ee._error_case = PROCESS__PROCESS_EVENT__END_EVENT___ERROR_ERROR;
		ee.error = (char *)status;
	}
	ev.event_case = PROCESS__PROCESS_EVENT__EVENT_END;
	ev.end = &ee;
	resp.event = &ev;
	rpc_send(rpc, &resp.base);
}

static void
proc_subscribe(struct proc *p, struct rpc *rpc)
{
	struct proc_sub *s;

	s = xcalloc(1, sizeof(*s));
	s->p = p;
	s->rpc = rpc;
	rpc_set_data(rpc, s);
	LIST_INSERT_HEAD(&p->subs, s, entry);
}

static void
proc_sub_free(struct proc_sub *s)
{
	struct proc *p = s->p;

	LIST_REMOVE(s, entry);
	if (s->full && !rpc_finished(s->rpc))
		rpc_on_drain(s->rpc, 0, NULL, NULL);	/* forget s */
	rpc_set_data(s->rpc, NULL);
	free(s);
	if (!p->ended)
		proc_check_pressure(p);
}

void
proc_unsubscribe(struct rpc *rpc)
{
	struct proc_sub *s = rpc_data(rpc);

	if (s != NULL)
		proc_sub_free(s);
}

int
proc_start(const struct proc_start_opts *o, struct rpc *rpc, char **errmsg,
    int *internal)
{
	struct spawn_req sr;
	struct spawn_result res;
	enum cgroup_group group;
	struct proc *p;
	char **argv;
	size_t i;
	int r;

	*errmsg = NULL;
	if (internal != NULL)
		*internal = 0;
	if (proc_count >= PROC_MAX) {
		*errmsg = xasprintf("too many processes (%d)", PROC_MAX);
		return -EAGAIN;
	}
	argv = xcalloc(o->config->n_args + 2, sizeof(*argv));
	argv[0] = o->config->cmd;
	for (i = 0; i < o->config->n_args; i++)
		argv[i + 1] = o->config->args[i];
	memset(&sr, 0, sizeof(sr));
	sr.cmd = o->config->cmd;
	sr.argv = argv;
	sr.envp = o->envp;
	sr.cwd = o->cwd;
	sr.uid = o->user->uid;
	sr.gid = o->user->gid;
	sr.groups = o->user->groups;
	sr.ngroups = o->user->ngroups;
	sr.pty = o->pty;
	sr.cols = o->cols;
	sr.rows = o->rows;
	sr.stdin_pipe = o->stdin_pipe;
	group = o->tag != NULL && strcmp(o->tag, PROC_SYSTEM_TAG) == 0 ?
	    CGROUP_NONE : o->pty ? CGROUP_PTYS : CGROUP_USER;
	if (cgroup_admit(group, errmsg) != 0) {
		free(argv);
		if (internal != NULL)
			*internal = PROC_START_FROZEN;
		return -EAGAIN;
	}
	if (cgroup_fd(group) > 2)
		sr.cgroup_fd = cgroup_fd(group);
	r = spawn_start(&sr, &res, errmsg);
	free(argv);
	if (r != 0) {
		if (internal != NULL)
			*internal = res.pipe_failed;
		return r;
	}

	p = xcalloc(1, sizeof(*p));
	p->pid = res.pid;
	p->tag = o->tag != NULL ? xstrdup(o->tag) : NULL;
	p->config = (Process__ProcessConfig *)connect_message_copy(
	    &o->config->base);
	p->is_pty = o->pty;
	LIST_INIT(&p->subs);
	TAILQ_INIT(&p->waiters);
	TAILQ_INIT(&p->kill_waiters);
	buf_init(&p->inq, PROC_STDIN_MAX);
	if (res.pidfd >= 0)
		p->pidfd = proc_fd_new(p, res.pidfd, PROC_FD_PID);
	if (o->pty) {
		p->out = proc_fd_new(p, res.pty_fd, PROC_FD_PTY);
	} else {
		p->out = proc_fd_new(p, res.stdout_fd, PROC_FD_STDOUT);
		p->err = proc_fd_new(p, res.stderr_fd, PROC_FD_STDERR);
		if (res.stdin_fd >= 0)
			p->in = proc_fd_new(p, res.stdin_fd, PROC_FD_STDIN);
	}
	p->in_table = 1;
	LIST_INSERT_HEAD(&proc_table, p, entry);
	proc_count++;

	/* A new process evicts retained ends with its pid or tag. */
	proc_retained_evict((uint32_t)p->pid, p->tag);
	if (o->timeout_ms > 0) {
		p->deadline = xcalloc(1, sizeof(*p->deadline));
		uv_timer_init(proc_loop, p->deadline);
		p->deadline->data = p;
		p->handles++;
		uv_timer_start(p->deadline, proc_deadline_cb, o->timeout_ms, 0);
	}

	proc_subscribe(p, rpc);
	proc_send_start(rpc, (uint32_t)p->pid);
	proc_fd_update(p->pidfd);
	proc_fd_update(p->out);
	proc_fd_update(p->err);
	if (p->pidfd == NULL) {
		if (proc_sigchld == NULL) {
			log_warn("pidfd_open failed; reaping on SIGCHLD");
			proc_sigchld = xcalloc(1, sizeof(*proc_sigchld));
			uv_signal_init(proc_loop, proc_sigchld);
			uv_signal_start(proc_sigchld, proc_sigchld_cb, SIGCHLD);
		}
		proc_reap(p);	/* it may be gone already */
	}
	return 0;
}

struct proc *
proc_find(const Process__ProcessSelector *sel)
{
	struct proc *p;

	LIST_FOREACH(p, &proc_table, entry) {
		if (sel->selector_case ==
		    PROCESS__PROCESS_SELECTOR__SELECTOR_PID) {
			if ((uint32_t)p->pid == sel->pid)
				return p;
		} else if (sel->selector_case ==
		    PROCESS__PROCESS_SELECTOR__SELECTOR_TAG) {
			if (p->tag != NULL && sel->tag != NULL &&
			    strcmp(p->tag, sel->tag) == 0)
				return p;
		}
	}
	return NULL;
}

int
proc_connect(const Process__ProcessSelector *sel, struct rpc *rpc)
{
	struct proc_retained *rt;
	struct proc *p;

	if ((p = proc_find(sel)) != NULL) {
		proc_subscribe(p, rpc);
		proc_send_start(rpc, (uint32_t)p->pid);
		return 0;
	}
	if ((rt = proc_retained_find(sel)) != NULL) {
		proc_send_start(rpc, rt->pid);
		proc_send_end(rpc, rt->exit_code, rt->exited, rt->status);
		rpc_end(rpc);
		return 0;
	}
	return -ENOENT;
}

void
proc_foreach(void (*fn)(struct proc *, void *), void *arg)
{
	struct proc *p;

	LIST_FOREACH(p, &proc_table, entry)
		fn(p, arg);
}

uint32_t
proc_pid(const struct proc *p)
{
	return (uint32_t)p->pid;
}

const char *
proc_tag(const struct proc *p)
{
	return p->tag;
}

const Process__ProcessConfig *
proc_config(const struct proc *p)
{
	return p->config;
}

int
proc_is_pty(const struct proc *p)
{
	return p->is_pty;
}

/* --- retention of end events --- */

static void
proc_retain(struct proc *p, int code, int exited, const char *status)
{
	struct proc_retained *rt;

	proc_retained_expire();
	if (proc_nretained >= PROC_MAX)
		proc_retained_drop(TAILQ_FIRST(&proc_retained_age));
	rt = xcalloc(1, sizeof(*rt));
	rt->pid = (uint32_t)p->pid;
	rt->tag = p->tag != NULL ? xstrdup(p->tag) : NULL;
	rt->expires = uv_now(proc_loop) + PROC_RETAIN_MS;
	rt->exit_code = code;
	rt->exited = exited;
	snprintf(rt->status, sizeof(rt->status), "%s", status);
	TAILQ_INSERT_TAIL(&proc_retained_age, rt, age);
	LIST_INSERT_HEAD(&proc_retained_pid[rt->pid % PROC_RETAIN_BUCKETS],
	    rt, by_pid);
	if (rt->tag != NULL)
		LIST_INSERT_HEAD(&proc_retained_tag[proc_tag_bucket(rt->tag)],
		    rt, by_tag);
	proc_nretained++;
}

static void
proc_retained_drop(struct proc_retained *rt)
{
	TAILQ_REMOVE(&proc_retained_age, rt, age);
	LIST_REMOVE(rt, by_pid);
	if (rt->tag != NULL)
		LIST_REMOVE(rt, by_tag);
	proc_nretained--;
	free(rt->tag);
	free(rt);
}

static void
proc_retained_expire(void)
{
	struct proc_retained *rt;
	uint64_t now = uv_now(proc_loop);

	while ((rt = TAILQ_FIRST(&proc_retained_age)) != NULL &&
	    rt->expires <= now)
		proc_retained_drop(rt);
}

/* Drop the retained ends with this pid or this tag (NULL: none). */
static void
proc_retained_evict(uint32_t pid, const char *tag)
{
	struct proc_retained *rt, *next;
	struct proc_retained_bucket *b;

	b = &proc_retained_pid[pid % PROC_RETAIN_BUCKETS];
	for (rt = LIST_FIRST(b); rt != NULL; rt = next) {
		next = LIST_NEXT(rt, by_pid);
		if (rt->pid == pid)
			proc_retained_drop(rt);
	}
	if (tag == NULL)
		return;
	b = &proc_retained_tag[proc_tag_bucket(tag)];
	for (rt = LIST_FIRST(b); rt != NULL; rt = next) {
		next = LIST_NEXT(rt, by_tag);
		if (strcmp(rt->tag, tag) == 0)
			proc_retained_drop(rt);
	}
}

static struct proc_retained *
proc_retained_find(const Process__ProcessSelector *sel)
{
	struct proc_retained *rt;

	proc_retained_expire();
	if (sel->selector_case == PROCESS__PROCESS_SELECTOR__SELECTOR_PID) {
		LIST_FOREACH(rt, &proc_retained_pid[sel->pid %
		    PROC_RETAIN_BUCKETS], by_pid)
			if (rt->pid == sel->pid)
				return rt;
	} else if (sel->selector_case ==
	    PROCESS__PROCESS_SELECTOR__SELECTOR_TAG && sel->tag != NULL) {
		LIST_FOREACH(rt, &proc_retained_tag[proc_tag_bucket(sel->tag)],
		    by_tag)
			if (strcmp(rt->tag, sel->tag) == 0)
				return rt;
	}
	return NULL;
}

void
proc_shutdown(void)
{
	struct proc *p;
	struct proc_sub *s;

	while ((p = LIST_FIRST(&proc_table)) != NULL) {
		while ((s = LIST_FIRST(&p->subs)) != NULL)
			proc_sub_free(s);
		proc_waiters_finish(p, "daemon stopping");
		proc_kill_waiters_finish(p);
		LIST_REMOVE(p, entry);
		p->in_table = 0;
		proc_count--;
		p->ended = 1;
		proc_fd_close(p->pidfd);
		proc_fd_close(p->out);
		proc_fd_close(p->err);
		proc_fd_close(p->in);
		if (p->deadline != NULL) {
			uv_close((uv_handle_t *)p->deadline, proc_timer_closed);
			p->deadline = NULL;
		}
		if (p->stall_timer != NULL) {
			uv_close((uv_handle_t *)p->stall_timer,
			    proc_timer_closed);
			p->stall_timer = NULL;
		}
		if (p->kill_timer != NULL) {
			uv_close((uv_handle_t *)p->kill_timer,
			    proc_timer_closed);
			p->kill_timer = NULL;
		}
		if (p->handles == 0)
			proc_release(p);
	}
	if (proc_sigchld != NULL) {
		uv_close((uv_handle_t *)proc_sigchld, proc_sigchld_closed);
		proc_sigchld = NULL;
	}
	while (!TAILQ_EMPTY(&proc_retained_age))
		proc_retained_drop(TAILQ_FIRST(&proc_retained_age));
}
