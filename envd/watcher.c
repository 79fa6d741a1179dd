/*
 * watcher.c - directory watching with inotify (filesystem.md §4).
 *
 * Each watcher has its own inotify instance, read from a uv_poll handle.
 * Watch descriptors map to directory paths relative to the root in a small
 * hash table. Recursive watchers keep that table in step with the tree:
 * a directory that appears (created, or moved in) is walked, watched and
 * its contents reported as CREATE, because they may predate its watch; a
 * directory that moves away loses its watches, so a rename inside the
 * tree is "forget the old subtree, walk the new one" and later events
 * carry the new names. This is what upstream's fsnotify-based watcher
 * shows clients, including the duplicate CREATEs a race can produce.
 *
 * The runtime walk of a newly appeared directory runs on the loop thread,
 * between the records around it, so that its synthetic CREATEs keep their
 * place in the event order; it is bounded by WATCHER_MAX_WATCHES and
 * WATCHER_MAX_DEPTH. Only the initial arming may run elsewhere.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <uv.h>

#include "errtext.h"
#include "fs_ops.h"
#include "fs_path.h"
#include "watcher.h"
#include "xalloc.h"

/* Bytes read from the inotify instance at a time. */
#define WATCHER_READ_BUF	(64 * 1024)
/* Reads per wake-up, so one busy watcher cannot starve the loop. */
#define WATCHER_READS_PER_WAKE	4
/* Initial number of hash buckets (a power of two). */
#define WATCHER_BUCKETS_MIN	16

/* statfs f_type of the filesystems that cannot be watched reliably. */
#define WATCHER_NFS_MAGIC	0x6969UL
#define WATCHER_CIFS_MAGIC	0xFF534D42UL
#define WATCHER_SMB_MAGIC	0x517BUL
#define WATCHER_SMB2_MAGIC	0xFE534D42UL
#define WATCHER_FUSE_MAGIC	0x65735546UL

enum watcher_state {
	WATCHER_IDLE,		/* created or armed, not reading yet */
	WATCHER_RUNNING,	/* reading and reporting */
	WATCHER_SILENT,		/* the root went away: reading, reporting
				   nothing (§4.2) */
	WATCHER_FAILED,		/* the error callback ran; nothing more */
	WATCHER_CLOSING,	/* freed by the owner; memory goes when the
				   poll handle has closed */
};

/* One watched directory. */
struct watcher_dir {
	int wd;			/* inotify watch descriptor */
	char *rel;		/* path below the root ("" for the root);
				   owned */
	struct watcher_dir *next;	/* hash chain */
};

struct watcher {
	uv_loop_t *loop;
	uv_poll_t poll;		/* on fd; initialised by watcher_start() */
	int polling;		/* poll initialised */
	int fd;			/* the inotify instance, -1 once closed */
	char *path;		/* watched directory as given; owned */
	int recursive;		/* watch the whole tree */
	enum watcher_state state;
	struct watcher_dir **buckets;	/* wd -> directory; owned */
	size_t nbuckets;	/* a power of two */
	size_t ndirs;		/* directories watched */
	watcher_event_cb event_cb;
	watcher_error_cb error_cb;
	void *arg;		/* for the callbacks */
};

/* Where records are read; only the loop thread reads. */
static char watcher_buf[WATCHER_READ_BUF]
    __attribute__((aligned(__alignof__(struct inotify_event))));

static struct watcher_dir *watcher_dir_find(struct watcher *, int);
static void	watcher_dir_set(struct watcher *, int, const char *);
static void	watcher_dir_unlink(struct watcher *, struct watcher_dir *);
static void	watcher_dir_free_all(struct watcher *, int);
static void	watcher_forget_tree(struct watcher *, const char *);
static char	*watcher_abs(const struct watcher *, const char *);
static char	*watcher_display(const struct watcher *, const char *);
static int	watcher_walk(struct watcher *, const char *, int, int,
		    char **);
