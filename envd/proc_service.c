/*
 * proc_service.c - the process.Process Connect service (process.md).
 *
 * Decodes requests, resolves users, working directories, environments and
 * selectors, and maps failures to Connect codes. The processes themselves
 * and their streams live in proc.c.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include "buf.h"
#include "connect.h"
#include "envs.h"
#include "errtext.h"
#include "fdres.h"
#include "fs_path.h"
#include "init.h"
#include "proc.h"
#include "proc_service.h"
#include "users.h"
#include "xalloc.h"

#include "process/process.pb-c.h"

#define PROC_ENV_MAX 4096
#define PROC_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The environment being composed for a child: "K=V" strings, unique K. */
struct proc_env {
	char **vars;
	size_t n;
	int overflow;
};

/*
 * A Start that found no descriptors free waits for some instead of failing
 * at once: idle connections are shed for it (fdres_short()), and what busy
 * requests and processes hold comes back within moments. It tries again
 * every PROC_START_RETRY_MS for PROC_START_WAIT_MS, then fails as it
 * would have at first. Owned by proc_start_waits until it starts, fails,
 * or its client goes (the Start cancel frees it); the request is a deep
 * copy.
 */
#define PROC_START_RETRY_MS 10
#define PROC_START_WAIT_MS 2000

/*
 * Starts spawned in one loop iteration: at most PROC_STARTS_PER_ROUND. A
 * spawn holds the loop until the child execs (vfork), so a burst of Starts
 * served at once held every other request behind it (60 at 1.5 ms each:
 * /health waited 90 ms). The rest wait in proc_start_waits too, for
 * PROC_START_NEXT_MS, and go first in the next iteration (timers run
 * before the poll phase that brings new Starts; the count is reset after
 * it).
 */
#define PROC_STARTS_PER_ROUND 4
#define PROC_START_NEXT_MS 1

struct proc_start_wait {
	LIST_ENTRY(proc_start_wait) entry;
	struct rpc *rpc;
	Process__StartRequest *req;
	uv_timer_t timer;
	int fd_wait;			/* waiting for descriptors */
	uint64_t since;			/* uv_now() of the first such try */
};

static unsigned int proc_starts_round;	/* spawned this iteration */
static uv_check_t proc_round_check;

static LIST_HEAD(, proc_start_wait) proc_start_waits =
    LIST_HEAD_INITIALIZER(proc_start_waits);
static uv_loop_t *proc_service_loop;

/* StreamInput state: the process chosen by the start event. */
struct proc_stream_input {
	int selected;
	Process__ProcessSelector sel;
	char *tag;
};

static char *proc_service_path;

static void proc_env_set(struct proc_env *, const char *, size_t,
    const char *);
static void proc_env_cb(const char *, const char *, void *);
static void proc_env_free(struct proc_env *);
static int proc_select(struct rpc *, const Process__ProcessSelector *,
    struct proc **);
static char *proc_cmdline(const Process__ProcessConfig *);
static int proc_input(struct rpc *, struct proc *,
    const Process__ProcessInput *, struct rpc *);

static enum connect_code proc_start_code(int, int);
static int proc_start_try(struct rpc *, const Process__StartRequest *, int);
static void proc_start_wait(struct rpc *, const Process__StartRequest *,
    int);
