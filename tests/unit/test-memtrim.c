/*
 * test-memtrim.c - memtrim: one trim a burst, after the delay, and the
 * freed pages of the heap handed back; memtrim_now() at once, on any
 * thread.
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

static void
stop_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/*
 * 8 MiB of small blocks, all freed but the last, which pins the top of
 * the heap so that free() alone cannot give the pages back. The pin
 * b[BLOCKS - 1] is allocated unless pinned says it already is; *full
 * (unless NULL) gets the RSS before the frees.
 */
static void
fill_and_free(char **b, int pinned, long *full)
{
	int i;

	for (i = 0; i < (pinned ? BLOCKS - 1 : BLOCKS); i++) {
		b[i] = malloc(BLOCK);
		memset(b[i], 0x5a, BLOCK);
	}
	if (full != NULL)
		*full = rss_kb();
	for (i = 0; i < BLOCKS - 1; i++)
		free(b[i]);
}

/*
 * On a thread of its own (so in another malloc arena): fill_and_free(),
 * note RSS, memtrim_now(), note RSS again; the pin is left for the caller
 * to free.
 */
struct thread_trim {
	char *pin;
	long freed, after;
};

static void
thread_trim(void *arg)
{
	struct thread_trim *t = arg;
	static char *b[BLOCKS];

	fill_and_free(b, 0, NULL);
	t->pin = b[BLOCKS - 1];
	t->freed = rss_kb();
	memtrim_now();
	t->after = rss_kb();
}

int
main(void)
{
	static char *blocks[BLOCKS];
	uv_loop_t loop;
	uv_timer_t stop;
	uint64_t t0;
	long before, freed, after;

	uv_loop_init(&loop);
	memtrim_soon(); /* before init: nothing, and no crash */
	memtrim_init(&loop);

	fill_and_free(blocks, 0, &before);
	freed = rss_kb();

	memtrim_soon();
	memtrim_soon(); /* a second call in the same burst: one trim */
	uv_timer_init(&loop, &stop);
	uv_timer_start(&stop, stop_cb, MEMTRIM_DELAY_MS / 2, 0);
	t0 = uv_now(&loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(rss_kb() >= freed - 1024,
	    "no trim before the delay (%ld kB, %ld kB after free)", rss_kb(),
	    freed);
	uv_timer_start(&stop, stop_cb, MEMTRIM_DELAY_MS, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	after = rss_kb();
	ok(uv_now(&loop) - t0 >= MEMTRIM_DELAY_MS, "waited past the delay");
#if defined(__SANITIZE_ADDRESS__)
	printf("# sanitizer allocator: RSS %ld, %ld, %ld kB not checked\n",
	    before, freed, after);
	ok(1, "# SKIP the sanitizer's allocator is not glibc's");
#else
	ok(after <= freed - 4096,
	    "freed pages handed back: %ld kB with the blocks, %ld after "
	    "free(), %ld after the trim",
	    before, freed, after);
#endif

	/* memtrim_now(): the same, at once, with no loop turn. */
	fill_and_free(blocks, 1, NULL);
	freed = rss_kb();
	memtrim_now();
	after = rss_kb();
#if defined(__SANITIZE_ADDRESS__)
	ok(1, "# SKIP the sanitizer's allocator is not glibc's");
#else
	ok(after <= freed - 4096,
	    "memtrim_now() hands them back at once: %ld kB after free(), "
	    "%ld after", freed, after);
#endif
	free(blocks[BLOCKS - 1]);

	/* ... and from another thread, for that thread's arena. */
	{
		struct thread_trim t = { NULL, 0, 0 };
		uv_thread_t tid;

		uv_thread_create(&tid, thread_trim, &t);
		uv_thread_join(&tid);
#if defined(__SANITIZE_ADDRESS__)
		ok(1, "# SKIP the sanitizer's allocator is not glibc's");
#else
		ok(t.after <= t.freed - 4096,
		    "memtrim_now() on another thread trims its arena: %ld kB "
		    "after free(), %ld after", t.freed, t.after);
#endif
		free(t.pin);
	}

	memtrim_stop();
	memtrim_soon(); /* after stop: nothing */
	uv_close((uv_handle_t *)&stop, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(uv_loop_close(&loop) == 0, "no handle left after memtrim_stop()");
	return done_testing();
}
