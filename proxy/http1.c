/*
 * http1 — strict HTTP/1.1 heads and chunked bodies, parsed in place.
 *
 * One forward pass over the head. Targets and field values, most of its
 * bytes, are checked 16 bytes at a time with SSE2 where the compiler has it,
 * else 8 at a time in a 64-bit word, else byte by byte; token bytes by a
 * table lookup each. Header names are matched by length, then a word at a
 * time. The message is described by slices into the caller's buffer;
 * nothing is allocated, and the 4 KiB header array is written only as far
 * as it is used. A typical 700-byte browser request costs about 2,300
 * instructions.
 *
 * Every "not enough bytes yet" check happens before any decision that
 * would need those bytes, so a head fed in pieces gets the same answer as
 * the whole head (0 until then).
 */
#include "proxy/http1.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "proxy/path.h"
#include "lib/banned.h"

#define DEFAULT_MAX_HEAD   (64 * 1024)
#define CAP_MAX_HEAD	   (1024 * 1024 * 1024)
#define MAX_CHUNK_LINE	   1024
#define MAX_TRAILERS	   (8 * 1024)
#define MAX_CONTENT_LENGTH ((uint64_t)INT64_MAX)

/* Character classes, one byte per character. */
enum {
	C_TCHAR = 1 << 0,  /* token (RFC 9110 5.6.2) */
	C_VALUE = 1 << 1,  /* field-vchar, obs-text, SP, HT */
	C_WS = 1 << 2,	   /* SP, HT */
	C_TARGET = 1 << 3, /* request-target: visible ASCII but '#' */
	C_HOST = 1 << 4,   /* Host: unreserved, sub-delims, '%', ':', '[', ']' */
	C_QDTEXT = 1 << 5, /* quoted-string text: HT, SP, VCHAR but '"' '\\', obs-text */
};

static const uint8_t cls[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x26, 0x3b, 0x0a, 0x23, 0x3b, 0x3b, 0x3b, 0x3b, 0x3a, 0x3a, 0x3b, 0x3b, 0x3a, 0x3b, 0x3b, 0x2a,
    0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3a, 0x3a, 0x2a, 0x3a, 0x2a, 0x2a,
    0x2a, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b,
    0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3a, 0x0a, 0x3a, 0x2b, 0x3b,
    0x2b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b,
    0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x3b, 0x2a, 0x2b, 0x2a, 0x3b, 0x00,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};

#define IS(c, k) (cls[(uint8_t)(c)] & (k))

static inline unsigned lower(uint8_t c)
{
	return c + ((unsigned)(c - 'A') < 26) * 32;
}

static inline bool caseeq(struct slice a, struct slice b)
{
	size_t i;

	if (a.len != b.len) {
		return false;
	}
	for (i = 0; i < a.len; i++) {
		if (lower((uint8_t)a.ptr[i]) != lower((uint8_t)b.ptr[i])) {
			return false;
		}
	}
	return true;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Bit 7 of each byte of w that is below n (n <= 128); the lowest set bit is exact. */
static inline uint64_t bytes_below(uint64_t w, uint8_t n)
{
	return (w - ONES * n) & ~w & HIGHS;
}

static inline uint64_t bytes_equal(uint64_t w, uint8_t b)
{
	return bytes_below(w ^ (ONES * b), 1);
}

static inline uint64_t load8(const char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

static inline uint32_t load4(const char *p)
{
	uint32_t w;

	memcpy(&w, p, 4);
	return w;
}

static inline uint16_t load2(const char *p)
{
	uint16_t w;

	memcpy(&w, p, 2);
	return w;
}

/*
 * Whether a equals lit ignoring ASCII case, a word at a time. lit is n bytes
 * of lowercase letters, digits and '-'; a holds no control bytes (it is a
 * token or a field value), which makes "a | 0x20 == lit" exact: only 'A'-'Z'
 * and 'a'-'z' map to a lowercase letter, and only CR or '-' to '-'.
 */
static inline bool lc_eq(const char *a, const char *lit, size_t n)
{
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			if ((load8(a + i) | ONES * 0x20) != load8(lit + i)) {
				return false;
			}
		}
		return (load8(a + n - 8) | ONES * 0x20) == load8(lit + n - 8);
	}
	if (n >= 4) {
		return ((load4(a) | 0x20202020u) == load4(lit)) &
		       ((load4(a + n - 4) | 0x20202020u) == load4(lit + n - 4));
	}
	if (n >= 2) {
		return ((load2(a) | 0x2020u) == load2(lit)) &
		       ((load2(a + n - 2) | 0x2020u) == load2(lit + n - 2));
	}
	return !n || ((uint8_t)a[0] | 0x20) == (uint8_t)lit[0];
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
/* The index of the first byte flagged in a bytes_below() mask. */
#define FIRST_BYTE(mask) ((size_t)__builtin_ctzll(mask) / 8)
#else
#define SWAR 0
#endif

/* The end of a run of field-value bytes (SP, HT, VCHAR, obs-text) from p. */
static inline const char *scan_value(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i ctl = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* unsigned v <= 0x1f, or v == 0x7f */
		__m128i bad =
		    _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v), _mm_cmpeq_epi8(v, del));
		unsigned mask = (unsigned)_mm_movemask_epi8(bad);

		if (mask) {
			p += __builtin_ctz(mask);
			if (*p != '\t') {
				return p;
			}
			p++;
			continue;
		}
		p += 16;
	}
