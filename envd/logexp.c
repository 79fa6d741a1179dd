/*
 * logexp.c - the log exporter (see logexp.h).
 *
 * Lifetime: the queue and the target belong to this module; at most one
 * send (struct logexp_send) is in flight and owns its TCP handle, timer and
 * request text until both handles are closed.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <json-c/json.h>

#include "log.h"
#include "logexp.h"
#include "xalloc.h"

#define LOGEXP_QUEUE_MAX (8 * 1024 * 1024)
#define LOGEXP_LINE_MAX (192 * 1024)
#define LOGEXP_TIMEOUT_MS 10000
#define LOGEXP_ANSWER_MAX 4096

struct logexp_line {
	struct logexp_line *next;
	size_t len;
	char text[];		/* len bytes, NUL-terminated */
};

struct logexp_send {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	char *request;		/* owned */
	char answer[LOGEXP_ANSWER_MAX];
	size_t answer_len;
	int done;		/* outcome decided */
	int closing;		/* handles left to close */
};

static uv_loop_t *logexp_loop;
static uv_thread_t logexp_thread;
static struct logexp_line *logexp_head, *logexp_tail;
static size_t logexp_bytes;
static uint64_t logexp_drops, logexp_oks;
static struct sockaddr_in logexp_addr;
static char *logexp_host;	/* Host header value, NULL = no target */
static char *logexp_path;
static char *logexp_instance, *logexp_env;
static struct logexp_send *logexp_cur;
static uv_idle_t logexp_kick;	/* starts a send from the loop */
static int logexp_kick_on;
static int logexp_stopping;	/* logexp_stop() was called */

/* A flush-and-purge waiting for the queue to empty or its deadline. */
struct logexp_flush {
	struct logexp_flush *next;
	uv_timer_t timer;	/* the deadline; closed before free */
	void (*cb)(void *);	/* NULL once run or cancelled */
	void *arg;
};

static struct logexp_flush *logexp_flushes;

static void logexp_next(void);
static void logexp_flush_check(void);

static void
logexp_kicked(uv_idle_t *h)
{
	(void)h;
	logexp_next();
}

static void
logexp_drop_head(void)
{
	struct logexp_line *l = logexp_head;

	logexp_head = l->next;
	if (logexp_head == NULL)
		logexp_tail = NULL;
	logexp_bytes -= l->len;
	free(l);
}

static void
logexp_sink(const char *line, size_t len)
{
	struct logexp_line *l;
	uv_thread_t self = uv_thread_self();

	if (logexp_loop == NULL || logexp_stopping)
		return;
	if (!uv_thread_equal(&self, &logexp_thread) ||
	    len > LOGEXP_LINE_MAX) {
		logexp_drops++;
		return;
	}
	while (logexp_head != NULL && logexp_bytes + len > LOGEXP_QUEUE_MAX) {
		logexp_drop_head();
		logexp_drops++;
	}
	l = xmalloc(sizeof(*l) + len + 1);
	l->next = NULL;
	l->len = len;
	memcpy(l->text, line, len);
	l->text[len] = '\0';
	if (logexp_tail != NULL)
		logexp_tail->next = l;
	else
		logexp_head = l;
	logexp_tail = l;
	logexp_bytes += len;
	if (logexp_host != NULL && logexp_cur == NULL && !logexp_kick_on) {
		/* Not from inside log_msg(): start from the loop. */
		logexp_kick_on = 1;
		uv_idle_start(&logexp_kick, logexp_kicked);
	}
}

