/*
 * gospace.h - Go's unicode.IsSpace over UTF-8 text, for parsers that must
 * trim header values exactly as upstream's Go code does.
 */
#ifndef ENVD_GOSPACE_H
#define ENVD_GOSPACE_H

#include <stddef.h>

/* Length of the white space character at the start of s[0..n), or 0. */
size_t gospace_prefix(const char *s, size_t n);
/* Length of the white space character that ends s[0..n), or 0. */
size_t gospace_suffix(const char *s, size_t n);
/* strings.TrimLeftFunc(s, unicode.IsSpace) on (*s, *n). */
void gospace_trim_left(const char **s, size_t *n);
/* strings.TrimSpace on (*s, *n). */
void gospace_trim(const char **s, size_t *n);

#endif
