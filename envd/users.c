/*
 * users.c - passwd and group lookups for the per-request user.
 *
 * Lookups go through NSS with the reentrant interfaces. The last account
 * found is handed out again for up to a second: the default user is looked
 * up for nearly every request, and reading and parsing the account files
 * each time dominated the cost of small RPCs. Only that one name is
 * cached, so an account created after startup is found at once; changes
 * to the cached account show within a second. Privilege changes in a child
 * process are not this module's business.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "users.h"
#include "xalloc.h"

/* Upper bound for the NSS scratch buffer; a larger entry is an error. */
#define USERS_BUF_MAX	(1024 * 1024)
/* Upper bound on the group list; Linux allows 65536 supplementary groups. */
#define USERS_NGROUPS_MAX	(65536 + 1)

/* How long the cached account may be reused, in nanoseconds. */
#define USERS_CACHE_NS	1000000000LL

/* The last successful lookup. */
struct users_cache {
	struct user *u;			/* copy; owned; NULL when empty */
	long long at;			/* monotonic time it was made, ns */
};

static pthread_mutex_t users_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct users_cache users_cache;	/* under users_cache_lock */

static size_t	users_bufsize(int name);
static struct user *users_ref(struct user *u);
static long long users_now(void);
static int	users_getpwnam(const char *name, struct passwd *pw,
		    char **bufp);
static int	users_groups(const char *name, gid_t gid, gid_t **groupsp,
		    int *ngroupsp);

/* Initial scratch buffer size suggested by sysconf, with a sane default. */
static size_t
users_bufsize(int name)
{
	long n;

	n = sysconf(name);
	if (n <= 0 || n > USERS_BUF_MAX)
		return 1024;
	return (size_t)n;
}

/*
 * getpwnam_r into *pw, growing the scratch buffer on ERANGE. On success
 * *bufp holds the storage pw points into (caller frees). Returns 0,
 * -ENOENT when there is no such user, or another -errno.
 */
static int
users_getpwnam(const char *name, struct passwd *pw, char **bufp)
{
	struct passwd *res = NULL;
	char *buf = NULL;
	size_t size;
	int r;

	*bufp = NULL;
	size = users_bufsize(_SC_GETPW_R_SIZE_MAX);
	for (;;) {
		buf = xreallocarray(buf, 1, size);
		r = getpwnam_r(name, pw, buf, size, &res);
		if (r != ERANGE)
			break;
		if (size >= USERS_BUF_MAX) {
			r = -ERANGE;
			goto out;
		}
		size *= 2;
	}
	if (r == ENOENT || r == ESRCH || (r == 0 && res == NULL)) {
		r = -ENOENT;
		goto out;
	}
	if (r != 0) {
		r = -r;
		goto out;
	}
	*bufp = buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	return r;
}

/*
 * The group list of name: gid first, then every supplementary group once.
 * Returns 0 and hands *groupsp (caller frees) and its length, or -errno.
 */
static int
users_groups(const char *name, gid_t gid, gid_t **groupsp, int *ngroupsp)
{
	gid_t *groups = NULL;
	int n = 32, want, i, j, r;

	*groupsp = NULL;
	*ngroupsp = 0;
	for (;;) {
		groups = xreallocarray(groups, (size_t)n, sizeof(*groups));
		want = n;
		if (getgrouplist(name, gid, groups, &want) != -1) {
			n = want;
			break;
		}
		if (n >= USERS_NGROUPS_MAX) {
			r = -ERANGE;
			goto out;
		}
		n = want > n ? want : n * 2;
		if (n > USERS_NGROUPS_MAX)
			n = USERS_NGROUPS_MAX;
	}
	/* Put the primary group first and drop its other occurrences. */
	groups = xreallocarray(groups, (size_t)n + 1, sizeof(*groups));
	memmove(groups + 1, groups, (size_t)n * sizeof(*groups));
	groups[0] = gid;
	for (i = j = 1; i <= n; i++) {
		if (groups[i] != gid)
			groups[j++] = groups[i];
	}
	*groupsp = groups;
	*ngroupsp = j;
	groups = NULL;
	r = 0;
out:
	free(groups);
	return r;
}