static int
logexp_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The line with instanceID and envID set and its keys sorted, or NULL. */
static char *
logexp_encode(const char *text)
{
	json_object *in, *out;
	const char **keys;
	size_t n = 0, i;
	char *s = NULL;

	if ((in = json_tokener_parse(text)) == NULL ||
	    !json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return NULL;
	}
	json_object_object_add(in, "instanceID",
	    json_object_new_string(logexp_instance));
	json_object_object_add(in, "envID", json_object_new_string(logexp_env));
	keys = xcalloc((size_t)json_object_object_length(in), sizeof(*keys));
	json_object_object_foreach(in, k, v) {
		(void)v;
		keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), logexp_key_cmp);
	out = json_object_new_object();
	for (i = 0; i < n; i++)
		json_object_object_add(out, keys[i],
		    json_object_get(json_object_object_get(in, keys[i])));
	s = xstrdup(json_object_to_json_string_ext(out,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	free(keys);
	json_object_put(out);
	json_object_put(in);
	return s;
}

static void
logexp_closed(uv_handle_t *h)
{
	struct logexp_send *s = h->data;

	if (--s->closing > 0)
		return;
	free(s->request);
	free(s);
	logexp_cur = NULL;
	logexp_next();
	logexp_flush_check();
}

/* End the send: ok says a 2xx answer came. */
static void
logexp_end(struct logexp_send *s, int ok)
{
	if (s->done)
		return;
	s->done = 1;
	if (ok)
		logexp_oks++;
	else
		logexp_drops++;
	uv_timer_stop(&s->timer);
	s->closing = 2;
	uv_close((uv_handle_t *)&s->tcp, logexp_closed);
	uv_close((uv_handle_t *)&s->timer, logexp_closed);
}

static int
logexp_answer_ok(const struct logexp_send *s)
{
	int st;

	return sscanf(s->answer, "HTTP/1.%*1[01] %3d", &st) == 1 &&
	    st >= 200 && st < 300;
}

static void
logexp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct logexp_send *s = h->data;

	(void)hint;
	b->base = s->answer + s->answer_len;
	b->len = sizeof(s->answer) - 1 - s->answer_len;
}

static void
logexp_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct logexp_send *s = st->data;

	(void)b;
	if (n > 0) {
		s->answer_len += (size_t)n;
		s->answer[s->answer_len] = '\0';
		if (strchr(s->answer, '\n') != NULL ||
		    s->answer_len == sizeof(s->answer) - 1)
			logexp_end(s, logexp_answer_ok(s));
	} else if (n < 0) {
		logexp_end(s, logexp_answer_ok(s));
	}
}

static void
logexp_written(uv_write_t *w, int status)
{
	struct logexp_send *s = w->data;

	if (status != 0)
		logexp_end(s, 0);
	else if (!s->done &&
	    uv_read_start((uv_stream_t *)&s->tcp, logexp_alloc,
	    logexp_read) != 0)
		logexp_end(s, 0);
}

static void
logexp_connected(uv_connect_t *c, int status)
{
	struct logexp_send *s = c->data;
	uv_buf_t b;

	if (s->done)
		return;
	if (status != 0) {
		logexp_end(s, 0);
		return;
	}
	b = uv_buf_init(s->request, (unsigned int)strlen(s->request));
	s->write.data = s;
	if (uv_write(&s->write, (uv_stream_t *)&s->tcp, &b, 1,
	    logexp_written) != 0)
		logexp_end(s, 0);
}

static void
logexp_timeout(uv_timer_t *t)
{
	logexp_end(t->data, 0);
}

/* Send the oldest queued line if nothing is in flight. */
static void
logexp_next(void)
{
	struct logexp_send *s;
	char *body;

	if (logexp_kick_on) {
		logexp_kick_on = 0;
		uv_idle_stop(&logexp_kick);
	}
	while (!logexp_stopping && logexp_cur == NULL && logexp_host != NULL &&
	    logexp_head != NULL) {
		body = logexp_encode(logexp_head->text);
		logexp_drop_head();
		if (body == NULL) {
			logexp_drops++;
			continue;
		}
		s = xcalloc(1, sizeof(*s));
		s->request = xasprintf("POST %s HTTP/1.1\r\nHost: %s\r\n"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		    logexp_path, logexp_host, strlen(body), body);
		free(body);
		uv_tcp_init(logexp_loop, &s->tcp);
		uv_timer_init(logexp_loop, &s->timer);
		s->tcp.data = s->timer.data = s->connect.data = s;
		logexp_cur = s;
		uv_timer_start(&s->timer, logexp_timeout, LOGEXP_TIMEOUT_MS,
		    0);
		if (uv_tcp_connect(&s->connect, &s->tcp,
		    (const struct sockaddr *)&logexp_addr,
		    logexp_connected) != 0)
			logexp_end(s, 0);
	}
}

static void
logexp_flush_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Drop every queued line and end the send in flight. */
static void
logexp_purge(void)
{
	while (logexp_head != NULL) {
		logexp_drop_head();
		logexp_drops++;
	}
	if (logexp_cur != NULL && !logexp_cur->done)
		logexp_end(logexp_cur, 0);
}

/* Unlink f, close its timer (f is freed then) and run its callback
 * unless it was cancelled. */
