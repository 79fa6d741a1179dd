/*
 * files.c - "envctl files": download, upload and the Filesystem RPCs.
 *
 * get and put use GET/POST /files (the user goes in the "username" query
 * parameter); ls, stat, rm, mkdir and mv are unary Connect JSON calls to
 * filesystem.Filesystem (the user goes in the Basic header). Downloads
 * stream into a temporary file beside the target and are renamed into place
 * only when complete; uploads stream the local file as
 * application/octet-stream.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "envctl.h"
#include "xalloc.h"

#define FILES_ERR_MAX (64 * 1024)

/* One download in flight. */
struct files_dl {
	CURL *easy;		/* the transfer, borrowed */
	int fd;			/* where a 200 body goes */
	long status;		/* HTTP status, known at the first byte */
	struct buf err;		/* body of a non-200 answer */
	int werr;		/* errno of a failed local write */
};

static int files_get_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int files_put_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int files_ls_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int files_stat_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int files_rm_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int files_mkdir_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int files_mv_run(struct envctl *, const struct envctl_cmd *, int,
    char **);
static int files_args(struct envctl *, const struct envctl_cmd *, int,
    char **, int, int *);
static char *files_query(const char *, const char *);
static size_t files_dl_cb(char *, size_t, size_t, void *);
static int files_rpc(struct envctl *, const char *, struct json_object *,
    struct json_object **, int);
static void files_print_entry(const struct json_object *);
static void files_print_stat(const struct json_object *);
static const char *files_str(const struct json_object *, const char *);

static const struct envctl_cmd files_get_cmd = {
	"files get", "files get REMOTE [LOCAL|-]",
	"Download REMOTE (GET /files) to LOCAL, to standard output for '-',\n"
	"or by default to its base name in the current directory. LOCAL is\n"
	"replaced only once the whole file has arrived. Relative REMOTE paths\n"
	"are relative to the user's home directory.\n",
	files_get_run,
};

static const struct envctl_cmd files_put_cmd = {
	"files put", "files put LOCAL|- REMOTE",
	"Upload LOCAL (or standard input for '-') to REMOTE (POST /files,\n"
	"application/octet-stream), creating missing parent directories and\n"
	"replacing an existing file. Prints the absolute path written.\n",
	files_put_run,
};

static const struct envctl_cmd files_ls_cmd = {
	"files ls", "files ls [--depth N] [--json] PATH",
	"List the directory PATH (Filesystem.ListDir), one entry per line:\n"
	"permissions, owner, group, size, modification time, path, and for\n"
	"symbolic links the resolved target.\n"
	"\n"
	"  --depth N  also list subdirectories down to N levels (default 1)\n"
	"  --json     print the daemon's answer as JSON\n",
	files_ls_run,
};

static const struct envctl_cmd files_stat_cmd = {
	"files stat", "files stat [--json] PATH",
	"Describe PATH (Filesystem.Stat) without following a final symbolic\n"
	"link.\n"
	"\n"
	"  --json  print the daemon's answer as JSON\n",
	files_stat_run,
};

static const struct envctl_cmd files_rm_cmd = {
	"files rm", "files rm PATH",
	"Remove PATH (Filesystem.Remove), recursively for a directory, like\n"
	"rm -rf: a missing PATH is not an error.\n",
	files_rm_run,
};

static const struct envctl_cmd files_mkdir_cmd = {
	"files mkdir", "files mkdir [-p] PATH",
	"Create the directory PATH and its missing parents\n"
	"(Filesystem.MakeDir).\n"
	"\n"
	"  -p, --parents  no error if PATH already is a directory\n",
	files_mkdir_run,
};

static const struct envctl_cmd files_mv_cmd = {
	"files mv", "files mv SOURCE DESTINATION",
	"Rename SOURCE to DESTINATION (Filesystem.Move), creating the\n"
	"destination's missing parent directories.\n",
	files_mv_run,
};

static const struct envctl_cmd *const files_cmds[] = {
	&files_get_cmd, &files_put_cmd, &files_ls_cmd, &files_stat_cmd,
	&files_rm_cmd, &files_mkdir_cmd, &files_mv_cmd, NULL,
};

