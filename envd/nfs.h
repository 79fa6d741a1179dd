/*
 * nfs.h - NFS volume mounts of /init (firecracker.md §9, upstream-0.9.md
 * §3.7).
 *
 * One run at a time: nfs_run_start() takes the volumes, does the blocking
 * work (findmnt, umount, mkdir, mount helpers, each in its own process
 * group) on a libuv worker thread under a 10 s budget, and calls back on
 * the loop thread. The run is never cancelled by the /init client going
 * away. The path -> lifecycleID ledger lives here and is touched only on
 * the loop thread.
 */
#ifndef ENVD_NFS_H
#define ENVD_NFS_H

#include <stddef.h>

#include <uv.h>

struct nfs_volume {
	char *target;	/* nfs_target, e.g. "192.0.2.1:/vol" */
	char *path;	/* mount point, absolute */
};

/*
 * Called on the loop thread when a run ends. err is 0 on success; else
 * msg is the /init 400 text (owned by the callee of nothing: freed after
 * the callback returns).
 */
typedef void nfs_done_cb(int err, const char *msg, void *arg);

/*
 * Start mounting vols[0..n) for lifecycle_id (NULL counts as "").
 * Copies everything it needs. Returns 0 (cb will be called), -EBUSY when a
 * run is already in progress (upstream's quirk: the caller skips NFS and
 * answers 204; cb is not called), or -errno.
 */
int nfs_run_start(uv_loop_t *loop, const struct nfs_volume *vols, size_t n,
    const char *lifecycle_id, nfs_done_cb *cb, void *arg);

/*
 * Forget the callback of the run in progress (its /init is gone); the run
 * continues and still updates the ledger.
 */
void nfs_detach(void *arg);

/* Free the ledger at exit. */
void nfs_free(void);

#endif
