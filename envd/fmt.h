/*
 * fmt.h - decimal formatting for the hot output paths (JSON encoding, log
 * lines), where snprintf's generality costs more than the output.
 */
#ifndef ENVD_FMT_H
#define ENVD_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Write v in decimal to dst (room for 20 bytes); returns the length. */
static inline size_t
fmt_u64(char *dst, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

/* Write v as exactly width decimal digits (zero-padded); returns width. */
static inline size_t
fmt_digits(char *dst, unsigned v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		dst[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return (size_t)width;
}

#endif
