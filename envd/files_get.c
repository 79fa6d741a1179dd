/*
 * files_get.c - GET /files.
 *
 * The checks run in upstream's order (http-api.md §6.2); the success
 * answer is either sendfile from the open file (identity, whole or one
 * range) or a gzip member deflated as libmicrohttpd asks for more bytes.
 * File reads block the loop thread briefly (one chunk at a time); that is
 * fine for local disks and the page cache.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "accept.h"
#include "buf.h"
#include "errtext.h"
#include "fdres.h"
#include "files.h"
#include "files_get.h"
#include "files_write.h"
#include "fs_path.h"
#include "init.h"
#include "mime.h"
#include "users.h"
#include "xalloc.h"

#define FILES_GET_ZERO_MAX 65536	/* read of a file whose size reads 0 */

/* State of one gzip answer. */
struct files_get_gz {
	int fd;			/* the file; owned */
	z_stream zs;
	int zinit;		/* deflateInit2 succeeded */
	int eof;		/* the file is read to its end */
	int finished;		/* deflate returned Z_STREAM_END */
	uint8_t *in;		/* FILES_GET_READ_CHUNK bytes (mmap); owned */
};

static void	files_get_begin(struct req *);
static void	files_get_end(struct req *);
static void	files_get_identity(struct req *, const char *, const char *, int,
		    const struct stat *);
static void	files_get_gzip(struct req *, const char *, int);
static int	files_get_slurp(int, struct buf *);
static ssize_t	files_get_gz_read(void *, uint8_t *, size_t);
static void	files_get_gz_free(void *);
static int	files_get_star(const char *);
static int	files_get_name(const char **, const char *const *, int,
		    size_t);
static int	files_get_num(const char **, int, int, int *);

const struct req_handler files_get_handler = {
	.name = "files_get",
	.begin = files_get_begin,
	.end = files_get_end,
};

static const char *const files_get_days[] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday",
};
/* Headers that force identity (http-api.md §6.4). */
static const char *const files_get_cond_headers[] = {
	"Range", "If-Modified-Since", "If-None-Match", "If-Range",
};
static const char *const files_get_months[] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December",
};

