/*
 * http1 — strict HTTP/1.1 message heads and bodies (RFC 9112), parsed in
 * place: the parser never copies; it describes the bytes of the caller's
 * read buffer with slices, so a proxy can forward them with writev.
 *
 * Strict is safe: whatever could let a front end and a back end disagree on
 * where a message ends is refused (request smuggling): Content-Length
 * together with Transfer-Encoding, more than one Content-Length value (even
 * equal ones: "3, 3" or the field twice is refused, never forwarded), a
 * malformed one, a Transfer-Encoding other than a final "chunked", obs-fold, bare CR
 * or LF, whitespace before the colon or in a header name, invalid header
 * name or value bytes, bad chunk sizes or chunk extensions, an HTTP version
 * other than 1.0/1.1, a request target that is neither origin-form nor
 * asterisk-form (absolute-form only for CONNECT is refused too: berth-proxy
 * is never a forward proxy).
 *
 *	struct http1_msg m;
 *	int n = http1_parse_request(buf, len, &lim, &m);
 *	n > 0: the head is n bytes long and m describes it
 *	n == 0: the head is not complete yet (read more; 414 or 431 beyond lim.max_head)
 *	n < 0: -status: the HTTP status to answer (400, 405, 414, 431, 501, 505)
 *	then http1_normalize_path(buf, &m): 0, or -400
 *
 * Only the bytes a decision needs are looked at, so feeding a head in pieces
 * gives 0 until it is complete and then the same answer as feeding it whole;
 * a malformed head may be refused before it is complete. A request with
 * leading empty lines (CRLF) has them skipped (RFC 9112 section 2.2); they
 * count in the head length.
 *
 * What is refused, and with which status:
 *	400  any syntax error in the request line or a header field; a target
 *	     that is not origin-form ("/...") or "*" with OPTIONS (absolute-form
 *	     too, which RFC 9112 would have a server accept: berth-proxy routes
 *	     by Host only and is never a forward proxy); Content-Length with
 *	     Transfer-Encoding; Transfer-Encoding in HTTP/1.0 or whose final
 *	     coding is not "chunked" or that has "chunked" twice; a
 *	     Content-Length that is not digits, or more than one (a list, or
 *	     the field twice, even with equal values); a missing (HTTP/1.1) or
 *	     repeated Host, or one with bytes a host name cannot have; a
 *	     Connection header that is not a list of tokens; (from
 *	     http1_normalize_path) a path with a '%' not followed by two hex
 *	     digits, or whose ".." segments climb above the root
 *	405  CONNECT, whatever its target (no tunnels to arbitrary hosts); the
 *	     answer says "Allow: " HTTP1_ALLOW
 *	414  a request line that alone is longer than lim.max_head
 *	431  head longer than lim.max_head, or more than lim.max_headers fields
 *	501  a transfer coding other than "chunked" before the final "chunked"
 *	     (RFC 9112 6.1: a coding the proxy does not know; a request whose
 *	     last coding is not "chunked" has no knowable length: 400)
 *	505  an HTTP version other than 1.0 and 1.1 (well-formed "HTTP/d.d")
 * Request-target bytes: visible ASCII but '#'; anything else is 400.
 */
#ifndef HTTP1_H
#define HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/slice.h"

#define HTTP1_MAX_HEADERS 128

/* The methods a 405 (CONNECT) says are allowed: the common ones; any other token is forwarded. */
#define HTTP1_ALLOW "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"

struct http1_header {
	struct slice name;  /* as written (case kept); compare with slice_caseeq_cstr */
	struct slice value; /* leading and trailing whitespace removed */
};

enum http1_body {
	HTTP1_BODY_NONE = 0,   /* no body (or a response to HEAD, 1xx, 204, 304) */
	HTTP1_BODY_LENGTH = 1, /* content_length bytes */
	HTTP1_BODY_CHUNKED = 2,
	HTTP1_BODY_EOF = 3, /* responses only: until the connection closes */
};

/* When the body is CHUNKED, the chunk framing is part of the body bytes (see
 * http1_chunked_feed); a proxy that passes them through must send
 * "Transfer-Encoding: chunked" with them even though it is hop-by-hop. */
enum http1_flags {
	HTTP1_F_KEEP_ALIVE = 1 << 0, /* the connection may carry another message */
	HTTP1_F_EXPECT_100 = 1 << 1, /* Expect: 100-continue */
	HTTP1_F_UPGRADE = 1 << 2,    /* Connection: upgrade with an Upgrade header */
	HTTP1_F_HAS_HOST = 1 << 3,
	HTTP1_F_CONN_NAMES = 1 << 4, /* Connection names other fields (hop-by-hop too) */
};

struct http1_msg {
	/* requests: path and query split from target; path normalized by http1_normalize_path */
	struct slice method, target, path, query;
	/* responses */
	unsigned status;
	struct slice reason;
	/* both */
	unsigned minor; /* HTTP/1.minor: 0 or 1 */
	struct http1_header headers[HTTP1_MAX_HEADERS];
	size_t nr_headers;
	struct slice host;    /* the Host header's value (requests) */
	struct slice upgrade; /* the Upgrade header's value */
	enum http1_body body;
	uint64_t content_length;
	unsigned flags;	 /* enum http1_flags */
	size_t head_len; /* bytes of the head, including the final CRLF CRLF */
	/* bit i set: headers[i] is hop-by-hop (as http1_is_hop_by_hop says) */
	uint64_t hop_by_hop[(HTTP1_MAX_HEADERS + 63) / 64];
};

