/*
 * auth.c - the access token, the token gate and the per-request user.
 *
 * The token and its digest share one sodium_malloc() region that is kept
 * PROT_NONE between uses. Everything here runs on the loop thread, so the
 * protection is flipped without locking.
 *
 * Not here: pre-signed /files URLs (signature.c uses auth_with_token), the
 * /init body (init.c), and the user database (users.c).
 */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

#include <sodium.h>

#include "auth.h"
#include "buf.h"
#include "defaults.h"
#include "gojson.h"
#include "httpd.h"
#include "log.h"
#include "users.h"
#include "xalloc.h"

#define AUTH_DIGEST_LEN crypto_generichash_BYTES
#define AUTH_GATE_MESSAGE "unauthorized access, please provide a valid " \
	"access token or method signing if supported"
#define AUTH_CONNECT_STREAM_PREFIX "application/connect+"
/* Bound on error bodies naming a user (the header itself is bounded by
 * libmicrohttpd's per-connection memory). */
#define AUTH_ERROR_MAX (1024 * 1024)
#define AUTH_CTYPE_MAX 256
#define AUTH_ALIGN _Alignof(max_align_t)

/* The guarded region: digest first, then the token bytes. */
struct auth_secret {
	size_t len;			/* token length, > 0 */
	uint8_t digest[AUTH_DIGEST_LEN];	/* generichash of the token */
	uint8_t token[];		/* len bytes, not NUL-terminated */
};

static struct auth_secret *auth_secret;	/* NULL: no token; PROT_NONE */
static int auth_undumpable;		/* PR_SET_DUMPABLE 0 done */

static void auth_digest(const void *, size_t, uint8_t *);
static int auth_b64_value(int);
static int auth_b64_decode(const char *, size_t, uint8_t **, size_t *);
static void auth_canonical_ctype(const char *, char *, size_t);
static void auth_respond_unauthenticated(struct req *, const char *, size_t);

void
auth_init(void)
{
	if (sodium_init() < 0)
		fatal("libsodium failed to initialise");
}

void
auth_free(void)
{
	auth_token_clear();
}

int
auth_token_is_set(void)
{
	return auth_secret != NULL;
}

/* Unkeyed generichash of p[0..len) into out. */
static void
auth_digest(const void *p, size_t len, uint8_t *out)
{
	crypto_generichash(out, AUTH_DIGEST_LEN, p, len, NULL, 0);
}

int
auth_token_matches(const char *value, size_t len)
{
	uint8_t d[AUTH_DIGEST_LEN];
	int eq;

	if (auth_secret == NULL)
		return 0;
	auth_digest(value != NULL ? value : "", len, d);
	sodium_mprotect_readonly(auth_secret);
	eq = sodium_memcmp(d, auth_secret->digest, sizeof(d)) == 0;
	sodium_mprotect_noaccess(auth_secret);
	sodium_memzero(d, sizeof(d));
	return eq;
}

int
auth_with_token(int (*fn)(const uint8_t *, size_t, void *), void *arg)
{
	int r;

	if (auth_secret == NULL)
		return -ENOENT;
	sodium_mprotect_readonly(auth_secret);
	r = fn(auth_secret->token, auth_secret->len, arg);
	sodium_mprotect_noaccess(auth_secret);
	return r;
}

int
auth_token_set(const uint8_t *tok, size_t len)
{
	struct auth_secret *s;
	size_t size;

	if (len == 0)
		return -EINVAL;
	if (len > SIZE_MAX - sizeof(*s) - AUTH_ALIGN)
		return -ENOMEM;
	/* sodium_malloc() ends the block at a guard page, so the block is
	 * aligned only when its size is a multiple of the alignment. */
	size = (sizeof(*s) + len + AUTH_ALIGN - 1) & ~(size_t)(AUTH_ALIGN - 1);
	if ((s = sodium_malloc(size)) == NULL)
		return -ENOMEM;
	s->len = len;
	memcpy(s->token, tok, len);
	auth_digest(tok, len, s->digest);
	sodium_mprotect_noaccess(s);
	auth_token_clear();
	auth_secret = s;
	if (!auth_undumpable) {
		/* Keep the token out of core dumps and /proc/<pid>/mem. */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
			log_warn("cannot mark the process non-dumpable: %s",
			    strerror(errno));
		auth_undumpable = 1;
	}
	return 0;
}

