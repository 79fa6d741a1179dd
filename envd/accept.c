/*
 * accept.c - Accept-Encoding, Content-Encoding and Range decisions.
 *
 * Upstream sorts the Accept-Encoding items with sort.Slice, which for the
 * short lists seen in practice is an insertion sort: stable, and an item
 * whose q is NaN never moves nor lets another item move past it. The
 * walk over the sorted list therefore picks, within each run of items
 * between NaN items, the acceptable coding with the highest non-zero q
 * (earliest on ties), and stops at the first run that has one. That is
 * computed here in one pass without sorting.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "accept.h"
#include "gospace.h"
#include "query.h"
#include "xalloc.h"

enum accept_coding {
	ACCEPT_CODING_OTHER,
	ACCEPT_CODING_IDENTITY,
	ACCEPT_CODING_GZIP,
	ACCEPT_CODING_STAR,
};

static int	accept_ieq(const char *, size_t, const char *);
static int	accept_underscore_ok(const char *, size_t);
static int	accept_go_float_syntax(const char *, size_t, int *);
static int	accept_parse_float(const char *, size_t, double *);
static enum accept_coding accept_parse_item(const char *, size_t, double *);
static void	accept_trim_http(const char **, size_t *);

/* ASCII case-insensitive equality of s[0..n) with lower-case word. */
static int
accept_ieq(const char *s, size_t n, const char *word)
{
	size_t i;
	int c;

	if (n != strlen(word))
		return 0;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != word[i])
			return 0;
	}
	return 1;
}

/*
 * Go's underscoreOK: in s[0..n), each '_' sits between digits (a base
 * prefix counts as a digit).
 */
static int
accept_underscore_ok(const char *s, size_t n)
{
	size_t i = 0;
	int saw = '^', hex = 0, c;

	if (n >= 1 && (s[0] == '-' || s[0] == '+')) {
		s++;
		n--;
	}
	if (n >= 2 && s[0] == '0' && strchr("bBoOxX", s[1]) != NULL) {
		i = 2;
		saw = '0';
		hex = s[1] == 'x' || s[1] == 'X';
	}
	for (; i < n; i++) {
		c = (unsigned char)s[i];
		if ((c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')))) {
			saw = '0';
			continue;
		}
		if (c == '_') {
			if (saw != '0')
				return 0;
			saw = '_';
			continue;
		}
		if (saw == '_')
			return 0;
		saw = '!';
	}
	return saw != '_';
}

/*
 * 1 when s[0..n) is accepted by Go's strconv.ParseFloat: "inf",
 * "infinity" (optionally signed) or "nan", case-insensitive; or a signed
 * decimal or 0x-hexadecimal mantissa with at most one '.', at least one
 * digit, and an exponent (e/p) that starts with a digit; hex needs the p
 * exponent. Underscores may separate digits (Go's underscoreOK). *unders
 * is set when there are any.
 */
static int
accept_go_float_syntax(const char *s, size_t n, int *unders)
{
	size_t i = 0, body;
	int hex = 0, digits = 0, dot = 0, c;

	*unders = 0;
	if (n > 0 && (s[0] == '+' || s[0] == '-'))
		i = 1;
	body = n - i;
	if (accept_ieq(s + i, body, "inf") ||
	    accept_ieq(s + i, body, "infinity"))
		return 1;
	if (i == 0 && accept_ieq(s, n, "nan"))
		return 1;
	if (body >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
		hex = 1;
		i += 2;
	}
	for (; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '_')
			*unders = 1;
		else if (c == '.') {
			if (dot)
				return 0;
			dot = 1;
		} else if ((c >= '0' && c <= '9') || (hex &&
		    ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))))
			digits = 1;
		else
			break;
	}
	if (!digits)
		return 0;
	if (i == n)
		return !hex && (!*unders || accept_underscore_ok(s, n));
	c = (unsigned char)s[i];
	if (hex ? (c != 'p' && c != 'P') : (c != 'e' && c != 'E'))
		return 0;
	i++;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i == n || s[i] < '0' || s[i] > '9')
		return 0;
	for (; i < n; i++) {
		if (s[i] == '_')
			*unders = 1;
		else if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return !*unders || accept_underscore_ok(s, n);
}

