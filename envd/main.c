/*
 * main.c - startup order, signals, the run loop and shutdown.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "auth.h"
#include "cfg.h"
#include "cgroup.h"
#include "control.h"
#include "envs.h"
#include "forward.h"
#include "fs_service.h"
#include "httpd.h"
#include "init.h"
#include "proc_service.h"
#include "log.h"
#include "logexp.h"
#include "memtrim.h"
#include "metrics.h"
#include "oom.h"
#include "router.h"
#include "spawn.h"

struct envd {
	uv_loop_t loop;
	struct envd_config cfg;
	struct httpd *httpd;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	uv_prepare_t flush;	/* writes buffered log lines before each wait */
	uv_timer_t stop_timer;	/* shutdown deadline (ENVD_STOP_MS) */
	int stopping;
};

/*
 * A shutdown finishes within this time whatever the worker threads are
 * doing: a pool job stuck in a system call would otherwise keep the loop
 * (and exit(), which joins the pool) waiting for ever.
 */
#define ENVD_STOP_MS 500

static void envd_on_signal(uv_signal_t *, int);
static void envd_httpd_closed(struct httpd *, void *);
static void envd_mark_sandbox(int);
static void envd_close_walk(uv_handle_t *, void *);
static void envd_flush_cb(uv_prepare_t *);
static void envd_raise_nofile(void);
static void envd_stop_late(uv_timer_t *);

/* Buffered log lines go out before the loop waits for I/O. */
static void
envd_flush_cb(uv_prepare_t *p)
{
	log_flush();
}

/* Upstream's startup marker: /run/e2b/.E2B_SANDBOX holds true or false. */
static void
envd_mark_sandbox(int isnotfc)
{
	const char *val = isnotfc ? "false" : "true";
	int fd;

	if (mkdir("/run/e2b", 0755) != 0 && errno != EEXIST) {
		log_debug("cannot create /run/e2b: %s", strerror(errno));
		return;
	}
	(void)unlink("/run/e2b/.E2B_SANDBOX");
	fd = open("/run/e2b/.E2B_SANDBOX", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0444);
	if (fd < 0) {
		log_debug("cannot write /run/e2b/.E2B_SANDBOX: %s",
		    strerror(errno));
		return;
	}
	if (write(fd, val, strlen(val)) < 0)
		log_debug("cannot write /run/e2b/.E2B_SANDBOX: %s",
		    strerror(errno));
	close(fd);
}

static void
envd_on_signal(uv_signal_t *s, int signum)
{
	struct envd *e = s->data;

	if (e->stopping)
		return;
	e->stopping = 1;
	log_info("received %s, shutting down", strsignal(signum));
	logexp_stop();
	uv_close((uv_handle_t *)&e->sigterm, NULL);
	uv_close((uv_handle_t *)&e->sigint, NULL);
	/* Unreferenced: fires only while something else keeps the loop. */
	uv_timer_init(&e->loop, &e->stop_timer);
	e->stop_timer.data = e;
	uv_timer_start(&e->stop_timer, envd_stop_late, ENVD_STOP_MS, 0);
	uv_unref((uv_handle_t *)&e->stop_timer);
	metrics_stop();
	memtrim_stop();
	oom_stop();
	forward_stop();
	control_stop();
	httpd_shutdown(e->httpd, envd_httpd_closed, e);
	proc_service_shutdown();
	fs_service_shutdown();
}

static void
envd_httpd_closed(struct httpd *h, void *arg)
{
	struct envd *e = arg;

	httpd_free(h);
	e->httpd = NULL;
	/* Anything still open belongs to requests that just ended. */
	uv_walk(&e->loop, envd_close_walk, e);
}

/*
 * The deadline passed with work still pending (a pool job that does not
 * return): exit without the cleanup, which would wait for that job, and
 * without exit(), whose library destructors join the pool threads.
 */
static void
envd_stop_late(uv_timer_t *t)
{
	log_warn("shutdown: work still running after %d ms, exiting",
	    ENVD_STOP_MS);
	log_info("stopped");
	log_set_buffered(0);
	log_flush();
	_exit(0);
}

/*
 * Connections cost a descriptor each: take all the hard limit allows, as
 * Go's runtime does, so that the soft default (1,024) is not the cap.
 */
static void
envd_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
}

