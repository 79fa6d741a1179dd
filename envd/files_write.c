/*
 * files_write.c - one uploaded file: temporary file, batched writes,
 * metadata, rename into place.
 *
 * Rationale for the details (contracts are in files_write.h):
 *  - The temporary file lives in the target's own directory because a
 *    rename is only atomic within one filesystem.
 *  - The ftruncate() after the rename exists for watchers: inotify turns
 *    a size change into IN_MODIFY on the file's current name, so a
 *    WatchDir client sees "write <name>" as it would for a file written
 *    in place, which is what the SDKs wait for after an overwrite.
 *  - Kernel filesystems (proc, sysfs, ...) and device nodes only make
 *    sense written in place; O_NONBLOCK keeps a FIFO or a slow device
 *    from blocking the loop (the write fails with EAGAIN instead).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>

#include "errtext.h"
#include "fdres.h"
#include "fs_ops.h"
#include "fs_path.h"
#include "files_write.h"
#include "log.h"
#include "xalloc.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

/* Prefix of metadata attributes. */
#define FILES_WRITE_META_PREFIX "user.e2b."
/* Largest attribute name list or value copied from the old file. */
#define FILES_WRITE_XATTR_MAX (64 * 1024)
/* Attempts at a fresh temporary name. */
#define FILES_WRITE_TEMP_TRIES 16
/* Random bytes in a temporary name. */
#define FILES_WRITE_TEMP_RND 8
/* Resolutions of the target before a link swapped in there is ELOOP. */
#define FILES_WRITE_PIN_TRIES 8

struct files_write {
	char *path;		/* target as requested, for messages; owned */
	char *target;		/* symlinks resolved; owned */
	char *tmp;		/* temporary file, NULL when in place; owned */
	char *tbase;		/* base name of target; owned */
	char *tmpbase;		/* base name within tmp, NULL when in place */
	int dfd;		/* target's directory (O_PATH), -1 if none */
	int fd;			/* -1 once closed */
	int inplace;		/* writing the target itself */
	int committed;		/* renamed into place (or in place and done) */
	int failed;		/* a write failed; only free is allowed */
	uint64_t size;		/* bytes accepted */
	uint8_t *batch;		/* FILES_WRITE_BATCH bytes (mmap), lazily */
	size_t blen;		/* bytes in batch */
};

static int	files_write_special_fs(int);
static void	files_write_copy_xattrs(int, int);
static int	files_write_pin(struct files_write *, struct stat *,
		    const char **);
static enum files_write_err files_write_out(struct files_write *,
		    const uint8_t *, size_t, char **);
static enum files_write_err files_write_flush(struct files_write *,
		    char **);
static enum files_write_err files_write_meta(struct files_write *,
		    const char *const *, const char *const *, size_t,
		    char **);
static enum files_write_err files_write_meta_err(struct files_write *,
		    const char *, const char *, int, char **);

void *
files_write_buf_new(size_t len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		fatal("out of memory (mmap of %zu bytes)", len);
	return p;
}

void
files_write_buf_free(void *p, size_t len)
{
	if (p != NULL)
		munmap(p, len);
}