#endif
#if SWAR
	while (end - p >= 8) {
		uint64_t w = load8(p);
		uint64_t bad = bytes_below(w, 0x20) | bytes_equal(w, 0x7f);

		if (bad) {
			p += FIRST_BYTE(bad);
			if (*p != '\t') {
				return p;
			}
			p++;
			continue;
		}
		p += 8;
	}
#endif
	while (p < end && IS(*p, C_VALUE)) {
		p++;
	}
	return p;
}

/* The end of a run of request-target bytes from p. */
static inline const char *scan_target(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f),
		      hash = _mm_set1_epi8('#');

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* unsigned v <= 0x20, v >= 0x7f, or v == '#' */
		__m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, sp), v),
							_mm_cmpeq_epi8(_mm_max_epu8(v, del), v)),
					   _mm_cmpeq_epi8(v, hash));
		unsigned mask = (unsigned)_mm_movemask_epi8(bad);

		if (mask) {
			return p + __builtin_ctz(mask);
		}
		p += 16;
	}
#endif
#if SWAR
	while (end - p >= 8) {
		uint64_t w = load8(p);
		uint64_t bad =
		    (w & HIGHS) | bytes_below(w, 0x21) | bytes_equal(w, 0x7f) | bytes_equal(w, '#');

		if (bad) {
			return p + FIRST_BYTE(bad);
		}
		p += 8;
	}
#endif
	while (p < end && IS(*p, C_TARGET)) {
		p++;
	}
	return p;
}

static inline const char *scan_token(const char *p, const char *end)
{
	while (end - p >= 4) {
		if (!IS(p[0], C_TCHAR)) {
			return p;
		}
		if (!IS(p[1], C_TCHAR)) {
			return p + 1;
		}
		if (!IS(p[2], C_TCHAR)) {
			return p + 2;
		}
		if (!IS(p[3], C_TCHAR)) {
			return p + 3;
		}
		p += 4;
	}
	while (p < end && IS(*p, C_TCHAR)) {
		p++;
	}
	return p;
}

static inline const char *skip_ws(const char *p, const char *end)
{
	while (p < end && IS(*p, C_WS)) {
		p++;
	}
	return p;
}

/* Header names the parser acts on, found by length then by name. */
enum hdr {
	H_OTHER,
	H_CONTENT_LENGTH,
	H_HOST,
	H_EXPECT,
	H_TRANSFER_ENCODING, /* from here on: hop-by-hop */
	H_CONNECTION,
	H_UPGRADE,
	H_KEEP_ALIVE,
	H_TE,
	H_TRAILER,
	H_PROXY_CONNECTION,
	H_PROXY_AUTHENTICATE,
	H_PROXY_AUTHORIZATION,
};

