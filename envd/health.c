/*
 * health.c - GET /health and GET /version.
 *
 * /health answers 204 from the loop itself, so it also tells that the loop
 * is not stuck. The orchestrator polls it, so a 204 is not logged (only
 * with -verbose), as upstream logs it at trace level. /version is this
 * daemon's addition: upstream reports its version only through
 * "envd -version" and the X-Envd-Version header.
 */
#include "config.h"

#include <stdio.h>

#include "health.h"
#include "httpd.h"

static void health_end(struct req *);
static void version_end(struct req *);

const struct req_handler health_handler = {
	.name = "health",
	.end = health_end,
	.quiet = 1,
};

const struct req_handler version_handler = {
	.name = "version",
	.end = version_end,
};

static const char *const health_headers[] = {
	"Cache-Control", "no-store", NULL,
};

/* Every 204 is the same: built once (see req_respond_fixed). */
static struct req_fixed health_answer = { 204, health_headers, NULL, NULL };

static void
health_end(struct req *r)
{
	req_respond_fixed(r, &health_answer);
}

static void
version_end(struct req *r)
{
	char body[256];
	int n;

	n = snprintf(body, sizeof(body),
	    "{\"version\":\"%s\",\"build\":\"%s\",\"commit\":\"%s\"}\n",
	    ENVD_COMPAT_VERSION, PACKAGE_VERSION, ENVD_COMMIT);
	req_add_header(r, "Cache-Control", "no-store");
	req_respond(r, 200, "application/json", body, (size_t)n);
}
