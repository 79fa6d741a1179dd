/*
 * mmds-fuzzer.c - the MMDS answer parser and the metadata JSON decoder.
 *
 * The input is parsed as an HTTP answer both with and without the end of
 * the stream; a complete answer's body is then decoded as metadata. The
 * input is also decoded as a body on its own.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mmds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mmds_opts o;
	unsigned int status;
	size_t off, len;
	int eof, r;

	for (eof = 0; eof < 2; eof++) {
		r = mmds_http_parse(data, size, eof, &status, &off, &len);
		if (r == -EAGAIN && eof)
			abort();
		if (r != 0)
			continue;
		if (off > size || len > size - off || status < 100 ||
		    status > 599)
			abort();
		if (mmds_opts_parse(data + off, len, &o) == 0)
			mmds_opts_clear(&o);
	}
	if (mmds_opts_parse(data, size, &o) == 0)
		mmds_opts_clear(&o);
	return 0;
}
