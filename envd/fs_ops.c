/*
 * fs_ops.c - filesystem operations behind the Filesystem RPCs.
 *
 * The error texts copy upstream's Go wrapping ("failed to create
 * directory: mkdir /a: ...") so messages read the same; the class returned
 * beside them is what clients actually act on.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "errtext.h"
#include "fs_entry.h"
#include "fs_ops.h"
#include "fs_path.h"
#include "memtrim.h"
#include "xalloc.h"

/* Names read per batch while removing a directory, as Go does. */
#define FS_OPS_RM_BATCH	1024

/* Where a removal failed: errno, operation and display path (owned). */
struct fs_ops_rmerr {
	int err;		/* positive errno; 0 when unset */
	const char *op;		/* "unlinkat", ... (static string) */
	char *path;		/* path shown in the message, owned */
};

/* State of one ListDir walk. */
struct fs_ops_list {
	const char *requested;	/* path as the client asked for it */
	uint32_t depth;		/* deepest level listed */
	Filesystem__EntryInfo **entries;	/* results, owned */
	size_t n;		/* entries used */
	size_t cap;		/* entries allocated */
	size_t bytes;		/* fs_ops_entry_cost() of the entries */
	char *errmsg;		/* reason of the first failure, owned */
};

static void	fs_ops_set(char **errmsg, char *msg);
static char	*fs_ops_display(const char *dir, const char *name);
static void	fs_ops_rmerr_set(struct fs_ops_rmerr *e, int err,
		    const char *op, const char *dir, const char *name);
static int	fs_ops_rm_names(DIR *d, char ***namesp, size_t *np);
static int	fs_ops_rm_from(int pfd, const char *pdisp, const char *base,
		    int depth, struct fs_ops_rmerr *e);
static void	fs_ops_split(const char *path, char **dirp, char **basep);
static int	fs_ops_walk(struct fs_ops_list *l, const char *dir,
		    const char *rel, uint32_t level);
static char	*fs_ops_quote(const char *s);

/* Hand msg to *errmsg, or free it when the caller wants no message. */
static void
fs_ops_set(char **errmsg, char *msg)
{
	if (errmsg != NULL)
		*errmsg = msg;
	else
		free(msg);
}

enum fs_err
fs_ops_stat(const char *path, Filesystem__EntryInfo **out, char **errmsg)
{
	int r;

	if (errmsg != NULL)
		*errmsg = NULL;
	if ((r = fs_entry_new(path, NULL, out, errmsg)) == 0)
		return FS_OK;
	return r == -ENOENT ? FS_NOT_FOUND : FS_INTERNAL;
}

enum fs_err
fs_ops_mkdir_all(const char *path, uid_t uid, gid_t gid, int *ncreated,
    char **errmsg)
{
	char **subs = NULL, *msg = NULL, *dir;
	const char *sp;
	struct stat st;
	size_t nsubs = 0, i;
	enum fs_err ret;
	int created = 0, err;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (ncreated != NULL)
		*ncreated = 0;
	/* path, then its parents up to (not including) "/" or ".". */
	subs = xreallocarray(subs, 1, sizeof(*subs));
	subs[nsubs++] = xstrdup(path);
	for (;;) {
		dir = fs_path_dir(subs[nsubs - 1]);
		if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0 ||
		    strcmp(dir, subs[nsubs - 1]) == 0) {
			free(dir);
			break;
		}
		subs = xreallocarray(subs, nsubs + 1, sizeof(*subs));
		subs[nsubs++] = dir;
	}
	for (i = nsubs; i-- > 0;) {
		sp = subs[i];
		if (stat(sp, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				msg = xasprintf("path is a file: %s", sp);
				ret = FS_INTERNAL;
				goto out;
			}
			continue;
		}
		if (errno != ENOENT) {
			msg = xasprintf("failed to stat directory: stat %s: %s",
			    sp, errtext(errno));
			ret = FS_INTERNAL;
			goto out;
		}
		if (mkdir(sp, 0755) != 0) {
			err = errno;
			if (err != EEXIST) {
				msg = xasprintf("failed to create directory: "
				    "mkdir %s: %s", sp, errtext(err));
				ret = FS_INTERNAL;
				goto out;
			}
			/* Someone else created it meanwhile: check what. */
			if (stat(sp, &st) != 0) {
				msg = xasprintf("failed to stat directory: "
				    "stat %s: %s", sp, errtext(errno));
				ret = FS_INTERNAL;
				goto out;
			}
			if (!S_ISDIR(st.st_mode)) {
				msg = xasprintf("path is a file: %s", sp);
				ret = FS_INTERNAL;
				goto out;
			}
			continue;
		}
		created++;
		/* Not through a link someone put there since the mkdir. */
		if (fchownat(AT_FDCWD, sp, uid, gid, AT_SYMLINK_NOFOLLOW) !=
		    0) {
			msg = xasprintf("failed to chown directory: "
			    "chown %s: %s", sp, errtext(errno));
			ret = FS_INTERNAL;
			goto out;
		}
	}
	ret = FS_OK;
