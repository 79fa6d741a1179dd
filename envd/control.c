/*
 * control.c - /freeze, /unfreeze, /fsfreeze, /fsthaw, /collapse.
 *
 * Everything runs on the loop thread, so the freeze "lock" of upstream is
 * the single pending-freeze slot: a /freeze that arrives while another one
 * still waits for its cgroups to read frozen is answered 503 (upstream
 * would queue it until the first one ends or the client gives up). Spawns
 * are synchronous on the same thread, so raising the barrier never has
 * in-flight spawns to drain.
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
#include "query.h"
#include "xalloc.h"

#define CONTROL_WATCHDOG_MS (10 * 60 * 1000)
#define CONTROL_POLL_MS 2
#define CONTROL_TREE_MAX 8192
#define CONTROL_CGROUPS_DEFAULT 512
#define CONTROL_HUGE ((uintptr_t)2 * 1024 * 1024)
#define CONTROL_COLLAPSE_REGION_MAX ((uintptr_t)1024 * 1024 * 1024)
#define CONTROL_COLLAPSE_CHUNKS_MAX 4096
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* A /freeze waiting for its cgroups to read frozen. */
struct control_wait {
	struct req *req;
	struct control_freeze_result res;
	int pending[2];		/* user, ptys still to read frozen */
	int64_t start_ms;	/* wait start (monotonic) */
	int64_t budget_ms;
};

static uv_timer_t control_watchdog;
static uv_timer_t control_poll;
static int control_timers_open;
static int64_t control_watchdog_ms = CONTROL_WATCHDOG_MS;
static const char *control_fs_path = "/";
static uint64_t control_generation;
static unsigned int control_unobserved;
static int control_in_effect;		/* a freeze of ours holds */
static char **control_guest;		/* guest-frozen before our freeze */
static size_t control_nguest;
static struct control_wait *control_waiting;

static int64_t control_now_ms(void);
static void control_forget_guest(void);
static int control_record_guest(const char *, void *);
static int control_is_guest(const char *);
static int control_thaw_one(const char *, void *);
static void control_watchdog_cb(uv_timer_t *);
static void control_poll_cb(uv_timer_t *);
static void control_freeze_end(struct req *);
static void control_freeze_done(struct req *, int);
static void control_freeze_answer(struct control_wait *);
static void control_unfreeze_end(struct req *);
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
	uv_unref((uv_handle_t *)&control_watchdog);
	control_timers_open = 1;
}

void
control_stop(void)
{
	if (control_timers_open) {
		uv_close((uv_handle_t *)&control_watchdog, NULL);
		uv_close((uv_handle_t *)&control_poll, NULL);
		control_timers_open = 0;
	}
	control_forget_guest();
	control_in_effect = 0;
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

static void
control_freeze_end(struct req *r)
{
	struct control_wait *w = NULL;
	struct query *q = NULL;
	const char *raw = req_query(r), *dir;
	int64_t max_cg = 0, max_wait = 0, t0;
	int g, rc;

	if (query_parse(raw, raw != NULL ? strlen(raw) : 0, &q) != 0) {
		req_respond_text(r, 400, "invalid query string");
		goto out;
	}
	if (control_param(r, q, "maxCgroups", &max_cg) < 0 ||
	    control_param(r, q, "maxWaitMs", &max_wait) < 0)
		goto out;
	if (control_waiting != NULL) {
		req_respond(r, 503, NULL, NULL, 0);
		goto out;
	}
	control_generation++;
	control_unobserved = 0;
	w = xcalloc(1, sizeof(*w));
	w->req = r;
	w->res.mode = "legacy";
	t0 = control_now_ms();
	if (cgroup_enabled()) {
		cgroup_set_barrier(1);
		if (!control_in_effect) {
			control_forget_guest();
			(void)cgroup_walk(cgroup_root(), CONTROL_TREE_MAX,
			    control_record_guest, NULL);
			w->res.pre_frozen = (int)control_nguest;
		}
		for (g = CGROUP_USER; g <= CGROUP_PTYS; g++) {
			dir = cgroup_path((enum cgroup_group)g);
			if ((rc = cgroup_write_freeze(dir, 1)) != 0) {
				log_error("freeze %s: %s", dir, errtext(-rc));
				w->res.failed++;
				continue;
			}
			w->res.requested++;
			w->pending[g] = 1;
		}
		if (w->res.requested > 0) {
			control_in_effect = 1;
			uv_timer_start(&control_watchdog, control_watchdog_cb,
			    (uint64_t)control_watchdog_ms, 0);
		}
	}
	w->res.sweep_ms = control_now_ms() - t0;
	if (max_wait <= 0) {
		req_add_header_static(r, "Cache-Control", "no-store");
		req_respond(r, 204, NULL, NULL, 0);
		free(w);
		goto out;
	}
	w->start_ms = control_now_ms();
	w->budget_ms = max_wait;
	control_waiting = w;
	req_set_data(r, w);
	req_defer(r);
	control_poll_cb(&control_poll);
out:
	query_free(q);
}

/* Poll the written cgroups until they read frozen or the budget ends. */
static void
control_poll_cb(uv_timer_t *t)
{
	struct control_wait *w = control_waiting;
	int g, st, left = 0;

	if (w == NULL)
		return;
	for (g = 0; g < 2; g++) {
		if (!w->pending[g])
			continue;
		st = cgroup_read_frozen(cgroup_path((enum cgroup_group)g));
		if (st == 1) {
			w->pending[g] = 0;
			w->res.frozen++;
		} else if (st < 0) {
			w->pending[g] = 0;
			w->res.failed++;
		} else {
			left++;
		}
	}
	if (left > 0 && control_now_ms() - w->start_ms < w->budget_ms) {
		uv_timer_start(&control_poll, control_poll_cb,
		    CONTROL_POLL_MS, 0);
		return;
	}
	control_freeze_answer(w);
}

static void
control_freeze_answer(struct control_wait *w)
{
	struct buf b;
	int failed_wait;

	uv_timer_stop(&control_poll);
	control_waiting = NULL;
	w->res.wait_ms = control_now_ms() - w->start_ms;
	failed_wait = w->res.requested - w->res.frozen -
	    (w->pending[0] + w->pending[1]);
	w->res.not_frozen = w->res.requested - w->res.frozen - failed_wait -
	    w->res.unobservable;
	/* failed counted write refusals and wait failures alike. */
	buf_init(&b, 1024);
	if (control_format_result(&w->res, &b) == 0) {
		req_add_header_static(w->req, "Cache-Control", "no-store");
		req_respond_buf(w->req, 200, "application/json", &b);
	} else {
		req_respond(w->req, 500, NULL, NULL, 0);
	}
	buf_reset(&b);
}

static void
control_freeze_done(struct req *r, int ok)
{
	struct control_wait *w = req_data(r);

	if (w == NULL)
		return;
	if (control_waiting == w) {
		/* The client went away during the wait. */
		uv_timer_stop(&control_poll);
		control_waiting = NULL;
	}
	free(w);
	req_set_data(r, NULL);
}

static void
control_unfreeze_end(struct req *r)
{
	char *err = NULL;

	if (control_thaw(&err) != 0) {
		req_respond_error(r, 500, err != NULL ? err : "thaw failed");
		free(err);
		return;
	}
	req_add_header_static(r, "Cache-Control", "no-store");
	req_respond(r, 204, NULL, NULL, 0);
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
