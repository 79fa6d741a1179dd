/*
 * init.c - POST /init.
 *
 * The body is collected into a buffer of our own (wiped on growth and at
 * the end of the request), decoded by init_req.c, authorised by auth.c and
 * applied in upstream's order: clock, envVars, token, defaultUser,
 * defaultWorkdir, caBundle. The handler runs to completion on the loop
 * thread, so one /init at a time needs no lock.
 *
 * volumeMounts are applied last by nfs.c on a worker thread; the answer
 * waits for them.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <sodium.h>

#include "auth.h"
#include "buf.h"
#include "control.h"
#include "cpus.h"
#include "defaults.h"
#include "envs.h"
#include "errtext.h"
#include "fs_entry.h"
#include "httpd.h"
#include "init.h"
#include "init_req.h"
#include "log.h"
#include "mmds.h"
#include "nfs.h"
#include "xalloc.h"

#define INIT_BODY_MAX (1024 * 1024)
#define INIT_MMDS_POLL_MS 60000
#define INIT_HOSTS_MAX (1024 * 1024)
#define INIT_EVENTS_HOST "events.e2b.local"
#define INIT_CA_BUNDLE_DEFAULT "/etc/ssl/certs/ca-certificates.crt"
#define INIT_CA_PERSIST_DEFAULT "/usr/local/share/ca-certificates/e2b-ca.crt"
#define INIT_CA_BUNDLE_MAX (64 * 1024 * 1024)
#define INIT_CLOCK_PAST_NS (50LL * 1000 * 1000)
#define INIT_CLOCK_FUTURE_NS (5LL * 1000 * 1000 * 1000)

/*
 * One /init from its body to its answer. Owned by the req (req_data);
 * while it waits for the init lock it is on the init_queue list, while it
 * runs it is init_current.
 */
struct init_body {
	uint8_t *data;		/* owned, cap bytes */
	size_t len;		/* bytes received */
	size_t cap;
	struct req *r;
	struct init_req *ir;	/* decoded request, owned */
	uint64_t read_ns;	/* CLOCK_MONOTONIC when the body was read */
	uint64_t gen;		/* freezer generation at entry */
	int deferred;		/* req_defer() was called */
	struct mmds_read *mmds;	/* token-check read in flight, or NULL */
	char *cpus_why;		/* cpuCount refusal, owned, or NULL */
	int healed;		/* the route self-heal was tried */
	int healing;		/* ... and has not ended yet */
	struct control_delay *thaw_wait; /* waiting for the freeze lock */
	struct init_body *next;	/* init_queue link */
};

static int init_isnotfc = 1;		/* no metadata service */
static uv_loop_t *init_loop;
static char *init_memory;		/* X-Envd-Memory, read at start */
static struct init_body *init_current;	/* holds the init lock */
static struct init_body *init_queue;	/* waiting for it, in order */
static int init_clock_warned;		/* a clock failure was logged */
static int init_have_ts;		/* a timestamp was applied */
static int64_t init_ts_sec;		/* newest applied timestamp */
static long init_ts_nsec;
static char *init_ca_last;		/* last installed PEM, normalised */

static void init_begin(struct req *);
static int init_body_cb(struct req *, const uint8_t *, size_t);
static void init_end(struct req *);
static void init_done(struct req *, int);
static void init_body_wipe(struct init_body *);
static void init_run(struct init_body *);
static void init_decide(struct init_body *, enum auth_mmds);
static void init_mmds_done(int, const struct mmds_opts *, void *);
static void init_nfs_done(int, const char *, void *);
static void init_heal_done(void *);
static void init_finish(struct init_body *);
static void init_finish_now(void *);
static void init_next(void);
static void init_fail(struct init_body *, unsigned int, const char *);
static int64_t init_ns(int64_t, long);
static void init_clock(const struct init_req *);
static int init_apply(const struct init_req *, char **);
static int init_mkdirs(const char *);
static int init_write_file(const char *, const char *, size_t, mode_t);
static int init_ca_install(const char *, char **);
static void init_ca_remove(const char *, const char *);
static const char *init_path_env(const char *, const char *);
static void init_hyperloop(const char *);

