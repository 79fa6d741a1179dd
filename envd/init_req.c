/*
 * init_req.c - decoding the POST /init body.
 *
 * Two passes. A validating scanner walks the raw text once: it enforces the
 * JSON grammar (json-c alone is laxer than Go: it takes single quotes, NaN
 * and raw control characters) and lifts every top-level accessToken string
 * out of the buffer into secure memory, overwriting it with 'x'. json-c
 * then builds the tree from the scrubbed text for the typed fields.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "init_req.h"
#include "xalloc.h"

#define INIT_REQ_TOKEN_KEY "accessToken"

/* Scanner state over the raw body. */
struct init_scan {
	uint8_t *p;		/* the body (tokens are masked in place) */
	size_t len;		/* its length */
	size_t i;		/* read position */
	uint8_t *tok;		/* last accessToken, sodium_malloc()ed */
	size_t tok_len;
	int tok_bad;		/* an occurrence was not a clean string */
};

static void init_req_ws(struct init_scan *);
static int init_req_string(struct init_scan *, size_t *, size_t *, int *,
    char *, size_t *);
static int init_req_number(struct init_scan *);
static int init_req_literal(struct init_scan *, const char *);
static int init_req_value(struct init_scan *, int, int);
static int init_req_object(struct init_scan *, int);
static int init_req_array(struct init_scan *, int);
static void init_req_token_drop(struct init_scan *);
static int init_req_token_take(struct init_scan *, size_t, size_t, int);
static int init_req_get(json_object *, const char *, json_type,
    json_object **);
static int init_req_strdup(json_object *, char **);
static int init_req_fields(json_object *, struct init_req *);
static int init_req_digits(const char *, size_t, int *);
static int64_t init_req_days(int, int, int);

/* Skip JSON whitespace. */
static void
init_req_ws(struct init_scan *s)
{
	while (s->i < s->len && (s->p[s->i] == ' ' || s->p[s->i] == '\t' ||
	    s->p[s->i] == '\n' || s->p[s->i] == '\r'))
		s->i++;
}

static int
init_req_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Scan a string starting at the opening quote. Sets [*start, *end) to the
 * raw content and *escaped when it holds a backslash. When key is not NULL
 * the decoded text (ASCII only; *keylen is set past the buffer size for
 * anything else) is written to key[0..keysz) for comparison.
 */
static int
init_req_string(struct init_scan *s, size_t *start, size_t *end,
    int *escaped, char *key, size_t *keylen)
{
	size_t keysz = keylen != NULL ? *keylen : 0, kn = 0;
	unsigned int cp;
	int c, j, h;

	*escaped = 0;
	s->i++;			/* opening quote */
	*start = s->i;
	for (;;) {
		if (s->i >= s->len)
			return -EINVAL;
		c = s->p[s->i];
		if (c == '"')
			break;
		if (c < 0x20)
			return -EINVAL;
		if (c != '\\') {
			if (key != NULL && kn < keysz)
				key[kn] = (char)c;
			kn++;
			s->i++;
			continue;
		}
		*escaped = 1;
		if (s->i + 1 >= s->len)
			return -EINVAL;
		c = s->p[s->i + 1];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			break;
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		case 'u':
			if (s->i + 5 >= s->len)
				return -EINVAL;
			cp = 0;
			for (j = 2; j < 6; j++) {
				if ((h = init_req_hex(s->p[s->i + j])) < 0)
					return -EINVAL;
				cp = cp << 4 | (unsigned int)h;
			}
			s->i += 4;
			/* Non-ASCII never matches a key we look for. */
			c = cp < 0x80 ? (int)cp : 0x100;
			break;
		default:
			return -EINVAL;
		}
		if (key != NULL && kn < keysz && c < 0x80)
			key[kn] = (char)c;
		kn += c < 0x80 ? 1 : keysz + 1;
		s->i += 2;
	}
	*end = s->i;
	s->i++;			/* closing quote */
	if (keylen != NULL)
		*keylen = kn;
	return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
init_req_number(struct init_scan *s)
{
	size_t n;

	if (s->i < s->len && s->p[s->i] == '-')
		s->i++;
	if (s->i >= s->len)
		return -EINVAL;
	if (s->p[s->i] == '0') {
		s->i++;
	} else if (s->p[s->i] >= '1' && s->p[s->i] <= '9') {
		while (s->i < s->len && s->p[s->i] >= '0' && s->p[s->i] <= '9')
			s->i++;
	} else {
		return -EINVAL;
	}
	if (s->i < s->len && s->p[s->i] == '.') {
		s->i++;
		for (n = 0; s->i < s->len && s->p[s->i] >= '0' &&
		    s->p[s->i] <= '9'; n++)
			s->i++;
		if (n == 0)
			return -EINVAL;
	}
	if (s->i < s->len && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
		s->i++;
		if (s->i < s->len && (s->p[s->i] == '+' || s->p[s->i] == '-'))
			s->i++;
		for (n = 0; s->i < s->len && s->p[s->i] >= '0' &&
		    s->p[s->i] <= '9'; n++)
			s->i++;
		if (n == 0)
			return -EINVAL;
	}
	return 0;
}

