/*
 * users.c - passwd and group lookups for the per-request user.
 *
 * Lookups read the account files themselves, /etc/passwd and /etc/group,
 * with libc's file parsers (fgetpwent_r, fgetgrent_r), as upstream's Go
 * daemon (built without cgo) does: no NSS module is loaded, so a daemon
 * linked statically looks users up as well as a dynamic one, and other
 * NSS sources (LDAP, systemd's dynamic users) are not consulted, as
 * upstream does not. Entries whose name is empty or starts with '+' or
 * '-' (NIS compatibility lines) are skipped, as Go skips them. The last
 * account found is handed out again for up to a second: the default user
 * is looked up for nearly every request, and reading and parsing the
 * account files each time dominated the cost of small RPCs. Only that one
 * name is cached, so an account created after startup is found at once;
 * changes to the cached account show within a second. Privilege changes
 * in a child process are not this module's business.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "users.h"
#include "xalloc.h"

/* Upper bound for an entry's scratch buffer; a larger entry is an error. */
#define USERS_BUF_MAX	(1024 * 1024)
#define USERS_BUF_MIN	1024
/* Upper bound on the group list; Linux allows 65536 supplementary groups. */
#define USERS_NGROUPS_MAX	(65536 + 1)

/* How long the cached account may be reused, in nanoseconds. */
#define USERS_CACHE_NS	1000000000LL

/* The last successful lookup. */
struct users_cache {
	struct user *u;			/* copy; owned; NULL when empty */
	long long at;			/* monotonic time it was made, ns */
};

/* What users_pw_find() and users_gr_next() look for. */
struct users_key {
	const char *name;		/* NULL: by id */
	unsigned long id;
};

static pthread_mutex_t users_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct users_cache users_cache;	/* under users_cache_lock */
static const char *users_passwd = "/etc/passwd";
static const char *users_group = "/etc/group";

static struct user *users_ref(struct user *u);
static long long users_now(void);
static int	users_skip(const char *name);
static int	users_pw_find(const struct users_key *k, struct passwd *pw,
		    char **bufp);
static int	users_gr_next(FILE *f, struct group *gr, char **bufp,
		    size_t *sizep);
static int	users_groups(const char *name, gid_t gid, gid_t **groupsp,
		    int *ngroupsp);

void
users_set_files(const char *passwd, const char *group)
{
	users_passwd = passwd != NULL ? passwd : "/etc/passwd";
	users_group = group != NULL ? group : "/etc/group";
	users_cache_clear();
}

/* Entries Go's parser skips: no name, or a NIS "+" / "-" line. */
static int
users_skip(const char *name)
{
	return name == NULL || name[0] == '\0' || name[0] == '+' ||
	    name[0] == '-';
}

/*
 * The first passwd entry with k's name (or uid) into *pw; *bufp holds the
 * storage pw points into (caller frees). The buffer grows on ERANGE, which
 * leaves the stream at the start of the long line. Returns 0, -ENOENT when
 * there is none, or another -errno.
 */
static int
users_pw_find(const struct users_key *k, struct passwd *pw, char **bufp)
{
	struct passwd *res;
	char *buf = NULL;
	size_t size = USERS_BUF_MIN;
	FILE *f;
	int r;

	*bufp = NULL;
	if ((f = fopen(users_passwd, "re")) == NULL)
		return -errno;
	buf = xmalloc(size);
	for (;;) {
		res = NULL;
		r = fgetpwent_r(f, pw, buf, size, &res);
		if (r == ERANGE) {
			if (size >= USERS_BUF_MAX) {
				r = -ERANGE;
				break;
			}
			size *= 2;
			buf = xreallocarray(buf, 1, size);
			continue;
		}
		if (r != 0 || res == NULL) {
			r = r == ENOENT || r == 0 ? -ENOENT : -r;
			break;
		}
		if (users_skip(pw->pw_name))
			continue;
		if (k->name != NULL ? strcmp(pw->pw_name, k->name) == 0 :
		    pw->pw_uid == (uid_t)k->id) {
			*bufp = buf;
			buf = NULL;
			r = 0;
			break;
		}
	}
	fclose(f);
	free(buf);
	return r;
}