const struct req_handler init_handler = {
	.name = "init",
	.begin = init_begin,
	.body = init_body_cb,
	.end = init_end,
	.done = init_done,
};

/* One value of a cgroup memory file; "max" is INT64_MAX. Sets *partial
 * when the file cannot be read or parsed. */
static int64_t
init_cg_read(const char *dir, const char *file, int *partial)
{
	char *path = xasprintf("%s/%s", dir, file), buf[64], *e;
	ssize_t n = -1;
	int64_t v;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	free(path);
	if (n <= 0) {
		*partial = 1;
		return 0;
	}
	buf[n] = '\0';
	if (strncmp(buf, "max", 3) == 0)
		return INT64_MAX;
	errno = 0;
	v = strtoll(buf, &e, 10);
	if (errno != 0 || e == buf || v < 0) {
		*partial = 1;
		return 0;
	}
	return v;
}

/*
 * X-Envd-Memory from envd's own cgroup (upstream-0.9.md §3.8): request =
 * its memory.min, low = its memory.low, floor = the smallest memory.min
 * from it up to (not including) the root; partial when a value could not
 * be read or envd sits in the root.
 */
static char *
init_memory_protection(void)
{
	const char *root = init_path_env("ENVD_CGROUP_ROOT", "/sys/fs/cgroup");
	char line[4096], *dir = NULL, *slash;
	int64_t req = 0, low = 0, floor = 0, v;
	int partial = 0;
	FILE *f;

	if ((f = fopen("/proc/self/cgroup", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "0::/", 4) == 0 && line[4] != '\n' &&
			    line[4] != '\0') {
				line[strcspn(line, "\n")] = '\0';
				dir = xasprintf("%s%s", root, line + 3);
				break;
			}
		fclose(f);
	}
	if (dir == NULL)
		return xstrdup("{\"request\":0,\"low\":0,\"floor\":0,"
		    "\"partial\":true}");
	req = init_cg_read(dir, "memory.min", &partial);
	low = init_cg_read(dir, "memory.low", &partial);
	floor = req;
	while ((slash = strrchr(dir, '/')) != NULL &&
	    (size_t)(slash - dir) > strlen(root)) {
		*slash = '\0';
		v = init_cg_read(dir, "memory.min", &partial);
		if (v < floor)
			floor = v;
	}
	free(dir);
	return xasprintf("{\"request\":%" PRId64 ",\"low\":%" PRId64
	    ",\"floor\":%" PRId64 ",\"partial\":%s}", req, low, floor,
	    partial ? "true" : "false");
}

void
init_setup(uv_loop_t *loop, int isnotfc)
{
	init_isnotfc = isnotfc;
	init_loop = loop;
	free(init_memory);
	init_memory = init_memory_protection();
	mmds_setup(loop, isnotfc);
	cpus_setup(loop, isnotfc);
}

const char *
init_default_user(void)
{
	return defaults_user();
}

const char *
init_default_workdir(void)
{
	return defaults_workdir();
}

void
init_free(void)
{
	defaults_free();
	mmds_free();
	cpus_free();
	nfs_free();
	free(init_ca_last);
	free(init_memory);
	init_ca_last = init_memory = NULL;
	init_current = init_queue = NULL;
	init_have_ts = 0;
}

int
init_clock_should_set(int64_t now_ns, int64_t host_ns)
{
	if (host_ns > INT64_MIN + INIT_CLOCK_PAST_NS &&
	    now_ns < host_ns - INIT_CLOCK_PAST_NS)
		return 1;
	if (host_ns < INT64_MAX - INIT_CLOCK_FUTURE_NS &&
	    now_ns > host_ns + INIT_CLOCK_FUTURE_NS)
		return 1;
	return 0;
}

