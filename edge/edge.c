/*
 * edge.c - envd-edge: the host-side edge in front of sandboxes.
 *
 * envd-edge keeps one record per sandbox in its state directory and drives
 * an HAProxy that serves PORT-ID.DOMAIN for every sandbox. HAProxy reads
 * the per-sandbox facts from map files (loaded at start-up, so a restart or
 * reload serves every committed sandbox) and envd-edge updates the running
 * process through the runtime API, so adding or removing a sandbox never
 * reloads HAProxy.
 *
 * Order of an add: validate everything (mask, token rule, egress) before
 * writing anything; write the record; write the token and mask maps, then
 * the address map (a sandbox is reachable only once its token and mask are
 * in place); push the same order to the running HAProxy; apply egress.
 * Remove runs the other way round. The traffic token lives in locked memory
 * from minting to printing; only its SHA-256 is stored.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "egress.h"
#include "hapi.h"
#include "store.h"
#include "xalloc.h"

#define EDGE_EXIT_OK 0
#define EDGE_EXIT_FAIL 1
#define EDGE_EXIT_USAGE 2

#define EDGE_DEFAULT_STATE "/var/lib/envd-edge"
#define EDGE_DEFAULT_CONF "/etc/envd-edge/haproxy.d"
#define EDGE_ID_MAX 57
#define EDGE_MASK_MAX 253
/* Occurrences of ${PORT} a mask may hold (the HAProxy rules unroll them). */
#define EDGE_MASK_PORTS_MAX 3
/* 32 bytes of HMAC-SHA256, as hex: the platform's token format. */
#define EDGE_TOKEN_HEX (crypto_auth_hmacsha256_BYTES * 2 + 1)

struct edge {
	char *state_dir;  /* absolute, owned */
	const char *conf_dir;
	const char *haproxy;
	char *sock;       /* state_dir/haproxy.sock, owned */
	int lockfd;
};

static void
edge_usage(FILE *f)
{
	fprintf(f,
	    "usage: envd-edge [--state-dir DIR] COMMAND [ARGS]\n"
	    "\n"
	    "commands:\n"
	    "  add ID --addr ADDR [--network JSON] [--secure]\n"
	    "                 serve sandbox ID (guest address ADDR); prints JSON\n"
	    "                 with the traffic token once when the network spec\n"
	    "                 has allowPublicTraffic false\n"
	    "  remove ID      stop serving ID at once\n"
	    "  list           every sandbox, as a JSON array\n"
	    "  show ID        one sandbox, as JSON\n"
	    "  restore        start HAProxy if it is not running, load every\n"
	    "                 sandbox into it and re-apply egress\n"
	    "  reload         start a new HAProxy on the configuration and hand\n"
	    "                 over without dropping connections\n"
	    "  stop           stop HAProxy\n"
	    "\n"
	    "--state-dir DIR (default " EDGE_DEFAULT_STATE ") is accepted before\n"
	    "or after the command. HAProxy runs on the configuration directory\n"
	    "$EDGE_CONFIG_DIR (default " EDGE_DEFAULT_CONF ") with EDGE_HTTP_BIND,\n"
	    "EDGE_HTTPS_BIND, EDGE_CERT, EDGE_RATE_LIMIT, EDGE_LOG from the\n"
	    "environment (see envd-edge(8)).\n");
}