static int
init_req_literal(struct init_scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if (s->len - s->i < n || memcmp(s->p + s->i, lit, n) != 0)
		return -EINVAL;
	s->i += n;
	return 0;
}

/* Forget the current token (a later null or a replacement). */
static void
init_req_token_drop(struct init_scan *s)
{
	if (s->tok != NULL)
		sodium_free(s->tok);	/* wipes */
	s->tok = NULL;
	s->tok_len = 0;
}

/* Lift the token at [start, end) into secure memory and mask it. */
static int
init_req_token_take(struct init_scan *s, size_t start, size_t end,
    int escaped)
{
	size_t n = end - start;

	init_req_token_drop(s);
	if (n == 0 || escaped) {
		/* Rejected; still keep the raw bytes away from json-c. */
		memset(s->p + start, 'x', n);
		s->tok_bad = 1;
		return 0;
	}
	if ((s->tok = sodium_malloc(n)) == NULL)
		return -ENOMEM;
	memcpy(s->tok, s->p + start, n);
	s->tok_len = n;
	memset(s->p + start, 'x', n);
	return 0;
}

/*
 * Scan one value at depth (0 = the top level). top_member says the value
 * belongs to the top-level "accessToken" key.
 */
static int
init_req_value(struct init_scan *s, int depth, int token_member)
{
	size_t start, end;
	int escaped, r;

	init_req_ws(s);
	if (s->i >= s->len)
		return -EINVAL;
	if (token_member && s->p[s->i] != '"') {
		if (s->p[s->i] == 'n') {
			init_req_token_drop(s);
		} else {
			init_req_token_drop(s);
			s->tok_bad = 1;
		}
	}
	switch (s->p[s->i]) {
	case '{':
		return init_req_object(s, depth + 1);
	case '[':
		return init_req_array(s, depth + 1);
	case '"':
		if ((r = init_req_string(s, &start, &end, &escaped, NULL,
		    NULL)) != 0)
			return r;
		if (token_member)
			return init_req_token_take(s, start, end, escaped);
		return 0;
	case 't':
		return init_req_literal(s, "true");
	case 'f':
		return init_req_literal(s, "false");
	case 'n':
		return init_req_literal(s, "null");
	default:
		return init_req_number(s);
	}
}

static int
init_req_object(struct init_scan *s, int depth)
{
	char key[sizeof(INIT_REQ_TOKEN_KEY)];
	size_t start, end, klen;
	int escaped, r, is_token;

	if (depth > INIT_REQ_MAX_DEPTH)
		return -EINVAL;
	s->i++;			/* '{' */
	init_req_ws(s);
	if (s->i < s->len && s->p[s->i] == '}') {
		s->i++;
		return 0;
	}
	for (;;) {
		init_req_ws(s);
		if (s->i >= s->len || s->p[s->i] != '"')
			return -EINVAL;
		klen = sizeof(key);
		if ((r = init_req_string(s, &start, &end, &escaped, key,
		    &klen)) != 0)
			return r;
		is_token = depth == 1 &&
		    klen == sizeof(INIT_REQ_TOKEN_KEY) - 1 &&
		    memcmp(key, INIT_REQ_TOKEN_KEY, klen) == 0;
		init_req_ws(s);
		if (s->i >= s->len || s->p[s->i] != ':')
			return -EINVAL;
		s->i++;
		if ((r = init_req_value(s, depth, is_token)) != 0)
			return r;
		init_req_ws(s);
		if (s->i >= s->len)
			return -EINVAL;
		if (s->p[s->i] == '}') {
			s->i++;
			return 0;
		}
		if (s->p[s->i] != ',')
			return -EINVAL;
		s->i++;
	}
}

static int
init_req_array(struct init_scan *s, int depth)
{
	int r;

	if (depth > INIT_REQ_MAX_DEPTH)
		return -EINVAL;
	s->i++;			/* '[' */
	init_req_ws(s);
	if (s->i < s->len && s->p[s->i] == ']') {
		s->i++;
		return 0;
	}
	for (;;) {
		if ((r = init_req_value(s, depth, 0)) != 0)
			return r;
		init_req_ws(s);
		if (s->i >= s->len)
			return -EINVAL;
		if (s->p[s->i] == ']') {
			s->i++;
			return 0;
		}
		if (s->p[s->i] != ',')
			return -EINVAL;
		s->i++;
	}
}

