/*
 * test-fs-entry.c - EntryInfo construction, symlink walking, errno texts
 * and user lookups.
 *
 * Runs against real files in a private temporary directory. Checks that
 * need root (chown to an unknown uid) or user xattrs are skipped when
 * those are unavailable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "errtext.h"
#include "fs_entry.h"
#include "tap.h"
#include "users.h"
#include "xalloc.h"

#define SKIP(what, why)	ok(1, "%s # SKIP %s", (what), (why))

static char tmpdir[PATH_MAX];	/* canonical temporary directory */

/*
 * The permissions table of filesystem.md §2, plus the remaining letters.
 * A setuid, setgid or sticky letter counts as a letter, so no "-" is added
 * before it for regular files (Go's FileMode.String()).
 */
static const struct {
	mode_t mode;
	const char *want;
} perm_tests[] = {
	{ S_IFREG | 0644, "-rw-r--r--" },
	{ S_IFDIR | 0755, "drwxr-xr-x" },
	{ S_IFLNK | 0777, "Lrwxrwxrwx" },
	{ S_IFDIR | 01777, "dtrwxrwxrwx" },
	{ S_IFREG | 04755, "urwxr-xr-x" },
	{ S_IFDIR | 02775, "dgrwxrwxr-x" },
	{ S_IFCHR | 0666, "Dcrw-rw-rw-" },
	{ S_IFIFO | 0644, "prw-r--r--" },
	{ S_IFBLK | 0660, "Drw-rw----" },
	{ S_IFSOCK | 0755, "Srwxr-xr-x" },
	{ S_IFREG | 0, "----------" },
	{ S_IFREG | 0777, "-rwxrwxrwx" },
	{ S_IFREG | 07777, "ugtrwxrwxrwx" },
	{ S_IFCHR | 07644, "Dugctrw-r--r--" },
	{ S_IFDIR | 07777, "dugtrwxrwxrwx" },
	{ S_IFREG | 01000, "t---------" },
	{ S_IFREG | 00001, "---------x" },
	{ S_IFREG | 00400, "-r--------" },
};

/* tmpdir/name in a new string. */
static char *
tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

/* Create tmpdir/name with the given mode and contents. */
static void
mkfile(const char *name, mode_t mode, const char *data)
{
	char *p;
	int fd;

	p = tpath(name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data) ||
	    fchmod(fd, mode) != 0) {
		perror(p);
		exit(99);
	}
	close(fd);
	free(p);
}

/* Build the EntryInfo of tmpdir/name, failing the run when it fails. */
static Filesystem__EntryInfo *
entry(const char *name)
{
	Filesystem__EntryInfo *e = NULL;
	char *p, *msg = NULL;
	int r;

	p = tpath(name);
	r = fs_entry_new(p, NULL, &e, &msg);
	if (!ok(r == 0 && e != NULL, "entry %s", name))
		printf("#   %s\n", msg ? msg : "(no message)");
	free(p);
	free(msg);
	return e;
}

/* The metadata value of key in e, or NULL. */
static const char *
meta(const Filesystem__EntryInfo *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->n_metadata; i++) {
		if (strcmp(e->metadata[i]->key, key) == 0)
			return e->metadata[i]->value;
	}
	return NULL;
}

static void
test_perm_strings(void)
{
	char buf[FS_ENTRY_PERM_MAX];
	size_t i;

	for (i = 0; i < sizeof(perm_tests) / sizeof(perm_tests[0]); i++) {
		is_str(fs_entry_perm_string(perm_tests[i].mode, buf),
		    perm_tests[i].want, "permissions of mode 0%o",
		    (unsigned int)perm_tests[i].mode);
	}
}

