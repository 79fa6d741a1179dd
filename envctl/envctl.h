/*
 * envctl.h - command table and the helpers every envctl command shares.
 *
 * Commands return the process exit status: 0 success, 1 failure (the
 * message is already on stderr), 2 bad usage. exec returns the remote
 * command's status instead (see exec.c).
 */
#ifndef ENVCTL_H
#define ENVCTL_H

#include <getopt.h>

#include "client.h"

#define ENVCTL_EXIT_OK 0
#define ENVCTL_EXIT_FAIL 1
#define ENVCTL_EXIT_USAGE 2

/* Options common to all commands, given before or after the command. */
struct envctl {
	const char *url;	/* --url, borrowed from argv */
	const char *token;	/* --token, borrowed from argv */
	const char *user;	/* --user, borrowed from argv */
	int verbose;		/* -v: trace HTTP on stderr */
	int json;		/* --json where a command supports it */
	struct client client;	/* valid once client_ready is set */
	int client_ready;
};

struct envctl_cmd {
	const char *name;	/* "files ls" for subcommands */
	const char *synopsis;	/* one usage line after "envctl " */
	const char *help;	/* what it does and its own options */
	int (*run)(struct envctl *, const struct envctl_cmd *, int, char **);
};

/* getopt_long entries for the common options; end a command's table with
 * ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 }. */
#define ENVCTL_OPT_URL 0x101
#define ENVCTL_OPT_TOKEN 0x102
#define ENVCTL_OPT_USER 0x103
#define ENVCTL_COMMON_OPTIONS                                                  \
	{ "url", required_argument, NULL, ENVCTL_OPT_URL },                    \
	{ "token", required_argument, NULL, ENVCTL_OPT_TOKEN },                \
	{ "user", required_argument, NULL, ENVCTL_OPT_USER },                  \
	{ "verbose", no_argument, NULL, 'v' },                                 \
	{ "help", no_argument, NULL, 'h' }
/* Returned by envctl_common_opt() when the option was consumed. */
#define ENVCTL_CONTINUE (-1)

/*
 * Handle a common option (or '?') met while parsing cmd's arguments.
 * Returns ENVCTL_CONTINUE when parsing goes on, else the exit status to
 * return (0 after --help, 2 after a bad option).
 */
int envctl_common_opt(struct envctl *e, const struct envctl_cmd *cmd, int ch,
    const char *arg);

/* Print cmd's help to stdout. */
void envctl_help(const struct envctl_cmd *cmd);

/* Report a usage error for cmd on stderr; returns ENVCTL_EXIT_USAGE. */
int envctl_usage(const struct envctl_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "envctl: <msg>" on stderr; returns ENVCTL_EXIT_FAIL. */
int envctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The client for the global options (built on first use). Returns NULL,
 * after printing the reason, for a bad URL. Owned by e. */
struct client *envctl_client(struct envctl *e);

/* Parse "K=V" into the object (borrowed) as key K, value V. Returns 0 or
 * -EINVAL when there is no '=' or K is empty. */
int envctl_add_env(struct json_object *obj, const char *kv);
/* Parse s as a decimal integer in [min, max]. Returns 0 or -EINVAL. */
int envctl_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* Write all of p[0..n) to fd, retrying on EINTR. Returns 0 or -errno. */
int envctl_write_all(int fd, const void *p, size_t n);

/* Commands, in check.c, files.c, exec.c and envctl.c. */
int check_version_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
int check_run(struct envctl *, const struct envctl_cmd *, int, char **);
int files_run(struct envctl *, const struct envctl_cmd *, int, char **);
int exec_run(struct envctl *, const struct envctl_cmd *, int, char **);

extern const struct envctl_cmd check_version_cmd, check_cmd, files_cmd,
    exec_cmd;

#endif