/* Whether headers[i] is hop-by-hop: one bit test, for building the upstream request. */
static inline bool http1_header_is_hop(const struct http1_msg *m, size_t i)
{
	return (m->hop_by_hop[i / 64] >> (i % 64)) & 1;
}

/* lim may be NULL: the defaults. Larger values are capped (1 GiB, HTTP1_MAX_HEADERS). */
struct http1_limits {
	size_t max_head;    /* 0: 64 KiB */
	size_t max_headers; /* 0: HTTP1_MAX_HEADERS */
};

/* Returns head length > 0, 0 when incomplete, or -status on a bad request. */
int http1_parse_request(const char *buf, size_t len, const struct http1_limits *lim,
			struct http1_msg *m);
/*
 * Normalizes the path of the request that m describes (see proxy/path.h),
 * for routing and for the upstream, in place: buf is the buffer the request
 * was parsed from (m's slices point into it), and the only bytes written
 * are those of the path. A path that is normal already (most are: no '%',
 * "//" or dot segment) is left alone at the cost of a scan. Else the
 * normalized path is written so that it ends where the path ended, the
 * bytes before it (from the target's start) become '/', and m->path and
 * m->target start after them: parsing and normalizing buf again gives the
 * same message, and a proxy builds its request line from m->method, a
 * space and m->target. Returns 0, or -400 for a path that path_normalize
 * refuses. The "*" target of OPTIONS is left alone.
 */
int http1_normalize_path(char *buf, struct http1_msg *m);

/*
 * Parses a response head. req_method is the request's method (a response to
 * HEAD has no body); Returns as http1_parse_request, with -502 for a
 * response that cannot be trusted: every refusal is -502 (a syntax error,
 * a head beyond the limits, a version other than 1.0/1.1, a status outside
 * 100..599, more than one Content-Length value (equal ones too),
 * Content-Length with Transfer-Encoding, Transfer-Encoding in HTTP/1.0 or
 * other than exactly "chunked": a coding such as gzip, before chunked or
 * alone, would have to be kept with its bytes or decoded, and is refused,
 * as nginx does). Body: NONE for HEAD, 1xx, 204 and 304 (and
 * Content-Length 0); CHUNKED with Transfer-Encoding; EOF when there is no
 * Content-Length (keep-alive is then cleared). A 1xx head is parsed on its
 * own: parse again for the next one.
 */
int http1_parse_response(const char *buf, size_t len, const struct http1_limits *lim,
			 struct slice req_method, struct http1_msg *m);

/*
 * Whether buf[0, len) may hold a complete head, given that buf[0, prev_len)
 * did not: it looks for an empty line only in the new bytes (and the two
 * before them). Calling the parsers only when this is true, or once len
 * reaches the head limit, keeps a client that sends its head a byte at a
 * time from making the parser rescan the head on every read.
 */
bool http1_head_ready(const char *buf, size_t len, size_t prev_len);

/* The value of the first header with this name (case-insensitive), or SLICE_NULL. */
struct slice http1_header(const struct http1_msg *m, const char *name);
/* Whether a header is hop-by-hop (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-Connection, Proxy-Authenticate/-Authorization, or named in Connection).
 * Content-Length and Host are never hop-by-hop, even when Connection names
 * them: a client must not be able to make the proxy drop the framing or the
 * routing header it acted on. */
bool http1_is_hop_by_hop(const struct http1_msg *m, struct slice name);

/*
 * Chunked body decoder, incremental: feed it bytes as they arrive; it says
 * how many of them belong to the body (including chunk framing, so a proxy
 * can pass them through unchanged) and when the body (with trailers) ends.
 */
struct http1_chunked {
	int state;
	uint64_t remaining; /* data bytes left in the current chunk */
	size_t line_len;    /* bytes of the current chunk-size line so far */
	uint64_t total;	    /* data bytes seen */
	bool done;
	size_t trailer_len; /* bytes of trailers so far (at most 8 KiB) */
};

void http1_chunked_init(struct http1_chunked *c);
/*
 * Consumes up to len bytes of framing and data. Returns the number of bytes
 * consumed (they belong to this body; stop at the end of the body: what
 * follows is the next message), or -1 on malformed framing. c->done is set
 * once the terminating chunk and trailers have been consumed.
 *
 * Framing is strict: chunk sizes are 1 to 16 hex digits (no "0x", sign or
 * whitespace); extensions only ";name" or ";name=token" or
 * ";name=\"quoted\"", the size line at most 1 KiB; CRLF after every line and
 * after the chunk data; trailer fields as strict as header fields, 8 KiB in
 * all. After an error the decoder stays failed.
 */
long http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len);
/*
 * The same, keeping only the data: the chunk data among the bytes consumed
 * is moved to the front of buf (framing, extensions and trailers dropped)
 * and *data_len says how long it is. For a client that cannot take chunked
 * framing (HTTP/1.0). Returns the bytes consumed, or -1 as above.
 */
long http1_chunked_decode(struct http1_chunked *c, char *buf, size_t len, size_t *data_len);

#endif
