/*
 * egress.c - the egress fence of one sandbox.
 *
 * This build enforces no egress rules: a network object that asks for any
 * (allowInternetAccess false, allowOut, denyOut) is refused, so a sandbox
 * is never created with a fence that is not there.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "egress.h"
#include "xalloc.h"

/* Refuse what this build cannot enforce. */
int
egress_validate(struct json_object *network, char **cause)
{
	struct json_object *v;

	if (cause != NULL)
		*cause = NULL;
	if (network == NULL)
		return 0;
	if ((json_object_object_get_ex(network, "allowInternetAccess", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    !json_object_get_boolean(v)) ||
	    json_object_object_get_ex(network, "allowOut", NULL) ||
	    json_object_object_get_ex(network, "denyOut", NULL)) {
		if (cause != NULL)
			*cause = xstrdup("egress rules are not supported by "
			    "this build of envd-edge");
		return -ENOTSUP;
	}
	return 0;
}

/* Nothing to apply: egress_validate let only open sandboxes through. */
int
egress_apply(const struct egress_sandbox *sb, struct json_object *network,
    char **cause)
{
	(void)sb;
	(void)network;
	if (cause != NULL)
		*cause = NULL;
	return 0;
}

/* Nothing was applied. */
int
egress_remove(const char *id, char **cause)
{
	(void)id;
	if (cause != NULL)
		*cause = NULL;
	return 0;
}
