/*
 * control.c - /freeze, /unfreeze, /fsfreeze, /fsthaw, /collapse.
 *
 * Everything runs on the loop thread, so upstream's freeze lock is the
 * slot control_waiting (the /freeze waiting for its cgroups) plus a FIFO
 * of what waits for it; sweeps and thaws are synchronous and need no
 * more. Spawns are synchronous on the same thread too, so raising the
 * barrier never has in-flight spawns to drain.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "cgroup.h"
#include "control.h"
#include "errtext.h"
#include "httpd.h"
#include "log.h"
#include "logexp.h"
#include "query.h"
#include "xalloc.h"

#define CONTROL_WATCHDOG_MS (10 * 60 * 1000)
#define CONTROL_POLL_MS 2
#define CONTROL_TREE_MAX 8192
#define CONTROL_CGROUPS_DEFAULT 512
#define CONTROL_LOG_FLUSH_MS 2000
#define CONTROL_HUGE ((uintptr_t)2 * 1024 * 1024)
#define CONTROL_COLLAPSE_REGION_MAX ((uintptr_t)1024 * 1024 * 1024)
#define CONTROL_COLLAPSE_CHUNKS_MAX 4096
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* A cgroup a sweep wrote "1" to, until it reads frozen. */
struct control_target {
	char *path;
	int tolerate_vanish;	/* found by the walk: removal is churn */
	int done;
};

/* One /freeze from its arrival to its answer; owned by the req. */
struct control_freeze {
	struct req *req;
	struct control_delay *delay;	/* waiting for the lock, or NULL */
	int hierarchy;			/* mode=hierarchy */
	int64_t max_cg;			/* 1..8192 */
	int64_t max_wait;		/* <= 0: answer 204 at once */
	struct control_freeze_result res;
	struct control_target *targets;
	size_t ntargets;
	int poll_failed;		/* state reads that failed */
	int poll_vanished;		/* walk targets gone during the wait */
	int64_t start_ms;		/* wait start (monotonic) */
	int64_t arrive_ms;		/* the request arrived (monotonic) */
	struct logexp_flush *flush;	/* the log flush in progress */
};

/* Something waiting for the freeze lock, in arrival order. */
struct control_delay {
	struct control_delay *next;
	void (*fn)(void *);	/* NULL: cancelled */
	void *arg;
	int thaw;		/* cancelled, run the resume thaw for gen */
	uint64_t gen;
};

/* Never frozen by the hierarchy sweep (relative to the root). */
static const char *const control_allowlist[] = {
	"init.scope",
	"system.slice/systemd-journald.service",
	"system.slice/rpcbind.service",
	"system.slice/rpcbind.socket",
	"system.slice/rpc-statd.service",
	"socats",
};

static uv_timer_t control_watchdog;
static uv_timer_t control_poll;
static uv_timer_t control_drain;
static int control_timers_open;
static int64_t control_watchdog_ms = CONTROL_WATCHDOG_MS;
static const char *control_fs_path = "/";
static uint64_t control_generation;
static unsigned int control_unobserved;
static int control_in_effect;		/* a freeze of ours holds */
static char **control_guest;		/* guest-frozen before our freeze */
static size_t control_nguest;
/* The freeze holding the lock while it waits for its cgroups. */
static struct control_freeze *control_waiting;
static struct control_delay *control_queue;
static struct control_delay **control_queue_tail = &control_queue;
static int control_stopped;		/* control_stop() ran */

static int64_t control_now_ms(void);
static void control_forget_guest(void);
static int control_record_guest(const char *, void *);
static int control_is_guest(const char *);
static int control_thaw_one(const char *, void *);
static void control_watchdog_cb(uv_timer_t *);
static void control_poll_cb(uv_timer_t *);
static void control_freeze_end(struct req *);
static void control_freeze_done(struct req *, int);
static void control_freeze_answer(struct control_freeze *);
static void control_freeze_reply(void *);
static void control_unfreeze_end(struct req *);
static void control_unfreeze_done(struct req *, int);
static void control_fsfreeze_end(struct req *);
static void control_fsthaw_end(struct req *);
static void control_collapse_end(struct req *);
static int control_param(struct req *, const struct query *, const char *,
    int64_t *);
