/*
 * files_post.c - POST /files.
 *
 * The request goes through these states:
 *
 *   begin   query, signature/header check, Content-Encoding
 *   GZHEAD  (gzip only) body bytes are kept until the gzip header is
 *           complete, because upstream reads it before anything else
 *           and reports a bad one as 400 ahead of the user lookup
 *   setup   user, X-Metadata-*, media type: RAW or MULTIPART
 *   RAW / MULTIPART  decoded bytes go to the file being written
 *   DONE    answered (success or error); the rest of the body is dropped
 *
 * Writes happen on the loop thread inside the body callback, in batches
 * (files_write.h); libmicrohttpd reads the next chunk only when the
 * callback returns, so memory stays constant whatever the body size.
 *
 * A gzip body is inflated FILES_POST_SLICE decoded bytes at a time: a
 * chunk that decodes to more (a few KiB of zeros become gigabytes) pauses
 * the body (req_body_pause()), leaves its unused bytes with libmicrohttpd
 * (req_body_keep()) and goes on from an idle handle, one slice per loop
 * turn, so other connections are served in between; once it has caught
 * up the body is resumed. The held gzip header bytes are drained the same
 * way. An end() that comes while a slice is pending is answered once the
 * last slice is done.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "accept.h"
#include "buf.h"
#include "files.h"
#include "files_post.h"
#include "files_write.h"
#include "fs_entry.h"
#include "fs_path.h"
#include "gojson.h"
#include "gunzip.h"
#include "httpd.h"
#include "init.h"
#include "mime.h"
#include "multipart.h"
#include "users.h"
#include "xalloc.h"

/* Decoded bytes per loop turn: one inflate() call and its write. */
#define FILES_POST_SLICE GUNZIP_CHUNK
/* Go's gzip header: 10 + 2 + 65535 extra + 512 name + 512 comment + 2. */
#define FILES_POST_GZHEAD_MAX (10 + 2 + 65535 + 512 + 512 + 2)
/* Body bytes kept while the gzip header is incomplete (plus one chunk). */
#define FILES_POST_GZHOLD_MAX (4 * 1024 * 1024)
/*
 * With a Content-Length, wake up for the body only once this much of it is
 * queued (or all that is left): taking it as fast as it trickles in means
 * many small reads, each acknowledged at once, which costs more CPU than
 * the data itself on loopback.
 */
#define FILES_POST_RCVLOWAT (256 * 1024)
/* Return value of a multipart callback that has answered the request. */
#define FILES_POST_ANSWERED (-ECANCELED)

enum files_post_state {
	FILES_POST_GZHEAD,	/* waiting for the whole gzip header */
	FILES_POST_RAW,		/* octet-stream body into one file */
	FILES_POST_MULTIPART,	/* multipart/form-data body */
	FILES_POST_DONE,	/* answered; the rest is dropped */
};

struct files_post {
	struct req *r;			/* the request (borrowed) */
	enum files_post_state state;
	struct files_query fq;		/* bound query */
	struct user *user;		/* request user; owned */
	struct files_meta meta;		/* validated X-Metadata-* set */
	int64_t content_length;		/* Content-Length, -1 if absent */
	int64_t wire_left;		/* body bytes still to come, or -1 */
	size_t rcvlowat;		/* SO_RCVLOWAT set on the socket */

	int gzip;			/* Content-Encoding: gzip */
	struct gunzip gz;		/* its decoder, once set up */
	struct buf gzhold;		/* body held in GZHEAD, then drained */
	int zpaused;			/* body paused; drain runs the slices */
	int end_pending;		/* end() came while paused */
	size_t zkept;			/* bytes of the last chunk left in MHD */
	struct files_post_drain *drain;	/* slice runner; owned (closed) */

	struct multipart *mp;		/* MULTIPART parser; owned */
	unsigned int nparts;		/* parts begun */
	int part_skip;			/* current part is not "file" */

	struct files_write *w;		/* file being written; owned */
	char *wpath;			/* its resolved path; owned */
	char **paths;			/* files written, in order; owned */
	size_t npaths;
	struct buf resp;		/* success body being built */
};

/*
 * The idle handle of a paused gzip body, closed (and freed) by done(). An
 * idle callback runs once per loop turn, after the timers and before the
 * poll for I/O (a zero timer started from a timer callback would run again
 * at once, in the same turn).
 */
