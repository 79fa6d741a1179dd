/*
 * files_write.h - writing one uploaded file (spec/http-api.md §7.4, §7.5)
 * so that nobody ever sees half of it.
 *
 * The data goes to a temporary file beside the target,
 * ".<name>.envd-upload.<random>", created with O_EXCL, owned by the
 * uploading user and given the mode of the file it replaces (new files:
 * 0666 less the umask). Only files_write_commit() renames it over the
 * target; files_write_free() before that removes it. So an aborted,
 * rejected or failed upload leaves the old file as it was and no
 * temporary file behind (a daemon killed mid-upload does leave its
 * temporary file).
 *
 * The target's directory is opened once files_write_open() has resolved
 * the target, and held open until files_write_free(): the target is
 * examined, the temporary file created, renamed and removed only by names
 * relative to it (fstatat, openat, renameat, unlinkat). A directory on the
 * path that is moved, or replaced by a symlink, while the body comes in
 * cannot redirect the file elsewhere: it lands in the directory that was
 * checked, under its new name if that was moved, and the temporary file
 * never stays behind.
 *
 * Differences from writing in place, as upstream does:
 *  - a symlink at the target is resolved first (up to 40 links, relative
 *    links against their directory) and the temporary file is written
 *    next to the final target, so the link keeps pointing at the new
 *    contents;
 *  - other hard links to the old file keep the old contents;
 *  - the owner changes to the uploader as upstream does, and the old
 *    mode is kept without its setuid/setgid bits (a chown clears them
 *    upstream too); user.* (other than user.e2b.*), trusted.* and POSIX
 *    ACL attributes are copied from the old file;
 *  - watchers see the temporary name come and go; the target itself gets
 *    a create (the rename) and, for a non-empty file, one modify
 *    (ftruncate to its own size after the rename), as a file written in
 *    place would.
 * Targets that cannot be replaced by a rename are written in place,
 * opened O_NONBLOCK so that nothing can stall the loop: an existing
 * device, FIFO or socket, and anything on proc, sysfs, cgroup, debugfs,
 * tracefs or securityfs. Their owner is never changed and metadata is
 * skipped where the filesystem has no xattrs. A FIFO without a reader
 * fails to open (ENXIO) and a full one fails to write (EAGAIN).
 *
 * Data is written in batches of FILES_WRITE_BATCH bytes; a chunk of at
 * least FILES_WRITE_DIRECT_MIN bytes arriving while nothing is batched is
 * written as is. Offsets are 64-bit throughout.
 *
 * OS code only: errors come back as a class the caller maps to a status,
 * plus a message in upstream's wording (errno texts as Go spells them).
 * All calls block; they are meant for the loop thread with local disks.
 */
#ifndef ENVD_FILES_WRITE_H
#define ENVD_FILES_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FILES_WRITE_BATCH	(1024 * 1024)
#define FILES_WRITE_DIRECT_MIN	(256 * 1024)
/* Symlinks followed at the target before giving up with ELOOP. */
#define FILES_WRITE_MAX_LINKS	40
/* Bytes of the target's base name kept in the temporary name. */
#define FILES_WRITE_TEMP_NAME_MAX 200

enum files_write_err {
	FILES_WRITE_OK = 0,
	FILES_WRITE_INVALID,	/* 400 */
	FILES_WRITE_NOSPACE,	/* 507 */
	FILES_WRITE_INTERNAL,	/* 500 */
};

struct files_write;

/*
 * Prepare to write path (already resolved): create its missing parent
 * directories owned by uid:gid, check what is there, and create the
 * temporary file (or open the target, for in-place targets). On
 * FILES_WRITE_OK sets *out (free with files_write_free()). Otherwise *out
 * is NULL and *errmsg (caller frees) is one of:
 *   INTERNAL "error ensuring directories: <fs_ops_mkdir_all message>"
 *   INTERNAL "error getting file info: stat <path>: <reason>"
 *   INVALID  "path is a directory: <path>"
 *   NOSPACE  "not enough inodes available: open <path>: <reason>"
 *   INTERNAL "error opening file: open <path>: <reason>"
 *   INTERNAL "error changing file ownership: chown <path>: <reason>"
 */
enum files_write_err files_write_open(const char *path, uid_t uid,
    gid_t gid, struct files_write **out, char **errmsg);

/*
 * Append len bytes. After a failure the writer only accepts
 * files_write_free(). Errors (*errmsg set, caller frees):
 *   NOSPACE  "not enough disk space available" (ENOSPC, EDQUOT)
 *   INTERNAL "error writing file: write <path>: <reason>"
 */
enum files_write_err files_write_data(struct files_write *w,
    const void *data, size_t len, char **errmsg);

/* Bytes accepted so far. */
uint64_t files_write_size(const struct files_write *w);

/*
 * Finish: write what is batched, replace the user.e2b.* attributes with
 * keys[i]=values[i] (i < n; keys without the prefix), and move the file
 * into place. ENOTSUP from the attributes is ignored. Errors, after which
 * the target is untouched (in-place targets excepted):
 *   the files_write_data() errors for the last batch
 *   NOSPACE  "not enough space for file metadata: <detail>"
 *   INTERNAL "error writing file metadata: <detail>"
 *   NOSPACE  "not enough disk space available" (rename)
 *   INTERNAL "error writing file: rename <tmp> <path>: <reason>"
 *   INTERNAL "error writing file: close <path>: <reason>" (the file is in
 *            place already; only remote filesystems report this)
 */
enum files_write_err files_write_commit(struct files_write *w,
    const char *const *keys, const char *const *values, size_t n,
    char **errmsg);

/* Close and free w, removing the temporary file unless committed. NULL is
 * a no-op. */
void	files_write_free(struct files_write *w);

/*
 * A transfer buffer of len bytes straight from mmap, so that its pages go
 * back to the kernel when it is freed (malloc keeps large freed blocks in
 * its heap once its mmap threshold has grown). Never returns NULL; aborts
 * like xmalloc when memory is exhausted. files_write_buf_free(NULL, len)
 * is a no-op.
 */
void	*files_write_buf_new(size_t len);
void	files_write_buf_free(void *p, size_t len);

/*
 * The temporary name for base (a file name without '/') in dir, with
 * rnd[0..rndlen) appended as lower-case hex: "<dir>/.<base>.envd-upload.
 * <hex>", base cut to FILES_WRITE_TEMP_NAME_MAX bytes. Returns a new
 * string (caller frees).
 */
char	*files_write_temp_name(const char *dir, const char *base,
	    const uint8_t *rnd, size_t rndlen);

/*
 * Resolve symlinks at the last component of path (intermediate components
 * are left to the kernel), following at most FILES_WRITE_MAX_LINKS. A
 * relative link is taken relative to the directory of the link. Returns 0
 * and sets *out (caller frees) to the first path that is not a symlink
 * (it may not exist), or -ELOOP / -errno from lstat or readlink.
 */
int	files_write_resolve(const char *path, char **out);

#endif
