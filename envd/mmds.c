/*
 * mmds.c - MMDS V2 client on the libuv loop.
 *
 * One struct mmds_read owns a TCP handle and a timer for the whole read;
 * both phases (token PUT, then GET) reuse them after the handle is closed
 * and initialised again, so there is never more than one connection per
 * read. The struct is freed once both handles have closed. A cancelled
 * read only forgets its callback: the handles close as usual.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "envs.h"
#include "errtext.h"
#include "helper.h"
#include "log.h"
#include "logexp.h"
#include "mmds.h"
#include "xalloc.h"

#define MMDS_ADDRESS "169.254.169.254"
#define MMDS_TIMEOUT_MS 10000
#define MMDS_POLL_MS 50
#define MMDS_RUN_DIR "/run/e2b"
#define MMDS_ID_MAX 4096

enum mmds_phase { MMDS_TOKEN, MMDS_GET, MMDS_END };

struct mmds_read {
	uv_loop_t *loop;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	struct buf answer;	/* bytes received in this phase */
	char *request;		/* the request text of this phase, owned */
	char *token;		/* session token from the PUT, owned */
	enum mmds_phase phase;
	int tcp_open;		/* tcp is initialised and not yet closed */
	int closing;		/* handles still to close before free */
	int err;		/* outcome once phase is MMDS_END */
	struct mmds_opts opts;
	mmds_read_cb cb;	/* NULL once called or cancelled */
	void *arg;
	struct mmds_read *next;	/* mmds_reads list */
};

static uv_loop_t *mmds_loop;
static int mmds_fc;			/* Firecracker mode */
static struct mmds_read *mmds_reads;	/* every live read */

/* The single poll. */
static struct {
	int active;
	int timer_init;
	uint64_t deadline;	/* uv_now() limit, 0: none */
	uv_timer_t timer;
	struct mmds_read *rd;	/* read in flight, or NULL */
	int last_err;
} mmds_p;

static void mmds_phase_start(struct mmds_read *);
static void mmds_finish(struct mmds_read *, int);

int
mmds_http_parse(const uint8_t *data, size_t len, int eof,
    unsigned int *status, size_t *body_off, size_t *body_len)
{
	const char *p = (const char *)data, *end, *line, *eol, *v;
	unsigned long long clen = 0;
	int have_clen = 0;
	size_t hdr;
	char *e;

	*status = 0;
	*body_off = *body_len = 0;
	end = memmem(p, len, "\r\n\r\n", 4);
	if (end == NULL)
		return eof || len >= MMDS_ANSWER_MAX ? -EINVAL : -EAGAIN;
	hdr = (size_t)(end - p) + 4;
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' &&
	    p[7] != '1') || p[8] != ' ' || p[9] < '1' || p[9] > '5' ||
	    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
	    (p[12] != ' ' && p[12] != '\r'))
		return -EINVAL;
	*status = (unsigned int)((p[9] - '0') * 100 + (p[10] - '0') * 10 +
	    (p[11] - '0'));
	line = (const char *)memchr(p, '\n', hdr) + 1;
	if (line[-2] != '\r')
		return -EINVAL;
	while (line < end + 2) {
		eol = memchr(line, '\r', (size_t)(end + 2 - line));
		if (eol == NULL || eol[1] != '\n')
			return -EINVAL;
		v = memchr(line, ':', (size_t)(eol - line));
		if (v == NULL)
			return -EINVAL;
		if ((size_t)(v - line) == 14 &&
		    strncasecmp(line, "Content-Length", 14) == 0) {
			for (v++; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			if (v == eol || *v < '0' || *v > '9')
				return -EINVAL;
			errno = 0;
			clen = strtoull(v, &e, 10);
			while (e < eol && (*e == ' ' || *e == '\t'))
				e++;
			if (errno != 0 || e != eol || (have_clen &&
			    clen != *body_len))
				return -EINVAL;
			have_clen = 1;
			if (clen > MMDS_ANSWER_MAX)
				return -EINVAL;
			*body_len = (size_t)clen;
		} else if ((size_t)(v - line) == 17 &&
		    strncasecmp(line, "Transfer-Encoding", 17) == 0) {
			return -EINVAL;
		}
		line = eol + 2;
	}
	*body_off = hdr;
	if (have_clen) {
		if (len - hdr < clen)
			return eof ? -EINVAL : -EAGAIN;
		return 0;
	}
	if (!eof)
		return -EAGAIN;
	*body_len = len - hdr;
	return 0;
}

