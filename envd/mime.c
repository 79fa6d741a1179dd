/*
 * mime.c - extension table, content sniffing, media type format and parse.
 *
 * Everything here mirrors a Go standard library function closely enough
 * that the daemon answers byte for byte like upstream; the Go names are
 * given above each function.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "gospace.h"
#include "mime.h"
#include "xalloc.h"

#define MIME_MAX_PARAMS 128

struct mime_param {
	char *key;	/* lower-case name, owned */
	char *value;	/* decoded value, NUL-terminated, owned */
	size_t vlen;	/* length of value */
};

struct mime_params {
	struct mime_param *v;	/* parameters in first-seen order, owned */
	size_t n;		/* entries used */
	size_t cap;		/* entries allocated */
};

struct mime_ext {
	const char *ext;	/* lower-case, with the dot */
	const char *type;
};

/* Sorted by ext for bsearch. */
static const struct mime_ext mime_exts[] = {
	{ ".7z", "application/x-7z-compressed" },
	{ ".avif", "image/avif" },
	{ ".bmp", "image/bmp" },
	{ ".c", "text/x-csrc; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".csv", "text/csv; charset=utf-8" },
	{ ".gif", "image/gif" },
	{ ".gz", "application/gzip" },
	{ ".h", "text/x-chdr; charset=utf-8" },
	{ ".htm", "text/html; charset=utf-8" },
	{ ".html", "text/html; charset=utf-8" },
	{ ".ico", "image/vnd.microsoft.icon" },
	{ ".jpeg", "image/jpeg" },
	{ ".jpg", "image/jpeg" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".markdown", "text/markdown; charset=utf-8" },
	{ ".md", "text/markdown; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".mp3", "audio/mpeg" },
	{ ".mp4", "video/mp4" },
	{ ".ogg", "audio/ogg" },
	{ ".pdf", "application/pdf" },
	{ ".png", "image/png" },
	{ ".py", "text/x-python; charset=utf-8" },
	{ ".sh", "text/x-sh; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".tar", "application/x-tar" },
	{ ".tif", "image/tiff" },
	{ ".tiff", "image/tiff" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".wasm", "application/wasm" },
	{ ".wav", "audio/x-wav" },
	{ ".webm", "video/webm" },
	{ ".webp", "image/webp" },
	{ ".xml", "text/xml; charset=utf-8" },
	{ ".xz", "application/x-xz" },
	{ ".zip", "application/zip" },
};

enum mime_sig_kind {
	MIME_SIG_HTML,		/* case-insensitive tag + space or '>' */
	MIME_SIG_MASKED,	/* (data & mask) == pat */
	MIME_SIG_MASKED_WS,	/* same, after leading white space */
	MIME_SIG_EXACT,		/* prefix */
	MIME_SIG_MP4,		/* ISO BMFF "ftyp" box naming an mp4 brand */
	MIME_SIG_TEXT,		/* no binary control bytes */
};

struct mime_sig {
	enum mime_sig_kind kind;
	const char *pat;
	const char *mask;	/* MIME_SIG_MASKED*: same length as pat */
	size_t len;		/* length of pat */
	const char *type;
};

#define SIG(k, p, m, t) { k, p, m, sizeof(p) - 1, t }
#define HTML(p) SIG(MIME_SIG_HTML, p, NULL, "text/html; charset=utf-8")
#define EXACT(p, t) SIG(MIME_SIG_EXACT, p, NULL, t)

/* Go net/http sniff.go sniffSignatures, in order. */
static const struct mime_sig mime_sigs[] = {
	HTML("<!DOCTYPE HTML"), HTML("<HTML"), HTML("<HEAD"),
	HTML("<SCRIPT"), HTML("<IFRAME"), HTML("<H1"), HTML("<DIV"),
	HTML("<FONT"), HTML("<TABLE"), HTML("<A"), HTML("<STYLE"),
	HTML("<TITLE"), HTML("<B"), HTML("<BODY"), HTML("<BR"), HTML("<P"),
	HTML("<!--"),
	SIG(MIME_SIG_MASKED_WS, "<?xml", "\xff\xff\xff\xff\xff",
	    "text/xml; charset=utf-8"),
	EXACT("%PDF-", "application/pdf"),
	EXACT("%!PS-Adobe-", "application/postscript"),
	SIG(MIME_SIG_MASKED, "\xfe\xff\x00\x00", "\xff\xff\x00\x00",
	    "text/plain; charset=utf-16be"),
	SIG(MIME_SIG_MASKED, "\xff\xfe\x00\x00", "\xff\xff\x00\x00",
	    "text/plain; charset=utf-16le"),
	SIG(MIME_SIG_MASKED, "\xef\xbb\xbf\x00", "\xff\xff\xff\x00",
	    "text/plain; charset=utf-8"),
	EXACT("\x00\x00\x01\x00", "image/x-icon"),
	EXACT("\x00\x00\x02\x00", "image/x-icon"),
	EXACT("BM", "image/bmp"),
	EXACT("GIF87a", "image/gif"),
	EXACT("GIF89a", "image/gif"),
	SIG(MIME_SIG_MASKED, "RIFF\x00\x00\x00\x00WEBPVP",
	    "\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff",
	    "image/webp"),
	EXACT("\x89PNG\x0d\x0a\x1a\x0a", "image/png"),
	EXACT("\xff\xd8\xff", "image/jpeg"),
	SIG(MIME_SIG_MASKED, ".snd", "\xff\xff\xff\xff", "audio/basic"),
	SIG(MIME_SIG_MASKED, "FORM\x00\x00\x00\x00" "AIFF",
	    "\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff",
	    "audio/aiff"),
	SIG(MIME_SIG_MASKED, "ID3", "\xff\xff\xff", "audio/mpeg"),
	SIG(MIME_SIG_MASKED, "OggS\x00", "\xff\xff\xff\xff\xff",
	    "application/ogg"),
	SIG(MIME_SIG_MASKED, "MThd\x00\x00\x00\x06",
	    "\xff\xff\xff\xff\xff\xff\xff\xff", "audio/midi"),
	SIG(MIME_SIG_MASKED, "RIFF\x00\x00\x00\x00" "AVI ",
	    "\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", "video/avi"),
	SIG(MIME_SIG_MASKED, "RIFF\x00\x00\x00\x00WAVE",
	    "\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", "audio/wave"),
	SIG(MIME_SIG_MP4, "", NULL, "video/mp4"),
	EXACT("\x1a\x45\xdf\xa3", "video/webm"),
	SIG(MIME_SIG_MASKED,
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00LP",
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\xff\xff",
	    "application/vnd.ms-fontobject"),
	EXACT("\x00\x01\x00\x00", "font/ttf"),
	EXACT("OTTO", "font/otf"),
	EXACT("ttcf", "font/collection"),
	EXACT("wOFF", "font/woff"),
	EXACT("wOF2", "font/woff2"),
	EXACT("\x1f\x8b\x08", "application/x-gzip"),
	EXACT("PK\x03\x04", "application/zip"),
	EXACT("Rar!\x1a\x07\x00", "application/x-rar-compressed"),
	EXACT("Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
	EXACT("\x00\x61\x73\x6d", "application/wasm"),
	SIG(MIME_SIG_TEXT, "", NULL, "text/plain; charset=utf-8"),
};

#undef SIG
#undef HTML
#undef EXACT

static int	mime_ext_cmp(const void *, const void *);
static int	mime_sig_match(const struct mime_sig *, const uint8_t *, size_t,
		    size_t);
static int	mime_is_tspecial(int);
static int	mime_is_token_char(int);
static int	mime_is_token(const char *, size_t);
static size_t	mime_token_len(const char *, size_t);
static char	*mime_go_lower(const char *, size_t, size_t *);
static int	mime_consume_value(const char **, size_t *, struct buf *);
static int	mime_consume_param(const char **, size_t *, char **,
		    struct buf *);
static int	mime_hex(int);
static int	mime_percent_unescape(const char *, size_t, struct buf *);
static int	mime_decode_2231(const char *, size_t, struct buf *);
static struct mime_param *mime_params_find(const struct mime_params *,
		    const char *);
static void	mime_params_set(struct mime_params *, const char *,
		    const char *, size_t);
static void	mime_params_add(struct mime_params *, char *, char *, size_t);
static void	mime_stitch(struct mime_params *, const struct mime_params *,
		    const char *);

size_t
mime_path_ext(const char *path, size_t len, const char **ext)
{
	size_t i;

	*ext = path + len;
	for (i = len; i > 0 && path[i - 1] != '/'; i--) {
		if (path[i - 1] == '.') {
			*ext = path + i - 1;
			return len - (i - 1);
		}
	}
	return 0;
}

static int
mime_ext_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct mime_ext *)elem)->ext);
}

