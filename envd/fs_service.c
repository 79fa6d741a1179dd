/*
 * fs_service.c - the filesystem.Filesystem Connect service (filesystem.md).
 *
 * Decodes requests, resolves paths for the request user, runs the OS work
 * (fs_ops.c, fs_entry.c, watcher.c) and maps failures to Connect codes.
 *
 * Long work runs on the libuv thread pool as a struct fs_job. The rpc's
 * data points at the job (ListDir, Remove) or at the watch being armed
 * (WatchDir, CreateWatcher); the cancel callback detaches it, so a job
 * that outlives its call only frees its results. Side-effect-free jobs
 * that have not started yet are cancelled outright; a Remove goes on, as
 * upstream's does when its client leaves.
 *
 * ListDir jobs run FS_SERVICE_LIST_JOBS at a time; the others wait in
 * fs_list_waiting (a cancelled one is dropped from there). A walk's
 * entries are many small blocks in a worker's malloc arena, which malloc
 * keeps after they are freed. So a big walk's memory goes back to the
 * kernel at once: fs_ops trims after a big walk that failed (on the
 * worker), and the loop after freeing an answer of FS_SERVICE_TRIM_ENTRIES
 * entries or more; memtrim's delayed trim follows every pool ListDir, for
 * the answer's buffer and the small ones.
 *
 * A struct fs_watch ties a watcher to where its events go: a WatchDir
 * stream (freed when the call ends) or a polling watcher's buffer (freed
 * by RemoveWatcher or at shutdown).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <sodium.h>
#include <uv.h>

#include "connect.h"
#include "fs_entry.h"
#include "fs_ops.h"
#include "fs_path.h"
#include "fs_service.h"
#include "init.h"
#include "memtrim.h"
#include "users.h"
#include "watcher.h"
#include "xalloc.h"

#include "filesystem/filesystem.pb-c.h"

/* Length of a polling watcher id: "w" and 20 characters of [a-z0-9]. */
#define FS_WATCHER_ID_LEN	21

enum fs_watch_kind {
	FS_WATCH_STREAM,	/* WatchDir: events go to the stream */
	FS_WATCH_POLL,		/* CreateWatcher: events wait in a buffer */
};

struct fs_job;

/* A watcher and where its events go. */
struct fs_watch {
	enum fs_watch_kind kind;
	struct watcher *w;	/* NULL once stopped (polling watcher failed) */
	char *root;		/* the resolved path; owned */
	int include_entry;	/* attach EntryInfo to CREATE/WRITE/CHMOD */
	struct rpc *rpc;	/* the call while attached: a stream for its
				   whole life, CreateWatcher until answered */
	struct fs_job *job;	/* arming on the thread pool, or NULL */
	char id[FS_WATCHER_ID_LEN + 1];	/* polling: its id once created */
	Filesystem__FilesystemEvent **events;	/* polling: buffered, owned */
	size_t nevents;		/* events buffered */
	size_t capevents;	/* events allocated */
	char *error;		/* polling: the failure every later
				   GetWatcherEvents returns; owned */
	LIST_ENTRY(fs_watch) entry;	/* in fs_watches */
};

LIST_HEAD(fs_watch_list, fs_watch);

enum fs_job_kind {
	FS_JOB_LISTDIR,
	FS_JOB_REMOVE,
	FS_JOB_ARM,
};

/* Work for the thread pool. Inputs are set before queueing, outputs read
 * after; the worker touches nothing else. */
struct fs_job {
	uv_work_t work;
	enum fs_job_kind kind;
	struct rpc *rpc;	/* ListDir/Remove: the call, NULL once gone */
	char *path;		/* ListDir/Remove: resolved path; owned */
	uint32_t depth;		/* ListDir */
	struct fs_watch *watch;	/* ARM: the watch whose watcher is armed */
	enum fs_err err;	/* result class */
	char *errmsg;		/* result message; owned */
	Filesystem__EntryInfo **entries;	/* ListDir result; owned */
	size_t n;		/* entries */
	int waiting;		/* ListDir: in fs_list_waiting */
	TAILQ_ENTRY(fs_job) wait_entry;
};

TAILQ_HEAD(fs_job_queue_head, fs_job);

static uv_loop_t *fs_loop;
static struct fs_job_queue_head fs_list_waiting =
    TAILQ_HEAD_INITIALIZER(fs_list_waiting);