static void proc_round_cb(uv_check_t *);
static void proc_start_wait_cb(uv_timer_t *);
static void proc_start_wait_free(struct proc_start_wait *);
static void proc_rpc_start(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_start_cancel(struct rpc *);
static void proc_rpc_connect(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_list(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_update(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_send_input(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_send_signal(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_close_stdin(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_stream_input(struct rpc *, const ProtobufCMessage *);
static void proc_rpc_stream_input_end(struct rpc *);
static void proc_rpc_stream_input_cancel(struct rpc *);

static const struct connect_method proc_methods[] = {
	{ "/process.Process/Start", CONNECT_SERVER_STREAM,
	  &process__start_request__descriptor,
	  &process__start_response__descriptor,
	  proc_rpc_start, NULL, proc_rpc_start_cancel },
	{ "/process.Process/Connect", CONNECT_SERVER_STREAM,
	  &process__connect_request__descriptor,
	  &process__connect_response__descriptor,
	  proc_rpc_connect, NULL, proc_unsubscribe },
	{ "/process.Process/List", CONNECT_UNARY,
	  &process__list_request__descriptor,
	  &process__list_response__descriptor,
	  proc_rpc_list, NULL, NULL },
	{ "/process.Process/Update", CONNECT_UNARY,
	  &process__update_request__descriptor,
	  &process__update_response__descriptor,
	  proc_rpc_update, NULL, NULL },
	{ "/process.Process/SendInput", CONNECT_UNARY,
	  &process__send_input_request__descriptor,
	  &process__send_input_response__descriptor,
	  proc_rpc_send_input, NULL, proc_waiter_cancel },
	{ "/process.Process/StreamInput", CONNECT_CLIENT_STREAM,
	  &process__stream_input_request__descriptor,
	  &process__stream_input_response__descriptor,
	  proc_rpc_stream_input, proc_rpc_stream_input_end,
	  proc_rpc_stream_input_cancel },
	{ "/process.Process/SendSignal", CONNECT_UNARY,
	  &process__send_signal_request__descriptor,
	  &process__send_signal_response__descriptor,
	  proc_rpc_send_signal, NULL, proc_waiter_cancel },
	{ "/process.Process/CloseStdin", CONNECT_UNARY,
	  &process__close_stdin_request__descriptor,
	  &process__close_stdin_response__descriptor,
	  proc_rpc_close_stdin, NULL, NULL },
};

void
proc_service_init(uv_loop_t *loop)
{
	const char *path = getenv("PATH");

	proc_service_path = xstrdup(path != NULL && path[0] != '\0' ? path :
	    PROC_DEFAULT_PATH);
	proc_service_loop = loop;
	uv_check_init(loop, &proc_round_check);
	uv_check_start(&proc_round_check, proc_round_cb);
	uv_unref((uv_handle_t *)&proc_round_check);
	proc_init(loop);
	connect_register(proc_methods, sizeof(proc_methods) /
	    sizeof(proc_methods[0]));
}

void
proc_service_shutdown(void)
{
	struct proc_start_wait *w;

	/* Their rpcs end with the connections, and the cancel frees them. */
	LIST_FOREACH(w, &proc_start_waits, entry)
		uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&proc_round_check, NULL);
	proc_shutdown();
	free(proc_service_path);
	proc_service_path = NULL;
}

/* --- environment --- */

/* Set key to value; a later setting of the same key wins. */
static void
proc_env_set(struct proc_env *e, const char *key, size_t klen,
    const char *value)
{
	size_t i;
	char *kv;

	kv = xasprintf("%.*s=%s", (int)klen, key, value);
	for (i = 0; i < e->n; i++) {
		if (strncmp(e->vars[i], key, klen) == 0 &&
		    e->vars[i][klen] == '=') {
			free(e->vars[i]);
			e->vars[i] = kv;
			return;
		}
	}
	if (e->n >= PROC_ENV_MAX) {
		e->overflow = 1;
		free(kv);
		return;
	}
	e->vars = xreallocarray(e->vars, e->n + 2, sizeof(*e->vars));
	e->vars[e->n++] = kv;
	e->vars[e->n] = NULL;
}

static void
proc_env_cb(const char *key, const char *value, void *arg)
{
	proc_env_set(arg, key, strlen(key), value);
}

static void
proc_env_free(struct proc_env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->vars[i]);
	free(e->vars);
}

/* "cmd arg1 arg2" for error messages. */
static char *
proc_cmdline(const Process__ProcessConfig *c)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	buf_puts(&b, c->cmd != NULL ? c->cmd : "");
	for (i = 0; i < c->n_args; i++) {
		buf_puts(&b, " ");
		buf_puts(&b, c->args[i]);
	}
	return buf_steal_str(&b, NULL);
}

/* --- Start --- */

/*
 * The Connect code of a failed spawn (upstream-0.9.md §6.3). The spawn is
 * synchronous and starts as soon as the request is decoded, so the
 * deadline_exceeded and canceled cases (a deadline or cancellation before
 * the fork) cannot arise here.
 */
static enum connect_code
proc_start_code(int err, int how)
{
	if (how == PROC_START_FROZEN)
		return CONNECT_UNAVAILABLE;
	switch (-err) {
	case EAGAIN:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case ENOSPC:
		return CONNECT_RESOURCE_EXHAUSTED;
	default:
		return CONNECT_INVALID_ARGUMENT;
	}
}

static void
proc_rpc_start(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Process__StartRequest *req = (const void *)m;

	if (proc_starts_round >= PROC_STARTS_PER_ROUND)
		proc_start_wait(rpc, req, 0);
	else if (proc_start_try(rpc, req, 1) != 0)
		proc_start_wait(rpc, req, 1);
}

/* A poll phase is over: the next iteration may spawn again. */
static void
proc_round_cb(uv_check_t *c)
{
	(void)c;
	proc_starts_round = 0;
}

/* Park a Start until the next iteration, or (fd_wait) until descriptors
 * are free (see proc_start_wait). */
static void
proc_start_wait(struct rpc *rpc, const Process__StartRequest *req,
    int fd_wait)
{
	struct proc_start_wait *w;

	w = xcalloc(1, sizeof(*w));
	w->req = (Process__StartRequest *)connect_message_copy(&req->base);
	w->rpc = rpc;
	w->fd_wait = fd_wait;
	w->since = uv_now(proc_service_loop);
	uv_timer_init(proc_service_loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, proc_start_wait_cb, fd_wait ?
	    PROC_START_RETRY_MS : PROC_START_NEXT_MS, 0);
	LIST_INSERT_HEAD(&proc_start_waits, w, entry);
	if (fd_wait)
		fdres_short();
}

static void
proc_start_wait_cb(uv_timer_t *t)
{
	struct proc_start_wait *w = t->data;
	uint64_t now = uv_now(proc_service_loop);
	int may_wait;

	if (proc_starts_round >= PROC_STARTS_PER_ROUND) {
		uv_timer_start(&w->timer, proc_start_wait_cb,
		    PROC_START_NEXT_MS, 0);
		return;
	}
	may_wait = !w->fd_wait || now - w->since < PROC_START_WAIT_MS;
	if (proc_start_try(w->rpc, w->req, may_wait) != 0) {
		if (!w->fd_wait) {
			w->fd_wait = 1;
			w->since = now;
		}
		fdres_short();
		uv_timer_start(&w->timer, proc_start_wait_cb,
		    PROC_START_RETRY_MS, 0);
		return;
	}
	proc_start_wait_free(w);
}

static void
proc_start_wait_closed(uv_handle_t *h)
{
	struct proc_start_wait *w = h->data;

	process__start_request__free_unpacked(w->req, NULL);
	free(w);
}

static void
proc_start_wait_free(struct proc_start_wait *w)
{
	LIST_REMOVE(w, entry);
	uv_close((uv_handle_t *)&w->timer, proc_start_wait_closed);
}

static void
proc_rpc_start_cancel(struct rpc *rpc)
{
	struct proc_start_wait *w;

	LIST_FOREACH(w, &proc_start_waits, entry)
		if (w->rpc == rpc) {
			proc_start_wait_free(w);
			return;
		}
	proc_unsubscribe(rpc);
}

/*
 * Start the process of req for rpc, or finish rpc with the error. Returns
 * 0, or 1 without finishing rpc when the daemon is out of descriptors and
 * may_wait is non-zero: the caller tries again later.
 */
static int
proc_start_try(struct rpc *rpc, const Process__StartRequest *req,
    int may_wait)
{
	Process__ProcessConfig empty = PROCESS__PROCESS_CONFIG__INIT;
	const Process__ProcessConfig *cfg;
	struct proc_start_opts o;
	struct proc_env env = { NULL, 0, 0 };
	const struct user *u;
	const char *workdir;
	char *cwd = NULL, *err = NULL, *cmdline = NULL;
	struct stat st;
	size_t i;
	int internal = 0, r, ret = 0;

	if (rpc_user(rpc, &u) != 0)
		return 0;
	cfg = req->process != NULL ? req->process : &empty;
	workdir = init_default_workdir();
	if (cfg->_cwd_case == PROCESS__PROCESS_CONFIG___CWD_CWD &&
	    cfg->cwd != NULL && cfg->cwd[0] != '\0') {
		if (fs_path_resolve(cfg->cwd, u->name, u->home, workdir, &cwd,
		    &err) != 0) {
			rpc_error(rpc, CONNECT_INVALID_ARGUMENT, "%s", err);
			goto out;
		}
	} else {
		cwd = xstrdup(workdir != NULL && workdir[0] != '\0' ? workdir :
		    u->home);
	}
	if (stat(cwd, &st) != 0 && errno == ENOENT) {
		rpc_error(rpc, CONNECT_INVALID_ARGUMENT,
		    "cwd '%s' does not exist", cwd);
		goto out;
	}

	/* process.md §3: PATH, identity, daemon env, request env. */
	proc_env_set(&env, "PATH", 4, proc_service_path);
	proc_env_set(&env, "HOME", 4, u->home);
	proc_env_set(&env, "USER", 4, u->name);
	proc_env_set(&env, "LOGNAME", 7, u->name);
	envs_foreach(proc_env_cb, &env);
	for (i = 0; i < cfg->n_envs; i++)
		proc_env_set(&env, cfg->envs[i]->key, strlen(cfg->envs[i]->key),
		    cfg->envs[i]->value);
	if (env.overflow) {
		rpc_error(rpc, CONNECT_INVALID_ARGUMENT,
		    "too many environment variables (at most %d)",
		    PROC_ENV_MAX);
		goto out;
	}

	memset(&o, 0, sizeof(o));
	o.config = cfg;
	o.tag = req->_tag_case == PROCESS__START_REQUEST___TAG_TAG ?
	    req->tag : NULL;
	o.pty = req->_pty_case == PROCESS__START_REQUEST___PTY_PTY;
	if (o.pty && req->pty != NULL && req->pty->size != NULL) {
		o.cols = (uint16_t)req->pty->size->cols;
		o.rows = (uint16_t)req->pty->size->rows;
	}
	o.stdin_pipe = req->_stdin_case != PROCESS__START_REQUEST___STDIN_STDIN ||
	    req->stdin;
	o.user = u;
	o.cwd = cwd;
	o.envp = env.vars;
	o.timeout_ms = rpc_timeout_ms(rpc);
	proc_starts_round++;
	if ((r = proc_start(&o, rpc, &err, &internal)) != 0 && may_wait &&
	    (r == -EMFILE || r == -ENFILE)) {
		ret = 1;
	} else if (r != 0) {
		cmdline = proc_cmdline(cfg);
		if (internal == 1)
			rpc_error(rpc, CONNECT_INTERNAL, "error creating stdio "
			    "pipes for command '%s': %s", cmdline, err);
		else if (o.pty)
			rpc_error(rpc, proc_start_code(r, internal),
			    "error starting pty with command '%s' in dir '%s' "
			    "with '%u' cols and '%u' rows: %s", cmdline, cwd,
			    o.cols, o.rows, err);
		else
			rpc_error(rpc, proc_start_code(r, internal),
			    "error starting process '%s': %s", cmdline, err);
	}
out:
	proc_env_free(&env);
	free(cmdline);
	free(cwd);
	free(err);
	return ret;
}

/* --- selectors --- */

/* Find the selected live process, or finish rpc with the error. */
static int
proc_select(struct rpc *rpc, const Process__ProcessSelector *sel,
    struct proc **out)
{
	if (sel == NULL ||
	    sel->selector_case == PROCESS__PROCESS_SELECTOR__SELECTOR__NOT_SET) {
		rpc_error(rpc, CONNECT_UNIMPLEMENTED, "invalid input type <nil>");
		return -EINVAL;
	}
	if ((*out = proc_find(sel)) != NULL)
		return 0;
	if (sel->selector_case == PROCESS__PROCESS_SELECTOR__SELECTOR_PID)
		rpc_error(rpc, CONNECT_NOT_FOUND, "process with pid %u not found",
		    sel->pid);
	else
		rpc_error(rpc, CONNECT_NOT_FOUND, "process with tag %s not found",
		    sel->tag);
	return -ENOENT;
}

static void
proc_rpc_connect(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Process__ConnectRequest *req = (const void *)m;
	const Process__ProcessSelector *sel = req->process;

	if (sel == NULL ||
	    sel->selector_case == PROCESS__PROCESS_SELECTOR__SELECTOR__NOT_SET) {
		rpc_error(rpc, CONNECT_UNIMPLEMENTED, "invalid input type <nil>");
		return;
	}
	if (proc_connect(sel, rpc) == 0)
		return;
	if (sel->selector_case == PROCESS__PROCESS_SELECTOR__SELECTOR_PID)
		rpc_error(rpc, CONNECT_NOT_FOUND, "process with pid %u not found",
		    sel->pid);
	else
		rpc_error(rpc, CONNECT_NOT_FOUND, "process with tag %s not found",
		    sel->tag);
}

/* --- List --- */

struct proc_list_ctx {
	Process__ProcessInfo **infos;
	size_t n;
};

static void
proc_list_cb(struct proc *p, void *arg)
{
	struct proc_list_ctx *c = arg;
	Process__ProcessInfo *pi;

	pi = xmalloc(sizeof(*pi));
	process__process_info__init(pi);
	pi->config = (Process__ProcessConfig *)proc_config(p);
	pi->pid = proc_pid(p);
	if (proc_tag(p) != NULL) {
		pi->_tag_case = PROCESS__PROCESS_INFO___TAG_TAG;
		pi->tag = (char *)proc_tag(p);
	}
	c->infos = xreallocarray(c->infos, c->n + 1, sizeof(*c->infos));
	c->infos[c->n++] = pi;
}

static void
proc_rpc_list(struct rpc *rpc, const ProtobufCMessage *m)
{
	Process__ListResponse resp = PROCESS__LIST_RESPONSE__INIT;
	struct proc_list_ctx c = { NULL, 0 };
	size_t i;

	proc_foreach(proc_list_cb, &c);
	resp.n_processes = c.n;
	resp.processes = c.infos;
	rpc_reply(rpc, &resp.base);
	for (i = 0; i < c.n; i++)
		free(c.infos[i]);
	free(c.infos);
}

/* --- Update, signals, stdin --- */

static void
proc_rpc_update(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Process__UpdateRequest *req = (const void *)m;
	Process__UpdateResponse resp = PROCESS__UPDATE_RESPONSE__INIT;
	struct proc *p;
	char *err = NULL;

	if (proc_select(rpc, req->process, &p) != 0)
		return;
	if (req->_pty_case == PROCESS__UPDATE_REQUEST___PTY_PTY &&
	    req->pty != NULL) {
		uint32_t cols = 0, rows = 0;

		if (req->pty->size != NULL) {
			cols = req->pty->size->cols;
			rows = req->pty->size->rows;
		}
		if (proc_resize(p, cols, rows, &err) != 0) {
			rpc_error(rpc, CONNECT_INTERNAL, "%s", err);
			free(err);
			return;
		}
	}
	rpc_reply(rpc, &resp.base);
}

/*
 * Write input to p for rpc. waiter (may be NULL) is answered when the
 * bytes are written. Returns 1 when done now, 0 when waiter will be
 * answered, -1 after finishing rpc with an error.
 */
static int
proc_input(struct rpc *rpc, struct proc *p, const Process__ProcessInput *in,
    struct rpc *waiter)
{
	const uint8_t *data;
	size_t len;
	char *err = NULL;
	int pty, r;

	if (in == NULL ||
	    in->input_case == PROCESS__PROCESS_INPUT__INPUT__NOT_SET) {
		rpc_error(rpc, CONNECT_UNIMPLEMENTED, "invalid input type <nil>");
		return -1;
	}
	pty = in->input_case == PROCESS__PROCESS_INPUT__INPUT_PTY;
	if (pty && !proc_is_pty(p)) {
		rpc_error(rpc, CONNECT_INTERNAL, "error writing to tty: tty not "
		    "assigned to process — input should be written to the "
		    "stdin, not the tty");
		return -1;
	}
	if (!pty && proc_is_pty(p)) {
		rpc_error(rpc, CONNECT_INTERNAL, "error writing to stdin: tty "
		    "assigned to process — input should be written to the pty, "
		    "not the stdin");
		return -1;
	}
	data = pty ? in->pty.data : in->stdin.data;
	len = pty ? in->pty.len : in->stdin.len;
	r = proc_write(p, pty, data, len, waiter, &err);
	if (r < 0) {
		rpc_error(rpc, r == -ENOBUFS ? CONNECT_RESOURCE_EXHAUSTED :
		    CONNECT_INTERNAL, "%s", err);
		free(err);
		return -1;
	}
	return waiter == NULL || r == 1 ? 1 : 0;
}

static void
proc_rpc_send_input(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Process__SendInputRequest *req = (const void *)m;
	Process__SendInputResponse resp = PROCESS__SEND_INPUT_RESPONSE__INIT;
	struct proc *p;

	if (proc_select(rpc, req->process, &p) != 0)
		return;
	if (proc_input(rpc, p, req->input, rpc) == 1)
		rpc_reply(rpc, &resp.base);
}

static void
proc_rpc_send_signal(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Process__SendSignalRequest *req = (const void *)m;
	Process__SendSignalResponse resp = PROCESS__SEND_SIGNAL_RESPONSE__INIT;
	const ProtobufCEnumValue *ev;
	struct proc *p;
	char *err = NULL;
	int sig, r;

	if (proc_select(rpc, req->process, &p) != 0)
		return;
	switch (req->signal) {
	case PROCESS__SIGNAL__SIGNAL_SIGKILL:
		sig = SIGKILL;
		break;
	case PROCESS__SIGNAL__SIGNAL_SIGTERM:
		sig = SIGTERM;
		break;
	default:
		ev = protobuf_c_enum_descriptor_get_value(
		    &process__signal__descriptor, req->signal);
		if (ev != NULL)
			rpc_error(rpc, CONNECT_UNIMPLEMENTED,
			    "invalid signal: %s", ev->name);
		else
			rpc_error(rpc, CONNECT_UNIMPLEMENTED,
			    "invalid signal: %d", (int)req->signal);
		return;
	}
	r = proc_signal(p, sig, rpc, &err);
	if (r < 0) {
		rpc_error(rpc, CONNECT_INTERNAL, "%s", err);
		free(err);
		return;
	}
	if (r == 1)
		rpc_reply(rpc, &resp.base);
}

static void
proc_rpc_close_stdin(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Process__CloseStdinRequest *req = (const void *)m;
	Process__CloseStdinResponse resp = PROCESS__CLOSE_STDIN_RESPONSE__INIT;
	struct proc *p;
	char *err = NULL;

	if (proc_select(rpc, req->process, &p) != 0)
		return;
	if (proc_close_stdin(p, &err) != 0) {
		rpc_error(rpc, CONNECT_UNKNOWN, "error closing stdin: %s", err);
		free(err);
		return;
	}
	rpc_reply(rpc, &resp.base);
}

/* --- StreamInput --- */

static void
proc_rpc_stream_input(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Process__StreamInputRequest *req = (const void *)m;
	struct proc_stream_input *si = rpc_data(rpc);
	struct proc *p;

	if (si == NULL) {
		si = xcalloc(1, sizeof(*si));
		rpc_set_data(rpc, si);
	}
	switch (req->event_case) {
	case PROCESS__STREAM_INPUT_REQUEST__EVENT_START:
		if (req->start == NULL ||
		    proc_select(rpc, req->start->process, &p) != 0) {
			if (!rpc_finished(rpc))
				rpc_error(rpc, CONNECT_UNIMPLEMENTED,
				    "invalid input type <nil>");
			return;
		}
		free(si->tag);
		si->tag = NULL;
		si->sel = *req->start->process;
		si->sel.base = req->start->process->base;
		if (si->sel.selector_case ==
		    PROCESS__PROCESS_SELECTOR__SELECTOR_TAG) {
			si->tag = xstrdup(req->start->process->tag);
			si->sel.tag = si->tag;
		}
		si->selected = 1;
		break;
	case PROCESS__STREAM_INPUT_REQUEST__EVENT_DATA:
		if (!si->selected) {
			rpc_error(rpc, CONNECT_FAILED_PRECONDITION,
			    "no process selected: the first message must be a "
			    "start event");
			return;
		}
		if (proc_select(rpc, &si->sel, &p) != 0)
			return;
		proc_input(rpc, p, req->data != NULL ? req->data->input : NULL,
		    NULL);
		break;
	case PROCESS__STREAM_INPUT_REQUEST__EVENT_KEEPALIVE:
		break;
	default:
		rpc_error(rpc, CONNECT_UNIMPLEMENTED, "invalid event type <nil>");
		break;
	}
}

static void
proc_rpc_stream_input_end(struct rpc *rpc)
{
	Process__StreamInputResponse resp = PROCESS__STREAM_INPUT_RESPONSE__INIT;

	proc_rpc_stream_input_cancel(rpc);
	rpc_send(rpc, &resp.base);
	rpc_end(rpc);
}

static void
proc_rpc_stream_input_cancel(struct rpc *rpc)
{
	struct proc_stream_input *si = rpc_data(rpc);

	if (si == NULL)
		return;
	rpc_set_data(rpc, NULL);
	free(si->tag);
	free(si);
}