/* Another reference to u. */
static struct user *
users_ref(struct user *u)
{
	__atomic_add_fetch(&u->refs, 1, __ATOMIC_RELAXED);
	return u;
}

/* Monotonic clock in nanoseconds. */
static long long
users_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0 &&
	    clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
users_cache_clear(void)
{
	pthread_mutex_lock(&users_cache_lock);
	users_free(users_cache.u);
	memset(&users_cache, 0, sizeof(users_cache));
	pthread_mutex_unlock(&users_cache_lock);
}

int
users_lookup(const char *name, struct user **out)
{
	struct passwd pw;
	struct user *u = NULL;
	char *buf = NULL;
	long long now;
	int r;

	*out = NULL;
	if (name == NULL || *name == '\0') {
		r = -ENOENT;
		goto out;
	}
	now = users_now();
	pthread_mutex_lock(&users_cache_lock);
	if (users_cache.u != NULL && strcmp(users_cache.u->name, name) == 0 &&
	    now >= users_cache.at && now - users_cache.at < USERS_CACHE_NS)
		u = users_ref(users_cache.u);
	pthread_mutex_unlock(&users_cache_lock);
	if (u != NULL) {
		*out = u;
		return 0;
	}
	if ((r = users_getpwnam(name, &pw, &buf)) != 0)
		goto out;
	u = xcalloc(1, sizeof(*u));
	u->refs = 1;
	u->name = xstrdup(pw.pw_name);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	u->home = xstrdup(pw.pw_dir != NULL ? pw.pw_dir : "");
	u->shell = xstrdup(pw.pw_shell != NULL ? pw.pw_shell : "");
	if ((r = users_groups(u->name, u->gid, &u->groups, &u->ngroups)) != 0)
		goto out;
	if (strcmp(u->name, name) == 0) {
		pthread_mutex_lock(&users_cache_lock);
		users_free(users_cache.u);
		users_cache.u = users_ref(u);
		users_cache.at = now;
		pthread_mutex_unlock(&users_cache_lock);
	}
	*out = u;
	u = NULL;
	r = 0;
out:
	users_free(u);
	free(buf);
	return r;
}

void
users_free(struct user *u)
{
	if (u == NULL || __atomic_sub_fetch(&u->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(u->name);
	free(u->home);
	free(u->shell);
	free(u->groups);
	free(u);
}

char *
users_uid_name(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char *buf = NULL, *name = NULL;
	size_t size;
	int r;

	size = users_bufsize(_SC_GETPW_R_SIZE_MAX);
	for (;;) {
		buf = xreallocarray(buf, 1, size);
		r = getpwuid_r(uid, &pw, buf, size, &res);
		if (r != ERANGE || size >= USERS_BUF_MAX)
			break;
		size *= 2;
	}
	if (r == 0 && res != NULL && res->pw_name != NULL)
		name = xstrdup(res->pw_name);
	else
		name = xasprintf("%lu", (unsigned long)uid);
	free(buf);
	return name;
}

char *
users_gid_name(gid_t gid)
{
	struct group gr, *res = NULL;
	char *buf = NULL, *name = NULL;
	size_t size;
	int r;

	size = users_bufsize(_SC_GETGR_R_SIZE_MAX);
	for (;;) {
		buf = xreallocarray(buf, 1, size);
		r = getgrgid_r(gid, &gr, buf, size, &res);
		if (r != ERANGE || size >= USERS_BUF_MAX)
			break;
		size *= 2;
	}
	if (r == 0 && res != NULL && res->gr_name != NULL)
		name = xstrdup(res->gr_name);
	else
		name = xasprintf("%lu", (unsigned long)gid);
	free(buf);
	return name;
}
