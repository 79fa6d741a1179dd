/*
 * connect.h - the Connect protocol over HTTP/1.1 (spec/connect-rpc.md).
 *
 * Services register a table of methods; connect_handler serves every
 * "/<package>.<Service>/<Method>" path. For each call connect.c checks the
 * headers, reads and decodes the request (JSON or binary protobuf, unary or
 * enveloped), and hands the service a struct rpc. The service answers
 * through rpc_*(): nothing in a service knows about HTTP or envelopes.
 *
 * Ownership: connect.c owns each struct rpc. It lives from the call until
 * the HTTP request is over. A service that keeps a pointer to an rpc (a
 * stream subscriber, an answer computed off the loop) must drop it when the
 * method's cancel callback runs. cancel runs once, when the rpc ends, for
 * every rpc the service did not finish itself (rpc_reply, rpc_error,
 * rpc_end: client gone, deadline passed, daemon stopping) and for every rpc
 * that still has service data attached (rpc_set_data), so it is also the
 * place to free that data. After finishing an rpc and clearing its data,
 * the service must not touch it again.
 */
#ifndef ENVD_CONNECT_H
#define ENVD_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "httpd.h"
#include "pbjson.h"

struct rpc;
struct user;

/* Connect error codes, numbered as in the Connect protocol. */
enum connect_code {
	CONNECT_OK = 0,
	CONNECT_CANCELED = 1,
	CONNECT_UNKNOWN = 2,
	CONNECT_INVALID_ARGUMENT = 3,
	CONNECT_DEADLINE_EXCEEDED = 4,
	CONNECT_NOT_FOUND = 5,
	CONNECT_ALREADY_EXISTS = 6,
	CONNECT_PERMISSION_DENIED = 7,
	CONNECT_RESOURCE_EXHAUSTED = 8,
	CONNECT_FAILED_PRECONDITION = 9,
	CONNECT_ABORTED = 10,
	CONNECT_OUT_OF_RANGE = 11,
	CONNECT_UNIMPLEMENTED = 12,
	CONNECT_INTERNAL = 13,
	CONNECT_UNAVAILABLE = 14,
	CONNECT_DATA_LOSS = 15,
	CONNECT_UNAUTHENTICATED = 16,
};

enum connect_kind {
	CONNECT_UNARY,
	CONNECT_SERVER_STREAM,
	CONNECT_CLIENT_STREAM,
};

struct connect_method {
	const char *path;	/* "/filesystem.Filesystem/Stat" */
	enum connect_kind kind;
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	/*
	 * Unary and server streaming: the decoded request (borrowed; freed
	 * after call returns, so copy what must outlive it). Client streaming:
	 * each message as it arrives. Must eventually finish the rpc.
	 */
	void (*call)(struct rpc *rpc, const ProtobufCMessage *msg);
	/* Client streaming only: the client ended its stream cleanly. */
	void (*end)(struct rpc *rpc);
	/* The rpc ends without the service finishing it; drop references. */
	void (*cancel)(struct rpc *rpc);
};

/* The route handler for every Connect path. */
extern const struct req_handler connect_handler;

/*
 * The envelope at the front of p[0..have) (spec/connect-rpc.md): a flags
 * byte (bit 0: compressed, others refused; compressed only when gzip is
 * non-zero, the request having Connect-Content-Encoding: gzip) and a
 * big-endian 32-bit length of at most CONNECT_MAX_MESSAGE. Returns 1 with
 * *flags and *len set when the whole envelope, 5 + *len bytes, is there; 0
 * when more bytes are needed (at_eof zero); -1 with *code and *err (an
 * allocated message the caller frees) when the envelope is refused or, at
 * EOF, cut short. No I/O; p is not modified.
 */
int connect_envelope_take(const uint8_t *p, size_t have, int at_eof,
    int gzip, uint8_t *flags, uint32_t *len, enum connect_code *code,
    char **err);

/*
 * Decode one request message data[0..len) of type desc with codec,
 * inflating it first when compressed (bounded by CONNECT_MAX_MESSAGE).
 * Returns 0 with *msg set (free with pbjson_free()), or -1 with *msg NULL,
 * *code and *err (allocated, caller frees) as the Connect error to answer.
 */
int connect_decode(const ProtobufCMessageDescriptor *desc,
    enum pbjson_codec codec, const uint8_t *data, size_t len, int compressed,
    ProtobufCMessage **msg, enum connect_code *code, char **err);

/* A deep copy of m through the wire format, for state that outlives the
 * call; free with protobuf_c_message_free_unpacked(copy, NULL). */
ProtobufCMessage *connect_message_copy(const ProtobufCMessage *m);

/* Add a service's methods; the table must outlive the daemon. */
void connect_register(const struct connect_method *methods, size_t n);

/* Wire name ("not_found") and unary HTTP status (404) of a code. */
const char *connect_code_name(enum connect_code code);
unsigned int connect_code_status(enum connect_code code);

/* Largest request message accepted (resource_exhausted beyond). */
#define CONNECT_MAX_MESSAGE (8 * 1024 * 1024)

/* --- what a service may ask --- */

/* The HTTP request behind the rpc (borrowed). */
struct req *rpc_req(const struct rpc *rpc);
/* The request user (Basic header or default user). 0, or -ENOENT after
 * finishing the rpc with unauthenticated. */
int rpc_user(struct rpc *rpc, const struct user **out);
/* Connect-Timeout-Ms of the request, 0 when absent. */
uint64_t rpc_timeout_ms(const struct rpc *rpc);
/* Service state attached to the rpc. */
void *rpc_data(const struct rpc *rpc);
void rpc_set_data(struct rpc *rpc, void *data);
/* True once the rpc is finished or cancelled. */
int rpc_finished(const struct rpc *rpc);

/* --- unary answers --- */

/* Answer with msg (borrowed). */
void rpc_reply(struct rpc *rpc, const ProtobufCMessage *msg);

/* Finish the rpc with an error: the unary error body, or an end-of-stream
 * error for streams. */
void rpc_error(struct rpc *rpc, enum connect_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- streams --- */

/*
 * Send one message envelope. Returns 0, or -EPIPE when the client is gone
 * (the cancel callback follows). Sending resets the keepalive timer.
 */
int rpc_send(struct rpc *rpc, const ProtobufCMessage *msg);

/* Bytes queued and not yet sent to the client. */
size_t rpc_pending(const struct rpc *rpc);

/* Call cb(rpc, arg) once when the queue falls to at most low bytes. */
void rpc_on_drain(struct rpc *rpc, size_t low,
    void (*cb)(struct rpc *rpc, void *arg), void *arg);

/*
 * Send msg (borrowed) whenever the stream has been idle for the interval
 * in the request's Keepalive-Ping-Interval header (seconds; missing, bad or
 * not positive: 90 s).
 */
void rpc_keepalive(struct rpc *rpc, const ProtobufCMessage *msg);

/* Finish a stream successfully: the end-of-stream envelope "{}". */
void rpc_end(struct rpc *rpc);

/* Drop the connection without an answer (a client that does not read).
 * The rpc counts as finished. */
void rpc_abort(struct rpc *rpc);

#endif
