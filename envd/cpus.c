/*
 * cpus.c - CPU target and hot-plug worker.
 *
 * One reconcile step is in flight at most: a timer starts it, the write
 * runs on the thread pool, and its completion on the loop re-reads the
 * masks and schedules the next step or the back-off.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cpus.h"
#include "gojson.h"
#include "log.h"
#include "xalloc.h"

#define CPUS_SYSFS "/sys/devices/system/cpu"
#define CPUS_RUN_DIR "/run/e2b"
#define CPUS_LIST_MAX (64 * 1024)
#define CPUS_BACKOFF_MS 1000
#define CPUS_BACKOFF_MAX_MS 30000
#define CPUS_MAX_RUNS 10

static struct {
	uv_loop_t *loop;
	int fc;
	int timer_init;
	uv_timer_t timer;
	uv_work_t work;
	int busy;		/* a write is on the thread pool */
	int in_run;		/* a reconcile run has begun, not ended */
	int wake;		/* a new target arrived during the run */
	unsigned int target;	/* 0: none */
	unsigned int attempts;	/* reconcile runs ended since the target */
	unsigned int stalled;	/* failed runs in a row that changed no CPU */
	unsigned int changed;	/* CPUs changed by the current run */
	/* uv_hrtime() when the pool thread began the write, 0 when no write
	 * is in the kernel; written by that thread, read by the loop. */
	uint64_t wstart;
	/* The write in flight (thread-pool side reads these only). */
	char *wpath;
	int wvalue;
	int werr;
	unsigned int wcpu;
	int mask_warned;
} cpus_s;

static void cpus_step(uv_timer_t *);

static const char *
cpus_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