void
mmds_opts_clear(struct mmds_opts *o)
{
	free(o->instance_id);
	free(o->env_id);
	free(o->address);
	free(o->token_hash);
	memset(o, 0, sizeof(*o));
}

/* Member key of root as a copied string; absent or null leaves *out NULL. */
static int
mmds_opts_field(json_object *root, const char *key, char **out)
{
	json_object *v = NULL;
	const char *s;
	size_t n;

	if (!json_object_object_get_ex(root, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n > MMDS_ID_MAX || memchr(s, '\0', n) != NULL)
		return -EINVAL;
	*out = xmemdup0(s, n);
	return 0;
}

int
mmds_opts_parse(const uint8_t *body, size_t len, struct mmds_opts *out)
{
	struct json_tokener *tok;
	json_object *root = NULL;
	int r = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > MMDS_ANSWER_MAX || (tok = json_tokener_new()) ==
	    NULL)
		return -EINVAL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, (const char *)body, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	/* Only whitespace may follow the value. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (strchr(" \t\r\n", body[i]) == NULL)
			goto out;
	if (!json_object_is_type(root, json_type_object))
		goto out;
	if (mmds_opts_field(root, "instanceID", &out->instance_id) != 0 ||
	    mmds_opts_field(root, "envID", &out->env_id) != 0 ||
	    mmds_opts_field(root, "address", &out->address) != 0 ||
	    mmds_opts_field(root, "accessTokenHash", &out->token_hash) != 0)
		goto out;
	r = 0;
out:
	if (r != 0)
		mmds_opts_clear(out);
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

static const char *
mmds_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

static void
mmds_free_read(struct mmds_read *rd)
{
	struct mmds_read **pp;

	for (pp = &mmds_reads; *pp != NULL; pp = &(*pp)->next)
		if (*pp == rd) {
			*pp = rd->next;
			break;
		}
	buf_reset(&rd->answer);
	free(rd->request);
	free(rd->token);
	mmds_opts_clear(&rd->opts);
	free(rd);
}

static void
mmds_closed(uv_handle_t *h)
{
	struct mmds_read *rd = h->data;

	if (--rd->closing > 0)
		return;
	if (rd->phase != MMDS_END) {
		/* The TCP handle of the previous phase is gone: go on, unless
		 * the daemon is shutting down (the timer was closed for us). */
		if (uv_is_closing((uv_handle_t *)&rd->timer))
			return;
		mmds_phase_start(rd);
		return;
	}
	if (rd->cb != NULL) {
		mmds_read_cb cb = rd->cb;

		rd->cb = NULL;
		cb(rd->err, rd->err == 0 ? &rd->opts : NULL, rd->arg);
	}
	mmds_free_read(rd);
}

/* End the read with err (0: rd->opts is set); callback after the close. */
static void
mmds_finish(struct mmds_read *rd, int err)
{
	rd->phase = MMDS_END;
	rd->err = err;
	/* At shutdown the loop's walk may have closed the handles already;
	 * mmds_free() then releases the struct. */
	if (!uv_is_closing((uv_handle_t *)&rd->timer)) {
		uv_timer_stop(&rd->timer);
		rd->closing++;
		uv_close((uv_handle_t *)&rd->timer, mmds_closed);
	}
	if (rd->tcp_open) {
		rd->tcp_open = 0;
		if (!uv_is_closing((uv_handle_t *)&rd->tcp)) {
			rd->closing++;
			uv_close((uv_handle_t *)&rd->tcp, mmds_closed);
		}
	}
}