static unsigned int fs_list_running;	/* ListDir jobs on the pool */
static struct fs_watch_list fs_watches = LIST_HEAD_INITIALIZER(fs_watches);
static size_t fs_nwatches;
static int fs_stopping;

static enum connect_code fs_code(enum fs_err);
static int	fs_resolve(struct rpc *, const char *, const struct user **,
		    char **);
static int	fs_small_dir(const char *);
static struct fs_job *fs_job_new(enum fs_job_kind, struct rpc *);
static void	fs_job_free(struct fs_job *);
static void	fs_job_queue(struct fs_job *);
static void	fs_list_start(struct fs_job *);
static void	fs_list_next(void);
static void	fs_job_work(uv_work_t *);
static void	fs_job_done(uv_work_t *, int);
static void	fs_arm_done(struct fs_job *, int);

static void	fs_watch_open(struct rpc *, enum fs_watch_kind, const char *,
		    int, int, int);
static void	fs_watch_begin(struct fs_watch *);
static void	fs_watch_detach_error(struct fs_watch *, enum connect_code,
		    const char *);
static void	fs_watch_free(struct fs_watch *);
static void	fs_watch_clear_events(struct fs_watch *);
static void	fs_watch_fail(struct fs_watch *, const char *);
static struct fs_watch *fs_watch_find(const char *);
static void	fs_watch_make_id(struct fs_watch *);
static void	fs_watch_event_cb(struct watcher *, const char *,
		    enum watcher_op, void *);
static void	fs_watch_error_cb(struct watcher *, const char *, void *);

static void	fs_rpc_stat(struct rpc *, const ProtobufCMessage *);
static void	fs_rpc_make_dir(struct rpc *, const ProtobufCMessage *);
static void	fs_rpc_move(struct rpc *, const ProtobufCMessage *);
static void	fs_rpc_list_dir(struct rpc *, const ProtobufCMessage *);
static void	fs_rpc_remove(struct rpc *, const ProtobufCMessage *);
static void	fs_rpc_job_cancel(struct rpc *);
static void	fs_rpc_watch_dir(struct rpc *, const ProtobufCMessage *);
static void	fs_rpc_create_watcher(struct rpc *, const ProtobufCMessage *);
static void	fs_rpc_watch_cancel(struct rpc *);
static void	fs_rpc_get_watcher_events(struct rpc *,
		    const ProtobufCMessage *);
static void	fs_rpc_remove_watcher(struct rpc *, const ProtobufCMessage *);

static const struct connect_method fs_methods[] = {
	{ "/filesystem.Filesystem/Stat", CONNECT_UNARY,
	  &filesystem__stat_request__descriptor,
	  &filesystem__stat_response__descriptor,
	  fs_rpc_stat, NULL, NULL },
	{ "/filesystem.Filesystem/MakeDir", CONNECT_UNARY,
	  &filesystem__make_dir_request__descriptor,
	  &filesystem__make_dir_response__descriptor,
	  fs_rpc_make_dir, NULL, NULL },
	{ "/filesystem.Filesystem/Move", CONNECT_UNARY,
	  &filesystem__move_request__descriptor,
	  &filesystem__move_response__descriptor,
	  fs_rpc_move, NULL, NULL },
	{ "/filesystem.Filesystem/ListDir", CONNECT_UNARY,
	  &filesystem__list_dir_request__descriptor,
	  &filesystem__list_dir_response__descriptor,
	  fs_rpc_list_dir, NULL, fs_rpc_job_cancel },
	{ "/filesystem.Filesystem/Remove", CONNECT_UNARY,
	  &filesystem__remove_request__descriptor,
	  &filesystem__remove_response__descriptor,
	  fs_rpc_remove, NULL, fs_rpc_job_cancel },
	{ "/filesystem.Filesystem/WatchDir", CONNECT_SERVER_STREAM,
	  &filesystem__watch_dir_request__descriptor,
	  &filesystem__watch_dir_response__descriptor,
	  fs_rpc_watch_dir, NULL, fs_rpc_watch_cancel },
	{ "/filesystem.Filesystem/CreateWatcher", CONNECT_UNARY,
	  &filesystem__create_watcher_request__descriptor,
	  &filesystem__create_watcher_response__descriptor,
	  fs_rpc_create_watcher, NULL, fs_rpc_watch_cancel },
	{ "/filesystem.Filesystem/GetWatcherEvents", CONNECT_UNARY,
	  &filesystem__get_watcher_events_request__descriptor,
	  &filesystem__get_watcher_events_response__descriptor,
	  fs_rpc_get_watcher_events, NULL, NULL },
	{ "/filesystem.Filesystem/RemoveWatcher", CONNECT_UNARY,
	  &filesystem__remove_watcher_request__descriptor,
	  &filesystem__remove_watcher_response__descriptor,
	  fs_rpc_remove_watcher, NULL, NULL },
};