void
auth_token_clear(void)
{
	if (auth_secret == NULL)
		return;
	/* sodium_free() wipes the region before unmapping it. */
	sodium_mprotect_readwrite(auth_secret);
	sodium_free(auth_secret);
	auth_secret = NULL;
}

enum auth_init_verdict
auth_init_decide(int stored, int sent, int equal, enum auth_mmds mmds)
{
	if (stored && sent && equal)
		return AUTH_INIT_ALLOW;
	if (mmds == AUTH_MMDS_MATCH)
		return AUTH_INIT_ALLOW;
	if (!stored && mmds == AUTH_MMDS_ABSENT)
		return AUTH_INIT_ALLOW;		/* first-time setup */
	if (!sent)
		return AUTH_INIT_RESET_DENIED;
	return AUTH_INIT_MISMATCH;
}

enum auth_init_verdict
auth_init_check(const uint8_t *tok, size_t len)
{
	return auth_init_check_mmds(tok, len, AUTH_MMDS_ABSENT);
}

enum auth_init_verdict
auth_init_check_mmds(const uint8_t *tok, size_t len, enum auth_mmds mmds)
{
	int stored = auth_token_is_set(), sent = tok != NULL, equal = 0;

	if (stored && sent)
		equal = auth_token_matches((const char *)tok, len);
	return auth_init_decide(stored, sent, equal, mmds);
}

int
auth_init_fast(const uint8_t *tok, size_t len)
{
	return tok != NULL && auth_token_is_set() &&
	    auth_token_matches((const char *)tok, len);
}

enum auth_mmds
auth_mmds_classify(const char *hash, const uint8_t *tok, size_t len)
{
	unsigned char md[crypto_hash_sha512_BYTES];
	char hex[crypto_hash_sha512_BYTES * 2 + 1];
	enum auth_mmds r = AUTH_MMDS_MISMATCH;

	if (hash == NULL || hash[0] == '\0')
		return AUTH_MMDS_ABSENT;
	crypto_hash_sha512(md, tok != NULL ? tok : (const uint8_t *)"",
	    tok != NULL ? len : 0);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	if (strlen(hash) == sizeof(hex) - 1 &&
	    sodium_memcmp(hex, hash, sizeof(hex) - 1) == 0)
		r = AUTH_MMDS_MATCH;
	sodium_memzero(md, sizeof(md));
	sodium_memzero(hex, sizeof(hex));
	return r;
}

const char *
auth_init_message(enum auth_init_verdict v)
{
	switch (v) {
	case AUTH_INIT_MISMATCH:
		return "access token validation failed";
	case AUTH_INIT_RESET_DENIED:
		return "access token reset not authorized";
	case AUTH_INIT_ALLOW:
		break;
	}
	return NULL;
}

int
auth_gate(struct req *r)
{
	const char *v;
	size_t len = 0;

	if (auth_secret == NULL)
		return 0;
	v = req_header_n(r, "X-Access-Token", &len);
	if (v == NULL)
		len = 0;
	if (auth_token_matches(v, len))
		return 0;
	req_respond_error(r, 401, AUTH_GATE_MESSAGE);
	return -EACCES;
}

/* Value of a standard base64 character, or -1. */
static int
auth_b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode standard base64 with padding the way Go's
 * base64.StdEncoding.DecodeString does: CR and LF are skipped, the padded
 * length must be a multiple of four, nothing may follow the padding, and
 * stray bits in the last quantum are tolerated. Returns 0 and an allocated
 * result, or -EINVAL.
 */
static int
auth_b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *o = NULL;
	int q[4], v, r = -EINVAL;
	size_t i = 0, n = 0, k, pad;

	*out = NULL;
	*outlen = 0;
	o = xmalloc(len / 4 * 3 + 3);
	for (;;) {
		/* Gather one quantum of up to four symbols. */
		k = 0;
		pad = 0;
		while (k < 4 && i < len) {
			if (s[i] == '\r' || s[i] == '\n') {
				i++;
				continue;
			}
			if (s[i] == '=') {
				if (k < 2)
					goto out;
				/* The rest of the quantum must be padding. */
				while (k < 4) {
					while (i < len && (s[i] == '\r' ||
					    s[i] == '\n'))
						i++;
					if (i >= len || s[i] != '=')
						goto out;
					i++;
					k++;
					pad++;
				}
				break;
			}
			if ((v = auth_b64_value((unsigned char)s[i])) < 0)
				goto out;
			q[k++] = v;
			i++;
		}
		if (k == 0)
			break;
		if (k < 4)
			goto out;		/* unpadded tail */
		o[n++] = (uint8_t)(q[0] << 2 | q[1] >> 4);
		if (pad < 2)
			o[n++] = (uint8_t)(q[1] << 4 | q[2] >> 2);
		if (pad < 1)
			o[n++] = (uint8_t)(q[2] << 6 | q[3]);
		if (pad > 0) {
			while (i < len && (s[i] == '\r' || s[i] == '\n'))
				i++;
			if (i != len)
				goto out;	/* data after the padding */
			break;
		}
	}
	*out = o;
	*outlen = n;
	o = NULL;
	r = 0;