/*
 * Member key of obj: 0 with *out NULL when absent or null, 0 with *out set
 * when of type want, -EINVAL for any other type.
 */
static int
init_req_get(json_object *obj, const char *key, json_type want,
    json_object **out)
{
	json_object *v = NULL;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, want))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Copy a JSON string that must not hold NUL. */
static int
init_req_strdup(json_object *v, char **out)
{
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);

	*out = NULL;
	if (memchr(s, '\0', n) != NULL)
		return -EINVAL;
	*out = xmemdup0(s, n);
	return 0;
}

/* Fill req from the parsed top-level object. */
static int
init_req_fields(json_object *root, struct init_req *req)
{
	json_object *v = NULL, *e;
	struct json_object_iterator it, itend;
	size_t n, i;
	char *ts = NULL;
	int r;

	if ((r = init_req_get(root, "envVars", json_type_object, &v)) != 0)
		goto out;
	if (v != NULL) {
		req->has_env = 1;
		n = (size_t)json_object_object_length(v);
		req->env_keys = xcalloc(n + 1, sizeof(char *));
		req->env_values = xcalloc(n + 1, sizeof(char *));
		it = json_object_iter_begin(v);
		itend = json_object_iter_end(v);
		for (i = 0; i < n && !json_object_iter_equal(&it, &itend);
		    i++, json_object_iter_next(&it)) {
			e = json_object_iter_peek_value(&it);
			req->env_keys[i] = xstrdup(json_object_iter_peek_name(
			    &it));
			req->nenv = i + 1;
			if (e == NULL) {
				req->env_values[i] = xstrdup("");
				continue;
			}
			if (!json_object_is_type(e, json_type_string)) {
				r = -EINVAL;
				goto out;
			}
			if ((r = init_req_strdup(e, &req->env_values[i])) != 0)
				goto out;
		}
	}
	if ((r = init_req_get(root, "defaultUser", json_type_string,
	    &v)) != 0 || (v != NULL &&
	    (r = init_req_strdup(v, &req->default_user)) != 0))
		goto out;
	if ((r = init_req_get(root, "defaultWorkdir", json_type_string,
	    &v)) != 0 || (v != NULL &&
	    (r = init_req_strdup(v, &req->default_workdir)) != 0))
		goto out;
	if ((r = init_req_get(root, "caBundle", json_type_string, &v)) != 0 ||
	    (v != NULL && (r = init_req_strdup(v, &req->ca_bundle)) != 0))
		goto out;
	if ((r = init_req_get(root, "timestamp", json_type_string, &v)) != 0)
		goto out;
	if (v != NULL) {
		if ((r = init_req_strdup(v, &ts)) != 0 ||
		    (r = init_req_parse_time(ts, strlen(ts), &req->ts_sec,
		    &req->ts_nsec)) != 0)
			goto out;
		req->has_ts = 1;
	}
	if ((r = init_req_get(root, "hyperloopIP", json_type_string,
	    &v)) != 0 || (v != NULL &&
	    (r = init_req_strdup(v, &req->hyperloop_ip)) != 0))
		goto out;
	if ((r = init_req_get(root, "cpuCount", json_type_int, &v)) != 0)
		goto out;
	if (v != NULL) {
		req->has_cpu_count = 1;
		req->cpu_count = json_object_get_int64(v);
	}
	if ((r = init_req_get(root, "thaw", json_type_string, &v)) != 0)
		goto out;
	req->thaw_skip = v != NULL && strcmp(json_object_get_string(v),
	    "skip") == 0 && json_object_get_string_len(v) == 4;
	if ((r = init_req_get(root, "lifecycleID", json_type_string,
	    &v)) != 0 || (v != NULL &&
	    (r = init_req_strdup(v, &req->lifecycle_id)) != 0))
		goto out;
	if ((r = init_req_get(root, "volumeMounts", json_type_array, &v)) != 0)
		goto out;
	if (v != NULL) {
		n = json_object_array_length(v);
		req->vol_targets = xcalloc(n > 0 ? n : 1, sizeof(char *));
		req->vol_paths = xcalloc(n > 0 ? n : 1, sizeof(char *));
		for (i = 0; i < n; i++) {
			json_object *f;

			e = json_object_array_get_idx(v, i);
			if (e != NULL &&
			    !json_object_is_type(e, json_type_object)) {
				r = -EINVAL;
				goto out;
			}
			req->nvol++;
			if (e == NULL)
				continue;
			if ((r = init_req_get(e, "nfs_target",
			    json_type_string, &f)) != 0 || (f != NULL &&
			    (r = init_req_strdup(f,
			    &req->vol_targets[i])) != 0) ||
			    (r = init_req_get(e, "path", json_type_string,
			    &f)) != 0 || (f != NULL &&
			    (r = init_req_strdup(f, &req->vol_paths[i])) != 0))
				goto out;
		}
		req->has_volume_mounts = n > 0;
	}
	r = 0;
out:
	free(ts);
	return r;
}

