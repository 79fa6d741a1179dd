/*
 * metrics.c - GET /metrics.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "cpus.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "oom.h"
#include "xalloc.h"

#define METRICS_INTERVAL_MS 1000
#define METRICS_PROC_MAX (4 * 1024 * 1024)

static uv_timer_t metrics_timer;
static int metrics_timer_open;		/* metrics_timer initialised */
static struct metrics_cpu metrics_prev;	/* older sample */
static struct metrics_cpu metrics_cur;	/* newest sample */
static unsigned int metrics_nsamples;	/* samples taken so far */

static int metrics_slurp(const char *, char **);
static int metrics_sample(struct metrics_cpu *);
static void metrics_tick(uv_timer_t *);
static void metrics_end(struct req *);

const struct req_handler metrics_handler = {
	.name = "metrics",
	.end = metrics_end,
};

/* Read a /proc file (whose size stat cannot tell) into a new string. */
static int
metrics_slurp(const char *path, char **out)
{
	struct buf b;
	uint8_t *p;
	ssize_t n;
	int fd, r = 0;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	buf_init(&b, METRICS_PROC_MAX);
	for (;;) {
		if ((p = buf_reserve(&b, 4096)) == NULL) {
			r = -EFBIG;
			break;
		}
		n = read(fd, p, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		buf_commit(&b, (size_t)n);
	}
	close(fd);
	if (r == 0)
		*out = buf_steal_str(&b, NULL);
	buf_reset(&b);
	return r;
}

int
metrics_parse_stat(const char *text, struct metrics_cpu *out)
{
	unsigned long long v[8];
	const char *line;
	int n, i;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, "cpu ", 4) != 0)
		return -EINVAL;
	memset(v, 0, sizeof(v));
	n = sscanf(text + 4, "%llu %llu %llu %llu %llu %llu %llu %llu",
	    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	if (n < 4)
		return -EINVAL;
	for (i = 0; i < 8; i++)
		out->total += v[i];
	out->busy = out->total - v[3] - v[4];
	for (line = text; line != NULL; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' &&
		    line[3] <= '9')
			out->ncpu++;
	}
	return 0;
}

int
metrics_parse_meminfo(const char *text, struct metrics_mem *out)
{
	static const char *const keys[] = { "MemTotal:", "MemFree:",
	    "Buffers:", "Cached:", "SReclaimable:" };
	uint64_t v[5] = { 0, 0, 0, 0, 0 };
	unsigned long long kb;
	const char *line, *next;
	size_t i, klen;
	int have_total = 0;

	memset(out, 0, sizeof(*out));
	for (line = text; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			next++;
		else
			next = line + strlen(line);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			klen = strlen(keys[i]);
			if (strncmp(line, keys[i], klen) != 0)
				continue;
			if (sscanf(line + klen, "%llu", &kb) == 1) {
				v[i] = (uint64_t)kb * 1024;
				if (i == 0)
					have_total = 1;
			}
			break;
		}
	}
	if (!have_total)
		return -EINVAL;
	out->total = v[0];
	out->cached = v[3] + v[4];
	if (v[1] + v[2] + out->cached < out->total)
		out->used = out->total - v[1] - v[2] - out->cached;
	return 0;
}

double
metrics_cpu_pct(const struct metrics_cpu *a, const struct metrics_cpu *b)
{
	double pct;

	if (b->busy <= a->busy)
		return 0;
	if (b->total <= a->total)
		return 100;
	pct = (double)(b->busy - a->busy) / (double)(b->total - a->total) *
	    100;
	if (pct > 100)
		pct = 100;
	if (pct < 0)
		pct = 0;
	return pct;
}

size_t
metrics_format_pct(double pct, char *out, size_t outsz)
{
	float f = (float)pct;
	int prec, n = 0;

	/* Go's math.Round: halves away from zero (pct is at most 100). */
	if (pct > 0)
		f = (float)((double)(int64_t)(pct * 100 + 0.5) / 100);
	for (prec = 0; prec <= 9; prec++) {
		n = snprintf(out, outsz, "%.*f", prec, (double)f);
		if (strtof(out, NULL) == f)
			break;
	}
	return n < 0 ? 0 : (size_t)n;
}

