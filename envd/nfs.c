/*
 * nfs.c - NFS volume mounts of /init.
 *
 * Per volume, as upstream's setupNFS: skip when the path is already
 * mounted for the same lifecycleID; otherwise `findmnt --noheadings
 * --output SOURCE <path>` (exit 1: not mounted), if mounted `umount
 * --force <path>` and on failure `umount --lazy <path>` with a fresh 2 s
 * budget, then `mkdir -p <path>` and `mount -v -t nfs -o <opts> <target>
 * <path>` retried every 500 ms until it succeeds or the 10 s budget ends.
 * Volumes run one after another; the first failure ends the run.
 *
 * The helpers run through helper.c (own process group, PATH only).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "helper.h"
#include "log.h"
#include "nfs.h"
#include "xalloc.h"

#define NFS_BUDGET_MS 10000
#define NFS_LAZY_MS 2000
#define NFS_RETRY_MS 500
#define NFS_OPTS "fg,hard,sync,rsize=1048576,wsize=1048576," \
	"mountproto=tcp,mountport=2049,proto=tcp,port=2049,nfsvers=3," \
	"noacl,noac,lookupcache=none,retry=0"

/* One run; owned by this module from start to the after-work callback. */
struct nfs_run {
	uv_work_t work;
	struct nfs_volume *vols;
	int *skip;		/* per volume: already mounted this life */
	size_t n;
	char *lifecycle_id;
	char *msg;		/* failure text, NULL on success */
	int err;
	nfs_done_cb *cb;
	void *arg;
};

/* Ledger entry: path mounted for lifecycle. */
struct nfs_mounted {
	char *path;
	char *lifecycle_id;
	struct nfs_mounted *next;
};

static struct nfs_run *nfs_current;
static struct nfs_mounted *nfs_ledger;

static struct nfs_mounted *
nfs_ledger_find(const char *path)
{
	struct nfs_mounted *m;

	for (m = nfs_ledger; m != NULL; m = m->next)
		if (strcmp(m->path, path) == 0)
			return m;
	return NULL;
}

/* "a b c" of argv, for messages. Caller frees. */
static char *
nfs_argv_text(char *const argv[])
{
	struct buf b;
	size_t i;

	buf_init(&b, SIZE_MAX);
	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			(void)buf_puts(&b, " ");
		(void)buf_puts(&b, argv[i]);
	}
	return buf_steal_str(&b, NULL);
}

/* Go's exec error text for a wait status or -errno. Caller frees. */
static char *
nfs_status_text(int st)
{
	if (st == -ETIMEDOUT)
		return xstrdup("signal: killed");
	if (st < 0)
		return xasprintf("%s", strerror(-st));
	if (WIFEXITED(st))
		return xasprintf("exit status %d", WEXITSTATUS(st));
	if (WIFSIGNALED(st))
		return xasprintf("signal: %s", strsignal(WTERMSIG(st)));
	return xstrdup("unknown status");
}

static int
nfs_ok(int st)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* One volume; returns 0 or sets *msg (the part after "at \"path\": "). */
static int
nfs_one(const struct nfs_volume *v, int64_t deadline, char **msg)
{
	char *fm[] = { "findmnt", "--noheadings", "--output", "SOURCE",
	    v->path, NULL };
	char *uf[] = { "umount", "--force", v->path, NULL };
	char *ul[] = { "umount", "--lazy", v->path, NULL };
	char *mk[] = { "mkdir", "-p", v->path, NULL };
	char *mt[] = { "mount", "-v", "-t", "nfs", "-o", NFS_OPTS,
	    v->target, v->path, NULL };
	char *out = NULL, *cmd, *why;
	int st, attempts = 0;

	st = helper_run(fm, deadline, &out);
	free(out);
	if (nfs_ok(st)) {
		st = helper_run(uf, deadline, &out);
		free(out);
		if (!nfs_ok(st)) {
			st = helper_run(ul, helper_now_ms() + NFS_LAZY_MS, &out);
			if (!nfs_ok(st)) {
				why = nfs_status_text(st);
				*msg = xasprintf("failed to unmount: %s\n%s",
				    why, out);
				free(why);
				free(out);
				return -EIO;
			}
			free(out);
		}
	}
	st = helper_run(mk, deadline, &out);
	if (!nfs_ok(st)) {
		why = nfs_status_text(st);
		*msg = xasprintf("`mkdir -p %s` failed: %s\n%s", v->path, why,
		    out);
		free(why);
		free(out);
		return -EIO;
	}
	free(out);
	for (;;) {
		attempts++;
		st = helper_run(mt, deadline, &out);
		if (nfs_ok(st)) {
			free(out);
			return 0;
		}
		/* The next attempt starts NFS_RETRY_MS from now and gets
		 * NFS_RETRY_MS at least: one cut short by the budget would
		 * report its kill instead of mount's own error. */
		if (helper_now_ms() + 2 * NFS_RETRY_MS >= deadline)
			break;
		free(out);
		usleep(NFS_RETRY_MS * 1000);
	}
	cmd = nfs_argv_text(mt);
	why = nfs_status_text(st);
	*msg = xasprintf("after %d attempts: `%s` failed: %s\n%s", attempts,
	    cmd, why, out);
	free(cmd);
	free(why);
	free(out);
	return -EIO;
}