const struct envctl_cmd files_cmd = {
	"files", "files get|put|ls|stat|rm|mkdir|mv ...",
	"Work with files in the sandbox:\n"
	"  files get REMOTE [LOCAL|-]        download\n"
	"  files put LOCAL|- REMOTE          upload\n"
	"  files ls [--depth N] PATH         list a directory\n"
	"  files stat PATH                   describe a path\n"
	"  files rm PATH                     remove\n"
	"  files mkdir [-p] PATH             create a directory\n"
	"  files mv SOURCE DESTINATION       rename\n"
	"\"envctl files COMMAND --help\" tells more.\n",
	files_run,
};

int
files_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	const struct envctl_cmd *const *c;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "+hv", opts, NULL)) != -1)
		if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
		    ENVCTL_CONTINUE)
			return r;
	if (optind >= argc)
		return envctl_usage(cmd, "missing subcommand");
	for (c = files_cmds; *c != NULL; c++) {
		if (strcmp((*c)->name + strlen("files "), argv[optind]) == 0) {
			argc -= optind;
			argv += optind;
			optind = 0;
			return (*c)->run(e, *c, argc, argv);
		}
	}
	return envctl_usage(cmd, "unknown subcommand '%s'", argv[optind]);
}

/* Parse only common options (and --json when json is set); exactly nargs
 * operands must follow (-1: one or two). *first is their index. */
static int
files_args(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv, int nargs, int *first)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	int ch, r, n;

	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		if (ch == 'j')
			e->json = 1;
		else if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
		    ENVCTL_CONTINUE)
			return r;
	}
	n = argc - optind;
	if (nargs >= 0 ? n != nargs : (n < 1 || n > 2))
		return envctl_usage(cmd, n == 0 ? "missing operand" :
		    "wrong number of operands");
	*first = optind;
	return ENVCTL_CONTINUE;
}

/* "/files?username=…&path=…", in the SDK's order. */
static char *
files_query(const char *path, const char *user)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	if (buf_puts(&b, "/files") != 0 ||
	    (user != NULL && client_query_add(&b, "username", user) != 0) ||
	    client_query_add(&b, "path", path) != 0) {
		buf_reset(&b);
		return NULL;
	}
	return buf_steal_str(&b, NULL);
}

static size_t
files_dl_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct files_dl *dl = arg;
	size_t n = size * nmemb;
	int r;

	if (dl->status == 0)
		curl_easy_getinfo(dl->easy, CURLINFO_RESPONSE_CODE,
		    &dl->status);
	if (dl->status != 200) {
		(void)buf_append(&dl->err, p, n);
		return n;
	}
	if ((r = envctl_write_all(dl->fd, p, n)) != 0) {
		dl->werr = -r;
		return 0;
	}
	return n;
}