static void control_fs_ioctl(struct req *, unsigned long, const char *, int);
struct control_collapse;
static void control_collapse_range(uintptr_t, uintptr_t,
    struct control_collapse *);

const struct req_handler control_freeze_handler = {
	.name = "freeze",
	.end = control_freeze_end,
	.done = control_freeze_done,
};
const struct req_handler control_unfreeze_handler = {
	.name = "unfreeze",
	.end = control_unfreeze_end,
	.done = control_unfreeze_done,
};
const struct req_handler control_fsfreeze_handler = {
	.name = "fsfreeze",
	.end = control_fsfreeze_end,
};
const struct req_handler control_fsthaw_handler = {
	.name = "fsthaw",
	.end = control_fsthaw_end,
};
const struct req_handler control_collapse_handler = {
	.name = "collapse",
	.end = control_collapse_end,
};

static int64_t
control_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
control_init(uv_loop_t *loop)
{
	const char *v;
	char *end;
	long ms;

	if ((v = getenv("ENVD_THAW_WATCHDOG_MS")) != NULL) {
		errno = 0;
		ms = strtol(v, &end, 10);
		if (errno == 0 && *end == '\0' && ms >= 1 && ms <= 600000)
			control_watchdog_ms = ms;
		else
			log_warn("ignoring ENVD_THAW_WATCHDOG_MS=%s", v);
	}
	if ((v = getenv("ENVD_FSFREEZE_PATH")) != NULL && v[0] == '/')
		control_fs_path = v;
	uv_timer_init(loop, &control_watchdog);
	uv_timer_init(loop, &control_poll);
	uv_timer_init(loop, &control_drain);
	uv_unref((uv_handle_t *)&control_watchdog);
	control_timers_open = 1;
}

void
control_stop(void)
{
	struct control_delay *d, **pp;

	if (control_timers_open) {
		uv_close((uv_handle_t *)&control_watchdog, NULL);
		uv_close((uv_handle_t *)&control_poll, NULL);
		uv_close((uv_handle_t *)&control_drain, NULL);
		control_timers_open = 0;
	}
	control_forget_guest();
	control_in_effect = 0;
	/* The thaws of /init calls whose clients went away will not run;
	 * the requests still waiting cancel theirs as the server ends. */
	control_stopped = 1;
	for (pp = &control_queue; (d = *pp) != NULL;) {
		if (d->fn == NULL) {
			*pp = d->next;
			free(d);
		} else {
			pp = &d->next;
		}
	}
	control_queue_tail = pp;
}

uint64_t
control_freeze_generation(void)
{
	return control_generation;
}

unsigned int
control_take_unobserved(void)
{
	unsigned int n = control_unobserved;

	control_unobserved = 0;
	return n;
}

int
control_frozen(void)
{
	return control_in_effect;
}

static void
control_forget_guest(void)
{
	size_t i;

	for (i = 0; i < control_nguest; i++)
		free(control_guest[i]);
	free(control_guest);
	control_guest = NULL;
	control_nguest = 0;
}

/* cgroup_walk callback: remember a cgroup the guest froze itself. */
static int
control_record_guest(const char *path, void *arg)
{
	if (cgroup_read_freeze(path) != 1)
		return 0;
	control_guest = xreallocarray(control_guest, control_nguest + 1,
	    sizeof(*control_guest));
	control_guest[control_nguest++] = xstrdup(path);
	return 0;
}

static int
control_is_guest(const char *path)
{
	size_t i;

	for (i = 0; i < control_nguest; i++)
		if (strcmp(control_guest[i], path) == 0)
			return 1;
	return 0;
}

/* State of one thaw walk. */
struct control_thaw_walk {
	struct buf errs;
	int nerr;
};