/* The answer of the current phase is complete. */
static void
mmds_answer(struct mmds_read *rd)
{
	const uint8_t *a = buf_ptr(&rd->answer);
	unsigned int status;
	size_t off, n;
	int r;

	r = mmds_http_parse(a, buf_len(&rd->answer), 1, &status, &off, &n);
	if (r != 0) {
		mmds_finish(rd, r);
		return;
	}
	if (rd->phase == MMDS_TOKEN) {
		if (n == 0 || memchr(a + off, '\0', n) != NULL ||
		    memchr(a + off, '\r', n) != NULL ||
		    memchr(a + off, '\n', n) != NULL) {
			mmds_finish(rd, -EPROTO);
			return;
		}
		rd->token = xmemdup0(a + off, n);
		rd->phase = MMDS_GET;
		uv_timer_stop(&rd->timer);
		rd->tcp_open = 0;
		rd->closing++;
		uv_close((uv_handle_t *)&rd->tcp, mmds_closed);
		return;
	}
	r = mmds_opts_parse(a + off, n, &rd->opts);
	mmds_finish(rd, r);
}

static void
mmds_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct mmds_read *rd = h->data;
	uint8_t *p;

	(void)hint;
	if ((p = buf_reserve(&rd->answer, 4096)) == NULL &&
	    (p = buf_reserve(&rd->answer, 1)) == NULL) {
		b->base = NULL;
		b->len = 0;
		return;
	}
	b->base = (char *)p;
	b->len = rd->answer.max - rd->answer.len < 4096 ?
	    rd->answer.max - rd->answer.len : 4096;
}

static void
mmds_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct mmds_read *rd = s->data;

	(void)b;
	if (rd->phase == MMDS_END)
		return;
	if (n == UV_ENOBUFS) {
		mmds_finish(rd, -EMSGSIZE);
		return;
	}
	if (n == UV_EOF) {
		uv_read_stop(s);
		mmds_answer(rd);
		return;
	}
	if (n < 0) {
		mmds_finish(rd, (int)n);
		return;
	}
	buf_commit(&rd->answer, (size_t)n);
}

static void
mmds_on_write(uv_write_t *w, int status)
{
	struct mmds_read *rd = w->data;

	if (rd->phase == MMDS_END || status == 0)
		return;
	mmds_finish(rd, status);
}

static void
mmds_on_connect(uv_connect_t *c, int status)
{
	struct mmds_read *rd = c->data;
	uv_buf_t b;
	int r;

	if (rd->phase == MMDS_END || status == UV_ECANCELED)
		return;
	if (status != 0) {
		mmds_finish(rd, status);
		return;
	}
	b = uv_buf_init(rd->request, (unsigned int)strlen(rd->request));
	rd->write.data = rd;
	if ((r = uv_write(&rd->write, (uv_stream_t *)&rd->tcp, &b, 1,
	    mmds_on_write)) != 0 || (r = uv_read_start(
	    (uv_stream_t *)&rd->tcp, mmds_alloc, mmds_on_read)) != 0)
		mmds_finish(rd, r);
}

static void
mmds_on_timeout(uv_timer_t *t)
{
	struct mmds_read *rd = t->data;

	if (rd->phase != MMDS_END)
		mmds_finish(rd, -ETIMEDOUT);
}

/* Connect and send the request of rd->phase. */
static void
mmds_phase_start(struct mmds_read *rd)
{
	struct sockaddr_in sa;
	const char *addr = mmds_env("ENVD_MMDS_ADDRESS", MMDS_ADDRESS);
	int r;

	free(rd->request);
	if (rd->phase == MMDS_TOKEN)
		rd->request = xasprintf("PUT /latest/api/token HTTP/1.1\r\n"
		    "Host: %s\r\nX-metadata-token-ttl-seconds: 60\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n", addr);
	else
		rd->request = xasprintf("GET / HTTP/1.1\r\nHost: %s\r\n"
		    "X-metadata-token: %s\r\nAccept: application/json\r\n"
		    "Connection: close\r\n\r\n", addr, rd->token);
	buf_reset(&rd->answer);
	if ((r = uv_ip4_addr(addr, atoi(mmds_env("ENVD_MMDS_PORT", "80")),
	    &sa)) != 0) {
		mmds_finish(rd, r);
		return;
	}
	uv_tcp_init(rd->loop, &rd->tcp);
	rd->tcp.data = rd;
	rd->tcp_open = 1;
	rd->connect.data = rd;
	uv_timer_start(&rd->timer, mmds_on_timeout, MMDS_TIMEOUT_MS, 0);
	if ((r = uv_tcp_connect(&rd->connect, &rd->tcp,
	    (const struct sockaddr *)&sa, mmds_on_connect)) != 0)
		mmds_finish(rd, r);
}