char *
files_write_temp_name(const char *dir, const char *base, const uint8_t *rnd,
    size_t rndlen)
{
	static const char hex[] = "0123456789abcdef";
	char *hexs, *name;
	size_t blen, i;

	blen = strlen(base);
	if (blen > FILES_WRITE_TEMP_NAME_MAX)
		blen = FILES_WRITE_TEMP_NAME_MAX;
	hexs = xmalloc(rndlen * 2 + 1);
	for (i = 0; i < rndlen; i++) {
		hexs[2 * i] = hex[rnd[i] >> 4];
		hexs[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	hexs[rndlen * 2] = '\0';
	name = xasprintf("%s%s.%.*s.envd-upload.%s", dir,
	    dir[0] != '\0' && dir[strlen(dir) - 1] == '/' ? "" : "/",
	    (int)blen, base, hexs);
	free(hexs);
	return name;
}

int
files_write_resolve(const char *path, char **out)
{
	struct stat st;
	char *cur, *link = NULL, *dir, *next;
	ssize_t n;
	size_t cap;
	int hops, r;

	*out = NULL;
	cur = xstrdup(path);
	for (hops = 0;; hops++) {
		if (lstat(cur, &st) != 0) {
			if (errno == ENOENT)
				break;	/* a new file, or a dangling link */
			r = -errno;
			goto out;
		}
		if (!S_ISLNK(st.st_mode))
			break;
		if (hops >= FILES_WRITE_MAX_LINKS) {
			r = -ELOOP;
			goto out;
		}
		cap = st.st_size > 0 && st.st_size < 65536 ?
		    (size_t)st.st_size + 1 : 4097;
		link = xmalloc(cap);
		if ((n = readlink(cur, link, cap)) < 0) {
			r = -errno;
			goto out;
		}
		if ((size_t)n >= cap) {
			r = -ENAMETOOLONG;
			goto out;
		}
		link[n] = '\0';
		if (link[0] == '/') {
			next = xstrdup(link);
		} else {
			dir = fs_path_dir(cur);
			next = fs_path_join(dir, link);
			free(dir);
		}
		free(link);
		link = NULL;
		free(cur);
		cur = next;
	}
	*out = cur;
	cur = NULL;
	r = 0;
out:
	free(cur);
	free(link);
	return r;
}

/* Whether dfd is on a kernel filesystem whose files are written in place. */
static int
files_write_special_fs(int dfd)
{
	struct statfs sf;

	if (fstatfs(dfd, &sf) != 0)
		return 0;
	switch ((unsigned long)sf.f_type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
		return 1;
	}
	return 0;
}

/* Copy the attributes a replaced file should keep from the open file
 * src to fd. */
static void
files_write_copy_xattrs(int src, int fd)
{
	char *names = NULL, *val = NULL;
	const char *name;
	ssize_t len, vlen;
	size_t off;

	if ((len = flistxattr(src, NULL, 0)) <= 0 ||
	    len > FILES_WRITE_XATTR_MAX)
		return;
	names = xmalloc((size_t)len);
	if ((len = flistxattr(src, names, (size_t)len)) <= 0)
		goto out;
	for (off = 0; off < (size_t)len; off += strnlen(name,
	    (size_t)len - off) + 1) {
		name = names + off;
		if (strnlen(name, (size_t)len - off) == (size_t)len - off)
			break;
		if (strncmp(name, FILES_WRITE_META_PREFIX,
		    sizeof(FILES_WRITE_META_PREFIX) - 1) == 0)
			continue;
		if (strncmp(name, "user.", 5) != 0 &&
		    strncmp(name, "trusted.", 8) != 0 &&
		    strcmp(name, "system.posix_acl_access") != 0)
			continue;
		if ((vlen = fgetxattr(src, name, NULL, 0)) < 0 ||
		    vlen > FILES_WRITE_XATTR_MAX)
			continue;
		free(val);
		val = xmalloc((size_t)vlen + 1);
		if ((vlen = fgetxattr(src, name, val, (size_t)vlen)) < 0)
			continue;
		(void)fsetxattr(fd, name, val, (size_t)vlen, 0);
	}
out:
	free(names);
	free(val);
}

/*
 * Resolve w->path to w->target and open the target's directory as w->dfd,
 * then look at the target through it without following a link. A link
 * that appears at the target in between (someone swapped it) means
 * resolving again, a bounded number of times. Returns 1 with *st set when
 * the target exists, 0 when it does not, or -errno (*op says which call).
 */
static int
files_write_pin(struct files_write *w, struct stat *st, const char **op)
{
	char *tdir;
	int i, r;

	for (i = 0; i < FILES_WRITE_PIN_TRIES; i++) {
		free(w->target);
		free(w->tbase);
		w->target = w->tbase = NULL;
		if (w->dfd >= 0)
			close(w->dfd);
		w->dfd = -1;
		*op = "open";
		if ((r = files_write_resolve(w->path, &w->target)) != 0)
			return r;
		tdir = fs_path_dir(w->target);
		w->tbase = fs_path_base(w->target);
		w->dfd = fdres_openat(AT_FDCWD, tdir,
		    O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
		r = -errno;
		free(tdir);
		if (w->dfd < 0)
			return r;
		*op = "stat";
		if (fstatat(w->dfd, w->tbase, st, AT_SYMLINK_NOFOLLOW) != 0)
			return errno == ENOENT ? 0 : -errno;
		if (!S_ISLNK(st->st_mode))
			return 1;
	}
	*op = "open";
	return -ELOOP;
}

enum files_write_err
files_write_open(const char *path, uid_t uid, gid_t gid,
    struct files_write **out, char **errmsg)
{
	struct files_write *w;
	struct stat st, sst;
	uint8_t rnd[FILES_WRITE_TEMP_RND];
	char *dir = NULL, *tdir = NULL, *msg = NULL;
	const char *op;
	enum files_write_err ret;
	int exists = 0, err, i, r, src;

	*out = NULL;
	*errmsg = NULL;
	w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	w->dfd = -1;
	w->path = xstrdup(path);

	dir = fs_path_dir(path);
	if (fs_ops_mkdir_all(dir, uid, gid, NULL, &msg) != FS_OK) {
		*errmsg = xasprintf("error ensuring directories: %s", msg);
		ret = FILES_WRITE_INTERNAL;
		goto out;
	}
	/* The path as given first, for upstream's messages. */
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			*errmsg = xasprintf("path is a directory: %s", path);
			ret = FILES_WRITE_INVALID;
			goto out;
		}
	} else if (errno != ENOENT) {
		*errmsg = xasprintf("error getting file info: stat %s: %s",
		    path, errtext(errno));
		ret = FILES_WRITE_INTERNAL;
		goto out;
	}
	/* From here on only names relative to the directory held open. */
	if ((r = files_write_pin(w, &st, &op)) < 0) {
		if (strcmp(op, "stat") == 0)
			*errmsg = xasprintf("error getting file info: stat %s: "
			    "%s", path, errtext(r));
		else
			*errmsg = xasprintf("error opening file: open %s: %s",
			    path, errtext(r));
		ret = FILES_WRITE_INTERNAL;
		goto out;
	}
	exists = r;
	if (exists && S_ISDIR(st.st_mode)) {
		*errmsg = xasprintf("path is a directory: %s", path);
		ret = FILES_WRITE_INVALID;
		goto out;
	}
	tdir = fs_path_dir(w->target);
	w->inplace = (exists && !S_ISREG(st.st_mode)) ||
	    files_write_special_fs(w->dfd);

	if (w->inplace) {
		w->fd = fdres_openat(w->dfd, w->tbase, O_WRONLY | O_CREAT |
		    O_TRUNC | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0666);
		err = errno;
	} else {
		err = EEXIST;
		for (i = 0; i < FILES_WRITE_TEMP_TRIES && err == EEXIST;
		    i++) {
			randombytes_buf(rnd, sizeof(rnd));
			free(w->tmp);
			w->tmp = files_write_temp_name(tdir, w->tbase, rnd,
			    sizeof(rnd));
			w->tmpbase = strrchr(w->tmp, '/') + 1;
			w->fd = fdres_openat(w->dfd, w->tmpbase, O_WRONLY |
			    O_CREAT | O_EXCL | O_CLOEXEC, 0666);
			err = w->fd < 0 ? errno : 0;
		}
		if (w->fd < 0) {
			free(w->tmp);
			w->tmp = NULL;
			w->tmpbase = NULL;
		}
	}
	if (w->fd < 0) {
		if (err == ENOSPC || err == EDQUOT) {
			*errmsg = xasprintf("not enough inodes available: "
			    "open %s: %s", path, errtext(err));
			ret = FILES_WRITE_NOSPACE;
		} else {
			*errmsg = xasprintf("error opening file: open %s: %s",
			    path, errtext(err));
			ret = FILES_WRITE_INTERNAL;
		}
		goto out;
	}
	if (!w->inplace) {
		if (fchown(w->fd, uid, gid) != 0) {
			*errmsg = xasprintf("error changing file ownership: "
			    "chown %s: %s", path, errtext(errno));
			ret = FILES_WRITE_INTERNAL;
			goto out;
		}
		if (exists) {
			if (fchmod(w->fd, st.st_mode & 01777) != 0) {
				*errmsg = xasprintf("error opening file: "
				    "chmod %s: %s", path, errtext(errno));
				ret = FILES_WRITE_INTERNAL;
				goto out;
			}
			/* The attributes of the very file looked at. Out of
			 * descriptors, the upload fails rather than drop them
			 * silently. */
			src = fdres_openat(w->dfd, w->tbase, O_RDONLY |
			    O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
			if (src < 0 && (errno == EMFILE || errno == ENFILE)) {
				*errmsg = xasprintf("error opening file: open "
				    "%s: %s", path, errtext(errno));
				ret = FILES_WRITE_INTERNAL;
				goto out;
			}
			if (src >= 0) {
				if (fstat(src, &sst) == 0 &&
				    sst.st_dev == st.st_dev &&
				    sst.st_ino == st.st_ino)
					files_write_copy_xattrs(src, w->fd);
				close(src);
			}
		}
	} else if (!exists) {
		(void)fchown(w->fd, uid, gid);
	}
	*out = w;
	w = NULL;
	ret = FILES_WRITE_OK;
out:
	files_write_free(w);
	free(dir);
	free(tdir);
	free(msg);
	return ret;
}

/* Write all of p[0..n) at the current offset. */
static enum files_write_err
files_write_out(struct files_write *w, const uint8_t *p, size_t n,
    char **errmsg)
{
	ssize_t k;
	int err;

	while (n > 0) {
		k = write(w->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			w->failed = 1;
			if (err == ENOSPC || err == EDQUOT) {
				*errmsg = xstrdup("not enough disk space "
				    "available");
				return FILES_WRITE_NOSPACE;
			}
			*errmsg = xasprintf("error writing file: write %s: %s",
			    w->path, errtext(err));
			return FILES_WRITE_INTERNAL;
		}
		p += k;
		n -= (size_t)k;
	}
	return FILES_WRITE_OK;
}

/* Write out the batch. */
static enum files_write_err
files_write_flush(struct files_write *w, char **errmsg)
{
	enum files_write_err r;

	if (w->blen == 0)
		return FILES_WRITE_OK;
	r = files_write_out(w, w->batch, w->blen, errmsg);
	w->blen = 0;
	return r;
}

enum files_write_err
files_write_data(struct files_write *w, const void *data, size_t len,
    char **errmsg)
{
	const uint8_t *p = data;
	enum files_write_err r;
	size_t n;

	*errmsg = NULL;
	if (w->failed || w->fd < 0) {
		*errmsg = xasprintf("error writing file: write %s: %s",
		    w->path, errtext(EBADF));
		return FILES_WRITE_INTERNAL;
	}
	w->size += len;
	while (len > 0) {
		if (w->blen == 0 && len >= FILES_WRITE_DIRECT_MIN)
			return files_write_out(w, p, len, errmsg);
		if (w->batch == NULL)
			w->batch = files_write_buf_new(FILES_WRITE_BATCH);
		n = FILES_WRITE_BATCH - w->blen;
		if (n > len)
			n = len;
		memcpy(w->batch + w->blen, p, n);
		w->blen += n;
		p += n;
		len -= n;
		if (w->blen == FILES_WRITE_BATCH &&
		    (r = files_write_flush(w, errmsg)) != FILES_WRITE_OK)
			return r;
	}
	return FILES_WRITE_OK;
}

uint64_t
files_write_size(const struct files_write *w)
{
	return w->size;
}

/* Map an attribute error on name (op: "fset", "fremove", "flist"). */
static enum files_write_err
files_write_meta_err(struct files_write *w, const char *op, const char *name,
    int err, char **errmsg)
{
	char *detail;

	detail = xasprintf("xattr.%s %s %s: %s", op, w->path,
	    name != NULL ? name : "", errtext(err));
	if (err == ENOSPC || err == EDQUOT) {
		*errmsg = xasprintf("not enough space for file metadata: %s",
		    detail);
		free(detail);
		return FILES_WRITE_NOSPACE;
	}
	*errmsg = xasprintf("error writing file metadata: %s", detail);
	free(detail);
	return FILES_WRITE_INTERNAL;
}

/* Make the user.e2b.* attributes of the open file exactly keys=values. */
static enum files_write_err
files_write_meta(struct files_write *w, const char *const *keys,
    const char *const *values, size_t n, char **errmsg)
{
	const size_t plen = sizeof(FILES_WRITE_META_PREFIX) - 1;
	char *names = NULL, *full = NULL;
	const char *name;
	enum files_write_err ret;
	ssize_t len;
	size_t off, i;
	int keep;

	if (w->inplace) {
		/* A fresh temporary file has no metadata to remove. */
		if ((len = flistxattr(w->fd, NULL, 0)) < 0) {
			if (errno == ENOTSUP || errno == EOPNOTSUPP) {
				ret = FILES_WRITE_OK;
				goto out;
			}
			ret = files_write_meta_err(w, "flist", NULL, errno,
			    errmsg);
			goto out;
		}
		names = xmalloc((size_t)len + 1);
		if (len > 0 && (len = flistxattr(w->fd, names,
		    (size_t)len)) < 0)
			len = 0;
		for (off = 0; off < (size_t)len; off += strlen(name) + 1) {
			name = names + off;
			if (strnlen(name, (size_t)len - off) ==
			    (size_t)len - off)
				break;
			if (strncmp(name, FILES_WRITE_META_PREFIX, plen) != 0)
				continue;
			keep = 0;
			for (i = 0; i < n && !keep; i++)
				keep = strcmp(name + plen, keys[i]) == 0;
			if (keep)
				continue;
			if (fremovexattr(w->fd, name) != 0 &&
			    errno != ENODATA) {
				ret = files_write_meta_err(w, "fremove", name,
				    errno, errmsg);
				goto out;
			}
		}
	}
	for (i = 0; i < n; i++) {
		free(full);
		full = xasprintf("%s%s", FILES_WRITE_META_PREFIX, keys[i]);
		if (fsetxattr(w->fd, full, values[i], strlen(values[i]),
		    0) != 0) {
			if (errno == ENOTSUP || errno == EOPNOTSUPP)
				break;
			ret = files_write_meta_err(w, "fset", full, errno,
			    errmsg);
			goto out;
		}
	}
	ret = FILES_WRITE_OK;
out:
	free(names);
	free(full);
	return ret;
}

enum files_write_err
files_write_commit(struct files_write *w, const char *const *keys,
    const char *const *values, size_t n, char **errmsg)
{
	enum files_write_err r;
	int err, fd;

	*errmsg = NULL;
	if (w->failed || w->fd < 0) {
		*errmsg = xasprintf("error writing file: write %s: %s",
		    w->path, errtext(EBADF));
		return FILES_WRITE_INTERNAL;
	}
	if ((r = files_write_flush(w, errmsg)) != FILES_WRITE_OK)
		return r;
	files_write_buf_free(w->batch, FILES_WRITE_BATCH);
	w->batch = NULL;
	if ((r = files_write_meta(w, keys, values, n, errmsg)) !=
	    FILES_WRITE_OK) {
		w->failed = 1;
		return r;
	}
	if (!w->inplace) {
		if (renameat(w->dfd, w->tmpbase, w->dfd, w->tbase) != 0) {
			err = errno;
			w->failed = 1;
			if (err == ENOSPC || err == EDQUOT) {
				*errmsg = xstrdup("not enough disk space "
				    "available");
				return FILES_WRITE_NOSPACE;
			}
			*errmsg = xasprintf("error writing file: rename %s "
			    "%s: %s", w->tmp, w->target, errtext(err));
			return FILES_WRITE_INTERNAL;
		}
		if (w->size > 0)
			(void)ftruncate(w->fd, (off_t)w->size);
	}
	w->committed = 1;
	fd = w->fd;
	w->fd = -1;
	if (close(fd) != 0 && errno != EINTR) {
		*errmsg = xasprintf("error writing file: close %s: %s",
		    w->path, errtext(errno));
		return FILES_WRITE_INTERNAL;
	}
	return FILES_WRITE_OK;
}

void
files_write_free(struct files_write *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp != NULL && !w->committed)
		(void)unlinkat(w->dfd, w->tmpbase, 0);
	if (w->dfd >= 0)
		close(w->dfd);
	free(w->path);
	free(w->target);
	free(w->tbase);
	free(w->tmp);
	files_write_buf_free(w->batch, FILES_WRITE_BATCH);
	free(w);
}