/* cgroup_walk callback: thaw path unless the guest froze it. */
static int
control_thaw_one(const char *path, void *arg)
{
	struct control_thaw_walk *w = arg;
	char line[4200];
	int r;

	if (control_is_guest(path) || cgroup_read_freeze(path) != 1)
		return 0;
	if ((r = cgroup_write_freeze(path, 0)) != 0 && r != -ENOENT) {
		snprintf(line, sizeof(line), "%sthaw %s: %s",
		    w->nerr > 0 ? "\n" : "", path, errtext(-r));
		(void)buf_puts(&w->errs, line);
		w->nerr++;
	}
	return 0;
}

int
control_thaw(char **errmsg)
{
	struct control_thaw_walk w;
	char line[4200];
	const char *dir;
	int g, r, walk = control_in_effect, ret = 0;

	if (errmsg != NULL)
		*errmsg = NULL;
	buf_init(&w.errs, 64 * 1024);
	w.nerr = 0;
	if (!cgroup_enabled())
		goto out;
	for (g = CGROUP_USER; g <= CGROUP_PTYS; g++) {
		dir = cgroup_path((enum cgroup_group)g);
		if (cgroup_read_frozen(dir) == 1)
			walk = 1;
		if ((r = cgroup_write_freeze(dir, 0)) != 0) {
			snprintf(line, sizeof(line), "%sthaw %s: %s",
			    w.nerr > 0 ? "\n" : "", dir, errtext(-r));
			(void)buf_puts(&w.errs, line);
			w.nerr++;
		}
	}
	if (w.nerr == 0)
		cgroup_set_barrier(0);
	if (walk && cgroup_walk(cgroup_root(), CONTROL_TREE_MAX,
	    control_thaw_one, &w) == -E2BIG) {
		(void)buf_puts(&w.errs, w.nerr > 0 ? "\n" : "");
		(void)buf_puts(&w.errs, "thaw walk truncated");
		w.nerr++;
	}
out:
	if (w.nerr == 0) {
		uv_timer_stop(&control_watchdog);
		control_in_effect = 0;
		control_forget_guest();
	} else {
		ret = -EIO;
		if (errmsg != NULL)
			*errmsg = buf_steal_str(&w.errs, NULL);
	}
	buf_reset(&w.errs);
	return ret;
}

int
control_resume_thaw(uint64_t generation, int client_gone)
{
	char *err = NULL;
	int r;

	if (generation != control_generation) {
		log_info("init: a freeze happened after this request "
		    "arrived; not thawing");
		return 1;
	}
	if (client_gone)
		control_unobserved++;
	if ((r = control_thaw(&err)) != 0) {
		log_error("init: thaw: %s", err != NULL ? err : "failed");
		free(err);
	}
	return r;
}

static void
control_watchdog_cb(uv_timer_t *t)
{
	char *err = NULL;

	log_warn("no thaw followed a freeze in time: thawing");
	if (control_thaw(&err) != 0) {
		log_error("watchdog thaw: %s", err != NULL ? err : "failed");
		free(err);
		/* A rescue that did not fully land is tried again. */
		uv_timer_start(&control_watchdog, control_watchdog_cb,
		    (uint64_t)control_watchdog_ms, 0);
	}
}

int
control_format_result(const struct control_freeze_result *res,
    struct buf *b)
{
	char s[512];
	int n;

	n = snprintf(s, sizeof(s), "{\"allowlisted\":%d,\"failed\":%d,"
	    "\"frozen\":%d,\"mode\":\"%s\",\"notFrozen\":%d,"
	    "\"preFrozen\":%d,\"requested\":%d,\"sweepMs\":%" PRId64 ","
	    "\"truncated\":%s,\"unobservable\":%d,\"vanished\":%d,"
	    "\"visited\":%d,\"waitMs\":%" PRId64 "}\n",
	    res->allowlisted, res->failed, res->frozen,
	    strcmp(res->mode, "hierarchy") == 0 ? "hierarchy" : "legacy",
	    res->not_frozen, res->pre_frozen, res->requested, res->sweep_ms,
	    res->truncated ? "true" : "false", res->unobservable,
	    res->vanished, res->visited, res->wait_ms);
	if (n < 0 || (size_t)n >= sizeof(s))
		return -ENOBUFS;
	return buf_append(b, s, (size_t)n);
}