/*
 * The next group entry of f into *gr, in *bufp (grown as needed, size in
 * *sizep; caller frees). Returns 0, -ENOENT at the end, or another -errno.
 */
static int
users_gr_next(FILE *f, struct group *gr, char **bufp, size_t *sizep)
{
	struct group *res;
	int r;

	for (;;) {
		if (*bufp == NULL) {
			*sizep = USERS_BUF_MIN;
			*bufp = xmalloc(*sizep);
		}
		res = NULL;
		r = fgetgrent_r(f, gr, *bufp, *sizep, &res);
		if (r == ERANGE) {
			if (*sizep >= USERS_BUF_MAX)
				return -ERANGE;
			*sizep *= 2;
			*bufp = xreallocarray(*bufp, 1, *sizep);
			continue;
		}
		if (r != 0 || res == NULL)
			return r == ENOENT || r == 0 ? -ENOENT : -r;
		if (!users_skip(gr->gr_name))
			return 0;
	}
}

/*
 * The group list of name: gid first, then every group that lists name as
 * a member, once each, in file order. Returns 0 and hands *groupsp (caller
 * frees) and its length, or -errno.
 */
static int
users_groups(const char *name, gid_t gid, gid_t **groupsp, int *ngroupsp)
{
	struct group gr;
	gid_t *groups;
	char *buf = NULL, **m;
	size_t size = 0;
	FILE *f;
	int n = 1, cap = 16, i, r;

	*groupsp = NULL;
	*ngroupsp = 0;
	groups = xreallocarray(NULL, (size_t)cap, sizeof(*groups));
	groups[0] = gid;
	if ((f = fopen(users_group, "re")) == NULL) {
		/* No group file: the primary group alone, as Go has it. */
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	while ((r = users_gr_next(f, &gr, &buf, &size)) == 0) {
		for (m = gr.gr_mem; m != NULL && *m != NULL; m++)
			if (strcmp(*m, name) == 0)
				break;
		if (m == NULL || *m == NULL)
			continue;
		for (i = 0; i < n && groups[i] != gr.gr_gid; i++)
			;
		if (i < n)
			continue;
		if (n == USERS_NGROUPS_MAX) {
			r = -ERANGE;
			break;
		}
		if (n == cap) {
			cap *= 2;
			groups = xreallocarray(groups, (size_t)cap,
			    sizeof(*groups));
		}
		groups[n++] = gr.gr_gid;
	}
	fclose(f);
	if (r == -ENOENT)
		r = 0;
out:
	free(buf);
	if (r != 0) {
		free(groups);
		return r;
	}
	*groupsp = groups;
	*ngroupsp = n;
	return 0;
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
	struct users_key k = { name, 0 };
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
	if ((r = users_pw_find(&k, &pw, &buf)) != 0)
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
	struct users_key k = { NULL, uid };
	struct passwd pw;
	char *buf = NULL, *name;

	if (users_pw_find(&k, &pw, &buf) == 0)
		name = xstrdup(pw.pw_name);
	else
		name = xasprintf("%lu", (unsigned long)uid);
	free(buf);
	return name;
}

char *
users_gid_name(gid_t gid)
{
	struct group gr;
	char *buf = NULL, *name = NULL;
	size_t size = 0;
	FILE *f;

	if ((f = fopen(users_group, "re")) != NULL) {
		while (users_gr_next(f, &gr, &buf, &size) == 0)
			if (gr.gr_gid == gid) {
				name = xstrdup(gr.gr_name);
				break;
			}
		fclose(f);
	}
	if (name == NULL)
		name = xasprintf("%lu", (unsigned long)gid);
	free(buf);
	return name;
}