const char *
mime_type_by_extension(const char *ext, size_t len)
{
	const struct mime_ext *e;
	char *lower;
	size_t n;

	if (len == 0 || len > 32)
		return NULL;
	lower = mime_go_lower(ext, len, &n);
	e = strlen(lower) == n ? bsearch(lower, mime_exts,
	    sizeof(mime_exts) / sizeof(mime_exts[0]), sizeof(mime_exts[0]),
	    mime_ext_cmp) : NULL;
	free(lower);
	return e != NULL ? e->type : NULL;
}

const char *
mime_type_for_path(const char *path, size_t len)
{
	const char *ext;
	size_t n;

	n = mime_path_ext(path, len, &ext);
	return mime_type_by_extension(ext, n);
}

/* 1 when sig matches data[0..len) (first non-white-space byte at ws). */
static int
mime_sig_match(const struct mime_sig *sig, const uint8_t *data, size_t len,
    size_t ws)
{
	const uint8_t *pat = (const uint8_t *)sig->pat;
	const uint8_t *mask = (const uint8_t *)sig->mask;
	uint32_t box;
	size_t i;
	uint8_t c;

	switch (sig->kind) {
	case MIME_SIG_HTML:
		data += ws;
		len -= ws;
		if (len < sig->len + 1)
			return 0;
		for (i = 0; i < sig->len; i++) {
			c = data[i];
			if (pat[i] >= 'A' && pat[i] <= 'Z')
				c &= 0xdf;
			if (c != pat[i])
				return 0;
		}
		return data[sig->len] == ' ' || data[sig->len] == '>';
	case MIME_SIG_MASKED_WS:
		data += ws;
		len -= ws;
		/* FALLTHROUGH */
	case MIME_SIG_MASKED:
		if (len < sig->len)
			return 0;
		for (i = 0; i < sig->len; i++) {
			if ((data[i] & mask[i]) != pat[i])
				return 0;
		}
		return 1;
	case MIME_SIG_EXACT:
		return len >= sig->len && memcmp(data, pat, sig->len) == 0;
	case MIME_SIG_MP4:
		if (len < 12)
			return 0;
		box = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
		    (uint32_t)data[2] << 8 | data[3];
		if (len < box || box % 4 != 0 || memcmp(data + 4, "ftyp", 4))
			return 0;
		for (i = 8; i < box; i += 4) {
			if (i == 12)
				continue;
			if (memcmp(data + i, "mp4", 3) == 0)
				return 1;
		}
		return 0;
	case MIME_SIG_TEXT:
		for (i = ws; i < len; i++) {
			c = data[i];
			/* Binary: C0 controls except \t \n \f \r and ESC. */
			if (c <= 0x08 || c == 0x0b || (c >= 0x0e &&
			    c <= 0x1a) || (c >= 0x1c && c <= 0x1f))
				return 0;
		}
		return 1;
	}
	return 0;
}

