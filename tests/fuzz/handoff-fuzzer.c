/*
 * handoff-fuzzer.c - the hand-off of a new connection by its first bytes
 * and the body framing decision made from its headers.
 *
 * Every prefix of the input is offered as the bytes peeked at accept time.
 * The input is then split into "key: value" lines (as MHD hands them over,
 * key and value trimmed of nothing) and fed to the framing check, whose
 * answer is compared with a count made here.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"

#define HANDOFF_MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *line, *next, *colon;
	const char *first_len = NULL;
	struct httpd_framing f = { NULL, 0, 0 };
	int te = 0, differ = 0, bulk;
	size_t i, n = 0;

	for (i = 0; i <= size && i <= 16; i++) {
		bulk = httpd_peek_is_bulk((const char *)data, i);
		if (bulk != (i >= 12 && memcmp(data, "POST /files", 11) == 0 &&
		    (data[11] == ' ' || data[11] == '?')))
			abort();
		if (bulk && (memcmp(data, "POST /files/", 12) == 0 ||
		    (i >= 16 && memcmp(data, "POST /filesystem", 16) == 0)))
			abort();
	}

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (line = copy; line != NULL && n < HANDOFF_MAX_HEADERS;
	    line = next, n++) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon++ = '\0';
		httpd_framing_add(&f, line, colon);
		if (strcasecmp(line, "Transfer-Encoding") == 0)
			te = 1;
		if (strcasecmp(line, "Content-Length") == 0) {
			if (first_len == NULL)
				first_len = colon;
			else if (strcmp(first_len, colon) != 0)
				differ = 1;
		}
	}
	if (f.length != first_len ||
	    !httpd_framing_bad(&f) != !(differ || (te && first_len != NULL)))
		abort();
	free(copy);
	return 0;
}
