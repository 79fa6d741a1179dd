/*
 * auth.h - the access token, the token gate and the per-request user
 * (spec/auth.md §1, §2 and §4).
 *
 * The daemon holds no token (open) or one non-empty token of arbitrary
 * bytes. The token lives in sodium_malloc() memory that is inaccessible
 * (sodium_mprotect_noaccess) except while a comparison or a callback runs,
 * and is wiped when replaced or cleared. It is never logged, never put in an
 * error message, and never copied out of that memory by this module. Once a
 * token has been set the process is marked non-dumpable.
 *
 * Comparisons hash both sides with crypto_generichash and compare the
 * digests with sodium_memcmp, so neither the content nor the length of the
 * token leaks through timing.
 *
 * The per-request user is identification only: a request that passed the
 * gate may name any existing user in an "Authorization: Basic" header.
 *
 * All functions run on the loop thread; sodium_init() must have run.
 */
#ifndef ENVD_AUTH_H
#define ENVD_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct req;
struct user;

/* Prepare the module (no token). Safe to call more than once. */
void auth_init(void);

/* Wipe and free the token, if any. */
void auth_free(void);

/* 1 when a token is set, else 0. */
int auth_token_is_set(void);

/*
 * 1 when a token is set and value[0..len) equals it, else 0 (also when no
 * token is set). value is borrowed and may be NULL when len is 0.
 */
int auth_token_matches(const char *value, size_t len);

/*
 * Call fn with the token bytes, readable for the duration of the call only.
 * fn must not keep the pointer nor copy the bytes anywhere that outlives
 * the call. Returns fn's return value, or -ENOENT (fn not called) when no
 * token is set.
 */
int auth_with_token(int (*fn)(const uint8_t *tok, size_t len, void *arg),
    void *arg);

/*
 * Store tok[0..len) (borrowed, copied; len > 0) as the token, wiping any
 * previous one. Returns 0, -EINVAL for an empty token, or -ENOMEM.
 */
int auth_token_set(const uint8_t *tok, size_t len);

/* Wipe and forget the token; the daemon becomes open. */
void auth_token_clear(void);

/* What the metadata service says about a /init token (auth.md §2). */
enum auth_mmds {
	AUTH_MMDS_ABSENT,	/* not consulted, fetch failed, or empty hash */
	AUTH_MMDS_MATCH,	/* hash of the sent token (or of "") */
	AUTH_MMDS_MISMATCH,	/* a hash of something else */
};

/* Verdict on the token of a /init request. */
enum auth_init_verdict {
	AUTH_INIT_ALLOW,	/* authorised: apply the request */
	AUTH_INIT_MISMATCH,	/* 401 "access token validation failed" */
	AUTH_INIT_RESET_DENIED,	/* 401 "access token reset not authorized" */
};

/*
 * The /init decision of auth.md §2 as a pure function: stored and sent say
 * whether a token is stored and whether the request carries one, equal
 * whether the two are equal (ignored unless both are present).
 */
enum auth_init_verdict auth_init_decide(int stored, int sent, int equal,
    enum auth_mmds mmds);

/*
 * Decide a /init request carrying tok[0..len) (tok NULL: no token) against
 * the stored token, without the metadata service (MMDS absent).
 */
enum auth_init_verdict auth_init_check(const uint8_t *tok, size_t len);

/*
 * Classify the metadata service's accessTokenHash (hash: NUL-terminated
 * lowercase hex SHA-512, NULL or "" when absent) against the token of a
 * /init request (tok NULL: none; then the hash of "" matches, which is
 * how the orchestrator authorises clearing). Compared in constant time;
 * the computed digest is wiped.
 */
enum auth_mmds auth_mmds_classify(const char *hash, const uint8_t *tok,
    size_t len);

/* The /init decision with the metadata service's word already known. */
enum auth_init_verdict auth_init_check_mmds(const uint8_t *tok, size_t len,
    enum auth_mmds mmds);

/*
 * 1 when the /init fast path applies (a token is stored and tok equals
 * it): the decision needs no metadata read. Else 0.
 */
int auth_init_fast(const uint8_t *tok, size_t len);

/* Message for a 401 verdict; NULL for AUTH_INIT_ALLOW. Static storage. */
const char *auth_init_message(enum auth_init_verdict v);

/*
 * The token gate for a request whose route is not gate-exempt (the router
 * decides exemption). Returns 0 when the request may go on: no token is
 * set, or X-Access-Token equals it (a missing header compares as empty).
 * Otherwise answers 401 with the REST error body and returns -EACCES.
 */
int auth_gate(struct req *r);

/*
 * Resolve an "Authorization: Basic" header. No header, another scheme or
 * an unparsable value: returns 0 and attaches nothing. A known user: looks
 * it up afresh, attaches it with req_set_user() and returns 0. An unknown
 * user (or the empty name): answers with the Connect unauthenticated error
 * "invalid username: '<name>'" in the caller's protocol (200 + end-stream
 * envelope for application/connect+* content types, else 401 JSON) and
 * returns -ENOENT.
 */
int auth_basic_user(struct req *r);

/*
 * The user a request acts as: the Basic header's user if one was attached,
 * else the current default user (defaults_user()), looked up now and
 * attached to r. On success returns 0 and sets *out to a pointer borrowed
 * from r (valid until the request ends). On failure returns -ENOENT, sets
 * *out to NULL and, when errmsg is not NULL, *errmsg to an allocated
 * "invalid default user: '<name>'" the caller frees.
 */
int auth_request_user(struct req *r, const struct user **out,
    char **errmsg);

/*
 * Parse an Authorization header value with Go's Request.BasicAuth rules:
 * case-insensitive "Basic " prefix, standard padded base64, and a ':' in
 * the decoded text. On success returns 0, sets *name to an allocated copy
 * of the text before the first ':' (NUL-terminated, but it may also hold
 * NUL bytes) and *namelen to its length. Returns -ENOENT ("no user")
 * otherwise, with *name NULL.
 */
int auth_parse_basic(const char *value, size_t len, char **name,
    size_t *namelen);

#endif