static void
test_regular_and_dir(void)
{
	Filesystem__EntryInfo *e;
	struct timespec ts[2];
	struct stat st, lst;
	char *p, *msg;
	int r;

	mkfile("a.txt", 0644, "hello");
	p = tpath("a.txt");
	ts[0].tv_sec = ts[1].tv_sec = 1755770130;
	ts[0].tv_nsec = ts[1].tv_nsec = 123456789;
	if (utimensat(AT_FDCWD, p, ts, 0) != 0)
		perror("utimensat");
	r = fs_entry_new(p, &lst, &e, &msg);
	is_int(r, 0, "regular file: built");
	ok(msg == NULL, "regular file: no message");
	is_str(e->name, "a.txt", "regular file: name");
	is_str(e->path, p, "regular file: path");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_FILE,
	    "regular file: type FILE");
	is_int(e->size, 5, "regular file: size");
	is_int(e->mode, 420, "regular file: mode 420");
	is_str(e->permissions, "-rw-r--r--", "regular file: permissions");
	is_str(e->owner, "root", "regular file: owner");
	is_str(e->group, "root", "regular file: group");
	ok(e->modified_time != NULL, "regular file: mtime present");
	if (e->modified_time != NULL) {
		is_int(e->modified_time->seconds, 1755770130,
		    "regular file: mtime seconds");
		is_int(e->modified_time->nanos, 123456789,
		    "regular file: mtime nanos");
	}
	is_int(e->_symlink_target_case,
	    FILESYSTEM__ENTRY_INFO___SYMLINK_TARGET__NOT_SET,
	    "regular file: no symlink target");
	ok(S_ISREG(lst.st_mode), "regular file: lstat returned");
	fs_entry_free(e);

	/* mtime of exactly 0/0 is omitted, 0 s 5 ns is not. */
	ts[0].tv_sec = ts[1].tv_sec = 0;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(AT_FDCWD, p, ts, 0);
	r = fs_entry_new(p, NULL, &e, NULL);
	ok(r == 0 && e->modified_time == NULL, "mtime 0/0 omitted");
	fs_entry_free(e);
	ts[0].tv_nsec = ts[1].tv_nsec = 5;
	utimensat(AT_FDCWD, p, ts, 0);
	r = fs_entry_new(p, NULL, &e, NULL);
	ok(r == 0 && e->modified_time != NULL &&
	    e->modified_time->seconds == 0 && e->modified_time->nanos == 5,
	    "mtime 0 s 5 ns kept");
	fs_entry_free(e);
	free(p);

	p = tpath("dir");
	if (mkdir(p, 0700) != 0 || chmod(p, 0755) != 0)
		perror(p);
	e = entry("dir");
	stat(p, &st);
	is_str(e->name, "dir", "directory: name");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_DIRECTORY,
	    "directory: type DIRECTORY");
	is_int(e->mode, 493, "directory: mode 493");
	is_str(e->permissions, "drwxr-xr-x", "directory: permissions");
	is_int(e->size, st.st_size, "directory: size is st_size");
	fs_entry_free(e);

	/* A trailing slash keeps the path but not the name. */
	msg = xasprintf("%s/", p);
	r = fs_entry_new(msg, NULL, &e, NULL);
	is_int(r, 0, "directory with slash: built");
	is_str(e->name, "dir", "directory with slash: name");
	is_str(e->path, msg, "directory with slash: path verbatim");
	fs_entry_free(e);
	free(msg);
	free(p);

	r = fs_entry_new("/", NULL, &e, NULL);
	is_int(r, 0, "root: built");
	is_str(e->name, "/", "root: name is /");
	fs_entry_free(e);

	r = fs_entry_new("/dev/null", NULL, &e, NULL);
	is_int(r, 0, "/dev/null: built");
	is_str(e->permissions, "Dcrw-rw-rw-", "/dev/null: permissions");
	is_int(e->mode, 438, "/dev/null: mode 438");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_UNSPECIFIED,
	    "/dev/null: type UNSPECIFIED");
	fs_entry_free(e);
}