const char *
mime_sniff(const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t ws = 0, i;

	if (len > MIME_SNIFF_LEN)
		len = MIME_SNIFF_LEN;
	while (ws < len && (d[ws] == '\t' || d[ws] == '\n' || d[ws] == '\f' ||
	    d[ws] == '\r' || d[ws] == ' '))
		ws++;
	for (i = 0; i < sizeof(mime_sigs) / sizeof(mime_sigs[0]); i++) {
		if (mime_sig_match(&mime_sigs[i], d, len, ws))
			return mime_sigs[i].type;
	}
	return "application/octet-stream";
}

/* RFC 2045 tspecials. */
static int
mime_is_tspecial(int c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int
mime_is_token_char(int c)
{
	return c > 0x20 && c < 0x7f && !mime_is_tspecial(c);
}

static int
mime_is_token(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (!mime_is_token_char((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

char *
mime_format_media_type(const char *type, const char *attr,
    const char *value, size_t vlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *slash;
	struct buf b;
	size_t i, off, tlen = strlen(type), alen = strlen(attr);
	int enc = 0, c;
	char pct[3];

	if ((slash = memchr(type, '/', tlen)) == NULL) {
		if (!mime_is_token(type, tlen))
			return NULL;
	} else if (!mime_is_token(type, (size_t)(slash - type)) ||
	    !mime_is_token(slash + 1, tlen - (size_t)(slash - type) - 1))
		return NULL;
	if (!mime_is_token(attr, alen))
		return NULL;

	buf_init(&b, SIZE_MAX / 2);
	for (i = 0; i < tlen; i++) {
		c = (unsigned char)type[i];
		pct[0] = (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
		buf_append(&b, pct, 1);
	}
	buf_puts(&b, "; ");
	for (i = 0; i < alen; i++) {
		c = (unsigned char)attr[i];
		pct[0] = (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
		buf_append(&b, pct, 1);
	}
	for (i = 0; i < vlen; i++) {
		c = (unsigned char)value[i];
		if ((c < ' ' || c > '~') && c != '\t')
			enc = 1;
	}
	if (enc) {
		/* RFC 2231 section 4; attribute-char excludes these. */
		buf_puts(&b, "*=utf-8''");
		for (i = 0; i < vlen; i++) {
			c = (unsigned char)value[i];
			if (c <= ' ' || c >= 0x7f || c == '*' || c == '\'' ||
			    c == '%' || mime_is_tspecial(c)) {
				pct[0] = '%';
				pct[1] = hex[c >> 4];
				pct[2] = hex[c & 0xf];
				buf_append(&b, pct, 3);
			} else
				buf_append(&b, value + i, 1);
		}
	} else if (mime_is_token(value, vlen)) {
		buf_puts(&b, "=");
		buf_append(&b, value, vlen);
	} else {
		buf_puts(&b, "=\"");
		for (i = off = 0; i < vlen; i++) {
			if (value[i] == '"' || value[i] == '\\') {
				buf_append(&b, value + off, i - off);
				buf_puts(&b, "\\");
				off = i;
			}
		}
		buf_append(&b, value + off, vlen - off);
		buf_puts(&b, "\"");
	}
	return buf_steal_str(&b, NULL);
}

/* Length of the token at the start of s. */
static size_t
mime_token_len(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && mime_is_token_char((unsigned char)s[i]); i++)
		;
	return i;
}

/*
 * Go strings.ToLower, as far as it can matter here: ASCII letters, and
 * U+212A KELVIN SIGN, the one non-ASCII letter whose lower case is ASCII.
 * Other bytes are copied. Returns an allocated copy, length in *outlen.
 */
static char *
mime_go_lower(const char *s, size_t n, size_t *outlen)
{
	char *d = xmalloc(n + 1);
	size_t i, j = 0;
	int c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == 0xe2 && n - i >= 3 &&
		    (unsigned char)s[i + 1] == 0x84 &&
		    (unsigned char)s[i + 2] == 0xaa) {
			d[j++] = 'k';
			i += 2;
			continue;
		}
		d[j++] = (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
	}
	d[j] = '\0';
	*outlen = j;
	return d;
}

/*
 * Go consumeValue: a token, or a quoted string with '\' escaping
 * tspecials only. Appends the value to out and advances (*s, *n). Returns
 * 0, or -1 (nothing consumed) when there is no value.
 */
static int
mime_consume_value(const char **s, size_t *n, struct buf *out)
{
	const char *v = *s;
	size_t i, len = *n, t;

	if (len == 0)
		return -1;
	if (v[0] != '"') {
		if ((t = mime_token_len(v, len)) == 0)
			return -1;
		buf_append(out, v, t);
		*s += t;
		*n -= t;
		return 0;
	}
	for (i = 1; i < len; i++) {
		if (v[i] == '"') {
			*s += i + 1;
			*n -= i + 1;
			return 0;
		}
		if (v[i] == '\\' && i + 1 < len &&
		    mime_is_tspecial((unsigned char)v[i + 1])) {
			buf_append(out, v + i + 1, 1);
			i++;
			continue;
		}
		if (v[i] == '\r' || v[i] == '\n')
			return -1;
		buf_append(out, v + i, 1);
	}
	return -1;
}

/*
 * Go consumeMediaParam: "; name = value". On success sets *key (allocated,
 * lower-cased), appends the value to out, advances (*s, *n) and returns 0.
 * Returns -1, leaving (*s, *n) alone, when no parameter follows.
 */
static int
mime_consume_param(const char **s, size_t *n, char **key, struct buf *out)
{
	const char *v = *s;
	size_t len = *n, t, klen;

	gospace_trim_left(&v, &len);
	if (len == 0 || v[0] != ';')
		return -1;
	v++;
	len--;
	gospace_trim_left(&v, &len);
	if ((t = mime_token_len(v, len)) == 0)
		return -1;
	*key = mime_go_lower(v, t, &klen);
	v += t;
	len -= t;
	gospace_trim_left(&v, &len);
	if (len == 0 || v[0] != '=')
		goto fail;
	v++;
	len--;
	gospace_trim_left(&v, &len);
	buf_reset(out);
	if (mime_consume_value(&v, &len, out) != 0)
		goto fail;
	*s = v;
	*n = len;
	return 0;
fail:
	free(*key);
	*key = NULL;
	return -1;
}

static int
mime_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Go percentHexUnescape: append the decoding of s to out, or -1. */
static int
mime_percent_unescape(const char *s, size_t n, struct buf *out)
{
	size_t i;
	char c;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && (n - i < 3 ||
		    mime_hex((unsigned char)s[i + 1]) < 0 ||
		    mime_hex((unsigned char)s[i + 2]) < 0))
			return -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			c = (char)(mime_hex((unsigned char)s[i + 1]) << 4 |
			    mime_hex((unsigned char)s[i + 2]));
			buf_append(out, &c, 1);
			i += 2;
		} else
			buf_append(out, s + i, 1);
	}
	return 0;
}

/* Go decode2231Enc: "charset'lang'%XX..." appended to out, or -1. */
static int
mime_decode_2231(const char *v, size_t n, struct buf *out)
{
	const char *q1, *q2;
	size_t clen;

	if ((q1 = memchr(v, '\'', n)) == NULL)
		return -1;
	if ((q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - v))) == NULL)
		return -1;
	clen = (size_t)(q1 - v);
	if (!(clen == 5 && strncasecmp(v, "utf-8", 5) == 0) &&
	    !(clen == 8 && strncasecmp(v, "us-ascii", 8) == 0))
		return -1;
	return mime_percent_unescape(q2 + 1, n - (size_t)(q2 + 1 - v), out);
}

