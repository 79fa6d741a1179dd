/*
 * hapi.h - a client for HAProxy's runtime API (the "stats socket").
 *
 * Each call opens the UNIX socket, sends one line (several commands may be
 * joined with ';'), reads the answer until HAProxy closes the connection and
 * closes the socket: no state is kept between calls. Calls block for at most
 * HAPI_TIMEOUT_MS while waiting for the socket.
 *
 * Keys and values passed to the map helpers must be non-empty visible ASCII
 * without ';', '\\', quotes or spaces, so no text can reach HAProxy's command
 * parser as a second command; anything else is -EINVAL and nothing is sent.
 *
 * Every function returns 0 or a negative errno. -ENOENT and -ECONNREFUSED
 * mean no HAProxy is listening on the socket. -EPROTO means HAProxy answered
 * with an error; then *cause (when cause is not NULL) receives an owned
 * message (the caller frees it). On any other failure *cause is set too.
 */
#ifndef EDGE_HAPI_H
#define EDGE_HAPI_H

#include <stddef.h>

#define HAPI_TIMEOUT_MS 10000
/* Largest answer read; a longer one is -EMSGSIZE. */
#define HAPI_REPLY_MAX (4u << 20)

/*
 * Send cmd (no trailing newline needed) and return HAProxy's answer in
 * *reply (owned by the caller, NUL-terminated; may be empty). reply may be
 * NULL when the answer does not matter.
 */
int hapi_command(const char *sock, const char *cmd, char **reply);

/* 1 when a HAProxy answers on sock, 0 otherwise. */
int hapi_alive(const char *sock);

/* True when s may be sent as a map key or value (see above). */
int hapi_word_ok(const char *s);

/* Set key to value in the map loaded from the file map (as named in the
 * configuration), adding the entry or replacing every entry for key. */
int hapi_map_put(const char *sock, const char *map, const char *key,
    const char *value, char **cause);

/* Delete every entry for key from map; 0 when there was none. */
int hapi_map_del(const char *sock, const char *map, const char *key,
    char **cause);

/*
 * Replace the whole content of map with the n pairs keys[i] -> vals[i] in
 * one atomic step (prepare map / add map @ver / commit map): requests see
 * either the old map or the new one.
 */
int hapi_map_replace(const char *sock, const char *map,
    const char *const *keys, const char *const *vals, size_t n, char **cause);

#endif /* EDGE_HAPI_H */
