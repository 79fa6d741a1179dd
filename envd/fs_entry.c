/*
 * fs_entry.c - EntryInfo messages built from the filesystem.
 *
 * The rules, including the upstream quirks (a symlink is never reported as
 * FILE_TYPE_SYMLINK, a broken link's target is its own path), are in
 * filesystem.md §2. This module does not decide how errors reach clients;
 * it only returns the errno and Go-worded text.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "errtext.h"
#include "fs_entry.h"
#include "fs_path.h"
#include "users.h"
#include "xalloc.h"

/* How long a cached owner or group name stays valid, in nanoseconds. */
#define FS_ENTRY_CACHE_NS	1000000000LL
/* Longest name kept in the cache; longer names are looked up each time. */
#define FS_ENTRY_CACHE_NAME	64
/* Attempts at reading an xattr list or value that keeps changing size. */
#define FS_ENTRY_XATTR_TRIES	8
/* Largest symlink text read; Linux itself stops at PATH_MAX. */
#define FS_ENTRY_LINK_MAX	(1024 * 1024)
/* Slots per thread for files known to have no metadata (a power of 2). */
#define FS_ENTRY_BARE_SLOTS	256
/* How old a ctime must be before it is trusted to change on the next
 * attribute change: well above the kernel's coarse clock tick. */
#define FS_ENTRY_SETTLE_NS	(100 * 1000000LL)

/*
 * One remembered id → name mapping. Each thread has its own (ListDir and
 * watch arming run on the thread pool), and the name lives inside the
 * struct so that a thread's exit leaves nothing allocated behind.
 */
struct fs_entry_cache {
	int valid;		/* entry holds a mapping */
	unsigned long id;	/* uid or gid */
	char name[FS_ENTRY_CACHE_NAME];	/* its name, NUL-terminated */
	long long at;		/* monotonic time of the lookup, ns */
};

/* A growable NUL-terminated string. */
struct fs_entry_str {
	char *s;		/* storage, owned; always NUL-terminated */
	size_t len;		/* bytes before the NUL */
	size_t cap;		/* allocated bytes */
};

/*
 * A file seen without user.e2b.* metadata, by device, inode and ctime.
 * Setting or removing an extended attribute sets the ctime, so while all
 * three match, listxattr would still find nothing and is skipped: a Stat
 * or a listing of unchanged files costs one system call less per entry.
 * Only filesystems on a block device are trusted with this (network and
 * FUSE filesystems report whatever ctime their server keeps), only ctimes
 * older than FS_ENTRY_SETTLE_NS (two changes within one tick of the
 * kernel's coarse clock share a ctime), and everything is forgotten when
 * /init sets the clock. Per thread, like the name caches.
 */
struct fs_entry_bare {
	dev_t dev;
	ino_t ino;
	struct timespec ctime;	/* zero: empty slot */
	unsigned gen;		/* fs_entry_bare_gen when stored */
};

static unsigned fs_entry_bare_gen;	/* atomic; bumped to forget all */
static __thread struct fs_entry_bare fs_entry_bare[FS_ENTRY_BARE_SLOTS];

static __thread struct fs_entry_cache fs_entry_uid_cache;
static __thread struct fs_entry_cache fs_entry_gid_cache;

static long long	fs_entry_now(void);
static char	*fs_entry_cached_name(struct fs_entry_cache *c,
		    unsigned long id, char *(*lookup)(unsigned long));
static char	*fs_entry_uid_lookup(unsigned long id);
static char	*fs_entry_gid_lookup(unsigned long id);
static Filesystem__FileType fs_entry_type(mode_t mode);
static char	*fs_entry_symlink_target(const char *path);
static int	fs_entry_utf8_valid(const char *s, size_t n);
static int	fs_entry_list_xattrs(const char *path, char **bufp,
		    size_t *lenp);
static int	fs_entry_get_xattr(const char *path, const char *name,
		    char **valp, size_t *lenp);
