/*
 * upload-fuzzer.c - what POST /files reads from an upload's headers: the
 * X-Metadata-* set (files_meta_add(), files_meta_validate()), the entry
 * JSON of the answer (files_post_entry_json()) and the Content-Type that
 * picks a raw or multipart body.
 *
 * Input: lines "Name: value" (LF-separated; the first line is the upload
 * path). A metadata set that validates must come back unchanged from the
 * JSON of its entry, parsed again with json-c; a rejected one must say
 * why. A multipart Content-Type gives a boundary or a reason. Any
 * mismatch aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "buf.h"
#include "files.h"
#include "files_post.h"
#include "mime.h"
#include "multipart.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Check the entry JSON of path with m against m itself. */
static void
check_entry(const char *path, const struct files_meta *m)
{
	struct json_object *o, *md, *v;
	struct buf b;
	const char *base;
	char *json;
	size_t i;

	buf_init(&b, 1024 * 1024);
	if (files_post_entry_json(&b, path, (const char *const *)m->keys,
	    (const char *const *)m->values, m->n) != 0)
		abort();
	json = buf_steal_str(&b, NULL);
	o = json_tokener_parse(json);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		abort();
	/* The path is arbitrary bytes: only check it when it is ASCII. */
	for (i = 0; path[i] != '\0' && (unsigned char)path[i] < 0x80 &&
	    (unsigned char)path[i] >= 0x20; i++)
		;
	if (path[i] == '\0' && (!json_object_object_get_ex(o, "path", &v) ||
	    strcmp(json_object_get_string(v), path) != 0))
		abort();
	if (!json_object_object_get_ex(o, "type", &v) ||
	    strcmp(json_object_get_string(v), "file") != 0)
		abort();
	base = json_object_object_get_ex(o, "name", &v) ?
	    json_object_get_string(v) : NULL;
	if (base == NULL)
		abort();
	if (json_object_object_get_ex(o, "metadata", &md) != (m->n > 0))
		abort();
	if (m->n > 0) {
		if ((size_t)json_object_object_length(md) != m->n)
			abort();
		for (i = 0; i < m->n; i++) {
			if (!json_object_object_get_ex(md, m->keys[i], &v) ||
			    strcmp(json_object_get_string(v),
			    m->values[i]) != 0)
				abort();
		}
	}
	json_object_put(o);
	free(json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct files_meta m;
	struct mime_params *params = NULL;
	const char *err;
	char *text, *line, *next, *colon, *path, *cause = NULL, *type = NULL;
	char *boundary;
	size_t blen;

	if (size > 64 * 1024)
		return 0;
	text = xstrndup((const char *)data, size);
	memset(&m, 0, sizeof(m));
	path = text;
	line = strchr(text, '\n');
	if (line != NULL)
		*line++ = '\0';
	for (; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		files_meta_add(&m, line, colon + 1);
		if (strcasecmp(line, "Content-Type") != 0)
			continue;
		err = NULL;
		(void)mime_parse_media_type(colon + 1, strlen(colon + 1), &type,
		    &params, &err);
		if (type != NULL && strncmp(type, "multipart/", 10) == 0) {
			err = NULL;
			if (multipart_boundary_from_content_type(colon + 1,
			    strlen(colon + 1), &boundary, &blen, &err) == 0) {
				if (strlen(boundary) != blen)
					abort();
				free(boundary);
			} else if (err == NULL) {
				abort();
			}
		}
		mime_params_free(params);
		params = NULL;
		free(type);
		type = NULL;
	}
	if (m.n > FILES_META_MAX)
		abort();
	if (files_meta_validate(&m, &cause) == 0)
		check_entry(path, &m);
	else if (cause == NULL)
		abort();
	free(cause);
	files_meta_reset(&m);
	free(text);
	return 0;
}