static void
test_special_modes(void)
{
	Filesystem__EntryInfo *e;
	char *p;

	mkfile("suid", 04755, "#!/bin/sh\n");
	e = entry("suid");
	is_str(e->permissions, "urwxr-xr-x", "setuid: permissions");
	is_int(e->mode, 493, "setuid: mode has no setuid bit");
	fs_entry_free(e);

	p = tpath("sgid");
	mkdir(p, 0700);
	chmod(p, 02775);
	e = entry("sgid");
	is_str(e->permissions, "dgrwxrwxr-x", "setgid dir: permissions");
	is_int(e->mode, 509, "setgid dir: mode 509");
	fs_entry_free(e);
	free(p);

	p = tpath("sticky");
	mkdir(p, 0700);
	chmod(p, 01777);
	e = entry("sticky");
	is_str(e->permissions, "dtrwxrwxrwx", "sticky dir: permissions");
	is_int(e->mode, 511, "sticky dir: mode 511");
	fs_entry_free(e);
	free(p);

	p = tpath("fifo");
	if (mkfifo(p, 0600) != 0 || chmod(p, 0644) != 0)
		perror(p);
	e = entry("fifo");
	is_str(e->permissions, "prw-r--r--", "fifo: permissions");
	is_int(e->mode, 420, "fifo: mode 420");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_UNSPECIFIED,
	    "fifo: type UNSPECIFIED");
	is_int(e->size, 0, "fifo: size 0");
	fs_entry_free(e);
	free(p);
}

static void
test_symlinks(void)
{
	Filesystem__EntryInfo *e;
	char *p, *want;

	p = tpath("link");
	if (symlink("a.txt", p) != 0)
		perror(p);
	free(p);
	mkfile("a.txt", 0644, "hello");
	e = entry("link");
	want = tpath("a.txt");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_FILE,
	    "link to file: type FILE");
	is_int(e->mode, 420, "link to file: mode of target");
	is_str(e->permissions, "Lrwxrwxrwx", "link to file: permissions");
	is_int(e->size, 5, "link to file: size is the target text length");
	is_int(e->_symlink_target_case,
	    FILESYSTEM__ENTRY_INFO___SYMLINK_TARGET_SYMLINK_TARGET,
	    "link to file: target set");
	is_str(e->symlink_target, want, "link to file: canonical target");
	is_str(e->name, "link", "link to file: name");
	fs_entry_free(e);
	free(want);

	/* A chain through a relative link inside a directory link. */
	p = tpath("dirlink");
	symlink("./dir/../dir", p);
	free(p);
	p = tpath("dir/inner");
	symlink("../link", p);
	free(p);
	e = entry("dirlink");
	want = tpath("dir");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_DIRECTORY,
	    "link to dir: type DIRECTORY");
	is_int(e->mode, 493, "link to dir: mode of target");
	is_str(e->symlink_target, want, "link to dir: canonical target");
	fs_entry_free(e);
	free(want);
	e = entry("dirlink/inner");
	want = tpath("a.txt");
	is_str(e->symlink_target, want, "chain of links: final target");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_FILE,
	    "chain of links: type FILE");
	p = tpath("dirlink/inner");
	is_str(e->path, p, "chain of links: path as given");
	free(p);
	fs_entry_free(e);
	free(want);

	p = tpath("broken");
	symlink("does-not-exist", p);
	e = entry("broken");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_UNSPECIFIED,
	    "broken link: type UNSPECIFIED");
	is_int(e->mode, 0, "broken link: mode 0");
	is_str(e->permissions, "Lrwxrwxrwx", "broken link: permissions");
	is_str(e->symlink_target, p, "broken link: target is own path");
	is_int(e->n_metadata, 0, "broken link: no metadata");
	fs_entry_free(e);
	free(p);

	p = tpath("loop1");
	want = tpath("loop2");
	symlink("loop2", p);
	symlink("loop1", want);
	e = entry("loop1");
	is_int(e->type, FILESYSTEM__FILE_TYPE__FILE_TYPE_UNSPECIFIED,
	    "looping link: type UNSPECIFIED");
	is_int(e->mode, 0, "looping link: mode 0");
	is_str(e->symlink_target, p, "looping link: target is own path");
	fs_entry_free(e);
	free(p);
	free(want);
}