/* Go strconv.ParseFloat(s, 64): 0 and *out, or -EINVAL/-ERANGE. */
static int
accept_parse_float(const char *s, size_t n, double *out)
{
	char tmp[64], *end, *p;
	size_t i, j;
	double v;
	int unders, r;

	if (!accept_go_float_syntax(s, n, &unders))
		return -EINVAL;
	p = n < sizeof(tmp) ? tmp : xmalloc(n + 1);
	for (i = j = 0; i < n; i++) {
		if (s[i] != '_')
			p[j++] = s[i];
	}
	p[j] = '\0';
	errno = 0;
	v = strtod(p, &end);
	if (errno == ERANGE && isinf(v))
		r = -ERANGE;
	else if (*end != '\0')
		r = -EINVAL;
	else {
		*out = v;
		r = 0;
	}
	if (p != tmp)
		free(p);
	return r;
}

/*
 * Parse one Accept-Encoding item "coding[;param]..." into its coding and,
 * through *q, its quality (left unchanged by absent or unparsable q).
 */
static enum accept_coding
accept_parse_item(const char *s, size_t n, double *q)
{
	const char *semi, *param, *next, *t;
	size_t plen, rest, tl;
	double v;

	gospace_trim(&s, &n);
	if ((semi = memchr(s, ';', n)) != NULL) {
		param = semi + 1;
		rest = n - (size_t)(param - s);
		n = (size_t)(semi - s);
		gospace_trim(&s, &n);
		for (;;) {
			next = memchr(param, ';', rest);
			plen = next != NULL ? (size_t)(next - param) : rest;
			t = param;
			tl = plen;
			gospace_trim(&t, &tl);
			if (tl >= 2 && (t[0] == 'q' || t[0] == 'Q') &&
			    t[1] == '=' &&
			    accept_parse_float(t + 2, tl - 2, &v) == 0)
				*q = v;
			if (next == NULL)
				break;
			rest -= plen + 1;
			param = next + 1;
		}
	}
	if (accept_ieq(s, n, "identity"))
		return ACCEPT_CODING_IDENTITY;
	if (accept_ieq(s, n, "gzip"))
		return ACCEPT_CODING_GZIP;
	if (accept_ieq(s, n, "*"))
		return ACCEPT_CODING_STAR;
	return ACCEPT_CODING_OTHER;
}

enum accept_encoding
accept_encoding_negotiate(const char *hdr, size_t len, int range_or_cond)
{
	const char *item, *comma;
	size_t ilen, rest;
	enum accept_coding kind, chosen = ACCEPT_CODING_OTHER;
	enum accept_coding best = ACCEPT_CODING_OTHER;
	double q, best_q = 0;
	int id_zero = 0, star_zero = 0, id_pos = 0, refused, done = 0;

	if (hdr == NULL || len == 0)
		return ACCEPT_IDENTITY;
	item = hdr;
	rest = len;
	for (;;) {
		comma = memchr(item, ',', rest);
		ilen = comma != NULL ? (size_t)(comma - item) : rest;
		q = 1;
		kind = accept_parse_item(item, ilen, &q);
		if (kind == ACCEPT_CODING_IDENTITY && q == 0)
			id_zero = 1;
		if (kind == ACCEPT_CODING_IDENTITY && q > 0)
			id_pos = 1;
		if (kind == ACCEPT_CODING_STAR && q == 0)
			star_zero = 1;
		if (!done && isnan(q)) {
			/* End of a run: its best item wins, else this one. */
			if (best != ACCEPT_CODING_OTHER) {
				chosen = best;
				done = 1;
			} else if (kind != ACCEPT_CODING_OTHER) {
				chosen = kind;
				done = 1;
			}
		} else if (!done && kind != ACCEPT_CODING_OTHER && q != 0 &&
		    (best == ACCEPT_CODING_OTHER || q > best_q)) {
			best = kind;
			best_q = q;
		}
		if (comma == NULL)
			break;
		rest -= ilen + 1;
		item = comma + 1;
	}
	if (!done)
		chosen = best;
	refused = id_zero || (star_zero && !id_pos);

	switch (chosen) {
	case ACCEPT_CODING_IDENTITY:
		break;
	case ACCEPT_CODING_STAR:
		if (refused)
			chosen = ACCEPT_CODING_GZIP;
		break;
	case ACCEPT_CODING_GZIP:
		break;
	case ACCEPT_CODING_OTHER:
		if (refused)
			return ACCEPT_NONE;
		break;
	}
	if (range_or_cond)
		return refused ? ACCEPT_NONE_RANGE : ACCEPT_IDENTITY;
	return chosen == ACCEPT_CODING_GZIP ? ACCEPT_GZIP : ACCEPT_IDENTITY;
}