static void	watcher_fail(struct watcher *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	watcher_poll_cb(uv_poll_t *, int, int);
static void	watcher_record(struct watcher *,
		    const struct inotify_event *);
static void	watcher_closed(uv_handle_t *);
static void	watcher_release(struct watcher *);

size_t
watcher_mask_ops(uint32_t mask, enum watcher_op *ops)
{
	size_t n = 0;

	if (mask & (IN_CREATE | IN_MOVED_TO))
		ops[n++] = WATCHER_CREATE;
	if (mask & (IN_MOVED_FROM | IN_MOVE_SELF))
		ops[n++] = WATCHER_RENAME;
	if (mask & IN_ATTRIB)
		ops[n++] = WATCHER_CHMOD;
	if (mask & IN_MODIFY)
		ops[n++] = WATCHER_WRITE;
	if (mask & (IN_DELETE | IN_DELETE_SELF))
		ops[n++] = WATCHER_REMOVE;
	return n;
}

char *
watcher_name(const char *dir, const char *name)
{
	if (dir == NULL)
		dir = "";
	if (name == NULL)
		name = "";
	if (dir[0] == '\0' && name[0] == '\0')
		return xstrdup(".");
	if (dir[0] == '\0')
		return xstrdup(name);
	if (name[0] == '\0')
		return xstrdup(dir);
	return xasprintf("%s/%s", dir, name);
}

int
watcher_network_fs(unsigned long f_type)
{
	switch (f_type & 0xffffffffUL) {
	case WATCHER_NFS_MAGIC:
	case WATCHER_CIFS_MAGIC:
	case WATCHER_SMB_MAGIC:
	case WATCHER_SMB2_MAGIC:
	case WATCHER_FUSE_MAGIC:
		return 1;
	}
	return 0;
}

enum fs_err
watcher_check(const char *path, int allow_network_mounts, char **errmsg)
{
	struct statfs sfs;
	struct stat st;

	*errmsg = NULL;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT) {
			*errmsg = xasprintf("path %s not found: stat %s: %s",
			    path, path, errtext(ENOENT));
			return FS_NOT_FOUND;
		}
		*errmsg = xasprintf("error statting path %s: stat %s: %s",
		    path, path, errtext(errno));
		return FS_INTERNAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		*errmsg = xasprintf("path %s not a directory: %%!w(<nil>)",
		    path);
		return FS_INVALID;
	}
	if (allow_network_mounts)
		return FS_OK;
	if (statfs(path, &sfs) != 0) {
		*errmsg = xasprintf("error checking mount status: statfs %s: "
		    "%s", path, errtext(errno));
		return FS_INTERNAL;
	}
	if (watcher_network_fs((unsigned long)sfs.f_type)) {
		*errmsg = xasprintf("cannot watch path on network filesystem: "
		    "%s", path);
		return FS_INVALID;
	}
	return FS_OK;
}

int
watcher_new(uv_loop_t *loop, const char *path, int recursive,
    watcher_event_cb event_cb, watcher_error_cb error_cb, void *arg,
    struct watcher **out, char **errmsg)
{
	struct watcher *w;
	int fd;

	*out = NULL;
	*errmsg = NULL;
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		fd = -errno;
		*errmsg = xasprintf("error creating watcher: %s", errtext(fd));
		return fd;
	}
	w = xcalloc(1, sizeof(*w));
	w->loop = loop;
	w->fd = fd;
	w->path = xstrdup(path);
	w->recursive = recursive;
	w->state = WATCHER_IDLE;
	w->nbuckets = WATCHER_BUCKETS_MIN;
	w->buckets = xcalloc(w->nbuckets, sizeof(*w->buckets));
	w->event_cb = event_cb;
	w->error_cb = error_cb;
	w->arg = arg;
	*out = w;
	return 0;
}

const char *
watcher_path(const struct watcher *w)
{
	return w->path;
}