static void
nfs_work(uv_work_t *w)
{
	struct nfs_run *run = w->data;
	int64_t deadline = helper_now_ms() + NFS_BUDGET_MS;
	char *m = NULL;
	size_t i;

	for (i = 0; i < run->n; i++) {
		if (run->skip[i])
			continue;
		if (nfs_one(&run->vols[i], deadline, &m) != 0) {
			run->err = -EIO;
			run->msg = xasprintf("failed to setup NFS volumes: "
			    "failed to mount NFS at \"%s\": %s",
			    run->vols[i].path, m);
			free(m);
			return;
		}
		run->skip[i] = 2;	/* mounted now */
	}
}

static void
nfs_after(uv_work_t *w, int status)
{
	struct nfs_run *run = w->data;
	struct nfs_mounted *m;
	size_t i;

	(void)status;
	for (i = 0; i < run->n; i++) {
		if (run->skip[i] != 2)
			continue;
		if ((m = nfs_ledger_find(run->vols[i].path)) == NULL) {
			m = xcalloc(1, sizeof(*m));
			m->path = xstrdup(run->vols[i].path);
			m->next = nfs_ledger;
			nfs_ledger = m;
		}
		free(m->lifecycle_id);
		m->lifecycle_id = xstrdup(run->lifecycle_id);
	}
	if (run->err != 0)
		log_error("init: %s", run->msg);
	nfs_current = NULL;
	if (run->cb != NULL)
		run->cb(run->err, run->msg, run->arg);
	for (i = 0; i < run->n; i++) {
		free(run->vols[i].target);
		free(run->vols[i].path);
	}
	free(run->vols);
	free(run->skip);
	free(run->lifecycle_id);
	free(run->msg);
	free(run);
}

int
nfs_run_start(uv_loop_t *loop, const struct nfs_volume *vols, size_t n,
    const char *lifecycle_id, nfs_done_cb *cb, void *arg)
{
	struct nfs_run *run;
	struct nfs_mounted *m;
	size_t i;
	int r;

	if (nfs_current != NULL)
		return -EBUSY;
	run = xcalloc(1, sizeof(*run));
	run->vols = xcalloc(n > 0 ? n : 1, sizeof(*run->vols));
	run->skip = xcalloc(n > 0 ? n : 1, sizeof(*run->skip));
	run->n = n;
	run->lifecycle_id = xstrdup(lifecycle_id != NULL ? lifecycle_id : "");
	for (i = 0; i < n; i++) {
		run->vols[i].target = xstrdup(vols[i].target);
		run->vols[i].path = xstrdup(vols[i].path);
		m = nfs_ledger_find(vols[i].path);
		run->skip[i] = m != NULL &&
		    strcmp(m->lifecycle_id, run->lifecycle_id) == 0;
	}
	run->cb = cb;
	run->arg = arg;
	run->work.data = run;
	if ((r = uv_queue_work(loop, &run->work, nfs_work, nfs_after)) != 0) {
		run->cb = NULL;
		nfs_after(&run->work, r);
		return r;
	}
	nfs_current = run;
	return 0;
}

void
nfs_detach(void *arg)
{
	if (nfs_current != NULL && nfs_current->arg == arg)
		nfs_current->cb = NULL;
}

void
nfs_free(void)
{
	struct nfs_mounted *m;

	while ((m = nfs_ledger) != NULL) {
		nfs_ledger = m->next;
		free(m->path);
		free(m->lifecycle_id);
		free(m);
	}
}
