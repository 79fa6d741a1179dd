/*
 * httpd.h - HTTP/1.1 server: libmicrohttpd driven by the libuv loop.
 *
 * One struct req exists per HTTP request. httpd allocates it when the request
 * line arrives and frees it after the response is finished or the client is
 * gone; handlers never free it. The lifecycle, all on the loop thread:
 *
 *   dispatch(req)           headers are in; the router picks a handler with
 *                           req_set_handler() or answers at once
 *   handler->begin(req)     optional; may answer, or choose how the body is
 *                           taken with req_body_mode()
 *   handler->body(req,…)    REQ_BODY_STREAM only: each chunk of the body
 *   handler->end(req)       the body is complete (REQ_BODY_BUFFER: see
 *                           req_body()); must answer, start a stream, or
 *                           call req_defer() and answer later
 *   handler->done(req, ok)  always last, exactly once per req_set_handler():
 *                           release the handler's state; the req is freed
 *                           right after
 *
 * Answers: exactly one of req_respond*() or req_stream_begin() per request.
 * They may be called inside a handler callback, or from any other loop
 * callback after req_defer(). Streams may be fed from anywhere until
 * req_stream_end(). A client that disappears ends a stream: done() is then
 * called with ok = 0 and the handler must drop its reference.
 */
#ifndef ENVD_HTTPD_H
#define ENVD_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "buf.h"

struct httpd;
struct MHD_Response;
struct req;
struct user;

enum req_body_mode {
	REQ_BODY_BUFFER,	/* collect up to a maximum (the default) */
	REQ_BODY_STREAM,	/* hand each chunk to handler->body */
	REQ_BODY_DISCARD,	/* read and drop */
};

struct req_handler {
	const char *name;
	void (*begin)(struct req *req);
	/* Return 0 to go on; after answering, return -1 to drop the rest. */
	int (*body)(struct req *req, const uint8_t *data, size_t len);
	void (*end)(struct req *req);
	void (*done)(struct req *req, int ok);
	/* Answered 2xx, the request's log line is written only with -verbose:
	 * for liveness polls (upstream logs /health at trace level). */
	int quiet;
};

/* Called for every request once its headers are in. */
typedef void (*httpd_dispatch_cb)(struct req *req);

/* Called when a stream's unsent data falls to the low-water mark. */
typedef void (*req_drain_cb)(struct req *req, void *arg);

/* Pull producer for req_respond_reader(): write at most max bytes to out and
 * return the count, 0 when nothing is ready yet (the producer must then call
 * req_reader_wake() when it is), -1 at the end, -2 on error. */
typedef ssize_t (*req_reader_cb)(void *arg, uint8_t *out, size_t max);

/* Default cap on buffered request bodies. */
#define HTTPD_BODY_MAX_DEFAULT (1024 * 1024)

/*
 * Listen on port (all IPv4 and, where available, IPv6 addresses) and serve
 * from loop. Returns NULL and sets *errmsg (caller frees) on failure.
 */
struct httpd *httpd_new(uv_loop_t *loop, int port, httpd_dispatch_cb dispatch,
    char **errmsg);

/* Stop accepting, end every request (streams end with an error), and close
 * every handle. cb runs once the httpd can be freed. */
void httpd_shutdown(struct httpd *h, void (*cb)(struct httpd *, void *),
    void *arg);

/* Free after httpd_shutdown()'s callback. NULL is a no-op. */
void httpd_free(struct httpd *h);

/*
 * The hand-off of a new connection: whether the first n bytes peeked from
 * it (at most 12 are looked at) start an upload, "POST /files" then ' ' or
 * '?', which goes to the bulk daemon. Not /files/compose, not
 * /filesystem.Filesystem/...; fewer bytes than that: no.
 */
int httpd_peek_is_bulk(const char *peek, size_t n);