static int	fs_entry_meta_cmp(const void *a, const void *b);
static void	fs_entry_str_set(struct fs_entry_str *str, const char *s,
		    size_t n);
static void	fs_entry_str_add(struct fs_entry_str *str, const char *s,
		    size_t n);
static int	fs_entry_readlink(const char *path, char **out);
static struct fs_entry_bare *fs_entry_bare_slot(const struct stat *st);
static int	fs_entry_bare_known(const struct stat *st);
static void	fs_entry_bare_note(const struct stat *st,
		    const struct timespec *before);

char *
fs_entry_perm_string(mode_t mode, char *buf)
{
	static const char rwx[] = "rwxrwxrwx";
	size_t w = 0;
	int i;

	switch (mode & S_IFMT) {
	case S_IFDIR:
		buf[w++] = 'd';
		break;
	case S_IFLNK:
		buf[w++] = 'L';
		break;
	case S_IFBLK:
	case S_IFCHR:
		buf[w++] = 'D';
		break;
	case S_IFIFO:
		buf[w++] = 'p';
		break;
	case S_IFSOCK:
		buf[w++] = 'S';
		break;
	}
	if (mode & S_ISUID)
		buf[w++] = 'u';
	if (mode & S_ISGID)
		buf[w++] = 'g';
	if ((mode & S_IFMT) == S_IFCHR)
		buf[w++] = 'c';
	if (mode & S_ISVTX)
		buf[w++] = 't';
	if (w == 0)
		buf[w++] = '-';
	for (i = 0; i < 9; i++)
		buf[w++] = (mode & (1U << (8 - i))) ? rwx[i] : '-';
	buf[w] = '\0';
	return buf;
}

char *
fs_entry_errmsg(const char *path, int err)
{
	if (err == -ENOENT || err == ENOENT)
		return xasprintf("file not found: lstat %s: %s", path,
		    errtext(ENOENT));
	return xasprintf("error getting file info: lstat %s: %s", path,
	    errtext(err));
}

/* Monotonic clock in nanoseconds. */
static long long
fs_entry_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0 &&
	    clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Name for id from the cache or from lookup; returns a new string. */
static char *
fs_entry_cached_name(struct fs_entry_cache *c, unsigned long id,
    char *(*lookup)(unsigned long))
{
	long long now;
	char *name;

	now = fs_entry_now();
	if (c->valid && c->id == id && now - c->at < FS_ENTRY_CACHE_NS &&
	    now >= c->at)
		return xstrdup(c->name);
	name = lookup(id);
	c->valid = 0;
	if (strlen(name) < sizeof(c->name)) {
		memcpy(c->name, name, strlen(name) + 1);
		c->id = id;
		c->at = now;
		c->valid = 1;
	}
	return name;
}

static char *
fs_entry_uid_lookup(unsigned long id)
{
	return users_uid_name((uid_t)id);
}

static char *
fs_entry_gid_lookup(unsigned long id)
{
	return users_gid_name((gid_t)id);
}

void
fs_entry_cache_clear(void)
{
	memset(&fs_entry_uid_cache, 0, sizeof(fs_entry_uid_cache));
	memset(&fs_entry_gid_cache, 0, sizeof(fs_entry_gid_cache));
}

/* Wire type of a non-symlink mode. */
static Filesystem__FileType
fs_entry_type(mode_t mode)
{
	if (S_ISREG(mode))
		return FILESYSTEM__FILE_TYPE__FILE_TYPE_FILE;
	if (S_ISDIR(mode))
		return FILESYSTEM__FILE_TYPE__FILE_TYPE_DIRECTORY;
	return FILESYSTEM__FILE_TYPE__FILE_TYPE_UNSPECIFIED;
}

/*
 * The canonical absolute target of the symlink path, or a copy of path when
 * it cannot be resolved. Returns a new string.
 */
