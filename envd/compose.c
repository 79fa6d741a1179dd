/*
 * compose.c - POST /files/compose.
 *
 * A job owns everything the pool thread touches; the request only points
 * at it. When the client goes away first, done() orphans the job
 * (job->r = NULL) and the job frees itself when it is back on the loop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <uv.h>

#include "buf.h"
#include "compose.h"
#include "errtext.h"
#include "files.h"
#include "fs_ops.h"
#include "fs_path.h"
#include "gojson.h"
#include "httpd.h"
#include "init.h"
#include "query.h"
#include "users.h"
#include "xalloc.h"

#define COMPOSE_JSON_DEPTH 32

struct compose_job {
	uv_work_t work;
	struct req *r;		/* NULL once the request is gone */
	int queued;		/* on the pool; freed by compose_after */
	uid_t uid;
	gid_t gid;
	char *dest;		/* resolved destination; owned */
	char **srcs;		/* resolved sources; owned */
	char **given;		/* the sources as given; owned */
	size_t nsrcs;
	unsigned int status;	/* result: 200 or the error status */
	char *errmsg;		/* result message; owned */
};

/* The decoded body. */
struct compose_body {
	char **sources;		/* owned */
	size_t nsources;
	char *destination;	/* owned, "" when absent */
	char *username;		/* owned, NULL when absent or null */
};

static void	compose_begin(struct req *);
static void	compose_end(struct req *);
static void	compose_done(struct req *, int);
static void	compose_job_free(struct compose_job *);
static void	compose_work(uv_work_t *);
static void	compose_after(uv_work_t *, int);
static void	compose_answer(struct compose_job *);
static int	compose_decode(const uint8_t *, size_t, struct compose_body *,
		    char **);
static void	compose_body_reset(struct compose_body *);
static const char *compose_kind(struct json_object *);
static int	compose_copy(int, int, const char *, const char *,
		    unsigned int *, char **);

const struct req_handler compose_handler = {
	.name = "compose",
	.begin = compose_begin,
	.end = compose_end,
	.done = compose_done,
};