/*
 * An optional integer query parameter. Returns 1 when present (*out set),
 * 0 when absent, -1 after answering 400.
 */
static int
control_param(struct req *r, const struct query *q, const char *name,
    int64_t *out)
{
	const char *v;
	char *why = NULL, *msg;
	size_t len;

	if ((v = query_get(q, name, &len)) == NULL)
		return 0;
	if (query_parse_int64(v, len, out, &why) == 0)
		return 1;
	msg = xasprintf("Invalid format for parameter %s: error binding "
	    "string parameter: %s", name, why);
	req_respond_text(r, 400, msg);
	free(msg);
	free(why);
	return -1;
}

/* Run what waited for the freeze lock, in order, until one takes it. */
static void
control_drain_cb(uv_timer_t *t)
{
	struct control_delay *d;

	(void)t;
	while (control_waiting == NULL && (d = control_queue) != NULL) {
		if ((control_queue = d->next) == NULL)
			control_queue_tail = &control_queue;
		if (d->fn != NULL)
			d->fn(d->arg);
		else if (d->thaw)
			(void)control_resume_thaw(d->gen, 1);
		free(d);
	}
}

/* The freeze in control_waiting has answered or lost its client. */
static void
control_unlock(void)
{
	control_waiting = NULL;
	if (control_queue != NULL && control_timers_open)
		uv_timer_start(&control_drain, control_drain_cb, 0, 0);
}

int
control_locked(void)
{
	return control_waiting != NULL || control_queue != NULL;
}

struct control_delay *
control_after_lock(void (*fn)(void *), void *arg)
{
	struct control_delay *d;

	if (!control_locked()) {
		fn(arg);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->fn = fn;
	d->arg = arg;
	*control_queue_tail = d;
	control_queue_tail = &d->next;
	return d;
}

void
control_after_lock_cancel(struct control_delay *d, int thaw, uint64_t gen)
{
	struct control_delay **pp;

	if (d == NULL)
		return;
	if (thaw && !control_stopped) {
		/* The thaw still lands when the lock frees, unobserved. */
		d->fn = NULL;
		d->thaw = 1;
		d->gen = gen;
		return;
	}
	for (pp = &control_queue; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			if ((*pp = d->next) == NULL)
				control_queue_tail = pp;
			free(d);
			return;
		}
}

/* Add path to the cgroups whose frozen state the wait reads. */
static void
control_target_add(struct control_freeze *f, const char *path, int tolerate)
{
	f->targets = xreallocarray(f->targets, f->ntargets + 1,
	    sizeof(*f->targets));
	f->targets[f->ntargets].path = xstrdup(path);
	f->targets[f->ntargets].tolerate_vanish = tolerate;
	f->targets[f->ntargets].done = 0;
	f->ntargets++;
}

static void
control_targets_free(struct control_freeze *f)
{
	size_t i;

	for (i = 0; i < f->ntargets; i++)
		free(f->targets[i].path);
	free(f->targets);
	f->targets = NULL;
	f->ntargets = 0;
}

/* A set of paths (small: tens). */
struct control_paths {
	char **p;
	size_t n;
};

static int
control_paths_has(const struct control_paths *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->p[i], path) == 0)
			return 1;
	return 0;
}

static void
control_paths_add(struct control_paths *s, const char *path)
{
	if (control_paths_has(s, path))
		return;
	s->p = xreallocarray(s->p, s->n + 1, sizeof(*s->p));
	s->p[s->n++] = xstrdup(path);
}

/* root, each directory between root and self, then self; just root when
 * self is not under it. */
static void
control_chain(struct control_paths *s, const char *root, const char *self)
{
	size_t rl = strlen(root);
	const char *p;
	char *cur;

	control_paths_add(s, root);
	if (strncmp(self, root, rl) != 0 || self[rl] != '/')
		return;
	for (p = self + rl + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		cur = xstrndup(self, (size_t)(p - self));
		control_paths_add(s, cur);
		free(cur);
	}
	if (self[strlen(self) - 1] != '/')
		control_paths_add(s, self);
}

