#include "proxy/http1.h"

#include <stdlib.h>

#include "unit.h"

#define V(s, want)                                                                                 \
	{                                                                                          \
		s, sizeof(s) - 1, want                                                             \
	}

struct vec {
	const char *s;
	size_t len;
	int want;
};

static int req(const char *s, struct http1_msg *m)
{
	return http1_parse_request(s, strlen(s), NULL, m);
}

static int resp(const char *s, const char *method, struct http1_msg *m)
{
	return http1_parse_response(s, strlen(s), NULL, slice_cstr(method), m);
}

static bool eq(struct slice s, const char *want)
{
	return want ? s.ptr && slice_eq_cstr(s, want) : !s.ptr;
}

static void test_request_get(void)
{
	static const char r[] = "GET /a/b?x=1&y HTTP/1.1\r\n"
				"Host: example.com:8080\r\n"
				"User-Agent:  curl/8 \t\r\n"
				"X-Empty:\r\n"
				"Accept: */*\r\n"
				"\r\n";
	struct http1_msg m;

	CHECK_INT(req(r, &m), sizeof(r) - 1);
	CHECK_INT(m.head_len, sizeof(r) - 1);
	CHECK(eq(m.method, "GET"));
	CHECK(eq(m.target, "/a/b?x=1&y"));
	CHECK(eq(m.path, "/a/b"));
	CHECK(eq(m.query, "x=1&y"));
	CHECK_INT(m.minor, 1);
	CHECK(eq(m.host, "example.com:8080"));
	CHECK_INT(m.nr_headers, 4);
	CHECK(eq(m.headers[1].name, "User-Agent"));
	CHECK(eq(m.headers[1].value, "curl/8"));
	CHECK(eq(m.headers[2].value, ""));
	CHECK(eq(http1_header(&m, "user-agent"), "curl/8"));
	CHECK(eq(http1_header(&m, "ACCEPT"), "*/*"));
	CHECK(eq(http1_header(&m, "x-empty"), ""));
	CHECK(!http1_header(&m, "x-missing").ptr);
	CHECK_INT(m.body, HTTP1_BODY_NONE);
	CHECK_INT(m.flags, HTTP1_F_KEEP_ALIVE | HTTP1_F_HAS_HOST);
	/* the slices point into the caller's buffer */
	CHECK(m.method.ptr == r);
	CHECK(m.host.ptr > r && m.host.ptr < r + sizeof(r));
}