static void
envd_close_walk(uv_handle_t *h, void *arg)
{
	struct envd *e = arg;

	/* The shutdown deadline stays until the loop ends. */
	if (e != NULL && h == (uv_handle_t *)&e->stop_timer)
		return;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
main(int argc, char **argv)
{
	struct envd e;
	char *err = NULL;
	int r;

	memset(&e, 0, sizeof(e));
	if (cfg_parse(&e.cfg, argc, argv, stderr) != 0) {
		cfg_free(&e.cfg);
		return 2;
	}
	if (e.cfg.help) {
		cfg_free(&e.cfg);
		return 0;
	}
	if (e.cfg.version) {
		printf("%s\n", ENVD_COMPAT_VERSION);
		cfg_free(&e.cfg);
		return 0;
	}
	if (e.cfg.commit) {
		printf("%s\n", ENVD_COMMIT);
		cfg_free(&e.cfg);
		return 0;
	}
	if (e.cfg.port < 1 || e.cfg.port > 65535) {
		fprintf(stderr, "invalid port %d\n", e.cfg.port);
		cfg_free(&e.cfg);
		return 2;
	}
	if (e.cfg.forward_scan_ms < 10 || e.cfg.forward_scan_ms > 3600000) {
		fprintf(stderr, "invalid -forward-scan-ms %d\n",
		    e.cfg.forward_scan_ms);
		cfg_free(&e.cfg);
		return 2;
	}
	log_set_verbose(e.cfg.verbose);
	if (sodium_init() < 0)
		fatal("libsodium failed to initialise");
	signal(SIGPIPE, SIG_IGN);
	spawn_save_nofile();
	envd_raise_nofile();

	if ((r = uv_loop_init(&e.loop)) != 0)
		fatal("uv_loop_init: %s", uv_strerror(r));
	envd_mark_sandbox(e.cfg.isnotfc);
	auth_init();
	envs_init(e.cfg.isnotfc);
	logexp_setup(&e.loop, e.cfg.isnotfc);
	init_setup(&e.loop, e.cfg.isnotfc);
	metrics_start(&e.loop);
	oom_start(&e.loop, e.cfg.isnotfc);
	(void)cgroup_init(e.cfg.cgroup_root, e.cfg.no_cgroups);
	control_init(&e.loop);
	memtrim_init(&e.loop);
	proc_service_init(&e.loop);
	fs_service_init(&e.loop);

	e.httpd = httpd_new(&e.loop, e.cfg.port, router_dispatch, &err);
	if (e.httpd == NULL)
		fatal("%s", err);
	if (!e.cfg.no_port_forward &&
	    (r = forward_start(&e.loop, e.cfg.forward_addr, e.cfg.isnotfc,
	    e.cfg.port, (unsigned int)e.cfg.forward_scan_ms, &err)) != 0) {
		if (r == -EINVAL)
			fatal("-forward-addr: %s", err);
		log_warn("port forwarding off: %s", err);
		free(err);
		err = NULL;
	}
	uv_signal_init(&e.loop, &e.sigterm);
	uv_signal_init(&e.loop, &e.sigint);
	e.sigterm.data = e.sigint.data = &e;
	uv_signal_start(&e.sigterm, envd_on_signal, SIGTERM);
	uv_signal_start(&e.sigint, envd_on_signal, SIGINT);

	log_info("envd %s (build %s) listening on port %d", ENVD_COMPAT_VERSION,
	    PACKAGE_VERSION, e.cfg.port);
	uv_prepare_init(&e.loop, &e.flush);
	uv_prepare_start(&e.flush, envd_flush_cb);
	uv_unref((uv_handle_t *)&e.flush);
	log_set_buffered(1);
	uv_run(&e.loop, UV_RUN_DEFAULT);
	log_set_buffered(0);
	if (e.stopping) {
		uv_close((uv_handle_t *)&e.stop_timer, NULL);
		uv_run(&e.loop, UV_RUN_NOWAIT);
	}
	logexp_free();

	if ((r = uv_loop_close(&e.loop)) != 0)
		log_error("loop closed with handles open: %s", uv_strerror(r));
	auth_free();
	envs_free();
	init_free();
	cgroup_free();
	cfg_free(&e.cfg);
	log_info("stopped");
	return 0;
}