void
fs_service_init(uv_loop_t *loop)
{
	fs_loop = loop;
	fs_stopping = 0;
	connect_register(fs_methods, sizeof(fs_methods) /
	    sizeof(fs_methods[0]));
}

void
fs_service_shutdown(void)
{
	struct fs_watch *watch, *next;

	fs_stopping = 1;
	for (watch = LIST_FIRST(&fs_watches); watch != NULL; watch = next) {
		next = LIST_NEXT(watch, entry);
		if (watch->job != NULL)
			continue;	/* freed when the job returns */
		if (watch->rpc != NULL) {
			fs_watch_detach_error(watch, CONNECT_UNAVAILABLE,
			    "daemon stopping");
			continue;
		}
		fs_watch_free(watch);
	}
}

/* --- helpers --- */

/* The wire code of an error class. */
static enum connect_code
fs_code(enum fs_err e)
{
	switch (e) {
	case FS_OK:
		return CONNECT_OK;
	case FS_NOT_FOUND:
		return CONNECT_NOT_FOUND;
	case FS_INVALID:
		return CONNECT_INVALID_ARGUMENT;
	case FS_EXISTS:
		return CONNECT_ALREADY_EXISTS;
	case FS_PRECONDITION:
		return CONNECT_FAILED_PRECONDITION;
	case FS_INTERNAL:
		break;
	}
	return CONNECT_INTERNAL;
}

/*
 * Find the request user and resolve path for it (filesystem.md §1). On
 * success returns 0 with *out (caller frees) and, when up is not NULL,
 * *up (borrowed from the request). Otherwise the rpc has been answered.
 */
static int
fs_resolve(struct rpc *rpc, const char *path, const struct user **up,
    char **out)
{
	const struct user *u;
	char *err = NULL;
	int r;

	*out = NULL;
	if ((r = rpc_user(rpc, &u)) != 0)
		return r;
	if ((r = fs_path_resolve(path, u->name, u->home,
	    init_default_workdir(), out, &err)) != 0) {
		rpc_error(rpc, CONNECT_INVALID_ARGUMENT, "%s",
		    err != NULL ? err : "invalid path");
		free(err);
		return r;
	}
	if (up != NULL)
		*up = u;
	return 0;
}

/*
 * Whether listing path one level deep is cheap enough for the loop: at
 * most FS_SERVICE_SMALL_DIR entries. A directory that cannot be opened
 * counts as small (the listing fails quickly).
 */
static int
fs_small_dir(const char *path)
{
	DIR *d;
	size_t n = 0;

	if ((d = opendir(path)) == NULL)
		return 1;
	while (readdir(d) != NULL) {
		if (++n > FS_SERVICE_SMALL_DIR + 2)
			break;
	}
	closedir(d);
	return n <= FS_SERVICE_SMALL_DIR + 2;
}

/* --- thread pool jobs --- */

static struct fs_job *
fs_job_new(enum fs_job_kind kind, struct rpc *rpc)
{
	struct fs_job *job;

	job = xcalloc(1, sizeof(*job));
	job->kind = kind;
	job->rpc = rpc;
	job->work.data = job;
	return job;
}

static void
fs_job_free(struct fs_job *job)
{
	if (job == NULL)
		return;
	fs_ops_entries_free(job->entries, job->n);
	free(job->errmsg);
	free(job->path);
	free(job);
}

/* Queue job; when the pool refuses it, run it here. */
static void
fs_job_queue(struct fs_job *job)
{
	if (uv_queue_work(fs_loop, &job->work, fs_job_work,
	    fs_job_done) != 0) {
		fs_job_work(&job->work);
		fs_job_done(&job->work, 0);
	}
}