out:
	if (ncreated != NULL)
		*ncreated = created;
	fs_ops_set(errmsg, msg);
	for (i = 0; i < nsubs; i++)
		free(subs[i]);
	free(subs);
	return ret;
}

enum fs_err
fs_ops_make_dir(const char *path, uid_t uid, gid_t gid,
    Filesystem__EntryInfo **out, char **errmsg)
{
	struct stat st;
	char *msg = NULL;
	enum fs_err ret;

	*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			msg = xasprintf("directory already exists: %s", path);
			ret = FS_EXISTS;
		} else {
			msg = xasprintf("path already exists but it is not a "
			    "directory: %s", path);
			ret = FS_INVALID;
		}
		goto out;
	}
	if (errno != ENOENT) {
		msg = xasprintf("error getting file info: stat %s: %s", path,
		    errtext(errno));
		ret = FS_INTERNAL;
		goto out;
	}
	if ((ret = fs_ops_mkdir_all(path, uid, gid, NULL, &msg)) != FS_OK)
		goto out;
	ret = fs_ops_stat(path, out, &msg);
out:
	fs_ops_set(errmsg, msg);
	return ret;
}

enum fs_err
fs_ops_move(const char *src, const char *dst, uid_t uid, gid_t gid,
    Filesystem__EntryInfo **out, char **errmsg)
{
	char *dir = NULL, *msg = NULL, *why = NULL;
	enum fs_err ret;
	int err;

	*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	dir = fs_path_dir(dst);
	if (fs_ops_mkdir_all(dir, uid, gid, NULL, &why) != FS_OK) {
		msg = xasprintf("error ensuring directories: %s", why);
		ret = FS_INTERNAL;
		goto out;
	}
	if (rename(src, dst) != 0) {
		err = errno;
		if (err == ENOENT) {
			msg = xasprintf("source file not found: "
			    "rename %s %s: %s", src, dst, errtext(err));
			ret = FS_NOT_FOUND;
		} else {
			msg = xasprintf("error renaming: rename %s %s: %s", src,
			    dst, errtext(err));
			ret = FS_INTERNAL;
		}
		goto out;
	}
	ret = fs_ops_stat(dst, out, &msg);
out:
	fs_ops_set(errmsg, msg);
	free(why);
	free(dir);
	return ret;
}

/* "dir/name" for messages, without doubling a trailing '/' of dir. */
static char *
fs_ops_display(const char *dir, const char *name)
{
	size_t n;

	n = strlen(dir);
	if (n > 0 && dir[n - 1] == '/')
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s/%s", dir, name);
}

/* Record a removal failure in e, replacing what it held. */
static void
fs_ops_rmerr_set(struct fs_ops_rmerr *e, int err, const char *op,
    const char *dir, const char *name)
{
	free(e->path);
	e->err = err;
	e->op = op;
	e->path = fs_ops_display(dir, name);
}

/*
 * Read up to FS_OPS_RM_BATCH names (without "." and "..") from d into a
 * new array of new strings. Returns 0, or -errno of a read failure.
 */
static int
fs_ops_rm_names(DIR *d, char ***namesp, size_t *np)
{
	struct dirent *de;
	char **names;
	size_t n = 0;
	int err;

	names = xcalloc(FS_OPS_RM_BATCH, sizeof(*names));
	while (n < FS_OPS_RM_BATCH) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if ((err = errno) != 0) {
				while (n > 0)
					free(names[--n]);
				free(names);
				*namesp = NULL;
				*np = 0;
				return -err;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		names[n++] = xstrdup(de->d_name);
	}
	*namesp = names;
	*np = n;
	return 0;
}

