/*
 * mmds.h - the Firecracker metadata service (MMDS V2) client
 * (spec/firecracker.md §3, §4).
 *
 * A read is two HTTP/1.1 requests to 169.254.169.254:80, each on a fresh
 * non-blocking TCP connection with "Connection: close" and a 10 s budget:
 * PUT /latest/api/token (X-metadata-token-ttl-seconds: 60), whose body is
 * the session token, then GET / with that token and
 * "Accept: application/json", whose body is decoded as JSON. Status codes
 * are not checked, as upstream does. Everything runs on the daemon's loop;
 * nothing blocks it.
 *
 * $ENVD_MMDS_ADDRESS (an IPv4 address) and $ENVD_MMDS_PORT replace
 * 169.254.169.254 and 80 (for tests), and
 * $ENVD_RUN_DIR (default /run/e2b) names where the ID files go.
 *
 * A poll repeats reads every 50 ms (a slow read delays the next) until one
 * succeeds, then sets the internal env vars E2B_SANDBOX_ID and
 * E2B_TEMPLATE_ID, writes <run dir>/.E2B_SANDBOX_ID and .E2B_TEMPLATE_ID
 * (mode 0666, no newline; errors only logged) and stops. At most one poll
 * runs at a time.
 *
 * The HTTP answer parser and the JSON decoder are pure functions.
 */
#ifndef ENVD_MMDS_H
#define ENVD_MMDS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Largest MMDS answer (headers and body) accepted. */
#define MMDS_ANSWER_MAX (64 * 1024)

/* The fields envd uses; each is an owned string or NULL when absent. */
struct mmds_opts {
	char *instance_id;	/* instanceID: the sandbox ID */
	char *env_id;		/* envID: the template ID */
	char *address;		/* address: the log collector URL */
	char *token_hash;	/* accessTokenHash: hex SHA-512 */
};

/*
 * Parse an HTTP/1.x answer in data[0..len); eof says the peer closed.
 * Accepts a Content-Length body or one delimited by the close; a chunked
 * body is refused. Returns 0 with *status and the body's offset and length
 * set when complete, -EAGAIN when more bytes are needed (only when !eof),
 * or -EINVAL for anything malformed.
 */
int mmds_http_parse(const uint8_t *data, size_t len, int eof,
    unsigned int *status, size_t *body_off, size_t *body_len);

/*
 * Decode a GET / body: a JSON object whose members instanceID, envID,
 * address and accessTokenHash, when present and not null, must be strings
 * (as Go's decoder into a struct of strings requires); unknown keys are
 * ignored. Returns 0 and fills *out (caller clears it), or -EINVAL with
 * *out empty.
 */
int mmds_opts_parse(const uint8_t *body, size_t len, struct mmds_opts *out);

/* Free the strings of o and zero it. */
void mmds_opts_clear(struct mmds_opts *o);

/* The outcome of one read: err 0 and opts (borrowed for the call), or a
 * negative errno and opts NULL. */
typedef void (*mmds_read_cb)(int err, const struct mmds_opts *opts,
    void *arg);

struct mmds_read;

/*
 * Start one read on loop. cb runs exactly once, later, from the loop,
 * unless mmds_read_cancel() is called first. Returns the read (owned by
 * this module until it ends).
 */
struct mmds_read *mmds_read_start(uv_loop_t *loop, mmds_read_cb cb,
    void *arg);

/* Abandon a read whose callback has not run: it never will. */
void mmds_read_cancel(struct mmds_read *rd);

/* Called on the loop thread when a route self-heal has ended. */
typedef void (*mmds_heal_cb)(void *arg);

/*
 * The route self-heal of firecracker.md §3.3: on a worker thread, pin
 * "-d 169.254.169.254 -p tcp --dport 80 -j RETURN" first in the nat
 * table's PREROUTING and OUTPUT chains (delete, then insert at 1, each
 * `iptables -w 5`, through helper.c). An insert failure is logged at most
 * once per 10 s. Returns 0 (cb runs later), or -EBUSY when a heal is
 * already running (concurrent callers skip: read again at once).
 */
int mmds_route_heal(uv_loop_t *loop, mmds_heal_cb cb, void *arg);

/* Forget the callback of the heal started with arg; it still finishes. */
void mmds_route_heal_detach(void *arg);

/* Remember the loop; in Firecracker mode (!isnotfc) start the boot-time
 * poll, which has no deadline. */
void mmds_setup(uv_loop_t *loop, int isnotfc);

/* Start a poll with a deadline of timeout_ms unless one is running.
 * Does nothing outside Firecracker mode. */
void mmds_poll(uint64_t timeout_ms);

/* Release what is left after the loop ended (shutdown). */
void mmds_free(void);

#endif
