/*
 * Checks shared by the http1 fuzz targets: a parsed message only points
 * inside its head and keeps the parser's promises; a chunked body decodes
 * the same whatever the pieces it arrives in.
 */
#ifndef FUZZ_HTTP1_H
#define FUZZ_HTTP1_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http1.h"

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

static inline uint32_t fuzz_hash(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < size; i++) {
		h = (h ^ data[i]) * 16777619u;
	}
	return h;
}

static inline void fuzz_in_head(struct slice s, const char *head, size_t len)
{
	if (s.ptr) {
		FUZZ_CHECK(s.ptr >= head && s.len <= len && s.ptr + s.len <= head + len);
	} else {
		FUZZ_CHECK(s.len == 0);
	}
}

static inline bool fuzz_ws(char c)
{
	return c == ' ' || c == '\t';
}

static inline void fuzz_check_msg(const struct http1_msg *m, const char *head, size_t len)
{
	size_t i, j;

	FUZZ_CHECK(m->nr_headers <= HTTP1_MAX_HEADERS);
	fuzz_in_head(m->method, head, len);
	fuzz_in_head(m->target, head, len);
	fuzz_in_head(m->path, head, len);
	fuzz_in_head(m->query, head, len);
	fuzz_in_head(m->reason, head, len);
	fuzz_in_head(m->host, head, len);
	fuzz_in_head(m->upgrade, head, len);
	FUZZ_CHECK(m->body <= HTTP1_BODY_EOF);
	if (m->body == HTTP1_BODY_LENGTH) {
		FUZZ_CHECK(m->content_length > 0 && m->content_length <= INT64_MAX);
	}
	if (m->flags & HTTP1_F_UPGRADE) {
		FUZZ_CHECK(m->upgrade.ptr);
	}
	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *h = &m->headers[i];

		fuzz_in_head(h->name, head, len);
		fuzz_in_head(h->value, head, len);
		FUZZ_CHECK(h->name.len > 0 && h->value.ptr);
		for (j = 0; j < h->name.len; j++) {
			FUZZ_CHECK(h->name.ptr[j] > ' ' && h->name.ptr[j] != ':');
		}
		for (j = 0; j < h->value.len; j++) {
			char c = h->value.ptr[j];

			FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
		}
		if (h->value.len) {
			FUZZ_CHECK(!fuzz_ws(h->value.ptr[0]) &&
				   !fuzz_ws(h->value.ptr[h->value.len - 1]));
		}
		FUZZ_CHECK(http1_header_is_hop(m, i) == http1_is_hop_by_hop(m, h->name));
		FUZZ_CHECK(http1_header(m, "x").ptr || !http1_header(m, "x").len);
	}
}

/*
 * Decodes body, in pieces, keeping only the data: it consumes what the
 * framing decoder consumed (n, or -1), and keeps as many data bytes as it
 * counted; each piece's data is the bytes of the piece that are not framing.
 */
static inline void fuzz_dechunk(const char *body, size_t len, long n,
				const struct http1_chunked *whole)
{
	struct http1_chunked c;
	char *copy = malloc(len ? len : 1);
	size_t off = 0, kept = 0;
	uint32_t seed = (uint32_t)len * 40503u + 7;
	long k = 0;

	memcpy(copy, body, len);
	http1_chunked_init(&c);
	while (off < len && !c.done) {
		size_t piece, d;

		seed = seed * 1103515245u + 12345u;
		piece = 1 + (seed >> 16) % 23;
		if (piece > len - off) {
			piece = len - off;
		}
		k = http1_chunked_decode(&c, copy + off, piece, &d);
		if (k < 0) {
			break;
		}
		FUZZ_CHECK((size_t)k <= piece && d <= (size_t)k);
		FUZZ_CHECK((size_t)k == piece || c.done);
		kept += d;
		off += (size_t)k;
	}
	if (n < 0) {
		FUZZ_CHECK(k < 0);
	} else {
		FUZZ_CHECK(k >= 0 && off == (size_t)n && c.done == whole->done);
		FUZZ_CHECK(kept == whole->total && c.total == whole->total);
	}
	free(copy);
}

/* Decodes body whole, then in pieces whose sizes come from a small PRNG. */
static inline void fuzz_chunked(const char *body, size_t len)
{
	struct http1_chunked whole, parts;
	long n, k;
	size_t off = 0;
	uint32_t seed = (uint32_t)len * 2654435761u + 1;

	http1_chunked_init(&whole);
	n = http1_chunked_feed(&whole, body, len);
	FUZZ_CHECK(n >= -1 && n <= (long)len);
	if (n >= 0 && !whole.done) {
		FUZZ_CHECK(n == (long)len);
	}
	http1_chunked_init(&parts);
	k = 0;
	while (off < len && !parts.done) {
		size_t piece;

		seed = seed * 1103515245u + 12345u;
		piece = 1 + (seed >> 16) % 17;
		if (piece > len - off) {
			piece = len - off;
		}
		k = http1_chunked_feed(&parts, body + off, piece);
		if (k < 0) {
			break;
		}
		FUZZ_CHECK((size_t)k <= piece);
		FUZZ_CHECK((size_t)k == piece || parts.done);
		off += (size_t)k;
	}
	if (n < 0) {
		FUZZ_CHECK(k < 0);
	} else {
		FUZZ_CHECK(k >= 0 && off == (size_t)n && parts.done == whole.done);
		FUZZ_CHECK(parts.total == whole.total && parts.remaining == whole.remaining);
	}
	fuzz_dechunk(body, len, n, &whole);
}

#endif
