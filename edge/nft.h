/*
 * nft.h - a sandbox's nftables table, `inet envd_egress_ID`, in the edge's
 * own network namespace (never the sandbox's): it judges every packet that
 * arrives from the sandbox's host-end interface.
 *
 * Each table is written as one full definition and loaded in one
 * transaction (libnftables), so a sandbox has either its old table or its
 * new one, never a mix, and other sandboxes' tables are not touched.
 */
#ifndef EDGE_NFT_H
#define EDGE_NFT_H

#include <stdint.h>

#include "policy.h"

/* The egress proxy's listeners (packaging/edge/20-egress.cfg). */
#define NFT_PORT_HTTP 15016
#define NFT_PORT_TLS 15017
#define NFT_PORT_PASS 15018
#define NFT_PORT_BLOCK 15019

/* Longest sandbox ID usable in a table name. */
#define NFT_ID_MAX 200

/* What one table is made of. Every pointer is borrowed. */
struct nft_fence {
	const char *id;    /* sandbox ID: [A-Za-z0-9_-], 1..NFT_ID_MAX */
	const char *iface; /* host-end interface of the sandbox's link */
	const char *addr;  /* the sandbox's IPv4 address */
	const struct policy *policy;
	const char *note; /* kept as the table's comment: visible ASCII
			     without quotes or backslashes, NFT_NOTE_MAX */
};

#define NFT_NOTE_MAX 120

/*
 * The nft script that replaces the table of f->id by f's, as one
 * transaction. Returns 0 and an owned *text, or -EINVAL with *cause.
 */
int nft_render(const struct nft_fence *f, char **text, char **cause);

/* Run script through libnftables. 0, or -EIO with nft's error in *cause. */
int nft_run(const char *script, char **cause);

/* Load f's table (replacing any). 0 or -errno with *cause. */
int nft_apply(const struct nft_fence *f, char **cause);

/* Delete the table of id; 0 when there was none. */
int nft_delete(const char *id, char **cause);

/*
 * The note of id's table into note (NFT_NOTE_MAX + 1 bytes). -ENOENT when
 * id has no table, other -errno with *cause.
 */
int nft_note(const char *id, char *note, char **cause);

/*
 * The IDs of every egress table in the namespace (whoever made them), as
 * an owned array of *n owned strings in *ids (free each, then the array).
 * 0 or -errno with *cause.
 */
int nft_list_ids(char ***ids, size_t *n, char **cause);

/* 1 when id may be part of a table name. */
int nft_id_ok(const char *id);

/*
 * The name of the interface the route to addr (IPv4 text) leaves through,
 * into name (IF_NAMESIZE bytes): asks the kernel with a netlink
 * RTM_GETROUTE. 0, or -errno with *cause.
 */
int nft_route_iface(const char *addr, char *name, char **cause);

#endif /* EDGE_NFT_H */