/* Run a ListDir job now, or once one of those running ends. */
static void
fs_list_start(struct fs_job *job)
{
	if (fs_list_running >= FS_SERVICE_LIST_JOBS) {
		job->waiting = 1;
		TAILQ_INSERT_TAIL(&fs_list_waiting, job, wait_entry);
		return;
	}
	fs_list_running++;
	fs_job_queue(job);
}

/* A ListDir job ended: start the next waiting one whose call is alive. */
static void
fs_list_next(void)
{
	struct fs_job *job;

	while (fs_list_running < FS_SERVICE_LIST_JOBS &&
	    (job = TAILQ_FIRST(&fs_list_waiting)) != NULL) {
		TAILQ_REMOVE(&fs_list_waiting, job, wait_entry);
		job->waiting = 0;
		if (job->rpc == NULL) {
			fs_job_free(job);
			continue;
		}
		fs_list_running++;
		fs_job_queue(job);
	}
}

/* On a pool thread: the blocking part. */
static void
fs_job_work(uv_work_t *req)
{
	struct fs_job *job = req->data;

	switch (job->kind) {
	case FS_JOB_LISTDIR:
		job->err = fs_ops_listdir(job->path, job->depth,
		    &job->entries, &job->n, &job->errmsg);
		break;
	case FS_JOB_REMOVE:
		job->err = fs_ops_remove_all(job->path, &job->errmsg);
		break;
	case FS_JOB_ARM:
		job->err = watcher_arm(job->watch->w, &job->errmsg) == 0 ?
		    FS_OK : FS_INTERNAL;
		break;
	}
}

/* Back on the loop: answer the call unless it went away. */
static void
fs_job_done(uv_work_t *req, int status)
{
	Filesystem__ListDirResponse lresp = FILESYSTEM__LIST_DIR_RESPONSE__INIT;
	Filesystem__RemoveResponse rresp = FILESYSTEM__REMOVE_RESPONSE__INIT;
	struct fs_job *job = req->data;
	struct rpc *rpc = job->rpc;
	enum fs_job_kind kind = job->kind;
	size_t n = job->n;

	if (job->kind == FS_JOB_ARM) {
		fs_arm_done(job, status);
		goto out;
	}
	if (job->kind == FS_JOB_LISTDIR)
		fs_list_running--;
	if (rpc == NULL)
		goto out;
	rpc_set_data(rpc, NULL);
	job->rpc = NULL;
	if (status != 0) {
		rpc_error(rpc, CONNECT_INTERNAL, "%s", uv_strerror(status));
	} else if (job->err != FS_OK) {
		rpc_error(rpc, fs_code(job->err), "%s",
		    job->errmsg != NULL ? job->errmsg : "error");
	} else if (job->kind == FS_JOB_LISTDIR) {
		lresp.entries = job->entries;
		lresp.n_entries = job->n;
		rpc_reply(rpc, &lresp.base);
	} else {
		rpc_reply(rpc, &rresp.base);
	}
out:
	fs_job_free(job);
	if (kind == FS_JOB_LISTDIR) {
		/*
		 * Each walk fills the arena of whichever worker runs it, and
		 * an arena keeps what it freed: trimmed only later, four
		 * workers' arenas would hold four big walks. A big answer's
		 * buffer is trimmed by httpd once it has been sent.
		 */
		if (n >= FS_SERVICE_TRIM_ENTRIES)
			memtrim_now();
		memtrim_soon();
		fs_list_next();
	}
}

/* The ListDir/Remove call ends before its job: orphan the job. */
static void
fs_rpc_job_cancel(struct rpc *rpc)
{
	struct fs_job *job = rpc_data(rpc);

	if (job == NULL)
		return;
	rpc_set_data(rpc, NULL);
	job->rpc = NULL;
	if (job->waiting) {
		TAILQ_REMOVE(&fs_list_waiting, job, wait_entry);
		fs_job_free(job);
	} else if (job->kind == FS_JOB_LISTDIR) {
		(void)uv_cancel((uv_req_t *)&job->work);
	}
}

/* --- unary RPCs --- */

static void
fs_rpc_stat(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__StatRequest *req = (const void *)m;
	Filesystem__StatResponse resp = FILESYSTEM__STAT_RESPONSE__INIT;
	Filesystem__EntryInfo *e = NULL;
	char *path = NULL, *err = NULL;
	enum fs_err fe;

	if (fs_resolve(rpc, req->path, NULL, &path) != 0)
		goto out;
	if ((fe = fs_ops_stat(path, &e, &err)) != FS_OK) {
		rpc_error(rpc, fs_code(fe), "%s", err);
		goto out;
	}
	resp.entry = e;
	rpc_reply(rpc, &resp.base);
out:
	fs_entry_free(e);
	free(path);
	free(err);
}

