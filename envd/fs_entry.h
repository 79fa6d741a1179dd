/*
 * fs_entry.h - EntryInfo messages built from the filesystem.
 *
 * Fills the protobuf-c Filesystem__EntryInfo for a path following
 * filesystem.md §2: lstat-based type, size, permissions, owner, group and
 * mtime; symlinks reported with the type and mode of their final target and
 * the canonical target path; user.e2b.* extended attributes as metadata.
 * Also provides the symlink walk that ListDir uses to canonicalise a path.
 *
 * Every message returned here, and every string and sub-message inside it,
 * is allocated with malloc, so a message can be freed with fs_entry_free()
 * or with protobuf_c_message_free_unpacked(msg, NULL), including after it
 * has been attached to a response message.
 *
 * Owner and group names are cached briefly (one uid and one gid, about one
 * second) to spare NSS calls in directory listings. The cache is per
 * thread and holds no heap memory, so every function here may be called
 * from any thread (the Filesystem service runs long listings on the libuv
 * thread pool).
 */
#ifndef ENVD_FS_ENTRY_H
#define ENVD_FS_ENTRY_H

#include <stddef.h>
#include <sys/stat.h>

#include "filesystem/filesystem.pb-c.h"

/* Size of the buffer fs_entry_perm_string() needs, NUL included. */
#define FS_ENTRY_PERM_MAX	20

/* Prefix of the extended attributes that carry metadata. */
#define FS_ENTRY_XATTR_PREFIX	"user.e2b."

/* Most symlinks fs_entry_eval_symlinks() follows before giving up. */
#define FS_ENTRY_MAX_LINKS	255

/*
 * Write Go's FileMode.String() of a Linux st_mode into buf (at least
 * FS_ENTRY_PERM_MAX bytes): the letters d L D p S u g c t for the type and
 * the setuid/setgid/sticky bits ("-" when there are none), then rwxrwxrwx
 * with '-' for clear bits. Returns buf.
 */
char	*fs_entry_perm_string(mode_t mode, char *buf);

/*
 * Build the EntryInfo of path (filesystem.md §2). name is the base name of
 * path and path is copied as given. When lst is not NULL it receives the
 * lstat result, so callers can tell a real directory from a symlink to one.
 *
 * Returns 0 and sets *out to a new message (free with fs_entry_free()).
 * On failure *out is NULL and the return value is the lstat error:
 * -ENOENT (the service reports not_found) or another -errno (internal).
 * When errmsg is not NULL it then receives a new string (caller frees) as
 * built by fs_entry_errmsg(); it is set to NULL on success.
 * Metadata read errors never fail the call; the metadata is left empty.
 */
int	fs_entry_new(const char *path, struct stat *lst,
	    Filesystem__EntryInfo **out, char **errmsg);

/*
 * The message for an fs_entry_new() failure err (-errno) on path:
 *   -ENOENT: "file not found: lstat <path>: no such file or directory"
 *   other:   "error getting file info: lstat <path>: <reason>"
 * with Go's errno wording (errtext.h). Returns a new string (caller frees).
 */
char	*fs_entry_errmsg(const char *path, int err);

/* Free an EntryInfo and everything in it. NULL is a no-op. */
void	fs_entry_free(Filesystem__EntryInfo *e);

/*
 * Forget, in every thread, which files fs_entry_new() has seen without
 * metadata (they are keyed by ctime): for when the clock is set.
 */
void	fs_entry_forget_bare(void);

/*
 * Read the user.e2b.* extended attributes of path, following symlinks.
 * Keys have the prefix removed; keys or values that are not valid UTF-8 or
 * that contain NUL bytes are skipped, as is an attribute removed between
 * listing and reading it. The entries are sorted by key, bytewise.
 *
 * Returns 0 and sets *out to a new array of *n new entries (NULL and 0 when
 * there are none); each entry and the array are malloc'd. Returns -errno
 * (ENOTSUP, ENOENT, ...) when the attributes cannot be read; *out and *n are
 * then NULL and 0.
 */
int	fs_entry_read_metadata(const char *path,
	    Filesystem__EntryInfo__MetadataEntry ***out, size_t *n);

/*
 * Go's filepath.EvalSymlinks: resolve every symlink in path, component by
 * component, following at most FS_ENTRY_MAX_LINKS links, and return the
 * cleaned result (absolute when path is). Nothing but lstat and readlink
 * is called, so a loop is reported as a chain that is too long.
 *
 * Returns 0 and sets *out to a new string (caller frees). On failure *out
 * is NULL and, when errmsg is not NULL, *errmsg is a new string:
 *   -ENOENT    a component is missing: "lstat <component>: <reason>"
 *   -ELOOP     more than FS_ENTRY_MAX_LINKS links: "EvalSymlinks: too many
 *              links"
 *   -ENOTDIR   a non-directory is followed by more components: "not a
 *              directory"
 *   other      "lstat <component>: <reason>" or
 *              "readlink <component>: <reason>"
 */
int	fs_entry_eval_symlinks(const char *path, char **out, char **errmsg);

/* Forget the calling thread's cached owner and group names. */
void	fs_entry_cache_clear(void);

#endif
