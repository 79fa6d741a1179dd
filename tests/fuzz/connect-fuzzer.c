/*
 * connect-fuzzer.c - the Connect envelope reader and the request decoder
 * behind every streamed and unary call.
 *
 * The first byte selects the codec (bit 0: JSON), whether gzip was
 * announced (bit 1) and the method's request type (the rest); the other
 * bytes are a request body read as a client stream: envelopes are taken
 * one by one, each is decoded as that type, and at the end of the body the
 * reader must either be empty or refuse the rest. The whole body is also
 * decoded as one unary message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "connect.h"
#include "filesystem/filesystem.pb-c.h"
#include "pbjson.h"
#include "process/process.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const connect_types[] = {
	&process__stream_input_request__descriptor,
	&process__send_input_request__descriptor,
	&process__start_request__descriptor,
	&filesystem__list_dir_request__descriptor,
	&filesystem__watch_dir_request__descriptor,
};

/* Decode one message and check the contract. */
static void
connect_fuzz_decode(const ProtobufCMessageDescriptor *d, enum pbjson_codec c,
    const uint8_t *p, size_t len, int compressed)
{
	ProtobufCMessage *msg;
	enum connect_code code = CONNECT_OK;
	char *err;

	if (connect_decode(d, c, p, len, compressed, &msg, &code, &err) == 0) {
		if (msg == NULL || err != NULL)
			abort();
		pbjson_free(msg);
		return;
	}
	if (msg != NULL || err == NULL || (code != CONNECT_INVALID_ARGUMENT &&
	    code != CONNECT_RESOURCE_EXHAUSTED))
		abort();
	free(err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	enum pbjson_codec codec;
	enum connect_code code;
	const uint8_t *p;
	size_t have, step;
	uint32_t len;
	uint8_t flags;
	char *err;
	int gzip, at_eof, r;

	if (size == 0)
		return 0;
	codec = (data[0] & 1) ? PBJSON_JSON : PBJSON_PROTO;
	gzip = (data[0] >> 1) & 1;
	d = connect_types[(data[0] >> 2) % (sizeof(connect_types) /
	    sizeof(connect_types[0]))];
	p = data + 1;
	have = size - 1;

	for (at_eof = 0; at_eof < 2; at_eof++) {
		const uint8_t *q = p;
		size_t left = have;

		for (;;) {
			err = NULL;
			r = connect_envelope_take(q, left, at_eof, gzip, &flags,
			    &len, &code, &err);
			if (r < 0) {
				if (err == NULL)
					abort();
				free(err);
				break;
			}
			if (err != NULL)
				abort();
			if (r == 0) {
				/* More needed: never at EOF with bytes left. */
				if (at_eof && left > 0)
					abort();
				break;
			}
			step = 5 + (size_t)len;
			if (step > left || len > CONNECT_MAX_MESSAGE ||
			    (flags & ~1u) || ((flags & 1) && !gzip))
				abort();
			connect_fuzz_decode(d, codec, q + 5, len, flags & 1);
			q += step;
			left -= step;
		}
	}
	connect_fuzz_decode(d, codec, p, have, gzip);
	return 0;
}
