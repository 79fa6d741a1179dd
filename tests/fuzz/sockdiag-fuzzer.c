/*
 * sockdiag-fuzzer.c - inet_diag dump answer parsing.
 *
 * The input is one answer datagram; it is parsed for sequence numbers 0
 * and 1, and every socket reported is classified.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "sockdiag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_count;

static void
fuzz_sock(const struct sockdiag_sock *s, void *arg)
{
	int lo;

	if (s->family != AF_INET && s->family != AF_INET6)
		abort();
	lo = sockdiag_loopback(s);
	if (lo != 0 && lo != AF_INET && lo != AF_INET6)
		abort();
	fuzz_count++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seq;
	int r;

	for (seq = 0; seq < 2; seq++) {
		fuzz_count = 0;
		r = sockdiag_parse(data, size, seq, fuzz_sock, NULL);
		if (r != SOCKDIAG_MORE && r != SOCKDIAG_DONE && r >= 0)
			abort();
		/* Each socket needs a header and an inet_diag_msg. */
		if (fuzz_count > size / 88)
			abort();
	}
	return 0;
}