static enum hdr header_id(const char *p, size_t n)
{
	switch (n) {
	case 2:
		return lc_eq(p, "te", 2) ? H_TE : H_OTHER;
	case 4:
		return lc_eq(p, "host", 4) ? H_HOST : H_OTHER;
	case 6:
		return lc_eq(p, "expect", 6) ? H_EXPECT : H_OTHER;
	case 7:
		if ((p[0] | 0x20) == 'u') {
			return lc_eq(p, "upgrade", 7) ? H_UPGRADE : H_OTHER;
		}
		return lc_eq(p, "trailer", 7) ? H_TRAILER : H_OTHER;
	case 10:
		if ((p[0] | 0x20) == 'c') {
			return lc_eq(p, "connection", 10) ? H_CONNECTION : H_OTHER;
		}
		return lc_eq(p, "keep-alive", 10) ? H_KEEP_ALIVE : H_OTHER;
	case 14:
		return lc_eq(p, "content-length", 14) ? H_CONTENT_LENGTH : H_OTHER;
	case 16:
		return lc_eq(p, "proxy-connection", 16) ? H_PROXY_CONNECTION : H_OTHER;
	case 17:
		return lc_eq(p, "transfer-encoding", 17) ? H_TRANSFER_ENCODING : H_OTHER;
	case 18:
		return lc_eq(p, "proxy-authenticate", 18) ? H_PROXY_AUTHENTICATE : H_OTHER;
	case 19:
		return lc_eq(p, "proxy-authorization", 19) ? H_PROXY_AUTHORIZATION : H_OTHER;
	default:
		return H_OTHER;
	}
}

/*
 * The next element of a comma-separated list of tokens (RFC 9110 5.6.1):
 * 1 with *tok set, 0 at the end, -1 when an element is not a token. Empty
 * elements are skipped, as the RFC asks.
 */
static int next_token(const char **pp, const char *end, struct slice *tok)
{
	const char *p = *pp, *t;

	while (p < end && (*p == ',' || IS(*p, C_WS))) {
		p++;
	}
	if (p == end) {
		*pp = p;
		return 0;
	}
	t = p;
	p = scan_token(p, end);
	if (p == t) {
		return -1;
	}
	*tok = slice_make(t, (size_t)(p - t));
	p = skip_ws(p, end);
	if (p < end && *p != ',') {
		return -1;
	}
	*pp = p;
	return 1;
}

/* What the framing and connection headers said, gathered over the head. */
struct fields {
	uint64_t content_length;
	unsigned nr_content_length, nr_transfer_encoding, nr_host;
	bool te_chunked, te_last_chunked, te_chunked_twice, te_chunked_not_final, te_other;
	bool conn_close, conn_keep_alive, conn_upgrade, conn_other;
	bool expect_100;
};

enum { R_OK, R_INCOMPLETE, R_BAD, R_LIMIT };

/*
 * Content-Length: 1*DIGIT, once in the head. A list of equal values ("3, 3",
 * or the same field twice) is refused too, though RFC 9110 8.6 would allow
 * it: forwarded as it came, it would leave every hop after this one to
 * decide again what it means; refusing it is what RFC 9112 6.3 permits and
 * what nginx does.
 */
static bool parse_content_length(struct slice v, struct fields *f)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	uint64_t x = 0;

	if (f->nr_content_length++ || p == end) {
		return false;
	}
	for (; p < end; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (digit > 9 || x > (MAX_CONTENT_LENGTH - digit) / 10) {
			return false;
		}
		x = x * 10 + digit;
	}
	f->content_length = x;
	return true;
}

/* Transfer-Encoding: codings are tokens (no parameters), in order across headers. */
static bool parse_transfer_encoding(struct slice v, struct fields *f)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	struct slice t;
	int r, n = 0;

	while ((r = next_token(&p, end, &t)) > 0) {
		n++;
		if (f->te_last_chunked) {
			f->te_chunked_not_final = true;
		}
		if (t.len == 7 && lc_eq(t.ptr, "chunked", 7)) {
			f->te_chunked_twice |= f->te_chunked;
			f->te_chunked = true;
			f->te_last_chunked = true;
		} else {
			f->te_other = true;
			f->te_last_chunked = false;
		}
	}
	f->nr_transfer_encoding++;
	return r == 0 && n > 0;
}

static bool parse_connection(struct slice v, struct fields *f)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	struct slice t;
	int r;

	while ((r = next_token(&p, end, &t)) > 0) {
		if (t.len == 5 && lc_eq(t.ptr, "close", 5)) {
			f->conn_close = true;
		} else if (t.len == 10 && lc_eq(t.ptr, "keep-alive", 10)) {
			f->conn_keep_alive = true;
		} else if (t.len == 7 && lc_eq(t.ptr, "upgrade", 7)) {
			f->conn_upgrade = true;
		} else {
			f->conn_other = true;
		}
	}
	return r == 0;
}

static bool valid_host(struct slice v)
{
	size_t i;

	for (i = 0; i < v.len; i++) {
		if (!IS(v.ptr[i], C_HOST)) {
			return false;
		}
	}
	return true;
}