/* An allowlist entry, or anything beneath one. */
static int
control_allowlisted(const char *root, const char *path)
{
	size_t rl = strlen(root), i, el;
	const char *rel;

	if (strncmp(path, root, rl) != 0 || path[rl] != '/')
		return 0;
	rel = path + rl + 1;
	for (i = 0; i < sizeof(control_allowlist) /
	    sizeof(control_allowlist[0]); i++) {
		el = strlen(control_allowlist[i]);
		if (strncmp(rel, control_allowlist[i], el) == 0 &&
		    (rel[el] == '\0' || rel[el] == '/'))
			return 1;
	}
	return 0;
}

/*
 * The hierarchy sweep (upstream-0.9.md §5.1 step 3): for each cgroup on
 * the daemon's ancestor chain and above the allowlist entries, freeze
 * every child that is none of those, not allowlisted and not the guest's.
 */
static void
control_sweep_walk(struct control_freeze *f, const char *self, int rescan)
{
	struct control_freeze_result *res = &f->res;
	struct control_paths descend = { NULL, 0 }, inside = { NULL, 0 };
	const char *root = cgroup_root();
	char **kids, *full, *dir;
	size_t i, j, nkids;
	int g, r;

	control_chain(&descend, root, self);
	for (i = 0; i < sizeof(control_allowlist) /
	    sizeof(control_allowlist[0]); i++) {
		full = xasprintf("%s/%s", root, control_allowlist[i]);
		dir = xstrndup(full, (size_t)(strrchr(full, '/') - full));
		control_chain(&descend, root, dir);
		free(dir);
		free(full);
	}
	for (i = 0; i < descend.n; i++)
		control_paths_add(&inside, descend.p[i]);
	for (g = CGROUP_USER; g <= CGROUP_PTYS; g++)
		control_paths_add(&inside, cgroup_path((enum cgroup_group)g));
	for (i = 0; i < descend.n && !res->truncated; i++) {
		if ((r = cgroup_children(descend.p[i], &kids, &nkids)) != 0) {
			if (r != -ENOENT) {
				log_error("freeze: list children of %s: %s",
				    descend.p[i], errtext(-r));
				res->failed++;
			}
			continue;
		}
		for (j = 0; j < nkids; j++) {
			if (res->visited >= f->max_cg) {
				res->truncated = 1;
				break;
			}
			res->visited++;
			if (control_paths_has(&inside, kids[j]))
				continue;
			if (control_allowlisted(root, kids[j])) {
				res->allowlisted++;
				continue;
			}
			if (control_is_guest(kids[j]))
				continue;
			if (rescan) {
				/* Frozen since the scan: the guest's. */
				r = cgroup_read_freeze(kids[j]);
				if (r == -ENOENT) {
					res->vanished++;
					continue;
				}
				if (r == 1) {
					control_record_guest(kids[j], NULL);
					res->pre_frozen++;
					continue;
				}
			}
			if ((r = cgroup_write_freeze(kids[j], 1)) == -ENOENT) {
				res->vanished++;
				continue;
			}
			if (r != 0) {
				log_error("freeze %s: %s", kids[j],
				    errtext(-r));
				res->failed++;
				continue;
			}
			res->requested++;
			control_target_add(f, kids[j], 1);
		}
		cgroup_free_list(kids, nkids);
	}
	for (i = 0; i < descend.n; i++)
		free(descend.p[i]);
	free(descend.p);
	for (i = 0; i < inside.n; i++)
		free(inside.p[i]);
	free(inside.p);
}

/* A freeze of ours holds: the flag, or user/ptys read frozen (a daemon
 * that froze and restarted lost the flag, not the freeze). */
static int
control_freeze_in_effect(void)
{
	int g;

	if (control_in_effect)
		return 1;
	for (g = CGROUP_USER; g <= CGROUP_PTYS; g++)
		if (cgroup_read_frozen(cgroup_path((enum cgroup_group)g)) == 1)
			return 1;
	return 0;
}

