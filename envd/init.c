/*
 * init.c - POST /init.
 *
 * The body is collected into a buffer of our own (wiped on growth and at
 * the end of the request), decoded by init_req.c, authorised by auth.c and
 * applied in upstream's order: clock, envVars, token, defaultUser,
 * defaultWorkdir, caBundle. The handler runs to completion on the loop
 * thread, so one /init at a time needs no lock.
 *
 * Not here: the metadata service (MMDS), NFS volume mounts and the
 * hyperloop /etc/hosts entry; such fields are accepted and ignored.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "defaults.h"
#include "envs.h"
#include "errtext.h"
#include "fs_entry.h"
#include "httpd.h"
#include "init.h"
#include "init_req.h"
#include "log.h"
#include "xalloc.h"

#define INIT_BODY_MAX (1024 * 1024)
#define INIT_CA_BUNDLE_DEFAULT "/etc/ssl/certs/ca-certificates.crt"
#define INIT_CA_PERSIST_DEFAULT "/usr/local/share/ca-certificates/e2b-ca.crt"
#define INIT_CA_BUNDLE_MAX (64 * 1024 * 1024)
#define INIT_CLOCK_PAST_NS (50LL * 1000 * 1000)
#define INIT_CLOCK_FUTURE_NS (5LL * 1000 * 1000 * 1000)

/* The request body as it arrives; wiped whenever it is dropped. */
struct init_body {
	uint8_t *data;		/* owned, cap bytes */
	size_t len;		/* bytes received */
	size_t cap;
};

static int init_isnotfc = 1;		/* no metadata service */
static int init_mmds_noted;		/* the MMDS log line was written */
static int init_clock_warned;		/* a clock failure was logged */
static int init_have_ts;		/* a timestamp was applied */
static int64_t init_ts_sec;		/* newest applied timestamp */
static long init_ts_nsec;
static char *init_ca_last;		/* last installed PEM, normalised */

static void init_begin(struct req *);
static int init_body_cb(struct req *, const uint8_t *, size_t);
static void init_end(struct req *);
static void init_done(struct req *, int);
static void init_body_wipe(struct init_body *);
static int64_t init_ns(int64_t, long);
static void init_clock(const struct init_req *);
static int init_apply(const struct init_req *, char **);
static int init_mkdirs(const char *);
static int init_write_file(const char *, const char *, size_t, mode_t);
static int init_ca_install(const char *, char **);
static void init_ca_remove(const char *, const char *);
static const char *init_path_env(const char *, const char *);

const struct req_handler init_handler = {
	.name = "init",
	.begin = init_begin,
	.body = init_body_cb,
	.end = init_end,
	.done = init_done,
};

void
init_setup(int isnotfc)
{
	init_isnotfc = isnotfc;
}

const char *
init_default_user(void)
{
	return defaults_user();
}

const char *
init_default_workdir(void)
{
	return defaults_workdir();
}

void
init_free(void)
{
	defaults_free();
	free(init_ca_last);
	init_ca_last = NULL;
	init_have_ts = 0;
}

int
init_clock_should_set(int64_t now_ns, int64_t host_ns)
{
	if (host_ns > INT64_MIN + INIT_CLOCK_PAST_NS &&
	    now_ns < host_ns - INIT_CLOCK_PAST_NS)
		return 1;
	if (host_ns < INT64_MAX - INIT_CLOCK_FUTURE_NS &&
	    now_ns > host_ns + INIT_CLOCK_FUTURE_NS)
		return 1;
	return 0;
}