struct mmds_read *
mmds_read_start(uv_loop_t *loop, mmds_read_cb cb, void *arg)
{
	struct mmds_read *rd = xcalloc(1, sizeof(*rd));

	rd->loop = loop;
	rd->cb = cb;
	rd->arg = arg;
	buf_init(&rd->answer, MMDS_ANSWER_MAX);
	uv_timer_init(loop, &rd->timer);
	rd->timer.data = rd;
	rd->next = mmds_reads;
	mmds_reads = rd;
	rd->phase = MMDS_TOKEN;
	mmds_phase_start(rd);
	return rd;
}

void
mmds_read_cancel(struct mmds_read *rd)
{
	rd->cb = NULL;
	if (rd->phase != MMDS_END)
		mmds_finish(rd, -ECANCELED);
}

/* Write value to <run dir>/name, mode 0666, no newline. */
static void
mmds_write_id(const char *name, const char *value)
{
	const char *dir = mmds_env("ENVD_RUN_DIR", MMDS_RUN_DIR);
	char *path = xasprintf("%s/%s", dir, name);
	size_t len = strlen(value), off = 0;
	ssize_t n;
	int fd, r = 0;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* The umask must not narrow the mode upstream documents. */
	if (fchmod(fd, 0666) != 0)
		r = -errno;
	while (r == 0 && off < len) {
		if ((n = write(fd, value + off, len - off)) < 0) {
			if (errno != EINTR)
				r = -errno;
			continue;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0 && r == 0)
		r = -errno;
out:
	if (r != 0)
		log_error_r(r, "mmds: cannot write %s", path);
	free(path);
}

/* A successful poll read: publish the IDs. */
static void
mmds_apply(const struct mmds_opts *o)
{
	if (o->instance_id != NULL) {
		envs_set_internal("E2B_SANDBOX_ID", o->instance_id);
		mmds_write_id(".E2B_SANDBOX_ID", o->instance_id);
	}
	if (o->env_id != NULL) {
		envs_set_internal("E2B_TEMPLATE_ID", o->env_id);
		mmds_write_id(".E2B_TEMPLATE_ID", o->env_id);
	}
	logexp_set_target(o->address, o->instance_id, o->env_id);
	log_debug("mmds: sandbox and template IDs updated");
}

static void mmds_poll_tick(uv_timer_t *);

static void
mmds_poll_done(int err, const struct mmds_opts *o, void *arg)
{
	(void)arg;
	mmds_p.rd = NULL;
	if (err == 0) {
		mmds_apply(o);
		mmds_p.active = 0;
		uv_timer_stop(&mmds_p.timer);
		return;
	}
	mmds_p.last_err = err;
}

static void
mmds_poll_tick(uv_timer_t *t)
{
	(void)t;
	if (!mmds_p.active || mmds_p.rd != NULL)
		return;		/* a slow read delays the next one */
	if (mmds_p.deadline != 0 && uv_now(mmds_loop) >= mmds_p.deadline) {
		log_warn("mmds: gave up polling for mmds opts: context "
		    "deadline exceeded (last error: %s)",
		    errtext(mmds_p.last_err));
		mmds_p.active = 0;
		uv_timer_stop(&mmds_p.timer);
		return;
	}
	mmds_p.rd = mmds_read_start(mmds_loop, mmds_poll_done, NULL);
}

static void
mmds_poll_begin(uint64_t timeout_ms)
{
	if (mmds_p.active)
		return;
	if (!mmds_p.timer_init) {
		uv_timer_init(mmds_loop, &mmds_p.timer);
		uv_unref((uv_handle_t *)&mmds_p.timer);
		mmds_p.timer_init = 1;
	}
	mmds_p.active = 1;
	mmds_p.last_err = -ETIMEDOUT;
	mmds_p.deadline = timeout_ms != 0 ? uv_now(mmds_loop) + timeout_ms :
	    0;
	uv_timer_start(&mmds_p.timer, mmds_poll_tick, 0, MMDS_POLL_MS);
}

/* One route self-heal; owned by this module until its after-work. */
struct mmds_heal {
	uv_work_t work;
	char *failed;		/* text of an insert failure, or NULL */
	mmds_heal_cb cb;	/* NULL once detached */
	void *arg;
};

static struct mmds_heal *mmds_healing;	/* the heal running, or NULL */
static uint64_t mmds_heal_logged;	/* uv_now() of the last log, + 1 */

#define MMDS_HEAL_BUDGET_MS 10000
#define MMDS_HEAL_LOG_MS 10000

static void
mmds_heal_work(uv_work_t *w)
{
	static const char *const chains[] = { "PREROUTING", "OUTPUT" };
	struct mmds_heal *h = w->data;
	char *out;
	size_t i;
	int st;

	for (i = 0; i < 2; i++) {
		char *del[] = { "iptables", "-w", "5", "-t", "nat", "-D",
		    (char *)chains[i], "-d", MMDS_ADDRESS, "-p", "tcp",
		    "--dport", "80", "-j", "RETURN", NULL };
		char *ins[] = { "iptables", "-w", "5", "-t", "nat", "-I",
		    (char *)chains[i], "1", "-d", MMDS_ADDRESS, "-p", "tcp",
		    "--dport", "80", "-j", "RETURN", NULL };

		/* A missing rule is not an error. */
		(void)helper_run(del, helper_now_ms() + MMDS_HEAL_BUDGET_MS,
		    &out);
		free(out);
		st = helper_run(ins, helper_now_ms() + MMDS_HEAL_BUDGET_MS,
		    &out);
		if (h->failed == NULL && !(st >= 0 && WIFEXITED(st) &&
		    WEXITSTATUS(st) == 0))
			h->failed = st < 0 ?
			    xasprintf("iptables -I %s: %s", chains[i],
			    strerror(-st)) :
			    xasprintf("iptables -I %s: exit status %d: %s",
			    chains[i], WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			    out);
		free(out);
	}
}

static void
mmds_heal_after(uv_work_t *w, int status)
{
	struct mmds_heal *h = w->data;
	uint64_t now = uv_now(w->loop);

	(void)status;
	if (h->failed != NULL && (mmds_heal_logged == 0 ||
	    now - (mmds_heal_logged - 1) >= MMDS_HEAL_LOG_MS)) {
		mmds_heal_logged = now + 1;
		log_warn("mmds: route self-heal: %s", h->failed);
	}
	mmds_healing = NULL;
	if (h->cb != NULL)
		h->cb(h->arg);
	free(h->failed);
	free(h);
}

int
mmds_route_heal(uv_loop_t *loop, mmds_heal_cb cb, void *arg)
{
	struct mmds_heal *h;
	int r;

	if (mmds_healing != NULL)
		return -EBUSY;
	h = xcalloc(1, sizeof(*h));
	h->cb = cb;
	h->arg = arg;
	h->work.data = h;
	if ((r = uv_queue_work(loop, &h->work, mmds_heal_work,
	    mmds_heal_after)) != 0) {
		free(h);
		return r;
	}
	mmds_healing = h;
	return 0;
}

void
mmds_route_heal_detach(void *arg)
{
	if (mmds_healing != NULL && mmds_healing->arg == arg)
		mmds_healing->cb = NULL;
}

void
mmds_setup(uv_loop_t *loop, int isnotfc)
{
	mmds_loop = loop;
	mmds_fc = !isnotfc;
	if (mmds_fc)
		mmds_poll_begin(0);
}

void
mmds_poll(uint64_t timeout_ms)
{
	if (mmds_fc && mmds_loop != NULL)
		mmds_poll_begin(timeout_ms);
}

void
mmds_free(void)
{
	/* The loop has ended and closed every handle: only memory is left. */
	while (mmds_reads != NULL)
		mmds_free_read(mmds_reads);
	memset(&mmds_p, 0, sizeof(mmds_p));
	mmds_loop = NULL;
}
