/*
 * path — normalization of the path of a request target (RFC 3986 6.2.2),
 * so that routing by path prefix and the app see the same path: a request
 * for "/app/../secret/x" is a request for "/secret/x", and so are
 * "//secret/x" and "/%73ecret/x".
 *
 * A normalized path:
 *	- starts with '/';
 *	- has no percent-encoded unreserved character (ALPHA DIGIT - . _ ~):
 *	  they are decoded; every other escape is kept, its hex digits
 *	  uppercase ("%2f" is "%2F", never a '/');
 *	- has no empty segment ("//") but a final one ("/a/" stays "/a/");
 *	- has no "." or ".." segment (RFC 3986 5.2.4, applied after the
 *	  decoding, so "%2e%2E" is ".."): "/a/./b" is "/a/b", "/a/b/.." is "/a/".
 * It is never longer than the path it came from, and normalizing it again
 * changes nothing.
 *
 * Refused (the caller answers 400): a '%' not followed by two hex digits,
 * and a ".." that would climb above the root ("/../x", "/a/../../x").
 *
 * The query is not a part of the path: callers split it off first.
 */
#ifndef PATH_H
#define PATH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether p[0, len) is normalized already, checked without a copy: no '%',
 * no "//" and no "." or ".." segment. A path that starts with '/' and
 * passes needs no path_normalize(). Ordinary paths pass ("/.well-known/x"
 * included), so this is the only cost of normalization for most requests.
 */
bool path_is_normal(const char *p, size_t len);

/*
 * Writes the normalization of in[0, len) (which starts with '/') to out
 * (room for len bytes; out may be in: the output never gets ahead of the
 * input) and its length to *out_len. Returns 0, or -1 for a path that is
 * refused (malformed escape, climbing above the root); out is then
 * unspecified.
 */
int path_normalize(const char *in, size_t len, char *out, size_t *out_len);

#endif
