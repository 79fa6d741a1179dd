/*
 * connect.c - the Connect protocol: content types, unary bodies, 5-byte
 * envelopes, end-of-stream messages, errors, timeouts and keepalives.
 *
 * One struct rpc per call, owned here and freed when the HTTP request is
 * over (connect_done). Timers are allocated only when a call needs them, so
 * a plain unary call costs no libuv handle at all.
 *
 * Request compression (gzip) is accepted and advertised; responses are never
 * compressed, which every client accepts (connect-rpc.md §8).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>
#include <zlib.h>

#include "auth.h"
#include "buf.h"
#include "connect.h"
#include "httpd.h"
#include "log.h"
#include "pbjson.h"
#include "query.h"
#include "xalloc.h"

#define CONNECT_MAX_METHODS 32
#define CONNECT_KEEPALIVE_DEFAULT_MS 90000
#define CONNECT_ENVELOPE_END 0x02
#define CONNECT_ENVELOPE_COMPRESSED 0x01

struct rpc_timer {
	uv_timer_t timer;
	struct rpc *rpc;	/* NULL once the rpc is gone */
};

struct rpc {
	struct req *req;
	const struct connect_method *m;
	enum pbjson_codec codec;
	char ctype[64];			/* canonical request content type */
	int gzip;			/* request messages are gzip'd */
	uint64_t timeout_ms;		/* Connect-Timeout-Ms, 0 if none */
	void *data;			/* the service's state */

	int finished;			/* answered or ended */
	int cancelled;			/* cancel callback ran */
	int streaming;			/* the response stream has begun */

	struct rpc_timer *deadline;
	struct rpc_timer *keepalive;
	uint64_t keepalive_ms;
	struct buf keepalive_env;	/* encoded keepalive envelope */

	struct buf in;			/* client stream: unparsed bytes */
	void (*drain_cb)(struct rpc *, void *);
	void *drain_arg;
};

static const struct connect_method *connect_methods[CONNECT_MAX_METHODS];
static size_t connect_nmethods;

static const char *const connect_code_names[] = {
	"ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded",
	"not_found", "already_exists", "permission_denied",
	"resource_exhausted", "failed_precondition", "aborted",
	"out_of_range", "unimplemented", "internal", "unavailable",
	"data_loss", "unauthenticated",
};

static const unsigned int connect_code_statuses[] = {
	200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500,
	503, 500, 401,
};

static void connect_begin(struct req *);
static int connect_body(struct req *, const uint8_t *, size_t);
static void connect_end(struct req *);
static void connect_done(struct req *, int);
static const struct connect_method *connect_find(const char *, int *);
static int connect_canonical_ctype(const char *, char *, size_t);
static int connect_parse_timeout(const char *, uint64_t *);
static int connect_gunzip(const uint8_t *, size_t, struct buf *, char **);
static void connect_dispatch(struct rpc *, const uint8_t *, size_t, int);
static int connect_next_envelope(struct rpc *, struct buf *, int);
static void connect_stream_start(struct rpc *);
static void connect_write_end(struct rpc *, enum connect_code, const char *);
static void connect_timer_start(struct rpc *, struct rpc_timer **,
    uint64_t, uint64_t, uv_timer_cb);
static void connect_timer_free(struct rpc_timer **);
static void connect_timer_closed(uv_handle_t *);
static void connect_deadline_cb(uv_timer_t *);
static void connect_keepalive_cb(uv_timer_t *);
static void connect_cancel(struct rpc *);
static void connect_error_json(struct buf *, enum connect_code, const char *);

const struct req_handler connect_handler = {
	.name = "connect",
	.begin = connect_begin,
	.body = connect_body,
	.end = connect_end,
	.done = connect_done,
};

void
connect_register(const struct connect_method *methods, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (connect_nmethods == CONNECT_MAX_METHODS)
			fatal("too many Connect methods");
		connect_methods[connect_nmethods++] = &methods[i];
	}
}

const char *
connect_code_name(enum connect_code code)
{
	if ((unsigned int)code > CONNECT_UNAUTHENTICATED)
		return "unknown";
	return connect_code_names[code];
}