static void
edge_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
edge_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("envd-edge: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Sandbox IDs as the platform issues them, short enough that 65535-ID fits
 * one DNS label. */
static int
edge_id_ok(const char *id)
{
	size_t n = strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789");

	return n > 0 && n <= EDGE_ID_MAX && id[n] == '\0';
}

static int
edge_addr_ok(const char *addr)
{
	unsigned char b[16];

	return inet_pton(AF_INET, addr, b) == 1 ||
	    inet_pton(AF_INET6, addr, b) == 1;
}

/* network.NAME or its snake_case alias; borrowed, or NULL. */
static struct json_object *
edge_net_get(struct json_object *net, const char *name, const char *alias)
{
	struct json_object *v;

	if (net == NULL)
		return NULL;
	if (json_object_object_get_ex(net, name, &v) ||
	    json_object_object_get_ex(net, alias, &v))
		return v;
	return NULL;
}

/*
 * Check a maskRequestHost as the platform does (V1-V3 of the API) and
 * encode it for HAProxy as "N|seg0|...|segN": the text around each of the
 * N ${PORT}. Returns 0 with *enc owned, or -EINVAL with *cause owned.
 */
static int
edge_mask_encode(const char *mask, char **enc, char **cause)
{
	const char *host, *colon, *p, *q;
	size_t hostlen;
	char *hostpart = NULL, *out = NULL, *t;
	int n = 0, r = -EINVAL;

	*enc = NULL;
	*cause = NULL;
	if (strlen(mask) > EDGE_MASK_MAX)
		goto bad;
	host = mask;
	if (mask[0] == '[') {
		if ((q = strchr(mask, ']')) == NULL ||
		    (q[1] != '\0' && q[1] != ':'))
			goto bad;
		host = mask + 1;
		hostlen = (size_t)(q - host);
		colon = q[1] == ':' ? q + 1 : NULL;
	} else {
		colon = strchr(mask, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			goto bad;
		hostlen = colon != NULL ? (size_t)(colon - mask) :
		    strlen(mask);
	}
	hostpart = xstrndup(host, hostlen);
	for (p = hostpart; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80) {
			*cause = xasprintf("mask request host '%s' is not "
			    "ASCII. Please use ASCII characters only.",
			    hostpart);
			goto out;
		}
	/* Host names plus the ${PORT} placeholder; the port part may be
	 * anything visible that HAProxy can carry in a header. */
	if (strspn(hostpart, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
	    "VWXYZ0123456789.-_${}:") != hostlen)
		goto bad;
	for (p = mask; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '|' || *p == ';' ||
		    *p == '\\' || *p == '"' || *p == '\'' || *p == '#')
			goto bad;
	out = xstrdup("0|");
	for (p = mask; (q = strstr(p, "${PORT}")) != NULL; p = q + 7) {
		if (++n > EDGE_MASK_PORTS_MAX)
			goto bad;
		t = xasprintf("%s%.*s|", out, (int)(q - p), p);
		free(out);
		out = t;
	}
	t = xasprintf("%d%s%s", n, out + 1, p);
	free(out);
	out = t;
	*enc = out;
	out = NULL;
	r = 0;
	goto out;
bad:
	*cause = xasprintf("mask request host is not valid: %s", mask);
out:
	free(out);
	free(hostpart);
	return r;
}

/* Mint a token in the platform's format (64 lowercase hex characters of
 * HMAC-SHA256 over "sandbox-traffic-ID") with a fresh random key, so only
 * this call ever knows it. tok is EDGE_TOKEN_HEX bytes of locked memory. */
static void
edge_token_mint(const char *id, char *tok)
{
	unsigned char *key, *mac;
	char *msg;

	key = sodium_malloc(crypto_auth_hmacsha256_KEYBYTES +
	    crypto_auth_hmacsha256_BYTES);
	if (key == NULL) {
		edge_err("out of locked memory");
		exit(EDGE_EXIT_FAIL);
	}
	mac = key + crypto_auth_hmacsha256_KEYBYTES;
	randombytes_buf(key, crypto_auth_hmacsha256_KEYBYTES);
	msg = xasprintf("sandbox-traffic-%s", id);
	crypto_auth_hmacsha256(mac, (const unsigned char *)msg, strlen(msg),
	    key);
	sodium_bin2hex(tok, EDGE_TOKEN_HEX, mac, crypto_auth_hmacsha256_BYTES);
	free(msg);
	sodium_free(key);
}

/* The SHA-256 of tok as 64 lowercase hex characters, into hash[65]. */
static void
edge_token_hash(const char *tok, char hash[crypto_hash_sha256_BYTES * 2 + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
	sodium_bin2hex(hash, crypto_hash_sha256_BYTES * 2 + 1, h, sizeof(h));
}

/* The three map values of a record; each borrowed or NULL when absent. */
static void
edge_record_values(struct json_object *rec, const char *vals[STORE_MAP_COUNT])
{
	struct json_object *v;

	vals[STORE_MAP_ADDR] = json_object_object_get_ex(rec, "addr", &v) ?
	    json_object_get_string(v) : NULL;
	vals[STORE_MAP_TOKEN] = json_object_object_get_ex(rec, "tokenHash",
	    &v) ? json_object_get_string(v) : NULL;
	vals[STORE_MAP_MASK] = json_object_object_get_ex(rec, "maskEncoded",
	    &v) ? json_object_get_string(v) : NULL;
}

static char *
edge_map_path(const struct edge *e, enum store_map m)
{
	return xasprintf("%s/%s", e->state_dir, store_map_name(m));
}

/*
 * Bring map files and the running HAProxy in line with rec for id (rec
 * NULL: remove id). Token and mask go first on add and last on remove, so
 * the address entry, which makes a sandbox reachable, is never there
 * without them. HAProxy not running is fine: it loads the files when it
 * starts. Returns 0 or -errno with *cause owned.
 */
static int
edge_publish(const struct edge *e, const char *id, struct json_object *rec,
    char **cause)
{
	static const enum store_map add_order[] = { STORE_MAP_TOKEN,
		STORE_MAP_MASK, STORE_MAP_ADDR };
	static const enum store_map del_order[] = { STORE_MAP_ADDR,
		STORE_MAP_TOKEN, STORE_MAP_MASK };
	const char *vals[STORE_MAP_COUNT] = { NULL, NULL, NULL };
	const enum store_map *order = rec != NULL ? add_order : del_order;
	char *map = NULL;
	int i, r = 0, live = 1;

	*cause = NULL;
	if (rec != NULL)
		edge_record_values(rec, vals);
	for (i = 0; i < STORE_MAP_COUNT; i++) {
		if ((r = store_map_set(e->state_dir, order[i], id,
		    vals[order[i]])) < 0) {
			*cause = xasprintf("%s/%s: %s", e->state_dir,
			    store_map_name(order[i]), strerror(-r));
			goto out;
		}
		if (!live)
			continue;
		free(map);
		map = edge_map_path(e, order[i]);
		if (vals[order[i]] != NULL)
			r = hapi_map_put(e->sock, map, id, vals[order[i]],
			    cause);
		else
			r = hapi_map_del(e->sock, map, id, cause);
		if (r == -ENOENT || r == -ECONNREFUSED) {
			/* Not running: the files are what it will load. */
			free(*cause);
			*cause = NULL;
			live = 0;
			r = 0;
		} else if (r < 0)
			goto out;
	}
out:
	free(map);
	return r;
}

/* Print rec without its internal fields, plus the token when tok. */
static void
edge_print(struct json_object *rec, const char *tok)
{
	struct json_object *o, *v;
	const char *s;
	size_t len;

	o = json_object_new_object();
	json_object_object_foreach(rec, k, val)
	{
		if (strcmp(k, "tokenHash") == 0 || strcmp(k, "maskEncoded") == 0)
			continue;
		json_object_object_add(o, k, json_object_get(val));
	}
	json_object_object_add(o, "private", json_object_new_boolean(
	    json_object_object_get_ex(rec, "tokenHash", &v)));
	s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (tok == NULL) {
		printf("%s\n", s);
	} else {
		/* Splice the token in without copying it out of locked
		 * memory into json-c's heap strings. */
		len = strlen(s);
		printf("%.*s,\"trafficAccessToken\":\"%s\"}\n", (int)(len - 1),
		    s, tok);
	}
	fflush(stdout);
	json_object_put(o);
}

static int
edge_add(struct edge *e, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "network", required_argument, NULL, 'n' },
		{ "secure", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_object *net = NULL, *rec = NULL, *old = NULL, *v;
	struct egress_sandbox sb;
	const char *id, *addr = NULL, *nettext = NULL, *mask = NULL;
	char *cause = NULL, *enc = NULL, *tok = NULL, *c2 = NULL;
	char hash[crypto_hash_sha256_BYTES * 2 + 1];
	int ch, secure = 0, private = 0, r;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'n':
			nettext = optarg;
			break;
		case 's':
			secure = 1;
			break;
		default:
			return EDGE_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || addr == NULL) {
		edge_err("usage: add ID --addr ADDR [--network JSON] [--secure]");
		return EDGE_EXIT_USAGE;
	}
	id = argv[optind];
	r = EDGE_EXIT_FAIL;
	if (!edge_id_ok(id)) {
		edge_err("invalid sandbox ID '%s' (1-%d of [a-z0-9])", id,
		    EDGE_ID_MAX);
		goto out;
	}
	if (!edge_addr_ok(addr)) {
		edge_err("invalid address '%s'", addr);
		goto out;
	}
	if (nettext != NULL) {
		net = json_tokener_parse(nettext);
		if (net == NULL || !json_object_is_type(net, json_type_object)) {
			edge_err("--network is not a JSON object");
			goto out;
		}
	}
	if ((v = edge_net_get(net, "maskRequestHost", "mask_request_host")) !=
	    NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			edge_err("maskRequestHost is not a string");
			goto out;
		}
		mask = json_object_get_string(v);
		if (*mask != '\0' && edge_mask_encode(mask, &enc, &cause) < 0) {
			edge_err("%s", cause);
			goto out;
		}
	}
	if ((v = edge_net_get(net, "allowPublicTraffic",
	    "allow_public_traffic")) != NULL) {
		if (!json_object_is_type(v, json_type_boolean)) {
			edge_err("allowPublicTraffic is not a boolean");
			goto out;
		}
		private = !json_object_get_boolean(v);
	}
	if (private && !secure) {
		edge_err("You cannot create a sandbox without public access "
		    "unless you enable secure envd access via 'secure' flag.");
		goto out;
	}
	if (egress_validate(net, &cause) < 0) {
		edge_err("%s", cause != NULL ? cause : "egress refused");
		goto out;
	}

	rec = json_object_new_object();
	json_object_object_add(rec, "sandboxId", json_object_new_string(id));
	json_object_object_add(rec, "addr", json_object_new_string(addr));
	json_object_object_add(rec, "secure", json_object_new_boolean(secure));
	if (net != NULL)
		json_object_object_add(rec, "network", json_object_get(net));
	if (store_load(e->state_dir, id, &old) == 0) {
		/* Same spec: nothing to do (the token was shown once). */
		if (json_object_object_get_ex(old, "addr", &v) &&
		    strcmp(json_object_get_string(v), addr) == 0 &&
		    json_object_object_get_ex(old, "secure", &v) &&
		    json_object_get_boolean(v) == secure &&
		    json_object_equal(
		        json_object_object_get_ex(old, "network", &v) ? v : NULL,
		        net)) {
			edge_print(old, NULL);
			r = EDGE_EXIT_OK;
		} else
			edge_err("sandbox %s exists with a different spec; "
			    "remove it first", id);
		goto out;
	}
	if (enc != NULL)
		json_object_object_add(rec, "maskEncoded",
		    json_object_new_string(enc));
	if (private) {
		if ((tok = sodium_malloc(EDGE_TOKEN_HEX)) == NULL) {
			edge_err("out of locked memory");
			goto out;
		}
		edge_token_mint(id, tok);
		edge_token_hash(tok, hash);
		json_object_object_add(rec, "tokenHash",
		    json_object_new_string(hash));
	}
	if ((r = store_save(e->state_dir, id, rec)) < 0) {
		edge_err("%s: %s", e->state_dir, strerror(-r));
		r = EDGE_EXIT_FAIL;
		goto out;
	}
	r = EDGE_EXIT_FAIL;
	if (edge_publish(e, id, rec, &cause) < 0) {
		edge_err("%s", cause);
		goto undo;
	}
	sb.id = id;
	sb.addr = addr;
	sb.state_dir = e->state_dir;
	if (egress_apply(&sb, net, &cause) < 0) {
		edge_err("egress: %s", cause != NULL ? cause : "failed");
		goto undo;
	}
	edge_print(rec, tok);
	r = EDGE_EXIT_OK;
	goto out;
undo:
	if (edge_publish(e, id, NULL, &c2) < 0)
		edge_err("%s", c2);
	store_delete(e->state_dir, id);
out:
	sodium_free(tok);
	free(c2);
	free(cause);
	free(enc);
	json_object_put(old);
	json_object_put(rec);
	json_object_put(net);
	return r;
}

/* The single ID operand of remove and show. */
static const char *
edge_one_id(int argc, char **argv, const char *verb)
{
	if (argc != 2 || !edge_id_ok(argv[1])) {
		edge_err("usage: %s ID", verb);
		return NULL;
	}
	return argv[1];
}

static int
edge_remove(struct edge *e, int argc, char **argv)
{
	struct json_object *rec = NULL;
	const char *id;
	char *cause = NULL;
	int r, er;

	if ((id = edge_one_id(argc, argv, "remove")) == NULL)
		return EDGE_EXIT_USAGE;
	r = EDGE_EXIT_FAIL;
	if ((er = store_load(e->state_dir, id, &rec)) < 0) {
		edge_err("sandbox %s: %s", id,
		    er == -ENOENT ? "not found" : strerror(-er));
		goto out;
	}
	if (edge_publish(e, id, NULL, &cause) < 0) {
		edge_err("%s", cause);
		goto out;
	}
	if ((er = store_delete(e->state_dir, id)) < 0) {
		edge_err("%s: %s", e->state_dir, strerror(-er));
		goto out;
	}
	if (egress_remove(id, &cause) < 0) {
		edge_err("egress: %s", cause != NULL ? cause : "failed");
		goto out;
	}
	r = EDGE_EXIT_OK;
out:
	free(cause);
	json_object_put(rec);
	return r;
}

static int
edge_show(struct edge *e, int argc, char **argv)
{
	struct json_object *rec = NULL;
	const char *id;
	int er;

	if ((id = edge_one_id(argc, argv, "show")) == NULL)
		return EDGE_EXIT_USAGE;
	if ((er = store_load(e->state_dir, id, &rec)) < 0) {
		edge_err("sandbox %s: %s", id,
		    er == -ENOENT ? "not found" : strerror(-er));
		return EDGE_EXIT_FAIL;
	}
	edge_print(rec, NULL);
	json_object_put(rec);
	return EDGE_EXIT_OK;
}

static int
edge_list(struct edge *e, int argc, char **argv)
{
	struct json_object *all = NULL;
	size_t i, n;
	int er;

	(void)argv;
	if (argc != 1) {
		edge_err("usage: list");
		return EDGE_EXIT_USAGE;
	}
	if ((er = store_load_all(e->state_dir, &all)) < 0) {
		edge_err("%s: %s", e->state_dir, strerror(-er));
		return EDGE_EXIT_FAIL;
	}
	n = json_object_array_length(all);
	printf("[");
	for (i = 0; i < n; i++) {
		fflush(stdout);
		if (i > 0)
			printf(",");
		fflush(stdout);
		/* edge_print ends each object with a newline */
		edge_print(json_object_array_get_idx(all, i), NULL);
	}
	printf("]\n");
	json_object_put(all);
	return EDGE_EXIT_OK;
}

/* Default an EDGE_* variable HAProxy's configuration expands. */
static void
edge_env_default(const char *name, const char *value)
{
	if (getenv(name) == NULL || *getenv(name) == '\0')
		setenv(name, value, 1);
}

/*
 * Run HAProxy on the configuration directory: check (-c) first, then start
 * it as a daemon; with oldpid > 0 the new process takes the listening
 * sockets over from the old one (-x) and tells it to finish its
 * connections and exit (-sf). Returns 0 once HAProxy answers on its socket.
 */
static int
edge_haproxy_start(const struct edge *e, long oldpid)
{
	char *pidfile = NULL, *oldstr = NULL, *cause = NULL;
	const char *args[16];
	int i, n, st, r = -1, pass;
	pid_t pid;

	if (egress_init(e->state_dir, &cause) < 0) {
		edge_err("egress: %s", cause != NULL ? cause : "failed");
		free(cause);
		return -1;
	}
	setenv("EDGE_STATE_DIR", e->state_dir, 1);
	edge_env_default("EDGE_HTTP_BIND", ":80");
	edge_env_default("EDGE_HTTPS_BIND", ":443");
	edge_env_default("EDGE_CERT", "/etc/envd-edge/tls.pem");
	edge_env_default("EDGE_RATE_LIMIT", "40000");
	edge_env_default("EDGE_LOG", "/dev/log");
	pidfile = xasprintf("%s/haproxy.pid", e->state_dir);
	for (pass = 0; pass < 2; pass++) {
		n = 0;
		args[n++] = e->haproxy;
		args[n++] = "-q";
		args[n++] = "-f";
		args[n++] = e->conf_dir;
		if (pass == 0)
			args[n++] = "-c";
		else {
			args[n++] = "-D";
			args[n++] = "-p";
			args[n++] = pidfile;
			if (oldpid > 0) {
				oldstr = xasprintf("%ld", oldpid);
				args[n++] = "-x";
				args[n++] = e->sock;
				args[n++] = "-sf";
				args[n++] = oldstr;
			}
		}
		args[n] = NULL;
		if ((pid = fork()) < 0) {
			edge_err("fork: %s", strerror(errno));
			goto out;
		}
		if (pid == 0) {
			execvp(args[0], (char *const *)args);
			fprintf(stderr, "envd-edge: %s: %s\n", args[0],
			    strerror(errno));
			_exit(127);
		}
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			edge_err("haproxy %s failed (configuration %s)",
			    pass == 0 ? "check" : "start", e->conf_dir);
			goto out;
		}
	}
	for (i = 0; i < 200; i++) {
		if (hapi_alive(e->sock)) {
			r = 0;
			goto out;
		}
		usleep(25000);
	}
	edge_err("haproxy does not answer on %s", e->sock);
out:
	free(oldstr);
	free(pidfile);
	return r;
}

