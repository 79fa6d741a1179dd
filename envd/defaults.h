/*
 * defaults.h - the default user and working directory (configuration set
 * by POST /init, read by everything that acts for a request).
 *
 * The user is "root" until a non-empty one is set; the workdir is unset
 * (NULL) until a non-empty one is set. "fallback" is 1 until a user was
 * set (upstream-0.9.md §3.8, X-Envd-Defaults).
 *
 * State is daemon-wide and lives on the loop thread. No I/O.
 */
#ifndef ENVD_DEFAULTS_H
#define ENVD_DEFAULTS_H

/* The built-in default user. */
#define DEFAULTS_BUILTIN_USER "root"

/* The default user's name. Never NULL; borrowed, valid until the next
 * defaults_set_user() or defaults_free(). */
const char *defaults_user(void);

/* The default working directory, or NULL while none is set. Borrowed,
 * valid until the next defaults_set_workdir() or defaults_free(). */
const char *defaults_workdir(void);

/* 1 while no user was ever set (the built-in one is in use), else 0. */
int defaults_fallback(void);

/* Set the user (name copied). NULL or "" changes nothing. */
void defaults_set_user(const char *name);

/* Set the workdir (path copied). NULL or "" changes nothing. */
void defaults_set_workdir(const char *path);

/*
 * The X-Envd-Defaults header value, Go encoding/json style:
 * {"user":"…","workdir":"…","fallback":B} with "workdir" left out when
 * unset. Returns an allocated string the caller frees.
 */
char *defaults_header(void);

/* Forget both (back to the built-in state). */
void defaults_free(void);

#endif