void
compose_uuid(char out[37])
{
	uint8_t b[16];

	randombytes_buf(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void
compose_begin(struct req *r)
{
	req_body_mode(r, REQ_BODY_BUFFER, COMPOSE_BODY_MAX);
}

/* Go's name for the JSON kind of v, as in its unmarshal errors. */
static const char *
compose_kind(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return "bool";
	case json_type_double:
	case json_type_int:
		return "number";
	case json_type_object:
		return "object";
	case json_type_array:
		return "array";
	case json_type_string:
		return "string";
	default:
		return "null";
	}
}

static void
compose_body_reset(struct compose_body *b)
{
	size_t i;

	for (i = 0; i < b->nsources; i++)
		free(b->sources[i]);
	free(b->sources);
	free(b->destination);
	free(b->username);
	memset(b, 0, sizeof(*b));
}

/* Decode the body into out; on failure *cause is the Go-style message. */
static int
compose_decode(const uint8_t *data, size_t len, struct compose_body *out,
    char **cause)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *v, *e;
	enum json_tokener_error jerr;
	size_t i, n, k;
	int r = -EINVAL;

	memset(out, 0, sizeof(*out));
	*cause = NULL;
	for (k = 0; k < len && (data[k] == ' ' || data[k] == '\t' ||
	    data[k] == '\r' || data[k] == '\n'); k++)
		;
	if (k == len) {
		*cause = xstrdup("EOF");
		goto out;
	}
	if ((tok = json_tokener_new_ex(COMPOSE_JSON_DEPTH)) == NULL) {
		*cause = xstrdup("out of memory");
		goto out;
	}
	root = json_tokener_parse_ex(tok, (const char *)data, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		*cause = xstrdup("unexpected EOF");
		goto out;
	}
	if (jerr != json_tokener_success) {
		*cause = xstrdup(json_tokener_error_desc(jerr));
		goto out;
	}
	if (root == NULL) {		/* null: nothing to decode */
		out->destination = xstrdup("");
		r = 0;
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		*cause = xasprintf("json: cannot unmarshal %s into Go value of "
		    "type api.Compose", compose_kind(root));
		goto out;
	}
	{
		json_object_object_foreach(root, key, val) {
			v = val;
			if (strcasecmp(key, "source_paths") == 0) {
				for (i = 0; i < out->nsources; i++)
					free(out->sources[i]);
				free(out->sources);
				out->sources = NULL;
				out->nsources = 0;
				if (v == NULL)
					continue;
				if (!json_object_is_type(v, json_type_array)) {
					*cause = xasprintf("json: cannot "
					    "unmarshal %s into Go struct field "
					    "Compose.source_paths of type "
					    "[]string", compose_kind(v));
					goto out;
				}
				n = json_object_array_length(v);
				out->sources = xcalloc(n + 1,
				    sizeof(*out->sources));
				for (i = 0; i < n; i++) {
					e = json_object_array_get_idx(v, i);
					if (e != NULL && !json_object_is_type(e,
					    json_type_string)) {
						*cause = xasprintf("json: "
						    "cannot unmarshal %s into "
						    "Go struct field "
						    "Compose.source_paths of "
						    "type string",
						    compose_kind(e));
						goto out;
					}
					out->sources[out->nsources++] =
					    xstrdup(e != NULL ?
					    json_object_get_string(e) : "");
				}
			} else if (strcasecmp(key, "destination") == 0 ||
			    strcasecmp(key, "username") == 0) {
				int dest = strcasecmp(key, "destination") == 0;
				char **slot = dest ? &out->destination :
				    &out->username;

				if (v != NULL && !json_object_is_type(v,
				    json_type_string)) {
					*cause = xasprintf("json: cannot "
					    "unmarshal %s into Go struct field "
					    "Compose.%s of type %s",
					    compose_kind(v), dest ?
					    "destination" : "username",
					    "string");
					goto out;
				}
				if (v == NULL)
					continue;
				free(*slot);
				*slot = xstrdup(json_object_get_string(v));
			}
		}
	}
	if (out->destination == NULL)
		out->destination = xstrdup("");
	r = 0;
out:
	if (r != 0)
		compose_body_reset(out);
	json_object_put(root);
	if (tok != NULL)
		json_tokener_free(tok);
	return r;
}

static void
compose_end(struct req *r)
{
	struct compose_body body;
	struct compose_job *job = NULL;
	struct user *u = NULL;
	struct stat st;
	const char *name;
	char *cause = NULL, *msg = NULL, *err = NULL, *abs = NULL, *q;
	struct buf *b = req_body(r);
	size_t i;

	memset(&body, 0, sizeof(body));
	if (req_body_overflow(r)) {
		req_respond_error(r, 400, "invalid request body: http: request "
		    "body too large");
		goto out;
	}
	if (compose_decode(buf_ptr(b), buf_len(b), &body, &cause) != 0) {
		msg = xasprintf("invalid request body: %s", cause);
		req_respond_error(r, 400, msg);
		goto out;
	}
	if (body.nsources == 0) {
		req_respond_error(r, 400, "source_paths must not be empty");
		goto out;
	}
	if (body.destination[0] == '\0') {
		req_respond_error(r, 400, "destination is required");
		goto out;
	}
	name = body.username != NULL ? body.username : init_default_user();
	if (files_user_by_name(name, strlen(name), &u, &msg) != 0) {
		req_respond_error(r, 401, msg);
		goto out;
	}

	job = xcalloc(1, sizeof(*job));
	job->work.data = job;
	job->uid = u->uid;
	job->gid = u->gid;
	if (fs_path_resolve(body.destination, u->name, u->home,
	    init_default_workdir(), &job->dest, &err) != 0) {
		msg = xasprintf("error resolving destination path: %s", err);
		req_respond_error(r, 400, msg);
		goto out;
	}
	job->srcs = xcalloc(body.nsources, sizeof(*job->srcs));
	job->given = xcalloc(body.nsources, sizeof(*job->given));
	for (i = 0; i < body.nsources; i++) {
		if (fs_path_resolve(body.sources[i], u->name, u->home,
		    init_default_workdir(), &abs, &err) != 0) {
			q = query_quote(body.sources[i],
			    strlen(body.sources[i]));
			msg = xasprintf("error resolving source path %s: %s",
			    q, err);
			free(q);
			req_respond_error(r, 400, msg);
			goto out;
		}
		if (strcmp(abs, job->dest) == 0) {
			q = query_quote(body.sources[i],
			    strlen(body.sources[i]));
			msg = xasprintf("source path %s cannot be the same as "
			    "destination", q);
			free(q);
			req_respond_error(r, 400, msg);
			goto out;
		}
		if (stat(abs, &st) != 0) {
			msg = xasprintf("source file not found: %s",
			    body.sources[i]);
			req_respond_error(r, 404, msg);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			msg = xasprintf("source path is not a regular file: %s",
			    body.sources[i]);
			req_respond_error(r, 400, msg);
			goto out;
		}
		job->given[job->nsrcs] = xstrdup(body.sources[i]);
		job->srcs[job->nsrcs++] = abs;
		abs = NULL;
	}

	job->r = r;
	req_set_data(r, job);
	req_defer(r);
	job->queued = 1;
	if (uv_queue_work(req_loop(r), &job->work, compose_work,
	    compose_after) != 0) {
		compose_work(&job->work);
		compose_after(&job->work, 0);
	}
	job = NULL;
out:
	compose_job_free(job);
	compose_body_reset(&body);
	users_free(u);
	free(cause);
	free(msg);
	free(err);
	free(abs);
}

