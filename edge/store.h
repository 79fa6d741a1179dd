/*
 * store.h - envd-edge's state directory.
 *
 * Layout (every file is replaced atomically: written to a temporary name,
 * fsync'd, renamed, directory fsync'd):
 *   sandboxes/ID.json  one record per sandbox (the truth)
 *   sandboxes.map      ID -> address        (HAProxy map, derived)
 *   tokens.map         ID -> SHA-256 of the traffic token, lowercase hex
 *   masks.map          ID -> encoded maskRequestHost (see edge.c)
 *   egress/ID.json     a sandbox's share of the egress proxy's map
 *   egress.map         the egress proxy's map (egress.c, 20-egress.cfg)
 *   haproxy.sock       HAProxy's runtime API socket
 *   haproxy.pid        HAProxy's pid file
 *   lock               flock'd by every verb that changes something
 * A record never holds a token, only its hash.
 */
#ifndef EDGE_STORE_H
#define EDGE_STORE_H

#include <json-c/json.h>
#include <stddef.h>

enum store_map {
	STORE_MAP_ADDR,
	STORE_MAP_TOKEN,
	STORE_MAP_MASK,
	STORE_MAP_COUNT,
};

/* The map file name of m inside the state directory. */
const char *store_map_name(enum store_map m);

/*
 * Create dir (mode 0700) and its sandboxes/ and empty map files when
 * missing, then take the exclusive lock when lock is set: *lockfd receives
 * the descriptor (close it to release) or -1. Returns 0 or -errno.
 */
int store_open(const char *dir, int lock, int *lockfd);

/* Write data (len bytes) to path atomically with mode 0600. 0 or -errno. */
int store_write_atomic(const char *path, const void *data, size_t len);

/* Read the record of id into *rec (owned by the caller). -ENOENT when
 * there is none, -EINVAL when it does not parse. */
int store_load(const char *dir, const char *id, struct json_object **rec);

/* Write rec as the record of id, atomically. */
int store_save(const char *dir, const char *id, struct json_object *rec);

/* Delete the record of id; 0 when there was none. */
int store_delete(const char *dir, const char *id);

/*
 * Remove what a writer killed mid-way left behind: the temporary files of
 * store_write_atomic (NAME.tmp.PID) in dir, dir/sandboxes and dir/egress.
 * Only with the lock held (every writer holds it, so none is in use).
 * Returns the number of files removed, or -errno.
 */
int store_sweep(const char *dir);

/* Every record, sorted by ID, as a new JSON array in *all. */
int store_load_all(const char *dir, struct json_object **all);

/*
 * Set (value not NULL) or delete (value NULL) the entry for key in map
 * file m, rewriting the file atomically. 0 or -errno.
 */
int store_map_set(const char *dir, enum store_map m, const char *key,
    const char *value);

/* Replace map file m with the n pairs keys[i] vals[i]. 0 or -errno. */
int store_map_write(const char *dir, enum store_map m,
    const char *const *keys, const char *const *vals, size_t n);

#endif /* EDGE_STORE_H */
