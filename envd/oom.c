/*
 * oom.c - the kernel log watcher behind /metrics "oom_kills".
 *
 * One descriptor, one poll handle and one timer, all unreferenced so they
 * never keep the loop alive. The timer drives the reopen and give-up
 * delays; the poll callback reads a bounded number of records per turn so
 * a long log never holds the loop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "errtext.h"
#include "gojson.h"
#include "log.h"
#include "oom.h"
#include "query.h"

#define OOM_KMSG "/dev/kmsg"
#define OOM_RECORD_MAX 8192
#define OOM_OPEN_TRIES 5
#define OOM_RETRY_MS 1000
#define OOM_MAX_FAILURES 5
#define OOM_HEALTHY_MS (60 * 1000)
#define OOM_RECOVERY_MS (30 * 60 * 1000)
#define OOM_READS_PER_TURN 256

struct oom_kill {
	int64_t seq;
	char name[OOM_NAME_MAX + 1];
};

static struct {
	uv_loop_t *loop;
	const char *path;
	int on; /* oom_start() ran in Firecracker mode */
	int fd; /* the open log, or -1 */
	uv_poll_t poll;
	int poll_open; /* poll initialised and not yet closed */
	uv_timer_t timer;
	int timer_open;
	int caught_up;	/* the whole log was read since the open */
	int recovering; /* a round after a give-up: stay quiet */
	struct oom_kill kills[OOM_KILLS_MAX];
	size_t head, nkills; /* ring: kills[head] is the oldest */
	char in[2 * OOM_RECORD_MAX];
	size_t carry; /* bytes of an unfinished line in in[] */
	unsigned int open_tries;
	unsigned int failures; /* failed reads in a row */
	uint64_t opened_ms;
} oom_s = {.fd = -1};

static void oom_open(uv_timer_t *);
static void oom_read_cb(uv_poll_t *, int, int);

static const char *const oom_prefixes[] = {
    "Out of memory: Killed process ",
    "Out of memory (oom_kill_allocating_task): Killed process ",
    "Memory cgroup out of memory: Killed process ",
};

static const char *
oom_memmem_last(const char *h, size_t hlen, const char *n, size_t nlen)
{
	const char *last = NULL, *p = h;
	size_t left = hlen;

	while (left >= nlen && (p = memmem(p, left, n, nlen)) != NULL) {
		last = p;
		p++;
		left = hlen - (size_t)(p - h);
	}
	return last;
}

int
oom_parse_record(
    const char *rec, size_t len, int64_t *seq, char name[OOM_NAME_MAX + 1])
{
	const char *semi, *c1, *c2, *msg, *nl, *v, *paren, *end;
	size_t mlen, plen, vlen = 0, i, n;
	int64_t prio;

	if ((semi = memchr(rec, ';', len)) == NULL)
		return 0;
	plen = (size_t)(semi - rec);
	if ((c1 = memchr(rec, ',', plen)) == NULL ||
	    (c2 = memchr(c1 + 1, ',', plen - (size_t)(c1 + 1 - rec))) == NULL)
		return 0;
	if (query_parse_int64(rec, (size_t)(c1 - rec), &prio, NULL) != 0 ||
	    prio < 0 || prio > 7 ||
	    query_parse_int64(c1 + 1, (size_t)(c2 - c1 - 1), seq, NULL) != 0)
		return 0;
	msg = semi + 1;
	mlen = len - plen - 1;
	if ((nl = memchr(msg, '\n', mlen)) != NULL)
		mlen = (size_t)(nl - msg);
	v = NULL;
	for (i = 0; i < sizeof(oom_prefixes) / sizeof(oom_prefixes[0]); i++) {
		n = strlen(oom_prefixes[i]);
		if (mlen >= n && memcmp(msg, oom_prefixes[i], n) == 0) {
			v = msg + n;
			vlen = mlen - n;
			break;
		}
	}
	if (v == NULL)
		return 0;
	strcpy(name, "Unknown");
	if ((paren = memmem(v, vlen, " (", 2)) == NULL ||
	    query_parse_int64(v, (size_t)(paren - v), &prio, NULL) != 0)
		return 1;
	paren += 2;
	vlen -= (size_t)(paren - v);
	if ((end = oom_memmem_last(paren, vlen, ") total-vm:", 11)) == NULL)
		return 1;
	n = (size_t)(end - paren);
	if (n > OOM_NAME_MAX)
		n = OOM_NAME_MAX;
	memcpy(name, paren, n);
	name[n] = '\0';
	return 1;
}