/* HAProxy's pid from its pid file, or -1. */
static long
edge_haproxy_pid(const struct edge *e)
{
	char *path;
	long pid = -1;
	FILE *f;

	path = xasprintf("%s/haproxy.pid", e->state_dir);
	if ((f = fopen(path, "re")) != NULL) {
		if (fscanf(f, "%ld", &pid) != 1 || pid <= 1)
			pid = -1;
		fclose(f);
	}
	free(path);
	return pid;
}

/*
 * restore: rebuild the map files from the records, make sure HAProxy runs
 * with them (a running one gets each map replaced atomically) and re-apply
 * every sandbox's egress.
 *
 * The state may have been left by a process killed at any step of add or
 * remove (or by HAProxy dying): the records in sandboxes/ are the truth,
 * and everything else is made to match them. Temporary files are swept,
 * egress records and tables of sandboxes that have no record are dropped
 * (egress_prune) before HAProxy sees the rebuilt maps, every map is
 * rewritten whole from the records, and every recorded sandbox gets its
 * table again. A record that does not parse stops restore before anything
 * is dropped.
 */
static int
edge_restore(struct edge *e, int argc, char **argv)
{
	struct json_object *all = NULL, *rec, *net;
	const char **keys[STORE_MAP_COUNT], **vals[STORE_MAP_COUNT];
	const char *rv[STORE_MAP_COUNT];
	size_t cnt[STORE_MAP_COUNT] = { 0, 0, 0 };
	struct egress_sandbox sb;
	const char **ids = NULL;
	char *cause = NULL, *map;
	size_t i, n = 0, swept = 0, pruned = 0;
	int m, er, r = EDGE_EXIT_FAIL, failed = 0;

	(void)argv;
	memset(keys, 0, sizeof(keys));
	memset(vals, 0, sizeof(vals));
	if (argc != 1) {
		edge_err("usage: restore");
		return EDGE_EXIT_USAGE;
	}
	if ((er = store_sweep(e->state_dir)) < 0) {
		edge_err("%s: %s", e->state_dir, strerror(-er));
		goto out;
	}
	swept = (size_t)er;
	if ((er = store_load_all(e->state_dir, &all)) < 0) {
		edge_err("%s: %s", e->state_dir, strerror(-er));
		goto out;
	}
	n = json_object_array_length(all);
	ids = xcalloc(n + 1, sizeof(char *));
	for (m = 0; m < STORE_MAP_COUNT; m++) {
		keys[m] = xcalloc(n + 1, sizeof(char *));
		vals[m] = xcalloc(n + 1, sizeof(char *));
	}
	for (i = 0; i < n; i++) {
		rec = json_object_array_get_idx(all, i);
		edge_record_values(rec, rv);
		json_object_object_get_ex(rec, "sandboxId", &net);
		ids[i] = json_object_get_string(net); /* sorted by ID */
		for (m = 0; m < STORE_MAP_COUNT; m++) {
			if (rv[m] == NULL)
				continue;
			keys[m][cnt[m]] = ids[i];
			vals[m][cnt[m]++] = rv[m];
		}
	}
	if (egress_prune(e->state_dir, ids, n, &pruned, &cause) < 0) {
		edge_err("egress: %s", cause != NULL ? cause : "failed");
		goto out;
	}
	if (swept + pruned > 0)
		edge_err("restore: dropped %zu leftover file(s) and %zu egress "
		    "record(s) or table(s) of sandboxes without a record",
		    swept, pruned);
	for (m = 0; m < STORE_MAP_COUNT; m++)
		if ((er = store_map_write(e->state_dir, m, keys[m], vals[m],
		    cnt[m])) < 0) {
			edge_err("%s: %s", e->state_dir, strerror(-er));
			goto out;
		}
	if (!hapi_alive(e->sock)) {
		if (edge_haproxy_start(e, 0) < 0)
			goto out;
	} else {
		static const enum store_map order[] = { STORE_MAP_TOKEN,
			STORE_MAP_MASK, STORE_MAP_ADDR };
		for (i = 0; i < STORE_MAP_COUNT; i++) {
			m = order[i];
			map = edge_map_path(e, m);
			er = hapi_map_replace(e->sock, map, keys[m], vals[m],
			    cnt[m], &cause);
			free(map);
			if (er < 0) {
				edge_err("%s", cause);
				goto out;
			}
		}
	}
	for (i = 0; i < n; i++) {
		rec = json_object_array_get_idx(all, i);
		edge_record_values(rec, rv);
		json_object_object_get_ex(rec, "sandboxId", &net);
		sb.id = json_object_get_string(net);
		sb.addr = rv[STORE_MAP_ADDR];
		sb.state_dir = e->state_dir;
		if (!json_object_object_get_ex(rec, "network", &net))
			net = NULL;
		if (egress_apply(&sb, net, &cause) < 0) {
			edge_err("egress %s: %s", sb.id,
			    cause != NULL ? cause : "failed");
			failed = 1;
		}
		free(cause);
		cause = NULL;
	}
	r = failed ? EDGE_EXIT_FAIL : EDGE_EXIT_OK;
out:
	free(ids);
	for (m = 0; m < STORE_MAP_COUNT; m++) {
		free(keys[m]);
		free(vals[m]);
	}
	free(cause);
	json_object_put(all);
	return r;
}