out:
	free(o);
	return r;
}

int
auth_parse_basic(const char *value, size_t len, char **name,
    size_t *namelen)
{
	uint8_t *dec = NULL;
	const uint8_t *colon;
	size_t declen = 0;
	int r = -ENOENT;

	*name = NULL;
	*namelen = 0;
	if (value == NULL || len < 6 || strncasecmp(value, "Basic ", 6) != 0)
		goto out;
	if (auth_b64_decode(value + 6, len - 6, &dec, &declen) != 0)
		goto out;
	if ((colon = memchr(dec, ':', declen)) == NULL)
		goto out;
	*namelen = (size_t)(colon - dec);
	*name = xmemdup0(dec, *namelen);
	r = 0;
out:
	if (dec != NULL) {
		sodium_memzero(dec, declen);
		free(dec);
	}
	return r;
}

/*
 * Content-Type as connect-go canonicalises it before echoing it: the media
 * type and parameter names lower-cased, the charset value lower-cased,
 * parameters sorted and written as "; name=value". A value that does not
 * parse is used as it came.
 */
static void
auth_canonical_ctype(const char *v, char *out, size_t outsz)
{
	struct auth_param {
		char name[64];
		char value[64];
	} params[4], tmp;
	const char *p = v, *type;
	size_t n, np = 0, i, j, tlen;

	snprintf(out, outsz, "%s", v);
	while (*p == ' ' || *p == '\t')
		p++;
	type = p;
	while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t')
		p++;
	tlen = (size_t)(p - type);
	if (tlen == 0 || tlen >= outsz || memchr(type, '/', tlen) == NULL)
		return;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (*p != ';' || np == sizeof(params) / sizeof(params[0]))
			return;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		for (n = 0; *p != '\0' && *p != '=' && *p != ' ' &&
		    *p != ';'; p++) {
			if (n + 1 >= sizeof(params[np].name))
				return;
			params[np].name[n++] = (char)tolower((unsigned char)*p);
		}
		params[np].name[n] = '\0';
		if (n == 0 || *p != '=')
			return;
		p++;
		n = 0;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (n + 1 >= sizeof(params[np].value))
					return;
				params[np].value[n++] = *p;
			}
			if (*p != '"')
				return;
			p++;
		} else {
			for (; *p != '\0' && *p != ';' && *p != ' ' &&
			    *p != '\t'; p++) {
				if (n + 1 >= sizeof(params[np].value))
					return;
				params[np].value[n++] = *p;
			}
		}
		params[np].value[n] = '\0';
		/* Values that would need quoting are left alone. */
		if (n == 0 || strpbrk(params[np].value,
		    "()<>@,;:\\\"/[]?= \t") != NULL)
			return;
		if (strcmp(params[np].name, "charset") == 0)
			for (i = 0; i < n; i++)
				params[np].value[i] = (char)tolower(
				    (unsigned char)params[np].value[i]);
		np++;
	}
	for (i = 1; i < np; i++)
		for (j = i; j > 0 && strcmp(params[j - 1].name,
		    params[j].name) > 0; j--) {
			tmp = params[j];
			params[j] = params[j - 1];
			params[j - 1] = tmp;
		}
	for (i = 0; i < tlen; i++)
		out[i] = (char)tolower((unsigned char)type[i]);
	out[tlen] = '\0';
	for (i = 0; i < np; i++) {
		n = strlen(out);
		j = strlen(params[i].name);
		tlen = strlen(params[i].value);
		if (n + 3 + j + tlen >= outsz) {
			snprintf(out, outsz, "%s", v);
			return;
		}
		memcpy(out + n, "; ", 2);
		memcpy(out + n + 2, params[i].name, j);
		out[n + 2 + j] = '=';
		memcpy(out + n + 3 + j, params[i].value, tlen + 1);
	}
}