static void
test_eval_symlinks(void)
{
	char *p, *out, *msg, *want, name[32], target[32];
	int i, r;

	/* A chain of 100 links: more than the C library follows. */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		if (i == 99)
			snprintf(target, sizeof(target), "a.txt");
		else
			snprintf(target, sizeof(target), "c%d", i + 1);
		p = tpath(name);
		symlink(target, p);
		free(p);
	}
	p = tpath("c0");
	want = tpath("a.txt");
	r = fs_entry_eval_symlinks(p, &out, &msg);
	is_int(r, 0, "eval: chain of 100 links");
	is_str(out, want, "eval: chain of 100 links ends at the file");
	free(out);
	free(p);
	free(want);

	/* 300 links are too many. */
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		if (i == 299)
			snprintf(target, sizeof(target), "a.txt");
		else
			snprintf(target, sizeof(target), "d%d", i + 1);
		p = tpath(name);
		symlink(target, p);
		free(p);
	}
	p = tpath("d0");
	r = fs_entry_eval_symlinks(p, &out, &msg);
	is_int(r, -ELOOP, "eval: chain of 300 links fails");
	ok(out == NULL, "eval: no result on failure");
	is_str(msg, "EvalSymlinks: too many links", "eval: too many links");
	free(msg);
	free(p);

	p = tpath("loop1/x");
	r = fs_entry_eval_symlinks(p, &out, &msg);
	is_int(r, -ELOOP, "eval: loop fails as too many links");
	free(msg);
	free(p);

	p = tpath("dir/missing/x");
	want = xasprintf("lstat %s/dir/missing: no such file or directory",
	    tmpdir);
	r = fs_entry_eval_symlinks(p, &out, &msg);
	is_int(r, -ENOENT, "eval: missing component");
	is_str(msg, want, "eval: missing component message");
	free(msg);
	free(want);
	free(p);

	p = tpath("a.txt/x");
	r = fs_entry_eval_symlinks(p, &out, &msg);
	is_int(r, -ENOTDIR, "eval: file followed by more");
	is_str(msg, "not a directory", "eval: ENOTDIR message");
	free(msg);
	free(p);
	p = tpath("a.txt/");
	r = fs_entry_eval_symlinks(p, &out, &msg);
	is_int(r, -ENOTDIR, "eval: file with trailing slash");
	free(msg);
	free(p);

	p = xasprintf("%s//dir/./../dirlink/inner", tmpdir);
	want = tpath("a.txt");
	r = fs_entry_eval_symlinks(p, &out, NULL);
	is_int(r, 0, "eval: messy path");
	is_str(out, want, "eval: messy path resolved");
	free(out);
	free(want);
	free(p);

	r = fs_entry_eval_symlinks("/", &out, NULL);
	is_str(out, "/", "eval: /");
	free(out);
	r = fs_entry_eval_symlinks("/..", &out, NULL);
	is_str(out, "/", "eval: /..");
	free(out);

	/* Relative paths stay relative. */
	if (chdir(tmpdir) == 0) {
		r = fs_entry_eval_symlinks("dirlink/inner", &out, NULL);
		is_str(out, "a.txt", "eval: relative path");
		free(out);
		r = fs_entry_eval_symlinks("dir/..", &out, NULL);
		is_str(out, ".", "eval: relative dir/..");
		free(out);
		chdir("/");
	}
}

static void
test_errors(void)
{
	Filesystem__EntryInfo *e = (Filesystem__EntryInfo *)1;
	char *p, *msg, *want;
	int r;

	p = tpath("nope");
	want = xasprintf("file not found: lstat %s: no such file or directory",
	    p);
	r = fs_entry_new(p, NULL, &e, &msg);
	is_int(r, -ENOENT, "missing: -ENOENT");
	ok(e == NULL, "missing: no entry");
	is_str(msg, want, "missing: message");
	free(msg);
	free(want);
	free(p);

	p = tpath("a.txt/x");
	want = xasprintf("error getting file info: lstat %s: not a directory",
	    p);
	r = fs_entry_new(p, NULL, &e, &msg);
	is_int(r, -ENOTDIR, "below a file: -ENOTDIR");
	is_str(msg, want, "below a file: message");
	free(msg);
	free(want);
	r = fs_entry_new(p, NULL, &e, NULL);
	is_int(r, -ENOTDIR, "below a file: without message");
	free(p);

	msg = fs_entry_errmsg("/x", -EACCES);
	is_str(msg, "error getting file info: lstat /x: permission denied",
	    "errmsg: EACCES");
	free(msg);
	msg = fs_entry_errmsg("/x", ENOENT);
	is_str(msg, "file not found: lstat /x: no such file or directory",
	    "errmsg: positive ENOENT");
	free(msg);
}