unsigned int
connect_code_status(enum connect_code code)
{
	if ((unsigned int)code > CONNECT_UNAUTHENTICATED)
		return 500;
	return connect_code_statuses[code];
}

/* The method for path, or NULL. */
static const struct connect_method *
connect_find(const char *path, int *nmatch)
{
	size_t i;

	for (i = 0; i < connect_nmethods; i++)
		if (strcmp(connect_methods[i]->path, path) == 0)
			return connect_methods[i];
	return NULL;
}

/* Copy src into dst (size bytes, size > 0), cut short and NUL-terminated. */
static void
connect_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * Canonicalise a Content-Type the way connect-go compares it: lower-case
 * media type, optional charset parameter with a lower-cased value.
 * Returns 0, or -EINVAL for anything with other parameters or no type.
 */
static int
connect_canonical_ctype(const char *v, char *out, size_t outsz)
{
	char type[40], charset[16];
	const char *p = v, *e;
	size_t n = 0, m = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t') {
		if (n + 1 >= sizeof(type))
			return -EINVAL;
		type[n++] = (char)tolower((unsigned char)*p++);
	}
	type[n] = '\0';
	if (n == 0)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	charset[0] = '\0';
	if (*p == ';') {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "charset=", 8) != 0)
			return -EINVAL;
		p += 8;
		if (*p == '"')
			p++;
		for (e = p; *e != '\0' && *e != '"' && *e != ' ' &&
		    *e != ';'; e++) {
			if (m + 1 >= sizeof(charset))
				return -EINVAL;
			charset[m++] = (char)tolower((unsigned char)*e);
		}
		charset[m] = '\0';
		if (*e == '"')
			e++;
		while (*e == ' ' || *e == '\t')
			e++;
		if (*e != '\0' || m == 0)
			return -EINVAL;
	} else if (*p != '\0') {
		return -EINVAL;
	}
	if (charset[0] != '\0')
		snprintf(out, outsz, "%.37s; charset=%.15s", type, charset);
	else
		connect_strlcpy(out, type, outsz < 40 ? outsz : 40);
	return 0;
}

/* Connect-Timeout-Ms: 1 to 10 ASCII digits. */
static int
connect_parse_timeout(const char *v, uint64_t *ms)
{
	size_t n = strlen(v), i;
	uint64_t t = 0;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		t = t * 10 + (uint64_t)(v[i] - '0');
	}
	*ms = t;
	return 0;
}

/* The body of an error: {"code":"…","message":"…"}. */
static void
connect_error_json(struct buf *b, enum connect_code code, const char *msg)
{
	char esc[4096];

	buf_puts(b, "{\"code\":\"");
	buf_puts(b, connect_code_name(code));
	buf_puts(b, "\"");
	if (msg != NULL && msg[0] != '\0') {
		log_json_escape(esc, sizeof(esc), msg);
		buf_puts(b, ",\"message\":\"");
		buf_puts(b, esc);
		buf_puts(b, "\"");
	}
	buf_puts(b, "}");
}

