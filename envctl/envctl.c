/*
 * envctl.c - command-line client for envd: argv, dispatch, help, and the
 * small commands (sign, token, init, envs, metrics).
 *
 * The larger commands live in their own files: version and check in
 * check.c, files in files.c, exec in exec.c. Nothing here keeps state
 * between runs; every command makes its own requests and exits.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>

#include "envctl.h"
#include "sign.h"
#include "xalloc.h"

#define ENVCTL_KEY_MAX (64 * 1024)

static int envctl_sign_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int envctl_token_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int envctl_init_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int envctl_envs_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int envctl_metrics_run(struct envctl *, const struct envctl_cmd *,
    int, char **);
static int envctl_get_json(struct envctl *, const struct envctl_cmd *, int,
    char **, const char *, struct json_object **);
static int envctl_key_cmp(const void *, const void *);
static void envctl_main_usage(FILE *);

static const struct envctl_cmd envctl_sign_cmd = {
	"sign", "sign --op read|write [--path P] [--user U] [--expires SECONDS]"
	" [--token T] [--url BASE]",
	"Print a pre-signed /files URL, identical to the one the e2b SDKs\n"
	"build with downloadUrl() (--op read) or uploadUrl() (--op write).\n"
	"\n"
	"The signature is \"v1_\" + unpadded base64 of\n"
	"SHA-256(\"PATH:OP:USER:TOKEN[:EXPIRATION]\"); an empty or absent\n"
	"--user signs \"\" and sends no username. BASE (default --url,\n"
	"$ENVD_URL or http://127.0.0.1:49983) is reduced to its origin.\n"
	"\n"
	"  --op read|write     download or upload\n"
	"  --path P            file path, signed exactly as given\n"
	"  --user U            user the daemon resolves the path for\n"
	"  --token T           the sandbox access token ($ENVD_ACCESS_TOKEN)\n"
	"  --expires SECONDS   expire SECONDS from now\n"
	"  --now UNIX          take this time as now (reproducible URLs)\n",
	envctl_sign_run,
};

static const struct envctl_cmd envctl_token_cmd = {
	"token", "token --key-file F --sandbox ID",
	"Derive a per-sandbox access token the way a platform can: the\n"
	"lowercase hex HMAC-SHA256 of the sandbox id under a secret key. The\n"
	"key is the content of F with one trailing newline removed. Pass the\n"
	"result to \"envctl init --access-token\" when the sandbox starts and\n"
	"to clients as --token.\n"
	"\n"
	"  --key-file F   file holding the secret key\n"
	"  --sandbox ID   sandbox id\n",
	envctl_token_run,
};

static const struct envctl_cmd envctl_init_cmd = {
	"init", "init [--default-user U] [--default-workdir D] [--env K=V]..."
	" [--access-token T]",
	"POST /init, as the orchestrator does when a sandbox starts.\n"
	"\n"
	"  --default-user U     user for requests that name none\n"
	"  --default-workdir D  working directory for processes and /files\n"
	"  --env K=V            environment for new processes (repeatable);\n"
	"                       replaces the whole set sent by earlier calls\n"
	"  --access-token T     install T as the access token; afterwards\n"
	"                       clients must send it (--token)\n",
	envctl_init_run,
};

static const struct envctl_cmd envctl_envs_cmd = {
	"envs", "envs [--json]",
	"Print the daemon-wide environment (GET /envs) as KEY=VALUE lines in\n"
	"key order, or the JSON object with --json.\n",
	envctl_envs_run,
};

static const struct envctl_cmd envctl_metrics_cmd = {
	"metrics", "metrics [--json]",
	"Print the guest's resource usage (GET /metrics) as indented JSON, or\n"
	"on one line with --json.\n",
	envctl_metrics_run,
};

static const struct envctl_cmd *const envctl_cmds[] = {
	&check_version_cmd, &check_cmd, &envctl_sign_cmd, &envctl_token_cmd,
	&envctl_init_cmd, &files_cmd, &exec_cmd, &envctl_envs_cmd,
	&envctl_metrics_cmd, NULL,
};

static void
envctl_main_usage(FILE *f)
{
	const struct envctl_cmd *const *c;

	fprintf(f, "usage: envctl [OPTIONS] COMMAND [ARGS...]\n\n"
	    "Talk to envd, the control daemon inside a sandbox.\n\n"
	    "commands:\n");
	for (c = envctl_cmds; *c != NULL; c++)
		fprintf(f, "  %s\n", (*c)->synopsis);
	fprintf(f, "\n"
	    "options (also accepted after the command):\n"
	    "  --url URL    daemon to talk to ($ENVD_URL, default "
	    CLIENT_DEFAULT_URL ")\n"
	    "  --token T    access token ($ENVD_ACCESS_TOKEN)\n"
	    "  --user U     act as user U (default: the daemon's default "
	    "user)\n"
	    "  -v           trace HTTP requests on stderr\n"
	    "  -h, --help   help; \"envctl COMMAND --help\" for a command\n"
	    "  --version    print envctl's version\n"
	    "\n"
	    "Exit status: 0 success, 1 failure, 2 bad usage; exec exits with\n"
	    "the remote command's status.\n");
}

void
envctl_help(const struct envctl_cmd *cmd)
{
	printf("usage: envctl %s\n\n%s", cmd->synopsis, cmd->help);
	printf("\ncommon options: --url URL, --token T, --user U, -v\n");
}

int
envctl_usage(const struct envctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "envctl %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: envctl %s\n"
	    "Try 'envctl %s --help' for more information.\n", cmd->synopsis,
	    cmd->name);
	return ENVCTL_EXIT_USAGE;
}

int
envctl_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "envctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return ENVCTL_EXIT_FAIL;
}

int
envctl_common_opt(struct envctl *e, const struct envctl_cmd *cmd, int ch,
    const char *arg)
{
	switch (ch) {
	case ENVCTL_OPT_URL:
		e->url = arg;
		break;
	case ENVCTL_OPT_TOKEN:
		e->token = arg;
		break;
	case ENVCTL_OPT_USER:
		e->user = arg;
		break;
	case 'v':
		e->verbose = 1;
		break;
	case 'h':
		envctl_help(cmd);
		return ENVCTL_EXIT_OK;
	default:
		fprintf(stderr, "Try 'envctl %s --help' for more "
		    "information.\n", cmd->name);
		return ENVCTL_EXIT_USAGE;
	}
	return ENVCTL_CONTINUE;
}

struct client *
envctl_client(struct envctl *e)
{
	char *cause = NULL;

	if (e->client_ready)
		return &e->client;
	if (client_init(&e->client, e->url, e->token, e->user, &cause) != 0) {
		envctl_fail("%s", cause);
		free(cause);
		client_free(&e->client);
		return NULL;
	}
	e->client.verbose = e->verbose;
	e->client_ready = 1;
	return &e->client;
}

int
envctl_add_env(struct json_object *obj, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *k;

	if (eq == NULL || eq == kv)
		return -EINVAL;
	k = xstrndup(kv, (size_t)(eq - kv));
	json_object_object_add(obj, k, json_object_new_string(eq + 1));
	free(k);
	return 0;
}

int
envctl_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = (int64_t)v;
	return 0;
}

int
envctl_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
envctl_sign_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "op", required_argument, NULL, 'o' },
		{ "path", required_argument, NULL, 'p' },
		{ "expires", required_argument, NULL, 'x' },
		{ "now", required_argument, NULL, 'n' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	const char *op = NULL, *path = "", *token, *base;
	char *url = NULL, *cause = NULL;
	int64_t expires = 0, now = 0;
	int ch, r, has_exp = 0, has_now = 0;

	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			op = optarg;
			break;
		case 'p':
			path = optarg;
			break;
		case 'x':
			if (envctl_parse_int(optarg, INT64_MIN, INT64_MAX,
			    &expires) != 0)
				return envctl_usage(cmd, "--expires needs "
				    "a number of seconds, not '%s'", optarg);
			has_exp = 1;
			break;
		case 'n':
			if (envctl_parse_int(optarg, INT64_MIN, INT64_MAX,
			    &now) != 0)
				return envctl_usage(cmd, "--now needs Unix "
				    "seconds, not '%s'", optarg);
			has_now = 1;
			break;
		default:
			if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
			    ENVCTL_CONTINUE)
				return r;
		}
	}
	if (optind != argc)
		return envctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind]);
	if (op == NULL)
		return envctl_usage(cmd, "--op read|write is required");
	if (strcmp(op, "read") != 0 && strcmp(op, "write") != 0)
		return envctl_usage(cmd, "--op must be read or write, not '%s'",
		    op);
	token = client_default_token(e->token);
	if (token == NULL || *token == '\0')
		return envctl_usage(cmd, "--token (or $ENVD_ACCESS_TOKEN) is "
		    "required");
	base = client_default_url(e->url);
	if (!has_now)
		now = (int64_t)time(NULL);
	if (sign_url(base, path, op, e->user, token, has_exp, now + expires,
	    &url, &cause) != 0) {
		r = envctl_fail("%s", cause);
		goto out;
	}
	printf("%s\n", url);
	r = ENVCTL_EXIT_OK;
out:
	free(url);
	free(cause);
	return r;
}

static int
envctl_token_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "sandbox", required_argument, NULL, 's' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	const char *keyfile = NULL, *sandbox = NULL;
	unsigned char *key = NULL;
	char out[SIGN_TOKEN_LEN + 1];
	size_t len = 0;
	ssize_t n;
	int ch, r, fd = -1;

	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			keyfile = optarg;
			break;
		case 's':
			sandbox = optarg;
			break;
		default:
			if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
			    ENVCTL_CONTINUE)
				return r;
		}
	}
	if (optind != argc)
		return envctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind]);
	if (keyfile == NULL || sandbox == NULL)
		return envctl_usage(cmd, "--key-file and --sandbox are "
		    "required");
	if ((key = sodium_malloc(ENVCTL_KEY_MAX + 1)) == NULL) {
		r = envctl_fail("cannot allocate key memory");
		goto out;
	}
	if ((fd = open(keyfile, O_RDONLY | O_CLOEXEC)) < 0) {
		r = envctl_fail("%s: %s", keyfile, strerror(errno));
		goto out;
	}
	for (;;) {
		n = read(fd, key + len, ENVCTL_KEY_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = envctl_fail("%s: %s", keyfile, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > ENVCTL_KEY_MAX) {
			r = envctl_fail("%s: key longer than %d bytes",
			    keyfile, ENVCTL_KEY_MAX);
			goto out;
		}
	}
	if (len > 0 && key[len - 1] == '\n')
		len--;
	if (len == 0) {
		r = envctl_fail("%s: the key is empty", keyfile);
		goto out;
	}
	sign_token(key, len, sandbox, out);
	printf("%s\n", out);
	r = ENVCTL_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	sodium_free(key);
	return r;
}

static int
envctl_init_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "default-user", required_argument, NULL, 'U' },
		{ "default-workdir", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "access-token", required_argument, NULL, 'a' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	static const char *const hdrs[] = {
		"Content-Type: application/json", NULL,
	};
	struct json_object *body, *envs = NULL;
	struct client_resp resp;
	struct client *c;
	const char *s;
	char *cause = NULL;
	int ch, r;

	body = json_object_new_object();
	client_resp_init(&resp);
	while ((ch = getopt_long(argc, argv, "hve:", opts, NULL)) != -1) {
		switch (ch) {
		case 'U':
			json_object_object_add(body, "defaultUser",
			    json_object_new_string(optarg));
			break;
		case 'w':
			json_object_object_add(body, "defaultWorkdir",
			    json_object_new_string(optarg));
			break;
		case 'a':
			json_object_object_add(body, "accessToken",
			    json_object_new_string(optarg));
			break;
		case 'e':
			if (envs == NULL) {
				envs = json_object_new_object();
				json_object_object_add(body, "envVars", envs);
			}
			if (envctl_add_env(envs, optarg) != 0) {
				r = envctl_usage(cmd, "--env needs K=V, not "
				    "'%s'", optarg);
				goto out;
			}
			break;
		default:
			if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
			    ENVCTL_CONTINUE)
				goto out;
		}
	}
	if (optind != argc) {
		r = envctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind]);
		goto out;
	}
	if ((c = envctl_client(e)) == NULL) {
		r = ENVCTL_EXIT_FAIL;
		goto out;
	}
	s = json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (client_request(c, "POST", "/init", hdrs, s, strlen(s), 0, &resp,
	    &cause) != 0) {
		r = envctl_fail("%s", cause);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		free(cause);
		cause = client_http_error(resp.status, buf_ptr(&resp.body),
		    buf_len(&resp.body));
		r = envctl_fail("init: %s", cause);
		goto out;
	}
	r = ENVCTL_EXIT_OK;
out:
	json_object_put(body);
	client_resp_free(&resp);
	free(cause);
	return r;
}

/* Parse the options of envs/metrics, GET path and parse the JSON answer
 * into *out (owned by the caller). Returns ENVCTL_CONTINUE when *out is
 * set, else the exit status. */
