/*
 * test-cpus.c - cpulists, the CPU target and the hot-plug worker against a
 * fake sysfs tree whose cpuN/online files are FIFOs served by a thread
 * that plays the kernel: it applies each "1"/"0" to the online mask.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "cpus.h"
#include "log.h"
#include "tap.h"

#define NCPU 4

static char root[64];
static int fifo_fd[NCPU];
static volatile int kernel_stop;
static int online[NCPU];
static int kernel_ignores;	/* pretend a write did nothing */
/* Held by the fake kernel from a CPU's change until the mask is published. */
static pthread_mutex_t kernel_lock = PTHREAD_MUTEX_INITIALIZER;

static void
write_file(const char *name, const char *data)
{
	char path[128], tmp[140];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	fputs(data, f);
	fclose(f);
	rename(tmp, path);
}

static void
publish_online(void)
{
	char list[64] = "";
	int i, first = 1;

	for (i = 0; i < NCPU; i++)
		if (online[i]) {
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
			    "%s%d", first ? "" : ",", i);
			first = 0;
		}
	strcat(list, "\n");
	write_file("online", list);
}

static void *
kernel(void *arg)
{
	struct pollfd p[NCPU];
	char c;
	int i;

	(void)arg;
	while (!kernel_stop) {
		for (i = 0; i < NCPU; i++) {
			p[i].fd = fifo_fd[i];
			p[i].events = POLLIN;
		}
		if (poll(p, NCPU, 20) <= 0)
			continue;
		/* Locked from before the read: see kernel_settle(). */
		pthread_mutex_lock(&kernel_lock);
		for (i = 0; i < NCPU; i++)
			if ((p[i].revents & POLLIN) &&
			    read(fifo_fd[i], &c, 1) == 1 && !kernel_ignores) {
				online[i] = c == '1';
				publish_online();
			}
		pthread_mutex_unlock(&kernel_lock);
	}
	return NULL;
}

static int
count_online(void)
{
	int i, n = 0;

	pthread_mutex_lock(&kernel_lock);
	for (i = 0; i < NCPU; i++)
		n += online[i];
	pthread_mutex_unlock(&kernel_lock);
	return n;
}

/* Runs the worker found failed because the fake kernel applied a write
 * after the worker looked (counted while late_count is set). */
static int late_count, late_runs;

static void
late_sink(const char *line, size_t len)
{
	static const char what[] = "the online mask did not change";

	if (late_count && memmem(line, len, what, sizeof(what) - 1) != NULL)
		late_runs++;
}

/*
 * Wait (1 s at most) until the fake kernel has applied every write made so
 * far, as a real sysfs write is applied when it returns. Without this, the
 * worker's check of the mask could come first on a loaded machine, and the
 * run fail as if the kernel had ignored the write.
 */
static void
kernel_settle(void)
{
	int i, n, pending, tries;

	for (tries = 0; tries < 1000; tries++) {
		pending = 0;
		for (i = 0; i < NCPU; i++)
			if (ioctl(fifo_fd[i], FIONREAD, &n) == 0 && n > 0)
				pending = 1;
		if (!pending)
			break;
		usleep(1000);
	}
	/* A byte read but not yet applied is applied under the lock. */
	pthread_mutex_lock(&kernel_lock);
	pthread_mutex_unlock(&kernel_lock);
}

