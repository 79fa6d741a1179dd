/*
 * test-memtrim.c - memtrim: a trim after the delay hands the heap's freed
 * pages back; a call while a trim is pending gets one more trim after it,
 * and then the timer stops.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "memtrim.h"
#include "tap.h"

#define BLOCKS 4096
#define BLOCK 2048

static char *blocks[BLOCKS];

/* Resident pages of this process, in kB. */
static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * 8 MiB of small blocks, all freed but the last, which pins the top of the
 * heap so that free() alone cannot give the pages back. Returns the RSS
 * after the free()s; the last block stays until burst_end().
 */
static long
burst(void)
{
	int i;

	for (i = 0; i < BLOCKS; i++) {
		blocks[i] = malloc(BLOCK);
		memset(blocks[i], 0x5a, BLOCK);
	}
	for (i = 0; i < BLOCKS - 1; i++)
		free(blocks[i]);
	return rss_kb();
}

static void
burst_end(void)
{
	free(blocks[BLOCKS - 1]);
}

static void
stop_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop for ms. */
static void
run_for(uv_loop_t *loop, uv_timer_t *stop, uint64_t ms)
{
	uv_timer_start(stop, stop_cb, ms, 0);
	uv_run(loop, UV_RUN_DEFAULT);
}

/* Did a trim hand back most of a burst freed at `freed` kB? */
static int
trimmed(long freed)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)freed;
	return -1; /* the sanitizer's allocator is not glibc's */
#else
	return rss_kb() <= freed - 4096;
#endif
}

static void
check(int t, const char *what, long freed)
{
	if (t < 0)
		ok(1, "# SKIP %s (sanitizer allocator)", what);
	else
		ok(t, "%s (%ld kB after free(), %ld kB now)", what, freed,
		    rss_kb());
}

int
main(void)
{
	uv_loop_t loop;
	uv_timer_t stop;
	uint64_t t0;
	long freed;

	uv_loop_init(&loop);
	uv_timer_init(&loop, &stop);
	memtrim_soon(); /* before init: nothing, and no crash */
	memtrim_init(&loop);

	/* One call: no trim before the delay, a trim after it. */
	freed = burst();
	memtrim_soon();
	t0 = uv_now(&loop);
	run_for(&loop, &stop, MEMTRIM_DELAY_MS / 2);
	ok(rss_kb() >= freed - 1024, "no trim before the delay");
	run_for(&loop, &stop, MEMTRIM_DELAY_MS);
	ok(uv_now(&loop) - t0 >= MEMTRIM_DELAY_MS, "waited past the delay");
	check(trimmed(freed), "freed pages handed back", freed);
	burst_end();

	/* Two calls: the second, made while the first is pending, gets one
	 * more trim a delay after the first, which takes what was freed in
	 * between; then nothing runs. */
	memtrim_soon();
	memtrim_soon();
	run_for(&loop, &stop, MEMTRIM_DELAY_MS * 3 / 2);
	freed = burst();
	run_for(&loop, &stop, MEMTRIM_DELAY_MS);
	check(trimmed(freed), "a call while pending: one more trim after it",
	    freed);
	burst_end();
	freed = burst();
	run_for(&loop, &stop, MEMTRIM_DELAY_MS * 2);
	ok(rss_kb() >= freed - 1024, "then no trim without a call");
	burst_end();

	memtrim_stop();
	memtrim_soon(); /* after stop: nothing */
	uv_close((uv_handle_t *)&stop, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(uv_loop_close(&loop) == 0, "no handle left after memtrim_stop()");
	return done_testing();
}