static void
test_owner_fallback(void)
{
	Filesystem__EntryInfo *e;
	char *p;

	mkfile("orphan", 0644, "");
	p = tpath("orphan");
	if (chown(p, 54321, 54322) != 0) {
		SKIP("unknown owner", "chown not permitted");
		SKIP("unknown group", "chown not permitted");
		free(p);
		return;
	}
	fs_entry_cache_clear();
	e = entry("orphan");
	is_str(e->owner, "54321", "unknown owner: decimal uid");
	is_str(e->group, "54322", "unknown group: decimal gid");
	fs_entry_free(e);
	/* The cache does not return the previous names for new ids. */
	e = entry("a.txt");
	is_str(e->owner, "root", "owner after a different uid");
	is_str(e->group, "root", "group after a different gid");
	fs_entry_free(e);
	free(p);
}

/*
 * Files seen without metadata are remembered by (device, inode, ctime):
 * whatever is remembered, an attribute set later must show at once, also
 * when it is set within the same clock tick as the file's last change.
 */
static void
test_bare_cache(void)
{
	struct timespec settle = { 0, 150 * 1000000L };
	Filesystem__EntryInfo *e;
	char *p;

	mkfile("bare", 0644, "x");
	p = tpath("bare");
	if (setxattr(p, "user.e2b.probe", "1", 1, 0) != 0) {
		SKIP("bare cache", "no user xattrs on this filesystem");
		free(p);
		return;
	}
	removexattr(p, "user.e2b.probe");
	nanosleep(&settle, NULL);
	e = entry("bare");
	is_int(e->n_metadata, 0, "bare: no metadata");
	fs_entry_free(e);
	e = entry("bare");
	is_int(e->n_metadata, 0, "bare: still none when asked again");
	fs_entry_free(e);
	setxattr(p, "user.e2b.k", "v", 1, 0);
	e = entry("bare");
	is_str(meta(e, "k"), "v", "bare: an attribute set later shows at once");
	fs_entry_free(e);
	removexattr(p, "user.e2b.k");
	e = entry("bare");
	is_int(e->n_metadata, 0, "bare: and its removal too");
	fs_entry_free(e);
	free(p);

	/* A fresh ctime is not trusted: the next change may share it (on
	 * kernels before 6.13; later ones stamp a queried ctime finely). */
	mkfile("fresh", 0644, "x");
	p = tpath("fresh");
	e = entry("fresh");
	is_int(e->n_metadata, 0, "fresh: no metadata");
	fs_entry_free(e);
	setxattr(p, "user.e2b.k", "v2", 2, 0);
	e = entry("fresh");
	is_str(meta(e, "k"), "v2", "fresh: an attribute set in the same tick shows");
	fs_entry_free(e);
	free(p);

	/* Forgetting (the clock was set) is harmless. */
	fs_entry_forget_bare();
	e = entry("bare");
	is_int(e->n_metadata, 0, "bare: none after forgetting");
	fs_entry_free(e);
}