static void
connect_begin(struct req *r)
{
	const struct connect_method *m;
	const char *ct, *v;
	struct rpc *rpc;
	char canon[64];
	int stream, json;

	if ((m = connect_find(req_path(r), NULL)) == NULL) {
		req_respond_text(r, 404, "404 page not found\n");
		return;
	}
	if (strcmp(req_method(r), "POST") != 0) {
		req_add_header(r, "Allow", "POST");
		req_respond(r, 405, NULL, NULL, 0);
		return;
	}
	stream = m->kind != CONNECT_UNARY;
	ct = req_header(r, "Content-Type");
	if (ct == NULL || connect_canonical_ctype(ct, canon,
	    sizeof(canon)) != 0)
		canon[0] = '\0';
	if (stream) {
		json = strcmp(canon, "application/connect+json") == 0 ||
		    strcmp(canon, "application/connect+json; charset=utf-8")
		    == 0;
		if (!json && strcmp(canon, "application/connect+proto") != 0) {
			req_add_header(r, "Accept-Post",
			    "application/connect+json, "
			    "application/connect+proto");
			req_respond(r, 415, NULL, NULL, 0);
			return;
		}
	} else {
		json = strcmp(canon, "application/json") == 0 ||
		    strcmp(canon, "application/json; charset=utf-8") == 0;
		if (!json && strcmp(canon, "application/proto") != 0) {
			req_add_header(r, "Accept-Post",
			    "application/json, application/proto");
			req_respond(r, 415, NULL, NULL, 0);
			return;
		}
	}

	rpc = xcalloc(1, sizeof(*rpc));
	rpc->req = r;
	rpc->m = m;
	rpc->codec = json ? PBJSON_JSON : PBJSON_PROTO;
	connect_strlcpy(rpc->ctype, canon, sizeof(rpc->ctype));
	buf_init(&rpc->keepalive_env, 4096);
	buf_init(&rpc->in, CONNECT_MAX_MESSAGE + 5);
	req_set_data(r, rpc);

	if ((v = req_header(r, "Connect-Protocol-Version")) != NULL &&
	    strcmp(v, "1") != 0) {
		rpc_error(rpc, CONNECT_INVALID_ARGUMENT,
		    "Connect-Protocol-Version must be \"1\": got \"%s\"", v);
		return;
	}
	if ((v = req_header(r, "Connect-Timeout-Ms")) != NULL &&
	    connect_parse_timeout(v, &rpc->timeout_ms) != 0) {
		rpc_error(rpc, CONNECT_INVALID_ARGUMENT,
		    "parse timeout: invalid timeout \"%.32s\"", v);
		return;
	}
	v = req_header(r, stream ? "Connect-Content-Encoding" :
	    "Content-Encoding");
	if (v != NULL && strcasecmp(v, "identity") != 0) {
		if (strcasecmp(v, "gzip") != 0) {
			rpc_error(rpc, CONNECT_UNIMPLEMENTED,
			    "unknown compression \"%.32s\": supported "
			    "encodings are gzip", v);
			return;
		}
		rpc->gzip = 1;
	}
	if (m->kind == CONNECT_CLIENT_STREAM)
		req_body_mode(r, REQ_BODY_STREAM, 0);
	else
		req_body_mode(r, REQ_BODY_BUFFER, CONNECT_MAX_MESSAGE +
		    (stream ? 5 : 0));
	if (rpc->timeout_ms > 0)
		connect_timer_start(rpc, &rpc->deadline, rpc->timeout_ms, 0,
		    connect_deadline_cb);
}

/* Inflate a gzip'd message into out (bounded by out's maximum). */
static int
connect_gunzip(const uint8_t *data, size_t len, struct buf *out,
    char **errmsg)
{
	z_stream z;
	uint8_t *dst;
	int zr;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		*errmsg = xstrdup("cannot initialise gzip");
		return -EINVAL;
	}
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	do {
		if ((dst = buf_reserve(out, 64 * 1024)) == NULL) {
			inflateEnd(&z);
			*errmsg = xasprintf("message is larger than %d bytes",
			    CONNECT_MAX_MESSAGE);
			return -ENOBUFS;
		}
		z.next_out = dst;
		z.avail_out = 64 * 1024;
		zr = inflate(&z, Z_NO_FLUSH);
		buf_commit(out, 64 * 1024 - z.avail_out);
	} while (zr == Z_OK);
	inflateEnd(&z);
	if (zr != Z_STREAM_END) {
		*errmsg = xstrdup("decompress: gzip: invalid data");
		return -EINVAL;
	}
	return 0;
}

int
connect_decode(const ProtobufCMessageDescriptor *desc, enum pbjson_codec codec,
    const uint8_t *data, size_t len, int compressed, ProtobufCMessage **msg,
    enum connect_code *code, char **err)
{
	struct buf plain;
	char *e = NULL;
	int r;