/*
 * Body framing of a request, from its headers in order: Content-Length
 * values that differ (MHD takes the first; a proxy in front may take
 * another), or Transfer-Encoding beside Content-Length (RFC 9112 section
 * 6.1), let the bytes after the body be read as a request of their own.
 * Start from { NULL, 0, 0 }; key and value must outlive the struct.
 */
struct httpd_framing {
	const char *length;	/* the first Content-Length, borrowed */
	int lengths_differ;
	int chunked;		/* a Transfer-Encoding was given */
};
void httpd_framing_add(struct httpd_framing *f, const char *key,
    const char *value);
/* Non-zero when the framing is ambiguous: answer 400 and close. */
int httpd_framing_bad(const struct httpd_framing *f);

/* Number of requests in progress (for tests and metrics). */
unsigned int httpd_active(const struct httpd *h);

/* --- request properties (borrowed; valid until done()) --- */
uint64_t req_id(const struct req *req);
const char *req_method(const struct req *req);
/* The decoded path, without the query string. */
const char *req_path(const struct req *req);
/* The raw query string after '?', or NULL when the URL had none. */
const char *req_query(const struct req *req);
/* A request header (case-insensitive name), or NULL. */
const char *req_header(const struct req *req, const char *name);
/* Same, also giving the length (values may hold any byte but NUL). */
const char *req_header_n(const struct req *req, const char *name,
    size_t *len);
/* Call fn for each request header, in order; stop when fn returns non-zero. */
void req_headers_foreach(const struct req *req,
    int (*fn)(void *arg, const char *name, const char *value), void *arg);
/* The httpd serving req and its loop. */
uv_loop_t *req_loop(const struct req *req);

/* --- per-request state set by the router --- */
void req_set_handler(struct req *req, const struct req_handler *h,
    void *data);
void *req_data(const struct req *req);
void req_set_data(struct req *req, void *data);
/* The request user; the req takes ownership (users_free() at the end). */
void req_set_user(struct req *req, struct user *u);
const struct user *req_user(const struct req *req);

/* --- request body --- */
/* Choose how the body is taken (call from begin()). max bounds BUFFER mode;
 * a larger body makes req_body_overflow() true and end() is called early. */
void req_body_mode(struct req *req, enum req_body_mode mode, size_t max);
/* The buffered body (BUFFER mode), valid in end(). */
struct buf *req_body(struct req *req);
int req_body_overflow(const struct req *req);
/*
 * Back-pressure for REQ_BODY_STREAM handlers whose work per byte is
 * unbounded (inflating): from body(), req_body_pause() parks the
 * connection so that nothing more is read, and req_body_keep(n) leaves the
 * last n bytes of the chunk just handed over with libmicrohttpd (n at most
 * that chunk's length). Those bytes, and any that follow, come to body()
 * again only after req_body_resume(), which the handler calls from a later
 * loop callback once it has caught up. While paused, body() is not called
 * (bytes libmicrohttpd still holds stay there) and end() may still run
 * when the whole body was taken. The peer's end of stream is looked at
 * only once resumed, since it may be a half-close after a complete body:
 * then the request is answered as usual, otherwise it ends (done() with
 * ok = 0). An answer given while paused unparks the
 * connection itself; the rest of the body is then dropped. No-ops when
 * answered already.
 */
void req_body_pause(struct req *req);
void req_body_keep(struct req *req, size_t n);
void req_body_resume(struct req *req);
/* Whether the peer's end of stream came while the body was paused (a
 * half-close, or a hang-up), and how many bytes of the connection the
 * kernel holds unread (FIONREAD; 0 when unknown). */
int req_peer_eof(const struct req *req);
size_t req_unread(const struct req *req);

/* --- answers --- */
/* Add a response header to whatever answer follows. */
void req_add_header(struct req *req, const char *name, const char *value);
/* The same for a name and value that outlive the request (literals). */
void req_add_header_static(struct req *req, const char *name,
    const char *value);