static int
envctl_get_json(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv, const char *path, struct json_object **out)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	struct client_resp resp;
	struct client *c;
	char *cause = NULL;
	int ch, r;

	*out = NULL;
	client_resp_init(&resp);
	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		if (ch == 'j')
			e->json = 1;
		else if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
		    ENVCTL_CONTINUE)
			goto out;
	}
	if (optind != argc) {
		r = envctl_usage(cmd, "unexpected argument '%s'",
		    argv[optind]);
		goto out;
	}
	if ((c = envctl_client(e)) == NULL) {
		r = ENVCTL_EXIT_FAIL;
		goto out;
	}
	if (client_request(c, "GET", path, NULL, NULL, 0, 0, &resp,
	    &cause) != 0) {
		r = envctl_fail("%s", cause);
		goto out;
	}
	if (resp.status != 200) {
		free(cause);
		cause = client_http_error(resp.status, buf_ptr(&resp.body),
		    buf_len(&resp.body));
		r = envctl_fail("%s: %s", cmd->name, cause);
		goto out;
	}
	*out = client_parse_json(buf_ptr(&resp.body), buf_len(&resp.body));
	if (*out == NULL || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		r = envctl_fail("%s: GET %s did not answer a JSON object",
		    cmd->name, path);
		goto out;
	}
	r = ENVCTL_CONTINUE;