/*
 * Answer "invalid username: '<name>'" as connect-go's error writer does:
 * an end-of-stream envelope with status 200 for Connect streaming content
 * types, else the unary JSON error with status 401.
 */
static void
auth_respond_unauthenticated(struct req *r, const char *name, size_t len)
{
	struct buf msg, body, env;
	const char *ct;
	char ctype[AUTH_CTYPE_MAX];
	uint8_t hdr[5];
	size_t n;

	buf_init(&msg, AUTH_ERROR_MAX);
	buf_init(&body, AUTH_ERROR_MAX + 64);
	buf_init(&env, AUTH_ERROR_MAX + 64);
	if (buf_puts(&msg, "invalid username: '") != 0 ||
	    buf_append(&msg, name, len) != 0 || buf_puts(&msg, "'") != 0)
		goto fail;
	ctype[0] = '\0';
	if ((ct = req_header(r, "Content-Type")) != NULL)
		auth_canonical_ctype(ct, ctype, sizeof(ctype));
	if (strncmp(ctype, AUTH_CONNECT_STREAM_PREFIX,
	    strlen(AUTH_CONNECT_STREAM_PREFIX)) == 0) {
		if (buf_puts(&body, "{\"error\":{\"code\":\"unauthenticated\","
		    "\"message\":") != 0 ||
		    gojson_quote(&body, (const char *)buf_ptr(&msg),
		    buf_len(&msg)) != 0 || buf_puts(&body, "}}") != 0)
			goto fail;
		n = buf_len(&body);
		hdr[0] = 0x02;
		hdr[1] = (uint8_t)(n >> 24);
		hdr[2] = (uint8_t)(n >> 16);
		hdr[3] = (uint8_t)(n >> 8);
		hdr[4] = (uint8_t)n;
		if (buf_append(&env, hdr, sizeof(hdr)) != 0 ||
		    buf_append(&env, buf_ptr(&body), n) != 0)
			goto fail;
		req_respond_buf(r, 200, ctype, &env);
		goto out;
	}
	if (buf_puts(&body,
	    "{\"code\":\"unauthenticated\",\"message\":") != 0 ||
	    gojson_quote(&body, (const char *)buf_ptr(&msg),
	    buf_len(&msg)) != 0 || buf_puts(&body, "}") != 0)
		goto fail;
	req_respond_buf(r, 401, "application/json", &body);
	goto out;
fail:
	req_respond(r, 401, "application/json",
	    "{\"code\":\"unauthenticated\",\"message\":\"invalid username\"}",
	    strlen("{\"code\":\"unauthenticated\","
	    "\"message\":\"invalid username\"}"));
out:
	buf_reset(&msg);
	buf_reset(&body);
	buf_reset(&env);
}

int
auth_basic_user(struct req *r)
{
	struct user *u = NULL;
	const char *v;
	char *name = NULL;
	size_t vlen = 0, nlen = 0;
	int r2 = 0;

	if ((v = req_header_n(r, "Authorization", &vlen)) == NULL)
		goto out;
	if (auth_parse_basic(v, vlen, &name, &nlen) != 0)
		goto out;		/* not Basic, or unparsable: no user */
	if (nlen == 0 || strlen(name) != nlen ||
	    users_lookup(name, &u) != 0) {
		auth_respond_unauthenticated(r, name, nlen);
		r2 = -ENOENT;
		goto out;
	}
	req_set_user(r, u);
	u = NULL;
out:
	users_free(u);
	free(name);
	return r2;
}

int
auth_request_user(struct req *r, const struct user **out, char **errmsg)
{
	struct user *u = NULL;
	const char *name;

	*out = NULL;
	if (errmsg != NULL)
		*errmsg = NULL;
	if (req_user(r) != NULL) {
		*out = req_user(r);
		return 0;
	}
	name = defaults_user();
	if (users_lookup(name, &u) != 0) {
		if (errmsg != NULL)
			*errmsg = xasprintf("invalid default user: '%s'", name);
		return -ENOENT;
	}
	req_set_user(r, u);
	*out = req_user(r);
	return 0;
}
