/*
 * buf.c - growable byte buffer with a hard maximum size.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_reset(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

uint8_t *
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap;

	if (n > b->max || b->len > b->max - n)
		return NULL;
	need = b->len + n;
	if (b->off > 0 && b->off + need > b->cap) {
		/* Slide the unconsumed bytes to the front before growing. */
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->off + need > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < need)
			ncap *= 2;
		if (ncap > b->max && need <= b->max)
			ncap = b->max > 256 ? b->max : 256;
		b->data = xreallocarray(b->data, 1, ncap);
		b->cap = ncap;
	}
	return b->data + b->off + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

int
buf_append_grow(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst;

	if (n == 0)
		return 0;
	if ((dst = buf_reserve(b, n)) == NULL)
		return -ENOBUFS;
	memcpy(dst, p, n);
	b->len += n;
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = b->len = 0;
		return;
	}
	b->off += n;
	b->len -= n;
}

char *
buf_steal_str(struct buf *b, size_t *lenp)
{
	char *s;

	s = xmemdup0(buf_ptr(b), b->len);
	if (lenp != NULL)
		*lenp = b->len;
	buf_reset(b);
	return s;
}
