/*
 * fs_service.h - the filesystem.Filesystem Connect service (filesystem.md).
 *
 * Nine RPCs: Stat, MakeDir, Move, ListDir, Remove, the WatchDir stream and
 * the polling watchers (CreateWatcher, GetWatcherEvents, RemoveWatcher).
 * Paths are resolved for the request user (fs_path_resolve() with the
 * default workdir from /init); the OS work is in fs_ops.c, fs_entry.c and
 * watcher.c; errors reach clients with the codes and texts of §5.
 *
 * Work that can take long on a big tree runs on the libuv thread pool:
 * ListDir deeper than one level or of a large directory, Remove of a
 * directory, and arming a recursive watch. Stat, MakeDir, Move and small
 * listings are answered on the loop.
 *
 * Deviations and bounds (the spec leaves them open):
 * - Remove with an empty path fails with invalid_argument ("empty path")
 *   instead of deleting the home or default working directory.
 * - At most FS_SERVICE_MAX_WATCHERS watchers (WatchDir streams and polling
 *   watchers together) live at once; beyond that the call fails with
 *   resource_exhausted.
 * - A polling watcher buffers at most FS_SERVICE_MAX_EVENTS events between
 *   two GetWatcherEvents calls; one more fails it with the same error as
 *   an inotify queue overflow ("watcher error: fsnotify: queue or buffer
 *   overflow").
 * - A WatchDir stream whose client reads too slowly (more than
 *   FS_SERVICE_MAX_STREAM_PENDING bytes waiting to be sent) is ended with
 *   resource_exhausted, and its watcher stopped.
 */
#ifndef ENVD_FS_SERVICE_H
#define ENVD_FS_SERVICE_H

#include <uv.h>

/* Live watchers at once, streams and polling watchers together. */
#define FS_SERVICE_MAX_WATCHERS		1024
/* Events a polling watcher keeps between two GetWatcherEvents calls. */
#define FS_SERVICE_MAX_EVENTS		65536
/* Bytes a WatchDir stream may have waiting for a slow client. */
#define FS_SERVICE_MAX_STREAM_PENDING	(4 * 1024 * 1024)
/* ListDir of at most this many entries at depth 1 stays on the loop. */
#define FS_SERVICE_SMALL_DIR		64
/*
 * ListDir walks on the thread pool at once; more wait their turn (on the
 * loop, not on a worker), so that the memory of walks in progress stays
 * below this many times FS_OPS_LIST_MAX_BYTES.
 */
#define FS_SERVICE_LIST_JOBS		2
/* A pool ListDir answer of at least this many entries trims the heap as
 * soon as they are freed (memtrim_now), besides the delayed trim
 * (memtrim_soon) that follows every pool ListDir. */
#define FS_SERVICE_TRIM_ENTRIES		4096

/* Register the nine methods with connect; loop runs the watchers. */
void	fs_service_init(uv_loop_t *loop);

/*
 * Free every polling watcher and refuse new ones. Call after the HTTP
 * server has ended every request (WatchDir streams are released through
 * their cancel callbacks), e.g. once the loop has stopped.
 */
void	fs_service_shutdown(void);

#endif