/* sec/nsec as nanoseconds, saturating outside the int64 range. */
static int64_t
init_ns(int64_t sec, long nsec)
{
	if (sec > INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	if (sec < INT64_MIN / 1000000000 + 1)
		return INT64_MIN;
	return sec * 1000000000 + nsec;
}

static void
init_body_wipe(struct init_body *b)
{
	if (b->data != NULL) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

static uint64_t
init_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
init_begin(struct req *r)
{
	struct init_body *b = xcalloc(1, sizeof(*b));

	b->r = r;
	req_set_data(r, b);
	if (init_memory != NULL)
		req_add_header(r, "X-Envd-Memory", init_memory);
	b->gen = control_freeze_generation();
	req_body_mode(r, REQ_BODY_STREAM, 0);
}

/* Append a chunk; growth copies, then wipes, the old storage. */
static int
init_body_cb(struct req *r, const uint8_t *data, size_t len)
{
	struct init_body *b = req_data(r);
	uint8_t *n;
	size_t cap;

	if (len > INIT_BODY_MAX - b->len) {
		init_body_wipe(b);
		req_add_header_static(r, "Connection", "close");
		req_respond(r, 413, NULL, NULL, 0);
		return -1;
	}
	if (b->len + len > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		if (cap > INIT_BODY_MAX)
			cap = INIT_BODY_MAX;
		n = xmalloc(cap);
		if (b->len > 0)
			memcpy(n, b->data, b->len);
		if (b->data != NULL) {
			sodium_memzero(b->data, b->cap);
			free(b->data);
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void
init_end(struct req *r)
{
	struct init_body *b = req_data(r), **pp;
	int rc;

	if (req_responded(r))
		return;
	b->read_ns = init_mono_ns();
	rc = init_req_parse(b->data, b->len, &b->ir);
	init_body_wipe(b);
	if (rc == -ENOMEM) {
		req_respond(r, 500, NULL, NULL, 0);
		return;
	}
	if (rc != 0) {
		log_debug("init: malformed request body");
		req_respond(r, 400, NULL, NULL, 0);
		return;
	}
	if (init_current != NULL) {
		/* One /init at a time: wait for the lock, in order. */
		for (pp = &init_queue; *pp != NULL; pp = &(*pp)->next)
			;
		*pp = b;
		b->deferred = 1;
		req_defer(r);
		return;
	}
	init_run(b);
}

/* Take the init lock and check the token (reading MMDS when needed). */
static void
init_run(struct init_body *b)
{
	struct init_req *ir = b->ir;

	init_current = b;
	if (init_isnotfc || auth_init_fast(ir->token, ir->token_len)) {
		init_decide(b, AUTH_MMDS_ABSENT);
		return;
	}
	b->mmds = mmds_read_start(init_loop, init_mmds_done, b);
	if (!b->deferred) {
		b->deferred = 1;
		req_defer(b->r);
	}
}

static void
init_mmds_done(int err, const struct mmds_opts *o, void *arg)
{
	struct init_body *b = arg;
	struct init_req *ir = b->ir;

	b->mmds = NULL;
	if (err != 0)
		log_debug("init: metadata service read failed: %s",
		    errtext(err));
	if (err != 0 && !b->healed) {
		/* Re-pin the route (firecracker.md §3.3), read once more. */
		b->healed = 1;
		if (mmds_route_heal(init_loop, init_heal_done, b) == 0)
			b->healing = 1;
		else
			b->mmds = mmds_read_start(init_loop, init_mmds_done, b);
		return;
	}
	init_decide(b, err != 0 ? AUTH_MMDS_ABSENT :
	    auth_mmds_classify(o->token_hash, ir->token, ir->token_len));
}

/* The route self-heal ended: the second read. */
static void
init_heal_done(void *arg)
{
	struct init_body *b = arg;

	b->healing = 0;
	b->mmds = mmds_read_start(init_loop, init_mmds_done, b);
}

/* Answer an error and release the lock. */
static void
init_fail(struct init_body *b, unsigned int status, const char *text)
{
	if (text != NULL)
		req_respond_text(b->r, status, text);
	else
		req_respond(b->r, status, NULL, NULL, 0);
	init_next();
}

/* Steps 6 to 15 of upstream-0.9.md §3.3, under the init lock. */
static void
init_decide(struct init_body *b, enum auth_mmds mmds)
{
	struct init_req *ir = b->ir;
	struct req *r = b->r;
	enum auth_init_verdict v;
	char *cause = NULL, num[32];
	uint64_t corr;
	int rc;

	v = auth_init_check_mmds(ir->token, ir->token_len, mmds);
	if (v != AUTH_INIT_ALLOW) {
		log_warn("init: %s", auth_init_message(v));
		init_fail(b, 401, auth_init_message(v));
		return;
	}
	if (ir->thaw_skip)
		req_add_header_static(r, "X-Envd-Thaw", "skip");
	if (ir->has_ts) {
		corr = init_mono_ns() - b->read_ns;
		ir->ts_nsec += (long)(corr % 1000000000u);
		ir->ts_sec += (int64_t)(corr / 1000000000u) +
		    ir->ts_nsec / 1000000000;
		ir->ts_nsec %= 1000000000;
		snprintf(num, sizeof(num), "%" PRIu64, corr / 1000000u);
		req_add_header(r, "X-Envd-Init-Clock-Correction", num);
	}
	if (ir->has_ts && init_have_ts && (ir->ts_sec < init_ts_sec ||
	    (ir->ts_sec == init_ts_sec && ir->ts_nsec < init_ts_nsec))) {
		log_debug("init: stale timestamp, nothing applied");
		goto applied;
	}
	if (ir->has_ts) {
		init_have_ts = 1;
		init_ts_sec = ir->ts_sec;
		init_ts_nsec = ir->ts_nsec;
	}
	if ((rc = init_apply(ir, &cause)) != 0) {
		(void)control_resume_thaw(b->gen, req_gone(b->r));
		if (rc == -ENOMEM) {
			init_fail(b, 500, NULL);
		} else {
			log_error("init: %s", cause);
			init_fail(b, 400, cause);
		}
		free(cause);
		return;
	}
	if (ir->has_cpu_count &&
	    cpus_set_target(ir->cpu_count, &b->cpus_why) != 0)
		log_warn("init: cpuCount refused: %s", b->cpus_why);
	if (ir->nvol > 0) {
		struct nfs_volume *vols;
		size_t i;

		vols = xcalloc(ir->nvol, sizeof(*vols));
		for (i = 0; i < ir->nvol; i++) {
			vols[i].target = ir->vol_targets[i] != NULL ?
			    ir->vol_targets[i] : "";
			vols[i].path = ir->vol_paths[i] != NULL ?
			    ir->vol_paths[i] : "";
		}
		rc = nfs_run_start(init_loop, vols, ir->nvol,
		    ir->lifecycle_id, init_nfs_done, b);
		free(vols);
		if (rc == 0) {
			if (!b->deferred) {
				b->deferred = 1;
				req_defer(r);
			}
			return;
		}
		if (rc == -EBUSY)
			log_info("init: NFS mounts already in progress; "
			    "skipped");
		else
			log_error("init: NFS mounts: %s", errtext(rc));
	}
applied:
	init_finish(b);
}

/* The NFS run of this /init ended (b is still the current /init). */
static void
init_nfs_done(int err, const char *msg, void *arg)
{
	struct init_body *b = arg;

	if (err != 0) {
		(void)control_resume_thaw(b->gen, req_gone(b->r));
		init_fail(b, 400, msg);
		return;
	}
	init_finish(b);
}

/* Steps after the data is applied: thaw (once the freeze lock is free),
 * headers, the 204. */
static void
init_finish(struct init_body *b)
{
	if (!b->ir->thaw_skip && control_locked()) {
		b->thaw_wait = control_after_lock(init_finish_now, b);
		if (!b->deferred) {
			b->deferred = 1;
			req_defer(b->r);
		}
		return;
	}
	init_finish_now(b);
}

static void
init_finish_now(void *arg)
{
	struct init_body *b = arg;
	struct req *r = b->r;
	char *h, *why = b->cpus_why, num[32];
	int thawed;

	b->thaw_wait = NULL;
	b->cpus_why = NULL;
	thawed = b->ir->thaw_skip ? 0 : control_resume_thaw(b->gen, req_gone(r));
	if (thawed == 1)
		log_info("init: a freeze came after this /init began; "
		    "nothing thawed");
	if (!req_gone(r)) {
		snprintf(num, sizeof(num), "%u", control_take_unobserved());
		req_add_header(r, "X-Envd-Init-Unobserved", num);
	}
	mmds_poll(INIT_MMDS_POLL_MS);
	h = defaults_header();
	req_add_header(r, "X-Envd-Defaults", h);
	free(h);
	h = cpus_header(why);
	req_add_header(r, "X-Envd-Cpus", h);
	free(h);
	free(why);
	req_add_header_static(r, "Cache-Control", "no-store");
	req_respond(r, 204, NULL, NULL, 0);
	init_next();
}

/* Release the init lock and run the next waiting /init. */
static void
init_next(void)
{
	struct init_body *b;

	init_current = NULL;
	if ((b = init_queue) == NULL)
		return;
	init_queue = b->next;
	b->next = NULL;
	init_run(b);
}

static void
init_done(struct req *r, int ok)
{
	struct init_body *b = req_data(r), **pp;

	(void)ok;
	if (b == NULL)
		return;
	for (pp = &init_queue; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	nfs_detach(b);
	/* Gone while its thaw waited for the freeze lock: the thaw still
	 * runs then, counted unobserved, as upstream's does. */
	control_after_lock_cancel(b->thaw_wait, 1, b->gen);
	if (b->healing)
		mmds_route_heal_detach(b);
	free(b->cpus_why);
	if (b->mmds != NULL) {
		/* The client went away during the token check. */
		mmds_read_cancel(b->mmds);
		b->mmds = NULL;
	}
	init_body_wipe(b);
	init_req_free(b->ir);
	free(b);
	req_set_data(r, NULL);
	if (init_current == b)
		init_next();
}

/* Step CLOCK_REALTIME to the host's time when it is too far off. */
static void
init_clock(const struct init_req *ir)
{
	struct timespec now, ts;
	int64_t host;

	host = init_ns(ir->ts_sec, ir->ts_nsec);
	clock_gettime(CLOCK_REALTIME, &now);
	if (!init_clock_should_set(init_ns(now.tv_sec, now.tv_nsec), host))
		return;
	ts.tv_sec = (time_t)ir->ts_sec;
	ts.tv_nsec = ir->ts_nsec;
	if (clock_settime(CLOCK_REALTIME, &ts) == 0) {
		fs_entry_forget_bare();
		log_info("init: system clock set from the host's timestamp");
		return;
	}
	if (!init_clock_warned) {
		log_warn("init: cannot set the system clock: %s%s",
		    strerror(errno), errno == EPERM ?
		    " (CAP_SYS_TIME missing); going on" : "");
		init_clock_warned = 1;
	} else {
		log_debug("init: cannot set the system clock: %s",
		    strerror(errno));
	}
}

/* Apply an authorised request. On failure *cause is the 400 text. */
static int
init_apply(const struct init_req *ir, char **cause)
{
	int rc;

	*cause = NULL;
	if (ir->has_ts)
		init_clock(ir);
	if (ir->has_env) {
		envs_replace((const char *const *)ir->env_keys,
		    (const char *const *)ir->env_values, ir->nenv);
		log_debug("init: %zu env vars set", ir->nenv);
	}
	if (ir->token != NULL) {
		if ((rc = auth_token_set(ir->token, ir->token_len)) != 0)
			return rc;
		log_debug("init: access token set");
	} else if (auth_token_is_set()) {
		auth_token_clear();
		log_info("init: access token cleared");
	}
	if (ir->hyperloop_ip != NULL)
		init_hyperloop(ir->hyperloop_ip);
	defaults_set_user(ir->default_user);
	defaults_set_workdir(ir->default_workdir);
	if (ir->ca_bundle != NULL && ir->ca_bundle[0] != '\0') {
		char *err = NULL;

		if (init_ca_install(ir->ca_bundle, &err) != 0) {
			*cause = xasprintf("failed to install CA bundle: %s",
			    err);
			free(err);
			return -EIO;
		}
	}
	return 0;
}

/* A path from the environment, or the default. */
static const char *
init_path_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

/*
 * /init hyperloopIP (firecracker.md §10): map events.e2b.local to ip in
 * $ENVD_HOSTS_PATH (default /etc/hosts), removing the name from every
 * other line (a line left without names goes), then set the internal
 * E2B_EVENTS_ADDRESS. The file is rewritten in place, not renamed over,
 * because /etc/hosts is often a bind mount. Nothing is written when the
 * mapping is already the only one. Failures are only logged, and then the
 * variable is left alone.
 */
static void
init_hyperloop(const char *ip)
{
	const char *path = init_path_env("ENVD_HOSTS_PATH", "/etc/hosts");
	unsigned char addr[sizeof(struct in6_addr)];
	char *data = NULL, *line, *next, *url, *tok, *save, *copy;
	struct buf out;
	size_t got = 0, cap = 0;
	ssize_t n;
	int fd = -1, r = 0, exact = 0, other = 0, names, hit;

	buf_init(&out, INIT_HOSTS_MAX + 256);
	if (inet_pton(AF_INET, ip, addr) != 1 &&
	    inet_pton(AF_INET6, ip, addr) != 1) {
		log_warn("init: hyperloopIP is not an IP address; ignored");
		goto out;
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		r = -errno;
		goto fail;
	}
	for (;;) {
		if (got == cap) {
			if (cap >= INIT_HOSTS_MAX) {
				r = -EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 4096;
			data = xreallocarray(data, 1, cap + 1);
		}
		if ((n = read(fd, data + got, cap - got)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	data = xreallocarray(data, 1, got + 1);
	data[got] = '\0';
	for (line = data; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		copy = xstrndup(line, (size_t)(next - line));
		copy[strcspn(copy, "#\n")] = '\0';
		tok = strtok_r(copy, " \t\r", &save);
		names = hit = 0;
		if (tok != NULL) {
			const char *lip = tok;
			struct buf kept;

			buf_init(&kept, INIT_HOSTS_MAX);
			buf_puts(&kept, lip);
			while ((tok = strtok_r(NULL, " \t\r", &save)) != NULL) {
				if (strcmp(tok, INIT_EVENTS_HOST) == 0) {
					hit = 1;
					continue;
				}
				names++;
				buf_puts(&kept, "\t");
				buf_puts(&kept, tok);
			}
			if (hit && names == 0 && strcmp(lip, ip) == 0)
				exact++;
			else if (hit)
				other++;
			if (hit) {
				if (names > 0) {
					buf_append(&out, buf_ptr(&kept),
					    buf_len(&kept));
					buf_puts(&out, "\n");
				}
				buf_reset(&kept);
				free(copy);
				continue;
			}
			buf_reset(&kept);
		}
		free(copy);
		buf_append(&out, line, (size_t)(next - line));
		if (next[-1] != '\n')
			buf_puts(&out, "\n");
	}
	if (exact == 1 && other == 0)
		goto set;
	buf_puts(&out, ip);
	buf_puts(&out, "\t" INIT_EVENTS_HOST "\n");
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
		r = -errno;
		goto fail;
	}
	for (size_t off = 0; off < buf_len(&out); off += (size_t)n) {
		if ((n = write(fd, buf_ptr(&out) + off,
		    buf_len(&out) - off)) < 0) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			r = -errno;
			goto fail;
		}
	}
set:
	url = xasprintf("http://%s", ip);
	envs_set_internal("E2B_EVENTS_ADDRESS", url);
	free(url);
	log_debug("init: %s mapped to the hyperloop address", INIT_EVENTS_HOST);
	goto out;
fail:
	log_error_r(r, "init: cannot rewrite %s", path);
out:
	if (fd >= 0)
		close(fd);
	free(data);
	buf_reset(&out);
}

/* mkdir -p for the directory part of path (mode 0755). */
static int
init_mkdirs(const char *path)
{
	char *dir = xstrdup(path), *p, c;
	int r = 0;

	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		goto out;
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
out:
	free(dir);
	return r;
}

/* Create or truncate path and write data to it. */
static int
init_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	ssize_t n;
	size_t off = 0;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0 && r == 0)
		r = -errno;
	return r;
}

/*
 * Install a PEM bundle: append it to the system bundle (which must exist),
 * persist it for update-ca-certificates, and take the previously installed
 * one out of the system bundle. Re-sending the same PEM does nothing. Only
 * the append can fail the request; the rest is logged.
 */
static int
init_ca_install(const char *pem, char **cause)
{
	const char *bundle, *persist;
	char *norm = NULL, *prev = NULL;
	size_t n = strlen(pem), off = 0;
	ssize_t w;
	int fd = -1, r;

	*cause = NULL;
	bundle = init_path_env("ENVD_CA_BUNDLE_PATH", INIT_CA_BUNDLE_DEFAULT);
	persist = init_path_env("ENVD_CA_PERSIST_PATH",
	    INIT_CA_PERSIST_DEFAULT);
	while (n > 0 && pem[n - 1] == '\n')
		n--;
	norm = xmalloc(n + 2);
	memcpy(norm, pem, n);
	norm[n++] = '\n';
	norm[n] = '\0';
	if (init_ca_last != NULL && strcmp(init_ca_last, norm) == 0) {
		log_debug("init: CA bundle unchanged");
		r = 0;
		goto out;
	}
	if ((fd = open(bundle, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0) {
		r = -errno;
		*cause = xasprintf("open CA bundle: open %s: %s", bundle,
		    errtext(r));
		goto out;
	}
	while (off < n) {
		if ((w = write(fd, norm + off, n - off)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			*cause = xasprintf("append CA cert: write %s: %s",
			    bundle, errtext(r));
			goto out;
		}
		off += (size_t)w;
	}
	prev = init_ca_last;
	init_ca_last = norm;
	norm = NULL;
	log_info("init: CA certificate appended to %s", bundle);

	if ((r = init_mkdirs(persist)) != 0 ||
	    (r = init_write_file(persist, init_ca_last, strlen(init_ca_last),
	    0644)) != 0)
		log_error_r(r, "init: cannot persist the CA certificate to %s",
		    persist);
	if (prev != NULL)
		init_ca_remove(bundle, prev);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(norm);
	free(prev);
	return r;
}

/* Rewrite bundle without any copy of pem (atomically, same directory). */
static void
init_ca_remove(const char *bundle, const char *pem)
{
	struct stat st;
	char *data = NULL, *tmp = NULL, *dir = NULL, *slash, *out = NULL;
	const char *p, *hit;
	size_t plen = strlen(pem), olen = 0, got = 0;
	ssize_t n;
	int fd = -1, r;

	if ((fd = open(bundle, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) != 0) {
		r = -errno;
		goto fail;
	}
	if (st.st_size < 0 || st.st_size > INIT_CA_BUNDLE_MAX) {
		r = -EFBIG;
		goto fail;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	close(fd);
	fd = -1;

	out = xmalloc(got + 1);
	for (p = data; (hit = memmem(p, got - (size_t)(p - data), pem,
	    plen)) != NULL; p = hit + plen) {
		memcpy(out + olen, p, (size_t)(hit - p));
		olen += (size_t)(hit - p);
	}
	memcpy(out + olen, p, got - (size_t)(p - data));
	olen += got - (size_t)(p - data);

	dir = xstrdup(bundle);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	tmp = xasprintf("%s/ca-bundle-XXXXXX", slash != NULL ?
	    (dir[0] != '\0' ? dir : "/") : ".");
	if ((fd = mkstemp(tmp)) < 0) {
		r = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	if ((r = init_write_file(tmp, out, olen, 0644)) != 0 ||
	    chmod(tmp, 0644) != 0 || rename(tmp, bundle) != 0) {
		if (r == 0)
			r = -errno;
		unlink(tmp);
		goto fail;
	}
	log_info("init: previous CA certificate removed from %s", bundle);
	goto out;
fail:
	log_error_r(r, "init: cannot remove the previous CA certificate "
	    "from %s", bundle);
out:
	if (fd >= 0)
		close(fd);
	free(data);
	free(out);
	free(tmp);
	free(dir);
}
