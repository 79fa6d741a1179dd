/*
 * client.h - HTTP and Connect JSON calls to one envd, through libcurl.
 *
 * A client knows the daemon's base URL, the access token (sent as
 * X-Access-Token on every request) and the request user. The user travels
 * the way the SDKs send it: as "Authorization: Basic base64(user:)" on
 * Connect RPCs and as the "username" query parameter on /files; other REST
 * routes get neither.
 *
 * Every failure comes back as a negative errno plus a message in *cause,
 * owned by the caller, ready to print after "envctl: ". Messages name the
 * daemon's own error text when it sent one, and add a hint on 401s that are
 * about the access token.
 */
#ifndef ENVCTL_CLIENT_H
#define ENVCTL_CLIENT_H

#include <stdio.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"

#define CLIENT_DEFAULT_URL "http://127.0.0.1:49983"
/* Largest response body kept in memory (downloads stream to a file). */
#define CLIENT_BODY_MAX (64u << 20)

struct client {
	char *url;	/* base URL without a trailing '/', owned */
	char *token;	/* access token or NULL, owned, wiped on free */
	char *user;	/* request user or NULL, owned */
	int verbose;	/* libcurl traces requests on stderr */
	CURLSH *share;	/* connection cache shared by all handles */
};

struct client_resp {
	long status;		/* HTTP status, 0 before a response */
	struct buf body;	/* response body, bounded by CLIENT_BODY_MAX */
	char *envd_version;	/* X-Envd-Version header or NULL, owned */
	char *content_type;	/* Content-Type or NULL, owned */
};

/* Fill c from the arguments (any may be NULL: url falls back to $ENVD_URL
 * and then CLIENT_DEFAULT_URL, token to $ENVD_ACCESS_TOKEN). Returns 0, or
 * -EINVAL for a URL that is not http(s) or a token with a line break.
 * Release with client_free(), also after a failure. */
/* url, or $ENVD_URL, or CLIENT_DEFAULT_URL: the first that is set. */
const char *client_default_url(const char *url);
/* token, or $ENVD_ACCESS_TOKEN (NULL when neither is set). */
const char *client_default_token(const char *token);

int client_init(struct client *c, const char *url, const char *token,
    const char *user, char **cause);
void client_free(struct client *c);

void client_resp_init(struct client_resp *resp);
void client_resp_free(struct client_resp *resp);
/* CURLOPT_WRITEFUNCTION appending to the client_resp in CURLOPT_WRITEDATA;
 * fails the transfer past CLIENT_BODY_MAX. */
size_t client_resp_body_cb(char *p, size_t size, size_t nmemb, void *resp);

/*
 * A curl handle for <base><path_query> with the common options: token
 * header, User-Agent, verbosity, and "Authorization: Basic" when basic_user
 * is set and the client has a user. Extra headers for the request are
 * appended to *headers (which the caller frees with curl_slist_free_all()
 * after the transfer). Never returns NULL (aborts when curl cannot
 * allocate).
 */
CURL *client_easy(struct client *c, const char *path_query, int basic_user,
    struct curl_slist **headers);

/*
 * One request with an in-memory body (body may be NULL for none) and extra
 * header lines ("Name: value", a NULL-terminated array, may be NULL); the
 * whole response lands in resp. Returns 0 when a response arrived,
 * whatever its status; -ECONNREFUSED, -EIO... when none did.
 */
int client_request(struct client *c, const char *method,
    const char *path_query, const char *const *extra, const void *body,
    size_t len, int basic_user, struct client_resp *resp, char **cause);

/*
 * A unary Connect JSON call: POST /<procedure> with req (borrowed) as the
 * body. On 200 *out is the parsed response (owned). Otherwise an error
 * message "<code>: <message>" in *cause and a negative errno: -ENOENT for
 * not_found, -EEXIST for already_exists, -EACCES for unauthenticated,
 * -EPERM for permission_denied, -EINVAL for invalid_argument, -EPROTO for
 * any other answer, or a transport error as client_request().
 */
int client_rpc(struct client *c, const char *procedure,
    struct json_object *req, struct json_object **out, char **cause);

/* The message for a curl failure: connection refused becomes
 * "cannot connect to <url>: is envd running?". Owned by the caller. */
char *client_curl_error(struct client *c, CURLcode code, const char *errbuf);

/* The message for a non-2xx answer: the daemon's JSON "message" (prefixed
 * with a Connect code when there is one) or its text body, a hint about
 * --token on 401s about the token. Owned by the caller. */
char *client_http_error(long status, const void *body, size_t len);

/* Parse len bytes as one JSON value (depth at most 64), optionally followed
 * by white space. Returns the value (owned) or NULL when they are not. */
struct json_object *client_parse_json(const void *p, size_t len);

/* Append "<name>=<value>" to a query string under construction: '?' first,
 * '&' afterwards, both parts form-encoded. Returns 0 or -ENOBUFS. */
int client_query_add(struct buf *b, const char *name, const char *value);

#endif