static int
edge_reload(struct edge *e, int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		edge_err("usage: reload");
		return EDGE_EXIT_USAGE;
	}
	return edge_haproxy_start(e, hapi_alive(e->sock) ?
	    edge_haproxy_pid(e) : 0) < 0 ? EDGE_EXIT_FAIL : EDGE_EXIT_OK;
}

/*
 * 1 when pid runs the HAProxy binary envd-edge starts (its command name,
 * as the kernel keeps it, is the binary's base name cut to 15 bytes): a
 * pid file left by a HAProxy that was killed may name another process by
 * now.
 */
static int
edge_pid_is_haproxy(const struct edge *e, long pid)
{
	char path[64], comm[32];
	const char *base;
	size_t n;
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(comm, sizeof(comm), f) != NULL) {
		comm[strcspn(comm, "\n")] = '\0';
		base = strrchr(e->haproxy, '/') != NULL ?
		    strrchr(e->haproxy, '/') + 1 : e->haproxy;
		n = strlen(base) < 15 ? strlen(base) : 15;
		r = strlen(comm) == n && strncmp(comm, base, n) == 0;
	}
	fclose(f);
	return r;
}

static int
edge_stop(struct edge *e, int argc, char **argv)
{
	char *path;
	long pid;
	int i;

	(void)argv;
	if (argc != 1) {
		edge_err("usage: stop");
		return EDGE_EXIT_USAGE;
	}
	if ((pid = edge_haproxy_pid(e)) < 0)
		return EDGE_EXIT_OK;
	if (!edge_pid_is_haproxy(e, pid)) {
		/* stale: HAProxy died without removing it */
		path = xasprintf("%s/haproxy.pid", e->state_dir);
		unlink(path);
		free(path);
		return EDGE_EXIT_OK;
	}
	if (kill((pid_t)pid, SIGTERM) < 0)
		return EDGE_EXIT_OK;
	for (i = 0; i < 200 && kill((pid_t)pid, 0) == 0; i++)
		usleep(25000);
	return EDGE_EXIT_OK;
}

