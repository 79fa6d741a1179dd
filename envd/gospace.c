/*
 * gospace.c - Go's unicode.IsSpace over UTF-8 text.
 *
 * The white space characters: U+0009-U+000D, U+0020, U+0085, U+00A0,
 * U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
 */
#include "config.h"

#include "gospace.h"

size_t
gospace_prefix(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	if (n == 0)
		return 0;
	if (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r'))
		return 1;
	if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0))
		return 2;
	if (n < 3)
		return 0;
	if ((u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) ||
	    (u[0] == 0xe2 && u[1] == 0x80 &&
	    (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf)) ||
	    (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) ||
	    (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80))
		return 3;
	return 0;
}

size_t
gospace_suffix(const char *s, size_t n)
{
	if (n >= 1 && gospace_prefix(s + n - 1, 1) == 1)
		return 1;
	if (n >= 2 && gospace_prefix(s + n - 2, 2) == 2)
		return 2;
	if (n >= 3 && gospace_prefix(s + n - 3, 3) == 3)
		return 3;
	return 0;
}

void
gospace_trim_left(const char **s, size_t *n)
{
	size_t k;

	while ((k = gospace_prefix(*s, *n)) > 0) {
		*s += k;
		*n -= k;
	}
}

void
gospace_trim(const char **s, size_t *n)
{
	size_t k;

	gospace_trim_left(s, n);
	while ((k = gospace_suffix(*s, *n)) > 0)
		*n -= k;
}