out:
	client_resp_free(&resp);
	free(cause);
	return r;
}

static int
envctl_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
envctl_envs_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	struct json_object *obj = NULL, *v;
	const char **keys = NULL;
	size_t n = 0, i;
	int r;

	if ((r = envctl_get_json(e, cmd, argc, argv, "/envs", &obj)) !=
	    ENVCTL_CONTINUE)
		goto out;
	r = ENVCTL_EXIT_OK;
	if (e->json) {
		printf("%s\n", json_object_to_json_string_ext(obj,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		goto out;
	}
	keys = xcalloc((size_t)json_object_object_length(obj) + 1,
	    sizeof(*keys));
	json_object_object_foreach(obj, k, val) {
		(void)val;
		keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), envctl_key_cmp);
	for (i = 0; i < n; i++) {
		json_object_object_get_ex(obj, keys[i], &v);
		printf("%s=%s\n", keys[i], json_object_get_string(v));
	}
out:
	free(keys);
	json_object_put(obj);
	return r;
}

static int
envctl_metrics_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	struct json_object *obj = NULL;
	int r;

	if ((r = envctl_get_json(e, cmd, argc, argv, "/metrics", &obj)) !=
	    ENVCTL_CONTINUE)
		goto out;
	r = ENVCTL_EXIT_OK;
	printf("%s\n", json_object_to_json_string_ext(obj,
	    (e->json ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY) |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(obj);
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", no_argument, NULL, 'V' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	const struct envctl_cmd *const *c;
	const struct envctl_cmd *cmd = NULL;
	struct envctl e;
	const char *name;
	int ch, r;

	memset(&e, 0, sizeof(e));
	while ((ch = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
		switch (ch) {
		case ENVCTL_OPT_URL:
			e.url = optarg;
			break;
		case ENVCTL_OPT_TOKEN:
			e.token = optarg;
			break;
		case ENVCTL_OPT_USER:
			e.user = optarg;
			break;
		case 'v':
			e.verbose = 1;
			break;
		case 'h':
			envctl_main_usage(stdout);
			return ENVCTL_EXIT_OK;
		case 'V':
			printf("envctl %s (envd %s)\n", PACKAGE_VERSION,
			    ENVD_COMPAT_VERSION);
			return ENVCTL_EXIT_OK;
		default:
			envctl_main_usage(stderr);
			return ENVCTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		envctl_main_usage(stderr);
		return ENVCTL_EXIT_USAGE;
	}
	name = argv[optind];
	if (strcmp(name, "help") == 0) {
		if (optind + 1 >= argc) {
			envctl_main_usage(stdout);
			return ENVCTL_EXIT_OK;
		}
		name = argv[optind + 1];
		for (c = envctl_cmds; *c != NULL; c++)
			if (strcmp((*c)->name, name) == 0) {
				envctl_help(*c);
				return ENVCTL_EXIT_OK;
			}
		fprintf(stderr, "envctl: unknown command '%s'\n", name);
		return ENVCTL_EXIT_USAGE;
	}
	for (c = envctl_cmds; *c != NULL; c++)
		if (strcmp((*c)->name, name) == 0)
			cmd = *c;
	if (cmd == NULL) {
		fprintf(stderr, "envctl: unknown command '%s'\n", name);
		envctl_main_usage(stderr);
		return ENVCTL_EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "envctl: libsodium failed to initialise\n");
		return ENVCTL_EXIT_FAIL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "envctl: libcurl failed to initialise\n");
		return ENVCTL_EXIT_FAIL;
	}
	argc -= optind;
	argv += optind;
	optind = 0;
	r = cmd->run(&e, cmd, argc, argv);
	if (e.client_ready)
		client_free(&e.client);
	curl_global_cleanup();
	if (fflush(stdout) != 0 && r == ENVCTL_EXIT_OK) {
		fprintf(stderr, "envctl: writing output: %s\n",
		    strerror(errno));
		r = ENVCTL_EXIT_FAIL;
	}
	return r;
}