	*msg = NULL;
	*err = NULL;
	buf_init(&plain, CONNECT_MAX_MESSAGE);
	if (compressed) {
		if ((r = connect_gunzip(data, len, &plain, &e)) != 0) {
			*code = r == -ENOBUFS ? CONNECT_RESOURCE_EXHAUSTED :
			    CONNECT_INVALID_ARGUMENT;
			*err = e;
			buf_reset(&plain);
			return -1;
		}
		data = buf_ptr(&plain);
		len = buf_len(&plain);
	}
	r = pbjson_decode(desc, codec, data, len, msg, &e);
	buf_reset(&plain);
	if (r != 0) {
		pbjson_free(*msg);
		*msg = NULL;
		*code = CONNECT_INVALID_ARGUMENT;
		*err = xasprintf("unmarshal message: %s",
		    e != NULL ? e : "invalid message");
		free(e);
		return -1;
	}
	return 0;
}

ProtobufCMessage *
connect_message_copy(const ProtobufCMessage *m)
{
	ProtobufCMessage *copy;
	uint8_t *wire;
	size_t len;

	len = protobuf_c_message_get_packed_size(m);
	wire = xmalloc(len);
	protobuf_c_message_pack(m, wire);
	copy = protobuf_c_message_unpack(m->descriptor, NULL, len, wire);
	free(wire);
	if (copy == NULL)
		fatal("cannot copy a %s", m->descriptor->name);
	return copy;
}

/* Decode one message and hand it to the service. */
static void
connect_dispatch(struct rpc *rpc, const uint8_t *data, size_t len,
    int compressed)
{
	ProtobufCMessage *msg;
	enum connect_code code;
	char *err;

	if (connect_decode(rpc->m->input, rpc->codec, data, len, compressed,
	    &msg, &code, &err) != 0) {
		rpc_error(rpc, code, "%s", err);
		free(err);
		return;
	}
	rpc->m->call(rpc, msg);
	pbjson_free(msg);
}

int
connect_envelope_take(const uint8_t *p, size_t have, int at_eof, int gzip,
    uint8_t *flags, uint32_t *len, enum connect_code *code, char **err)
{
	if (have < 5) {
		if (at_eof && have > 0)
			goto eof;
		return 0;
	}
	*flags = p[0];
	*len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 8 | p[4];
	if (*len > CONNECT_MAX_MESSAGE) {
		*code = CONNECT_RESOURCE_EXHAUSTED;
		*err = xasprintf("message size %u is larger than configured "
		    "max %d", *len, CONNECT_MAX_MESSAGE);
		return -1;
	}
	if (*flags & ~CONNECT_ENVELOPE_COMPRESSED) {
		*code = CONNECT_INVALID_ARGUMENT;
		*err = xasprintf("protocol error: invalid envelope flags %d",
		    *flags);
		return -1;
	}
	if ((*flags & CONNECT_ENVELOPE_COMPRESSED) && !gzip) {
		*code = CONNECT_INVALID_ARGUMENT;
		*err = xstrdup("protocol error: received compressed message "
		    "without Connect-Content-Encoding");
		return -1;
	}
	if (have - 5 < *len) {
		if (at_eof)
			goto eof;
		return 0;
	}
	return 1;
eof:
	*code = CONNECT_INVALID_ARGUMENT;
	*err = xstrdup("protocol error: incomplete envelope: unexpected EOF");
	return -1;
}

/*
 * Take one whole envelope from the front of in and dispatch it. Returns 1
 * when one was dispatched, 0 when more bytes are needed, -1 after an error
 * answer.
 */
static int
connect_next_envelope(struct rpc *rpc, struct buf *in, int at_eof)
{
	enum connect_code code;
	char *err = NULL;
	uint32_t len;
	uint8_t flags;
	int n;

	n = connect_envelope_take(buf_ptr(in), buf_len(in), at_eof, rpc->gzip,
	    &flags, &len, &code, &err);
	if (n < 0) {
		rpc_error(rpc, code, "%s", err);
		free(err);
		return -1;
	}
	if (n == 0)
		return 0;
	connect_dispatch(rpc, buf_ptr(in) + 5, len,
	    flags & CONNECT_ENVELOPE_COMPRESSED);
	buf_consume(in, 5 + (size_t)len);
	return 1;
}