/*
 * Append everything from src (at its offset) to dst. On failure returns -1
 * with *status and *errmsg set.
 */
static int
compose_copy(int src, int dst, const char *srcpath, const char *tmp,
    unsigned int *status, char **errmsg)
{
	uint8_t *chunk = NULL;
	const char *op = "copy_file_range", *opath = srcpath;
	ssize_t n, w, off;
	int fallback = 0, err = 0, ret = -1;

	for (;;) {
		if (!fallback) {
			n = copy_file_range(src, NULL, dst, NULL,
			    COMPOSE_COPY_CHUNK * 64, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL ||
			    errno == ENOSYS || errno == EOPNOTSUPP)) {
				fallback = 1;
				chunk = xmalloc(COMPOSE_COPY_CHUNK);
				continue;
			}
			if (n < 0) {
				if (errno == EINTR)
					continue;
				err = errno;
				goto fail;
			}
			if (n == 0)
				break;
			continue;
		}
		n = read(src, chunk, COMPOSE_COPY_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			op = "read";
			goto fail;
		}
		if (n == 0)
			break;
		for (off = 0; off < n; off += w) {
			w = write(dst, chunk + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				err = errno;
				op = "write";
				opath = tmp;
				goto fail;
			}
		}
	}
	ret = 0;
	goto out;
fail:
	if (err == ENOSPC || err == EDQUOT) {
		*status = 507;
		*errmsg = xstrdup("not enough disk space available");
	} else {
		*status = 500;
		*errmsg = xasprintf("error composing source %s: %s %s: %s",
		    srcpath, op, opath, errtext(err));
	}
out:
	free(chunk);
	return ret;
}