struct files_post_drain {
	uv_idle_t idle;
	struct files_post *p;		/* NULL once the request is done */
};

static void	files_post_begin(struct req *);
static int	files_post_body(struct req *, const uint8_t *, size_t);
static void	files_post_end(struct req *);
static void	files_post_done(struct req *, int);
static void	files_post_setup(struct files_post *);
static void	files_post_fail(struct files_post *, unsigned int,
		    const char *);
static void	files_post_lowat(struct files_post *, size_t);
static void	files_post_fail_write(struct files_post *,
		    enum files_write_err, const char *);
static size_t	files_post_feed(struct files_post *, const uint8_t *,
		    size_t);
static int	files_post_inflate(struct files_post *, const uint8_t *,
		    size_t, size_t *);
static int	files_post_gz_sink(void *, const uint8_t *, size_t);
static int	files_post_drain_hold(struct files_post *);
static void	files_post_pause(struct files_post *);
static void	files_post_drain_cb(uv_idle_t *);
static void	files_post_drain_closed(uv_handle_t *);
static void	files_post_finish(struct files_post *);
static void	files_post_sink(struct files_post *, const uint8_t *,
		    size_t);
static int	files_post_resolve(struct files_post *, const char *,
		    size_t, char **);
static int	files_post_open(struct files_post *, char *);
static int	files_post_commit(struct files_post *);
static int	files_post_part_begin(void *, const struct multipart_part *);
static int	files_post_part_data(void *, const uint8_t *, size_t);
static int	files_post_part_end(void *);

const struct req_handler files_post_handler = {
	.name = "files_post",
	.begin = files_post_begin,
	.body = files_post_body,
	.end = files_post_end,
	.done = files_post_done,
};

static const struct multipart_callbacks files_post_mp_cb = {
	.on_part_begin = files_post_part_begin,
	.on_part_data = files_post_part_data,
	.on_part_end = files_post_part_end,
};

long
files_post_gzip_header(const uint8_t *p, size_t len)
{
	uLong crc;
	size_t off = 10, xlen, k;
	unsigned int flg;
	int field;

	if (len < 10)
		return 0;
	if (p[0] != 0x1f || p[1] != 0x8b || p[2] != 8)
		return -EINVAL;
	flg = p[3];
	if (flg & 0x04) {		/* FEXTRA */
		if (len < off + 2)
			return 0;
		xlen = (size_t)p[off] | ((size_t)p[off + 1] << 8);
		off += 2;
		if (len < off + xlen)
			return 0;
		off += xlen;
	}
	for (field = 0; field < 2; field++) {	/* FNAME, FCOMMENT */
		if (!(flg & (field == 0 ? 0x08 : 0x10)))
			continue;
		for (k = 0;; k++) {
			if (k >= 512)
				return -EINVAL;
			if (off + k >= len)
				return 0;
			if (p[off + k] == 0)
				break;
		}
		off += k + 1;
	}
	if (flg & 0x02) {		/* FHCRC */
		if (len < off + 2)
			return 0;
		crc = crc32(0L, Z_NULL, 0);
		crc = crc32(crc, p, (uInt)off);
		if ((crc & 0xffff) !=
		    ((uLong)p[off] | ((uLong)p[off + 1] << 8)))
			return -EINVAL;
		off += 2;
	}
	return (long)off;
}

int
files_post_entry_json(struct buf *b, const char *path,
    const char *const *keys, const char *const *values, size_t n)
{
	char *base;
	size_t i;
	int r = 0;

	base = fs_path_base(path);
	r = buf_puts(b, "{");
	if (r == 0 && n > 0) {
		r = buf_puts(b, "\"metadata\":{");
		for (i = 0; r == 0 && i < n; i++) {
			if (i > 0)
				r = buf_puts(b, ",");
			if (r == 0)
				r = gojson_quote(b, keys[i], strlen(keys[i]));
			if (r == 0)
				r = buf_puts(b, ":");
			if (r == 0)
				r = gojson_quote(b, values[i],
				    strlen(values[i]));
		}
		if (r == 0)
			r = buf_puts(b, "},");
	}
	if (r == 0)
		r = buf_puts(b, "\"name\":");
	if (r == 0)
		r = gojson_quote(b, base, strlen(base));
	if (r == 0)
		r = buf_puts(b, ",\"path\":");
	if (r == 0)
		r = gojson_quote(b, path, strlen(path));
	if (r == 0)
		r = buf_puts(b, ",\"type\":\"file\"}");
	free(base);
	return r;
}