/*
 * Remove base, a name in directory pfd shown as pdisp in messages, and
 * everything below it. This follows Go's removeAllFrom step for step:
 * try unlink; on EISDIR (or a permission error that may hide a directory)
 * empty the directory in batches, re-opening it after each productive
 * batch; then rmdir. Returns 0 or -errno with e describing the failure
 * (the first one met below, if any).
 */
static int
fs_ops_rm_from(int pfd, const char *pdisp, const char *base, int depth,
    struct fs_ops_rmerr *e)
{
	struct fs_ops_rmerr rec = { 0, NULL, NULL }, child = { 0, NULL, NULL };
	char **names = NULL, *disp = NULL;
	size_t nnames = 0, i, nresp = 0, nerr;
	DIR *d = NULL;
	int fd = -1, uerr, err, r;

	if (unlinkat(pfd, base, 0) == 0 || errno == ENOENT)
		return 0;
	uerr = errno;
	if (uerr != EISDIR && uerr != EPERM && uerr != EACCES) {
		fs_ops_rmerr_set(e, uerr, "unlinkat", pdisp, base);
		return -uerr;
	}
	disp = fs_ops_display(pdisp, base);
	for (;;) {
		if (depth >= FS_OPS_REMOVE_MAX_DEPTH) {
			fs_ops_rmerr_set(&rec, ENAMETOOLONG, "openfdat", pdisp,
			    base);
			break;
		}
		fd = openat(pfd, base, O_RDONLY | O_CLOEXEC | O_DIRECTORY |
		    O_NOFOLLOW);
		if (fd < 0) {
			err = errno;
			if (err == ENOENT) {
				r = 0;
				goto out;
			}
			if (err == ENOTDIR || err == ELOOP) {
				/* Not a directory after all. */
				fs_ops_rmerr_set(e, uerr, "unlinkat", pdisp,
				    base);
				r = -uerr;
				goto out;
			}
			fs_ops_rmerr_set(&rec, err, "openfdat", pdisp, base);
			break;
		}
		if ((d = fdopendir(fd)) == NULL) {
			fs_ops_rmerr_set(&rec, errno, "openfdat", pdisp, base);
			close(fd);
			break;
		}
		fd = -1;
		for (;;) {
			if ((r = fs_ops_rm_names(d, &names, &nnames)) != 0) {
				if (r == -ENOENT) {
					r = 0;
					goto out;
				}
				fs_ops_rmerr_set(e, -r, "readdirnames", pdisp,
				    base);
				goto out;
			}
			nresp = nnames;
			nerr = 0;
			for (i = 0; i < nnames; i++) {
				if (fs_ops_rm_from(dirfd(d), disp, names[i],
				    depth + 1, &child) == 0)
					continue;
				nerr++;
				if (rec.err == 0) {
					rec = child;
					child.path = NULL;
				}
				free(child.path);
				child.path = NULL;
				child.err = 0;
			}
			for (i = 0; i < nnames; i++)
				free(names[i]);
			free(names);
			names = NULL;
			nnames = 0;
			/* A batch where everything failed: read the next one
			 * instead of seeing the same names again. */
			if (nerr != FS_OPS_RM_BATCH)
				break;
		}
		closedir(d);
		d = NULL;
		/* Removing entries may reorder the directory, so re-open it
		 * until a short batch shows the end was reached. */
		if (nresp < FS_OPS_RM_BATCH)
			break;
	}
	if (unlinkat(pfd, base, AT_REMOVEDIR) == 0 || errno == ENOENT) {
		r = 0;
		goto out;
	}
	err = errno;
	if (rec.err != 0) {
		free(e->path);
		*e = rec;
		rec.path = NULL;
		r = -e->err;
		goto out;
	}
	fs_ops_rmerr_set(e, err, "unlinkat", pdisp, base);
	r = -err;
out:
	if (names != NULL) {
		for (i = 0; i < nnames; i++)
			free(names[i]);
		free(names);
	}
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
	free(rec.path);
	free(disp);
	return r;
}