int
cpus_parse_list(const char *s, size_t len, struct cpus_set *set)
{
	size_t i = 0;
	long last = -1, a, b;

	memset(set, 0, sizeof(*set));
	if (len > 0 && s[len - 1] == '\n')
		len--;
	while (i < len) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		for (a = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if ((a = a * 10 + (s[i] - '0')) >= CPUS_MAX)
				return -EINVAL;
		b = a;
		if (i < len && s[i] == '-') {
			if (++i >= len || s[i] < '0' || s[i] > '9')
				return -EINVAL;
			for (b = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
				if ((b = b * 10 + (s[i] - '0')) >= CPUS_MAX)
					return -EINVAL;
		}
		if (a <= last || b < a)
			return -EINVAL;
		for (long c = a; c <= b; c++)
			set->bits[c / 64] |= UINT64_C(1) << (c % 64);
		last = b;
		if (i < len) {
			if (s[i] != ',' || i + 1 == len)
				return -EINVAL;
			i++;
		}
	}
	return 0;
}

unsigned int
cpus_count(const struct cpus_set *set)
{
	unsigned int n = 0;

	for (size_t i = 0; i < CPUS_MAX / 64; i++)
		n += (unsigned int)__builtin_popcountll(set->bits[i]);
	return n;
}

int
cpus_has(const struct cpus_set *set, unsigned int cpu)
{
	return cpu < CPUS_MAX && (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

/* Read <sysfs>/name as a cpulist. */
static int
cpus_read_mask(const char *name, struct cpus_set *set)
{
	char *path = xasprintf("%s/%s", cpus_env("ENVD_SYSFS_CPU",
	    CPUS_SYSFS), name), *data = xmalloc(CPUS_LIST_MAX + 1);
	size_t got = 0;
	ssize_t n;
	int fd, r;

	memset(set, 0, sizeof(*set));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		goto out;
	}
	while (got <= CPUS_LIST_MAX && (n = read(fd, data + got,
	    CPUS_LIST_MAX + 1 - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			goto out;
		}
		got += (size_t)n;
	}
	close(fd);
	r = got > CPUS_LIST_MAX ? -EFBIG : cpus_parse_list(data, got, set);
out:
	free(path);
	free(data);
	return r;
}

/* Persist the target: <run dir>/cpu-target.tmp renamed over cpu-target. */
static int
cpus_persist(unsigned int n)
{
	const char *dir = cpus_env("ENVD_RUN_DIR", CPUS_RUN_DIR);
	char *tmp = xasprintf("%s/cpu-target.tmp", dir);
	char *dst = xasprintf("%s/cpu-target", dir);
	char num[16];
	int fd = -1, len, r = 0;

	len = snprintf(num, sizeof(num), "%u", n);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0 || write(fd, num, (size_t)len) != len) {
		r = fd < 0 || errno != 0 ? -errno : -EIO;
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) != 0)
		r = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (r != 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	return r;
}

/* Thread pool: the sysfs write, nothing else. */
static void
cpus_write_work(uv_work_t *w)
{
	int fd;

	(void)w;
	__atomic_store_n(&cpus_s.wstart, uv_hrtime() | 1, __ATOMIC_RELEASE);
	cpus_s.werr = 0;
	fd = open(cpus_s.wpath, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		cpus_s.werr = -errno;
		goto out;
	}
	if (write(fd, cpus_s.wvalue ? "1" : "0", 1) != 1)
		cpus_s.werr = -errno;
	if (close(fd) != 0 && cpus_s.werr == 0)
		cpus_s.werr = -errno;
out:
	__atomic_store_n(&cpus_s.wstart, 0, __ATOMIC_RELEASE);
}

static void
cpus_schedule(uint64_t ms)
{
	if (cpus_s.loop == NULL || !cpus_s.timer_init)
		return;
	uv_timer_start(&cpus_s.timer, cpus_step, ms, 0);
}

/*
 * The current run ended. ok: the online count matches the target. A
 * failed run backs off (1 s doubling to 30 s) unless it changed a CPU,
 * and the worker gives up after CPUS_MAX_RUNS runs in a row that changed
 * nothing. A target that arrived meanwhile starts a new run at once.
 */
static void
cpus_run_end(int ok, const char *what)
{
	uint64_t ms = CPUS_BACKOFF_MS;
	unsigned int changed = cpus_s.changed;

	cpus_s.in_run = 0;
	cpus_s.changed = 0;
	cpus_s.attempts++;
	if (ok) {
		cpus_s.stalled = 0;
		if (changed > 0)
			log_info("cpus: online set matches target %u "
			    "(%u changed)", cpus_s.target, changed);
	} else {
		cpus_s.stalled = changed > 0 ? 0 : cpus_s.stalled + 1;
		log_warn("cpus: reconcile failed (attempt %u): %s",
		    cpus_s.attempts, what);
	}
	if (cpus_s.wake) {
		cpus_s.wake = 0;
		cpus_s.stalled = 0;
		cpus_schedule(0);
		return;
	}
	if (ok)
		return;
	if (cpus_s.stalled >= CPUS_MAX_RUNS) {
		log_warn("cpus: giving up on target %u until a new one",
		    cpus_s.target);
		return;
	}
	for (unsigned int i = 1; i < cpus_s.stalled && ms < CPUS_BACKOFF_MAX_MS;
	    i++)
		ms *= 2;
	if (ms > CPUS_BACKOFF_MAX_MS)
		ms = CPUS_BACKOFF_MAX_MS;
	cpus_schedule(ms);
}

static void
cpus_write_done(uv_work_t *w, int status)
{
	struct cpus_set on;
	char *msg;

	(void)w;
	cpus_s.busy = 0;
	free(cpus_s.wpath);
	cpus_s.wpath = NULL;
	if (status == UV_ECANCELED)
		return;
	if (cpus_s.werr != 0) {
		msg = xasprintf("set cpu%u online=%s: %s", cpus_s.wcpu,
		    cpus_s.wvalue ? "true" : "false", strerror(-cpus_s.werr));
		cpus_run_end(0, msg);
		free(msg);
		return;
	}
	if (cpus_read_mask("online", &on) != 0) {
		cpus_run_end(0, "cannot read the online CPU mask");
		return;
	}
	if (cpus_has(&on, cpus_s.wcpu) != cpus_s.wvalue) {
		msg = xasprintf("cpu%u: write reported success but the online "
		    "mask did not change", cpus_s.wcpu);
		cpus_run_end(0, msg);
		free(msg);
		return;
	}
	cpus_s.changed++;
	cpus_schedule(0);
}

/* One reconcile step: pick one CPU and hand its write to the pool. */
static void
cpus_step(uv_timer_t *t)
{
	struct cpus_set pos, on;
	unsigned int n, p, t_ = cpus_s.target;
	char *msg = NULL;
	int c;

	(void)t;
	if (cpus_s.busy || t_ == 0)
		return;
	cpus_s.in_run = 1;
	if (cpus_read_mask("possible", &pos) != 0 ||
	    cpus_read_mask("online", &on) != 0) {
		cpus_run_end(0, "cannot read the CPU masks");
		return;
	}
	n = cpus_count(&on);
	p = cpus_count(&pos);
	if (n == t_) {
		cpus_run_end(1, NULL);
		return;
	}
	if (n < t_) {
		for (c = 0; c < CPUS_MAX; c++)
			if (cpus_has(&pos, (unsigned int)c) &&
			    !cpus_has(&on, (unsigned int)c))
				break;
		if (c == CPUS_MAX)
			msg = xasprintf("cpu target %u exceeds %u possible "
			    "CPUs", t_, p);
	} else {
		for (c = CPUS_MAX - 1; c >= 0; c--)
			if (cpus_has(&on, (unsigned int)c))
				break;
		if (c <= 0)
			msg = xasprintf("cpu target %u leaves only CPU0, which "
			    "cannot go offline", t_);
	}
	if (msg != NULL) {
		cpus_run_end(0, msg);
		free(msg);
		return;
	}
	cpus_s.wcpu = (unsigned int)c;
	cpus_s.wvalue = n < t_;
	cpus_s.wpath = xasprintf("%s/cpu%d/online", cpus_env("ENVD_SYSFS_CPU",
	    CPUS_SYSFS), c);
	cpus_s.busy = 1;
	if (uv_queue_work(cpus_s.loop, &cpus_s.work, cpus_write_work,
	    cpus_write_done) != 0) {
		cpus_s.busy = 0;
		free(cpus_s.wpath);
		cpus_s.wpath = NULL;
		cpus_run_end(0, "cannot queue the CPU write");
	}
}

int
cpus_set_target(int64_t n, char **why)
{
	struct cpus_set pos;
	unsigned int p;
	int r;

	*why = NULL;
	if (!cpus_s.fc)
		return 0;
	if ((r = cpus_read_mask("possible", &pos)) != 0) {
		*why = xasprintf("read possible cpus: %s", strerror(-r));
		return r;
	}
	p = cpus_count(&pos);
	if (n < 1 || n > (int64_t)p) {
		*why = xasprintf("cpu target %" PRId64 " outside 1..%u", n, p);
		return -ERANGE;
	}
	if ((r = cpus_persist((unsigned int)n)) != 0) {
		*why = xasprintf("persist cpu target: %s", strerror(-r));
		return r;
	}
	cpus_s.target = (unsigned int)n;
	cpus_s.attempts = 0;
	cpus_s.stalled = 0;
	if (cpus_s.in_run)
		cpus_s.wake = 1;	/* the run re-reads the target */
	else
		cpus_schedule(0);
	return 0;
}

void
cpus_status(struct cpus_status *st)
{
	struct cpus_set pos, on;
	uint64_t t0;

	memset(st, 0, sizeof(*st));
	if (!cpus_s.fc)
		return;
	if (cpus_read_mask("possible", &pos) == 0 &&
	    cpus_read_mask("online", &on) == 0) {
		st->possible = cpus_count(&pos);
		st->online = cpus_count(&on);
	} else if (!cpus_s.mask_warned) {
		log_warn("cpus: cannot read the CPU masks");
		cpus_s.mask_warned = 1;
	}
	st->target = cpus_s.target;
	st->attempts = cpus_s.attempts;
	t0 = __atomic_load_n(&cpus_s.wstart, __ATOMIC_ACQUIRE);
	if (t0 != 0 && uv_hrtime() > t0)
		st->write_pending_ms = (uv_hrtime() - t0) / 1000000;
}

char *
cpus_header(const char *rejected)
{
	struct cpus_status st;
	struct buf b;
	char *s;

	cpus_status(&st);
	s = xasprintf("{\"online\":%u,\"possible\":%u,\"target\":%u",
	    st.online, st.possible, st.target);
	buf_init(&b, 4096);
	buf_puts(&b, s);
	free(s);
	if (rejected != NULL && (buf_puts(&b, ",\"rejected\":") != 0 ||
	    gojson_quote(&b, rejected, strlen(rejected)) != 0)) {
		buf_reset(&b);
		return xasprintf("{\"online\":%u,\"possible\":%u,"
		    "\"target\":%u,\"rejected\":\"\"}", st.online,
		    st.possible, st.target);
	}
	buf_puts(&b, "}");
	return buf_steal_str(&b, NULL);
}

void
cpus_setup(uv_loop_t *loop, int isnotfc)
{
	char buf[65], *why = NULL, *path, *e;
	ssize_t n;
	long v;
	int fd;

	cpus_s.loop = loop;
	cpus_s.fc = !isnotfc;
	if (!cpus_s.fc)
		return;
	uv_timer_init(loop, &cpus_s.timer);
	uv_unref((uv_handle_t *)&cpus_s.timer);
	cpus_s.timer_init = 1;
	path = xasprintf("%s/cpu-target", cpus_env("ENVD_RUN_DIR",
	    CPUS_RUN_DIR));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || n > 64)
		return;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &e, 10);
	while (*e == ' ' || *e == '\n' || *e == '\t' || *e == '\r')
		e++;
	if (errno != 0 || e == buf || *e != '\0')
		return;
	if (cpus_set_target(v, &why) != 0) {
		log_warn("cpus: persisted target ignored: %s", why);
		free(why);
	}
}

void
cpus_free(void)
{
	free(cpus_s.wpath);
	memset(&cpus_s, 0, sizeof(cpus_s));
}