/* sec/nsec as nanoseconds, saturating outside the int64 range. */
static int64_t
init_ns(int64_t sec, long nsec)
{
	if (sec > INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	if (sec < INT64_MIN / 1000000000 + 1)
		return INT64_MIN;
	return sec * 1000000000 + nsec;
}

static void
init_body_wipe(struct init_body *b)
{
	if (b->data != NULL) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

static void
init_begin(struct req *r)
{
	req_body_mode(r, REQ_BODY_STREAM, 0);
	req_set_data(r, xcalloc(1, sizeof(struct init_body)));
}

/* Append a chunk; growth copies, then wipes, the old storage. */
static int
init_body_cb(struct req *r, const uint8_t *data, size_t len)
{
	struct init_body *b = req_data(r);
	uint8_t *n;
	size_t cap;

	if (len > INIT_BODY_MAX - b->len) {
		init_body_wipe(b);
		req_respond_error(r, 413, "request body too large");
		return -1;
	}
	if (b->len + len > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		if (cap > INIT_BODY_MAX)
			cap = INIT_BODY_MAX;
		n = xmalloc(cap);
		if (b->len > 0)
			memcpy(n, b->data, b->len);
		if (b->data != NULL) {
			sodium_memzero(b->data, b->cap);
			free(b->data);
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void
init_end(struct req *r)
{
	struct init_body *b = req_data(r);
	struct init_req *ir = NULL;
	enum auth_init_verdict v;
	char *cause = NULL;
	int rc;

	rc = init_req_parse(b->data, b->len, &ir);
	init_body_wipe(b);
	if (rc == -ENOMEM) {
		req_respond(r, 500, NULL, NULL, 0);
		goto out;
	}
	if (rc != 0) {
		log_debug("init: malformed request body");
		req_respond(r, 400, NULL, NULL, 0);
		goto out;
	}
	if (!init_isnotfc && !init_mmds_noted) {
		log_info("init: the metadata service is not consulted; "
		    "tokens are checked against the stored one only");
		init_mmds_noted = 1;
	}
	v = auth_init_check(ir->token, ir->token_len);
	if (v != AUTH_INIT_ALLOW) {
		log_warn("init: %s", auth_init_message(v));
		req_respond_text(r, 401, auth_init_message(v));
		goto out;
	}
	if (ir->has_ts && init_have_ts && (ir->ts_sec < init_ts_sec ||
	    (ir->ts_sec == init_ts_sec && ir->ts_nsec < init_ts_nsec))) {
		log_debug("init: stale timestamp, nothing applied");
		goto ok;
	}
	if (ir->has_ts) {
		init_have_ts = 1;
		init_ts_sec = ir->ts_sec;
		init_ts_nsec = ir->ts_nsec;
	}
	if ((rc = init_apply(ir, &cause)) != 0) {
		if (rc == -ENOMEM) {
			req_respond(r, 500, NULL, NULL, 0);
			goto out;
		}
		log_error("init: %s", cause);
		req_respond_text(r, 400, cause);
		goto out;
	}
ok:
	req_add_header(r, "Cache-Control", "no-store");
	req_respond(r, 204, NULL, NULL, 0);
out:
	free(cause);
	init_req_free(ir);
}

static void
init_done(struct req *r, int ok)
{
	struct init_body *b = req_data(r);

	if (b == NULL)
		return;
	init_body_wipe(b);
	free(b);
	req_set_data(r, NULL);
}

/* Step CLOCK_REALTIME to the host's time when it is too far off. */
static void
init_clock(const struct init_req *ir)
{
	struct timespec now, ts;
	int64_t host;

	host = init_ns(ir->ts_sec, ir->ts_nsec);
	clock_gettime(CLOCK_REALTIME, &now);
	if (!init_clock_should_set(init_ns(now.tv_sec, now.tv_nsec), host))
		return;
	ts.tv_sec = (time_t)ir->ts_sec;
	ts.tv_nsec = ir->ts_nsec;
	if (clock_settime(CLOCK_REALTIME, &ts) == 0) {
		fs_entry_forget_bare();
		log_info("init: system clock set from the host's timestamp");
		return;
	}
	if (!init_clock_warned) {
		log_warn("init: cannot set the system clock: %s%s",
		    strerror(errno), errno == EPERM ?
		    " (CAP_SYS_TIME missing); going on" : "");
		init_clock_warned = 1;
	} else {
		log_debug("init: cannot set the system clock: %s",
		    strerror(errno));
	}
}

/* Apply an authorised request. On failure *cause is the 400 text. */
static int
init_apply(const struct init_req *ir, char **cause)
{
	int rc;

	*cause = NULL;
	if (ir->has_ts)
		init_clock(ir);
	if (ir->has_env) {
		envs_replace((const char *const *)ir->env_keys,
		    (const char *const *)ir->env_values, ir->nenv);
		log_debug("init: %zu env vars set", ir->nenv);
	}
	if (ir->token != NULL) {
		if ((rc = auth_token_set(ir->token, ir->token_len)) != 0)
			return rc;
		log_debug("init: access token set");
	} else if (auth_token_is_set()) {
		auth_token_clear();
		log_info("init: access token cleared");
	}
	if (ir->has_hyperloop)
		log_debug("init: hyperloopIP is not supported; ignored");
	defaults_set_user(ir->default_user);
	defaults_set_workdir(ir->default_workdir);
	if (ir->ca_bundle != NULL && ir->ca_bundle[0] != '\0') {
		char *err = NULL;

		if (init_ca_install(ir->ca_bundle, &err) != 0) {
			*cause = xasprintf("failed to install CA bundle: %s",
			    err);
			free(err);
			return -EIO;
		}
	}
	if (ir->has_volume_mounts)
		log_warn("init: volume mounts are not supported; ignored");
	return 0;
}

/* A path from the environment, or the default. */
static const char *
init_path_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

/* mkdir -p for the directory part of path (mode 0755). */
static int
init_mkdirs(const char *path)
{
	char *dir = xstrdup(path), *p, c;
	int r = 0;

	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		goto out;
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
out:
	free(dir);
	return r;
}

/* Create or truncate path and write data to it. */
static int
init_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	ssize_t n;
	size_t off = 0;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0 && r == 0)
		r = -errno;
	return r;
}

/*
 * Install a PEM bundle: append it to the system bundle (which must exist),
 * persist it for update-ca-certificates, and take the previously installed
 * one out of the system bundle. Re-sending the same PEM does nothing. Only
 * the append can fail the request; the rest is logged.
 */
static int
init_ca_install(const char *pem, char **cause)
{
	const char *bundle, *persist;
	char *norm = NULL, *prev = NULL;
	size_t n = strlen(pem), off = 0;
	ssize_t w;
	int fd = -1, r;

	*cause = NULL;
	bundle = init_path_env("ENVD_CA_BUNDLE_PATH", INIT_CA_BUNDLE_DEFAULT);
	persist = init_path_env("ENVD_CA_PERSIST_PATH",
	    INIT_CA_PERSIST_DEFAULT);
	while (n > 0 && pem[n - 1] == '\n')
		n--;
	norm = xmalloc(n + 2);
	memcpy(norm, pem, n);
	norm[n++] = '\n';
	norm[n] = '\0';
	if (init_ca_last != NULL && strcmp(init_ca_last, norm) == 0) {
		log_debug("init: CA bundle unchanged");
		r = 0;
		goto out;
	}
	if ((fd = open(bundle, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0) {
		r = -errno;
		*cause = xasprintf("open CA bundle: open %s: %s", bundle,
		    errtext(r));
		goto out;
	}
	while (off < n) {
		if ((w = write(fd, norm + off, n - off)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			*cause = xasprintf("append CA cert: write %s: %s",
			    bundle, errtext(r));
			goto out;
		}
		off += (size_t)w;
	}
	prev = init_ca_last;
	init_ca_last = norm;
	norm = NULL;
	log_info("init: CA certificate appended to %s", bundle);

	if ((r = init_mkdirs(persist)) != 0 ||
	    (r = init_write_file(persist, init_ca_last, strlen(init_ca_last),
	    0644)) != 0)
		log_error_r(r, "init: cannot persist the CA certificate to %s",
		    persist);
	if (prev != NULL)
		init_ca_remove(bundle, prev);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(norm);
	free(prev);
	return r;
}

/* Rewrite bundle without any copy of pem (atomically, same directory). */
static void
init_ca_remove(const char *bundle, const char *pem)
{
	struct stat st;
	char *data = NULL, *tmp = NULL, *dir = NULL, *slash, *out = NULL;
	const char *p, *hit;
	size_t plen = strlen(pem), olen = 0, got = 0;
	ssize_t n;
	int fd = -1, r;

	if ((fd = open(bundle, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) != 0) {
		r = -errno;
		goto fail;
	}
	if (st.st_size < 0 || st.st_size > INIT_CA_BUNDLE_MAX) {
		r = -EFBIG;
		goto fail;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	close(fd);
	fd = -1;

	out = xmalloc(got + 1);
	for (p = data; (hit = memmem(p, got - (size_t)(p - data), pem,
	    plen)) != NULL; p = hit + plen) {
		memcpy(out + olen, p, (size_t)(hit - p));
		olen += (size_t)(hit - p);
	}
	memcpy(out + olen, p, got - (size_t)(p - data));
	olen += got - (size_t)(p - data);

	dir = xstrdup(bundle);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	tmp = xasprintf("%s/ca-bundle-XXXXXX", slash != NULL ?
	    (dir[0] != '\0' ? dir : "/") : ".");
	if ((fd = mkstemp(tmp)) < 0) {
		r = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	if ((r = init_write_file(tmp, out, olen, 0644)) != 0 ||
	    chmod(tmp, 0644) != 0 || rename(tmp, bundle) != 0) {
		if (r == 0)
			r = -errno;
		unlink(tmp);
		goto fail;
	}
	log_info("init: previous CA certificate removed from %s", bundle);
	goto out;
fail:
	log_error_r(r, "init: cannot remove the previous CA certificate "
	    "from %s", bundle);
out:
	if (fd >= 0)
		close(fd);
	free(data);
	free(out);
	free(tmp);
	free(dir);
}
