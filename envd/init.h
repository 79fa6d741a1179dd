/*
 * init.h - POST /init: env vars, access token, default user and workdir,
 * guest clock and CA bundle (spec/http-api.md §5, spec/auth.md §2).
 *
 * Outside Firecracker (-isnotfc) the metadata service is never consulted,
 * so the first token sent sticks; in Firecracker mode a new token is taken
 * only as firecracker.md §5 allows (the same token, or one whose SHA-512
 * matches MMDS's accessTokenHash; see auth.h and mmds.h).
 *
 * The CA bundle goes to $ENVD_CA_BUNDLE_PATH (default
 * /etc/ssl/certs/ca-certificates.crt) and is persisted to
 * $ENVD_CA_PERSIST_PATH (default /usr/local/share/ca-certificates/e2b-ca.crt);
 * both are read when a bundle is installed.
 *
 * State is daemon-wide and lives on the loop thread.
 */
#ifndef ENVD_INIT_H
#define ENVD_INIT_H

#include <stdint.h>

#include <uv.h>

#include "httpd.h"

/* The POST /init route handler (never behind the token gate). */
extern const struct req_handler init_handler;

/*
 * Record the loop and whether the daemon runs outside Firecracker
 * (default: yes); read X-Envd-Memory; in Firecracker mode start the
 * boot-time MMDS poll and re-apply a persisted CPU target.
 */
void init_setup(uv_loop_t *loop, int isnotfc);

/* defaults_user() (defaults.h), for the request modules' callers. */
const char *init_default_user(void);

/* defaults_workdir() (defaults.h). */
const char *init_default_workdir(void);

/* Release the state (shutdown). */
void init_free(void);

/*
 * The clock rule: 1 when the guest clock (now) should be stepped to the
 * host's (host), i.e. now < host - 50 ms or now > host + 5 s, else 0.
 * Both are Unix times in nanoseconds.
 */
int init_clock_should_set(int64_t now_ns, int64_t host_ns);

#endif