static void
test_metadata(void)
{
	Filesystem__EntryInfo *e, *u;
	Filesystem__EntryInfo__MetadataEntry **m;
	uint8_t *packed;
	size_t len, n;
	char *p;
	int r;

	mkfile("meta", 0644, "x");
	p = tpath("meta");
	if (setxattr(p, "user.e2b.k", "v", 1, 0) != 0) {
		if (errno == ENOTSUP || errno == EOPNOTSUPP) {
			SKIP("metadata", "no user xattrs on this filesystem");
			free(p);
			return;
		}
		perror("setxattr");
	}
	setxattr(p, "user.e2b.author", "mish", 4, 0);
	setxattr(p, "user.e2b.B", "upper", 5, 0);
	setxattr(p, "user.e2b.", "empty key", 9, 0);
	setxattr(p, "user.e2b.empty", "", 0, 0);
	setxattr(p, "user.e2b.utf", "h\xc3\xa9llo \xe2\x82\xac", 10, 0);
	setxattr(p, "user.other", "nope", 4, 0);
	setxattr(p, "user.e2b.bad", "\xff\xfe", 2, 0);
	setxattr(p, "user.e2b.nul", "a\0b", 3, 0);
	setxattr(p, "user.e2b.sur", "\xed\xa0\x80", 3, 0);
	setxattr(p, "user.e2b.\xc0\xaf", "overlong key", 12, 0);
	e = entry("meta");
	is_int(e->n_metadata, 6, "metadata: six valid entries");
	if (e->n_metadata == 6) {
		is_str(e->metadata[0]->key, "", "metadata sorted: empty key");
		is_str(e->metadata[1]->key, "B", "metadata sorted: B");
		is_str(e->metadata[2]->key, "author",
		    "metadata sorted: author");
		is_str(e->metadata[3]->key, "empty", "metadata sorted: empty");
		is_str(e->metadata[4]->key, "k", "metadata sorted: k");
		is_str(e->metadata[5]->key, "utf", "metadata sorted: utf");
	}
	is_str(meta(e, "k"), "v", "metadata: k=v");
	is_str(meta(e, "author"), "mish", "metadata: author");
	is_str(meta(e, "empty"), "", "metadata: empty value");
	is_str(meta(e, "utf"), "h\xc3\xa9llo \xe2\x82\xac",
	    "metadata: UTF-8 value");
	ok(meta(e, "bad") == NULL, "metadata: invalid UTF-8 value skipped");
	ok(meta(e, "nul") == NULL, "metadata: value with NUL skipped");
	ok(meta(e, "sur") == NULL, "metadata: surrogate skipped");
	ok(meta(e, "other") == NULL, "metadata: other namespace ignored");

	/* The message packs and unpacks, and free_unpacked frees it. */
	len = protobuf_c_message_get_packed_size(&e->base);
	packed = xmalloc(len);
	protobuf_c_message_pack(&e->base, packed);
	u = filesystem__entry_info__unpack(NULL, len, packed);
	ok(u != NULL, "entry packs and unpacks");
	if (u != NULL) {
		is_str(u->path, e->path, "unpacked path");
		is_int(u->n_metadata, e->n_metadata, "unpacked metadata");
		filesystem__entry_info__free_unpacked(u, NULL);
	}
	free(packed);
	protobuf_c_message_free_unpacked(&e->base, NULL);

	/* Read following a symlink; the link's own xattrs cannot exist. */
	free(p);
	p = tpath("metalink");
	symlink("meta", p);
	e = entry("metalink");
	is_str(meta(e, "k"), "v", "metadata through a symlink");
	fs_entry_free(e);

	r = fs_entry_read_metadata(p, &m, &n);
	is_int(r, 0, "read_metadata: ok");
	is_int(n, 6, "read_metadata: count");
	while (n > 0)
		protobuf_c_message_free_unpacked(&m[--n]->base, NULL);
	free(m);
	free(p);
	p = tpath("a.txt");
	r = fs_entry_read_metadata(p, &m, &n);
	ok(r == 0 && m == NULL && n == 0, "read_metadata: none");
	free(p);
	p = tpath("nope");
	r = fs_entry_read_metadata(p, &m, &n);
	ok(r == -ENOENT && m == NULL && n == 0, "read_metadata: ENOENT");
	free(p);
	/* /proc files have no user xattrs; that is not an error for entries. */
	r = fs_entry_new("/proc/self/status", NULL, &e, NULL);
	ok(r == 0 && e->n_metadata == 0, "proc file: no metadata");
	fs_entry_free(e);
}

