/*
 * gunzip.h - a gzip request body decoded in bounded slices.
 *
 * Go's gzip.Reader as the upload handler sees it: every member that
 * follows the first is read too, and failures carry Go's wording. The
 * caller checks the first member's header first (files_post_gzip_header())
 * and then hands over the body from its start. gunzip_slice() decodes at
 * most about a budget of output bytes per call, so that a small body that
 * inflates to gigabytes (a gzip bomb) takes as many calls, and as many
 * loop turns, as its output needs; memory is the z_stream and one output
 * buffer of GUNZIP_CHUNK bytes.
 *
 * One struct gunzip per body, owned by its request; zeroed memory is a
 * valid "not initialised" state for gunzip_end().
 */
#ifndef ENVD_GUNZIP_H
#define ENVD_GUNZIP_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

/* Largest output of one inflate() call (the most a sink gets at once). */
#define GUNZIP_CHUNK	(256 * 1024)

struct gunzip {
	z_stream zs;
	int init;		/* zs is initialised */
	int zend;		/* the current member ended */
	int more;		/* the last slice stopped on its budget */
	uint8_t *out;		/* outlen bytes (mmap); owned */
	size_t outlen;		/* output bytes per inflate() call */
};

/* Called with each piece of output; non-zero stops the slice. */
typedef int (*gunzip_sink_fn)(void *arg, const uint8_t *p, size_t n);

enum gunzip_result {
	GUNZIP_ERROR = -1,	/* corrupt input; *err says how */
	GUNZIP_NEED = 0,	/* input used up, no output pending */
	GUNZIP_MORE = 1,	/* budget spent: call again with the rest */
	GUNZIP_STOP = 2,	/* the sink asked to stop */
};

/*
 * Prepare g (zeroed or ended) to inflate chunk bytes per inflate() call
 * (1 to GUNZIP_CHUNK; uploads use GUNZIP_CHUNK, the fuzz target less).
 * Returns 0, or -ENOMEM.
 */
int	gunzip_init(struct gunzip *g, size_t chunk);

/* Release g; it is zeroed afterwards. A zeroed g is a no-op. */
void	gunzip_end(struct gunzip *g);

/*
 * Decode in[0..len) (len < 4 GiB; empty to go on with pending output)
 * into sink, stopping once budget output bytes were produced (after the
 * inflate() call that reached it, so at most budget + chunk - 1).
 * *used is set to the input bytes taken; on GUNZIP_MORE the caller passes
 * in + *used next time (g->more is then set: output may be pending even
 * with no input left). Errors set *err to a static text in Go's words:
 * "gzip: invalid checksum", "gzip: invalid header", "flate: corrupt
 * input" or "flate: out of memory".
 */
enum gunzip_result gunzip_slice(struct gunzip *g, const uint8_t *in,
	    size_t len, size_t budget, size_t *used, gunzip_sink_fn sink,
	    void *arg, const char **err);

/* Whether the input so far ends exactly at the end of a member. */
int	gunzip_ended(const struct gunzip *g);

#endif
