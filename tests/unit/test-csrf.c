/* Tests for daemon/csrf.c: session-bound CSRF tokens and the Origin check. */
#include <string.h>

#include "daemon/csrf.h"
#include "unit.h"

static unsigned char key[32];

static void test_token(void)
{
	struct sbuf t = SBUF_INIT;

	/* HMAC-SHA256(key, "sess-1" 0 "app:env"), base64url, as Python's hmac computes it */
	CHECK(csrf_token(&t, key, sizeof(key), "sess-1", "app:env") == 0);
	CHECK_STR(t.buf, "mCqxde3ZPGg3qWmchv6zFtM8ELQvtqe3KNsnU2qKv9s");
	CHECK_INT(t.len, CSRF_TOKEN_LEN);
	sbuf_reset(&t);
	CHECK(csrf_token(&t, key, sizeof(key), "sess-1", "") == 0);
	CHECK_STR(t.buf, "Lt2aDeHmwmvXBv1ilnILWzpzI9ErIb5aeJ0Mp92vbmI");
	/* a short key makes no token */
	sbuf_reset(&t);
	CHECK(csrf_token(&t, key, CSRF_KEY_MIN - 1, "sess-1", "") < 0);
	CHECK_INT(t.len, 0);
	sbuf_release(&t);
}

static void test_verify(void)
{
	static const char tok[] = "mCqxde3ZPGg3qWmchv6zFtM8ELQvtqe3KNsnU2qKv9s";
	unsigned char other[CSRF_KEY_LEN];
	struct sbuf t = SBUF_INIT;
	char bad[sizeof(tok)];

	CHECK(csrf_verify(key, sizeof(key), "sess-1", "app:env", tok, strlen(tok)));
	/* another purpose, session, key; boundaries between the two moved */
	CHECK(!csrf_verify(key, sizeof(key), "sess-1", "logout", tok, strlen(tok)));
	CHECK(!csrf_verify(key, sizeof(key), "sess-2", "app:env", tok, strlen(tok)));
	CHECK(!csrf_verify(key, sizeof(key), "sess-1a", "pp:env", tok, strlen(tok)));
	CHECK(csrf_key_new(other) == 0);
	CHECK(memcmp(other, key, sizeof(key)) != 0);
	CHECK(!csrf_verify(other, sizeof(other), "sess-1", "app:env", tok, strlen(tok)));
	CHECK(csrf_token(&t, other, sizeof(other), "sess-1", "app:env") == 0);
	CHECK(csrf_verify(other, sizeof(other), "sess-1", "app:env", t.buf, t.len));
	/* one character changed, cut short, made longer, padded, empty */
	memcpy(bad, tok, sizeof(tok));
	bad[10] ^= 1;
	CHECK(!csrf_verify(key, sizeof(key), "sess-1", "app:env", bad, strlen(bad)));
	CHECK(!csrf_verify(key, sizeof(key), "sess-1", "app:env", tok, strlen(tok) - 1));
	CHECK(!csrf_verify(key, sizeof(key), "sess-1", "app:env", tok, strlen(tok) + 1));
	CHECK(!csrf_verify(key, sizeof(key), "sess-1", "app:env", "", 0));
	CHECK(!csrf_verify(key, sizeof(key), "sess-1", "app:env", NULL, 0));
	/* no session, a short key */
	sbuf_reset(&t);
	CHECK(csrf_token(&t, key, sizeof(key), "", "") == 0);
	CHECK(!csrf_verify(key, sizeof(key), "", "", t.buf, t.len));
	CHECK(!csrf_verify(key, sizeof(key), NULL, "", t.buf, t.len));
	CHECK(!csrf_verify(key, 16, "sess-1", "app:env", tok, strlen(tok)));
	sbuf_release(&t);
}

static bool origin(const char *v)
{
	return csrf_origin_ok(v, v ? strlen(v) : 0, "https://berth.example.com");
}

static void test_origin(void)
{
	static const char with_nul[] = "https://berth.example.com\0.evil.net";

	CHECK(origin("https://berth.example.com"));
	CHECK(origin("HTTPS://Berth.Example.COM"));
	CHECK(origin("https://berth.example.com/"));
	CHECK(origin("https://berth.example.com/apps/web?tab=env#x"));
	CHECK(origin("https://berth.example.com?x"));
	CHECK(!origin(NULL));
	CHECK(!origin(""));
	CHECK(!origin("null"));
	CHECK(!origin("http://berth.example.com"));
	CHECK(!origin("https://berth.example.co"));
	CHECK(!origin("https://berth.example.com.evil.net"));
	CHECK(!origin("https://berth.example.com@evil.net/"));
	CHECK(!origin("https://berth.example.com:8443"));
	CHECK(!origin("https://berth.example.com."));
	CHECK(!origin("https://evil.net/https://berth.example.com"));
	CHECK(!origin(" https://berth.example.com"));
	CHECK(!csrf_origin_ok(with_nul, sizeof(with_nul) - 1, "https://berth.example.com"));
	CHECK(!csrf_origin_ok("https://x", 9, ""));
	/* an origin with its port */
	CHECK(csrf_origin_ok("https://berth.example.com:8443/", 31,
			     "https://berth.example.com:8443"));
}

int main(void)
{
	for (size_t i = 0; i < sizeof(key); i++) {
		key[i] = (unsigned char)i;
	}
	UNIT_RUN(test_token);
	UNIT_RUN(test_verify);
	UNIT_RUN(test_origin);
	return unit_done();
}