static const struct edge_verb {
	const char *name;
	int locked;
	int (*run)(struct edge *, int, char **);
} edge_verbs[] = {
	{ "add", 1, edge_add },
	{ "remove", 1, edge_remove },
	{ "list", 0, edge_list },
	{ "show", 0, edge_show },
	{ "restore", 1, edge_restore },
	{ "reload", 1, edge_reload },
	{ "stop", 1, edge_stop },
};

int
main(int argc, char **argv)
{
	const struct edge_verb *verb = NULL;
	const char *state = EDGE_DEFAULT_STATE;
	struct edge e;
	char **args;
	char *real;
	size_t i;
	int nargs = 0, r, er;

	memset(&e, 0, sizeof(e));
	e.lockfd = -1;
	/* --state-dir anywhere on the line; the rest goes to the verb. */
	args = xcalloc((size_t)argc + 1, sizeof(char *));
	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < (size_t)argc)
			state = argv[++i];
		else if (strncmp(argv[i], "--state-dir=", 12) == 0)
			state = argv[i] + 12;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			edge_usage(stdout);
			r = EDGE_EXIT_OK;
			goto out;
		} else
			args[nargs++] = argv[i];
	}
	if (nargs == 0) {
		edge_usage(stderr);
		r = EDGE_EXIT_USAGE;
		goto out;
	}
	for (i = 0; i < sizeof(edge_verbs) / sizeof(edge_verbs[0]); i++)
		if (strcmp(edge_verbs[i].name, args[0]) == 0)
			verb = &edge_verbs[i];
	if (verb == NULL) {
		edge_err("unknown command '%s'", args[0]);
		edge_usage(stderr);
		r = EDGE_EXIT_USAGE;
		goto out;
	}
	r = EDGE_EXIT_FAIL;
	if (sodium_init() < 0) {
		edge_err("libsodium failed to initialise");
		goto out;
	}
	umask(077);
	if ((er = store_open(state, verb->locked, &e.lockfd)) < 0) {
		edge_err("%s: %s", state, strerror(-er));
		goto out;
	}
	if ((real = realpath(state, NULL)) == NULL) {
		edge_err("%s: %s", state, strerror(errno));
		goto out;
	}
	e.state_dir = real;
	e.sock = xasprintf("%s/haproxy.sock", e.state_dir);
	e.conf_dir = getenv("EDGE_CONFIG_DIR") != NULL ?
	    getenv("EDGE_CONFIG_DIR") : EDGE_DEFAULT_CONF;
	e.haproxy = getenv("EDGE_HAPROXY") != NULL ? getenv("EDGE_HAPROXY") :
	    "haproxy";
	optind = 0;
	r = verb->run(&e, nargs, args);
out:
	if (e.lockfd >= 0)
		close(e.lockfd);
	free(e.sock);
	free(e.state_dir);
	free(args);
	return r;
}