static void
fs_rpc_make_dir(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__MakeDirRequest *req = (const void *)m;
	Filesystem__MakeDirResponse resp = FILESYSTEM__MAKE_DIR_RESPONSE__INIT;
	Filesystem__EntryInfo *e = NULL;
	const struct user *u;
	char *path = NULL, *err = NULL;
	enum fs_err fe;

	if (fs_resolve(rpc, req->path, &u, &path) != 0)
		goto out;
	if ((fe = fs_ops_make_dir(path, u->uid, u->gid, &e, &err)) != FS_OK) {
		rpc_error(rpc, fs_code(fe), "%s", err);
		goto out;
	}
	resp.entry = e;
	rpc_reply(rpc, &resp.base);
out:
	fs_entry_free(e);
	free(path);
	free(err);
}

static void
fs_rpc_move(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__MoveRequest *req = (const void *)m;
	Filesystem__MoveResponse resp = FILESYSTEM__MOVE_RESPONSE__INIT;
	Filesystem__EntryInfo *e = NULL;
	const struct user *u;
	char *src = NULL, *dst = NULL, *err = NULL;
	enum fs_err fe;

	if (fs_resolve(rpc, req->source, &u, &src) != 0 ||
	    fs_resolve(rpc, req->destination, NULL, &dst) != 0)
		goto out;
	if ((fe = fs_ops_move(src, dst, u->uid, u->gid, &e, &err)) != FS_OK) {
		rpc_error(rpc, fs_code(fe), "%s", err);
		goto out;
	}
	resp.entry = e;
	rpc_reply(rpc, &resp.base);
out:
	fs_entry_free(e);
	free(src);
	free(dst);
	free(err);
}

static void
fs_rpc_list_dir(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__ListDirRequest *req = (const void *)m;
	Filesystem__ListDirResponse resp = FILESYSTEM__LIST_DIR_RESPONSE__INIT;
	Filesystem__EntryInfo **entries = NULL;
	struct fs_job *job;
	char *path = NULL, *err = NULL;
	uint32_t depth = req->depth == 0 ? 1 : req->depth;
	enum fs_err fe;
	size_t n = 0;

	if (fs_resolve(rpc, req->path, NULL, &path) != 0)
		goto out;
	if (depth > 1 || !fs_small_dir(path)) {
		job = fs_job_new(FS_JOB_LISTDIR, rpc);
		job->path = path;
		job->depth = depth;
		path = NULL;
		rpc_set_data(rpc, job);
		fs_list_start(job);
		goto out;
	}
	if ((fe = fs_ops_listdir(path, depth, &entries, &n, &err)) != FS_OK) {
		rpc_error(rpc, fs_code(fe), "%s", err);
		goto out;
	}
	resp.entries = entries;
	resp.n_entries = n;
	rpc_reply(rpc, &resp.base);
out:
	fs_ops_entries_free(entries, n);
	free(path);
	free(err);
}

static void
fs_rpc_remove(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__RemoveRequest *req = (const void *)m;
	Filesystem__RemoveResponse resp = FILESYSTEM__REMOVE_RESPONSE__INIT;
	const struct user *u;
	struct fs_job *job;
	struct stat st;
	char *path = NULL, *err = NULL;
	enum fs_err fe;

	if (rpc_user(rpc, &u) != 0)
		goto out;
	if (req->path == NULL || req->path[0] == '\0') {
		/* Upstream would delete the home or default workdir. */
		rpc_error(rpc, CONNECT_INVALID_ARGUMENT, "empty path: refusing "
		    "to remove the home or default working directory");
		goto out;
	}
	if (fs_resolve(rpc, req->path, NULL, &path) != 0)
		goto out;
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		job = fs_job_new(FS_JOB_REMOVE, rpc);
		job->path = path;
		path = NULL;
		rpc_set_data(rpc, job);
		fs_job_queue(job);
		goto out;
	}
	if ((fe = fs_ops_remove_all(path, &err)) != FS_OK) {
		rpc_error(rpc, fs_code(fe), "%s", err);
		goto out;
	}
	rpc_reply(rpc, &resp.base);
