/*
 * fs_ops.h - filesystem operations behind the Filesystem RPCs.
 *
 * Stat, MakeDir, Move, ListDir and Remove as OS work (filesystem.md §3),
 * plus the "ensure parent directories" step shared with uploads
 * (http-api.md §7.4). Paths are expected to be resolved already
 * (fs_path_resolve()). Nothing here knows about Connect or HTTP.
 *
 * Every operation returns an error class, not an errno, because the same
 * errno means different things at different steps (a missing path is
 * not_found for ListDir but internal while creating parents). The service
 * layer maps the class to a wire code; the mapping is fixed:
 *
 *   FS_OK            success
 *   FS_NOT_FOUND     not_found
 *   FS_INVALID       invalid_argument
 *   FS_EXISTS        already_exists
 *   FS_PRECONDITION  failed_precondition
 *   FS_INTERNAL      internal
 *
 * On any class but FS_OK, *errmsg (when errmsg is not NULL) receives a new
 * string in upstream's wording, which the caller sends and frees; errno
 * texts use Go's spelling (errtext.h). On FS_OK *errmsg is NULL.
 *
 * All of this runs as the daemon (root); uid and gid only decide who owns
 * the directories that get created.
 */
#ifndef ENVD_FS_OPS_H
#define ENVD_FS_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "filesystem/filesystem.pb-c.h"

/* Most entries one ListDir returns; more is an FS_INTERNAL error. */
#define FS_OPS_LIST_MAX		1000000
/*
 * Most memory the entries of one ListDir may take while it is built
 * (estimated from their fields: about 350 bytes for a plain file, a little
 * more than its JSON); more is an FS_INTERNAL error. Its JSON answer could
 * not be sent anyway: answers are capped at 64 MiB.
 */
#define FS_OPS_LIST_MAX_BYTES	(64 * 1024 * 1024)
/*
 * A ListDir walk that fails after gathering this much (same estimate)
 * gives the memory back to the kernel before it returns (memtrim_now()):
 * a walk that big runs on a worker thread, whose malloc arena would keep
 * it.
 */
#define FS_OPS_LIST_TRIM_BYTES	(1024 * 1024)

/* Deepest directory nesting fs_ops_remove_all() descends into. */
#define FS_OPS_REMOVE_MAX_DEPTH	4096

enum fs_err {
	FS_OK = 0,
	FS_NOT_FOUND,		/* not_found */
	FS_INVALID,		/* invalid_argument */
	FS_EXISTS,		/* already_exists */
	FS_PRECONDITION,	/* failed_precondition */
	FS_INTERNAL,		/* internal */
};

/*
 * Stat: the EntryInfo of path, not following a final symlink (fs_entry.h).
 * Sets *out to a new message (free with fs_entry_free()).
 * FS_NOT_FOUND  "file not found: lstat <path>: no such file or directory"
 * FS_INTERNAL   "error getting file info: lstat <path>: <reason>" (this
 *               includes ENOTDIR)
 */
enum fs_err	fs_ops_stat(const char *path, Filesystem__EntryInfo **out,
		    char **errmsg);

/*
 * Create path and every missing directory above it, from the top down,
 * with mode 0755 (less the umask), chowning each directory this call
 * creates to uid:gid; existing directories are left alone, and a directory
 * that appears concurrently (EEXIST) is accepted. The components are
 * path and its successive parents as Go's filepath.Dir computes them, so
 * path itself is used verbatim and its parents are cleaned. When ncreated
 * is not NULL it receives the number of directories created.
 * FS_INTERNAL   "path is a file: <component>"
 *               "failed to stat directory: stat <component>: <reason>"
 *               "failed to create directory: mkdir <component>: <reason>"
 *               "failed to chown directory: chown <component>: <reason>"
 * Callers creating parents for another operation prefix the message with
 * "error ensuring directories: ".
 */
enum fs_err	fs_ops_mkdir_all(const char *path, uid_t uid, gid_t gid,
		    int *ncreated, char **errmsg);

/*
 * MakeDir: fail if path exists, else create it and its parents as
 * fs_ops_mkdir_all(), and set *out to the new directory's EntryInfo.
 * FS_EXISTS     "directory already exists: <path>" (stat follows symlinks)
 * FS_INVALID    "path already exists but it is not a directory: <path>"
 * FS_INTERNAL   "error getting file info: stat <path>: <reason>", or an
 *               fs_ops_mkdir_all() message
 * plus the fs_ops_stat() errors for the result.
 */
