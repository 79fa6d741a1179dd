/*
 * memtrim.c - see memtrim.h.
 */
#include "config.h"

#include <malloc.h>

#include "memtrim.h"

static struct {
	uv_timer_t timer;
	int ready;   /* timer initialised and not closed */
	int pending; /* a trim is due */
} memtrim_s;

static void
memtrim_cb(uv_timer_t *t)
{
	(void)t;
	memtrim_s.pending = 0;
	(void)malloc_trim(0);
}

void
memtrim_init(uv_loop_t *loop)
{
	uv_timer_init(loop, &memtrim_s.timer);
	uv_unref((uv_handle_t *)&memtrim_s.timer);
	memtrim_s.ready = 1;
}

void
memtrim_soon(void)
{
	if (!memtrim_s.ready || memtrim_s.pending)
		return;
	memtrim_s.pending = 1;
	uv_timer_start(&memtrim_s.timer, memtrim_cb, MEMTRIM_DELAY_MS, 0);
}

void
memtrim_now(void)
{
	(void)malloc_trim(0);
}

void
memtrim_stop(void)
{
	if (!memtrim_s.ready)
		return;
	memtrim_s.ready = 0;
	memtrim_s.pending = 0;
	uv_close((uv_handle_t *)&memtrim_s.timer, NULL);
}