size_t
watcher_count(const struct watcher *w)
{
	return w->ndirs;
}

/* --- the wd table --- */

static struct watcher_dir *
watcher_dir_find(struct watcher *w, int wd)
{
	struct watcher_dir *d;

	for (d = w->buckets[(unsigned int)wd & (w->nbuckets - 1)]; d != NULL;
	    d = d->next) {
		if (d->wd == wd)
			return d;
	}
	return NULL;
}

/* Record that wd watches rel, replacing what it watched before. */
static void
watcher_dir_set(struct watcher *w, int wd, const char *rel)
{
	struct watcher_dir *d, **nb, *next;
	size_t i, n;

	if ((d = watcher_dir_find(w, wd)) != NULL) {
		free(d->rel);
		d->rel = xstrdup(rel);
		return;
	}
	if (w->ndirs >= w->nbuckets) {
		n = w->nbuckets * 2;
		nb = xcalloc(n, sizeof(*nb));
		for (i = 0; i < w->nbuckets; i++) {
			for (d = w->buckets[i]; d != NULL; d = next) {
				next = d->next;
				d->next = nb[(unsigned int)d->wd & (n - 1)];
				nb[(unsigned int)d->wd & (n - 1)] = d;
			}
		}
		free(w->buckets);
		w->buckets = nb;
		w->nbuckets = n;
	}
	d = xmalloc(sizeof(*d));
	d->wd = wd;
	d->rel = xstrdup(rel);
	i = (unsigned int)wd & (w->nbuckets - 1);
	d->next = w->buckets[i];
	w->buckets[i] = d;
	w->ndirs++;
}

/* Remove d from the table and free it. */
static void
watcher_dir_unlink(struct watcher *w, struct watcher_dir *d)
{
	struct watcher_dir **pp;

	for (pp = &w->buckets[(unsigned int)d->wd & (w->nbuckets - 1)];
	    *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			free(d->rel);
			free(d);
			w->ndirs--;
			return;
		}
	}
}

/* Forget every directory, removing its watch first when rm is set. */
static void
watcher_dir_free_all(struct watcher *w, int rm)
{
	struct watcher_dir *d, *next;
	size_t i;

	for (i = 0; i < w->nbuckets; i++) {
		for (d = w->buckets[i]; d != NULL; d = next) {
			next = d->next;
			if (rm && w->fd >= 0)
				(void)inotify_rm_watch(w->fd, d->wd);
			free(d->rel);
			free(d);
		}
		w->buckets[i] = NULL;
	}
	w->ndirs = 0;
}

/* Stop watching rel and every directory below it (it moved away). */
static void
watcher_forget_tree(struct watcher *w, const char *rel)
{
	struct watcher_dir *d, *next;
	size_t i, len = strlen(rel);

	for (i = 0; i < w->nbuckets; i++) {
		for (d = w->buckets[i]; d != NULL; d = next) {
			next = d->next;
			if (strncmp(d->rel, rel, len) != 0 ||
			    (d->rel[len] != '\0' && d->rel[len] != '/'))
				continue;
			(void)inotify_rm_watch(w->fd, d->wd);
			watcher_dir_unlink(w, d);
		}
	}
}

/* --- walking --- */

/* The path of rel for system calls: the root as given, then rel. */
static char *
watcher_abs(const struct watcher *w, const char *rel)
{
	if (rel[0] == '\0')
		return xstrdup(w->path);
	return xasprintf("%s/%s", w->path, rel);
}

/* The path of rel in messages: the root as given, or a clean join. */
static char *
watcher_display(const struct watcher *w, const char *rel)
{
	if (rel[0] == '\0')
		return xstrdup(w->path);
	return fs_path_join(w->path, rel);
}