/* Take one /proc/stat sample. */
static int
metrics_sample(struct metrics_cpu *out)
{
	char *text = NULL;
	int r;

	if ((r = metrics_slurp("/proc/stat", &text)) == 0)
		r = metrics_parse_stat(text, out);
	free(text);
	return r;
}

static void
metrics_tick(uv_timer_t *t)
{
	struct metrics_cpu s;

	if (metrics_sample(&s) != 0)
		return;
	metrics_prev = metrics_cur;
	metrics_cur = s;
	metrics_nsamples++;
}

void
metrics_start(uv_loop_t *loop)
{
	if (metrics_timer_open)
		return;
	if (metrics_sample(&metrics_cur) == 0)
		metrics_nsamples = 1;
	uv_timer_init(loop, &metrics_timer);
	uv_unref((uv_handle_t *)&metrics_timer);
	uv_timer_start(&metrics_timer, metrics_tick, METRICS_INTERVAL_MS,
	    METRICS_INTERVAL_MS);
	metrics_timer_open = 1;
}

void
metrics_stop(void)
{
	if (!metrics_timer_open)
		return;
	if (!uv_is_closing((uv_handle_t *)&metrics_timer))
		uv_close((uv_handle_t *)&metrics_timer, NULL);
	metrics_timer_open = 0;
}

static void
metrics_end(struct req *r)
{
	struct metrics_cpu now;
	struct metrics_mem mem;
	struct cpus_status cs;
	struct statfs sf;
	struct buf b;
	char *text = NULL, pct[32], head[512];
	double cpu = 0;
	uint64_t dtotal, dused;
	unsigned int ncpu;
	int n;

	buf_init(&b, 64 * 1024);
	if (metrics_slurp("/proc/meminfo", &text) != 0 ||
	    metrics_parse_meminfo(text, &mem) != 0 ||
	    statfs("/", &sf) != 0) {
		log_error("metrics: cannot read memory or disk figures");
		req_respond(r, 500, NULL, NULL, 0);
		goto out;
	}
	if (metrics_nsamples >= 2) {
		cpu = metrics_cpu_pct(&metrics_prev, &metrics_cur);
		ncpu = metrics_cur.ncpu;
	} else if (metrics_sample(&now) == 0) {
		/* Before the first tick: measure since the startup sample. */
		if (metrics_nsamples == 1)
			cpu = metrics_cpu_pct(&metrics_cur, &now);
		ncpu = now.ncpu;
	} else {
		log_error("metrics: cannot read /proc/stat");
		req_respond(r, 500, NULL, NULL, 0);
		goto out;
	}
	metrics_format_pct(cpu, pct, sizeof(pct));
	cpus_status(&cs);
	dtotal = (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize;
	dused = ((uint64_t)sf.f_blocks - (uint64_t)sf.f_bavail) *
	    (uint64_t)sf.f_bsize;
	n = snprintf(head, sizeof(head),
	    "{\"ts\":%lld,\"cpu_count\":%u,\"cpu_used_pct\":%s,"
	    "\"cpu_possible\":%u,\"cpu_target\":%u,"
	    "\"cpu_target_attempts\":%u,\"cpu_write_pending_ms\":%" PRIu64
	    ",\"mem_total\":%" PRIu64 ",\"mem_used\":%" PRIu64 ","
	    "\"mem_cache\":%" PRIu64 ",\"disk_used\":%" PRIu64 ","
	    "\"disk_total\":%" PRIu64,
	    (long long)time(NULL), ncpu, pct, cs.possible, cs.target,
	    cs.attempts, cs.write_pending_ms, mem.total, mem.used,
	    mem.cached, dused, dtotal);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    buf_append(&b, head, (size_t)n) != 0 || oom_append_json(&b) < 0 ||
	    buf_puts(&b, "}\n") != 0) {
		log_error("metrics: response too large");
		req_respond(r, 500, NULL, NULL, 0);
		goto out;
	}
	req_add_header(r, "Cache-Control", "no-store");
	req_respond_buf(r, 200, "application/json", &b);
out:
	buf_reset(&b);
	free(text);
}
