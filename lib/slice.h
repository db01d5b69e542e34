/*
 * slice — a non-owning view of bytes: {ptr, len}. Not NUL-terminated.
 *
 * Slices describe parts of a buffer that someone else owns (a read buffer, a
 * command's output), so parsing never copies. All helpers stay inside
 * [ptr, ptr + len): this is how untrusted bytes are read.
 */
#ifndef SLICE_H
#define SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct slice {
	const char *ptr;
	size_t len;
};

#define SLICE_NULL   ((struct slice){NULL, 0})
#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})

static inline struct slice slice_make(const char *p, size_t len)
{
	return (struct slice){p, len};
}
static inline struct slice slice_cstr(const char *s)
{
	return (struct slice){s, s ? strlen(s) : 0};
}

bool slice_eq(struct slice a, struct slice b);
bool slice_eq_cstr(struct slice a, const char *s);
bool slice_caseeq_cstr(struct slice a, const char *s);
bool slice_starts_with(struct slice a, const char *prefix);
bool slice_ends_with(struct slice a, const char *suffix);
/* Offset of the first c in s, or -1. */
long slice_find_char(struct slice s, char c);
/* Offset of the first occurrence of needle in s, or -1. */
long slice_find(struct slice s, const char *needle);
/* s without leading/trailing ASCII whitespace. */
struct slice slice_trim(struct slice s);
/* s from offset off on (empty when off >= len). */
struct slice slice_from(struct slice s, size_t off);

/*
 * Splits off the next field: returns the bytes of *rest up to the first
 * delimiter and advances *rest past it. When no delimiter is left the whole of
 * *rest is returned and *rest becomes empty (ptr NULL when nothing was left,
 * so `while (rest.ptr)` loops over every field).
 */
struct slice slice_next(struct slice *rest, char delim);
/* Like slice_next, but splits on any run of spaces and tabs and skips empties. */
struct slice slice_next_word(struct slice *rest);

/*
 * Parses a whole slice as an unsigned decimal number no larger than max.
 * Returns false on an empty slice, a non-digit, or overflow.
 */
bool slice_to_u64(struct slice s, uint64_t max, uint64_t *out);
/* Parses a decimal number with an optional fraction ("12", "0.25"). */
bool slice_to_double(struct slice s, double *out);
/* A malloc'd NUL-terminated copy. */
char *slice_dup(struct slice s);

#endif