static uint64_t
oom_now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void
oom_add(const char *rec, size_t len)
{
	struct oom_kill *k;
	int64_t seq;
	char name[OOM_NAME_MAX + 1];

	if (memmem(rec, len, "Killed process ", 15) == NULL ||
	    oom_parse_record(rec, len, &seq, name) != 1)
		return;
	if (oom_s.nkills == OOM_KILLS_MAX) {
		oom_s.head = (oom_s.head + 1) % OOM_KILLS_MAX;
		oom_s.nkills--;
	}
	k = &oom_s.kills[(oom_s.head + oom_s.nkills) % OOM_KILLS_MAX];
	k->seq = seq;
	memcpy(k->name, name, sizeof(name));
	oom_s.nkills++;
}

static void
oom_poll_closed(uv_handle_t *h)
{
	(void)h;
	oom_s.poll_open = 0;
}

/* Close the log and forget the list: a reopen reads it again. */
static void
oom_close(void)
{
	if (oom_s.poll_open && !uv_is_closing((uv_handle_t *)&oom_s.poll)) {
		uv_poll_stop(&oom_s.poll);
		uv_close((uv_handle_t *)&oom_s.poll, oom_poll_closed);
	}
	if (oom_s.fd >= 0)
		close(oom_s.fd);
	oom_s.fd = -1;
	oom_s.caught_up = 0;
	oom_s.head = oom_s.nkills = 0;
	oom_s.carry = 0;
}

static void
oom_later(uint64_t ms)
{
	if (oom_s.timer_open)
		uv_timer_start(&oom_s.timer, oom_open, ms, 0);
}

/* This round is over: wait OOM_RECOVERY_MS, then start again quietly. */
static void
oom_give_up(const char *what, int err)
{
	if (!oom_s.recovering)
		log_error("%s (%s: %s); retrying in 30 min", what, oom_s.path,
		    errtext(-err));
	oom_s.recovering = 1;
	oom_s.open_tries = 0;
	oom_s.failures = 0;
	oom_later(OOM_RECOVERY_MS);
}

/* A read failed (err < 0): reopen after a second, or give up. */
static void
oom_fail(int err)
{
	if (oom_now_ms() - oom_s.opened_ms >= OOM_HEALTHY_MS) {
		oom_s.failures = 0;
		oom_s.recovering = 0;
	}
	oom_close();
	if (++oom_s.failures >= OOM_MAX_FAILURES) {
		oom_give_up("stopped reading the kernel log, out-of-memory "
			    "kills will not be reported",
		    err);
		return;
	}
	if (!oom_s.recovering)
		log_warn("cannot read the kernel log (%s: %s), reopening it",
		    oom_s.path, errtext(-err));
	oom_later(OOM_RETRY_MS);
}