static inline void set_hop(struct http1_msg *m, size_t i)
{
	m->hop_by_hop[i / 64] |= 1ULL << (i % 64);
}

/* Acts on one header field; request says whether Host and Expect count. */
static int field(struct http1_msg *m, size_t i, struct fields *f, bool request)
{
	const struct http1_header *h = &m->headers[i];
	enum hdr id = header_id(h->name.ptr, h->name.len);

	if (id >= H_TRANSFER_ENCODING) {
		set_hop(m, i);
	}
	switch (id) {
	case H_OTHER:
		break;
	case H_CONTENT_LENGTH:
		return parse_content_length(h->value, f) ? R_OK : R_BAD;
	case H_TRANSFER_ENCODING:
		return parse_transfer_encoding(h->value, f) ? R_OK : R_BAD;
	case H_CONNECTION:
		return parse_connection(h->value, f) ? R_OK : R_BAD;
	case H_HOST:
		if (request) {
			if (f->nr_host++ || !valid_host(h->value)) {
				return R_BAD;
			}
			m->host = h->value;
		}
		break;
	case H_EXPECT:
		if (request && h->value.len == 12 && lc_eq(h->value.ptr, "100-continue", 12)) {
			f->expect_100 = true;
		}
		break;
	case H_UPGRADE:
		if (!m->upgrade.ptr) {
			m->upgrade = h->value;
		}
		break;
	default:
		break;
	}
	return R_OK;
}

/*
 * Header fields up to and including the empty line. On R_OK *pp is past the
 * empty line and m->nr_headers is set.
 */
static int parse_fields(const char **pp, const char *end, struct http1_msg *m, size_t max_headers,
			struct fields *f, bool request)
{
	const char *p = *pp, *name, *colon, *v, *ve;
	struct http1_header *h;
	size_t n = 0;
	int r;

	for (;;) {
		if (p == end) {
			return R_INCOMPLETE;
		}
		if (*p == '\r') {
			if (p + 1 == end) {
				return R_INCOMPLETE;
			}
			if (p[1] != '\n') {
				return R_BAD;
			}
			*pp = p + 2;
			m->nr_headers = n;
			return R_OK;
		}
		if (n == max_headers) {
			return R_LIMIT;
		}
		/* a field name: a token right before the colon; this also refuses
		 * obs-fold, whitespace before the colon and bare CR or LF */
		name = p;
		p = scan_token(p, end);
		if (p == end) {
			return R_INCOMPLETE;
		}
		if (*p != ':' || p == name) {
			return R_BAD;
		}
		colon = p;
		p = skip_ws(p + 1, end);
		v = p;
		p = scan_value(p, end);
		if (p == end || (*p == '\r' && p + 1 == end)) {
			return R_INCOMPLETE;
		}
		if (*p != '\r' || p[1] != '\n') {
			return R_BAD;
		}
		ve = p;
		while (ve > v && IS(ve[-1], C_WS)) {
			ve--;
		}
		h = &m->headers[n];
		h->name = slice_make(name, (size_t)(colon - name));
		h->value = slice_make(v, (size_t)(ve - v));
		r = field(m, n, f, request);
		if (r != R_OK) {
			return r;
		}
		n++;
		p += 2;
	}
}

/* Marks the fields that a Connection header names (rare: done only when one does). */
static void mark_connection_options(struct http1_msg *m)
{
	size_t i, j;

	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *h = &m->headers[i];
		const char *p = h->value.ptr, *end = p + h->value.len;
		struct slice t;

		if (header_id(h->name.ptr, h->name.len) != H_CONNECTION) {
			continue;
		}
		while (next_token(&p, end, &t) > 0) {
			enum hdr id = header_id(t.ptr, t.len);

			if (id == H_CONTENT_LENGTH || id == H_HOST) {
				continue;
			}
			for (j = 0; j < m->nr_headers; j++) {
				if (caseeq(m->headers[j].name, t)) {
					set_hop(m, j);
				}
			}
		}
	}
}

static void limits(const struct http1_limits *lim, size_t *max_head, size_t *max_headers)
{
	*max_head = lim && lim->max_head ? lim->max_head : DEFAULT_MAX_HEAD;
	if (*max_head > CAP_MAX_HEAD) {
		*max_head = CAP_MAX_HEAD;
	}
	*max_headers = lim && lim->max_headers ? lim->max_headers : HTTP1_MAX_HEADERS;
	if (*max_headers > HTTP1_MAX_HEADERS) {
		*max_headers = HTTP1_MAX_HEADERS;
	}
}