static void
files_post_begin(struct req *r)
{
	struct files_post *p;
	const char *ce, *cl, *te;
	char *cause = NULL, *msg = NULL, *end;
	size_t celen;
	long long v;

	p = xcalloc(1, sizeof(*p));
	p->r = r;
	p->state = FILES_POST_DONE;
	p->content_length = -1;
	p->wire_left = -1;
	p->rcvlowat = 1;
	buf_init(&p->gzhold, FILES_POST_GZHOLD_MAX);
	buf_init(&p->resp, FILES_POST_RESPONSE_MAX);
	req_set_data(r, p);
	req_body_mode(r, REQ_BODY_STREAM, 0);

	if (files_query_bind(r, "write", &p->fq) != 0)
		return;
	cl = req_header(r, "Content-Length");
	te = req_header(r, "Transfer-Encoding");
	if (cl != NULL && te == NULL) {
		errno = 0;
		v = strtoll(cl, &end, 10);
		if (errno == 0 && end != cl && *end == '\0' && v >= 0)
			p->content_length = p->wire_left = v;
	}
	ce = req_header_n(r, "Content-Encoding", &celen);
	if (accept_content_encoding(ce, celen, &p->gzip, &cause) != 0) {
		msg = xasprintf("error decompressing request body: %s", cause);
		files_post_fail(p, 400, msg);
		goto out;
	}
	if (p->gzip) {
		p->state = FILES_POST_GZHEAD;
		goto out;
	}
	files_post_setup(p);
out:
	free(cause);
	free(msg);
}

/* Answer with a REST error and drop whatever is being written. */
static void
files_post_fail(struct files_post *p, unsigned int status, const char *msg)
{
	files_write_free(p->w);
	p->w = NULL;
	p->state = FILES_POST_DONE;
	files_post_lowat(p, 1);
	req_respond_error(p->r, status, msg);
}

/* Set the socket's SO_RCVLOWAT to n unless it is already. */
static void
files_post_lowat(struct files_post *p, size_t n)
{
	if (n == p->rcvlowat)
		return;
	p->rcvlowat = n;
	(void)req_set_rcvlowat(p->r, n);
}

/* Map a files_write error class to its status. */
static void
files_post_fail_write(struct files_post *p, enum files_write_err e,
    const char *msg)
{
	char *full = NULL;
	unsigned int status;

	switch (e) {
	case FILES_WRITE_INVALID:
		status = 400;
		break;
	case FILES_WRITE_NOSPACE:
		status = 507;
		if (p->content_length > 0 &&
		    strcmp(msg, "not enough disk space available") == 0) {
			full = xasprintf("attempted to write %" PRId64
			    " bytes: %s", p->content_length, msg);
			msg = full;
		}
		break;
	default:
		status = 500;
		break;
	}
	files_post_fail(p, status, msg);
	free(full);
}