static char *
fs_entry_symlink_target(const char *path)
{
	char *resolved = NULL, *cwd = NULL, *abs = NULL;

	if (fs_entry_eval_symlinks(path, &resolved, NULL) != 0)
		return xstrdup(path);
	if (resolved[0] == '/')
		return resolved;
	if ((cwd = getcwd(NULL, 0)) == NULL)
		abs = xstrdup(path);
	else
		abs = fs_path_join(cwd, resolved);
	free(cwd);
	free(resolved);
	return abs;
}

int
fs_entry_new(const char *path, struct stat *lst, Filesystem__EntryInfo **out,
    char **errmsg)
{
	Filesystem__EntryInfo *e = NULL;
	Google__Protobuf__Timestamp *ts;
	struct stat st, tst;
	struct timespec before;
	char perm[FS_ENTRY_PERM_MAX];
	int r;

	*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (lstat(path, &st) != 0) {
		r = -errno;
		if (errmsg != NULL)
			*errmsg = fs_entry_errmsg(path, r);
		goto out;
	}
	e = xmalloc(sizeof(*e));
	filesystem__entry_info__init(e);
	e->name = fs_path_base(path);
	e->path = xstrdup(path);
	e->size = (int64_t)st.st_size;
	e->permissions = xstrdup(fs_entry_perm_string(st.st_mode, perm));
	e->owner = fs_entry_cached_name(&fs_entry_uid_cache,
	    (unsigned long)st.st_uid, fs_entry_uid_lookup);
	e->group = fs_entry_cached_name(&fs_entry_gid_cache,
	    (unsigned long)st.st_gid, fs_entry_gid_lookup);
	if (st.st_mtim.tv_sec != 0 || st.st_mtim.tv_nsec != 0) {
		ts = xmalloc(sizeof(*ts));
		google__protobuf__timestamp__init(ts);
		ts->seconds = (int64_t)st.st_mtim.tv_sec;
		ts->nanos = (int32_t)st.st_mtim.tv_nsec;
		e->modified_time = ts;
	}
	if (S_ISLNK(st.st_mode)) {
		e->_symlink_target_case =
		    FILESYSTEM__ENTRY_INFO___SYMLINK_TARGET_SYMLINK_TARGET;
		e->symlink_target = fs_entry_symlink_target(path);
		e->is_symlink = 1;	/* exactly "symlink_target is set" */
		if (stat(e->symlink_target, &tst) == 0) {
			e->type = fs_entry_type(tst.st_mode);
			e->mode = (uint32_t)(tst.st_mode & 0777);
		} else {
			e->type = FILESYSTEM__FILE_TYPE__FILE_TYPE_UNSPECIFIED;
			e->mode = 0;
		}
	} else {
		e->type = fs_entry_type(st.st_mode);
		e->mode = (uint32_t)(st.st_mode & 0777);
	}
	if (S_ISLNK(st.st_mode) || !fs_entry_bare_known(&st)) {
		/* The clock is read before the attributes: a ctime is
		 * settled only if it was old when they were read. */
		if (clock_gettime(CLOCK_REALTIME, &before) != 0)
			before.tv_sec = 0;
		r = fs_entry_read_metadata(path, &e->metadata, &e->n_metadata);
		if (r == 0 && e->n_metadata == 0 && !S_ISLNK(st.st_mode))
			fs_entry_bare_note(&st, &before);
	}
	if (lst != NULL)
		*lst = st;
	*out = e;
	e = NULL;
	r = 0;
out:
	fs_entry_free(e);
	return r;
}

void
fs_entry_forget_bare(void)
{
	__atomic_add_fetch(&fs_entry_bare_gen, 1, __ATOMIC_RELAXED);
}

/* The slot st would occupy. */
static struct fs_entry_bare *
fs_entry_bare_slot(const struct stat *st)
{
	uint64_t h;

	h = ((uint64_t)st->st_ino ^ ((uint64_t)st->st_dev << 32)) *
	    0x9e3779b97f4a7c15ULL;
	return &fs_entry_bare[h >> 56 & (FS_ENTRY_BARE_SLOTS - 1)];
}

