/*
 * store.c - the state directory: records and derived HAProxy map files.
 *
 * The map files are what HAProxy loads when it starts, so a restarted or
 * reloaded HAProxy serves exactly the committed sandboxes; the runtime API
 * then keeps the running process in step without a reload. A map file is
 * rewritten whole on each change: at a few thousand lines that is cheaper
 * than any cleverness, and a reader never sees half of it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "store.h"
#include "xalloc.h"

#define STORE_RECORD_MAX (1u << 20)
#define STORE_MAP_MAX (256u << 20)

static const char *const store_map_names[STORE_MAP_COUNT] = {
	[STORE_MAP_ADDR] = "sandboxes.map",
	[STORE_MAP_TOKEN] = "tokens.map",
	[STORE_MAP_MASK] = "masks.map",
};

const char *
store_map_name(enum store_map m)
{
	return store_map_names[m];
}

/* Read all of path into b (bounded by b's maximum). 0 or -errno. */
static int
store_read(const char *path, struct buf *b)
{
	uint8_t *p;
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	for (;;) {
		if ((p = buf_reserve(b, 65536)) == NULL) {
			r = -EFBIG;
			break;
		}
		if ((n = read(fd, p, 65536)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		buf_commit(b, (size_t)n);
	}
	close(fd);
	return r;
}

static int
store_fsync_dir(const char *path)
{
	char *dir;
	int fd, r = 0;

	dir = xstrdup(path);
	if (strrchr(dir, '/') != NULL)
		*strrchr(dir, '/') = '\0';
	else
		strcpy(dir, ".");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

int
store_write_atomic(const char *path, const void *data, size_t len)
{
	const char *p = data;
	char *tmp;
	ssize_t n;
	size_t off;
	int fd, r = 0;

	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		r = -errno;
		goto out;
	}
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(fd, p + off, len - off)) < 0) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			r = -errno;
			goto out;
		}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto out;
	}
	r = store_fsync_dir(path);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int