static void
logexp_flush_finish(struct logexp_flush *f)
{
	struct logexp_flush **pp;
	void (*cb)(void *) = f->cb;

	for (pp = &logexp_flushes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	uv_timer_stop(&f->timer);
	uv_close((uv_handle_t *)&f->timer, logexp_flush_closed);
	if (cb != NULL)
		cb(f->arg);
}

/* Nothing queued and nothing in flight: every flush is done. */
static void
logexp_flush_check(void)
{
	while (logexp_flushes != NULL && logexp_head == NULL &&
	    logexp_cur == NULL)
		logexp_flush_finish(logexp_flushes);
}

static void
logexp_flush_deadline(uv_timer_t *t)
{
	struct logexp_flush *f = t->data;

	logexp_purge();
	logexp_flush_finish(f);
}

struct logexp_flush *
logexp_flush(uint64_t budget_ms, void (*cb)(void *), void *arg)
{
	struct logexp_flush *f;

	if (logexp_loop == NULL || logexp_stopping) {
		cb(arg);
		return NULL;
	}
	if (budget_ms == 0 || logexp_host == NULL)
		logexp_purge();
	if (logexp_head == NULL && (logexp_cur == NULL || logexp_cur->done)) {
		/* Sent already, or purged: a send being closed is over. */
		cb(arg);
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->cb = cb;
	f->arg = arg;
	uv_timer_init(logexp_loop, &f->timer);
	f->timer.data = f;
	uv_timer_start(&f->timer, logexp_flush_deadline, budget_ms, 0);
	f->next = logexp_flushes;
	logexp_flushes = f;
	logexp_next();
	return f;
}

void
logexp_flush_cancel(struct logexp_flush *f)
{
	if (f != NULL)
		f->cb = NULL;
}

void
logexp_set_target(const char *address, const char *instance_id,
    const char *env_id)
{
	const char *p, *slash, *colon;
	char ip[INET_ADDRSTRLEN];
	unsigned long port = 80;
	struct sockaddr_in a;

	if (logexp_loop == NULL || address == NULL || address[0] == '\0')
		return;
	if (strncmp(address, "http://", 7) != 0)
		return;
	p = address + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	if ((size_t)((colon != NULL ? colon : slash) - p) >= sizeof(ip))
		return;
	memcpy(ip, p, (size_t)((colon != NULL ? colon : slash) - p));
	ip[(colon != NULL ? colon : slash) - p] = '\0';
	if (colon != NULL) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (end != slash || port == 0 || port > 65535)
			return;
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return;	/* only IPv4 literals, as the orchestrator writes */
	logexp_addr = a;
	free(logexp_host);
	free(logexp_path);
	free(logexp_instance);
	free(logexp_env);
	logexp_host = xmemdup0(p, (size_t)(slash - p));
	logexp_path = xstrdup(*slash != '\0' ? slash : "/");
	logexp_instance = xstrdup(instance_id != NULL ? instance_id : "");
	logexp_env = xstrdup(env_id != NULL ? env_id : "");
	logexp_next();
}

void
logexp_setup(uv_loop_t *loop, int isnotfc)
{
	if (isnotfc)
		return;
	logexp_loop = loop;
	logexp_thread = uv_thread_self();
	uv_idle_init(loop, &logexp_kick);
	uv_unref((uv_handle_t *)&logexp_kick);
	log_set_sink(logexp_sink);
}

void
logexp_stop(void)
{
	if (logexp_loop == NULL || logexp_stopping)
		return;
	logexp_stopping = 1;
	while (logexp_head != NULL) {
		logexp_drop_head();
		logexp_drops++;
	}
	uv_close((uv_handle_t *)&logexp_kick, NULL);
	if (logexp_cur != NULL)
		logexp_end(logexp_cur, 0);
	while (logexp_flushes != NULL)
		logexp_flush_finish(logexp_flushes);
}

uint64_t
logexp_dropped(void)
{
	return logexp_drops;
}

uint64_t
logexp_sent(void)
{
	return logexp_oks;
}

void
logexp_free(void)
{
	log_set_sink(NULL);
	while (logexp_head != NULL)
		logexp_drop_head();
	free(logexp_host);
	free(logexp_path);
	free(logexp_instance);
	free(logexp_env);
	logexp_host = logexp_path = logexp_instance = logexp_env = NULL;
	logexp_loop = NULL;
	logexp_cur = NULL;
	logexp_stopping = 0;
}