/* On a pool thread: create, fill, rename, delete the sources. */
static void
compose_work(uv_work_t *w)
{
	struct compose_job *job = w->data;
	char uuid[37], *dir = NULL, *msg = NULL, *tmp = NULL;
	struct stat st;
	size_t i;
	int fd = -1, src = -1, err;

	dir = fs_path_dir(job->dest);
	if (fs_ops_mkdir_all(dir, job->uid, job->gid, NULL, &msg) != FS_OK) {
		job->status = 500;
		job->errmsg = xasprintf("error ensuring directories: %s", msg);
		goto out;
	}
	compose_uuid(uuid);
	tmp = xasprintf("%s.e2b-compose.%s.tmp", job->dest, uuid);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0666)) < 0) {
		err = errno;
		if (err == ENOSPC || err == EDQUOT) {
			job->status = 507;
			job->errmsg = xstrdup("not enough disk space "
			    "available");
		} else {
			job->status = 500;
			job->errmsg = xasprintf("error creating destination "
			    "file: open %s: %s", tmp, errtext(err));
		}
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchown(fd, job->uid, job->gid) != 0) {
		job->status = 500;
		job->errmsg = xasprintf("error changing file ownership: chown "
		    "%s: %s", tmp, errtext(errno));
		goto out;
	}
	for (i = 0; i < job->nsrcs; i++) {
		/* Non-blocking: a FIFO swapped in after the check opens at
		 * once, and a file that would block on read (/proc/kmsg)
		 * fails with EAGAIN instead of holding a pool thread. */
		if ((src = open(job->srcs[i], O_RDONLY | O_CLOEXEC |
		    O_NONBLOCK | O_NOCTTY)) < 0) {
			job->status = 500;
			job->errmsg = xasprintf("error opening source file %s: "
			    "open %s: %s", job->srcs[i], job->srcs[i],
			    errtext(errno));
			goto out;
		}
		/* What was opened is what counts (the check on the loop
		 * can be raced). */
		if (fstat(src, &st) != 0 || !S_ISREG(st.st_mode)) {
			job->status = 400;
			job->errmsg = xasprintf("source path is not a regular "
			    "file: %s", job->given[i]);
			goto out;
		}
		if (compose_copy(src, fd, job->srcs[i], tmp, &job->status,
		    &job->errmsg) != 0)
			goto out;
		close(src);
		src = -1;
	}
	err = close(fd) != 0 ? errno : 0;
	fd = -1;
	if (err != 0 && err != EINTR) {
		job->status = 500;
		job->errmsg = xasprintf("error closing destination file: close "
		    "%s: %s", tmp, errtext(err));
		goto out;
	}
	if (rename(tmp, job->dest) != 0) {
		job->status = 500;
		job->errmsg = xasprintf("error finalizing compose: rename %s "
		    "%s: %s", tmp, job->dest, errtext(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	for (i = 0; i < job->nsrcs; i++)
		(void)unlink(job->srcs[i]);
	job->status = 200;
out:
	if (src >= 0)
		close(src);
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		(void)unlink(tmp);
	free(tmp);
	free(dir);
	free(msg);
}

/* Back on the loop: answer, unless the client is gone. */
static void
compose_after(uv_work_t *w, int status)
{
	struct compose_job *job = w->data;

	job->queued = 0;
	if (job->r != NULL) {
		if (status != 0 && job->status == 0) {
			job->status = 500;
			job->errmsg = xasprintf("error composing: %s",
			    uv_strerror(status));
		}
		req_set_data(job->r, NULL);
		compose_answer(job);
	}
	compose_job_free(job);
}

static void
compose_answer(struct compose_job *job)
{
	struct buf b;
	char *base;

	if (job->status != 200) {
		req_respond_error(job->r, job->status,
		    job->errmsg != NULL ? job->errmsg : "error composing");
		return;
	}
	base = fs_path_base(job->dest);
	buf_init(&b, SIZE_MAX);
	(void)buf_puts(&b, "{\"name\":");
	(void)gojson_quote(&b, base, strlen(base));
	(void)buf_puts(&b, ",\"path\":");
	(void)gojson_quote(&b, job->dest, strlen(job->dest));
	(void)buf_puts(&b, ",\"type\":\"file\"}\n");
	req_respond_buf(job->r, 200, "application/json", &b);
	free(base);
}

static void
compose_done(struct req *r, int ok)
{
	struct compose_job *job = req_data(r);

	if (job == NULL)
		return;
	req_set_data(r, NULL);
	job->r = NULL;
	if (!job->queued)
		compose_job_free(job);
}

static void
compose_job_free(struct compose_job *job)
{
	size_t i;

	if (job == NULL)
		return;
	for (i = 0; i < job->nsrcs; i++) {
		free(job->srcs[i]);
		free(job->given[i]);
	}
	free(job->srcs);
	free(job->given);
	free(job->dest);
	free(job->errmsg);
	free(job);
}
