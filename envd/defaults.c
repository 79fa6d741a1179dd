/*
 * defaults.c - the default user and working directory.
 *
 * Kept apart from init.c so that the modules acting for a request (auth,
 * files, processes) read configuration without depending on the /init
 * handler, which itself calls into auth.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "defaults.h"
#include "gojson.h"
#include "xalloc.h"

/* The header is capped by the orchestrator at 8 KiB; user names and paths
 * are far shorter, so this only bounds a pathological value. */
#define DEFAULTS_HEADER_MAX (64 * 1024)

static char *defaults_user_name;	/* NULL: the built-in user */
static char *defaults_workdir_path;	/* NULL: unset */

const char *
defaults_user(void)
{
	return defaults_user_name != NULL ? defaults_user_name :
	    DEFAULTS_BUILTIN_USER;
}

const char *
defaults_workdir(void)
{
	return defaults_workdir_path;
}

int
defaults_fallback(void)
{
	return defaults_user_name == NULL;
}

void
defaults_set_user(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return;
	free(defaults_user_name);
	defaults_user_name = xstrdup(name);
}

void
defaults_set_workdir(const char *path)
{
	if (path == NULL || path[0] == '\0')
		return;
	free(defaults_workdir_path);
	defaults_workdir_path = xstrdup(path);
}

char *
defaults_header(void)
{
	struct buf b;
	const char *u = defaults_user();
	int r;

	buf_init(&b, DEFAULTS_HEADER_MAX);
	r = buf_puts(&b, "{\"user\":");
	if (r == 0)
		r = gojson_quote(&b, u, strlen(u));
	if (r == 0 && defaults_workdir_path != NULL) {
		r = buf_puts(&b, ",\"workdir\":");
		if (r == 0)
			r = gojson_quote(&b, defaults_workdir_path,
			    strlen(defaults_workdir_path));
	}
	if (r == 0)
		r = buf_puts(&b, defaults_fallback() ? ",\"fallback\":true}" :
		    ",\"fallback\":false}");
	if (r != 0) {
		/* Only an absurdly long name gets here: report the shape. */
		buf_reset(&b);
		return xasprintf("{\"user\":\"\",\"fallback\":%s}",
		    defaults_fallback() ? "true" : "false");
	}
	return buf_steal_str(&b, NULL);
}

void
defaults_free(void)
{
	free(defaults_user_name);
	free(defaults_workdir_path);
	defaults_user_name = defaults_workdir_path = NULL;
}