static struct mime_param *
mime_params_find(const struct mime_params *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].key, key) == 0)
			return &p->v[i];
	}
	return NULL;
}

/* Append (key, value), taking ownership of both. */
static void
mime_params_add(struct mime_params *p, char *key, char *value, size_t vlen)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n].key = key;
	p->v[p->n].value = value;
	p->v[p->n].vlen = vlen;
	p->n++;
}

/* Set key to a copy of value, replacing an existing value. */
static void
mime_params_set(struct mime_params *p, const char *key, const char *value,
    size_t vlen)
{
	struct mime_param *e;

	if ((e = mime_params_find(p, key)) != NULL) {
		free(e->value);
		e->value = xmemdup0(value, vlen);
		e->vlen = vlen;
		return;
	}
	mime_params_add(p, xstrdup(key), xmemdup0(value, vlen), vlen);
}

/*
 * Go's RFC 2231 stitching for one base name: "base*" alone, else the
 * sequence "base*0"/"base*0*", "base*1"/"base*1*", ... up to the first gap.
 */
static void
mime_stitch(struct mime_params *out, const struct mime_params *star,
    const char *base)
{
	const struct mime_param *e;
	struct buf b;
	char *name;
	unsigned int i;
	int valid = 0;

	buf_init(&b, SIZE_MAX / 2);
	name = xasprintf("%s*", base);
	e = mime_params_find(star, name);
	free(name);
	if (e != NULL) {
		if (mime_decode_2231(e->value, e->vlen, &b) == 0)
			mime_params_set(out, base, (const char *)buf_ptr(&b),
			    buf_len(&b));
		goto out;
	}
	for (i = 0;; i++) {
		name = xasprintf("%s*%u", base, i);
		e = mime_params_find(star, name);
		free(name);
		if (e != NULL) {
			valid = 1;
			buf_append(&b, e->value, e->vlen);
			continue;
		}
		name = xasprintf("%s*%u*", base, i);
		e = mime_params_find(star, name);
		free(name);
		if (e == NULL)
			break;
		valid = 1;
		/* A piece that fails to decode adds nothing, as in Go. */
		if (i == 0)
			(void)mime_decode_2231(e->value, e->vlen, &b);
		else
			(void)mime_percent_unescape(e->value, e->vlen, &b);
	}
	if (valid)
		mime_params_set(out, base, (const char *)buf_ptr(&b),
		    buf_len(&b));
out:
	buf_reset(&b);
}