out:
	free(path);
	free(err);
}

/* --- watchers --- */

/*
 * Validate, create and arm a watcher for path (filesystem.md §4.1). A
 * recursive watcher is armed on the thread pool; fs_watch_begin() runs
 * once it is armed.
 */
static void
fs_watch_open(struct rpc *rpc, enum fs_watch_kind kind, const char *reqpath,
    int recursive, int include_entry, int allow_network_mounts)
{
	struct fs_watch *watch = NULL;
	struct fs_job *job;
	char *path = NULL, *err = NULL;
	enum fs_err fe;

	if (fs_resolve(rpc, reqpath, NULL, &path) != 0)
		goto out;
	if ((fe = watcher_check(path, allow_network_mounts, &err)) != FS_OK) {
		rpc_error(rpc, fs_code(fe), "%s", err);
		goto out;
	}
	if (fs_stopping) {
		rpc_error(rpc, CONNECT_UNAVAILABLE, "daemon stopping");
		goto out;
	}
	if (fs_nwatches >= FS_SERVICE_MAX_WATCHERS) {
		rpc_error(rpc, CONNECT_RESOURCE_EXHAUSTED, "too many watchers "
		    "(at most %d)", FS_SERVICE_MAX_WATCHERS);
		goto out;
	}
	watch = xcalloc(1, sizeof(*watch));
	watch->kind = kind;
	watch->include_entry = include_entry;
	if (watcher_new(fs_loop, path, recursive, fs_watch_event_cb,
	    fs_watch_error_cb, watch, &watch->w, &err) != 0) {
		rpc_error(rpc, CONNECT_INTERNAL, "%s", err);
		free(watch);
		goto out;
	}
	watch->root = path;
	path = NULL;
	LIST_INSERT_HEAD(&fs_watches, watch, entry);
	fs_nwatches++;
	watch->rpc = rpc;
	rpc_set_data(rpc, watch);
	if (recursive) {
		job = fs_job_new(FS_JOB_ARM, NULL);
		job->watch = watch;
		watch->job = job;
		fs_job_queue(job);
		goto out;
	}
	if (watcher_arm(watch->w, &err) != 0) {
		fs_watch_detach_error(watch, CONNECT_INTERNAL, err);
		goto out;
	}
	fs_watch_begin(watch);
out:
	free(path);
	free(err);
}

/* The arming job of a watch returned. */
static void
fs_arm_done(struct fs_job *job, int status)
{
	struct fs_watch *watch = job->watch;

	watch->job = NULL;
	if (watch->rpc == NULL) {
		/* The call went away while the watch was armed. */
		fs_watch_free(watch);
		return;
	}
	if (fs_stopping) {
		fs_watch_detach_error(watch, CONNECT_UNAVAILABLE,
		    "daemon stopping");
		return;
	}
	if (status != 0) {
		fs_watch_detach_error(watch, CONNECT_INTERNAL,
		    uv_strerror(status));
		return;
	}
	if (job->err != FS_OK) {
		fs_watch_detach_error(watch, CONNECT_INTERNAL, job->errmsg);
		return;
	}
	fs_watch_begin(watch);
}

/* The watch is armed: start reading and tell the client. */
static void
fs_watch_begin(struct fs_watch *watch)
{
	Filesystem__WatchDirResponse resp =
	    FILESYSTEM__WATCH_DIR_RESPONSE__INIT;
	Filesystem__WatchDirResponse__StartEvent start =
	    FILESYSTEM__WATCH_DIR_RESPONSE__START_EVENT__INIT;
	Filesystem__WatchDirResponse__KeepAlive ka =
	    FILESYSTEM__WATCH_DIR_RESPONSE__KEEP_ALIVE__INIT;
	Filesystem__CreateWatcherResponse cresp =
	    FILESYSTEM__CREATE_WATCHER_RESPONSE__INIT;
	struct rpc *rpc = watch->rpc;
	char *msg;
	int r;

	if ((r = watcher_start(watch->w)) != 0) {
		msg = xasprintf("error creating watcher: %s", uv_strerror(r));
		fs_watch_detach_error(watch, CONNECT_INTERNAL, msg);
		free(msg);
		return;
	}
	if (watch->kind == FS_WATCH_STREAM) {
		resp.event_case = FILESYSTEM__WATCH_DIR_RESPONSE__EVENT_START;
		resp.start = &start;
		if (rpc_send(rpc, &resp.base) != 0)
			return;		/* the client left; cancel follows */
		resp.event_case =
		    FILESYSTEM__WATCH_DIR_RESPONSE__EVENT_KEEPALIVE;
		resp.keepalive = &ka;
		rpc_keepalive(rpc, &resp.base);
		return;
	}
	fs_watch_make_id(watch);
	rpc_set_data(rpc, NULL);
	watch->rpc = NULL;
	cresp.watcher_id = watch->id;
	rpc_reply(rpc, &cresp.base);
}

