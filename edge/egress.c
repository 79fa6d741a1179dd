/*
 * egress.c - the egress fence of one sandbox: an nftables table (nft.c)
 * for every protocol, plus entries in the egress proxy's maps
 * (packaging/edge/20-egress.cfg) for TCP.
 *
 * The proxy's one map is shared by all sandboxes and keyed by the
 * sandbox's address. Each sandbox's share is kept as a record,
 * egress/ID.json in the state directory; the map is rebuilt from all
 * records into egress.map in the state directory (replaced atomically;
 * HAProxy loads it when it starts) and pushed whole to a running HAProxy
 * (prepare/commit), so one sandbox's change never shows another's entries
 * half-written. egress_init makes the file before HAProxy first starts.
 *
 * Order of an apply: maps first (entries for an address with no table yet
 * are never consulted), then the table in one transaction; if the table
 * fails, the old record and maps are put back.
 *
 * Operator settings come from the environment, read at each call:
 *   ENVD_EDGE_EGRESS_DNS        the auto-allowed DNS server (8.8.8.8)
 *   ENVD_EDGE_EGRESS_MAX_CONNS  concurrent TCP connections per sandbox
 *                               through the proxy (2500)
 *   ENVD_EDGE_EGRESS_IFACE      the sandbox's host-end interface, when the
 *                               route to its address does not tell
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "egress.h"
#include "hapi.h"
#include "nft.h"
#include "policy.h"
#include "store.h"
#include "xalloc.h"

#define EGRESS_DEFAULT_DNS "8.8.8.8"
#define EGRESS_DEFAULT_MAX_CONNS 2500
#define EGRESS_MAX_SANDBOXES 65536
/* The table's note: this prefix, then the state directory. */
#define EGRESS_NOTE "envd-edge "
/* The proxy's map, in the state directory (20-egress.cfg loads it). */
#define EGRESS_MAP "egress.map"
/* The proxy's per-sandbox connection counts (20-egress.cfg). */
#define EGRESS_CONN_TABLE "egress_conns"

/* The pairs of one map while it is rebuilt. */
struct egress_pairs {
	char **keys;
	char **vals;
	size_t n;
	size_t cap;
};

static int egress_max_conns(unsigned long *, char **);
static struct json_object *egress_record(const char *,
    const struct policy *, unsigned long);
static void egress_pairs_add(struct egress_pairs *, const char *,
    const char *);
static int egress_rebuild(const char *, char **);
static int egress_put_record(const char *, const char *,
    struct json_object *, char **);

int
egress_validate(struct json_object *network, char **cause)
{
	char *c = NULL;
	int r;

	r = policy_validate(network, &c);
	if (cause != NULL)
		*cause = c;
	else
		free(c);
	return r;
}

static int
egress_max_conns(unsigned long *cap, char **cause)
{
	const char *s = getenv("ENVD_EDGE_EGRESS_MAX_CONNS");
	char *end;

	*cap = EGRESS_DEFAULT_MAX_CONNS;
	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	*cap = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || *s < '0' || *s > '9' ||
	    *cap > 1000000) {
		*cause = xasprintf("ENVD_EDGE_EGRESS_MAX_CONNS: not a count "
		    "(0..1000000): %s", s);
		return -EINVAL;
	}
	return 0;
}

/* The record of one sandbox: its address, cap and domain keys. */
static struct json_object *
egress_record(const char *addr, const struct policy *p, unsigned long cap)
{
	struct json_object *rec, *exact, *suffix;
	size_t i;

	rec = json_object_new_object();
	exact = json_object_new_array();
	suffix = json_object_new_array();
	json_object_object_add(rec, "addr", json_object_new_string(addr));
	json_object_object_add(rec, "maxConns",
	    json_object_new_int64((int64_t)cap));
	for (i = 0; i < p->ndomains; i++)
		json_object_array_add(p->domains[i].match == POLICY_EXACT ?
		    exact : suffix, json_object_new_string(p->domains[i].key));
	json_object_object_add(rec, "exact", exact);
	json_object_object_add(rec, "suffix", suffix);
	return rec;
}