/* Whether st is a file already seen, unchanged, without metadata. */
static int
fs_entry_bare_known(const struct stat *st)
{
	const struct fs_entry_bare *b = fs_entry_bare_slot(st);

	return b->ctime.tv_nsec == st->st_ctim.tv_nsec &&
	    b->ctime.tv_sec == st->st_ctim.tv_sec && b->ino == st->st_ino &&
	    b->dev == st->st_dev && b->gen ==
	    __atomic_load_n(&fs_entry_bare_gen, __ATOMIC_RELAXED) &&
	    (b->ctime.tv_sec != 0 || b->ctime.tv_nsec != 0);
}

/*
 * Remember that st has no metadata, if its filesystem allows and its ctime
 * was settled at before, the time its attributes started to be read.
 */
static void
fs_entry_bare_note(const struct stat *st, const struct timespec *before)
{
	struct fs_entry_bare *b;
	long long age;

	if (major(st->st_dev) == 0 || before->tv_sec == 0)
		return;
	age = (long long)(before->tv_sec - st->st_ctim.tv_sec) *
	    1000000000LL + (before->tv_nsec - st->st_ctim.tv_nsec);
	if (age < FS_ENTRY_SETTLE_NS)
		return;
	b = fs_entry_bare_slot(st);
	b->dev = st->st_dev;
	b->ino = st->st_ino;
	b->ctime = st->st_ctim;
	b->gen = __atomic_load_n(&fs_entry_bare_gen, __ATOMIC_RELAXED);
}

void
fs_entry_free(Filesystem__EntryInfo *e)
{
	if (e == NULL)
		return;
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

/* Whether s[0..n) is valid UTF-8 by Go's rules (no surrogates or
 * overlong forms, nothing above U+10FFFF). */
static int
fs_entry_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, need, k;
	unsigned char lo, hi;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		lo = 0x80;
		hi = 0xbf;
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			need = 1;
		else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			need = 2;
			if (p[i] == 0xe0)
				lo = 0xa0;
			else if (p[i] == 0xed)
				hi = 0x9f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			need = 3;
			if (p[i] == 0xf0)
				lo = 0x90;
			else if (p[i] == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (n - i - 1 < need)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (k = 2; k <= need; k++) {
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return 0;
		}
		i += need + 1;
	}
	return 1;
}

/*
 * The NUL-separated xattr name list of path (following symlinks). Returns
 * 0 with *bufp (caller frees, NULL when empty) and its length, or -errno.
 */
static int
fs_entry_list_xattrs(const char *path, char **bufp, size_t *lenp)
{
	char *buf = NULL;
	ssize_t size, n;
	int tries, r;

	*bufp = NULL;
	*lenp = 0;
	for (tries = 0; tries < FS_ENTRY_XATTR_TRIES; tries++) {
		if ((size = listxattr(path, NULL, 0)) < 0) {
			r = -errno;
			goto out;
		}
		if (size == 0) {
			r = 0;
			goto out;
		}
		buf = xreallocarray(buf, 1, (size_t)size);
		if ((n = listxattr(path, buf, (size_t)size)) >= 0) {
			*bufp = buf;
			*lenp = (size_t)n;
			buf = NULL;
			r = 0;
			goto out;
		}
		if (errno != ERANGE) {
			r = -errno;
			goto out;
		}
	}
	r = -ERANGE;
out:
	free(buf);
	return r;
}

/*
 * The value of xattr name on path (following symlinks), NUL-terminated.
 * Returns 0 with *valp (caller frees) and its length, or -errno.
 */
static int
fs_entry_get_xattr(const char *path, const char *name, char **valp,
    size_t *lenp)
{
	char *val = NULL;
	ssize_t size, n;
	int tries, r;

	*valp = NULL;
	*lenp = 0;
	for (tries = 0; tries < FS_ENTRY_XATTR_TRIES; tries++) {
		if ((size = getxattr(path, name, NULL, 0)) < 0) {
			r = -errno;
			goto out;
		}
		val = xreallocarray(val, 1, (size_t)size + 1);
		if ((n = getxattr(path, name, val, (size_t)size)) >= 0) {
			val[n] = '\0';
			*valp = val;
			*lenp = (size_t)n;
			val = NULL;
			r = 0;
			goto out;
		}
		if (errno != ERANGE) {
			r = -errno;
			goto out;
		}
	}
	r = -ERANGE;
out:
	free(val);
	return r;
}