/* Go's os splitPath: parent directory (default ".") and base name. */
static void
fs_ops_split(const char *path, char **dirp, char **basep)
{
	size_t len, i;

	while (path[0] == '/' && path[1] == '/')
		path++;
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	/* As in Go, the last byte is never taken as the separator, so "/"
	 * splits into "." and "/". */
	for (i = len - 1; i-- > 0;) {
		if (path[i] == '/') {
			*dirp = xstrndup(path, i == 0 ? 1 : i);
			*basep = xstrndup(path + i + 1, len - i - 1);
			return;
		}
	}
	*dirp = xstrdup(".");
	*basep = xstrndup(path, len);
}

enum fs_err
fs_ops_remove_all(const char *path, char **errmsg)
{
	struct fs_ops_rmerr e = { 0, NULL, NULL };
	char *dir = NULL, *base = NULL, *msg = NULL;
	enum fs_err ret;
	size_t len;
	int pfd = -1, err;

	if (errmsg != NULL)
		*errmsg = NULL;
	len = strlen(path);
	if (len == 0) {
		ret = FS_OK;
		goto out;
	}
	if (strcmp(path, ".") == 0 ||
	    (len >= 2 && path[len - 1] == '.' && path[len - 2] == '/')) {
		msg = xasprintf("error removing file or directory: RemoveAll "
		    "%s: %s", path, errtext(EINVAL));
		ret = FS_INTERNAL;
		goto out;
	}
	/* Simple case, as Go's os.Remove: a file, link or empty dir. */
	if (unlink(path) == 0) {
		ret = FS_OK;
		goto out;
	}
	err = errno;
	if (rmdir(path) == 0) {
		ret = FS_OK;
		goto out;
	}
	if (errno != ENOTDIR)
		err = errno;
	if (err == ENOENT) {
		ret = FS_OK;
		goto out;
	}
	fs_ops_split(path, &dir, &base);
	if ((pfd = open(dir, O_PATH | O_CLOEXEC)) < 0) {
		err = errno;
		if (err == ENOENT) {
			ret = FS_OK;
			goto out;
		}
		msg = xasprintf("error removing file or directory: open %s: %s",
		    dir, errtext(err));
		ret = FS_INTERNAL;
		goto out;
	}
	if (fs_ops_rm_from(pfd, dir, base, 0, &e) != 0) {
		msg = xasprintf("error removing file or directory: %s %s: %s",
		    e.op, e.path, errtext(e.err));
		ret = FS_INTERNAL;
		goto out;
	}
	ret = FS_OK;
out:
	fs_ops_set(errmsg, msg);
	if (pfd >= 0)
		close(pfd);
	free(e.path);
	free(dir);
	free(base);
	return ret;
}

/* qsort comparator: directory entries by name, bytewise. */
static int
fs_ops_dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fs_dirent *)a)->name,
	    ((const struct fs_dirent *)b)->name);
}

int
fs_ops_read_dir(const char *dir, int follow, struct fs_dirent **out,
    size_t *np, const char **opp)
{
	struct fs_dirent *ents = NULL;
	struct dirent *de;
	size_t n = 0, cap = 0;
	const char *op = "open";
	DIR *d = NULL;
	int fd, r;

	*out = NULL;
	*np = 0;
	fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY |
	    (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if ((d = fdopendir(fd)) == NULL) {
		r = -errno;
		close(fd);
		goto out;
	}
	op = "readdirent";
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				r = -errno;
				goto out;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			ents = xreallocarray(ents, cap, sizeof(*ents));
		}
		ents[n].name = xstrdup(de->d_name);
		ents[n].type = de->d_type;
		n++;
	}
	if (n > 1)
		qsort(ents, n, sizeof(*ents), fs_ops_dirent_cmp);
	*out = ents;
	*np = n;
	ents = NULL;
	n = 0;
	r = 0;
out:
	if (opp != NULL)
		*opp = op;
	fs_ops_dirents_free(ents, n);
	if (d != NULL)
		closedir(d);
	return r;
}

void
fs_ops_dirents_free(struct fs_dirent *ents, size_t n)
{
	while (n > 0)
		free(ents[--n].name);
	free(ents);
}

/*
 * List directory dir (rel is its path below the root, "" for the root),
 * whose entries are at the given level, appending to l. Returns 0, or
 * -errno with l->errmsg set.
 */