/* Finish the attached call with an error and free the watch. */
static void
fs_watch_detach_error(struct fs_watch *watch, enum connect_code code,
    const char *msg)
{
	struct rpc *rpc = watch->rpc;

	if (rpc != NULL) {
		rpc_set_data(rpc, NULL);
		watch->rpc = NULL;
		rpc_error(rpc, code, "%s", msg != NULL ? msg : "error");
	}
	fs_watch_free(watch);
}

static void
fs_watch_free(struct fs_watch *watch)
{
	if (watch == NULL)
		return;
	LIST_REMOVE(watch, entry);
	fs_nwatches--;
	watcher_free(watch->w);
	fs_watch_clear_events(watch);
	free(watch->events);
	free(watch->error);
	free(watch->root);
	free(watch);
}

static void
fs_watch_clear_events(struct fs_watch *watch)
{
	size_t i;

	for (i = 0; i < watch->nevents; i++)
		protobuf_c_message_free_unpacked(&watch->events[i]->base,
		    NULL);
	watch->nevents = 0;
}

/* A polling watcher failed: keep only the error for later calls. */
static void
fs_watch_fail(struct fs_watch *watch, const char *msg)
{
	if (watch->error == NULL)
		watch->error = xasprintf("watcher error: %s", msg);
	fs_watch_clear_events(watch);
	free(watch->events);
	watch->events = NULL;
	watch->capevents = 0;
	watcher_free(watch->w);
	watch->w = NULL;
}

/* The live polling watcher with this id, or NULL. */
static struct fs_watch *
fs_watch_find(const char *id)
{
	struct fs_watch *watch;

	if (id == NULL)
		return NULL;
	LIST_FOREACH(watch, &fs_watches, entry) {
		if (watch->kind == FS_WATCH_POLL && watch->id[0] != '\0' &&
		    strcmp(watch->id, id) == 0)
			return watch;
	}
	return NULL;
}

/* A fresh id like upstream's: "w" and 20 characters of [a-z0-9]. */
static void
fs_watch_make_id(struct fs_watch *watch)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char id[FS_WATCHER_ID_LEN + 1];
	int i;

	do {
		id[0] = 'w';
		for (i = 1; i < FS_WATCHER_ID_LEN; i++)
			id[i] = chars[randombytes_uniform(sizeof(chars) - 1)];
		id[FS_WATCHER_ID_LEN] = '\0';
	} while (fs_watch_find(id) != NULL);
	memcpy(watch->id, id, sizeof(watch->id));
}

/* One event from a watcher: to the stream or into the buffer. */
static void
fs_watch_event_cb(struct watcher *w, const char *name, enum watcher_op op,
    void *arg)
{
	Filesystem__WatchDirResponse resp =
	    FILESYSTEM__WATCH_DIR_RESPONSE__INIT;
	struct fs_watch *watch = arg;
	Filesystem__FilesystemEvent *ev;
	Filesystem__EntryInfo *e;
	char *abs, *msg;

	if (watch->kind == FS_WATCH_POLL &&
	    watch->nevents >= FS_SERVICE_MAX_EVENTS) {
		fs_watch_fail(watch, "fsnotify: queue or buffer overflow");
		return;
	}
	ev = xmalloc(sizeof(*ev));
	filesystem__filesystem_event__init(ev);
	ev->name = xstrdup(name);
	ev->type = (Filesystem__EventType)op;
	if (watch->include_entry && (op == WATCHER_CREATE ||
	    op == WATCHER_WRITE || op == WATCHER_CHMOD)) {
		abs = fs_path_join(watch->root, name);
		if (fs_entry_new(abs, NULL, &e, NULL) == 0) {
			ev->_entry_case =
			    FILESYSTEM__FILESYSTEM_EVENT___ENTRY_ENTRY;
			ev->entry = e;
		}
		free(abs);
	}
	if (watch->kind == FS_WATCH_POLL) {
		if (watch->nevents == watch->capevents) {
			watch->capevents = watch->capevents ?
			    watch->capevents * 2 : 16;
			watch->events = xreallocarray(watch->events,
			    watch->capevents, sizeof(*watch->events));
		}
		watch->events[watch->nevents++] = ev;
		return;
	}
	resp.event_case = FILESYSTEM__WATCH_DIR_RESPONSE__EVENT_FILESYSTEM;
	resp.filesystem = ev;
	if (rpc_send(watch->rpc, &resp.base) == 0 &&
	    rpc_pending(watch->rpc) > FS_SERVICE_MAX_STREAM_PENDING) {
		msg = xasprintf("client too slow: more than %d bytes of "
		    "events waiting", FS_SERVICE_MAX_STREAM_PENDING);
		fs_watch_detach_error(watch, CONNECT_RESOURCE_EXHAUSTED, msg);
		free(msg);
	}
	protobuf_c_message_free_unpacked(&ev->base, NULL);
}