/* qsort comparator: metadata entries by key, bytewise. */
static int
fs_entry_meta_cmp(const void *a, const void *b)
{
	const Filesystem__EntryInfo__MetadataEntry *ea, *eb;

	ea = *(Filesystem__EntryInfo__MetadataEntry *const *)a;
	eb = *(Filesystem__EntryInfo__MetadataEntry *const *)b;
	return strcmp(ea->key, eb->key);
}

int
fs_entry_read_metadata(const char *path,
    Filesystem__EntryInfo__MetadataEntry ***out, size_t *n)
{
	Filesystem__EntryInfo__MetadataEntry **ents = NULL, *ent;
	const size_t plen = sizeof(FS_ENTRY_XATTR_PREFIX) - 1;
	char *names = NULL, *val = NULL;
	const char *name, *key;
	size_t len, off, vlen, nents = 0, i;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = fs_entry_list_xattrs(path, &names, &len)) != 0)
		goto out;
	for (off = 0; off < len; off += strnlen(names + off, len - off) + 1) {
		name = names + off;
		if (strnlen(name, len - off) == len - off)
			break;		/* unterminated tail */
		if (strncmp(name, FS_ENTRY_XATTR_PREFIX, plen) != 0)
			continue;
		key = name + plen;
		if (!fs_entry_utf8_valid(key, strlen(key)))
			continue;
		free(val);
		val = NULL;
		if ((r = fs_entry_get_xattr(path, name, &val, &vlen)) != 0) {
			if (r == -ENODATA)
				continue;
			goto out;
		}
		if (memchr(val, '\0', vlen) != NULL ||
		    !fs_entry_utf8_valid(val, vlen))
			continue;
		ent = xmalloc(sizeof(*ent));
		filesystem__entry_info__metadata_entry__init(ent);
		ent->key = xstrdup(key);
		ent->value = val;
		val = NULL;
		ents = xreallocarray(ents, nents + 1, sizeof(*ents));
		ents[nents++] = ent;
	}
	if (nents > 1)
		qsort(ents, nents, sizeof(*ents), fs_entry_meta_cmp);
	*out = ents;
	*n = nents;
	ents = NULL;
	nents = 0;
	r = 0;
out:
	for (i = 0; i < nents; i++)
		protobuf_c_message_free_unpacked(&ents[i]->base, NULL);
	free(ents);
	free(names);
	free(val);
	return r;
}

/* Replace the contents of str with s[0..n). */
static void
fs_entry_str_set(struct fs_entry_str *str, const char *s, size_t n)
{
	str->len = 0;
	fs_entry_str_add(str, s, n);
}

/* Append s[0..n) to str. */
static void
fs_entry_str_add(struct fs_entry_str *str, const char *s, size_t n)
{
	size_t cap;

	if (str->len + n + 1 > str->cap) {
		cap = str->cap ? str->cap : 64;
		while (cap < str->len + n + 1)
			cap *= 2;
		str->s = xreallocarray(str->s, 1, cap);
		str->cap = cap;
	}
	memcpy(str->s + str->len, s, n);
	str->len += n;
	str->s[str->len] = '\0';
}

