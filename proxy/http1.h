/*
 * http1 — strict HTTP/1.1 message heads and bodies (RFC 9112), parsed in
 * place: the parser never copies; it describes the bytes of the caller's
 * read buffer with slices, so a proxy can forward them with writev.
 *
 * Strict is safe: whatever could let a front end and a back end disagree on
 * where a message ends is refused (request smuggling): Content-Length
 * together with Transfer-Encoding, differing or malformed Content-Length
 * values, a Transfer-Encoding other than a final "chunked", obs-fold, bare CR
 * or LF, whitespace before the colon or in a header name, invalid header
 * name or value bytes, bad chunk sizes or chunk extensions, an HTTP version
 * other than 1.0/1.1, a request target that is neither origin-form nor
 * asterisk-form (absolute-form only for CONNECT is refused too: berth-proxy
 * is never a forward proxy).
 *
 *	struct http1_msg m;
 *	int n = http1_parse_request(buf, len, &lim, &m);
 *	n > 0: the head is n bytes long and m describes it
 *	n == 0: the head is not complete yet (read more; 431 beyond lim.max_head)
 *	n < 0: -status: the HTTP status to answer (400, 431, 501, 505)
 */
#ifndef HTTP1_H
#define HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/slice.h"

#define HTTP1_MAX_HEADERS 128

struct http1_header {
	struct slice name;  /* as written (case kept); compare with slice_caseeq_cstr */
	struct slice value; /* leading and trailing whitespace removed */
};

enum http1_body {
	HTTP1_BODY_NONE = 0,   /* no body (or a response to HEAD, 1xx, 204, 304) */
	HTTP1_BODY_LENGTH = 1, /* content_length bytes */
	HTTP1_BODY_CHUNKED = 2,
	HTTP1_BODY_EOF = 3,    /* responses only: until the connection closes */
};

enum http1_flags {
	HTTP1_F_KEEP_ALIVE = 1 << 0,  /* the connection may carry another message */
	HTTP1_F_EXPECT_100 = 1 << 1,  /* Expect: 100-continue */
	HTTP1_F_UPGRADE = 1 << 2,     /* Connection: upgrade with an Upgrade header */
	HTTP1_F_HAS_HOST = 1 << 3,
};

struct http1_msg {
	/* requests */
	struct slice method, target, path, query; /* path and query split from target */
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
	unsigned flags;       /* enum http1_flags */
	size_t head_len;      /* bytes of the head, including the final CRLF CRLF */
};

struct http1_limits {
	size_t max_head;     /* 0: 64 KiB */
	size_t max_headers;  /* 0: HTTP1_MAX_HEADERS */
};

/* Returns head length > 0, 0 when incomplete, or -status on a bad request. */
int http1_parse_request(const char *buf, size_t len, const struct http1_limits *lim,
			struct http1_msg *m);
/*
 * Parses a response head. req_method is the request's method (a response to
 * HEAD has no body); Returns as http1_parse_request, with -502 for a
 * response that cannot be trusted.
 */
int http1_parse_response(const char *buf, size_t len, const struct http1_limits *lim,
			 struct slice req_method, struct http1_msg *m);

/* The value of the first header with this name (case-insensitive), or SLICE_NULL. */
struct slice http1_header(const struct http1_msg *m, const char *name);
/* Whether a header is hop-by-hop (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-Connection, Proxy-Authenticate/-Authorization, or named in Connection). */
bool http1_is_hop_by_hop(const struct http1_msg *m, struct slice name);

/*
 * Chunked body decoder, incremental: feed it bytes as they arrive; it says
 * how many of them belong to the body (including chunk framing, so a proxy
 * can pass them through unchanged) and when the body (with trailers) ends.
 */
struct http1_chunked {
	int state;
	uint64_t remaining; /* data bytes left in the current chunk */
	size_t line_len;    /* bytes of the current size/trailer line so far */
	uint64_t total;     /* data bytes seen */
	bool done;
};

void http1_chunked_init(struct http1_chunked *c);
/*
 * Consumes up to len bytes of framing and data. Returns the number of bytes
 * consumed (they belong to this body; stop at the end of the body: what
 * follows is the next message), or -1 on malformed framing. c->done is set
 * once the terminating chunk and trailers have been consumed.
 */
long http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len);

#endif
