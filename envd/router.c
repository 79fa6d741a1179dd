/*
 * router.c - request order and the route table.
 */
#include "config.h"

#include <string.h>

#include "auth.h"
#include "compose.h"
#include "connect.h"
#include "control.h"
#include "cors.h"
#include "envs.h"
#include "files_get.h"
#include "files_post.h"
#include "health.h"
#include "httpd.h"
#include "init.h"
#include "metrics.h"
#include "router.h"

#define ROUTE_PREFIX 0x1	/* path is a prefix; handler checks the rest */
#define ROUTE_OPEN 0x2		/* exempt from the access-token gate */

struct route {
	const char *method;	/* NULL with ROUTE_PREFIX: any method */
	const char *path;
	unsigned int flags;
	const struct req_handler *handler;
};

static const struct route router_routes[] = {
	{ "GET", "/health", ROUTE_OPEN, &health_handler },
	{ "GET", "/version", ROUTE_OPEN, &version_handler },
	{ "POST", "/init", ROUTE_OPEN, &init_handler },
	{ "GET", "/envs", 0, &envs_handler },
	{ "GET", "/metrics", 0, &metrics_handler },
	{ "GET", "/files", ROUTE_OPEN, &files_get_handler },
	{ "POST", "/files", ROUTE_OPEN, &files_post_handler },
	{ "POST", "/files/compose", 0, &compose_handler },
	{ "POST", "/freeze", 0, &control_freeze_handler },
	{ "POST", "/unfreeze", 0, &control_unfreeze_handler },
	{ "POST", "/fsfreeze", 0, &control_fsfreeze_handler },
	{ "POST", "/fsthaw", 0, &control_fsthaw_handler },
	{ "POST", "/collapse", 0, &control_collapse_handler },
	{ NULL, "/filesystem.Filesystem/", ROUTE_PREFIX, &connect_handler },
	{ NULL, "/process.Process/", ROUTE_PREFIX, &connect_handler },
};

#define ROUTER_NROUTES (sizeof(router_routes) / sizeof(router_routes[0]))

static const struct route *router_match(const char *, const char *, char *,
    size_t);

/*
 * Find the route for method and path. When the path is known under other
 * methods only, return NULL and write them to allow ("GET, POST").
 */
static const struct route *
router_match(const char *method, const char *path, char *allow,
    size_t allowsz)
{
	const struct route *rt;
	size_t i, plen;

	allow[0] = '\0';
	for (i = 0; i < ROUTER_NROUTES; i++) {
		rt = &router_routes[i];
		if (rt->flags & ROUTE_PREFIX) {
			plen = strlen(rt->path);
			if (strncmp(path, rt->path, plen) == 0 &&
			    (rt->method == NULL ||
			    strcmp(rt->method, method) == 0))
				return rt;
			continue;
		}
		if (strcmp(rt->path, path) != 0)
			continue;
		if (strcmp(rt->method, method) == 0)
			return rt;
		if (allow[0] != '\0')
			strncat(allow, ", ", allowsz - strlen(allow) - 1);
		strncat(allow, rt->method, allowsz - strlen(allow) - 1);
	}
	return NULL;
}

void
router_dispatch(struct req *r)
{
	const struct route *rt;
	char allow[64];

	if (cors_is_preflight(req_method(r),
	    req_header(r, "Access-Control-Request-Method"))) {
		req_respond_preflight(r);
		return;
	}
	rt = router_match(req_method(r), req_path(r), allow, sizeof(allow));
	/* The gate runs before routing: unknown paths are gated too. */
	if ((rt == NULL || !(rt->flags & ROUTE_OPEN)) && auth_gate(r) != 0)
		return;
	if (auth_basic_user(r) != 0)
		return;
	if (rt == NULL) {
		if (allow[0] != '\0') {
			req_add_header(r, "Allow", allow);
			req_respond(r, 405, NULL, NULL, 0);
		} else {
			req_respond_text(r, 404, "404 page not found\n");
		}
		return;
	}
	req_set_handler(r, rt->handler, NULL);
}