/* The sweep, with the freeze lock: §5.1 steps 1 to 5. */
static void
control_freeze_run(void *arg)
{
	struct control_freeze *f = arg;
	struct control_freeze_result *res = &f->res;
	const char *dir;
	char *self;
	int64_t t0;
	int g, rc, rescan;

	f->delay = NULL;
	control_generation++;
	control_unobserved = 0;
	res->mode = "legacy";
	t0 = control_now_ms();
	if (cgroup_enabled()) {
		cgroup_set_barrier(1);
		if ((rescan = !control_freeze_in_effect())) {
			control_forget_guest();
			(void)cgroup_walk(cgroup_root(), CONTROL_TREE_MAX,
			    control_record_guest, NULL);
		}
		res->pre_frozen = (int)control_nguest;
		/* user and ptys first, in both modes. */
		for (g = CGROUP_USER; g <= CGROUP_PTYS; g++) {
			dir = cgroup_path((enum cgroup_group)g);
			if ((rc = cgroup_write_freeze(dir, 1)) != 0) {
				log_error("freeze %s: %s", dir, errtext(-rc));
				res->failed++;
				continue;
			}
			res->requested++;
			control_target_add(f, dir, 0);
		}
		if (f->hierarchy) {
			if ((self = cgroup_self_path()) == NULL) {
				log_error("freeze: cannot locate the daemon's "
				    "cgroup, falling back to legacy mode");
			} else {
				res->mode = "hierarchy";
				control_sweep_walk(f, self, rescan);
				free(self);
			}
		}
		if (res->requested > 0) {
			control_in_effect = 1;
			uv_timer_start(&control_watchdog, control_watchdog_cb,
			    (uint64_t)control_watchdog_ms, 0);
		}
		if (!control_in_effect)
			cgroup_set_barrier(0);
	}
	res->sweep_ms = control_now_ms() - t0;
	if (f->max_wait <= 0) {
		/* No budget: the log queue is dropped, not sent. */
		control_targets_free(f);
		f->flush = logexp_flush(0, control_freeze_reply, f);
		return;
	}
	f->start_ms = control_now_ms();
	control_waiting = f;
	req_defer(f->req);
	control_poll_cb(&control_poll);
}

static void
control_freeze_end(struct req *r)
{
	struct control_freeze *f;
	struct query *q = NULL;
	const char *raw = req_query(r), *mode;
	int64_t max_cg = 0, max_wait = 0;
	size_t len;

	if (query_parse(raw, raw != NULL ? strlen(raw) : 0, &q) != 0) {
		req_respond_text(r, 400, "invalid query string");
		goto out;
	}
	if (control_param(r, q, "maxCgroups", &max_cg) < 0 ||
	    control_param(r, q, "maxWaitMs", &max_wait) < 0)
		goto out;
	f = xcalloc(1, sizeof(*f));
	f->req = r;
	f->arrive_ms = control_now_ms();
	mode = query_get(q, "mode", &len);
	f->hierarchy = mode != NULL && len == 9 &&
	    memcmp(mode, "hierarchy", 9) == 0;
	if (max_cg <= 0)
		max_cg = CONTROL_CGROUPS_DEFAULT;
	f->max_cg = max_cg > CONTROL_TREE_MAX ? CONTROL_TREE_MAX : max_cg;
	f->max_wait = max_wait;
	req_set_data(r, f);
	if ((f->delay = control_after_lock(control_freeze_run, f)) != NULL)
		req_defer(r);
out:
	query_free(q);
}

/* Poll the written cgroups until they read frozen or the budget ends. */
static void
control_poll_cb(uv_timer_t *t)
{
	struct control_freeze *f = control_waiting;
	struct control_target *tg;
	size_t i;
	int st, left = 0;

	(void)t;
	if (f == NULL)
		return;
	for (i = 0; i < f->ntargets; i++) {
		tg = &f->targets[i];
		if (tg->done)
			continue;
		st = cgroup_read_frozen(tg->path);
		if (st == 1) {
			tg->done = 1;
			f->res.frozen++;
		} else if (st == -ENOENT && tg->tolerate_vanish) {
			tg->done = 1;
			f->poll_vanished++;
		} else if (st < 0) {
			tg->done = 1;
			f->poll_failed++;
			log_error("read %s cgroup.events: %s", tg->path,
			    errtext(-st));
		} else {
			left++;
		}
	}
	if (left > 0 && control_now_ms() - f->start_ms < f->max_wait) {
		uv_timer_start(&control_poll, control_poll_cb,
		    CONTROL_POLL_MS, 0);
		return;
	}
	control_freeze_answer(f);
}