/* Steps 3-5 of §7.1: user, metadata, media type. */
static void
files_post_setup(struct files_post *p)
{
	struct mime_params *params = NULL;
	const char *ct, *err = NULL;
	char *type = NULL, *cause = NULL, *msg = NULL, *boundary = NULL;
	char *abs = NULL;
	size_t ctlen = 0, blen;

	p->state = FILES_POST_DONE;
	if (files_user_lookup(p->r, &p->fq, &p->user) != 0)
		goto out;
	files_meta_collect(p->r, &p->meta);
	if (files_meta_validate(&p->meta, &cause) != 0) {
		msg = xasprintf("invalid metadata: %s", cause);
		files_post_fail(p, 400, msg);
		goto out;
	}
	if (p->gzip && gunzip_init(&p->gz, GUNZIP_CHUNK) != 0) {
		files_post_fail(p, 500, "error decompressing request body: "
		    "out of memory");
		goto out;
	}

	if ((ct = req_header_n(p->r, "Content-Type", &ctlen)) == NULL)
		ct = "";
	(void)mime_parse_media_type(ct, ctlen, &type, &params, &err);
	if (type != NULL && strcmp(type, "application/octet-stream") == 0) {
		if (p->fq.path == NULL) {
			files_post_fail(p, 400, "path query parameter is "
			    "required for raw body upload");
			goto out;
		}
		if (files_post_resolve(p, p->fq.path, p->fq.path_len,
		    &abs) != 0)
			goto out;
		if (files_post_open(p, abs) != 0) {
			abs = NULL;
			goto out;
		}
		abs = NULL;
		(void)buf_puts(&p->resp, "[");
		p->state = FILES_POST_RAW;
	} else if (type != NULL && strncmp(type, "multipart/", 10) == 0) {
		if (multipart_boundary_from_content_type(ct, ctlen, &boundary,
		    &blen, &err) != 0) {
			msg = xasprintf("error parsing multipart form: %s",
			    err != NULL ? err : "invalid Content-Type");
			files_post_fail(p, 500, msg);
			goto out;
		}
		p->mp = multipart_new(boundary, blen, &files_post_mp_cb, p);
		(void)buf_puts(&p->resp, "[");
		p->state = FILES_POST_MULTIPART;
	} else {
		msg = xasprintf("unsupported content type: %s, expected "
		    "multipart/form-data or application/octet-stream", ct);
		files_post_fail(p, 400, msg);
	}
out:
	mime_params_free(params);
	free(type);
	free(cause);
	free(msg);
	free(boundary);
	free(abs);
}

/* Resolve a request path for the user; answers 400 on failure. */
static int
files_post_resolve(struct files_post *p, const char *path, size_t len,
    char **out)
{
	char *err = NULL, *msg;

	*out = NULL;
	if (memchr(path, '\0', len) != NULL) {
		files_post_fail(p, 400, "error resolving path: invalid "
		    "argument");
		return -1;
	}
	if (fs_path_resolve(path, p->user->name, p->user->home,
	    init_default_workdir(), out, &err) != 0) {
		msg = xasprintf("error resolving path: %s",
		    err != NULL ? err : "invalid path");
		files_post_fail(p, 400, msg);
		free(msg);
		free(err);
		return -1;
	}
	return 0;
}

/* Start writing abs (taken over); answers on failure. */
static int
files_post_open(struct files_post *p, char *abs)
{
	enum files_write_err e;
	char *msg = NULL;

	e = files_write_open(abs, p->user->uid, p->user->gid, &p->w, &msg);
	if (e != FILES_WRITE_OK) {
		files_post_fail_write(p, e, msg);
		free(msg);
		free(abs);
		return -1;
	}
	p->wpath = abs;
	return 0;
}

/* Move the current file into place and add its entry to the answer. */
static int
files_post_commit(struct files_post *p)
{
	Filesystem__EntryInfo__MetadataEntry **md = NULL;
	const char **keys = NULL, **values = NULL;
	enum files_write_err e;
	char *msg = NULL;
	size_t n = 0, i;
	int ret = -1;

	e = files_write_commit(p->w, (const char *const *)p->meta.keys,
	    (const char *const *)p->meta.values, p->meta.n, &msg);
	if (e != FILES_WRITE_OK) {
		files_post_fail_write(p, e, msg);
		goto out;
	}
	files_write_free(p->w);
	p->w = NULL;
	(void)fs_entry_read_metadata(p->wpath, &md, &n);
	keys = xcalloc(n + 1, sizeof(*keys));
	values = xcalloc(n + 1, sizeof(*values));
	for (i = 0; i < n; i++) {
		keys[i] = md[i]->key;
		values[i] = md[i]->value;
	}
	if ((p->npaths > 0 && buf_puts(&p->resp, ",") != 0) ||
	    files_post_entry_json(&p->resp, p->wpath, keys, values, n) != 0) {
		files_post_fail(p, 500, "error marshaling response: too "
		    "many files");
		goto out;
	}
	p->paths = xreallocarray(p->paths, p->npaths + 1, sizeof(*p->paths));
	p->paths[p->npaths++] = p->wpath;
	p->wpath = NULL;
	ret = 0;
out:
	for (i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&md[i]->base, NULL);
	free(md);
	free(keys);
	free(values);
	free(msg);
	return ret;
}