/* readlink into a new NUL-terminated string. Returns 0 or -errno. */
static int
fs_entry_readlink(const char *path, char **out)
{
	char *buf = NULL;
	size_t size = 256;
	ssize_t n;
	int r;

	*out = NULL;
	for (;;) {
		buf = xreallocarray(buf, 1, size);
		if ((n = readlink(path, buf, size)) < 0) {
			r = -errno;
			goto out;
		}
		if ((size_t)n < size)
			break;
		if (size >= FS_ENTRY_LINK_MAX) {
			r = -ENAMETOOLONG;
			goto out;
		}
		size *= 2;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	return r;
}

/*
 * Walk path one component at a time, keeping in dest the resolved prefix.
 * The steps (including keeping ".." that cannot be applied lexically yet)
 * mirror Go's walkSymlinks so that results and error texts agree.
 */
int
fs_entry_eval_symlinks(const char *path, char **out, char **errmsg)
{
	struct fs_entry_str dest = { NULL, 0, 0 };
	struct stat st;
	char *p = NULL, *link = NULL, *np;
	size_t plen, start, end, vollen, llen;
	ssize_t ri;
	int links = 0, r;

	*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	p = xstrdup(path);
	plen = strlen(p);
	vollen = (plen > 0 && p[0] == '/') ? 1 : 0;
	fs_entry_str_set(&dest, "/", vollen);
	for (start = end = vollen; start < plen; start = end) {
		while (start < plen && p[start] == '/')
			start++;
		end = start;
		while (end < plen && p[end] != '/')
			end++;
		if (end == start)
			break;
		if (end - start == 1 && p[start] == '.')
			continue;
		if (end - start == 2 && p[start] == '.' &&
		    p[start + 1] == '.') {
			for (ri = (ssize_t)dest.len - 1; ri >= (ssize_t)vollen;
			    ri--) {
				if (dest.s[ri] == '/')
					break;
			}
			if (ri < (ssize_t)vollen ||
			    strcmp(dest.s + ri + 1, "..") == 0) {
				if (dest.len > vollen)
					fs_entry_str_add(&dest, "/", 1);
				fs_entry_str_add(&dest, "..", 2);
			} else {
				dest.len = (size_t)ri;
				dest.s[dest.len] = '\0';
			}
			continue;
		}
		if (dest.len > 0 && dest.s[dest.len - 1] != '/')
			fs_entry_str_add(&dest, "/", 1);
		fs_entry_str_add(&dest, p + start, end - start);
		if (lstat(dest.s, &st) != 0) {
			r = -errno;
			if (errmsg != NULL)
				*errmsg = xasprintf("lstat %s: %s", dest.s,
				    errtext(r));
			goto out;
		}
		if (!S_ISLNK(st.st_mode)) {
			if (!S_ISDIR(st.st_mode) && end < plen) {
				r = -ENOTDIR;
				if (errmsg != NULL)
					*errmsg = xstrdup(errtext(ENOTDIR));
				goto out;
			}
			continue;
		}
		if (++links > FS_ENTRY_MAX_LINKS) {
			r = -ELOOP;
			if (errmsg != NULL)
				*errmsg = xstrdup("EvalSymlinks: too many "
				    "links");
			goto out;
		}
		if ((r = fs_entry_readlink(dest.s, &link)) != 0) {
			if (errmsg != NULL)
				*errmsg = xasprintf("readlink %s: %s", dest.s,
				    errtext(r));
			goto out;
		}
		llen = strlen(link);
		np = xmalloc(llen + (plen - end) + 1);
		memcpy(np, link, llen);
		memcpy(np + llen, p + end, plen - end + 1);
		free(p);
		p = np;
		plen = llen + (plen - end);
		if (link[0] == '/') {
			/* Absolute target: start again from the root. */
			fs_entry_str_set(&dest, "/", 1);
			end = 1;
			vollen = 1;
		} else {
			/* Relative target: replace the link's own element. */
			for (ri = (ssize_t)dest.len - 1; ri >= (ssize_t)vollen;
			    ri--) {
				if (dest.s[ri] == '/')
					break;
			}
			if (ri < (ssize_t)vollen)
				fs_entry_str_set(&dest, "/", vollen);
			else {
				dest.len = (size_t)ri;
				dest.s[dest.len] = '\0';
			}
			end = 0;
		}
		free(link);
		link = NULL;
	}
	*out = fs_path_clean(dest.s);
	r = 0;
out:
	free(dest.s);
	free(link);
	free(p);
	return r;
}