enum fs_err	fs_ops_make_dir(const char *path, uid_t uid, gid_t gid,
		    Filesystem__EntryInfo **out, char **errmsg);

/*
 * Move: create the parents of dst (fs_ops_mkdir_all() of Go's
 * filepath.Dir(dst)) before looking at src, rename src to dst (replacing a
 * file there atomically, never copying across filesystems), and set *out
 * to the EntryInfo of dst.
 * FS_INTERNAL   "error ensuring directories: <fs_ops_mkdir_all message>"
 * FS_NOT_FOUND  "source file not found: rename <src> <dst>: no such file or
 *               directory"
 * FS_INTERNAL   "error renaming: rename <src> <dst>: <reason>"
 * plus the fs_ops_stat() errors for the result.
 */
enum fs_err	fs_ops_move(const char *src, const char *dst, uid_t uid,
		    gid_t gid, Filesystem__EntryInfo **out, char **errmsg);

/*
 * Remove: delete path recursively like Go's os.RemoveAll. A symlink is
 * removed, never followed; a missing path (or an empty string) is
 * success; the walk goes on past failures and reports the first one.
 * Directories are opened relative to their parent with O_NOFOLLOW, so a
 * symlink swapped in during the walk is never descended. "/" is not
 * special-cased.
 * FS_INTERNAL   "error removing file or directory: <op> <path>: <reason>"
 *               where op is unlinkat, openfdat, readdirnames, open or
 *               RemoveAll (a path ending in "/." is EINVAL); nesting deeper
 *               than FS_OPS_REMOVE_MAX_DEPTH fails with ENAMETOOLONG.
 */
enum fs_err	fs_ops_remove_all(const char *path, char **errmsg);

/*
 * ListDir (filesystem.md §3.4): canonicalise requested, check it is a
 * directory, and list the tree below it depth-first, pre-order, names in
 * bytewise order, symlinks listed but never entered, down to depth levels
 * (0 means 1). Each entry is built from its real path, then its path is
 * replaced by filepath.Join(requested, <relative path>). Entries that
 * vanish during the walk are skipped.
 *
 * Sets *entries to a new array of *n new messages (NULL and 0 when the
 * directory is empty). The array and messages are malloc'd, so they can
 * be handed to a ListDirResponse and freed with it; otherwise free them
 * with fs_ops_entries_free().
 * FS_NOT_FOUND     "path not found: lstat <component>: no such file or
 *                  directory"
 * FS_PRECONDITION  "cyclic symlink or chain >255 links at \"<requested>\""
 *                  (Go %q quoting)
 * FS_INTERNAL      "error resolving symlink: <reason>"
 * FS_NOT_FOUND     "directory not found: stat <real>: <reason>" (race)
 * FS_INTERNAL      "error getting file info: stat <real>: <reason>"
 * FS_INVALID       "path is not a directory: <real>"
 * FS_INTERNAL      "error reading directory <real>: <reason>", including
 *                  "too many entries (more than 1000000)" past
 *                  FS_OPS_LIST_MAX and "too many entries (more than 64 MiB)"
 *                  past FS_OPS_LIST_MAX_BYTES
 * What a failed walk had gathered is freed, and trimmed from the heap
 * past FS_OPS_LIST_TRIM_BYTES.
 */
enum fs_err	fs_ops_listdir(const char *requested, uint32_t depth,
		    Filesystem__EntryInfo ***entries, size_t *n,
		    char **errmsg);

/* Estimated heap bytes of one entry, for FS_OPS_LIST_MAX_BYTES. */
size_t		fs_ops_entry_cost(const Filesystem__EntryInfo *e);

/* Free an array of n entries from fs_ops_listdir(); NULL is a no-op. */
void		fs_ops_entries_free(Filesystem__EntryInfo **entries,
		    size_t n);

/* One entry of a directory read by fs_ops_read_dir(). */
struct fs_dirent {
	char *name;		/* owned */
	unsigned char type;	/* d_type, DT_UNKNOWN when not known */
};

/*
 * All entries of directory dir except "." and "..", sorted bytewise by
 * name, as a new array (free with fs_ops_dirents_free()). A final symlink
 * is followed only when follow is set. Returns 0, or -errno with *opp (when
 * opp is not NULL) naming the failed call, "open" or "readdirent".
 */
int		fs_ops_read_dir(const char *dir, int follow,
		    struct fs_dirent **out, size_t *n, const char **opp);
/* Free n entries from fs_ops_read_dir(); NULL is a no-op. */
void		fs_ops_dirents_free(struct fs_dirent *ents, size_t n);

#endif
