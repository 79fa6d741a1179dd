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
	unsigned int target;	/* 0: none */
	unsigned int attempts;	/* reconcile runs since the target */
	unsigned int failed;	/* consecutive failed runs */
	/* The write in flight (thread-pool side reads these only). */
	char *wpath;
	int wvalue;
	int werr;
	unsigned int wcpu;
	unsigned int wbefore;
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
	cpus_s.werr = 0;
	fd = open(cpus_s.wpath, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		cpus_s.werr = -errno;
		return;
	}
	if (write(fd, cpus_s.wvalue ? "1" : "0", 1) != 1)
		cpus_s.werr = -errno;
	if (close(fd) != 0 && cpus_s.werr == 0)
		cpus_s.werr = -errno;
}

static void
cpus_schedule(uint64_t ms)
{
	if (cpus_s.loop == NULL || !cpus_s.timer_init)
		return;
	uv_timer_start(&cpus_s.timer, cpus_step, ms, 0);
}

/* A run failed: back off, or give up after CPUS_MAX_RUNS. */
static void
cpus_fail(const char *what)
{
	uint64_t ms = CPUS_BACKOFF_MS;

	cpus_s.failed++;
	log_warn("cpus: %s", what);
	if (cpus_s.failed >= CPUS_MAX_RUNS) {
		log_warn("cpus: giving up on target %u until a new one",
		    cpus_s.target);
		return;
	}
	for (unsigned int i = 1; i < cpus_s.failed && ms < CPUS_BACKOFF_MAX_MS;
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
		msg = xasprintf("cpu%u: %s", cpus_s.wcpu,
		    strerror(-cpus_s.werr));
		cpus_fail(msg);
		free(msg);
		return;
	}
	if (cpus_read_mask("online", &on) != 0 ||
	    cpus_count(&on) == cpus_s.wbefore) {
		msg = xasprintf("cpu%u: write reported success but the online "
		    "mask did not change", cpus_s.wcpu);
		cpus_fail(msg);
		free(msg);
		return;
	}
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
	if (cpus_read_mask("possible", &pos) != 0 ||
	    cpus_read_mask("online", &on) != 0) {
		cpus_fail("cannot read the CPU masks");
		return;
	}
	n = cpus_count(&on);
	p = cpus_count(&pos);
	if (n == t_) {
		cpus_s.failed = 0;
		return;
	}
	cpus_s.attempts++;
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
		cpus_fail(msg);
		free(msg);
		return;
	}
	cpus_s.wcpu = (unsigned int)c;
	cpus_s.wvalue = n < t_;
	cpus_s.wbefore = n;
	cpus_s.wpath = xasprintf("%s/cpu%d/online", cpus_env("ENVD_SYSFS_CPU",
	    CPUS_SYSFS), c);
	cpus_s.busy = 1;
	if (uv_queue_work(cpus_s.loop, &cpus_s.work, cpus_write_work,
	    cpus_write_done) != 0) {
		cpus_s.busy = 0;
		free(cpus_s.wpath);
		cpus_s.wpath = NULL;
		cpus_fail("cannot queue the CPU write");
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
	cpus_s.failed = 0;
	if (!cpus_s.busy)
		cpus_schedule(0);
	return 0;
}

char *
cpus_header(const char *rejected)
{
	struct cpus_set pos, on;
	unsigned int np = 0, no = 0;
	struct buf b;
	char *s;

	if (cpus_s.fc) {
		if (cpus_read_mask("possible", &pos) == 0 &&
		    cpus_read_mask("online", &on) == 0) {
			np = cpus_count(&pos);
			no = cpus_count(&on);
		} else if (!cpus_s.mask_warned) {
			log_warn("cpus: cannot read the CPU masks");
			cpus_s.mask_warned = 1;
		}
	}
	s = xasprintf("{\"online\":%u,\"possible\":%u,\"target\":%u", no, np,
	    cpus_s.target);
	buf_init(&b, 4096);
	buf_puts(&b, s);
	free(s);
	if (rejected != NULL && (buf_puts(&b, ",\"rejected\":") != 0 ||
	    gojson_quote(&b, rejected, strlen(rejected)) != 0)) {
		buf_reset(&b);
		return xasprintf("{\"online\":%u,\"possible\":%u,\"target\":%u,"
		    "\"rejected\":\"\"}", no, np, cpus_s.target);
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
