#include "slice.h"

#include <stdlib.h>

#include "banned.h"
#include "xalloc.h"

bool slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len));
}

bool slice_eq_cstr(struct slice a, const char *s)
{
	return slice_eq(a, slice_cstr(s));
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool slice_caseeq_cstr(struct slice a, const char *s)
{
	size_t i, n = strlen(s);

	if (a.len != n) {
		return false;
	}
	for (i = 0; i < n; i++) {
		if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

bool slice_starts_with(struct slice a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.len >= n && !memcmp(a.ptr, prefix, n);
}

bool slice_ends_with(struct slice a, const char *suffix)
{
	size_t n = strlen(suffix);

	return a.len >= n && !memcmp(a.ptr + a.len - n, suffix, n);
}

long slice_find_char(struct slice s, char c)
{
	const char *p = s.len ? memchr(s.ptr, c, s.len) : NULL;

	return p ? (long)(p - s.ptr) : -1;
}

long slice_find(struct slice s, const char *needle)
{
	size_t n = strlen(needle), i;

	if (!n) {
		return 0;
	}
	for (i = 0; i + n <= s.len; i++) {
		if (s.ptr[i] == needle[0] && !memcmp(s.ptr + i, needle, n)) {
			return (long)i;
		}
	}
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

struct slice slice_trim(struct slice s)
{
	while (s.len && is_space(s.ptr[0])) {
		s.ptr++;
		s.len--;
	}
	while (s.len && is_space(s.ptr[s.len - 1])) {
		s.len--;
	}
	return s;
}

struct slice slice_from(struct slice s, size_t off)
{
	if (off >= s.len) {
		return slice_make(s.ptr ? s.ptr + s.len : NULL, 0);
	}
	return slice_make(s.ptr + off, s.len - off);
}

struct slice slice_next(struct slice *rest, char delim)
{
	struct slice field = *rest;
	long at;

	if (!rest->ptr) {
		return SLICE_NULL;
	}
	at = slice_find_char(*rest, delim);
	if (at < 0) {
		*rest = SLICE_NULL;
		return field;
	}
	field.len = (size_t)at;
	*rest = slice_make(rest->ptr + at + 1, rest->len - (size_t)at - 1);
	return field;
}

struct slice slice_next_word(struct slice *rest)
{
	struct slice w;
	size_t i = 0;

	if (!rest->ptr) {
		return SLICE_NULL;
	}
	while (i < rest->len && (rest->ptr[i] == ' ' || rest->ptr[i] == '\t')) {
		i++;
	}
	if (i == rest->len) {
		*rest = SLICE_NULL;
		return SLICE_NULL;
	}
	w.ptr = rest->ptr + i;
	while (i < rest->len && rest->ptr[i] != ' ' && rest->ptr[i] != '\t') {
		i++;
	}
	w.len = (size_t)(rest->ptr + i - w.ptr);
	*rest = slice_make(rest->ptr + i, rest->len - i);
	return w;
}

bool slice_to_u64(struct slice s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!s.len) {
		return false;
	}
	for (i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.ptr[i] - '0';
		if (d > 9) {
			return false;
		}
		if (v > (max - d) / 10) {
			return false;
		}
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool slice_to_double(struct slice s, double *out)
{
	double v = 0, scale = 1;
	bool frac = false, digits = false;
	size_t i;

	for (i = 0; i < s.len; i++) {
		char c = s.ptr[i];
		if (c == '.' && !frac) {
			frac = true;
			continue;
		}
		if (c < '0' || c > '9' || i > 40) {
			return false;
		}
		digits = true;
		if (frac) {
			scale /= 10;
			v += (c - '0') * scale;
		} else {
			v = v * 10 + (c - '0');
		}
	}
	if (!digits) {
		return false;
	}
	*out = v;
	return true;
}

char *slice_dup(struct slice s)
{
	return xstrndup(s.ptr ? s.ptr : "", s.len);
}