static int
files_post_part_begin(void *arg, const struct multipart_part *part)
{
	struct files_post *p = arg;
	struct buf b;
	const char *path;
	char *abs = NULL, *msg;
	size_t len, i;
	int first;

	if (++p->nparts > FILES_POST_PARTS_MAX) {
		files_post_fail(p, 500, "error reading form: multipart: too "
		    "many parts");
		return FILES_POST_ANSWERED;
	}
	p->part_skip = part->form_name_len != 4 ||
	    memcmp(part->form_name, "file", 4) != 0;
	if (p->part_skip)
		return 0;
	if (p->fq.path != NULL) {
		path = p->fq.path;
		len = p->fq.path_len;
	} else if (part->filename != NULL) {
		path = part->filename;
		len = part->filename_len;
	} else {
		files_post_fail(p, 400, "error getting multipart custom part "
		    "file name: filename not found in Content-Disposition "
		    "header");
		return FILES_POST_ANSWERED;
	}
	if (files_post_resolve(p, path, len, &abs) != 0)
		return FILES_POST_ANSWERED;
	for (i = 0; i < p->npaths; i++) {
		if (strcmp(p->paths[i], abs) != 0)
			continue;
		buf_init(&b, SIZE_MAX);
		(void)buf_puts(&b, "you cannot upload multiple files to the "
		    "same path '");
		(void)buf_puts(&b, abs);
		(void)buf_puts(&b, "' in one upload request, only the first "
		    "specified file was uploaded");
		if (p->npaths - 1 > 1) {
			(void)buf_puts(&b, ", also the following files were "
			    "uploaded: ");
			for (i = 0, first = 1; i < p->npaths; i++) {
				if (strcmp(p->paths[i], abs) == 0)
					continue;
				if (!first)
					(void)buf_puts(&b, ", ");
				(void)buf_puts(&b, p->paths[i]);
				first = 0;
			}
		}
		msg = buf_steal_str(&b, NULL);
		files_post_fail(p, 400, msg);
		free(msg);
		free(abs);
		return FILES_POST_ANSWERED;
	}
	if (files_post_open(p, abs) != 0)
		return FILES_POST_ANSWERED;
	return 0;
}

static int
files_post_part_data(void *arg, const uint8_t *data, size_t len)
{
	struct files_post *p = arg;
	enum files_write_err e;
	char *msg = NULL;

	if (p->part_skip)
		return 0;
	if ((e = files_write_data(p->w, data, len, &msg)) != FILES_WRITE_OK) {
		files_post_fail_write(p, e, msg);
		free(msg);
		return FILES_POST_ANSWERED;
	}
	return 0;
}

static int
files_post_part_end(void *arg)
{
	struct files_post *p = arg;

	if (p->part_skip)
		return 0;
	return files_post_commit(p) == 0 ? 0 : FILES_POST_ANSWERED;
}

/* Decoded body bytes. */
static void
files_post_sink(struct files_post *p, const uint8_t *data, size_t len)
{
	enum files_write_err e;
	const char *why;
	char *msg = NULL;
	int r;

	switch (p->state) {
	case FILES_POST_RAW:
		e = files_write_data(p->w, data, len, &msg);
		if (e != FILES_WRITE_OK)
			files_post_fail_write(p, e, msg);
		break;
	case FILES_POST_MULTIPART:
		r = multipart_feed(p->mp, data, len);
		if (r == 0 || p->state == FILES_POST_DONE)
			break;
		why = multipart_error(p->mp);
		msg = xasprintf("error reading form: %s",
		    why != NULL ? why : "malformed multipart body");
		files_post_fail(p, 500, msg);
		break;
	default:
		break;
	}
	free(msg);
}

/* Decoded bytes of a gzip body; stop once the request is answered. */
static int
files_post_gz_sink(void *arg, const uint8_t *data, size_t len)
{
	struct files_post *p = arg;

	files_post_sink(p, data, len);
	return p->state == FILES_POST_DONE;
}

/*
 * Inflate one slice of in[0..len) (*used: bytes taken) into the sink.
 * Returns 0 when the input is used up with no output pending, 1 when the
 * slice ended with input left or output maybe pending, or -1 once
 * answered.
 */
