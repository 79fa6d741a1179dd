/*
 * users.h - passwd and group lookups for the per-request user.
 *
 * Lookups read the account files, /etc/passwd and /etc/group, as upstream
 * does (no NSS modules). The last
 * account found by users_lookup() is reused for up to one second; only
 * that name is cached, so users created after the daemon started are found
 * at once, and a change to the cached account shows within a second. Every
 * function here may be called from any thread.
 */
#ifndef ENVD_USERS_H
#define ENVD_USERS_H

#include <sys/types.h>

/*
 * A looked-up account. It is shared and read-only: users_lookup() hands out
 * a reference, users_free() drops one, and the last drop frees it.
 */
struct user {
	unsigned refs;	/* references; atomic, users.c only */
	char *name;	/* login name, owned */
	uid_t uid;
	gid_t gid;	/* primary group */
	char *home;	/* home directory from passwd, owned */
	char *shell;	/* login shell from passwd, owned */
	gid_t *groups;	/* primary gid first, then supplementary; owned */
	int ngroups;	/* entries in groups */
};

/*
 * Look up name. On success returns 0 and sets *out to a reference to a
 * struct user that the caller drops with users_free(). Returns -ENOENT when there is no such user
 * (including the empty name), or another -errno on lookup failure.
 */
int users_lookup(const char *name, struct user **out);

/* Read these files instead of /etc/passwd and /etc/group (NULL: those);
 * forgets the cached account. For tests; not thread-safe. */
void users_set_files(const char *passwd, const char *group);

/* Forget the cached account (tests; shutdown). */
void users_cache_clear(void);

/* Drop a reference to a struct user; NULL is a no-op. */
void users_free(struct user *u);

/* Name of uid from passwd, or its decimal form; caller frees. */
char *users_uid_name(uid_t uid);

/* Name of gid from the group database, or its decimal form; caller frees. */
char *users_gid_name(gid_t gid);

#endif