int
init_req_parse(uint8_t *body, size_t len, struct init_req **out)
{
	struct init_scan s;
	struct init_req *req = NULL;
	struct json_tokener *tok = NULL;
	json_object *root = NULL;
	size_t top;
	int r;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	s.p = body;
	s.len = len;
	req = xcalloc(1, sizeof(*req));

	init_req_ws(&s);
	if (s.i == s.len)
		goto done;		/* empty body: nothing to do */
	top = s.i;
	if ((r = init_req_value(&s, 0, 0)) != 0)
		goto out;
	init_req_ws(&s);
	if (s.i != s.len) {
		r = -EINVAL;
		goto out;
	}
	if (body[top] == 'n')
		goto done;		/* null */
	if (body[top] != '{') {
		r = -EINVAL;
		goto out;
	}
	if (s.tok_bad) {
		r = -EINVAL;
		goto out;
	}
	tok = json_tokener_new_ex(INIT_REQ_MAX_DEPTH + 1);
	if (tok == NULL) {
		r = -ENOMEM;
		goto out;
	}
	root = json_tokener_parse_ex(tok, (const char *)body + top,
	    (int)(len - top));
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		r = -EINVAL;
		goto out;
	}
	if ((r = init_req_fields(root, req)) != 0)
		goto out;
done:
	req->token = s.tok;
	req->token_len = s.tok_len;
	s.tok = NULL;
	*out = req;
	req = NULL;
	r = 0;
out:
	init_req_token_drop(&s);
	json_object_put(root);
	if (tok != NULL)
		json_tokener_free(tok);
	init_req_free(req);
	return r;
}

void
init_req_free(struct init_req *req)
{
	size_t i;

	if (req == NULL)
		return;
	if (req->token != NULL)
		sodium_free(req->token);
	for (i = 0; i < req->nenv; i++) {
		free(req->env_keys[i]);
		free(req->env_values[i]);
	}
	free(req->env_keys);
	free(req->env_values);
	free(req->default_user);
	free(req->default_workdir);
	free(req->ca_bundle);
	free(req->hyperloop_ip);
	for (i = 0; i < req->nvol; i++) {
		free(req->vol_targets[i]);
		free(req->vol_paths[i]);
	}
	free(req->vol_targets);
	free(req->vol_paths);
	free(req->lifecycle_id);
	free(req);
}

/* n ASCII digits at s as a number in *v; -EINVAL if any is not a digit. */
static int
init_req_digits(const char *s, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
init_req_days(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
init_req_parse_time(const char *s, size_t len, int64_t *sec, long *nsec)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, mo, d, h, mi, se, oh, om, dim, ndig = 0;
	long ns = 0;
	size_t i = 19;
	int64_t off = 0;

	*sec = 0;
	*nsec = 0;
	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (init_req_digits(s, 4, &y) != 0 ||
	    init_req_digits(s + 5, 2, &mo) != 0 ||
	    init_req_digits(s + 8, 2, &d) != 0 ||
	    init_req_digits(s + 11, 2, &h) != 0 ||
	    init_req_digits(s + 14, 2, &mi) != 0 ||
	    init_req_digits(s + 17, 2, &se) != 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return -EINVAL;
	dim = mdays[mo - 1];
	if (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		dim = 29;
	if (d < 1 || d > dim)
		return -EINVAL;
	if (s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (ndig < 9) {
				ns = ns * 10 + (s[i] - '0');
				ndig++;
			}
		}
		if (ndig == 0)
			return -EINVAL;
		for (; ndig < 9; ndig++)
			ns *= 10;
	}
	if (i + 1 == len && s[i] == 'Z') {
		off = 0;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
	    s[i + 3] == ':') {
		if (init_req_digits(s + i + 1, 2, &oh) != 0 ||
		    init_req_digits(s + i + 4, 2, &om) != 0 ||
		    oh > 23 || om > 59)
			return -EINVAL;
		off = (int64_t)oh * 3600 + om * 60;
		if (s[i] == '-')
			off = -off;
	} else {
		return -EINVAL;
	}
	*sec = init_req_days(y, mo, d) * 86400 + (int64_t)h * 3600 +
	    mi * 60 + se - off;
	*nsec = ns;
	return 0;
}