static int
files_post_inflate(struct files_post *p, const uint8_t *in, size_t len,
    size_t *used)
{
	const char *why;
	char *msg;

	*used = 0;
	if (p->state == FILES_POST_DONE)
		return -1;
	switch (gunzip_slice(&p->gz, in, len, FILES_POST_SLICE, used,
	    files_post_gz_sink, p, &why)) {
	case GUNZIP_NEED:
		return 0;
	case GUNZIP_MORE:
		return 1;
	case GUNZIP_STOP:
		return -1;
	case GUNZIP_ERROR:
		break;
	}
	msg = xasprintf("%s: %s", p->state == FILES_POST_RAW ||
	    (p->w != NULL && !p->part_skip) ? "error writing file" :
	    "error reading form", why);
	files_post_fail(p, 500, msg);
	free(msg);
	return -1;
}

/*
 * Raw body bytes: to the sink, or inflated when gzip. Returns how many of
 * the last bytes were not used (the body is paused then).
 */
static size_t
files_post_feed(struct files_post *p, const uint8_t *data, size_t len)
{
	size_t used;

	if (!p->gzip) {
		files_post_sink(p, data, len);
		return 0;
	}
	if (files_post_inflate(p, data, len, &used) != 1)
		return 0;
	files_post_pause(p);
	return len - used;
}

/* One slice of the held bytes (gzhold) or of pending output: as inflate. */
static int
files_post_drain_hold(struct files_post *p)
{
	size_t used;
	int r;

	r = files_post_inflate(p, buf_ptr(&p->gzhold), buf_len(&p->gzhold),
	    &used);
	if (r >= 0)
		buf_consume(&p->gzhold, used);
	if (buf_len(&p->gzhold) == 0)
		buf_reset(&p->gzhold);
	if (r == 0 && buf_len(&p->gzhold) > 0)
		r = 1;
	return r;
}

/* Stop taking the body and run the next slice on the next loop turn. */
static void
files_post_pause(struct files_post *p)
{
	if (p->drain == NULL) {
		p->drain = xcalloc(1, sizeof(*p->drain));
		p->drain->p = p;
		uv_idle_init(req_loop(p->r), &p->drain->idle);
		p->drain->idle.data = p->drain;
	}
	if (!p->zpaused)
		req_body_pause(p->r);
	p->zpaused = 1;
	uv_idle_start(&p->drain->idle, files_post_drain_cb);
}

static void
files_post_drain_cb(uv_idle_t *h)
{
	struct files_post_drain *d = h->data;
	struct files_post *p = d->p;
	int r = 0;

	if (p == NULL || p->state == FILES_POST_DONE) {
		uv_idle_stop(h);
		return;
	}
	if (req_peer_eof(p->r) && !p->end_pending && p->wire_left >= 0 &&
	    (uint64_t)p->wire_left > req_unread(p->r)) {
		/* The client hung up before the end of its body: stop here
		 * rather than inflate what is held; resuming lets
		 * libmicrohttpd see the end and drop the request. */
		uv_idle_stop(h);
		files_write_free(p->w);
		p->w = NULL;
		p->state = FILES_POST_DONE;
		p->zpaused = 0;
		req_body_resume(p->r);
		return;
	}
	if (buf_len(&p->gzhold) > 0 || p->gz.more)
		r = files_post_drain_hold(p);
	if (r == 1)
		return;		/* more next turn */
	uv_idle_stop(h);
	if (r < 0)
		return;
	p->zpaused = 0;
	if (p->end_pending)
		files_post_finish(p);
	else
		req_body_resume(p->r);
}

static void
files_post_drain_closed(uv_handle_t *h)
{
	free(h->data);
}

