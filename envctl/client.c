/*
 * client.c - HTTP and Connect JSON calls to one envd, through libcurl.
 *
 * Only blocking easy transfers live here; the streaming Process.Start call
 * builds its handle with client_easy() and drives it itself (exec.c).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "client.h"
#include "sign.h"
#include "xalloc.h"

static size_t client_header_cb(char *, size_t, size_t, void *);
static char *client_header_value(const char *, size_t, const char *);
static int client_token_hint(const char *);
static int client_rpc_errno(const void *, size_t);

const char *
client_default_url(const char *url)
{
	if (url == NULL || *url == '\0')
		url = getenv("ENVD_URL");
	if (url == NULL || *url == '\0')
		url = CLIENT_DEFAULT_URL;
	return url;
}

const char *
client_default_token(const char *token)
{
	return token != NULL ? token : getenv("ENVD_ACCESS_TOKEN");
}

int
client_init(struct client *c, const char *url, const char *token,
    const char *user, char **cause)
{
	char *origin = NULL;
	size_t n;
	int r;

	memset(c, 0, sizeof(*c));
	*cause = NULL;
	url = client_default_url(url);
	if ((r = sign_origin(url, &origin)) != 0) {
		*cause = xasprintf("not an http:// or https:// URL: '%s'", url);
		goto out;
	}
	c->url = xstrdup(url);
	n = strlen(c->url);
	while (n > 0 && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	token = client_default_token(token);
	if (token != NULL && token[strcspn(token, "\r\n")] != '\0') {
		*cause = xstrdup("the access token contains a line break");
		r = -EINVAL;
		goto out;
	}
	if (token != NULL && *token != '\0')
		c->token = xstrdup(token);
	if (user != NULL)
		c->user = xstrdup(user);
	if ((c->share = curl_share_init()) != NULL)
		curl_share_setopt(c->share, CURLSHOPT_SHARE,
		    CURL_LOCK_DATA_CONNECT);
	r = 0;
out:
	free(origin);
	return r;
}

void
client_free(struct client *c)
{
	free(c->url);
	if (c->token != NULL) {
		sodium_memzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->user);
	if (c->share != NULL)
		curl_share_cleanup(c->share);
	memset(c, 0, sizeof(*c));
}

void
client_resp_init(struct client_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, CLIENT_BODY_MAX);
}

void
client_resp_free(struct client_resp *resp)
{
	if (resp == NULL)
		return;
	buf_reset(&resp->body);
	free(resp->envd_version);
	free(resp->content_type);
	memset(resp, 0, sizeof(*resp));
}

size_t
client_resp_body_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct client_resp *resp = arg;

	if (buf_append(&resp->body, p, size * nmemb) != 0)
		return 0;
	return size * nmemb;
}

/* The trimmed value of header line p if its name is name, else NULL. */
static char *
client_header_value(const char *p, size_t n, const char *name)
{
	size_t nl = strlen(name), b, e;

	if (n <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return NULL;
	b = nl + 1;
	e = n;
	while (b < e && (p[b] == ' ' || p[b] == '\t'))
		b++;
	while (e > b && isspace((unsigned char)p[e - 1]))
		e--;
	return xstrndup(p + b, e - b);
}

static size_t
client_header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct client_resp *resp = arg;
	size_t n = size * nmemb;
	char *v;

	if ((v = client_header_value(p, n, "X-Envd-Version")) != NULL) {
		free(resp->envd_version);
		resp->envd_version = v;
	} else if ((v = client_header_value(p, n, "Content-Type")) != NULL) {
		free(resp->content_type);
		resp->content_type = v;
	}
	return n;
}

CURL *
client_easy(struct client *c, const char *path_query, int basic_user,
    struct curl_slist **headers)
{
	char *url, *h, *cred;
	size_t credlen, b64len;
	char *b64;
	CURL *e;

	if ((e = curl_easy_init()) == NULL) {
		fprintf(stderr, "envctl: curl_easy_init failed\n");
		abort();
	}
	url = xasprintf("%s%s", c->url, path_query);
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "envctl/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (c->share != NULL)
		curl_easy_setopt(e, CURLOPT_SHARE, c->share);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (c->verbose)
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	if (c->token != NULL) {
		h = xasprintf("X-Access-Token: %s", c->token);
		*headers = curl_slist_append(*headers, h);
		sodium_memzero(h, strlen(h));
		free(h);
	}
	if (basic_user && c->user != NULL) {
		cred = xasprintf("%s:", c->user);
		credlen = strlen(cred);
		b64len = sodium_base64_encoded_len(credlen,
		    sodium_base64_VARIANT_ORIGINAL);
		b64 = xmalloc(b64len);
		sodium_bin2base64(b64, b64len, (const unsigned char *)cred,
		    credlen, sodium_base64_VARIANT_ORIGINAL);
		h = xasprintf("Authorization: Basic %s", b64);
		*headers = curl_slist_append(*headers, h);
		free(h);
		free(b64);
		free(cred);
	}
	/* Never wait for "100 Continue": bodies go out at once. */
	*headers = curl_slist_append(*headers, "Expect:");
	return e;
}

int
client_request(struct client *c, const char *method, const char *path_query,
    const char *const *extra, const void *body, size_t len, int basic_user,
    struct client_resp *resp, char **cause)
{
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	CURL *e;
	int r;

	*cause = NULL;
	e = client_easy(c, path_query, basic_user, &headers);
	for (; extra != NULL && *extra != NULL; extra++)
		headers = curl_slist_append(headers, *extra);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, client_resp_body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, client_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
	if (cc == CURLE_WRITE_ERROR && buf_len(&resp->body) > 0) {
		*cause = xasprintf("response from %s is larger than %u bytes",
		    c->url, CLIENT_BODY_MAX);
		r = -EFBIG;
		goto out;
	}
	if (cc != CURLE_OK) {
		*cause = client_curl_error(c, cc, errbuf);
		r = cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
		goto out;
	}
	r = 0;
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(e);
	return r;
}

