/*
 * initreq-fuzzer.c - the POST /init body decoder and its time parser.
 *
 * The input is decoded as a body (on a copy: the decoder wipes the token
 * in place); a decoded request must hold what the header promises. The
 * input is also parsed as an RFC 3339 time.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "init_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct init_req *req = NULL;
	uint8_t *body;
	int64_t sec;
	long nsec;
	size_t i;
	static int ready;
	int r;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = 1;
	}
	if ((body = malloc(size + 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	r = init_req_parse(body, size, &req);
	if (r == 0) {
		if (req == NULL || (req->token != NULL) != (req->token_len > 0))
			abort();
		if (req->has_ts && (req->ts_nsec < 0 || req->ts_nsec > 999999999))
			abort();
		for (i = 0; i < req->nenv; i++)
			if (req->env_keys[i] == NULL || req->env_values[i] == NULL)
				abort();
		init_req_free(req);
	} else if (req != NULL || (r != -EINVAL && r != -ENOMEM))
		abort();
	free(body);

	if (init_req_parse_time((const char *)data, size, &sec, &nsec) == 0 &&
	    (nsec < 0 || nsec > 999999999))
		abort();
	return 0;
}