void
files_get_http_date(time_t t, char out[FILES_GET_DATE_LEN])
{
	struct tm tm;
	char tmp[80];

	gmtime_r(&t, &tm);
	snprintf(tmp, sizeof(tmp), "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
	    files_get_days[tm.tm_wday], tm.tm_mday,
	    files_get_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	memcpy(out, tmp, FILES_GET_DATE_LEN - 1);
	out[FILES_GET_DATE_LEN - 1] = '\0';
}

/*
 * Match one of names[0..n) at *sp, case-insensitively, using the first
 * len bytes of each name (0: the whole name). Returns its index and
 * advances *sp, or -1.
 */
static int
files_get_name(const char **sp, const char *const *names, int n, size_t len)
{
	size_t l;
	int i;

	for (i = 0; i < n; i++) {
		l = len != 0 ? len : strlen(names[i]);
		if (strncasecmp(*sp, names[i], l) == 0) {
			*sp += l;
			return i;
		}
	}
	return -1;
}

/* Parse exactly ndig digits (or 1..2 when ndig is 0) at *sp. */
static int
files_get_num(const char **sp, int ndig, int space_pad, int *out)
{
	const char *s = *sp;
	int v = 0, k = 0, max = ndig != 0 ? ndig : 2;

	if (space_pad && *s == ' ')
		s++;
	while (k < max && *s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		s++;
		k++;
	}
	if (k == 0 || (ndig != 0 && k != ndig))
		return -1;
	*sp = s;
	*out = v;
	return 0;
}

int
files_get_parse_http_date(const char *s, time_t *out)
{
	static const int mdays[] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	struct tm tm;
	const char *p = s;
	int day, mon, year = 0, hh, mm, ss, leap, form;
	time_t t;

	/* 0: RFC 1123, 1: RFC 850, 2: asctime. */
	if (files_get_name(&p, files_get_days, 7, 3) < 0)
		return -EINVAL;
	if (*p == ',') {
		form = 0;
	} else if (*p == ' ') {
		form = 2;
	} else {
		/* The rest of a long day name, then ','. */
		p = s;
		if (files_get_name(&p, files_get_days, 7, 0) < 0 || *p != ',')
			return -EINVAL;
		form = 1;
	}
	p++;
	switch (form) {
	case 0:
		if (*p++ != ' ' || files_get_num(&p, 2, 0, &day) != 0 ||
		    *p++ != ' ' ||
		    (mon = files_get_name(&p, files_get_months, 12, 3)) < 0 ||
		    *p++ != ' ' || files_get_num(&p, 4, 0, &year) != 0 ||
		    *p++ != ' ')
			return -EINVAL;
		break;
	case 1:
		if (*p++ != ' ' || files_get_num(&p, 2, 0, &day) != 0 ||
		    *p++ != '-' ||
		    (mon = files_get_name(&p, files_get_months, 12, 3)) < 0 ||
		    *p++ != '-' || files_get_num(&p, 2, 0, &year) != 0 ||
		    *p++ != ' ')
			return -EINVAL;
		year += year >= 69 ? 1900 : 2000;
		break;
	default:
		if ((mon = files_get_name(&p, files_get_months, 12, 3)) < 0 ||
		    *p++ != ' ' || files_get_num(&p, 0, 1, &day) != 0 ||
		    *p++ != ' ')
			return -EINVAL;
		break;
	}
	if (files_get_num(&p, 2, 0, &hh) != 0 || *p++ != ':' ||
	    files_get_num(&p, 2, 0, &mm) != 0 || *p++ != ':' ||
	    files_get_num(&p, 2, 0, &ss) != 0)
		return -EINVAL;
	switch (form) {
	case 0:
		if (strcmp(p, " GMT") != 0)
			return -EINVAL;
		break;
	case 1:
		/* A zone abbreviation; Go treats an unknown one as UTC. */
		if (*p++ != ' ' || *p == '\0')
			return -EINVAL;
		for (; *p != '\0'; p++) {
			if (!(*p >= 'A' && *p <= 'Z'))
				return -EINVAL;
		}
		break;
	default:
		if (*p++ != ' ' || files_get_num(&p, 4, 0, &year) != 0 ||
		    *p != '\0')
			return -EINVAL;
		break;
	}
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap) ||
	    hh > 23 || mm > 59 || ss > 59)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	*out = t;
	return 0;
}

/*
 * Whether an If-Match / If-None-Match list holds "*" before anything
 * malformed (Go's loop; entity tags never match here, there being none).
 */
static int
files_get_star(const char *s)
{
	const char *p = s;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return 0;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return 0;
		for (p++; *p != '"'; p++) {
			if (*p == '\0' || (unsigned char)*p < 0x21 ||
			    (unsigned char)*p == 0x7f)
				return 0;
		}
		p++;
	}
}

enum files_get_cond
files_get_preconditions(const struct files_get_conds *c, time_t mtime)
{
	time_t t;
	int ch = 0;	/* -1 false, 0 none, 1 true */

	if (c->if_match != NULL && c->if_match[0] != '\0')
		ch = files_get_star(c->if_match) ? 1 : -1;
	else if (c->if_unmodified_since != NULL &&
	    c->if_unmodified_since[0] != '\0' && mtime != 0 &&
	    files_get_parse_http_date(c->if_unmodified_since, &t) == 0)
		ch = mtime <= t ? 1 : -1;
	if (ch < 0)
		return FILES_GET_PRECONDITION_FAILED;
	if (c->if_none_match != NULL && c->if_none_match[0] != '\0') {
		if (files_get_star(c->if_none_match))
			return FILES_GET_NOT_MODIFIED;
	} else if (c->if_modified_since != NULL &&
	    c->if_modified_since[0] != '\0' && mtime != 0 &&
	    files_get_parse_http_date(c->if_modified_since, &t) == 0 &&
	    mtime <= t) {
		return FILES_GET_NOT_MODIFIED;
	}
	if (c->has_range && c->if_range != NULL && c->if_range[0] != '\0') {
		/* An entity tag never matches; a date must equal mtime. */
		if (c->if_range[0] == '"' || strncmp(c->if_range, "W/\"",
		    3) == 0)
			return FILES_GET_SERVE_FULL;
		if (mtime == 0 ||
		    files_get_parse_http_date(c->if_range, &t) != 0 ||
		    t != mtime)
			return FILES_GET_SERVE_FULL;
	}
	return FILES_GET_SERVE;
}

