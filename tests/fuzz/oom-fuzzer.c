/*
 * oom-fuzzer.c - the kernel log record parser behind /metrics oom_kills.
 *
 * The input is parsed whole and line by line, as the watcher splits a
 * read; a kill must come with a NUL-terminated name of at most
 * OOM_NAME_MAX bytes, and a record without the kernel's "prio,seq,"
 * prefix is never one.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
one(const char *rec, size_t len)
{
	char name[OOM_NAME_MAX + 2];
	int64_t seq;

	name[OOM_NAME_MAX + 1] = 'x';
	if (oom_parse_record(rec, len, &seq, name) != 1)
		return;
	if (name[OOM_NAME_MAX + 1] != 'x' ||
	    memchr(name, '\0', OOM_NAME_MAX + 1) == NULL)
		abort();
	if (memchr(rec, ';', len) == NULL || memchr(rec, ',', len) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;

	one(p, size);
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		one(p, (size_t)(nl - p));
		p = nl + 1;
	}
	return 0;
}
