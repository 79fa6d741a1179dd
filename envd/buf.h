/*
 * buf.h - growable byte buffer with a hard maximum size.
 *
 * A buf owns its storage. Appends beyond the maximum fail with -ENOBUFS and
 * leave the contents unchanged, so callers can turn an oversize input into a
 * clean error. Data is consumed from the front with buf_consume().
 */
#ifndef ENVD_BUF_H
#define ENVD_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	uint8_t *data;	/* storage, owned; NULL until the first append */
	size_t off;	/* offset of the first unconsumed byte */
	size_t len;	/* bytes stored after off */
	size_t cap;	/* allocated size of data */
	size_t max;	/* hard limit on len */
};

/* Initialise an empty buffer that will never hold more than max bytes. */
void buf_init(struct buf *b, size_t max);
/* Release the storage; the buffer is empty and reusable afterwards. */
void buf_reset(struct buf *b);
/* buf_append()'s slow path: grow the storage, then append. */
int buf_append_grow(struct buf *b, const void *p, size_t n);
/* Append n bytes. Returns 0, or -ENOBUFS when len + n would exceed max. */
static inline int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n <= b->cap - b->off - b->len && n <= b->max - b->len) {
		if (n != 0)
			memcpy(b->data + b->off + b->len, p, n);
		b->len += n;
		return 0;
	}
	return buf_append_grow(b, p, n);
}
/* Append a NUL-terminated string (without the NUL). */
int buf_puts(struct buf *b, const char *s);
/* Pointer to the first unconsumed byte (borrowed; valid until the next call). */
static inline const uint8_t *
buf_ptr(const struct buf *b)
{
	return b->data ? b->data + b->off : (const uint8_t *)"";
}
static inline size_t
buf_len(const struct buf *b)
{
	return b->len;
}
/* Drop n bytes from the front (n is clamped to the length). */
void buf_consume(struct buf *b, size_t n);
/* Reserve room for n more bytes and return a pointer to it, or NULL when that
 * would exceed max. Commit what was written with buf_commit(). */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
/* Hand the contents over as a NUL-terminated string owned by the caller; the
 * buffer is reset. Returns "" (allocated) for an empty buffer. */
char *buf_steal_str(struct buf *b, size_t *lenp);

#endif