static int
fs_ops_walk(struct fs_ops_list *l, const char *dir, const char *rel,
    uint32_t level)
{
	Filesystem__EntryInfo *e = NULL;
	struct stat st;
	struct fs_dirent *names = NULL;
	char *child = NULL, *crel = NULL, *why = NULL;
	const char *op;
	size_t nnames = 0, i;
	int r;

	if ((r = fs_ops_read_dir(dir, 0, &names, &nnames, &op)) != 0) {
		/* A subdirectory that went away (or was swapped for a
		 * non-directory) is skipped like a vanished entry. */
		if (level > 1 && strcmp(op, "open") == 0 &&
		    (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)) {
			r = 0;
			goto out;
		}
		l->errmsg = xasprintf("%s %s: %s", op, dir, errtext(r));
		goto out;
	}
	for (i = 0; i < nnames; i++) {
		free(child);
		free(crel);
		child = fs_ops_display(dir, names[i].name);
		crel = *rel != '\0' ? xasprintf("%s/%s", rel, names[i].name) :
		    xstrdup(names[i].name);
		if ((r = fs_entry_new(child, &st, &e, &why)) != 0) {
			if (r == -ENOENT) {
				free(why);
				why = NULL;
				continue;
			}
			l->errmsg = why;
			why = NULL;
			goto out;
		}
		if (l->n >= FS_OPS_LIST_MAX) {
			l->errmsg = xasprintf("too many entries (more than "
			    "%d)", FS_OPS_LIST_MAX);
			r = -E2BIG;
			goto out;
		}
		free(e->path);
		e->path = fs_path_join(l->requested, crel);
		l->bytes += fs_ops_entry_cost(e);
		if (l->bytes > FS_OPS_LIST_MAX_BYTES) {
			l->errmsg = xasprintf("too many entries (more than "
			    "%d MiB)", FS_OPS_LIST_MAX_BYTES / (1024 * 1024));
			r = -E2BIG;
			goto out;
		}
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 64;
			l->entries = xreallocarray(l->entries, l->cap,
			    sizeof(*l->entries));
		}
		l->entries[l->n++] = e;
		e = NULL;
		if (S_ISDIR(st.st_mode) && level < l->depth) {
			if ((r = fs_ops_walk(l, child, crel, level + 1)) != 0)
				goto out;
		}
	}
	r = 0;
out:
	fs_entry_free(e);
	free(why);
	free(child);
	free(crel);
	fs_ops_dirents_free(names, nnames);
	return r;
}

/* Go's %q of s: a double-quoted string with Go escapes. New string. */
static char *
fs_ops_quote(const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	char *out, *w;
	size_t n, k, len;

	n = strlen(s);
	out = xmalloc(n * 4 + 3);
	w = out;
	*w++ = '"';
	for (k = 0; k < n;) {
		len = 0;
		if (p[k] >= 0x80) {
			/* Copy a well-formed UTF-8 sequence, escape a stray
			 * byte. */
			if (p[k] >= 0xc2 && p[k] <= 0xdf)
				len = 2;
			else if (p[k] >= 0xe0 && p[k] <= 0xef)
				len = 3;
			else if (p[k] >= 0xf0 && p[k] <= 0xf4)
				len = 4;
			if (len != 0 && (k + len > n ||
			    (len >= 2 && (p[k + 1] & 0xc0) != 0x80) ||
			    (len >= 3 && (p[k + 2] & 0xc0) != 0x80) ||
			    (len >= 4 && (p[k + 3] & 0xc0) != 0x80)))
				len = 0;
			if (len != 0) {
				memcpy(w, p + k, len);
				w += len;
				k += len;
				continue;
			}
			*w++ = '\\';
			*w++ = 'x';
			*w++ = hex[p[k] >> 4];
			*w++ = hex[p[k] & 0xf];
			k++;
			continue;
		}
		switch (p[k]) {
		case '"':
			*w++ = '\\';
			*w++ = '"';
			break;
		case '\\':
			*w++ = '\\';
			*w++ = '\\';
			break;
		case '\a':
			*w++ = '\\';
			*w++ = 'a';
			break;
		case '\b':
			*w++ = '\\';
			*w++ = 'b';
			break;
		case '\f':
			*w++ = '\\';
			*w++ = 'f';
			break;
		case '\n':
			*w++ = '\\';
			*w++ = 'n';
			break;
		case '\r':
			*w++ = '\\';
			*w++ = 'r';
			break;
		case '\t':
			*w++ = '\\';
			*w++ = 't';
			break;
		case '\v':
			*w++ = '\\';
			*w++ = 'v';
			break;
		default:
			if (p[k] < 0x20 || p[k] == 0x7f) {
				*w++ = '\\';
				*w++ = 'x';
				*w++ = hex[p[k] >> 4];
				*w++ = hex[p[k] & 0xf];
			} else
				*w++ = (char)p[k];
			break;
		}
		k++;
	}
	*w++ = '"';
	*w = '\0';
	return out;
}