/* The watcher failed (overflow, read error, a watch it could not add). */
static void
fs_watch_error_cb(struct watcher *w, const char *msg, void *arg)
{
	struct fs_watch *watch = arg;
	char *text;

	if (watch->kind == FS_WATCH_POLL) {
		fs_watch_fail(watch, msg);
		return;
	}
	text = xasprintf("watcher error: %s", msg);
	fs_watch_detach_error(watch, CONNECT_INTERNAL, text);
	free(text);
}

static void
fs_rpc_watch_dir(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__WatchDirRequest *req = (const void *)m;

	fs_watch_open(rpc, FS_WATCH_STREAM, req->path, req->recursive,
	    req->include_entry, req->allow_network_mounts);
}

static void
fs_rpc_create_watcher(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__CreateWatcherRequest *req = (const void *)m;

	fs_watch_open(rpc, FS_WATCH_POLL, req->path, req->recursive,
	    req->include_entry, req->allow_network_mounts);
}

/* A WatchDir stream or a pending CreateWatcher ends without us. */
static void
fs_rpc_watch_cancel(struct rpc *rpc)
{
	struct fs_watch *watch = rpc_data(rpc);

	if (watch == NULL)
		return;
	rpc_set_data(rpc, NULL);
	watch->rpc = NULL;
	if (watch->job != NULL) {
		/* Being armed: fs_arm_done() frees it. */
		(void)uv_cancel((uv_req_t *)&watch->job->work);
		return;
	}
	fs_watch_free(watch);
}

static void
fs_rpc_get_watcher_events(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__GetWatcherEventsRequest *req = (const void *)m;
	Filesystem__GetWatcherEventsResponse resp =
	    FILESYSTEM__GET_WATCHER_EVENTS_RESPONSE__INIT;
	struct fs_watch *watch;

	if ((watch = fs_watch_find(req->watcher_id)) == NULL) {
		rpc_error(rpc, CONNECT_NOT_FOUND,
		    "watcher with id %s not found",
		    req->watcher_id != NULL ? req->watcher_id : "");
		return;
	}
	if (watch->error != NULL) {
		rpc_error(rpc, CONNECT_INTERNAL, "%s", watch->error);
		return;
	}
	resp.events = watch->events;
	resp.n_events = watch->nevents;
	rpc_reply(rpc, &resp.base);
	fs_watch_clear_events(watch);
	if (watch->capevents > 1024) {
		free(watch->events);
		watch->events = NULL;
		watch->capevents = 0;
	}
}

static void
fs_rpc_remove_watcher(struct rpc *rpc, const ProtobufCMessage *m)
{
	const Filesystem__RemoveWatcherRequest *req = (const void *)m;
	Filesystem__RemoveWatcherResponse resp =
	    FILESYSTEM__REMOVE_WATCHER_RESPONSE__INIT;
	struct fs_watch *watch;

	if ((watch = fs_watch_find(req->watcher_id)) == NULL) {
		rpc_error(rpc, CONNECT_NOT_FOUND,
		    "watcher with id %s not found",
		    req->watcher_id != NULL ? req->watcher_id : "");
		return;
	}
	fs_watch_free(watch);
	rpc_reply(rpc, &resp.base);
}