/* Client streaming: parse and dispatch envelopes as they arrive. */
static int
connect_body(struct req *r, const uint8_t *data, size_t len)
{
	struct rpc *rpc = req_data(r);
	int n;

	if (rpc == NULL || rpc->finished)
		return -1;
	if (buf_append(&rpc->in, data, len) != 0) {
		rpc_error(rpc, CONNECT_RESOURCE_EXHAUSTED,
		    "message is larger than %d bytes", CONNECT_MAX_MESSAGE);
		return -1;
	}
	while ((n = connect_next_envelope(rpc, &rpc->in, 0)) == 1) {
		if (rpc->finished)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

static void
connect_end(struct req *r)
{
	struct rpc *rpc = req_data(r);
	struct buf *body;
	int n;

	if (rpc == NULL || rpc->finished)
		return;
	if (req_body_overflow(r)) {
		rpc_error(rpc, CONNECT_RESOURCE_EXHAUSTED,
		    "message is larger than %d bytes", CONNECT_MAX_MESSAGE);
		return;
	}
	body = req_body(r);
	switch (rpc->m->kind) {
	case CONNECT_UNARY:
		if (rpc->codec == PBJSON_JSON && buf_len(body) == 0 &&
		    !rpc->gzip) {
			rpc_error(rpc, CONNECT_INVALID_ARGUMENT,
			    "unmarshal message: zero-length payload is not a "
			    "valid JSON object");
			return;
		}
		connect_dispatch(rpc, buf_ptr(body), buf_len(body), rpc->gzip);
		break;
	case CONNECT_SERVER_STREAM:
		if (buf_len(body) == 0) {
			rpc_error(rpc, CONNECT_UNIMPLEMENTED,
			    "unary request has zero messages");
			return;
		}
		/* Exactly one envelope, checked before the service runs. */
		if (buf_len(body) >= 5) {
			const uint8_t *p = buf_ptr(body);
			size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 |
			    (size_t)p[3] << 8 | p[4];

			if (buf_len(body) > 5 + len && len <=
			    CONNECT_MAX_MESSAGE) {
				rpc_error(rpc, CONNECT_UNIMPLEMENTED,
				    "unary request has multiple messages");
				return;
			}
		}
		connect_next_envelope(rpc, body, 1);
		break;
	case CONNECT_CLIENT_STREAM:
		while ((n = connect_next_envelope(rpc, &rpc->in, 1)) == 1) {
			if (rpc->finished)
				return;
		}
		if (n == 0 && !rpc->finished && rpc->m->end != NULL)
			rpc->m->end(rpc);
		break;
	}
	if (!rpc->finished && !rpc->streaming && !req_responded(r))
		req_defer(r);
}

static void
connect_done(struct req *r, int ok)
{
	struct rpc *rpc = req_data(r);

	if (rpc == NULL)
		return;
	req_set_data(r, NULL);
	if (!rpc->finished || rpc->data != NULL) {
		rpc->finished = 0;
		connect_cancel(rpc);
	}
	connect_timer_free(&rpc->deadline);
	connect_timer_free(&rpc->keepalive);
	buf_reset(&rpc->keepalive_env);
	buf_reset(&rpc->in);
	free(rpc);
}

/* The rpc ends without the service finishing it. */
static void
connect_cancel(struct rpc *rpc)
{
	if (rpc->cancelled)
		return;
	rpc->cancelled = 1;
	rpc->finished = 1;
	if (rpc->m->cancel != NULL)
		rpc->m->cancel(rpc);
}

/* --- timers --- */

static void
connect_timer_start(struct rpc *rpc, struct rpc_timer **tp, uint64_t ms,
    uint64_t repeat, uv_timer_cb cb)
{
	struct rpc_timer *t = *tp;

	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		t->rpc = rpc;
		uv_timer_init(req_loop(rpc->req), &t->timer);
		t->timer.data = t;
		*tp = t;
	}
	uv_timer_start(&t->timer, cb, ms, repeat);
}

static void
connect_timer_free(struct rpc_timer **tp)
{
	struct rpc_timer *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	t->rpc = NULL;
	uv_close((uv_handle_t *)&t->timer, connect_timer_closed);
}

static void
connect_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
connect_deadline_cb(uv_timer_t *timer)
{
	struct rpc_timer *t = timer->data;
	struct rpc *rpc = t->rpc;

	if (rpc == NULL || rpc->finished)
		return;
	connect_cancel(rpc);
	rpc->finished = 0;	/* let the error be written */
	rpc_error(rpc, CONNECT_DEADLINE_EXCEEDED, "context deadline exceeded");
}

static void
connect_keepalive_cb(uv_timer_t *timer)
{
	struct rpc_timer *t = timer->data;
	struct rpc *rpc = t->rpc;

	if (rpc == NULL || rpc->finished || !rpc->streaming)
		return;
	if (req_stream_write(rpc->req, buf_ptr(&rpc->keepalive_env),
	    buf_len(&rpc->keepalive_env)) != 0)
		uv_timer_stop(timer);
}

/* --- answers --- */

struct req *
rpc_req(const struct rpc *rpc)
{
	return rpc->req;
}

int
rpc_user(struct rpc *rpc, const struct user **out)
{
	char *err = NULL;
	int r;

	if ((r = auth_request_user(rpc->req, out, &err)) != 0) {
		rpc_error(rpc, CONNECT_UNAUTHENTICATED, "%s",
		    err != NULL ? err : "invalid user");
		free(err);
		return -ENOENT;
	}
	return 0;
}

uint64_t
rpc_timeout_ms(const struct rpc *rpc)
{
	return rpc->timeout_ms;
}

void *
rpc_data(const struct rpc *rpc)
{
	return rpc->data;
}

void
rpc_set_data(struct rpc *rpc, void *data)
{
	rpc->data = data;
}

int
rpc_finished(const struct rpc *rpc)
{
	return rpc->finished;
}

void
rpc_reply(struct rpc *rpc, const ProtobufCMessage *msg)
{
	struct buf b;

	if (rpc->finished)
		return;
	if (rpc->m->kind != CONNECT_UNARY) {
		rpc_send(rpc, msg);
		rpc_end(rpc);
		return;
	}
	rpc->finished = 1;
	buf_init(&b, 64 * 1024 * 1024);
	if (pbjson_encode(msg, rpc->codec, &b) != 0) {
		buf_reset(&b);
		rpc->finished = 0;
		rpc_error(rpc, CONNECT_INTERNAL, "cannot encode the response");
		return;
	}
	req_add_header_static(rpc->req, "Accept-Encoding", "gzip");
	req_respond_buf(rpc->req, 200, rpc->ctype, &b);
	connect_timer_free(&rpc->deadline);
}

void
rpc_error(struct rpc *rpc, enum connect_code code, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	char *msg;

	if (rpc->finished)
		return;
	rpc->finished = 1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (rpc->m->kind == CONNECT_UNARY) {
		buf_init(&b, 8192);
		connect_error_json(&b, code, msg);
		req_add_header(rpc->req, "Accept-Encoding", "gzip");
		req_respond_buf(rpc->req, connect_code_status(code),
		    "application/json", &b);
	} else {
		connect_write_end(rpc, code, msg);
	}
	free(msg);
	connect_timer_free(&rpc->deadline);
	connect_timer_free(&rpc->keepalive);
}

/* Begin the chunked 200 answer of a stream. */
static void
connect_stream_start(struct rpc *rpc)
{
	if (rpc->streaming)
		return;
	rpc->streaming = 1;
	req_add_header(rpc->req, "Connect-Accept-Encoding", "gzip");
	/* Proxies must not buffer a server stream (also one that ends at
	 * once with an error); client streams do not get it. */
	if (rpc->m != NULL && rpc->m->kind == CONNECT_SERVER_STREAM)
		req_add_header_static(rpc->req, "X-Accel-Buffering", "no");
	req_stream_begin(rpc->req, 200, rpc->ctype);
}

/* The end-of-stream envelope (always JSON), then the end of the body. */
static void
connect_write_end(struct rpc *rpc, enum connect_code code, const char *msg)
{
	struct buf b;
	size_t len;
	uint8_t *p;

	connect_stream_start(rpc);
	buf_init(&b, 8192);
	buf_append(&b, "\x02\0\0\0\0", 5);
	if (code == CONNECT_OK) {
		buf_puts(&b, "{}");
	} else {
		buf_puts(&b, "{\"error\":");
		connect_error_json(&b, code, msg);
		buf_puts(&b, "}");
	}
	len = buf_len(&b) - 5;
	p = (uint8_t *)buf_ptr(&b);
	p[1] = (uint8_t)(len >> 24);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
	req_stream_write(rpc->req, buf_ptr(&b), buf_len(&b));
	req_stream_end(rpc->req);
	buf_reset(&b);
}

/* Encode msg as one envelope appended to b. */
static int
connect_envelope(struct rpc *rpc, const ProtobufCMessage *msg, struct buf *b)
{
	size_t start = buf_len(b), len;
	uint8_t *p;
	int r;

	if ((r = buf_append(b, "\0\0\0\0\0", 5)) != 0)
		return r;
	if ((r = pbjson_encode(msg, rpc->codec, b)) != 0)
		return r;
	len = buf_len(b) - start - 5;
	p = (uint8_t *)buf_ptr(b) + start;
	p[1] = (uint8_t)(len >> 24);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
	return 0;
}

int
rpc_send(struct rpc *rpc, const ProtobufCMessage *msg)
{
	struct buf b;
	int r;

	if (rpc->finished || req_gone(rpc->req))
		return -EPIPE;
	connect_stream_start(rpc);
	buf_init(&b, 64 * 1024 * 1024);
	if (connect_envelope(rpc, msg, &b) != 0) {
		buf_reset(&b);
		return -EINVAL;
	}
	r = req_stream_write(rpc->req, buf_ptr(&b), buf_len(&b));
	buf_reset(&b);
	if (r == 0 && rpc->keepalive != NULL)
		uv_timer_again(&rpc->keepalive->timer);
	return r;
}

size_t
rpc_pending(const struct rpc *rpc)
{
	return rpc->streaming ? req_stream_pending(rpc->req) : 0;
}

static void
connect_drain_cb(struct req *r, void *arg)
{
	struct rpc *rpc = arg;
	void (*cb)(struct rpc *, void *) = rpc->drain_cb;

	rpc->drain_cb = NULL;
	if (cb != NULL && !rpc->finished)
		cb(rpc, rpc->drain_arg);
}

void
rpc_on_drain(struct rpc *rpc, size_t low, void (*cb)(struct rpc *, void *),
    void *arg)
{
	rpc->drain_cb = cb;
	rpc->drain_arg = arg;
	req_stream_on_drain(rpc->req, low, connect_drain_cb, rpc);
}

void
rpc_keepalive(struct rpc *rpc, const ProtobufCMessage *msg)
{
	const char *v;
	int64_t secs;

	if (rpc->finished)
		return;
	buf_reset(&rpc->keepalive_env);
	if (connect_envelope(rpc, msg, &rpc->keepalive_env) != 0)
		return;
	rpc->keepalive_ms = CONNECT_KEEPALIVE_DEFAULT_MS;
	/* Go's ParseInt of seconds; unparsable, <= 0, or too large for a
	 * time.Duration: the default. */
	if ((v = req_header(rpc->req, "Keepalive-Ping-Interval")) != NULL &&
	    query_parse_int64(v, strlen(v), &secs, NULL) == 0 && secs > 0 &&
	    secs <= INT64_MAX / 1000000000)
		rpc->keepalive_ms = (uint64_t)secs * 1000;
	connect_timer_start(rpc, &rpc->keepalive, rpc->keepalive_ms,
	    rpc->keepalive_ms, connect_keepalive_cb);
}

void
rpc_end(struct rpc *rpc)
{
	if (rpc->finished)
		return;
	rpc->finished = 1;
	connect_write_end(rpc, CONNECT_OK, NULL);
	connect_timer_free(&rpc->deadline);
	connect_timer_free(&rpc->keepalive);
}

void
rpc_abort(struct rpc *rpc)
{
	if (rpc->finished)
		return;
	rpc->finished = 1;
	connect_timer_free(&rpc->deadline);
	connect_timer_free(&rpc->keepalive);
	req_abort(rpc->req);
}