/*
 * Watch directory rel (depth levels below the root) and, for a recursive
 * watcher, every directory below it, in pre-order with names sorted. When
 * emit is set, report CREATE for every entry found below rel. A
 * subdirectory that cannot be opened or has vanished is skipped.
 * Returns 0; -ECANCELED when the watcher stopped during a callback; or
 * another -errno with *errmsg set.
 */
static int
watcher_walk(struct watcher *w, const char *rel, int depth, int emit,
    char **errmsg)
{
	struct fs_dirent *ents = NULL;
	struct stat st;
	char *abs = NULL, *disp = NULL, *crel = NULL, *cabs = NULL;
	uint32_t flags;
	size_t n = 0, i;
	int wd, isdir, r;

	abs = watcher_abs(w, rel);
	flags = WATCHER_MASK | IN_ONLYDIR;
	if (rel[0] != '\0')
		flags |= IN_DONT_FOLLOW;
	if (w->ndirs >= WATCHER_MAX_WATCHES) {
		r = -ENOSPC;
		disp = watcher_display(w, rel);
		*errmsg = xasprintf("error adding path %s to watcher: %s",
		    disp, errtext(r));
		goto out;
	}
	if ((wd = inotify_add_watch(w->fd, abs, flags)) < 0) {
		r = -errno;
		if (rel[0] != '\0' && (r == -ENOENT || r == -ENOTDIR ||
		    r == -EACCES || r == -ELOOP)) {
			r = 0;
			goto out;
		}
		disp = watcher_display(w, rel);
		*errmsg = xasprintf("error adding path %s to watcher: %s",
		    disp, errtext(r));
		goto out;
	}
	watcher_dir_set(w, wd, rel);
	if (!w->recursive) {
		r = 0;
		goto out;
	}
	if ((r = fs_ops_read_dir(abs, rel[0] == '\0', &ents, &n, NULL)) != 0) {
		if (rel[0] != '\0') {
			r = 0;
			goto out;
		}
		*errmsg = xasprintf("error adding path %s to watcher: open "
		    "%s: %s", w->path, w->path, errtext(r));
		goto out;
	}
	for (i = 0; i < n; i++) {
		free(crel);
		crel = watcher_name(rel, ents[i].name);
		if (emit) {
			w->event_cb(w, crel, WATCHER_CREATE, w->arg);
			if (w->state != WATCHER_RUNNING) {
				r = -ECANCELED;
				goto out;
			}
		}
		if (ents[i].type == DT_UNKNOWN) {
			free(cabs);
			cabs = watcher_abs(w, crel);
			isdir = lstat(cabs, &st) == 0 && S_ISDIR(st.st_mode);
		} else {
			isdir = ents[i].type == DT_DIR;
		}
		if (!isdir || depth + 1 > WATCHER_MAX_DEPTH)
			continue;
		if ((r = watcher_walk(w, crel, depth + 1, emit, errmsg)) != 0)
			goto out;
	}
	r = 0;
out:
	fs_ops_dirents_free(ents, n);
	free(abs);
	free(disp);
	free(crel);
	free(cabs);
	return r;
}

int
watcher_arm(struct watcher *w, char **errmsg)
{
	*errmsg = NULL;
	return watcher_walk(w, "", 0, 0, errmsg);
}

int
watcher_start(struct watcher *w)
{
	int r;

	if ((r = uv_poll_init(w->loop, &w->poll, w->fd)) != 0)
		return r;
	w->poll.data = w;
	w->polling = 1;
	w->state = WATCHER_RUNNING;
	return uv_poll_start(&w->poll, UV_READABLE, watcher_poll_cb);
}

/* --- events --- */

/* Report a fatal error once and stop reading. */
static void
watcher_fail(struct watcher *w, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (w->state == WATCHER_FAILED || w->state == WATCHER_CLOSING)
		return;
	w->state = WATCHER_FAILED;
	if (w->polling)
		uv_poll_stop(&w->poll);
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	w->error_cb(w, msg, w->arg);
	free(msg);
}

