/*
 * init_req.h - decoding the POST /init body (spec/http-api.md §5.1).
 *
 * The body is JSON checked against RFC 8259 (no comments, single quotes,
 * trailing commas, NaN or raw control characters in strings; nothing but
 * whitespace after the value). An empty or all-whitespace body and a bare
 * `null` are an empty request. Otherwise the value must be an object; keys
 * are matched exactly (camelCase), unknown keys are ignored, a key given
 * twice takes its last value, and `null` leaves a field unset. Strings
 * holding U+0000 are rejected: they cannot live in C strings or in an
 * environment.
 *
 * accessToken is taken from the raw text, as upstream does: every
 * occurrence must be a non-empty JSON string with no backslash. Its bytes
 * go straight into sodium_malloc() memory and are overwritten in the
 * caller's buffer before any JSON library sees the body, so the only
 * copies are the caller's buffer (which the caller wipes) and the request.
 *
 * cpuCount must be a JSON integer (1.5 or "2" fail the whole body) and
 * thaw a string; neither is range-checked here (upstream-0.9.md §3.1).
 *
 * No I/O and no global state.
 */
#ifndef ENVD_INIT_REQ_H
#define ENVD_INIT_REQ_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of objects and arrays accepted anywhere in the body. */
#define INIT_REQ_MAX_DEPTH 64

/* A decoded /init request. Absent fields are NULL / 0. */
struct init_req {
	uint8_t *token;		/* accessToken in sodium_malloc() memory,
				 * NULL when absent */
	size_t token_len;	/* > 0 when token is set */

	int has_env;		/* envVars present (replace the user entries) */
	char **env_keys;	/* nenv keys, owned */
	char **env_values;	/* nenv values, owned */
	size_t nenv;

	char *default_user;	/* owned; may be "" (then ignored) */
	char *default_workdir;	/* owned; may be "" (then ignored) */
	char *ca_bundle;	/* owned PEM text; may be "" (then ignored) */

	int has_ts;		/* timestamp present */
	int64_t ts_sec;		/* Unix seconds of timestamp */
	long ts_nsec;		/* 0..999999999 */

	int has_volume_mounts;	/* volumeMounts non-empty */
	char **vol_targets;	/* nvol nfs_target strings, owned */
	char **vol_paths;	/* nvol path strings, owned */
	size_t nvol;
	char *lifecycle_id;	/* owned lifecycleID, NULL when absent */
	char *hyperloop_ip;	/* owned hyperloopIP text, NULL when absent */

	int has_cpu_count;	/* cpuCount present (an integer) */
	int64_t cpu_count;	/* its value, range not checked */
	int thaw_skip;		/* thaw is exactly "skip" */
};

/*
 * Decode body[0..len). body is modified: the accessToken bytes in it are
 * overwritten. On success returns 0 and sets *out to a request the caller
 * frees with init_req_free(). Returns -EINVAL (with *out NULL) for any
 * malformed or mistyped body, or -ENOMEM when secure memory runs out.
 */
int init_req_parse(uint8_t *body, size_t len, struct init_req **out);

/* Wipe the token and free everything; NULL is a no-op. */
void init_req_free(struct init_req *req);

/*
 * Parse an RFC 3339 date-time as Go's time.Time JSON decoding does:
 * "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", upper-case T and Z,
 * any number of fraction digits (only the first nine count), offset hours
 * below 24 and minutes below 60. Returns 0 and the Unix time, or -EINVAL.
 */
int init_req_parse_time(const char *s, size_t len, int64_t *sec,
    long *nsec);

#endif