static void
oom_open(uv_timer_t *t)
{
	int fd, r;

	(void)t;
	if (oom_s.poll_open) {
		/* The last poll handle is still closing. */
		oom_later(10);
		return;
	}
	fd = open(oom_s.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	r = fd < 0 ? -errno : uv_poll_init(oom_s.loop, &oom_s.poll, fd);
	if (r == 0) {
		oom_s.poll_open = 1;
		uv_unref((uv_handle_t *)&oom_s.poll);
		r = uv_poll_start(&oom_s.poll, UV_READABLE, oom_read_cb);
	}
	if (r != 0) {
		if (fd >= 0) {
			oom_s.fd = fd;
			oom_close();
		}
		if (++oom_s.open_tries >= OOM_OPEN_TRIES)
			oom_give_up("cannot open the kernel log, out-of-memory "
				    "kills will not be reported",
			    r);
		else
			oom_later(OOM_RETRY_MS);
		return;
	}
	oom_s.fd = fd;
	oom_s.open_tries = 0;
	oom_s.opened_ms = oom_now_ms();
}

/* Hand every complete line of in[] to oom_add; keep the rest. */
static void
oom_lines(size_t len)
{
	char *p = oom_s.in, *end = oom_s.in + len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (*p != ' ')
			oom_add(p, (size_t)(nl - p));
		p = nl + 1;
	}
	oom_s.carry = (size_t)(end - p);
	if (oom_s.carry == sizeof(oom_s.in))
		oom_s.carry = 0; /* a line longer than any record */
	else if (oom_s.carry > 0)
		memmove(oom_s.in, p, oom_s.carry);
}

static void
oom_read_cb(uv_poll_t *h, int status, int events)
{
	ssize_t n;
	int i;

	(void)h;
	(void)events;
	if (status < 0) {
		oom_fail(status);
		return;
	}
	for (i = 0; i < OOM_READS_PER_TURN; i++) {
		n = read(oom_s.fd, oom_s.in + oom_s.carry,
		    sizeof(oom_s.in) - oom_s.carry);
		if (n > 0) {
			oom_lines(oom_s.carry + (size_t)n);
			continue;
		}
		if (n == 0) {
			oom_fail(-EPIPE);
			return;
		}
		if (errno == EAGAIN) {
			if (!oom_s.caught_up && oom_s.recovering)
				log_info("reading the kernel log again, "
					 "out-of-memory kills are reported");
			oom_s.caught_up = 1;
			oom_s.recovering = 0;
			return;
		}
		/* EPIPE: records were overwritten before we read them. */
		if (errno == EPIPE || errno == EINTR)
			continue;
		oom_fail(-errno);
		return;
	}
}

void
oom_start(uv_loop_t *loop, int isnotfc)
{
	const char *p = getenv("ENVD_KMSG_PATH");

	if (isnotfc || oom_s.on)
		return;
	oom_s.loop = loop;
	oom_s.path = p != NULL && p[0] == '/' ? p : OOM_KMSG;
	oom_s.on = 1;
	uv_timer_init(loop, &oom_s.timer);
	uv_unref((uv_handle_t *)&oom_s.timer);
	oom_s.timer_open = 1;
	oom_open(NULL);
}

void
oom_stop(void)
{
	if (!oom_s.on)
		return;
	oom_close();
	if (oom_s.timer_open)
		uv_close((uv_handle_t *)&oom_s.timer, NULL);
	oom_s.timer_open = 0;
	oom_s.on = 0;
}

int
oom_append_json(struct buf *b)
{
	const struct oom_kill *k;
	char num[32];
	size_t i;
	int r;

	if (!oom_s.on || !oom_s.caught_up)
		return 0;
	r = buf_puts(b, ",\"oom_kills\":[");
	for (i = 0; r == 0 && i < oom_s.nkills; i++) {
		k = &oom_s.kills[(oom_s.head + i) % OOM_KILLS_MAX];
		snprintf(num, sizeof(num), "%s{\"seq\":%" PRId64 ",",
		    i > 0 ? "," : "", k->seq);
		if ((r = buf_puts(b, num)) == 0 &&
		    (r = buf_puts(b, "\"process\":")) == 0 &&
		    (r = gojson_quote(b, k->name, strlen(k->name))) == 0)
			r = buf_puts(b, "}");
	}
	if (r == 0)
		r = buf_puts(b, "]");
	return r == 0 ? 1 : -ENOBUFS;
}