static int
files_get_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	struct files_dl dl;
	struct curl_slist *headers = NULL;
	struct client *c;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *pq = NULL, *tmp = NULL, *copy = NULL, *cause = NULL;
	const char *remote, *local;
	mode_t mask;
	CURLcode cc;
	int first, r, to_stdout;

	memset(&dl, 0, sizeof(dl));
	dl.fd = -1;
	buf_init(&dl.err, FILES_ERR_MAX);
	if ((r = files_args(e, cmd, argc, argv, -1, &first)) !=
	    ENVCTL_CONTINUE)
		goto out;
	remote = argv[first];
	if (first + 1 < argc)
		local = argv[first + 1];
	else {
		copy = xstrdup(remote);
		local = basename(copy);
		if (*local == '\0' || strcmp(local, "/") == 0 ||
		    strcmp(local, ".") == 0 || strcmp(local, "..") == 0) {
			r = envctl_usage(cmd, "cannot name a local file after "
			    "'%s': give LOCAL", remote);
			goto out;
		}
	}
	to_stdout = strcmp(local, "-") == 0;
	if ((c = envctl_client(e)) == NULL) {
		r = ENVCTL_EXIT_FAIL;
		goto out;
	}
	if (to_stdout)
		dl.fd = STDOUT_FILENO;
	else {
		tmp = xasprintf("%s.envctl-XXXXXX", local);
		if ((dl.fd = mkstemp(tmp)) < 0) {
			r = envctl_fail("%s: %s", local, strerror(errno));
			free(tmp);
			tmp = NULL;
			goto out;
		}
	}
	if ((pq = files_query(remote, c->user)) == NULL) {
		r = envctl_fail("path too long");
		goto out;
	}
	dl.easy = client_easy(c, pq, 0, &headers);
	curl_easy_setopt(dl.easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(dl.easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(dl.easy, CURLOPT_WRITEFUNCTION, files_dl_cb);
	curl_easy_setopt(dl.easy, CURLOPT_WRITEDATA, &dl);
	curl_easy_setopt(dl.easy, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(dl.easy);
	if (dl.status == 0)
		curl_easy_getinfo(dl.easy, CURLINFO_RESPONSE_CODE, &dl.status);
	if (dl.werr != 0) {
		r = envctl_fail("%s: %s", local, strerror(dl.werr));
		goto out;
	}
	if (cc != CURLE_OK) {
		cause = client_curl_error(c, cc, errbuf);
		r = envctl_fail("%s", cause);
		goto out;
	}
	if (dl.status != 200) {
		cause = client_http_error(dl.status, buf_ptr(&dl.err),
		    buf_len(&dl.err));
		r = envctl_fail("%s", cause);
		goto out;
	}
	if (tmp != NULL) {
		mask = umask(0);
		umask(mask);
		if (fchmod(dl.fd, 0666 & ~mask) != 0 || fsync(dl.fd) != 0 ||
		    close(dl.fd) != 0) {
			dl.fd = -1;
			r = envctl_fail("%s: %s", local, strerror(errno));
			goto out;
		}
		dl.fd = -1;
		if (rename(tmp, local) != 0) {
			r = envctl_fail("%s: %s", local, strerror(errno));
			goto out;
		}
		free(tmp);
		tmp = NULL;
	}
	r = ENVCTL_EXIT_OK;
out:
	if (dl.fd >= 0 && dl.fd != STDOUT_FILENO)
		close(dl.fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	if (dl.easy != NULL)
		curl_easy_cleanup(dl.easy);
	curl_slist_free_all(headers);
	buf_reset(&dl.err);
	free(pq);
	free(copy);
	free(cause);
	return r;
}

static int
files_put_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	struct client_resp resp;
	struct curl_slist *headers = NULL;
	struct json_object *arr = NULL, *ent;
	struct client *c;
	struct stat sb;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *pq = NULL, *cause = NULL;
	const char *local, *remote, *p;
	FILE *in = NULL;
	CURLcode cc;
	CURL *easy = NULL;
	size_t i;
	int first, r;

	client_resp_init(&resp);
	if ((r = files_args(e, cmd, argc, argv, 2, &first)) != ENVCTL_CONTINUE)
		goto out;
	local = argv[first];
	remote = argv[first + 1];
	if (strcmp(local, "-") == 0)
		in = stdin;
	else if ((in = fopen(local, "rb")) == NULL) {
		r = envctl_fail("%s: %s", local, strerror(errno));
		goto out;
	}
	if (fstat(fileno(in), &sb) != 0) {
		r = envctl_fail("%s: %s", local, strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		r = envctl_fail("%s: is a directory", local);
		goto out;
	}
	if ((c = envctl_client(e)) == NULL) {
		r = ENVCTL_EXIT_FAIL;
		goto out;
	}
	if ((pq = files_query(remote, c->user)) == NULL) {
		r = envctl_fail("path too long");
		goto out;
	}
	easy = client_easy(c, pq, 0, &headers);
	headers = curl_slist_append(headers,
	    "Content-Type: application/octet-stream");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_READDATA, in);
	if (S_ISREG(sb.st_mode))
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)sb.st_size);
	else
		headers = curl_slist_append(headers,
		    "Transfer-Encoding: chunked");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, client_resp_body_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp.status);
	if (cc != CURLE_OK) {
		if (ferror(in))
			cause = xasprintf("%s: read error", local);
		else
			cause = client_curl_error(c, cc, errbuf);
		r = envctl_fail("%s", cause);
		goto out;
	}
	if (resp.status != 200) {
		cause = client_http_error(resp.status, buf_ptr(&resp.body),
		    buf_len(&resp.body));
		r = envctl_fail("%s", cause);
		goto out;
	}
	arr = client_parse_json(buf_ptr(&resp.body), buf_len(&resp.body));
	if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
		r = envctl_fail("upload: the daemon's answer is not a JSON "
		    "array");
		goto out;
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		ent = json_object_array_get_idx(arr, i);
		if ((p = files_str(ent, "path")) != NULL)
			printf("%s\n", p);
	}
	r = ENVCTL_EXIT_OK;
