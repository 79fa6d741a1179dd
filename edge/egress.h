/*
 * egress.h - the egress fence of one sandbox: what it may reach outside.
 *
 * envd-edge calls these three functions and knows nothing else about
 * egress. The network object is the create request's `network` field in
 * E2B's JSON shape (../shared/spec/network.md §1); only its egress fields
 * (allowInternetAccess, allowOut, denyOut) concern this module, the edge
 * reads the rest.
 *
 * Every function returns 0 on success or a negative errno; on failure
 * *cause (when cause is not NULL) receives an owned, NUL-terminated message
 * for the operator (the caller frees it), and nothing has been changed.
 */
#ifndef EDGE_EGRESS_H
#define EDGE_EGRESS_H

#include <json-c/json.h>

/* One sandbox as the edge knows it. Every pointer is borrowed. */
#define EGRESS_STATE_DIR_MAX 100

struct egress_sandbox {
	const char *id;        /* sandbox ID, as given to `envd-edge add` */
	const char *addr;      /* the sandbox's address, as given to --addr */
	const char *state_dir; /* envd-edge's state directory */
};

/*
 * Check the egress fields of network (borrowed; NULL means no network
 * object) exactly as the platform's API does. -EINVAL with the spec's
 * message in *cause when they are refused.
 */
int egress_validate(struct json_object *network, char **cause);

/*
 * Put the fence for sb in place, atomically, replacing any fence sb->id
 * had. network was accepted by egress_validate. Needs CAP_NET_ADMIN in the
 * namespace that routes to sb->addr. Keeps its record under
 * sb->state_dir/egress/ and the egress proxy's maps (egress-*.map) in
 * sb->state_dir, pushed to the HAProxy answering on
 * sb->state_dir/haproxy.sock when there is one; sb->state_dir must be an
 * absolute path of at most EGRESS_STATE_DIR_MAX bytes without quotes or
 * backslashes. Operator settings, from the environment:
 * ENVD_EDGE_EGRESS_DNS (the auto-allowed DNS server, 8.8.8.8),
 * ENVD_EDGE_EGRESS_MAX_CONNS (2500), ENVD_EDGE_EGRESS_IFACE (the sandbox's
 * host-end interface; by default the one the route to sb->addr leaves by).
 */
int egress_apply(const struct egress_sandbox *sb,
    struct json_object *network, char **cause);

/*
 * Make the egress proxy's map file in state_dir (egress.map) from the
 * records there, atomically, and push it to a running HAProxy: called
 * before HAProxy starts, which needs the file to exist.
 */
int egress_init(const char *state_dir, char **cause);

/*
 * After a crash, drop what belongs to no sandbox any more: keep holds the
 * n IDs the edge has records for, sorted by strcmp. The egress record (and
 * the proxy's connection count) of every other ID under
 * state_dir/egress/ goes, the proxy's map is rebuilt from what is left
 * (file and running HAProxy), and every table applied with state_dir
 * (see egress_remove) whose ID is not kept is deleted. Tables of other
 * state directories are left alone. *pruned (when not NULL) receives how
 * many records and tables went.
 */
int egress_prune(const char *state_dir, const char *const *keep, size_t n,
    size_t *pruned, char **cause);

/*
 * Remove everything egress_apply put in place for id: its table (with its
 * sets), its record, its map entries and the proxy's connection count of
 * its address; 0 when none was. The table remembers the state directory it
 * was applied with.
 */
int egress_remove(const char *id, char **cause);

#endif /* EDGE_EGRESS_H */