/* Run the loop until the online count is want or 5 s passed. */
static int
wait_online(uv_loop_t *loop, int want)
{
	int i;

	for (i = 0; i < 500; i++) {
		kernel_settle();
		uv_run(loop, UV_RUN_NOWAIT);
		if (count_online() == want)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void
alive_cb(uv_timer_t *t)
{
	(void)t;
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
test_lists(void)
{
	struct cpus_set s;

	is_int(cpus_parse_list("0-7\n", 4, &s), 0, "0-7 parses");
	is_int((int)cpus_count(&s), 8, "0-7 is 8 CPUs");
	is_int(cpus_parse_list("0,2-3,5", 7, &s), 0, "mixed list parses");
	is_int((int)cpus_count(&s), 4, "mixed list is 4 CPUs");
	ok(cpus_has(&s, 0) && !cpus_has(&s, 1) && cpus_has(&s, 3) &&
	    cpus_has(&s, 5) && !cpus_has(&s, 8191), "membership");
	is_int(cpus_parse_list("\n", 1, &s), 0, "empty list");
	is_int((int)cpus_count(&s), 0, "empty list is no CPU");
	is_int(cpus_parse_list("8191", 4, &s), 0, "CPU 8191 is allowed");
	is_int(cpus_parse_list("8192", 4, &s), -EINVAL, "CPU 8192 is not");
	is_int(cpus_parse_list("3-1", 3, &s), -EINVAL, "reversed range");
	is_int(cpus_parse_list("0-2,1", 5, &s), -EINVAL, "overlap");
	is_int(cpus_parse_list("2,1", 3, &s), -EINVAL, "not ascending");
	is_int(cpus_parse_list("0,", 2, &s), -EINVAL, "trailing comma");
	is_int(cpus_parse_list("0-", 2, &s), -EINVAL, "open range");
	is_int(cpus_parse_list(" 0", 2, &s), -EINVAL, "leading space");
	is_int(cpus_parse_list("0\n\n", 3, &s), -EINVAL, "two newlines");
}

int
main(void)
{
	char path[128], *why = NULL, *h;
	struct cpus_status st;
	pthread_t th;
	int wedge;
	uv_loop_t loop;
	uv_timer_t alive;
	FILE *f;
	uint64_t t_fail;
	int i, slow;

	test_lists();

	strcpy(root, "/tmp/test-cpus-XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	setenv("ENVD_SYSFS_CPU", root, 1);
	setenv("ENVD_RUN_DIR", root, 1);
	write_file("possible", "0-3\n");
	online[0] = 1;
	publish_online();
	for (i = 1; i < NCPU; i++) {
		snprintf(path, sizeof(path), "%s/cpu%d", root, i);
		mkdir(path, 0755);
		strcat(path, "/online");
		mkfifo(path, 0600);
		fifo_fd[i] = open(path, O_RDWR | O_NONBLOCK);
	}
	/* cpu0 has no online file, like a kernel that cannot offline it. */
	fifo_fd[0] = open("/dev/null", O_RDONLY);
	pthread_create(&th, NULL, kernel, NULL);

	uv_loop_init(&loop);
	/* The worker's timer is unreferenced, as the daemon's other handles
	 * keep its loop alive: this one plays them. */
	uv_timer_init(&loop, &alive);
	uv_timer_start(&alive, alive_cb, 1000, 1000);
	cpus_setup(&loop, 0);
	h = cpus_header(NULL);
	is_str(h, "{\"online\":1,\"possible\":4,\"target\":0}",
	    "header before any target");
	free(h);

	is_int(cpus_set_target(5, &why), -ERANGE, "5 of 4 refused");
	is_str(why, "cpu target 5 outside 1..4", "refusal text");
	h = cpus_header(why);
	is_str(h, "{\"online\":1,\"possible\":4,\"target\":0,\"rejected\":"
	    "\"cpu target 5 outside 1..4\"}", "header with rejected");
	free(h);
	free(why);
	is_int(cpus_set_target(0, &why), -ERANGE, "0 refused");
	free(why);

	is_int(cpus_set_target(3, &why), 0, "3 accepted");
	ok(why == NULL, "no reason when accepted");
	snprintf(path, sizeof(path), "%s/cpu-target", root);
	f = fopen(path, "r");
	ok(f != NULL && fgets(path, sizeof(path), f) != NULL &&
	    strcmp(path, "3") == 0, "cpu-target holds 3, no newline");
	if (f != NULL)
		fclose(f);
	ok(wait_online(&loop, 3), "worker brought 3 CPUs online");
	ok(online[0] && online[1] && online[2] && !online[3],
	    "lowest CPUs first");
	h = cpus_header(NULL);
	is_str(h, "{\"online\":3,\"possible\":4,\"target\":3}",
	    "header after growing");
	free(h);

	is_int(cpus_set_target(2, &why), 0, "2 accepted");
	ok(wait_online(&loop, 2), "worker took one CPU offline");
	ok(online[0] && online[1] && !online[2], "highest CPU first");

	kernel_ignores = 1;
	is_int(cpus_set_target(4, &why), 0, "4 accepted");
	/* Until the first run has failed: the next one waits out a 1 s
	 * back-off, so the new target below finds no run going and starts
	 * exactly one. */
	for (i = 0; i < 500 && (cpus_status(&st), st.attempts == 0); i++) {
		kernel_settle();
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	t_fail = uv_hrtime();
	is_int((int)st.attempts, 1, "the ignored write ends the run as failed");
	is_int(count_online(), 2, "a write the kernel ignores changes nothing");
	kernel_ignores = 0;
	log_set_sink(late_sink);
	late_count = 1;
	/* Past most of the back-off, its run may have started already: it
	 * takes the new target and counts too. */
	slow = (uv_hrtime() - t_fail) / 1000000 >= 800;
	is_int(cpus_set_target(4, &why), 0, "a new target retries at once");
	ok(wait_online(&loop, 4), "all 4 online after the retry");
	for (i = 0; i < 50 && (cpus_status(&st), st.attempts == 0); i++) {
		kernel_settle();
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	late_count = 0;
	log_set_sink(NULL);
	/* A worker that checks the mask within microseconds of its write can
	 * beat the fake kernel's thread on a loaded machine; a real sysfs
	 * write is applied before it returns. */
	if (slow || late_runs > 0)
		ok(st.attempts >= 1 && st.attempts <= 1 + (unsigned)slow +
		    (unsigned)late_runs,
		    "one run reached the target # SKIP %s (%u runs)", slow ?
		    "the new target came after the back-off" :
		    "the fake kernel applied a write after the worker looked",
		    st.attempts);
	else
		is_int((int)st.attempts, 1, "one run reached the target");
	is_int((int)st.target, 4, "status: target");
	is_int((int)st.possible, 4, "status: possible");
	ok(st.write_pending_ms == 0, "no write pending");

	/* A write the kernel does not finish: cpu3/online becomes a FIFO
	 * nobody reads, so the worker's open blocks. */
	snprintf(path, sizeof(path), "%s/cpu3/online", root);
	unlink(path);
	mkfifo(path, 0600);
	is_int(cpus_set_target(3, &why), 0, "3 accepted");
	for (i = 0; i < 100; i++) {
		kernel_settle();
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
		cpus_status(&st);
		if (st.write_pending_ms >= 200)
			break;
	}
	ok(st.write_pending_ms >= 200, "a stuck write shows as pending "
	    "(%" PRIu64 " ms)", st.write_pending_ms);
	is_int((int)st.attempts, 0, "the run has not ended");
	wedge = open(path, O_RDONLY | O_NONBLOCK);
	for (i = 0; i < 100 && (cpus_status(&st), st.attempts == 0); i++) {
		kernel_settle();
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	ok(st.write_pending_ms == 0, "nothing pending once it returned");
	is_int((int)st.attempts, 1, "the failed run counts as an attempt");
	close(wedge);

	kernel_stop = 1;
	pthread_join(th, NULL);
	uv_walk(&loop, close_walk, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	cpus_free();
	for (i = 0; i < NCPU; i++)
		close(fifo_fd[i]);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	return system(path) == 0 ? done_testing() : 1;
}