out:
	if (in != NULL && in != stdin)
		fclose(in);
	if (easy != NULL)
		curl_easy_cleanup(easy);
	curl_slist_free_all(headers);
	json_object_put(arr);
	client_resp_free(&resp);
	free(pq);
	free(cause);
	return r;
}

/* A borrowed string member of obj, or NULL. */
static const char *
files_str(const struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj == NULL ||
	    !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* One Filesystem RPC; reports a failure itself. With ok_exists an
 * already_exists answer counts as success. */
static int
files_rpc(struct envctl *e, const char *method, struct json_object *req,
    struct json_object **out, int ok_exists)
{
	struct client *c;
	char *proc, *cause = NULL;
	int r, err;

	*out = NULL;
	if ((c = envctl_client(e)) == NULL)
		return ENVCTL_EXIT_FAIL;
	proc = xasprintf("filesystem.Filesystem/%s", method);
	err = client_rpc(c, proc, req, out, &cause);
	if (err == 0 || (ok_exists && err == -EEXIST))
		r = ENVCTL_EXIT_OK;
	else
		r = envctl_fail("%s", cause);
	free(cause);
	free(proc);
	return r;
}

/* "-rw-r--r-- user user 11 2026-08-21T10:15:30Z /home/user/a.txt". */
static void
files_print_entry(const struct json_object *ent)
{
	const char *perm = files_str(ent, "permissions");
	const char *owner = files_str(ent, "owner");
	const char *group = files_str(ent, "group");
	const char *size = files_str(ent, "size");
	const char *mtime = files_str(ent, "modifiedTime");
	const char *path = files_str(ent, "path");
	const char *target = files_str(ent, "symlinkTarget");

	printf("%s %-8s %-8s %10s %s %s", perm ? perm : "?",
	    owner ? owner : "?", group ? group : "?", size ? size : "0",
	    mtime ? mtime : "-", path ? path : "?");
	if (target != NULL)
		printf(" -> %s", target);
	printf("\n");
}

static int
files_ls_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "depth", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	struct json_object *req, *res = NULL, *ents;
	int64_t depth = 0;
	size_t i;
	int ch, r;

	req = json_object_new_object();
	while ((ch = getopt_long(argc, argv, "hvd:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (envctl_parse_int(optarg, 1, 0xffffffffLL,
			    &depth) != 0) {
				r = envctl_usage(cmd, "--depth needs a "
				    "positive number, not '%s'", optarg);
				goto out;
			}
			break;
		case 'j':
			e->json = 1;
			break;
		default:
			if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
			    ENVCTL_CONTINUE)
				goto out;
		}
	}
	if (argc - optind != 1) {
		r = envctl_usage(cmd, "expected one PATH");
		goto out;
	}
	json_object_object_add(req, "path",
	    json_object_new_string(argv[optind]));
	if (depth > 0)
		json_object_object_add(req, "depth",
		    json_object_new_int64(depth));
	if ((r = files_rpc(e, "ListDir", req, &res, 0)) != ENVCTL_EXIT_OK)
		goto out;
	if (e->json) {
		printf("%s\n", json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		goto out;
	}
	if (json_object_object_get_ex(res, "entries", &ents) &&
	    json_object_is_type(ents, json_type_array))
		for (i = 0; i < json_object_array_length(ents); i++)
			files_print_entry(json_object_array_get_idx(ents, i));
out:
	json_object_put(req);
	json_object_put(res);
	return r;
}

