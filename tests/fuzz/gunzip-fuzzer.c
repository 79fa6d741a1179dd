/*
 * gunzip-fuzzer.c - a gzip upload body as POST /files decodes it: the
 * first member's header held until complete (files_post_gzip_header()),
 * then the body from its start through gunzip_slice() in slices.
 *
 * Input: one byte selecting the inflate() output size and the slice
 * budget, then the body. The body is decoded in one chunk with the
 * uploads' sizes and an unbounded budget, and again in pseudo-random
 * chunks with the chosen sizes, going on with the unused
 * rest after every GUNZIP_MORE (as a paused upload does); both runs must
 * produce the same bytes and the same result, and no slice may exceed its
 * budget by more than one inflate() call, or the target aborts.
 * Output past FUZZ_OUT_MAX is cut off, so bombs stay fast.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "files_post.h"
#include "gunzip.h"

#define FUZZ_OUT_MAX	(512 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
	uint64_t h;		/* FNV-1a of the output */
	size_t bytes;		/* output so far */
	size_t slice;		/* output of the current slice */
};

static int
sink(void *arg, const uint8_t *p, size_t n)
{
	struct digest *d = arg;
	size_t i;

	if (n == 0 || n > GUNZIP_CHUNK)
		abort();
	d->slice += n;
	if (n > FUZZ_OUT_MAX - d->bytes)
		n = FUZZ_OUT_MAX - d->bytes;
	for (i = 0; i < n; i++)
		d->h = (d->h ^ p[i]) * 0x100000001b3ULL;
	d->bytes += n;
	return d->bytes >= FUZZ_OUT_MAX;
}

/* Decode body in chunks (seed 0: one chunk) with budget per slice. */
static uint64_t
decode(const uint8_t *body, size_t len, uint32_t seed, size_t zchunk,
    size_t budget)
{
	struct digest d = { 0xcbf29ce484222325ULL, 0, 0 };
	struct gunzip g;
	const char *err = NULL;
	size_t off = 0, held = 0, n, used, k;
	long hlen = 0;
	int r = GUNZIP_NEED;

	memset(&g, 0, sizeof(g));
	while (off < len) {
		if (seed == 0) {
			n = len - off;
		} else {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 8) % (len < 4096 ? 16 : 4096);
			if (n > len - off)
				n = len - off;
		}
		off += n;
		if (hlen == 0) {
			/* Header bytes are held until it is complete. */
			held = off;
			if ((hlen = files_post_gzip_header(body, held)) < 0)
				break;
			if (hlen == 0)
				continue;
			if (gunzip_init(&g, zchunk) != 0)
				abort();
			n = held;
		}
		/* The chunk that just arrived, slice by slice. */
		k = off - n;
		do {
			d.slice = 0;
			r = gunzip_slice(&g, body + k, off - k, budget, &used,
			    sink, &d, &err);
			/* A slice stops after the call that spends its
			 * budget. */
			if (budget != SIZE_MAX && d.slice > budget + zchunk - 1)
				abort();
			if (used > off - k)
				abort();
			k += used;
			if ((r == GUNZIP_MORE) != (g.more != 0))
				abort();
		} while (r == GUNZIP_MORE);
		if (r != GUNZIP_NEED)
			break;
		if (k != off)
			abort();
	}
	if ((r == GUNZIP_ERROR) != (err != NULL))
		abort();
	d.h ^= (uint64_t)(r + 2) * 0x9e3779b97f4a7c15ULL;
	d.h ^= (uint64_t)(hlen < 0 ? 1 : hlen == 0 ? 2 : 3) << 56;
	if (r == GUNZIP_NEED && g.init)
		d.h ^= (uint64_t)gunzip_ended(&g) << 60;
	if (err != NULL)
		d.h ^= (uint64_t)err[0] << 48 ^ (uint64_t)strlen(err) << 40;
	gunzip_end(&g);
	return d.h ^ d.bytes;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t zchunks[] = { 5, 61, 509, 4096 };
	static const size_t budgets[] = { 1, 100, 4096, GUNZIP_CHUNK };

	if (size < 1)
		return 0;
	if (decode(data + 1, size - 1, 0, GUNZIP_CHUNK, SIZE_MAX) !=
	    decode(data + 1, size - 1, (uint32_t)size | 1,
	    zchunks[data[0] % 4], budgets[(data[0] >> 2) % 4]))
		abort();
	return 0;
}