static void
control_freeze_answer(struct control_freeze *f)
{
	struct control_freeze_result *res = &f->res;
	int64_t budget;

	uv_timer_stop(&control_poll);
	res->wait_ms = control_now_ms() - f->start_ms;
	res->not_frozen = res->requested - res->frozen - f->poll_failed -
	    res->unobservable - f->poll_vanished;
	res->failed += f->poll_failed;
	res->vanished += f->poll_vanished;
	control_targets_free(f);
	control_unlock();
	/* §5.1 step 6, after the lock: what is left of maxWaitMs, at most
	 * 2 s, for the daemon's own queued log lines. */
	budget = f->max_wait - (control_now_ms() - f->arrive_ms);
	if (budget > CONTROL_LOG_FLUSH_MS)
		budget = CONTROL_LOG_FLUSH_MS;
	f->flush = logexp_flush(budget > 0 ? (uint64_t)budget : 0,
	    control_freeze_reply, f);
}

/* The log flush ended: answer 204 (no maxWaitMs) or the FreezeResult. */
static void
control_freeze_reply(void *arg)
{
	struct control_freeze *f = arg;
	struct buf b;

	f->flush = NULL;
	if (f->max_wait <= 0) {
		req_add_header_static(f->req, "Cache-Control", "no-store");
		req_respond(f->req, 204, NULL, NULL, 0);
		return;
	}
	buf_init(&b, 1024);
	if (control_format_result(&f->res, &b) == 0) {
		req_add_header_static(f->req, "Cache-Control", "no-store");
		req_respond_buf(f->req, 200, "application/json", &b);
	} else {
		req_respond(f->req, 500, NULL, NULL, 0);
	}
	buf_reset(&b);
}

static void
control_freeze_done(struct req *r, int ok)
{
	struct control_freeze *f = req_data(r);

	(void)ok;
	if (f == NULL)
		return;
	/* Gone while waiting for the lock: nothing ran. */
	control_after_lock_cancel(f->delay, 0, 0);
	logexp_flush_cancel(f->flush);
	if (control_waiting == f) {
		/* The client went away during the wait. */
		uv_timer_stop(&control_poll);
		control_unlock();
	}
	control_targets_free(f);
	free(f);
	req_set_data(r, NULL);
}

/* /unfreeze with the freeze lock. */
static void
control_unfreeze_run(void *arg)
{
	struct req *r = arg;
	char *err = NULL;

	req_set_data(r, NULL);
	if (control_thaw(&err) != 0) {
		req_respond_error(r, 500, err != NULL ? err : "thaw failed");
		free(err);
		return;
	}
	req_add_header_static(r, "Cache-Control", "no-store");
	req_respond(r, 204, NULL, NULL, 0);
}

static void
control_unfreeze_end(struct req *r)
{
	struct control_delay *d;

	if ((d = control_after_lock(control_unfreeze_run, r)) != NULL) {
		req_set_data(r, d);
		req_defer(r);
	}
}

static void
control_unfreeze_done(struct req *r, int ok)
{
	(void)ok;
	/* Gone while waiting: upstream's thaw would still run. */
	if (req_data(r) != NULL) {
		control_after_lock_cancel(req_data(r), 0, 0);
		req_set_data(r, NULL);
	}
}