static int
files_post_body(struct req *r, const uint8_t *data, size_t len)
{
	struct files_post *p = req_data(r);
	size_t fresh, kept;
	long hlen;

	/* Bytes kept last time come again first. */
	fresh = len >= p->zkept ? len - p->zkept : len;
	p->zkept = 0;
	if (p->wire_left >= 0) {
		p->wire_left -= (int64_t)fresh;
		if (p->wire_left < 0)
			p->wire_left = 0;
		files_post_lowat(p, p->wire_left >= FILES_POST_RCVLOWAT ?
		    FILES_POST_RCVLOWAT : p->wire_left > 0 ?
		    (size_t)p->wire_left : 1);
	}
	if (p->state == FILES_POST_GZHEAD) {
		if (buf_append(&p->gzhold, data, len) != 0)
			hlen = -EINVAL;
		else
			hlen = files_post_gzip_header(buf_ptr(&p->gzhold),
			    buf_len(&p->gzhold));
		if (hlen < 0) {
			files_post_fail(p, 400, "error decompressing request "
			    "body: failed to create gzip reader: gzip: invalid "
			    "header");
			return -1;
		}
		if (hlen == 0)
			return 0;
		files_post_setup(p);
		if (p->state != FILES_POST_DONE &&
		    files_post_drain_hold(p) == 1)
			files_post_pause(p);
		if (p->state == FILES_POST_DONE)
			buf_reset(&p->gzhold);
	} else if (p->state != FILES_POST_DONE) {
		if ((kept = files_post_feed(p, data, len)) > 0) {
			p->zkept = kept;
			req_body_keep(r, kept);
		}
	}
	return p->state == FILES_POST_DONE ? -1 : 0;
}

static void
files_post_end(struct req *r)
{
	struct files_post *p = req_data(r);

	if (p->zpaused && p->state != FILES_POST_DONE) {
		/* Slices are still pending: answer after the last. */
		p->end_pending = 1;
		req_defer(r);
		return;
	}
	files_post_finish(p);
}

/* The body is complete and decoded: answer. */
static void
files_post_finish(struct files_post *p)
{
	struct req *r = p->r;
	const char *why;
	char *msg = NULL;
	int rc;

	switch (p->state) {
	case FILES_POST_GZHEAD:
		files_post_fail(p, 400, buf_len(&p->gzhold) == 0 ?
		    "error decompressing request body: failed to create gzip "
		    "reader: EOF" :
		    "error decompressing request body: failed to create gzip "
		    "reader: unexpected EOF");
		break;
	case FILES_POST_RAW:
		if (p->gzip && !gunzip_ended(&p->gz)) {
			files_post_fail(p, 500, "error writing file: "
			    "unexpected EOF");
			break;
		}
		if (files_post_commit(p) != 0)
			break;
		p->state = FILES_POST_DONE;
		(void)buf_puts(&p->resp, "]");
		req_respond_buf(r, 200, "application/json", &p->resp);
		break;
	case FILES_POST_MULTIPART:
		if (p->gzip && !gunzip_ended(&p->gz)) {
			files_post_fail(p, 500, p->w != NULL ?
			    "error writing file: unexpected EOF" :
			    "error reading form: unexpected EOF");
			break;
		}
		rc = multipart_finish(p->mp);
		if (p->state == FILES_POST_DONE)
			break;
		if (rc == -EPIPE) {
			files_post_fail(p, 500, !p->part_skip && p->w != NULL ?
			    "error writing file: unexpected EOF" :
			    "error reading form: " MULTIPART_NEXTPART_EOF);
			break;
		}
		if (rc != 0) {
			why = multipart_error(p->mp);
			msg = xasprintf("error reading form: %s",
			    why != NULL ? why : "malformed multipart body");
			files_post_fail(p, 500, msg);
			break;
		}
		p->state = FILES_POST_DONE;
		if (buf_puts(&p->resp, "]") != 0) {
			req_respond_error(r, 500, "error marshaling response: "
			    "too many files");
			break;
		}
		req_respond_buf(r, 200, "application/json", &p->resp);
		break;
	case FILES_POST_DONE:
		break;
	}
	free(msg);
}

static void
files_post_done(struct req *r, int ok)
{
	struct files_post *p = req_data(r);
	size_t i;

	if (p == NULL)
		return;
	req_set_data(r, NULL);
	if (ok)
		files_post_lowat(p, 1);
	if (p->drain != NULL) {
		p->drain->p = NULL;
		uv_idle_stop(&p->drain->idle);
		uv_close((uv_handle_t *)&p->drain->idle,
		    files_post_drain_closed);
	}
	files_write_free(p->w);
	free(p->wpath);
	multipart_free(p->mp);
	gunzip_end(&p->gz);
	buf_reset(&p->gzhold);
	buf_reset(&p->resp);
	for (i = 0; i < p->npaths; i++)
		free(p->paths[i]);
	free(p->paths);
	files_meta_reset(&p->meta);
	users_free(p->user);
	files_query_reset(&p->fq);
	free(p);
}