int
mime_parse_media_type(const char *v, size_t len, char **type,
    struct mime_params **params, const char **err)
{
	struct mime_params *plain = NULL, *star = NULL, *bases = NULL;
	struct mime_param *e;
	const char *semi, *mt, *rest, *msg = NULL, *t;
	size_t baselen, mtlen, restlen, tl, i, count = 0;
	char *lower = NULL, *key = NULL, *star_at;
	struct buf val;
	int r;

	*type = NULL;
	*params = NULL;
	if (err != NULL)
		*err = NULL;
	buf_init(&val, SIZE_MAX / 2);

	semi = memchr(v, ';', len);
	baselen = semi != NULL ? (size_t)(semi - v) : len;
	lower = mime_go_lower(v, baselen, &mtlen);
	mt = lower;
	gospace_trim_left(&mt, &mtlen);
	while ((tl = gospace_suffix(mt, mtlen)) > 0)
		mtlen -= tl;

	/* Go checkMediaTypeDisposition. */
	tl = mime_token_len(mt, mtlen);
	if (tl == 0) {
		msg = "mime: no media type";
		goto fail;
	}
	if (tl < mtlen) {
		if (mt[tl] != '/') {
			msg = "mime: expected slash after first token";
			goto fail;
		}
		t = mt + tl + 1;
		restlen = mtlen - tl - 1;
		if ((tl = mime_token_len(t, restlen)) == 0) {
			msg = "mime: expected token after slash";
			goto fail;
		}
		if (tl < restlen) {
			msg = "mime: unexpected content after media subtype";
			goto fail;
		}
	}