static void
files_get_begin(struct req *r)
{
	req_body_mode(r, REQ_BODY_DISCARD, 0);
}

static void
files_get_end(struct req *r)
{
	struct files_query fq;
	struct user *u = NULL;
	struct stat st;
	enum accept_encoding enc;
	const char *path, *ae, *h;
	char *abs = NULL, *err = NULL, *msg = NULL, *base = NULL;
	char *disp = NULL;
	size_t plen, aelen, i;
	int fd = -1, range_or_cond = 0, e;

	if (files_query_bind(r, "read", &fq) != 0)
		return;
	if (files_user_lookup(r, &fq, &u) != 0)
		goto out;
	path = fq.path != NULL ? fq.path : "";
	plen = fq.path != NULL ? fq.path_len : 0;
	if (fs_path_resolve(path, u->name, u->home, init_default_workdir(),
	    &abs, &err) != 0) {
		msg = xasprintf("error expanding and resolving path '%s': %s",
		    path, err != NULL ? err : "invalid path");
		req_respond_error(r, 400, msg);
		goto out;
	}
	if (memchr(path, '\0', plen) != NULL || stat(abs, &st) != 0) {
		e = memchr(path, '\0', plen) != NULL ? EINVAL : errno;
		if (e == ENOENT)
			msg = xasprintf("path '%s' does not exist", abs);
		else
			msg = xasprintf("error checking if path exists '%s': "
			    "stat %s: %s", abs, abs, errtext(e));
		req_respond_error(r, e == ENOENT ? 404 : 500, msg);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		msg = xasprintf("path '%s' is a directory", abs);
		req_respond_error(r, 400, msg);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		msg = xasprintf("path '%s' is not a regular file", abs);
		req_respond_error(r, 400, msg);
		goto out;
	}
	for (i = 0; i < sizeof(files_get_cond_headers) /
	    sizeof(files_get_cond_headers[0]); i++) {
		h = req_header(r, files_get_cond_headers[i]);
		if (h != NULL && h[0] != '\0')
			range_or_cond = 1;
	}
	ae = req_header_n(r, "Accept-Encoding", &aelen);
	enc = accept_encoding_negotiate(ae, ae != NULL ? aelen : 0,
	    range_or_cond);
	if (enc == ACCEPT_NONE || enc == ACCEPT_NONE_RANGE) {
		req_respond_error(r, 406, accept_encoding_message(enc));
		goto out;
	}
	req_add_header(r, "Vary", "Accept-Encoding");

	if ((fd = fdres_openat(AT_FDCWD, abs, O_RDONLY | O_NONBLOCK |
	    O_CLOEXEC, 0)) < 0) {
		msg = xasprintf("error opening file '%s': open %s: %s", abs,
		    abs, errtext(errno));
		req_respond_error(r, 500, msg);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		msg = xasprintf("error checking if path exists '%s': stat %s: "
		    "%s", abs, abs, errtext(errno));
		req_respond_error(r, 500, msg);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		msg = xasprintf("path '%s' is %s", abs, S_ISDIR(st.st_mode) ?
		    "a directory" : "not a regular file");
		req_respond_error(r, 400, msg);
		goto out;
	}
	base = fs_path_base(abs);
	if ((disp = mime_format_media_type("inline", "filename", base,
	    strlen(base))) != NULL)
		req_add_header(r, "Content-Disposition", disp);

	if (enc == ACCEPT_GZIP)
		files_get_gzip(r, path, fd);
	else
		files_get_identity(r, path, abs, fd, &st);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	users_free(u);
	files_query_reset(&fq);
	free(abs);
	free(err);
	free(msg);
	free(base);
	free(disp);
}