int
client_rpc(struct client *c, const char *procedure, struct json_object *req,
    struct json_object **out, char **cause)
{
	static const char *const hdrs[] = {
		"Content-Type: application/json",
		"Connect-Protocol-Version: 1",
		NULL,
	};
	struct client_resp resp;
	struct json_object *obj = NULL;
	const char *body;
	char *path;
	int r;

	*out = NULL;
	*cause = NULL;
	client_resp_init(&resp);
	path = xasprintf("/%s", procedure);
	body = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if ((r = client_request(c, "POST", path, hdrs, body, strlen(body), 1,
	    &resp, cause)) != 0)
		goto out;
	if (resp.status != 200) {
		*cause = client_http_error(resp.status, buf_ptr(&resp.body),
		    buf_len(&resp.body));
		r = client_rpc_errno(buf_ptr(&resp.body), buf_len(&resp.body));
		goto out;
	}
	obj = client_parse_json(buf_ptr(&resp.body), buf_len(&resp.body));
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		*cause = xasprintf("%s: the daemon's answer is not a JSON "
		    "object", procedure);
		r = -EPROTO;
		goto out;
	}
	*out = obj;
	obj = NULL;
	r = 0;
out:
	json_object_put(obj);
	free(path);
	client_resp_free(&resp);
	return r;
}

/* The errno for a Connect error body: a few codes callers act on. */
static int
client_rpc_errno(const void *body, size_t len)
{
	static const struct {
		const char *code;
		int err;
	} map[] = {
		{ "not_found", -ENOENT },
		{ "already_exists", -EEXIST },
		{ "unauthenticated", -EACCES },
		{ "permission_denied", -EPERM },
		{ "invalid_argument", -EINVAL },
	};
	struct json_object *obj, *code;
	const char *s;
	size_t i;
	int r = -EPROTO;

	if (len > (1u << 20) || (obj = client_parse_json(body, len)) == NULL)
		return r;
	if (json_object_is_type(obj, json_type_object) &&
	    json_object_object_get_ex(obj, "code", &code) &&
	    json_object_is_type(code, json_type_string)) {
		s = json_object_get_string(code);
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(s, map[i].code) == 0)
				r = map[i].err;
	}
	json_object_put(obj);
	return r;
}

char *
client_curl_error(struct client *c, CURLcode code, const char *errbuf)
{
	const char *detail = errbuf != NULL && *errbuf != '\0' ? errbuf :
	    curl_easy_strerror(code);

	switch (code) {
	case CURLE_COULDNT_CONNECT:
		return xasprintf("cannot connect to %s: is envd running?",
		    c->url);
	case CURLE_COULDNT_RESOLVE_HOST:
		return xasprintf("cannot resolve the host of %s: %s", c->url,
		    detail);
	default:
		return xasprintf("%s: %s", c->url, detail);
	}
}

/* 401s that a token (or a correct one) would have avoided. */
static int
client_token_hint(const char *msg)
{
	return strstr(msg, "valid access token") != NULL ||
	    strstr(msg, "signature") != NULL ||
	    strstr(msg, "does not match") != NULL ||
	    strstr(msg, "not initialized") != NULL;
}

char *
client_http_error(long status, const void *body, size_t len)
{
	struct json_object *obj = NULL, *code, *msg;
	char *text = NULL, *res;
	const char *m = NULL;
	size_t n = len;

	if (len < (1u << 20))
		obj = client_parse_json(body, len);
	if (obj != NULL && json_object_is_type(obj, json_type_object) &&
	    json_object_object_get_ex(obj, "message", &msg) &&
	    json_object_is_type(msg, json_type_string)) {
		m = json_object_get_string(msg);
		if (json_object_object_get_ex(obj, "code", &code) &&
		    json_object_is_type(code, json_type_string))
			text = xasprintf("%s: %s", json_object_get_string(code),
			    m);
		else
			text = xstrdup(m);
	} else {
		while (n > 0 && isspace(((const unsigned char *)body)[n - 1]))
			n--;
		if (n > 512)
			n = 512;
		if (n > 0) {
			char *raw = xmemdup0(body, n);

			text = xasprintf("HTTP %ld: %s", status, raw);
			free(raw);
		} else
			text = xasprintf("HTTP %ld", status);
	}
	json_object_put(obj);
	if (status == 401 && (client_token_hint(text) ||
	    (m == NULL && n == 0))) {
		res = xasprintf("%s (the daemon wants an access token: pass "
		    "--token or set ENVD_ACCESS_TOKEN)", text);
		free(text);
		return res;
	}
	return text;
}

struct json_object *
client_parse_json(const void *p, size_t len)
{
	const unsigned char *s = p;
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;

	if (len == 0 || len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(64);
	obj = json_tokener_parse_ex(tok, p, (int)len);
	end = json_tokener_get_parse_end(tok);
	while (end < len && isspace(s[end]))
		end++;
	if (obj != NULL && end != len) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

int
client_query_add(struct buf *b, const char *name, const char *value)
{
	const char *sep = memchr(buf_ptr(b), '?', buf_len(b)) ? "&" : "?";
	int r;

	if ((r = buf_puts(b, sep)) != 0 ||
	    (r = sign_form_encode(b, name)) != 0 ||
	    (r = buf_puts(b, "=")) != 0 ||
	    (r = sign_form_encode(b, value)) != 0)
		return r;
	return 0;
}