static void
watcher_poll_cb(uv_poll_t *h, int status, int events)
{
	struct watcher *w = h->data;
	const struct inotify_event *ev;
	ssize_t n;
	size_t off;
	int i;

	if (status < 0) {
		watcher_fail(w, "fsnotify: %s", uv_strerror(status));
		return;
	}
	for (i = 0; i < WATCHER_READS_PER_WAKE; i++) {
		n = read(w->fd, watcher_buf, sizeof(watcher_buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			watcher_fail(w, "fsnotify: read: %s", errtext(errno));
			return;
		}
		if (n == 0)
			return;
		for (off = 0; off + sizeof(*ev) <= (size_t)n;
		    off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(watcher_buf + off);
			watcher_record(w, ev);
			if (w->state == WATCHER_FAILED ||
			    w->state == WATCHER_CLOSING)
				return;
		}
	}
}

/* Turn one inotify record into events and keep the tree in step. */
static void
watcher_record(struct watcher *w, const struct inotify_event *ev)
{
	enum watcher_op ops[WATCHER_MAX_OPS];
	struct watcher_dir *d;
	char *name = NULL, *err = NULL;
	const char *p;
	uint32_t mask = ev->mask;
	size_t nops, i;
	int self, root, depth, r;

	if (mask & IN_Q_OVERFLOW) {
		watcher_fail(w, "fsnotify: queue or buffer overflow");
		return;
	}
	d = watcher_dir_find(w, ev->wd);
	if (mask & IN_IGNORED) {
		if (d != NULL)
			watcher_dir_unlink(w, d);
		return;
	}
	if (d == NULL || w->state != WATCHER_RUNNING || (mask & IN_UNMOUNT))
		return;
	self = ev->len == 0 || ev->name[0] == '\0';
	root = d->rel[0] == '\0';
	/* A subdirectory's own delete or move is reported by its parent. */
	if (self && !root)
		mask &= ~(uint32_t)(IN_DELETE_SELF | IN_MOVE_SELF);
	name = watcher_name(d->rel, self ? NULL : ev->name);
	nops = watcher_mask_ops(mask, ops);
	for (i = 0; i < nops; i++) {
		w->event_cb(w, name, ops[i], w->arg);
		if (w->state != WATCHER_RUNNING)
			goto out;
	}
	if (self && root && (mask & (IN_DELETE_SELF | IN_MOVE_SELF))) {
		/* The root is gone: stay open, report nothing more. */
		w->state = WATCHER_SILENT;
		watcher_dir_free_all(w, 1);
		goto out;
	}
	if (!w->recursive || self || !(mask & IN_ISDIR))
		goto out;
	if (mask & IN_MOVED_FROM)
		watcher_forget_tree(w, name);
	if (mask & (IN_CREATE | IN_MOVED_TO)) {
		depth = 1;
		for (p = name; *p != '\0'; p++)
			depth += *p == '/';
		r = watcher_walk(w, name, depth, 1, &err);
		if (r != 0 && r != -ECANCELED)
			watcher_fail(w, "%s", err);
	}
out:
	free(err);
	free(name);
}

/* --- teardown --- */

void
watcher_free(struct watcher *w)
{
	if (w == NULL || w->state == WATCHER_CLOSING)
		return;
	w->state = WATCHER_CLOSING;
	if (!w->polling) {
		watcher_release(w);
		return;
	}
	if (uv_is_closing((uv_handle_t *)&w->poll)) {
		/* Closed by the loop's owner at shutdown; the loop is over. */
		watcher_release(w);
		return;
	}
	uv_close((uv_handle_t *)&w->poll, watcher_closed);
}

static void
watcher_closed(uv_handle_t *h)
{
	watcher_release(h->data);
}

static void
watcher_release(struct watcher *w)
{
	watcher_dir_free_all(w, 0);
	if (w->fd >= 0)
		close(w->fd);
	free(w->buckets);
	free(w->path);
	free(w);
}