static void msg_init(struct http1_msg *m)
{
	m->method = m->target = m->path = m->query = SLICE_NULL;
	m->status = 0;
	m->reason = SLICE_NULL;
	m->minor = 0;
	m->nr_headers = 0;
	m->host = m->upgrade = SLICE_NULL;
	m->body = HTTP1_BODY_NONE;
	m->content_length = 0;
	m->flags = 0;
	m->head_len = 0;
	memset(m->hop_by_hop, 0, sizeof(m->hop_by_hop));
}

static unsigned connection_flags(const struct fields *f, unsigned minor)
{
	unsigned flags = 0;

	if (minor ? !f->conn_close : f->conn_keep_alive && !f->conn_close) {
		flags |= HTTP1_F_KEEP_ALIVE;
	}
	return flags;
}

int http1_parse_request(const char *buf, size_t len, const struct http1_limits *lim,
			struct http1_msg *m)
{
	size_t max_head, max_headers;
	const char *p = buf, *end, *t;
	struct fields f = {0};
	bool line_done = false;
	int r;

	limits(lim, &max_head, &max_headers);
	end = buf + (len < max_head ? len : max_head);
	msg_init(m);

	/* empty lines before the request line are ignored (RFC 9112 2.2) */
	while (p < end && *p == '\r') {
		if (p + 1 == end) {
			goto incomplete;
		}
		if (p[1] != '\n') {
			return -400;
		}
		p += 2;
	}

	t = p;
	p = scan_token(p, end);
	if (p == end) {
		goto incomplete;
	}
	if (*p != ' ' || p == t) {
		return -400;
	}
	m->method = slice_make(t, (size_t)(p - t));
	if (m->method.len == 7 && !memcmp(t, "CONNECT", 7)) {
		return -405;
	}

	/* origin-form, or "*" for OPTIONS; never absolute- or authority-form */
	t = ++p;
	if (p == end) {
		goto incomplete;
	}
	if (*p == '/') {
		p = scan_target(p + 1, end);
	} else if (*p == '*' && m->method.len == 7 && !memcmp(m->method.ptr, "OPTIONS", 7)) {
		p++;
	} else {
		return -400;
	}
	if (p == end) {
		goto incomplete;
	}
	if (*p != ' ') {
		return -400;
	}
	m->target = slice_make(t, (size_t)(p - t));
	m->path = m->target;
	if (*t == '/') {
		const char *q = memchr(t, '?', m->target.len);

		if (q) {
			m->path.len = (size_t)(q - t);
			m->query = slice_make(q + 1, (size_t)(p - q - 1));
		}
	}
	p++;

	if (end - p < 10) {
		goto incomplete;
	}
	if (memcmp(p, "HTTP/", 5) || (unsigned)(p[5] - '0') > 9 || p[6] != '.' ||
	    (unsigned)(p[7] - '0') > 9 || p[8] != '\r' || p[9] != '\n') {
		return -400;
	}
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
		return -505;
	}
	m->minor = (unsigned)(p[7] - '0');
	p += 10;
	line_done = true;

	r = parse_fields(&p, end, m, max_headers, &f, true);
	if (r == R_INCOMPLETE) {
		goto incomplete;
	}
	if (r == R_LIMIT) {
		return -431;
	}
	if (r != R_OK) {
		return -400;
	}

	if (m->minor == 1 && !f.nr_host) {
		return -400;
	}
	if (f.nr_transfer_encoding) {
		if (m->minor == 0 || f.nr_content_length || !f.te_last_chunked ||
		    f.te_chunked_twice || f.te_chunked_not_final) {
			return -400;
		}
		if (f.te_other) {
			return -501;
		}
		m->body = HTTP1_BODY_CHUNKED;
	} else if (f.nr_content_length) {
		m->content_length = f.content_length;
		m->body = f.content_length ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
	}
	m->flags = connection_flags(&f, m->minor);
	if (m->minor == 1) {
		if (f.expect_100) {
			m->flags |= HTTP1_F_EXPECT_100;
		}
		/* an Upgrade in HTTP/1.0 is ignored (RFC 9110 7.8) */
		if (f.conn_upgrade && m->upgrade.ptr) {
			m->flags |= HTTP1_F_UPGRADE;
		}
	}
	if (f.nr_host) {
		m->flags |= HTTP1_F_HAS_HOST;
	}
	if (f.conn_other) {
		m->flags |= HTTP1_F_CONN_NAMES;
		mark_connection_options(m);
	}
	m->head_len = (size_t)(p - buf);
	return (int)m->head_len;