	plain = xcalloc(1, sizeof(*plain));
	star = xcalloc(1, sizeof(*star));
	bases = xcalloc(1, sizeof(*bases));
	rest = v + baselen;
	restlen = len - baselen;
	for (;;) {
		gospace_trim_left(&rest, &restlen);
		if (restlen == 0)
			break;
		if (mime_consume_param(&rest, &restlen, &key, &val) != 0) {
			/* A lone trailing ';' is not an error. */
			t = rest;
			tl = restlen;
			while ((i = gospace_suffix(t, tl)) > 0)
				tl -= i;
			if (tl == 1 && t[0] == ';')
				break;
			msg = "mime: invalid media parameter";
			goto fail_type;
		}
		if (++count > MIME_MAX_PARAMS) {
			msg = "mime: invalid media parameter";
			goto fail_type;
		}
		star_at = strchr(key, '*');
		e = mime_params_find(star_at != NULL ? star : plain, key);
		if (e != NULL) {
			if (e->vlen != buf_len(&val) || memcmp(e->value,
			    buf_ptr(&val), e->vlen) != 0) {
				msg = "mime: duplicate parameter name";
				goto fail;
			}
			free(key);
			key = NULL;
			continue;
		}
		if (star_at != NULL) {
			*star_at = '\0';
			if (mime_params_find(bases, key) == NULL)
				mime_params_add(bases, xstrdup(key),
				    xstrdup(""), 0);
			*star_at = '*';
			mime_params_add(star, key, xmemdup0(buf_ptr(&val),
			    buf_len(&val)), buf_len(&val));
		} else
			mime_params_add(plain, key, xmemdup0(buf_ptr(&val),
			    buf_len(&val)), buf_len(&val));
		key = NULL;
	}
	for (i = 0; i < bases->n; i++)
		mime_stitch(plain, star, bases->v[i].key);

	*type = xmemdup0(mt, mtlen);
	*params = plain;
	plain = NULL;
	r = 0;
	goto out;

fail_type:
	*type = xmemdup0(mt, mtlen);
fail:
	if (err != NULL)
		*err = msg;
	r = -EINVAL;
out:
	free(key);
	free(lower);
	buf_reset(&val);
	mime_params_free(plain);
	mime_params_free(star);
	mime_params_free(bases);
	return r;
}

size_t
mime_params_count(const struct mime_params *p)
{
	return p->n;
}

const char *
mime_params_get(const struct mime_params *p, const char *key, size_t *lenp)
{
	const struct mime_param *e;

	if ((e = mime_params_find(p, key)) == NULL) {
		if (lenp != NULL)
			*lenp = 0;
		return NULL;
	}
	if (lenp != NULL)
		*lenp = e->vlen;
	return e->value;
}

const char *
mime_params_key(const struct mime_params *p, size_t i)
{
	return p->v[i].key;
}

const char *
mime_params_value(const struct mime_params *p, size_t i, size_t *lenp)
{
	if (lenp != NULL)
		*lenp = p->v[i].vlen;
	return p->v[i].value;
}

void
mime_params_free(struct mime_params *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].value);
	}
	free(p->v);
	free(p);
}