/* One "key: value" line per field of an EntryInfo. */
static void
files_print_stat(const struct json_object *ent)
{
	static const char *const keys[][2] = {
		{ "name", "name" }, { "path", "path" }, { "type", "type" },
		{ "size", "size" }, { "permissions", "permissions" },
		{ "owner", "owner" }, { "group", "group" },
		{ "modifiedTime", "modified" },
		{ "symlinkTarget", "symlink target" },
	};
	struct json_object *v, *meta;
	const char *s;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if ((s = files_str(ent, keys[i][0])) == NULL)
			continue;
		if (strcmp(keys[i][0], "type") == 0 &&
		    strncmp(s, "FILE_TYPE_", 10) == 0) {
			printf("type: ");
			for (s += 10; *s != '\0'; s++)
				putchar(*s >= 'A' && *s <= 'Z' ?
				    *s - 'A' + 'a' : *s);
			putchar('\n');
			continue;
		}
		printf("%s: %s\n", keys[i][1], s);
	}
	if (json_object_object_get_ex(ent, "mode", &v) &&
	    json_object_is_type(v, json_type_int))
		printf("mode: %04o\n", (unsigned)json_object_get_int64(v));
	if (json_object_object_get_ex(ent, "metadata", &meta) &&
	    json_object_is_type(meta, json_type_object)) {
		json_object_object_foreach(meta, k, mv)
			printf("metadata: %s=%s\n", k,
			    json_object_get_string(mv));
	}
}

static int
files_stat_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	struct json_object *req = NULL, *res = NULL, *ent;
	int first, r;

	if ((r = files_args(e, cmd, argc, argv, 1, &first)) != ENVCTL_CONTINUE)
		goto out;
	req = json_object_new_object();
	json_object_object_add(req, "path",
	    json_object_new_string(argv[first]));
	if ((r = files_rpc(e, "Stat", req, &res, 0)) != ENVCTL_EXIT_OK)
		goto out;
	if (e->json)
		printf("%s\n", json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (json_object_object_get_ex(res, "entry", &ent))
		files_print_stat(ent);
out:
	json_object_put(req);
	json_object_put(res);
	return r;
}

static int
files_rm_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	struct json_object *req = NULL, *res = NULL;
	int first, r;

	if ((r = files_args(e, cmd, argc, argv, 1, &first)) != ENVCTL_CONTINUE)
		goto out;
	req = json_object_new_object();
	json_object_object_add(req, "path",
	    json_object_new_string(argv[first]));
	r = files_rpc(e, "Remove", req, &res, 0);
out:
	json_object_put(req);
	json_object_put(res);
	return r;
}

static int
files_mkdir_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "parents", no_argument, NULL, 'p' },
		ENVCTL_COMMON_OPTIONS, { NULL, 0, NULL, 0 },
	};
	struct json_object *req = NULL, *res = NULL;
	int ch, r, parents = 0;

	while ((ch = getopt_long(argc, argv, "hvp", opts, NULL)) != -1) {
		if (ch == 'p')
			parents = 1;
		else if ((r = envctl_common_opt(e, cmd, ch, optarg)) !=
		    ENVCTL_CONTINUE)
			goto out;
	}
	if (argc - optind != 1) {
		r = envctl_usage(cmd, "expected one PATH");
		goto out;
	}
	req = json_object_new_object();
	json_object_object_add(req, "path",
	    json_object_new_string(argv[optind]));
	r = files_rpc(e, "MakeDir", req, &res, parents);
out:
	json_object_put(req);
	json_object_put(res);
	return r;
}

static int
files_mv_run(struct envctl *e, const struct envctl_cmd *cmd, int argc,
    char **argv)
{
	struct json_object *req = NULL, *res = NULL;
	int first, r;

	if ((r = files_args(e, cmd, argc, argv, 2, &first)) != ENVCTL_CONTINUE)
		goto out;
	req = json_object_new_object();
	json_object_object_add(req, "source",
	    json_object_new_string(argv[first]));
	json_object_object_add(req, "destination",
	    json_object_new_string(argv[first + 1]));
	r = files_rpc(e, "Move", req, &res, 0);
out:
	json_object_put(req);
	json_object_put(res);
	return r;
}
