/*
 * gunzip.c - gzip bodies in slices (contracts in gunzip.h).
 *
 * zlib's gzip mode (16 + MAX_WBITS) reads one member; after Z_STREAM_END
 * an inflateReset() starts the next one when more input follows, as Go's
 * multistream reader does.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "files_write.h"
#include "gunzip.h"

static const char *gunzip_zerr(const z_stream *, int);

int
gunzip_init(struct gunzip *g, size_t chunk)
{
	memset(g, 0, sizeof(*g));
	if (inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	g->init = 1;
	g->outlen = chunk >= 1 && chunk <= GUNZIP_CHUNK ? chunk :
	    GUNZIP_CHUNK;
	g->out = files_write_buf_new(g->outlen);
	return 0;
}

void
gunzip_end(struct gunzip *g)
{
	if (g->init)
		inflateEnd(&g->zs);
	files_write_buf_free(g->out, g->outlen);
	memset(g, 0, sizeof(*g));
}

int
gunzip_ended(const struct gunzip *g)
{
	return g->zend;
}

/* Go's wording for a zlib failure in the middle of a gzip body. */
static const char *
gunzip_zerr(const z_stream *zs, int rc)
{
	const char *m = zs->msg != NULL ? zs->msg : "";

	if (rc == Z_MEM_ERROR)
		return "flate: out of memory";
	if (strcmp(m, "incorrect data check") == 0 ||
	    strcmp(m, "incorrect length check") == 0)
		return "gzip: invalid checksum";
	if (strcmp(m, "incorrect header check") == 0 ||
	    strcmp(m, "unknown compression method") == 0 ||
	    strcmp(m, "unknown header flags set") == 0 ||
	    strcmp(m, "header crc mismatch") == 0)
		return "gzip: invalid header";
	return "flate: corrupt input";
}

enum gunzip_result
gunzip_slice(struct gunzip *g, const uint8_t *in, size_t len, size_t budget,
    size_t *used, gunzip_sink_fn sink, void *arg, const char **err)
{
	enum gunzip_result ret;
	size_t produced;
	int rc;

	*err = NULL;
	g->zs.next_in = len > 0 ? (Bytef *)(uintptr_t)in : Z_NULL;
	g->zs.avail_in = (uInt)len;
	g->more = 0;
	for (;;) {
		if (g->zend) {
			if (g->zs.avail_in == 0) {
				ret = GUNZIP_NEED;
				break;
			}
			/* Another member follows (Go reads them all). */
			inflateReset(&g->zs);
			g->zend = 0;
		}
		if (budget == 0) {
			g->more = 1;
			ret = GUNZIP_MORE;
			break;
		}
		g->zs.next_out = g->out;
		g->zs.avail_out = (uInt)g->outlen;
		rc = inflate(&g->zs, Z_NO_FLUSH);
		produced = g->outlen - g->zs.avail_out;
		budget -= produced < budget ? produced : budget;
		if (produced > 0 && sink(arg, g->out, produced) != 0) {
			ret = GUNZIP_STOP;
			break;
		}
		if (rc == Z_STREAM_END) {
			g->zend = 1;
			continue;
		}
		if (rc == Z_BUF_ERROR) {
			ret = GUNZIP_NEED;
			break;
		}
		if (rc != Z_OK) {
			*err = gunzip_zerr(&g->zs, rc);
			ret = GUNZIP_ERROR;
			break;
		}
		if (g->zs.avail_in == 0 && g->zs.avail_out != 0) {
			ret = GUNZIP_NEED;
			break;
		}
	}
	*used = len - g->zs.avail_in;
	g->zs.next_in = NULL;
	g->zs.avail_in = 0;
	return ret;
}