/* Answer with a copy of body (which may be NULL when len is 0). ctype NULL
 * sends no Content-Type. Returns 0 or -EALREADY. */
int req_respond(struct req *req, unsigned int status, const char *ctype,
    const void *body, size_t len);
/*
 * A fixed answer: status, no body, and headers (name, value pairs of
 * literals, ending in NULL). httpd builds the response once, at the first
 * request it suits, and queues that same response again for every later
 * one (MHD counts its references), which saves building, decorating and
 * freeing one per request. A request with an Origin header, one whose
 * handler added headers, or one that cannot be answered at once gets a
 * response of its own with the same status and headers. The struct is the
 * handler's (static, zeroed but for status and headers); the response in
 * it is httpd's, dropped when httpd shuts down.
 */
struct req_fixed {
	unsigned int status;
	const char *const *headers;
	struct MHD_Response *resp;	/* httpd's, once built */
	struct req_fixed *next;		/* in httpd's list of built ones */
};
/* Answer with f. Returns 0 or -EALREADY. */
int req_respond_fixed(struct req *req, struct req_fixed *f);
/* Answer 304 Not Modified with no content; its Content-Length is size,
 * the length the 200 would have. Returns 0 or -EALREADY. */
int req_respond_not_modified(struct req *req, uint64_t size);
/* Answer with the contents of b, taking them over (b is left empty). */
int req_respond_buf(struct req *req, unsigned int status, const char *ctype,
    struct buf *b);
/* Answer with len bytes of fd from off (sent with sendfile). Takes fd. */
int req_respond_fd(struct req *req, unsigned int status, const char *ctype,
    int fd, uint64_t off, uint64_t len);
/* Answer with a body produced on demand (chunked). free_fn(arg) runs when
 * the answer is over. */
int req_respond_reader(struct req *req, unsigned int status,
    const char *ctype, req_reader_cb reader, void *arg,
    void (*free_fn)(void *arg));
/* Tell httpd a reader that returned 0 has data again. */
void req_reader_wake(struct req *req);
/* REST error body: {"code":<status>,"message":"<msg>"}\n as JSON. */
int req_respond_error(struct req *req, unsigned int status, const char *msg);
/* CORS preflight answer (204) built from the request's headers. */
int req_respond_preflight(struct req *req);
/* Plain text body with Content-Type text/plain; charset=utf-8. */
int req_respond_text(struct req *req, unsigned int status, const char *text);
/* Answer later: the connection waits without blocking anything. */
void req_defer(struct req *req);
int req_responded(const struct req *req);

/* --- streamed answers (chunked) --- */
int req_stream_begin(struct req *req, unsigned int status, const char *ctype);
/* Queue bytes. Returns 0, -EPIPE once the client is gone or the stream has
 * ended. Data is never refused: callers bound themselves with
 * req_stream_pending() and req_stream_on_drain(). */
int req_stream_write(struct req *req, const void *data, size_t len);
/* Bytes queued and not yet handed to the socket. */
size_t req_stream_pending(const struct req *req);
/* cb(req, arg) runs when pending falls to at most low bytes. */
void req_stream_on_drain(struct req *req, size_t low, req_drain_cb cb,
    void *arg);
/* End the stream once queued data is sent. */
void req_stream_end(struct req *req);
/* Close the connection at once, whatever is queued. */
void req_abort(struct req *req);
/* True when the client is known to be gone. */
int req_gone(const struct req *req);

/*
 * Have the kernel report the connection readable only once at least bytes
 * are queued (SO_RCVLOWAT; 1 is the default), so that a large body is read
 * in large pieces rather than as fast as it trickles in. The caller must
 * keep bytes at most what is still to come, and set 1 again before the
 * body ends or is abandoned, or the connection stalls. Returns 0 or
 * -errno.
 */
int req_set_rcvlowat(struct req *req, size_t bytes);

#endif