static void test_request_shapes(void)
{
	struct http1_msg m;
	int n;

	n = req("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", &m);
	CHECK_INT(n, 49);
	CHECK_INT(m.body, HTTP1_BODY_LENGTH);
	CHECK_INT(m.content_length, 5);
	CHECK(eq(m.query, NULL));

	n = req("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_NONE);

	n = req("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(m.content_length == 9223372036854775807ULL);

	n = req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_CHUNKED);
	CHECK(http1_is_hop_by_hop(&m, SLICE_LIT("transfer-encoding")));
	n = req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked,\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_CHUNKED);

	/* HTTP/1.0: no Host needed, keep-alive only when asked for */
	n = req("GET / HTTP/1.0\r\n\r\n", &m);
	CHECK_INT(n, 18);
	CHECK_INT(m.minor, 0);
	CHECK_INT(m.flags, 0);
	CHECK(!m.host.ptr);
	n = req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK_INT(m.flags, HTTP1_F_KEEP_ALIVE | HTTP1_F_HAS_HOST);
	n = req("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(!(m.flags & HTTP1_F_KEEP_ALIVE));
	n = req("GET / HTTP/1.1\r\nConnection: CLOSE\r\nHost: a\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(!(m.flags & HTTP1_F_KEEP_ALIVE));

	n = req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(eq(m.target, "*"));
	CHECK(eq(m.path, "*"));

	n = req("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
		&m);
	CHECK(n > 0);
	CHECK(m.flags & HTTP1_F_EXPECT_100);
	n = req("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(!(m.flags & HTTP1_F_EXPECT_100));

	n = req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
		"Upgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n",
		&m);
	CHECK(n > 0);
	CHECK(m.flags & HTTP1_F_UPGRADE);
	CHECK(eq(m.upgrade, "websocket"));
	n = req("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(!(m.flags & HTTP1_F_UPGRADE));
	CHECK(eq(m.upgrade, "websocket"));
	n = req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(!(m.flags & HTTP1_F_UPGRADE));
	n = req("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(!(m.flags & HTTP1_F_UPGRADE));

	/* leading empty lines are skipped and counted */
	n = req("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &m);
	CHECK_INT(n, 31);
	CHECK(eq(m.method, "GET"));

	/* obs-text and HT in values; any token as a method; empty Host */
	n = req("BREW /pot?q=[]{}|^ HTTP/1.1\r\nHost:\r\nX: caf\xc3\xa9\tau\tlait\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(eq(m.method, "BREW"));
	CHECK(eq(m.query, "q=[]{}|^"));
	CHECK(eq(m.host, ""));
	CHECK(eq(m.headers[1].value, "caf\xc3\xa9\tau\tlait"));
	CHECK(m.flags & HTTP1_F_HAS_HOST);

	/* visible ASCII that RFC 3986 would have escaped is passed on, as browsers send it */
	n = req("GET /a\"b\\c`d HTTP/1.1\r\nHost: a\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(eq(m.path, "/a\"b\\c`d"));

	/* an empty query is present, not absent */
	n = req("GET /x? HTTP/1.1\r\nHost: a\r\n\r\n", &m);
	CHECK(n > 0);
	CHECK(eq(m.query, ""));
	CHECK(eq(m.path, "/x"));

	/* a long target and value take the eight-bytes-at-a-time path */
	n = req("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb "
		"HTTP/1.1\r\nHost: a\r\nCookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa   "
		"\r\n\r\n",
		&m);
	CHECK(n > 0);
	CHECK_INT(m.path.len, 43);
	CHECK_INT(m.headers[1].value.len, 44);
}

/* Every position of a long value and target, so that the 16- and 8-byte scans and their
 * tails all meet the odd byte. */
static void test_byte_positions(void)
{
	static const char bad_value[] = {'\0', '\x01', '\x1f', '\x7f', '\n', '\r'};
	static const char bad_target[] = {' ', '\0', '\t', '#', '\x7f', '\x80', '\xff', '\r'};
	char r[200], want[64];
	struct http1_msg m;
	size_t i, j, n, at;

	for (i = 0; i < 40; i++) {
		n = (size_t)snprintf(r, sizeof(r), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
		at = n + i;
		memset(r + n, 'v', 40);
		memcpy(r + n + 40, "\r\n\r\n", 4);
		n += 44;
		for (j = 0; j < sizeof(bad_value); j++) {
			r[at] = bad_value[j];
			CHECK_INT(http1_parse_request(r, n, NULL, &m), -400);
		}
		r[at] = '\t';
		memset(want, 'v', 40);
		want[i] = '\t';
		want[i == 39 ? 39 : 40] = '\0';
		CHECK_INT(http1_parse_request(r, n, NULL, &m), n);
		/* a tab at either end is whitespace around the value */
		CHECK(eq(m.headers[1].value, i ? want : want + 1));
		r[at] = '\xc3';
		CHECK_INT(http1_parse_request(r, n, NULL, &m), n);

		n = (size_t)snprintf(r, sizeof(r), "GET /");
		at = n + i;
		memset(r + n, 'p', 40);
		n += 40;
		n += (size_t)snprintf(r + n, sizeof(r) - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
		CHECK_INT(http1_parse_request(r, n, NULL, &m), n);
		CHECK_INT(m.path.len, 41);
		for (j = 0; j < sizeof(bad_target); j++) {
			r[at] = bad_target[j];
			CHECK_INT(http1_parse_request(r, n, NULL, &m), -400);
		}
		r[at] = '~';
		CHECK_INT(http1_parse_request(r, n, NULL, &m), n);
	}
}

static void test_hop_by_hop(void)
{
	static const char r[] = "GET / HTTP/1.1\r\n"
				"Host: a\r\n"
				"Connection: keep-alive, X-Secret, host, Content-Length\r\n"
				"Keep-Alive: 5\r\n"
				"x-secret: 1\r\n"
				"TE: trailers\r\n"
				"Content-Length: 0\r\n"
				"Proxy-Authorization: x\r\n"
				"Accept: */*\r\n"
				"Upgrade: h2c\r\n"
				"\r\n";
	bool want[] = {false, true, true, true, true, false, true, false, true};
	struct http1_msg m;
	size_t i;

	CHECK_INT(req(r, &m), sizeof(r) - 1);
	CHECK_INT(m.nr_headers, 9);
	CHECK(m.flags & HTTP1_F_CONN_NAMES);
	for (i = 0; i < m.nr_headers; i++) {
		CHECK_INT(http1_header_is_hop(&m, i), want[i]);
		CHECK_INT(http1_is_hop_by_hop(&m, m.headers[i].name), want[i]);
	}
	CHECK(http1_is_hop_by_hop(&m, SLICE_LIT("Proxy-Connection")));
	CHECK(http1_is_hop_by_hop(&m, SLICE_LIT("trailer")));
	CHECK(http1_is_hop_by_hop(&m, SLICE_LIT("Proxy-Authenticate")));
	CHECK(http1_is_hop_by_hop(&m, SLICE_LIT("X-SECRET")));
	CHECK(!http1_is_hop_by_hop(&m, SLICE_LIT("Host")));
	CHECK(!http1_is_hop_by_hop(&m, SLICE_LIT("Content-Length")));
	CHECK(!http1_is_hop_by_hop(&m, SLICE_LIT("X-Secrets")));
	CHECK(!http1_is_hop_by_hop(&m, SLICE_LIT("")));
	CHECK(!http1_is_hop_by_hop(&m, SLICE_LIT("Keep\ralive")));
	CHECK(!http1_is_hop_by_hop(&m, SLICE_LIT("X-Secret ")));

	/* without names in Connection, only the standard ones */
	CHECK(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, Upgrade\r\nX-Secret: 1\r\n\r\n",
		  &m) > 0);
	CHECK(!(m.flags & HTTP1_F_CONN_NAMES));
	CHECK(!http1_is_hop_by_hop(&m, SLICE_LIT("X-Secret")));
	CHECK(!http1_header_is_hop(&m, 2));
	CHECK(http1_header_is_hop(&m, 1));
}

static void test_pipelined(void)
{
	static const char r[] = "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
				"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
				"3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"
				"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
				"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *want[] = {"/1", "/2", "/3", "/4"};
	size_t off = 0, len = sizeof(r) - 1;
	struct http1_msg m;
	struct http1_chunked c;
	int i, n;
	long k;

	for (i = 0; i < 4; i++) {
		n = http1_parse_request(r + off, len - off, NULL, &m);
		CHECK(n > 0);
		if (n <= 0) {
			return;
		}
		CHECK(eq(m.target, want[i]));
		off += (size_t)n;
		if (m.body == HTTP1_BODY_LENGTH) {
			off += m.content_length;
		} else if (m.body == HTTP1_BODY_CHUNKED) {
			http1_chunked_init(&c);
			k = http1_chunked_feed(&c, r + off, len - off);
			CHECK_INT(k, 23);
			CHECK(c.done);
			CHECK_INT(c.total, 3);
			off += (size_t)k;
		}
	}
	CHECK_INT(off, len);
	CHECK_INT(http1_parse_request(r + off, 0, NULL, &m), 0);
}

/* A request's answer must not depend on how its bytes arrive. */
static void check_incremental(const char *s, size_t len, bool response)
{
	struct http1_msg m;
	size_t i;
	int whole, n, first = 0;
	char *copy;

	whole = response ? http1_parse_response(s, len, NULL, SLICE_LIT("GET"), &m)
			 : http1_parse_request(s, len, NULL, &m);
	for (i = 0; i <= len; i++) {
		/* a copy of exactly i bytes, so ASan sees any read beyond them */
		copy = malloc(i ? i : 1);
		memcpy(copy, s, i);
		n = response ? http1_parse_response(copy, i, NULL, SLICE_LIT("GET"), &m)
			     : http1_parse_request(copy, i, NULL, &m);
		free(copy);
		if (n != 0 && !first) {
			first = n;
			if (n != whole) {
				printf("#   prefix %zu of \"%.*s\": %d, whole: %d\n", i, (int)len,
				       s, n, whole);
			}
			CHECK_INT(n, whole);
		}
		if (first) {
			CHECK_INT(n, first);
		}
		if (whole > 0) {
			CHECK_INT(n, i < (size_t)whole ? 0 : whole);
		}
	}
}

static const struct vec valid_requests[] = {
    V("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27),
    V("GET / HTTP/1.0\r\n\r\n", 18),
    V("\r\nGET / HTTP/1.0\r\n\r\n", 20),
    V("POST /p?q HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok", 50),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 56),
    V("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 31),
    V("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n"
      "X-Long: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n",
      131),
};

static void test_request_incremental(void)
{
	size_t i;
	struct http1_msg m;

	for (i = 0; i < sizeof(valid_requests) / sizeof(valid_requests[0]); i++) {
		const struct vec *v = &valid_requests[i];

		CHECK_INT(http1_parse_request(v->s, v->len, NULL, &m), v->want);
		check_incremental(v->s, v->len, false);
	}
}

/* Smuggling and malformed requests: each with the status it must get. */
static const struct vec bad_requests[] = {
    /* Content-Length and Transfer-Encoding together, in either order */
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 400),
    /* Transfer-Encoding whose final coding is not chunked, or unknown */
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked-false\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
      "gzip\r\n\r\n",
      400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0b"
      "chunked\r\n\r\n",
      400),
    /* a coding the proxy does not know, before the final chunked (RFC 9112 6.1) */
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
      501),
    /* Content-Length more than once, even with equal values */
    V("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n", 400),
    V("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 , 7,7\r\n\r\n", 400),
    V("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400),
    V("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3,\r\n\r\n", 400),
    V("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 3\r\n\r\n", 400),
    /* whitespace before the colon, obs-fold, odd names */
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n\tTransfer-Encoding: chunked\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nX(Y): z\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nNo-Colon\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: z\r\n\r\n", 400),
    /* HTTP/1.0 with Transfer-Encoding */
    V("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    /* Content-Length values */
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4,\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4 4\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1_000\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 400),
    V("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa5\r\n\r\n", 400),
    /* line endings: bare LF, bare CR, anywhere in the head */
    V("GET / HTTP/1.1\nHost: a\n\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nX: 1\rY: 2\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400),
    V("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    V("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400),
    /* control bytes in values */
    V("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\0.evil\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400),
    /* the request line */
    V("GET http://evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET https://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET evil.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 405),
    V("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
    V("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    V(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET /\r\n\r\n", 400),
    V("GET / \r\nHost: a\r\n\r\n", 400),
    /* versions */
    V("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    V("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    V("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    V("GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505),
    V("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    V("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400),
    V("GET / HTTP/11\r\nHost: a\r\n\r\n\r\n", 400),
    V("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    V("GET / HTTP/1,1\r\nHost: a\r\n\r\n", 400),
    V("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400),
    /* Host */
    V("GET / HTTP/1.1\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    V("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400),
    /* Connection must be a list of tokens */
    V("GET / HTTP/1.1\r\nHost: a\r\nConnection: close; x\r\n\r\n", 400),
    V("GET / HTTP/1.1\r\nHost: a\r\nConnection: \"close\"\r\n\r\n", 400),
};

static void test_smuggling(void)
{
	size_t i, nr = sizeof(bad_requests) / sizeof(bad_requests[0]);
	struct http1_msg m;
	int n;

	CHECK(nr >= 40);
	for (i = 0; i < nr; i++) {
		const struct vec *v = &bad_requests[i];

		n = http1_parse_request(v->s, v->len, NULL, &m);
		if (n != -v->want) {
			printf("#   vector %zu: \"%.*s\"\n", i, (int)v->len, v->s);
		}
		CHECK_INT(n, -v->want);
		check_incremental(v->s, v->len, false);
	}
}

/* Parses r (a writable copy) and normalizes its path; the status, or the head length. */
static int req_norm(char *r, struct http1_msg *m)
{
	int n = http1_parse_request(r, strlen(r), NULL, m);

	if (n > 0 && http1_normalize_path(r, m) < 0) {
		return -400;
	}
	return n;
}

static void test_normalize_path(void)
{
	static const struct {
		const char *in, *line, *path, *query;
	} cases[] = {
	    /* the request line as the buffer holds it afterwards, path and query */
	    {"GET /a/b?x=%2e%2e HTTP/1.1\r\n", "GET /a/b?x=%2e%2e HTTP/1.1\r\n", "/a/b",
	     "x=%2e%2e"},
	    {"GET /app/../secret/x HTTP/1.1\r\n", "GET ////////secret/x HTTP/1.1\r\n", "/secret/x",
	     NULL},
	    {"GET //secret/x?q HTTP/1.1\r\n", "GET //secret/x?q HTTP/1.1\r\n", "/secret/x", "q"},
	    {"GET /%73ecret/x HTTP/1.1\r\n", "GET ///secret/x HTTP/1.1\r\n", "/secret/x", NULL},
	    {"GET /a%2fb/. HTTP/1.1\r\n", "GET //a%2Fb/ HTTP/1.1\r\n", "/a%2Fb/", NULL},
	    {"POST /a/.. HTTP/1.1\r\n", "POST ///// HTTP/1.1\r\n", "/", NULL},
	    {"OPTIONS * HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n", "*", NULL},
	};
	static const char *const refused[] = {
	    "GET /../x HTTP/1.1\r\n",
	    "GET /a/%2e%2e/.. HTTP/1.1\r\n",
	    "GET /a%zz HTTP/1.1\r\n",
	    "GET /a% HTTP/1.1\r\n",
	};
	struct http1_msg m;
	char buf[256], again[256];
	size_t i;
	int n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%sHost: a\r\n\r\n", cases[i].in);
		n = req_norm(buf, &m);
		CHECK_INT(n, strlen(buf));
		CHECK(!strncmp(buf, cases[i].line, strlen(cases[i].line)));
		CHECK(eq(m.path, cases[i].path));
		CHECK(eq(m.query, cases[i].query));
		/* the target is the path and the query, as the upstream gets them */
		CHECK(m.target.ptr == m.path.ptr);
		CHECK_INT(m.target.len, m.path.len + (m.query.ptr ? m.query.len + 1 : 0));
		CHECK(eq(m.headers[0].value, "a"));
		/* parsing the rewritten buffer again gives the same message */
		memcpy(again, buf, sizeof(buf));
		CHECK_INT(req_norm(again, &m), n);
		CHECK(!memcmp(again, buf, (size_t)n));
		CHECK(eq(m.path, cases[i].path));
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(buf, sizeof(buf), "%sHost: a\r\n\r\n", refused[i]);
		CHECK_INT(req_norm(buf, &m), -400);
	}
}

static void test_limits(void)
{
	static const char r[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	struct http1_limits lim = {0};
	struct http1_msg m;
	char *big;
	size_t len = sizeof(r) - 1, i, n;

	lim.max_head = len;
	CHECK_INT(http1_parse_request(r, len, &lim, &m), len);
	lim.max_head = len - 1;
	CHECK_INT(http1_parse_request(r, len, &lim, &m), -431);
	CHECK_INT(http1_parse_request(r, len - 1, &lim, &m), -431);
	CHECK_INT(http1_parse_request(r, len - 2, &lim, &m), 0);
	lim.max_head = 0;
	lim.max_headers = 3;
	CHECK_INT(http1_parse_request(r, len, &lim, &m), len);
	lim.max_headers = 2;
	CHECK_INT(http1_parse_request(r, len, &lim, &m), -431);
	CHECK_INT(http1_parse_response(r, len, &lim, SLICE_LIT("GET"), &m), -502);

	/* the default head limit is 64 KiB, and at most 128 fields */
	big = malloc(70000);
	n = (size_t)snprintf(big, 70000, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'x', 70000 - n);
	CHECK_INT(http1_parse_request(big, 65535, NULL, &m), 0);
	CHECK_INT(http1_parse_request(big, 65536, NULL, &m), -431);
	CHECK_INT(http1_parse_request(big, 70000, NULL, &m), -431);
	/* a request line that alone fills the limit: its target is too long */
	n = (size_t)snprintf(big, 70000, "GET /");
	memset(big + n, 'a', 70000 - n);
	CHECK_INT(http1_parse_request(big, 65535, NULL, &m), 0);
	CHECK_INT(http1_parse_request(big, 65536, NULL, &m), -414);
	CHECK_INT(http1_parse_request(big, 70000, NULL, &m), -414);
	memcpy(big + 65520, " HTTP/1.1\r\n", 11); /* ends just inside: the head is too long */
	CHECK_INT(http1_parse_request(big, 70000, NULL, &m), -431);
	memset(big, 'G', 70000); /* a method as long */
	CHECK_INT(http1_parse_request(big, 70000, NULL, &m), -414);
	lim.max_head = 10;
	lim.max_headers = 0;
	CHECK_INT(http1_parse_request(r, len, &lim, &m), -414);
	lim.max_head = 0;
	n = (size_t)snprintf(big, 70000, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 127; i++) {
		n += (size_t)snprintf(big + n, 70000 - n, "X%zu: %zu\r\n", i, i);
	}
	memcpy(big + n, "\r\n", 2);
	CHECK_INT(http1_parse_request(big, n + 2, NULL, &m), n + 2);
	CHECK_INT(m.nr_headers, 128);
	memcpy(big + n, "Y: 1\r\n\r\n", 8);
	CHECK_INT(http1_parse_request(big, n + 8, NULL, &m), -431);
	lim.max_headers = 1000; /* capped to what the array holds */
	CHECK_INT(http1_parse_request(big, n + 8, &lim, &m), -431);
	free(big);
}

static void test_head_ready(void)
{
	static const char r[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t len = sizeof(r) - 1, i;

	for (i = 0; i < len; i++) {
		CHECK(!http1_head_ready(r, i, 0));
		CHECK(!http1_head_ready(r, i + 1, i) == (i + 1 < len));
	}
	CHECK(!http1_head_ready(r, len, len));
	CHECK(http1_head_ready("a\n\n", 3, 0));
	CHECK(http1_head_ready("a\n\n", 3, 2));
	CHECK(http1_head_ready("a\n\r\n", 4, 3));
	CHECK(!http1_head_ready("a\r\r\n", 4, 0));
	CHECK(!http1_head_ready("\r\n", 2, 0));
}

static void test_response(void)
{
	struct http1_msg m;
	int n;

	n = resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello", "GET", &m);
	CHECK_INT(n, 49);
	CHECK_INT(m.status, 200);
	CHECK(eq(m.reason, "OK"));
	CHECK_INT(m.minor, 1);
	CHECK_INT(m.body, HTTP1_BODY_LENGTH);
	CHECK_INT(m.content_length, 5);
	CHECK_INT(m.flags, HTTP1_F_KEEP_ALIVE);
	CHECK(!m.method.ptr);

	n = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", "GET", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_CHUNKED);
	CHECK(m.flags & HTTP1_F_KEEP_ALIVE);

	/* until the connection closes: no length */
	n = resp("HTTP/1.1 200 OK\r\n\r\n", "GET", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_EOF);
	CHECK(!(m.flags & HTTP1_F_KEEP_ALIVE));

	/* no body: HEAD, 1xx, 204, 304 */
	n = resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_NONE);
	CHECK(m.flags & HTTP1_F_KEEP_ALIVE);
	n = resp("HTTP/1.1 204 No Content\r\n\r\n", "DELETE", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_NONE);
	CHECK(m.flags & HTTP1_F_KEEP_ALIVE);
	n = resp("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", &m);
	CHECK(n > 0);
	CHECK_INT(m.body, HTTP1_BODY_NONE);
	n = resp("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "PUT", &m);
	CHECK_INT(n, 25);
	CHECK_INT(m.status, 100);
	CHECK_INT(m.body, HTTP1_BODY_NONE);
	n = resp(
	    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	    "GET", &m);
	CHECK(n > 0);
	CHECK(m.flags & HTTP1_F_UPGRADE);
	CHECK(eq(m.upgrade, "websocket"));
	CHECK_INT(m.body, HTTP1_BODY_NONE);

	/* HTTP/1.0 keep-alive; no reason; an empty reason; obs-text in the reason */
	n = resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", "GET",
		 &m);
	CHECK(n > 0);
	CHECK_INT(m.minor, 0);
	CHECK(m.flags & HTTP1_F_KEEP_ALIVE);
	n = resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", &m);
	CHECK(n > 0);
	CHECK(!(m.flags & HTTP1_F_KEEP_ALIVE));
	n = resp("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "GET", &m);
	CHECK(n > 0);
	CHECK_INT(m.status, 404);
	CHECK(!m.reason.ptr);
	n = resp("HTTP/1.1 503 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "GET", &m);
	CHECK(n > 0);
	CHECK(eq(m.reason, ""));
	CHECK(!(m.flags & HTTP1_F_KEEP_ALIVE));
	n = resp("HTTP/1.1 200 D\xc3\xa9j\xc3\xa0 vu\r\nContent-Length: 0\r\n\r\n", "GET", &m);
	CHECK(n > 0);
	CHECK(eq(m.reason, "D\xc3\xa9j\xc3\xa0 vu"));
}

static const struct vec bad_responses[] = {
    V("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 502),
    V("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 502),
    /* a coding other than chunked: its bytes would pass as the content */
    V("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", 502),
    V("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n", 502),
    /* Content-Length more than once, even with equal values */
    V("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 502),
    V("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\nContent-Length: 0\n\n", 502),
    V("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", 502),
    V("HTTP/1.1 200 O\rK\r\n\r\n", 502),
    V("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", 502),
    V("HTTP/2.0 200 OK\r\n\r\n", 502),
    V("HTTP/1.2 200 OK\r\n\r\n", 502),
    V("http/1.1 200 OK\r\n\r\n", 502),
    V("HTTP/1.1 20 OK\r\n\r\n", 502),
    V("HTTP/1.1 2000 OK\r\n\r\n", 502),
    V("HTTP/1.1 099 OK\r\n\r\n", 502),
    V("HTTP/1.1 600 OK\r\n\r\n", 502),
    V("HTTP/1.1  200 OK\r\n\r\n", 502),
    V("HTTP/1.1 200OK\r\n\r\n", 502),
    V("HTTP/1.1 -200 OK\r\n\r\n", 502),
    V("\r\nHTTP/1.1 200 OK\r\n\r\n", 502),
    V("ICY 200 OK\r\n\r\n", 502),
};

static void test_response_bad(void)
{
	size_t i, nr = sizeof(bad_responses) / sizeof(bad_responses[0]);
	struct http1_msg m;
	int n;

	for (i = 0; i < nr; i++) {
		const struct vec *v = &bad_responses[i];

		n = http1_parse_response(v->s, v->len, NULL, SLICE_LIT("GET"), &m);
		if (n != -v->want) {
			printf("#   vector %zu: \"%.*s\"\n", i, (int)v->len, v->s);
		}
		CHECK_INT(n, -v->want);
		check_incremental(v->s, v->len, true);
	}
	check_incremental("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 38, true);
	check_incremental("HTTP/1.1 404\r\n\r\n", 16, true);
}

/* Feeds a chunked body whole, then byte by byte; both must agree. */
static long chunked_whole(const char *s, size_t len, uint64_t *total)
{
	struct http1_chunked c;
	long n;

	http1_chunked_init(&c);
	n = http1_chunked_feed(&c, s, len);
	*total = c.total;
	return n >= 0 && !c.done ? 0 : n;
}

static long chunked_bytewise(const char *s, size_t len)
{
	struct http1_chunked c;
	size_t off = 0;
	long n;

	http1_chunked_init(&c);
	while (off < len && !c.done) {
		n = http1_chunked_feed(&c, s + off, 1);
		if (n < 0) {
			return n;
		}
		off += (size_t)n;
	}
	return c.done ? (long)off : 0;
}

static void test_chunked(void)
{
	static const struct vec good[] = {
	    V("0\r\n\r\n", 5),
	    V("5\r\nhello\r\n0\r\n\r\nGET", 15),
	    V("A\r\n0123456789\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", 52),
	    V("000000000000000f\r\n0123456789abcde\r\n0\r\n\r\n", 40),
	    V("3;name\r\nabc\r\n0;a=b;c=\"d \\\"e\\\" f\"\r\n\r\n", 36),
	    V("1;a=1;b;c=x\r\nz\r\n0\r\nExpires: never\r\nX-Sum: 1 2\t3\r\n\r\n", 51),
	    V("0\r\nT:\r\n\r\n", 9),
	};
	static const struct vec bad[] = {
	    V("0x10\r\n", -1),
	    V("-1\r\n", -1),
	    V("+1\r\n", -1),
	    V(" 1\r\n", -1),
	    V("1 \r\n", -1),
	    V("\r\n", -1),
	    V(";x\r\n", -1),
	    V("10000000000000000\r\n", -1), /* 17 digits */
	    V("00000000000000000\r\n", -1),
	    V("g\r\n", -1),
	    V("1\n", -1),
	    V("1\r\r\n", -1),
	    V("1\r\nab\r\n", -1), /* data longer than the size */
	    V("2\r\nab\n0\r\n\r\n", -1),
	    V("2\r\nabX\r\n", -1), /* no CRLF after the data */
	    V("2\r\nab\r0\r\n\r\n", -1),
	    V("1; a\r\n", -1),
	    V("1 ;a\r\n", -1),
	    V("1;\r\n", -1),
	    V("1;a=\r\n", -1),
	    V("1;a=b c\r\n", -1),
	    V("1;a==b\r\n", -1),
	    V("1;a=\"b\r\n", -1),
	    V("1;a=\"b\"c\r\n", -1),
	    V("1;a=\"\x01\"\r\n", -1),
	    V("1;a=b=c\r\n", -1),
	    V("1;a\0\r\n", -1),
	    V("0\r\n\n", -1),
	    V("0\r\nX: 1\n\r\n", -1),
	    V("0\r\nX : 1\r\n\r\n", -1),
	    V("0\r\n folded\r\n\r\n", -1),
	    V("0\r\nX: \0\r\n\r\n", -1),
	    V("0\r\n\r\r\n", -1),
	    V("0\r\nContent-Length\r\n\r\n", -1),
	    V("5\r\nab", 0),
	};
	char line[1100];
	size_t i, n;
	uint64_t total;
	struct http1_chunked c;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_INT(chunked_whole(good[i].s, good[i].len, &total), good[i].want);
		CHECK_INT(chunked_bytewise(good[i].s, good[i].len), good[i].want);
	}
	chunked_whole(good[2].s, good[2].len, &total);
	CHECK_INT(total, 36);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long want = bad[i].want;

		if (chunked_whole(bad[i].s, bad[i].len, &total) != want) {
			printf("#   vector %zu: \"%.*s\"\n", i, (int)bad[i].len, bad[i].s);
		}
		CHECK_INT(chunked_whole(bad[i].s, bad[i].len, &total), want);
		CHECK_INT(chunked_bytewise(bad[i].s, bad[i].len), want > 0 ? 0 : want);
	}

	/* a huge chunk is legal framing: the body limit is the caller's */
	http1_chunked_init(&c);
	CHECK_INT(http1_chunked_feed(&c, "ffffffffffffffff\r\nabc", 21), 21);
	CHECK(c.remaining == UINT64_MAX - 3);
	CHECK_INT(c.total, 3);

	/* a failed decoder stays failed; a finished one takes nothing more */
	http1_chunked_init(&c);
	CHECK_INT(http1_chunked_feed(&c, "x", 1), -1);
	CHECK_INT(http1_chunked_feed(&c, "0\r\n\r\n", 5), -1);
	http1_chunked_init(&c);
	CHECK_INT(http1_chunked_feed(&c, "0\r\n\r\n", 5), 5);
	CHECK(c.done);
	CHECK_INT(http1_chunked_feed(&c, "0\r\n\r\n", 5), 0);

	/* the size line and the trailers are bounded */
	n = (size_t)snprintf(line, sizeof(line), "1;a=");
	memset(line + n, 'b', sizeof(line) - n);
	http1_chunked_init(&c);
	CHECK_INT(http1_chunked_feed(&c, line, 1024), 1024);
	CHECK_INT(http1_chunked_feed(&c, line + 1024, 1), -1);
	http1_chunked_init(&c);
	CHECK_INT(http1_chunked_feed(&c, "0\r\n", 3), 3);
	memcpy(line, "X: ", 3);
	memset(line + 3, 'y', 1000);
	memcpy(line + 1003, "\r\n", 2);
	for (i = 0; i < 8; i++) {
		CHECK_INT(http1_chunked_feed(&c, line, 1005), 1005);
	}
	CHECK_INT(http1_chunked_feed(&c, line, 1005), -1);
}

/* Decodes s in pieces of `piece` bytes (the rest of a piece that was not consumed is fed again
 * with the next), appending the data to out. Returns the bytes consumed, or -1. */
static long dechunk(const char *s, size_t len, size_t piece, char *out, size_t *out_len)
{
	struct http1_chunked c;
	char *copy = malloc(len ? len : 1);
	size_t off = 0;
	long rc = 0;

	memcpy(copy, s, len);
	*out_len = 0;
	http1_chunked_init(&c);
	while (off < len && !c.done) {
		size_t n = len - off < piece ? len - off : piece, d;
		long k = http1_chunked_decode(&c, copy + off, n, &d);

		if (k < 0) {
			rc = -1;
			goto out;
		}
		CHECK(d <= (size_t)k);
		memcpy(out + *out_len, copy + off, d);
		*out_len += d;
		off += (size_t)k;
	}
	rc = (long)off;
out:
	free(copy);
	return rc;
}

static void test_chunked_decode(void)
{
	static const char s[] = "5\r\nhello\r\n1;x=\"y\"\r\n \r\nA\r\n0123456789\r\n"
				"0\r\nT: 1\r\n\r\nGET";
	char out[64];
	size_t piece, d;
	long n;
	struct http1_chunked c;

	for (piece = 1; piece <= sizeof(s); piece++) {
		n = dechunk(s, sizeof(s) - 1, piece, out, &d);
		CHECK_INT(n, (long)sizeof(s) - 1 - 3);
		CHECK_INT(d, 16);
		CHECK(!memcmp(out, "hello 0123456789", 16));
	}
	CHECK_INT(dechunk("3\r\nabc\r\nx", 9, 4, out, &d), -1);
	/* data alone is taken as it is; a finished decoder takes nothing */
	http1_chunked_init(&c);
	memcpy(out, "4\r\nab", 5);
	CHECK_INT(http1_chunked_decode(&c, out, 5, &d), 5);
	CHECK_INT(d, 2);
	CHECK(!memcmp(out, "ab", 2));
	memcpy(out, "cd\r\n0\r\n\r\n", 9);
	CHECK_INT(http1_chunked_decode(&c, out, 9, &d), 9);
	CHECK_INT(d, 2);
	CHECK(c.done && c.total == 4);
	CHECK_INT(http1_chunked_decode(&c, out, 9, &d), 0);
	CHECK_INT(d, 0);
}

int main(void)
{
	UNIT_RUN(test_request_get);
	UNIT_RUN(test_request_shapes);
	UNIT_RUN(test_byte_positions);
	UNIT_RUN(test_hop_by_hop);
	UNIT_RUN(test_pipelined);
	UNIT_RUN(test_request_incremental);
	UNIT_RUN(test_smuggling);
	UNIT_RUN(test_normalize_path);
	UNIT_RUN(test_limits);
	UNIT_RUN(test_head_ready);
	UNIT_RUN(test_response);
	UNIT_RUN(test_response_bad);
	UNIT_RUN(test_chunked);
	UNIT_RUN(test_chunked_decode);
	return unit_done();
}