/*
 * Read up to FILES_GET_ZERO_MAX bytes of a file whose size reads 0
 * (procfs, sysfs, or really empty) into b. Returns 0 or -errno.
 */
static int
files_get_slurp(int fd, struct buf *b)
{
	uint8_t *p;
	ssize_t n;

	while (buf_len(b) < FILES_GET_ZERO_MAX) {
		if ((p = buf_reserve(b, FILES_GET_ZERO_MAX - buf_len(b))) == NULL)
			return -ENOMEM;
		n = read(fd, p, FILES_GET_ZERO_MAX - buf_len(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			break;
		buf_commit(b, (size_t)n);
	}
	return 0;
}

/*
 * The identity answer: 200, 206, 304, 412 or 416. Takes fd. A file whose
 * size reads 0 is served from at most 64 KiB read into memory, as
 * upstream does (longer content is cut).
 */
static void
files_get_identity(struct req *r, const char *path, const char *abs, int fd,
    const struct stat *st)
{
	struct buf zb;
	char *msg;
	struct files_get_conds c;
	enum files_get_cond cond;
	enum accept_range ar;
	uint8_t sniff[MIME_SNIFF_LEN];
	char date[FILES_GET_DATE_LEN], cr[96];
	const char *ctype, *rh;
	int64_t size = st->st_size, start = 0, length = st->st_size;
	size_t rlen = 0;
	unsigned int status = 200;
	ssize_t n;
	int e;

	buf_init(&zb, FILES_GET_ZERO_MAX);
	if (size == 0 && (e = files_get_slurp(fd, &zb)) != 0) {
		close(fd);
		msg = xasprintf("error reading file '%s': read %s: %s", abs,
		    abs, errtext(-e));
		req_respond_error(r, 500, msg);
		free(msg);
		goto out;
	}
	size = length = (int64_t)buf_len(&zb) > size ?
	    (int64_t)buf_len(&zb) : size;
	if (st->st_mtime != 0) {
		files_get_http_date(st->st_mtime, date);
		req_add_header(r, "Last-Modified", date);
	}
	rh = req_header_n(r, "Range", &rlen);
	memset(&c, 0, sizeof(c));
	c.if_match = req_header(r, "If-Match");
	c.if_unmodified_since = req_header(r, "If-Unmodified-Since");
	c.if_none_match = req_header(r, "If-None-Match");
	c.if_modified_since = req_header(r, "If-Modified-Since");
	c.if_range = req_header(r, "If-Range");
	c.has_range = rh != NULL && rlen > 0;
	cond = files_get_preconditions(&c, st->st_mtime);
	if (cond == FILES_GET_PRECONDITION_FAILED ||
	    cond == FILES_GET_NOT_MODIFIED) {
		close(fd);
		if (cond == FILES_GET_NOT_MODIFIED)
			req_respond_not_modified(r, (uint64_t)size);
		else
			req_respond(r, 412, NULL, NULL, 0);
		goto out;
	}

	if ((ctype = mime_type_for_path(path, strlen(path))) == NULL &&
	    buf_len(&zb) > 0) {
		ctype = mime_sniff(buf_ptr(&zb), buf_len(&zb) < MIME_SNIFF_LEN ?
		    buf_len(&zb) : MIME_SNIFF_LEN);
	} else if (ctype == NULL) {
		do {
			n = pread(fd, sniff, sizeof(sniff), 0);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			close(fd);
			req_respond_error(r, 500, "error reading file");
			goto out;
		}
		ctype = mime_sniff(sniff, (size_t)n);
	}

	if (cond == FILES_GET_SERVE && c.has_range) {
		ar = accept_range_parse(rh, rlen, size, &start, &length);
		switch (ar) {
		case ACCEPT_RANGE_PARTIAL:
			status = 206;
			snprintf(cr, sizeof(cr), "bytes %" PRId64 "-%" PRId64
			    "/%" PRId64, start, start + length - 1, size);
			req_add_header(r, "Content-Range", cr);
			break;
		case ACCEPT_RANGE_NO_OVERLAP:
			snprintf(cr, sizeof(cr), "bytes */%" PRId64, size);
			req_add_header(r, "Content-Range", cr);
			/* FALLTHROUGH */
		case ACCEPT_RANGE_INVALID:
			close(fd);
			snprintf(cr, sizeof(cr), "%s\n",
			    accept_range_message(ar));
			req_add_header(r, "X-Content-Type-Options", "nosniff");
			req_respond_text(r, 416, cr);
			goto out;
		case ACCEPT_RANGE_FULL:
			start = 0;
			length = size;
			break;
		}
	}
	req_add_header(r, "Accept-Ranges", "bytes");
	if (length == 0 || buf_len(&zb) > 0) {
		close(fd);
		req_respond(r, status, ctype, length > 0 ? buf_ptr(&zb) +
		    start : NULL, (size_t)length);
		goto out;
	}
	req_respond_fd(r, status, ctype, fd, (uint64_t)start,
	    (uint64_t)length);
out:
	buf_reset(&zb);
}

/* The gzip answer: 200, chunked, one gzip member. Takes fd. */
static void
files_get_gzip(struct req *r, const char *path, int fd)
{
	struct files_get_gz *gz;
	const char *ctype;

	gz = xcalloc(1, sizeof(*gz));
	gz->fd = fd;
	if (deflateInit2(&gz->zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		files_get_gz_free(gz);
		req_respond_error(r, 500, "error compressing file");
		return;
	}
	gz->zinit = 1;
	gz->in = files_write_buf_new(FILES_GET_READ_CHUNK);
	if ((ctype = mime_type_for_path(path, strlen(path))) == NULL)
		ctype = "application/octet-stream";
	req_add_header(r, "Content-Encoding", "gzip");
	req_respond_reader(r, 200, ctype, files_get_gz_read, gz,
	    files_get_gz_free);
}

/* Fill out with up to max bytes of the gzip member. */
static ssize_t
files_get_gz_read(void *arg, uint8_t *out, size_t max)
{
	struct files_get_gz *gz = arg;
	ssize_t n;
	int rc;

	if (gz->finished)
		return -1;
	gz->zs.next_out = out;
	gz->zs.avail_out = max > UINT32_MAX ? UINT32_MAX : (uInt)max;
	while (gz->zs.avail_out > 0 && !gz->finished) {
		if (gz->zs.avail_in == 0 && !gz->eof) {
			do {
				n = read(gz->fd, gz->in, FILES_GET_READ_CHUNK);
			} while (n < 0 && errno == EINTR);
			if (n < 0)
				return -2;
			if (n == 0)
				gz->eof = 1;
			gz->zs.next_in = gz->in;
			gz->zs.avail_in = (uInt)n;
		}
		rc = deflate(&gz->zs, gz->eof ? Z_FINISH : Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			gz->finished = 1;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return -2;
	}
	n = (ssize_t)(max - gz->zs.avail_out);
	if (n == 0)
		return -1;
	return n;
}

static void
files_get_gz_free(void *arg)
{
	struct files_get_gz *gz = arg;

	if (gz->zinit)
		deflateEnd(&gz->zs);
	if (gz->fd >= 0)
		close(gz->fd);
	files_write_buf_free(gz->in, FILES_GET_READ_CHUNK);
	free(gz);
}