static void
test_errtext(void)
{
	is_str(errtext(ENOENT), "no such file or directory", "errtext ENOENT");
	is_str(errtext(-ENOENT), "no such file or directory",
	    "errtext -ENOENT");
	is_str(errtext(ENOTDIR), "not a directory", "errtext ENOTDIR");
	is_str(errtext(EACCES), "permission denied", "errtext EACCES");
	is_str(errtext(EEXIST), "file exists", "errtext EEXIST");
	is_str(errtext(ENOTEMPTY), "directory not empty", "errtext ENOTEMPTY");
	is_str(errtext(EXDEV), "invalid cross-device link", "errtext EXDEV");
	is_str(errtext(ELOOP), "too many levels of symbolic links",
	    "errtext ELOOP");
	is_str(errtext(EISDIR), "is a directory", "errtext EISDIR");
	is_str(errtext(EINVAL), "invalid argument", "errtext EINVAL");
	is_str(errtext(ENOSPC), "no space left on device", "errtext ENOSPC");
	is_str(errtext(EROFS), "read-only file system", "errtext EROFS");
	is_str(errtext(EBUSY), "device or resource busy", "errtext EBUSY");
	is_str(errtext(EPERM), "operation not permitted", "errtext EPERM");
	is_str(errtext(ENAMETOOLONG), "file name too long",
	    "errtext ENAMETOOLONG");
	is_str(errtext(EIO), "input/output error", "errtext EIO");
	is_str(errtext(EMFILE), "too many open files", "errtext EMFILE");
	is_str(errtext(EDQUOT), "disk quota exceeded", "errtext EDQUOT");
	is_str(errtext(EAGAIN), "resource temporarily unavailable",
	    "errtext fallback lower-cases");
	is_str(errtext(EBADF), "bad file descriptor", "errtext EBADF");
	is_str(errtext(9999), "errno 9999", "errtext unknown");
}

static void	test_users_cache(void);
static void	test_users_files(void);

/* is_str() of an allocated name, which it frees. */
static void
is_name(char *got, const char *want, const char *what)
{
	is_str(got, want, "%s", what);
	free(got);
}

static void
test_users(void)
{
	struct user *u = (struct user *)1;
	int r, i, dup;

	r = users_lookup("root", &u);
	is_int(r, 0, "users: root found");
	if (r == 0) {
		is_str(u->name, "root", "users: root name");
		is_int(u->uid, 0, "users: root uid");
		is_int(u->gid, 0, "users: root gid");
		is_str(u->home, "/root", "users: root home");
		ok(u->shell != NULL, "users: root shell");
		ok(u->ngroups >= 1 && u->groups[0] == 0,
		    "users: primary group first");
		for (i = 1, dup = 0; i < u->ngroups; i++)
			dup |= u->groups[i] == 0;
		ok(!dup, "users: primary group listed once");
	}
	users_free(u);
	users_free(NULL);
	r = users_lookup("", &u);
	is_int(r, -ENOENT, "users: empty name");
	ok(u == NULL, "users: empty name sets NULL");
	r = users_lookup(NULL, &u);
	is_int(r, -ENOENT, "users: NULL name");
	r = users_lookup("no-such-user-e2b", &u);
	is_int(r, -ENOENT, "users: unknown name");
	is_name(users_uid_name(0), "root", "users: uid 0");
	is_name(users_gid_name(0), "root", "users: gid 0");
	is_name(users_uid_name(54321), "54321", "users: unknown uid");
	is_name(users_gid_name(4294967294U), "4294967294", "users: unknown large gid");
	test_users_cache();
	test_users_files();
}

/* The last account is shared: a reference outlives the others. */
/* Write s to a new temporary file; returns its path (caller frees). */
static char *
users_file(const char *s)
{
	char *path = xstrdup("/tmp/envd-users.XXXXXX");
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	close(fd);
	return path;
}