store_open(const char *dir, int lock, int *lockfd)
{
	char *p = NULL;
	int i, fd = -1, r = 0;

	if (lockfd != NULL)
		*lockfd = -1;
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		r = -errno;
		goto out;
	}
	p = xasprintf("%s/sandboxes", dir);
	if (mkdir(p, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	for (i = 0; i < STORE_MAP_COUNT; i++) {
		free(p);
		p = xasprintf("%s/%s", dir, store_map_names[i]);
		if (access(p, F_OK) < 0 &&
		    (r = store_write_atomic(p, "", 0)) < 0)
			goto out;
	}
	if (!lock)
		goto out;
	free(p);
	p = xasprintf("%s/lock", dir);
	if ((fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(fd, LOCK_EX) < 0) {
		r = -errno;
		goto out;
	}
	*lockfd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(p);
	return r;
}

static char *
store_record_path(const char *dir, const char *id)
{
	return xasprintf("%s/sandboxes/%s.json", dir, id);
}

int
store_load(const char *dir, const char *id, struct json_object **rec)
{
	struct buf b;
	char *path;
	int r;

	*rec = NULL;
	buf_init(&b, STORE_RECORD_MAX);
	path = store_record_path(dir, id);
	if ((r = store_read(path, &b)) < 0)
		goto out;
	if (buf_append(&b, "", 1) < 0) {
		r = -EFBIG;
		goto out;
	}
	*rec = json_tokener_parse((const char *)buf_ptr(&b));
	if (*rec == NULL || !json_object_is_type(*rec, json_type_object)) {
		json_object_put(*rec);
		*rec = NULL;
		r = -EINVAL;
	}
out:
	buf_reset(&b);
	free(path);
	return r;
}

int
store_save(const char *dir, const char *id, struct json_object *rec)
{
	const char *s;
	char *path;
	int r;

	path = store_record_path(dir, id);
	s = json_object_to_json_string_ext(rec,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = store_write_atomic(path, s, strlen(s));
	free(path);
	return r;
}

int
store_delete(const char *dir, const char *id)
{
	char *path;
	int r = 0;

	path = store_record_path(dir, id);
	if (unlink(path) < 0 && errno != ENOENT)
		r = -errno;
	else
		r = store_fsync_dir(path);
	free(path);
	return r;
}

int
store_sweep(const char *dir)
{
	static const char *const subdirs[] = { "", "/sandboxes", "/egress" };
	struct dirent *de;
	const char *t;
	char *path, *file;
	size_t i;
	DIR *d;
	int n = 0, r = 0;

	for (i = 0; i < sizeof(subdirs) / sizeof(*subdirs) && r == 0; i++) {
		path = xasprintf("%s%s", dir, subdirs[i]);
		if ((d = opendir(path)) == NULL) {
			if (errno != ENOENT)
				r = -errno;
			free(path);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			/* NAME.tmp.PID: digits after the last ".tmp." */
			if ((t = strstr(de->d_name, ".tmp.")) == NULL)
				continue;
			while (strstr(t + 1, ".tmp.") != NULL)
				t = strstr(t + 1, ".tmp.");
			t += 5;
			if (*t == '\0' || strspn(t, "0123456789") != strlen(t))
				continue;
			file = xasprintf("%s/%s", path, de->d_name);
			if (unlink(file) == 0)
				n++;
			else if (errno != ENOENT)
				r = -errno;
			free(file);
		}
		closedir(d);
		free(path);
	}
	return r < 0 ? r : n;
}

static int
store_cmp_id(const void *a, const void *b)
{
	struct json_object *const *x = a, *const *y = b, *xi, *yi;

	json_object_object_get_ex(*x, "sandboxId", &xi);
	json_object_object_get_ex(*y, "sandboxId", &yi);
	return strcmp(json_object_get_string(xi), json_object_get_string(yi));
}

int
store_load_all(const char *dir, struct json_object **all)
{
	struct json_object *rec, *v;
	struct dirent *de;
	char *path, *id;
	size_t len;
	DIR *d;
	int r = 0;

	*all = json_object_new_array();
	path = xasprintf("%s/sandboxes", dir);
	if ((d = opendir(path)) == NULL) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		id = xstrndup(de->d_name, len - 5);
		r = store_load(dir, id, &rec);
		free(id);
		if (r < 0)
			goto out;
		if (!json_object_object_get_ex(rec, "sandboxId", &v) ||
		    !json_object_is_type(v, json_type_string)) {
			json_object_put(rec);
			r = -EINVAL;
			goto out;
		}
		json_object_array_add(*all, rec);
	}
	json_object_array_sort(*all, store_cmp_id);
out:
	if (d != NULL)
		closedir(d);
	if (r < 0) {
		json_object_put(*all);
		*all = NULL;
	}
	free(path);
	return r;
}

int
store_map_set(const char *dir, enum store_map m, const char *key,
    const char *value)
{
	struct buf in, out;
	size_t klen = strlen(key);
	char *path, *line, *end;
	int r;

	buf_init(&in, STORE_MAP_MAX);
	buf_init(&out, STORE_MAP_MAX);
	path = xasprintf("%s/%s", dir, store_map_names[m]);
	if ((r = store_read(path, &in)) < 0 && r != -ENOENT)
		goto out;
	if (buf_append(&in, "", 1) < 0) {
		r = -EFBIG;
		goto out;
	}
	r = 0;
	for (line = (char *)buf_ptr(&in); *line != '\0'; line = end) {
		end = line + strcspn(line, "\n");
		if (*end == '\n')
			end++;
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			continue;
		if (buf_append(&out, line, (size_t)(end - line)) < 0) {
			r = -EFBIG;
			goto out;
		}
	}
	if (value != NULL && (buf_puts(&out, key) < 0 ||
	    buf_puts(&out, " ") < 0 || buf_puts(&out, value) < 0 ||
	    buf_puts(&out, "\n") < 0)) {
		r = -EFBIG;
		goto out;
	}
	r = store_write_atomic(path, buf_ptr(&out), buf_len(&out));
out:
	buf_reset(&in);
	buf_reset(&out);
	free(path);
	return r;
}

int
store_map_write(const char *dir, enum store_map m,
    const char *const *keys, const char *const *vals, size_t n)
{
	struct buf out;
	char *path;
	size_t i;
	int r = 0;

	buf_init(&out, STORE_MAP_MAX);
	path = xasprintf("%s/%s", dir, store_map_names[m]);
	for (i = 0; i < n; i++)
		if (buf_puts(&out, keys[i]) < 0 || buf_puts(&out, " ") < 0 ||
		    buf_puts(&out, vals[i]) < 0 || buf_puts(&out, "\n") < 0) {
			r = -EFBIG;
			goto out;
		}
	r = store_write_atomic(path, buf_len(&out) ? (const void *)buf_ptr(&out)
	    : "", buf_len(&out));
out:
	buf_reset(&out);
	free(path);
	return r;
}