/* FIFREEZE or FITHAW on the configured path; ok_err counts as success. */
static void
control_fs_ioctl(struct req *r, unsigned long op, const char *opname,
    int ok_err)
{
	char *msg;
	int fd, e, zero = 0;

	if ((fd = open(control_fs_path, O_RDONLY | O_CLOEXEC)) < 0) {
		e = errno;
		msg = xasprintf("open %s: %s", control_fs_path, errtext(e));
		goto fail;
	}
	/* The kernel ignores the argument; a valid address keeps checkers
	 * that read the ioctl's _IOWR size quiet. */
	if (ioctl(fd, op, &zero) != 0 && errno != ok_err) {
		e = errno;
		close(fd);
		msg = xasprintf("%s %s: %s", opname, control_fs_path,
		    errtext(e));
		goto fail;
	}
	close(fd);
	req_add_header_static(r, "Cache-Control", "no-store");
	req_respond(r, 204, NULL, NULL, 0);
	return;
fail:
	log_error("%s", msg);
	req_respond_error(r, 500, msg);
	free(msg);
}

static void
control_fsfreeze_end(struct req *r)
{
	control_fs_ioctl(r, FIFREEZE, "FIFREEZE", EBUSY);
}

static void
control_fsthaw_end(struct req *r)
{
	control_fs_ioctl(r, FITHAW, "FITHAW", EINVAL);
}

/* Counts of one /collapse. */
struct control_collapse {
	long already_huge, chunks, collapsed, regions, skipped;
};

/* MADV_COLLAPSE every resident 2 MiB chunk of [lo, hi). */
static void
control_collapse_range(uintptr_t lo, uintptr_t hi, struct control_collapse *c)
{
	unsigned char vec[CONTROL_HUGE / 4096];
	uintptr_t a;
	size_t i, np = CONTROL_HUGE / (size_t)sysconf(_SC_PAGESIZE);
	int resident;

	lo = (lo + CONTROL_HUGE - 1) & ~(CONTROL_HUGE - 1);
	hi &= ~(CONTROL_HUGE - 1);
	if (lo >= hi)
		return;
	c->regions++;
	for (a = lo; a < hi && c->chunks < CONTROL_COLLAPSE_CHUNKS_MAX;
	    a += CONTROL_HUGE) {
		c->chunks++;
		/* Collapsing an untouched chunk would populate it. */
		resident = 0;
		if (np <= sizeof(vec) && mincore((void *)a, CONTROL_HUGE,
		    vec) == 0)
			for (i = 0; i < np && !resident; i++)
				resident = vec[i] & 1;
		if (!resident) {
			c->skipped++;
			continue;
		}
		if (madvise((void *)a, CONTROL_HUGE, MADV_COLLAPSE) == 0)
			c->collapsed++;
		else
			c->skipped++;
	}
}

static void
control_collapse_end(struct req *r)
{
	struct control_collapse c;
	char line[512], perms[8], path[256], body[256];
	uintptr_t lo, hi;
	int64_t t0 = control_now_ms();
	FILE *f;
	int n;

	memset(&c, 0, sizeof(c));
	if ((f = fopen("/proc/self/maps", "re")) == NULL) {
		n = errno;
		snprintf(body, sizeof(body), "open /proc/self/maps: %s",
		    errtext(n));
		req_respond_error(r, 500, body);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		path[0] = '\0';
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %*s %*s %*s "
		    "%255s", &lo, &hi, perms, path) < 3)
			continue;
		/* Anonymous read-write memory: the heap and unnamed maps. */
		if (strncmp(perms, "rw", 2) != 0 || (path[0] != '\0' &&
		    strcmp(path, "[heap]") != 0))
			continue;
		if (hi - lo > CONTROL_COLLAPSE_REGION_MAX)
			continue;	/* reservations, not a working set */
		control_collapse_range(lo, hi, &c);
	}
	fclose(f);
	n = snprintf(body, sizeof(body), "{\"alreadyHuge\":%ld,\"chunks\":%ld,"
	    "\"collapsed\":%ld,\"elapsedMs\":%" PRId64 ",\"regions\":%ld,"
	    "\"skipped\":%ld}\n", c.already_huge, c.chunks, c.collapsed,
	    control_now_ms() - t0, c.regions, c.skipped);
	req_add_header_static(r, "Cache-Control", "no-store");
	req_respond(r, 200, "application/json", body, (size_t)n);
}