const char *
accept_encoding_message(enum accept_encoding result)
{
	switch (result) {
	case ACCEPT_NONE:
		return "error parsing Accept-Encoding: no acceptable encoding "
		    "found, supported: [gzip]";
	case ACCEPT_NONE_RANGE:
		return "identity encoding not acceptable for Range or "
		    "conditional request";
	default:
		return NULL;
	}
}

int
accept_content_encoding(const char *hdr, size_t len, int *gzip,
    char **cause)
{
	const char *s = hdr, *semi;
	size_t n = len;

	*gzip = 0;
	if (cause != NULL)
		*cause = NULL;
	if (hdr == NULL || len == 0)
		return 0;
	gospace_trim(&s, &n);
	if ((semi = memchr(s, ';', n)) != NULL) {
		n = (size_t)(semi - s);
		gospace_trim(&s, &n);
	}
	if (accept_ieq(s, n, "identity"))
		return 0;
	if (accept_ieq(s, n, "gzip")) {
		*gzip = 1;
		return 0;
	}
	if (cause != NULL)
		*cause = xasprintf("unsupported Content-Encoding: %.*s, "
		    "supported: [gzip]", (int)len, hdr);
	return -ENOTSUP;
}

/* Go textproto.TrimString: strip ASCII space, tab, CR and LF. */
static void
accept_trim_http(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t' || **s == '\r' ||
	    **s == '\n')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' ||
	    (*s)[*n - 1] == '\r' || (*s)[*n - 1] == '\n'))
		(*n)--;
}

enum accept_range
accept_range_parse(const char *hdr, size_t len, int64_t size,
    int64_t *start, int64_t *length)
{
	const char *item, *comma, *dash, *a, *b;
	size_t ilen, rest, alen, blen;
	int64_t i, j, rstart = 0, rlen = 0;
	size_t nranges = 0;
	int no_overlap = 0;

	*start = 0;
	*length = 0;
	if (hdr == NULL || len == 0)
		return ACCEPT_RANGE_FULL;
	if (len < 6 || memcmp(hdr, "bytes=", 6) != 0)
		return ACCEPT_RANGE_INVALID;
	item = hdr + 6;
	rest = len - 6;
	for (;;) {
		comma = memchr(item, ',', rest);
		ilen = comma != NULL ? (size_t)(comma - item) : rest;
		a = item;
		alen = ilen;
		accept_trim_http(&a, &alen);
		if (alen == 0)
			goto next;
		if ((dash = memchr(a, '-', alen)) == NULL)
			return ACCEPT_RANGE_INVALID;
		b = dash + 1;
		blen = alen - (size_t)(b - a);
		alen = (size_t)(dash - a);
		accept_trim_http(&a, &alen);
		accept_trim_http(&b, &blen);
		if (alen == 0) {
			/* Suffix range: the last j bytes. */
			if (blen == 0 || b[0] == '-' ||
			    query_parse_int64(b, blen, &j, NULL) != 0 || j < 0)
				return ACCEPT_RANGE_INVALID;
			if (j > size)
				j = size;
			i = size - j;
		} else {
			if (query_parse_int64(a, alen, &i, NULL) != 0 || i < 0)
				return ACCEPT_RANGE_INVALID;
			if (i >= size) {
				no_overlap = 1;
				goto next;
			}
			if (blen == 0)
				j = size - i;
			else {
				if (query_parse_int64(b, blen, &j, NULL) != 0 ||
				    i > j)
					return ACCEPT_RANGE_INVALID;
				if (j >= size)
					j = size - 1;
				j = j - i + 1;
			}
		}
		if (nranges == 0) {
			rstart = i;
			rlen = j;
		}
		nranges++;
next:
		if (comma == NULL)
			break;
		rest -= ilen + 1;
		item = comma + 1;
	}
	if (no_overlap && nranges == 0)
		return size == 0 ? ACCEPT_RANGE_FULL : ACCEPT_RANGE_NO_OVERLAP;
	/*
	 * Several ranges: Go sends multipart/byteranges, or ignores the
	 * header when they add up to more than the file; either way this
	 * daemon sends the whole file.
	 */
	if (nranges != 1)
		return ACCEPT_RANGE_FULL;
	*start = rstart;
	*length = rlen;
	return ACCEPT_RANGE_PARTIAL;
}

const char *
accept_range_message(enum accept_range result)
{
	switch (result) {
	case ACCEPT_RANGE_INVALID:
		return "invalid range";
	case ACCEPT_RANGE_NO_OVERLAP:
		return "invalid range: failed to overlap";
	default:
		return NULL;
	}
}