/* The account files themselves, parsed as upstream's Go daemon does. */
static void
test_users_files(void)
{
	struct user *u = NULL;
	char *pw, *gr, *s, *big;
	size_t i;
	int r;

	/* A member list longer than the first scratch buffer (1 KiB). */
	big = xstrdup("big:x:900:");
	for (i = 0; i < 300; i++) {
		s = xasprintf("%s%sm%zu", big, i ? "," : "", i);
		free(big);
		big = s;
	}
	s = xasprintf("root:x:0:\n# a comment\n+nis::0:\nwheel:x:10:ann\n"
	    "%s,ann\nstaff:x:50:bob,ann\nann:x:1000:\nwheel2:x:10:ann\n", big);
	gr = users_file(s);
	free(s);
	free(big);
	pw = users_file("# comment\n+ann:x:5:5::/nis:/bin/sh\n"
	    "-bob:x:6:6::/nis:/bin/sh\nbroken line\n"
	    "ann:x:1000:1000:Ann:/home/ann:/bin/bash\n"
	    "bob:x:1001:50::/home/bob:/bin/sh\n"
	    "ann:x:2000:2000::/second:/bin/sh\n");
	users_set_files(pw, gr);

	r = users_lookup("ann", &u);
	is_int(r, 0, "users files: ann found past comments, +/- and broken lines");
	if (r == 0) {
		is_int(u->uid, 1000, "users files: the first ann wins");
		is_str(u->home, "/home/ann", "users files: home");
		is_str(u->shell, "/bin/bash", "users files: shell");
		is_int(u->ngroups, 4, "users files: primary and 3 member groups");
		if (u->ngroups == 4) {
			ok(u->groups[0] == 1000 && u->groups[1] == 10 &&
			    u->groups[2] == 900 && u->groups[3] == 50,
			    "users files: primary first, then file order, once "
			    "each (%u %u %u %u)", u->groups[0], u->groups[1],
			    u->groups[2], u->groups[3]);
		}
	}
	users_free(u);
	is_int(users_lookup("+ann", &u), -ENOENT,
	    "users files: NIS lines are not accounts");
	is_int(users_lookup("root", &u), -ENOENT,
	    "users files: only these files are read");
	is_name(users_uid_name(1001), "bob", "users files: uid 1001");
	is_name(users_gid_name(900), "big", "users files: gid of a long group line");
	is_name(users_gid_name(0), "root", "users files: gid 0");
	users_set_files(pw, "/nonexistent/envd-group");
	r = users_lookup("bob", &u);
	is_int(r, 0, "users files: no group file");
	if (r == 0)
		ok(u->ngroups == 1 && u->groups[0] == 50,
		    "users files: then the primary group alone");
	users_free(u);
	users_set_files("/nonexistent/envd-passwd", gr);
	is_int(users_lookup("bob", &u), -ENOENT, "users files: no passwd file");
	users_set_files(NULL, NULL);
	unlink(pw);
	unlink(gr);
	free(pw);
	free(gr);
}

static void
test_users_cache(void)
{
	struct user *a = NULL, *b = NULL;

	users_cache_clear();
	if (users_lookup("root", &a) != 0 || users_lookup("root", &b) != 0) {
		ok(0, "users cache: lookups");
		goto out;
	}
	ok(a == b, "users cache: the second lookup shares the first");
	is_str(b->home, a->home, "users cache: same home");
	is_int(b->ngroups, a->ngroups, "users cache: same groups");
	users_free(a);
	a = NULL;
	is_str(b->name, "root", "users cache: a reference outlives the other");
	users_cache_clear();
	is_str(b->name, "root", "users cache: and outlives the cache");
	is_int(users_lookup("no-such-user-e2b", &a), -ENOENT,
	    "users cache: other names still go to the account files");
	users_cache_clear();
out:
	users_free(a);
	users_free(b);
}

/* Remove the temporary tree. */
static void
cleanup(void)
{
	char *cmd;

	if (tmpdir[0] == '\0')
		return;
	cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# cleanup of %s failed\n", tmpdir);
	free(cmd);
}

int
main(void)
{
	char tmpl[] = "/tmp/test-fs-entry.XXXXXX";
	char *real;

	umask(022);
	if (mkdtemp(tmpl) == NULL || (real = realpath(tmpl, NULL)) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);

	test_perm_strings();
	test_regular_and_dir();
	test_special_modes();
	test_symlinks();
	test_eval_symlinks();
	test_errors();
	test_owner_fallback();
	test_metadata();
	test_bare_cache();
	test_errtext();
	test_users();

	fs_entry_cache_clear();
	cleanup();
	return done_testing();
}