incomplete:
	/* a request line that alone fills the limit is a target too long (as nginx says) */
	if (len >= max_head) {
		return line_done ? -431 : -414;
	}
	return 0;
}

int http1_parse_response(const char *buf, size_t len, const struct http1_limits *lim,
			 struct slice req_method, struct http1_msg *m)
{
	size_t max_head, max_headers;
	const char *p = buf, *end, *t;
	struct fields f = {0};
	int r;

	limits(lim, &max_head, &max_headers);
	end = buf + (len < max_head ? len : max_head);
	msg_init(m);

	/* "HTTP/1.x 200" then " reason" (possibly empty) or nothing */
	if (end - p < 12) {
		goto incomplete;
	}
	if (memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    (unsigned)(p[9] - '1') > 4 || (unsigned)(p[10] - '0') > 9 ||
	    (unsigned)(p[11] - '0') > 9) {
		return -502;
	}
	m->minor = (unsigned)(p[7] - '0');
	m->status =
	    (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 + (unsigned)(p[11] - '0');
	p += 12;
	if (p == end) {
		goto incomplete;
	}
	if (*p == ' ') {
		t = ++p;
		p = scan_value(p, end);
		m->reason = slice_make(t, (size_t)(p - t));
	}
	if (p == end || (*p == '\r' && p + 1 == end)) {
		goto incomplete;
	}
	if (*p != '\r' || p[1] != '\n') {
		return -502;
	}
	p += 2;

	r = parse_fields(&p, end, m, max_headers, &f, false);
	if (r == R_INCOMPLETE) {
		goto incomplete;
	}
	if (r != R_OK) {
		return -502;
	}

	/*
	 * A coding other than chunked (gzip, or "gzip, chunked") is refused, as
	 * nginx does: passed on without its Transfer-Encoding the coded bytes
	 * would reach the client as if they were the content, and the proxy
	 * does not decode them.
	 */
	if (f.nr_transfer_encoding && (m->minor == 0 || f.nr_content_length || f.te_chunked_twice ||
				       f.te_chunked_not_final || f.te_other)) {
		return -502;
	}
	m->flags = connection_flags(&f, m->minor);
	if (m->status < 200 || m->status == 204 || m->status == 304 ||
	    (req_method.len == 4 && !memcmp(req_method.ptr, "HEAD", 4))) {
		m->body = HTTP1_BODY_NONE;
		m->content_length = f.content_length;
	} else if (f.nr_transfer_encoding) {
		m->body = HTTP1_BODY_CHUNKED;
	} else if (f.nr_content_length) {
		m->content_length = f.content_length;
		m->body = f.content_length ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
	} else {
		m->body = HTTP1_BODY_EOF;
	}
	if (m->body == HTTP1_BODY_EOF) {
		m->flags &= ~(unsigned)HTTP1_F_KEEP_ALIVE;
	}
	if (f.conn_upgrade && m->upgrade.ptr) {
		m->flags |= HTTP1_F_UPGRADE;
	}
	if (f.conn_other) {
		m->flags |= HTTP1_F_CONN_NAMES;
		mark_connection_options(m);
	}
	m->head_len = (size_t)(p - buf);
	return (int)m->head_len;

incomplete:
	return len >= max_head ? -502 : 0;
}

int http1_normalize_path(char *buf, struct http1_msg *m)
{
	size_t n, k;
	char *p;

	if (!m->path.len || m->path.ptr[0] != '/' || path_is_normal(m->path.ptr, m->path.len)) {
		return 0;
	}
	p = buf + (m->path.ptr - buf);
	if (path_normalize(p, m->path.len, p, &n) < 0) {
		return -400;
	}
	/*
	 * Right-aligned, after '/'s: the target stays one slice (the query
	 * still follows the path), and parsing the buffer again gives the same
	 * path, as the '/'s merge.
	 */
	k = m->path.len - n;
	memmove(p + k, p, n);
	memset(p, '/', k);
	m->path = slice_make(p + k, n);
	m->target = slice_make(p + k, m->target.len - k);
	return 0;
}

bool http1_head_ready(const char *buf, size_t len, size_t prev_len)
{
	const char *p = buf + (prev_len < len ? prev_len : len), *end = buf + len;

	/* an LF at p can end the head only when it is new: look at new LFs */
	while ((p = memchr(p, '\n', (size_t)(end - p)))) {
		size_t i = (size_t)(p - buf);

		if (i >= 1 &&
		    (buf[i - 1] == '\n' || (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n'))) {
			return true;
		}
		p++;
	}
	return false;
}

struct slice http1_header(const struct http1_msg *m, const char *name)
{
	struct slice n = slice_cstr(name);
	size_t i;

	for (i = 0; i < m->nr_headers; i++) {
		if (caseeq(m->headers[i].name, n)) {
			return m->headers[i].value;
		}
	}
	return SLICE_NULL;
}

bool http1_is_hop_by_hop(const struct http1_msg *m, struct slice name)
{
	enum hdr id;
	size_t i;

	/* header_id is exact for tokens; a name that is not one is no field's */
	id = header_id(name.ptr, name.len);
	if (id != H_OTHER && scan_token(name.ptr, name.ptr + name.len) != name.ptr + name.len) {
		return false;
	}

	if (id >= H_TRANSFER_ENCODING) {
		return true;
	}
	if (id == H_CONTENT_LENGTH || id == H_HOST || !(m->flags & HTTP1_F_CONN_NAMES)) {
		return false;
	}
	for (i = 0; i < m->nr_headers; i++) {
		const struct http1_header *h = &m->headers[i];
		const char *p = h->value.ptr, *end = p + h->value.len;
		struct slice t;

		if (header_id(h->name.ptr, h->name.len) != H_CONNECTION) {
			continue;
		}
		while (next_token(&p, end, &t) > 0) {
			if (caseeq(t, name)) {
				return true;
			}
		}
	}
	return false;
}

/* Chunked decoder states. */
enum {
	CK_SIZE,       /* hex digits; line_len counts them */
	CK_EXT,	       /* after ';': a name */
	CK_EXT_NAME,   /* in a name: '=', ';' or CR next */
	CK_EXT_VALUE,  /* after '=': a token or a quoted string */
	CK_EXT_TOKEN,  /* in a token value */
	CK_EXT_QUOTED, /* in a quoted string */
	CK_EXT_ESCAPE, /* after a backslash in a quoted string */
	CK_EXT_END,    /* after a quoted string: ';' or CR */
	CK_SIZE_LF,    /* the LF ending the size line */
	CK_DATA,       /* remaining data bytes */
	CK_DATA_CR,    /* CRLF after the data */
	CK_DATA_LF,
	CK_TRAILER, /* at the start of a trailer line or of the final CRLF */
	CK_TRAILER_NAME,
	CK_TRAILER_VALUE,
	CK_TRAILER_LF,
	CK_FINAL_LF,
	CK_DONE,
	CK_ERROR,
};

void http1_chunked_init(struct http1_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CK_SIZE;
}

static inline int hex_value(uint8_t ch)
{
	if ((unsigned)(ch - '0') < 10) {
		return ch - '0';
	}
	ch |= 0x20;
	if ((unsigned)(ch - 'a') < 6) {
		return ch - 'a' + 10;
	}
	return -1;
}

/* http1_chunked_feed; with stop_at_data, returns when chunk data comes next. */
static long chunked_run(struct http1_chunked *c, const char *buf, size_t len, bool stop_at_data)
{
	const char *p = buf, *end = buf + len;
	int state = c->state;

	if (state == CK_ERROR) {
		return -1;
	}
	while (p < end) {
		uint8_t ch = (uint8_t)*p;

		if (state == CK_DATA) {
			size_t n;

			if (stop_at_data) {
				break;
			}
			n = (size_t)(end - p);
			if (n > c->remaining) {
				n = (size_t)c->remaining;
			}
			p += n;
			c->remaining -= n;
			c->total += n;
			if (!c->remaining) {
				state = CK_DATA_CR;
			}
			continue;
		}
		if (state <= CK_SIZE_LF) {
			if (++c->line_len > MAX_CHUNK_LINE) {
				goto bad;
			}
		} else if (state >= CK_TRAILER) {
			if (state == CK_DONE) {
				break;
			}
			if (++c->trailer_len > MAX_TRAILERS) {
				goto bad;
			}
		}
		switch (state) {
		case CK_SIZE: {
			int v = hex_value(ch);

			if (v >= 0) {
				/* line_len counts this digit too: at most 16 */
				if (c->line_len > 16) {
					goto bad;
				}
				c->remaining = c->remaining << 4 | (uint64_t)v;
			} else if (c->line_len == 1) {
				goto bad; /* no digit */
			} else if (ch == ';') {
				state = CK_EXT;
			} else if (ch == '\r') {
				state = CK_SIZE_LF;
			} else {
				goto bad;
			}
			break;
		}
		case CK_EXT:
			if (!IS(ch, C_TCHAR)) {
				goto bad;
			}
			state = CK_EXT_NAME;
			break;
		case CK_EXT_NAME:
		case CK_EXT_TOKEN:
			if (IS(ch, C_TCHAR)) {
				break;
			}
			if (ch == '=' && state == CK_EXT_NAME) {
				state = CK_EXT_VALUE;
			} else if (ch == ';') {
				state = CK_EXT;
			} else if (ch == '\r') {
				state = CK_SIZE_LF;
			} else {
				goto bad;
			}
			break;
		case CK_EXT_VALUE:
			if (ch == '"') {
				state = CK_EXT_QUOTED;
			} else if (IS(ch, C_TCHAR)) {
				state = CK_EXT_TOKEN;
			} else {
				goto bad;
			}
			break;
		case CK_EXT_QUOTED:
			if (ch == '"') {
				state = CK_EXT_END;
			} else if (ch == '\\') {
				state = CK_EXT_ESCAPE;
			} else if (!IS(ch, C_QDTEXT)) {
				goto bad;
			}
			break;
		case CK_EXT_ESCAPE:
			if (!IS(ch, C_VALUE)) {
				goto bad;
			}
			state = CK_EXT_QUOTED;
			break;
		case CK_EXT_END:
			if (ch == ';') {
				state = CK_EXT;
			} else if (ch == '\r') {
				state = CK_SIZE_LF;
			} else {
				goto bad;
			}
			break;
		case CK_SIZE_LF:
			if (ch != '\n') {
				goto bad;
			}
			c->line_len = 0;
			state = c->remaining ? CK_DATA : CK_TRAILER;
			break;
		case CK_DATA_CR:
			if (ch != '\r') {
				goto bad;
			}
			state = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (ch != '\n') {
				goto bad;
			}
			state = CK_SIZE;
			break;
		case CK_TRAILER:
			if (ch == '\r') {
				state = CK_FINAL_LF;
			} else if (IS(ch, C_TCHAR)) {
				state = CK_TRAILER_NAME;
			} else {
				goto bad; /* obs-fold, bare LF, junk */
			}
			break;
		case CK_TRAILER_NAME:
			if (ch == ':') {
				state = CK_TRAILER_VALUE;
			} else if (!IS(ch, C_TCHAR)) {
				goto bad;
			}
			break;
		case CK_TRAILER_VALUE:
			if (ch == '\r') {
				state = CK_TRAILER_LF;
			} else if (!IS(ch, C_VALUE)) {
				goto bad;
			}
			break;
		case CK_TRAILER_LF:
			if (ch != '\n') {
				goto bad;
			}
			state = CK_TRAILER;
			break;
		case CK_FINAL_LF:
			if (ch != '\n') {
				goto bad;
			}
			c->done = true;
			c->state = CK_DONE;
			return (long)(p + 1 - buf);
		default:
			goto bad;
		}
		p++;
	}
	c->state = state;
	return (long)(p - buf);

bad:
	c->state = CK_ERROR;
	return -1;
}

long http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len)
{
	return chunked_run(c, buf, len, false);
}

long http1_chunked_decode(struct http1_chunked *c, char *buf, size_t len, size_t *data_len)
{
	size_t in = 0, out = 0;

	*data_len = 0;
	while (in < len && !c->done) {
		long n;

		if (c->state == CK_DATA) {
			size_t d = len - in;

			if (d > c->remaining) {
				d = (size_t)c->remaining;
			}
			memmove(buf + out, buf + in, d);
			in += d;
			out += d;
			c->remaining -= d;
			c->total += d;
			if (!c->remaining) {
				c->state = CK_DATA_CR;
			}
			continue;
		}
		n = chunked_run(c, buf + in, len - in, true);
		if (n < 0) {
			return -1;
		}
		in += (size_t)n;
	}
	*data_len = out;
	return (long)in;
}