static void
egress_pairs_add(struct egress_pairs *m, const char *key, const char *val)
{
	if (m->n == m->cap) {
		m->cap = m->cap == 0 ? 64 : m->cap * 2;
		m->keys = xreallocarray(m->keys, m->cap, sizeof(*m->keys));
		m->vals = xreallocarray(m->vals, m->cap, sizeof(*m->vals));
	}
	m->keys[m->n] = xstrdup(key);
	m->vals[m->n] = xstrdup(val);
	m->n++;
}

/*
 * Rebuild the egress map from every record under dir/egress: replace
 * dir/EGRESS_MAP atomically (what a starting HAProxy loads) and push the
 * same pairs to HAProxy when one answers.
 */
static int
egress_rebuild(const char *dir, char **cause)
{
	struct egress_pairs map;
	struct json_object *rec = NULL, *addr, *v, *list;
	struct dirent *de;
	struct buf b;
	DIR *d = NULL;
	char *path = NULL, *sock = NULL, *key = NULL, *text = NULL;
	const char *a;
	size_t i, j, k, len, count = 0;
	int r = 0;

	memset(&map, 0, sizeof(map));
	buf_init(&b, 64u << 20);
	path = xasprintf("%s/egress", dir);
	if ((d = opendir(path)) == NULL && errno != ENOENT) {
		r = -errno;
		*cause = xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	while (d != NULL && (de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (++count > EGRESS_MAX_SANDBOXES) {
			*cause = xstrdup("too many egress records");
			r = -E2BIG;
			goto out;
		}
		free(path);
		path = xasprintf("%s/egress/%s", dir, de->d_name);
		json_object_put(rec);
		if ((rec = json_object_from_file(path)) == NULL ||
		    !json_object_object_get_ex(rec, "addr", &addr) ||
		    !json_object_is_type(addr, json_type_string) ||
		    !hapi_word_ok(a = json_object_get_string(addr)) ||
		    !json_object_object_get_ex(rec, "maxConns", &v)) {
			*cause = xasprintf("%s: not an egress record", path);
			r = -EINVAL;
			goto out;
		}
		free(key);
		free(text);
		key = xasprintf("src:%s", a);
		text = xasprintf("%lld", (long long)json_object_get_int64(v));
		egress_pairs_add(&map, key, text);
		for (k = 0; k < 2; k++) {
			if (!json_object_object_get_ex(rec,
			    k == 0 ? "exact" : "suffix", &list) ||
			    !json_object_is_type(list, json_type_array))
				continue;
			for (j = 0; j < json_object_array_length(list); j++) {
				v = json_object_array_get_idx(list, j);
				free(key);
				key = xasprintf("%s%s@%s", k == 0 ? "=" : "",
				    json_object_get_string(v), a);
				if (hapi_word_ok(key))
					egress_pairs_add(&map, key, "1");
			}
		}
	}

	for (i = 0; i < map.n; i++)
		if (buf_puts(&b, map.keys[i]) != 0 || buf_puts(&b, " ") != 0 ||
		    buf_puts(&b, map.vals[i]) != 0 || buf_puts(&b, "\n") != 0) {
			*cause = xstrdup("egress map too large");
			r = -E2BIG;
			goto out;
		}
	free(path);
	path = xasprintf("%s/" EGRESS_MAP, dir);
	if ((r = store_write_atomic(path, buf_ptr(&b), buf_len(&b))) != 0) {
		*cause = xasprintf("%s: %s", path, strerror(-r));
		goto out;
	}
	sock = xasprintf("%s/haproxy.sock", dir);
	if (hapi_alive(sock) &&
	    (r = hapi_map_replace(sock, path, (const char *const *)map.keys,
	    (const char *const *)map.vals, map.n, cause)) != 0)
		goto out;
	r = 0;
out:
	for (i = 0; i < map.n; i++) {
		free(map.keys[i]);
		free(map.vals[i]);
	}
	free(map.keys);
	free(map.vals);
	if (d != NULL)
		closedir(d);
	buf_reset(&b);
	json_object_put(rec);
	free(text);
	free(key);
	free(sock);
	free(path);
	return r;
}

/* Write (rec not NULL) or delete the record of id, then rebuild. */
static int
egress_put_record(const char *dir, const char *id, struct json_object *rec,
    char **cause)
{
	const char *text;
	char *path;
	size_t len;
	int r;

	path = xasprintf("%s/egress", dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		r = -errno;
		*cause = xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	free(path);
	path = xasprintf("%s/egress/%s.json", dir, id);
	if (rec != NULL) {
		text = json_object_to_json_string_length(rec,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &len);
		r = store_write_atomic(path, text, len);
	} else
		r = unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
	if (r != 0) {
		*cause = xasprintf("%s: %s", path, strerror(-r));
		goto out;
	}
	r = egress_rebuild(dir, cause);
out:
	free(path);
	return r;
}

int
egress_apply(const struct egress_sandbox *sb, struct json_object *network,
    char **cause)
{
	struct nft_fence f;
	struct policy *p = NULL;
	struct json_object *rec = NULL, *old = NULL;
	char iface[IF_NAMESIZE], note[NFT_NOTE_MAX + 1], *path = NULL, *c = NULL, *c2 = NULL;
	const char *dns, *env;
	unsigned long cap;
	int r;

	if (cause != NULL)
		*cause = NULL;
	if (!nft_id_ok(sb->id)) {
		c = xasprintf("sandbox ID %s cannot name an egress table",
		    sb->id);
		r = -EINVAL;
		goto out;
	}
	dns = getenv("ENVD_EDGE_EGRESS_DNS");
	if (dns == NULL || *dns == '\0')
		dns = EGRESS_DEFAULT_DNS;
	if ((r = egress_max_conns(&cap, &c)) != 0 ||
	    (r = policy_build(network, dns, &p, &c)) != 0)
		goto out;
	env = getenv("ENVD_EDGE_EGRESS_IFACE");
	if (env != NULL && *env != '\0' && strlen(env) < sizeof(iface))
		memcpy(iface, env, strlen(env) + 1);
	else if ((r = nft_route_iface(sb->addr, iface, &c)) != 0)
		goto out;

	if (sb->state_dir[0] != '/' ||
	    strlen(sb->state_dir) > EGRESS_STATE_DIR_MAX) {
		c = xasprintf("state directory must be an absolute path of at "
		    "most %d bytes", EGRESS_STATE_DIR_MAX);
		r = -EINVAL;
		goto out;
	}
	snprintf(note, sizeof(note), "%s%s", EGRESS_NOTE, sb->state_dir);
	path = xasprintf("%s/egress/%s.json", sb->state_dir, sb->id);
	old = json_object_from_file(path);
	rec = egress_record(sb->addr, p, cap);
	if ((r = egress_put_record(sb->state_dir, sb->id, rec, &c)) != 0)
		goto undo;
	f.id = sb->id;
	f.iface = iface;
	f.addr = sb->addr;
	f.policy = p;
	f.note = note;
	if ((r = nft_apply(&f, &c)) == 0)
		goto out;
undo:
	if (egress_put_record(sb->state_dir, sb->id, old, &c2) != 0)
		free(c2);
out:
	if (cause != NULL)
		*cause = c;
	else
		free(c);
	json_object_put(rec);
	json_object_put(old);
	policy_free(p);
	free(path);
	return r;
}

int
egress_init(const char *state_dir, char **cause)
{
	char *c = NULL;
	int r;

	r = egress_rebuild(state_dir, &c);
	if (cause != NULL)
		*cause = c;
	else
		free(c);
	return r;
}

/*
 * Forget the proxy's connection count of the sandbox whose record is at
 * dir/egress/ID.json (read before the record goes): the entry of an
 * address that no sandbox holds any more. Entries still tracked by live
 * connections stay until those end; HAProxy skips them.
 */
static void
egress_forget_count(const char *dir, struct json_object *rec)
{
	struct json_object *addr;
	char *sock, *cmd;

	if (rec == NULL || !json_object_object_get_ex(rec, "addr", &addr) ||
	    !hapi_word_ok(json_object_get_string(addr)))
		return;
	sock = xasprintf("%s/haproxy.sock", dir);
	cmd = xasprintf("clear table " EGRESS_CONN_TABLE " key %s",
	    json_object_get_string(addr));
	if (hapi_alive(sock))
		(void)hapi_command(sock, cmd, NULL);
	free(cmd);
	free(sock);
}

static int
egress_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
egress_kept(const char *id, const char *const *keep, size_t n)
{
	return n > 0 && bsearch(&id, keep, n, sizeof(*keep),
	    egress_cmp_str) != NULL;
}

int
egress_prune(const char *state_dir, const char *const *keep, size_t n,
    size_t *pruned, char **cause)
{
	struct json_object *rec;
	struct dirent *de;
	char note[NFT_NOTE_MAX + 1], mine[NFT_NOTE_MAX + 1];
	char **ids = NULL, *path = NULL, *file, *id, *c = NULL;
	size_t i, nids = 0, count = 0, len;
	DIR *d;
	int r = 0;

	snprintf(mine, sizeof(mine), "%s%s", EGRESS_NOTE, state_dir);
	path = xasprintf("%s/egress", state_dir);
	if ((d = opendir(path)) == NULL && errno != ENOENT) {
		r = -errno;
		c = xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	while (d != NULL && (de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		id = xstrndup(de->d_name, len - 5);
		if (!egress_kept(id, keep, n)) {
			file = xasprintf("%s/%s", path, de->d_name);
			rec = json_object_from_file(file);
			if (unlink(file) == 0) {
				egress_forget_count(state_dir, rec);
				count++;
			} else if (errno != ENOENT && r == 0) {
				r = -errno;
				c = xasprintf("%s: %s", file, strerror(errno));
			}
			json_object_put(rec);
			free(file);
		}
		free(id);
	}
	if (d != NULL)
		closedir(d);
	if (r != 0 || (r = egress_rebuild(state_dir, &c)) != 0 ||
	    (r = nft_list_ids(&ids, &nids, &c)) != 0)
		goto out;
	for (i = 0; i < nids; i++) {
		if (egress_kept(ids[i], keep, n))
			continue;
		if ((r = nft_note(ids[i], note, &c)) == -ENOENT) {
			r = 0;
			continue;
		}
		if (r != 0)
			goto out;
		if (strcmp(note, mine) != 0)
			continue; /* another state directory's */
		if ((r = nft_delete(ids[i], &c)) != 0)
			goto out;
		count++;
	}
out:
	for (i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	free(path);
	if (pruned != NULL)
		*pruned = count;
	if (cause != NULL)
		*cause = c;
	else
		free(c);
	return r;
}

int
egress_remove(const char *id, char **cause)
{
	struct json_object *rec = NULL;
	char note[NFT_NOTE_MAX + 1], *c = NULL, *path = NULL;
	const char *dir;
	int r;

	if ((r = nft_note(id, note, &c)) == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r != 0)
		goto out;
	/* the maps first: once the table is gone, nothing says where */
	if (strncmp(note, EGRESS_NOTE, strlen(EGRESS_NOTE)) == 0) {
		dir = note + strlen(EGRESS_NOTE);
		path = xasprintf("%s/egress/%s.json", dir, id);
		rec = json_object_from_file(path);
		if ((r = egress_put_record(dir, id, NULL, &c)) != 0)
			goto out;
		egress_forget_count(dir, rec);
	}
	r = nft_delete(id, &c);
out:
	json_object_put(rec);
	free(path);
	if (cause != NULL)
		*cause = c;
	else
		free(c);
	return r;
}