enum fs_err
fs_ops_listdir(const char *requested, uint32_t depth,
    Filesystem__EntryInfo ***entries, size_t *n, char **errmsg)
{
	struct fs_ops_list l;
	struct stat st;
	char *real = NULL, *why = NULL, *msg = NULL, *q;
	enum fs_err ret;
	int r;

	*entries = NULL;
	*n = 0;
	if (errmsg != NULL)
		*errmsg = NULL;
	memset(&l, 0, sizeof(l));
	if ((r = fs_entry_eval_symlinks(requested, &real, &why)) != 0) {
		if (r == -ENOENT) {
			msg = xasprintf("path not found: %s", why);
			ret = FS_NOT_FOUND;
		} else if (r == -ELOOP) {
			q = fs_ops_quote(requested);
			msg = xasprintf("cyclic symlink or chain >%d links at "
			    "%s", FS_ENTRY_MAX_LINKS, q);
			free(q);
			ret = FS_PRECONDITION;
		} else {
			msg = xasprintf("error resolving symlink: %s", why);
			ret = FS_INTERNAL;
		}
		goto out;
	}
	if (stat(real, &st) != 0) {
		if (errno == ENOENT) {
			msg = xasprintf("directory not found: stat %s: %s",
			    real, errtext(ENOENT));
			ret = FS_NOT_FOUND;
		} else {
			msg = xasprintf("error getting file info: stat %s: %s",
			    real, errtext(errno));
			ret = FS_INTERNAL;
		}
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		msg = xasprintf("path is not a directory: %s", real);
		ret = FS_INVALID;
		goto out;
	}
	l.requested = requested;
	l.depth = depth == 0 ? 1 : depth;
	if (fs_ops_walk(&l, real, "", 1) != 0) {
		msg = xasprintf("error reading directory %s: %s", real,
		    l.errmsg);
		ret = FS_INTERNAL;
		goto out;
	}
	*entries = l.entries;
	*n = l.n;
	l.entries = NULL;
	l.n = 0;
	ret = FS_OK;
out:
	fs_ops_set(errmsg, msg);
	fs_ops_entries_free(l.entries, l.n);
	if (ret != FS_OK && l.bytes >= FS_OPS_LIST_TRIM_BYTES)
		memtrim_now();
	free(l.errmsg);
	free(real);
	free(why);
	return ret;
}

/* A string's share: its bytes, the NUL and malloc's overhead. */
static size_t
fs_ops_str_cost(const char *s)
{
	return s != NULL ? strlen(s) + 1 + 16 : 0;
}

size_t
fs_ops_entry_cost(const Filesystem__EntryInfo *e)
{
	size_t c, i;

	c = sizeof(*e) + 16 + sizeof(void *);	/* and its slot */
	c += fs_ops_str_cost(e->name) + fs_ops_str_cost(e->path) +
	    fs_ops_str_cost(e->permissions) + fs_ops_str_cost(e->owner) +
	    fs_ops_str_cost(e->group);
	if (e->_symlink_target_case ==
	    FILESYSTEM__ENTRY_INFO___SYMLINK_TARGET_SYMLINK_TARGET)
		c += fs_ops_str_cost(e->symlink_target);
	if (e->modified_time != NULL)
		c += sizeof(*e->modified_time) + 16;
	for (i = 0; i < e->n_metadata; i++)
		c += sizeof(*e->metadata[i]) + 16 + sizeof(void *) +
		    fs_ops_str_cost(e->metadata[i]->key) +
		    fs_ops_str_cost(e->metadata[i]->value);
	return c;
}

void
fs_ops_entries_free(Filesystem__EntryInfo **entries, size_t n)
{
	size_t i;

	if (entries == NULL)
		return;
	for (i = 0; i < n; i++)
		fs_entry_free(entries[i]);
	free(entries);
}
