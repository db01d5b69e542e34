#include "proxy/steer.h"

#include <stdlib.h>

#include "unit.h"

/* The Location steer_redirect() makes for path "/p?q", or "" when there is no redirect. */
static const char *where(bool https, bool tls_redirect, const char *canonical, const char *host)
{
	static char out[256];
	struct steer_redirect to;
	struct sbuf sb = SBUF_INIT;

	out[0] = '\0';
	if (steer_redirect(https, tls_redirect, canonical, slice_cstr(host), &to)) {
		sbuf_addf(&sb, "%s://%.*s", to.https ? "https" : "http", (int)to.host.len,
			  to.host.ptr);
		if (to.keep_port && to.port.len) {
			sbuf_addf(&sb, ":%.*s", (int)to.port.len, to.port.ptr);
		}
		sbuf_addstr(&sb, "/p?q");
		snprintf(out, sizeof(out), "%s", sb.buf);
	}
	sbuf_release(&sb);
	return out;
}

static void test_redirect(void)
{
	/* canonical host */
	CHECK_STR(where(false, false, "example.com", "www.example.com"), "http://example.com/p?q");
	CHECK_STR(where(false, false, "example.com", "www.example.com:8080"),
		  "http://example.com:8080/p?q");
	CHECK_STR(where(false, false, "example.com", "example.com"), "");
	CHECK_STR(where(false, false, "example.com", "EXAMPLE.com:80"), "");
	CHECK_STR(where(false, false, "example.com", "example.com."), "");
	CHECK_STR(where(false, false, "example.com", ""), "");
	CHECK_STR(where(false, false, NULL, "www.example.com"), "");
	CHECK_STR(where(false, false, "example.com", "[::1]:81"), "http://example.com:81/p?q");
	/* the TLS redirect, alone and with the canonical host: one 301 for both */
	CHECK_STR(where(false, true, NULL, "a.test:80"), "https://a.test/p?q");
	CHECK_STR(where(true, true, NULL, "a.test"), "");
	CHECK_STR(where(false, true, "b.test", "a.test:80"), "https://b.test/p?q");
	CHECK_STR(where(true, true, "b.test", "a.test:8443"), "https://b.test:8443/p?q");
}

static void test_read_split(void)
{
	CHECK(steer_is_read(SLICE_LIT("GET"), false, false));
	CHECK(steer_is_read(SLICE_LIT("HEAD"), false, false));
	CHECK(!steer_is_read(SLICE_LIT("POST"), false, false));
	CHECK(!steer_is_read(SLICE_LIT("PUT"), false, true));
	CHECK(!steer_is_read(SLICE_LIT("OPTIONS"), false, true));
	CHECK(!steer_is_read(SLICE_LIT("get"), false, false));
	CHECK(!steer_is_read(SLICE_LIT("GET"), true, false));
	CHECK(steer_is_read(SLICE_LIT("GET"), true, true));
	/* the writer cookie: live until the time it holds */
	CHECK(steer_writer_live(SLICE_LIT("2000"), 1999));
	CHECK(!steer_writer_live(SLICE_LIT("2000"), 2000));
	CHECK(!steer_writer_live(SLICE_LIT(""), 0));
	CHECK(!steer_writer_live(SLICE_LIT("12a"), 0));
	CHECK(!steer_writer_live(SLICE_LIT("-5"), 0));
	CHECK(!steer_writer_live(SLICE_LIT("99999999999999999999"), 0));
	CHECK(steer_writer_live(SLICE_LIT("18446744073709551615"), 5) == false);
	CHECK(steer_writer_live(SLICE_LIT("9999999999999999999"), 5));
}

static const char *cookie(const char *header, const char *name)
{
	static char out[128];
	struct slice v;

	if (!steer_cookie(slice_cstr(header), name, &v)) {
		return "(none)";
	}
	snprintf(out, sizeof(out), "%.*s", (int)v.len, v.ptr);
	return out;
}

static void test_cookie(void)
{
	CHECK_STR(cookie("a=1; kamal-writer=123; b=2", "kamal-writer"), "123");
	CHECK_STR(cookie("kamal-writer=\"9\"", "kamal-writer"), "9");
	CHECK_STR(cookie("  kamal-writer = 7 ;", "kamal-writer"), "7");
	CHECK_STR(cookie("xkamal-writer=1", "kamal-writer"), "(none)");
	CHECK_STR(cookie("kamal-writer", "kamal-writer"), "(none)");
	CHECK_STR(cookie("", "kamal-writer"), "(none)");
	CHECK_STR(cookie("a=;kamal-writer=", "kamal-writer"), "");
}

static const char *scoped(const char *value, const char *prefix, const char *host)
{
	static char out[512];
	struct sbuf sb = SBUF_INIT;

	if (!steer_scope_cookie(slice_cstr(value), prefix, slice_cstr(host), &sb)) {
		snprintf(out, sizeof(out), "(kept)");
	} else {
		snprintf(out, sizeof(out), "%s", sb.buf);
	}
	sbuf_release(&sb);
	return out;
}

static void test_scope_cookie(void)
{
	CHECK_STR(scoped("sid=1", "/app", "a.test"), "sid=1; Path=/app");
	CHECK_STR(scoped("sid=1; Path=/", "/app", "a.test"), "sid=1; Path=/app");
	CHECK_STR(scoped("sid=1; path=/x/y/; HttpOnly", "/app/", "a.test"),
		  "sid=1; HttpOnly; Path=/app/x/y");
	CHECK_STR(scoped("sid=1;Path=/a;Path=/b;Secure", "/app", "a.test"),
		  "sid=1; Secure; Path=/app/b");
	CHECK_STR(scoped("sid=1; Domain=a.test; Path=/", "/app", "A.test:8080"),
		  "sid=1; Domain=a.test; Path=/app");
	CHECK_STR(scoped("sid=1; Domain=.a.test", "/app", "a.test"),
		  "sid=1; Domain=.a.test; Path=/app");
	CHECK_STR(scoped("sid=1; Domain=other.test; Path=/", "/app", "a.test"), "(kept)");
	CHECK_STR(scoped("sid=1", "/", "a.test"), "(kept)");
	CHECK_STR(scoped("=1; Path=/", "/app", "a.test"), "(kept)");
	CHECK_STR(scoped("novalue", "/app", "a.test"), "(kept)");
	CHECK_STR(scoped("sid=a=b; Max-Age=5 ;;", "/app", "a.test"),
		  "sid=a=b; Max-Age=5; Path=/app");
}

static void test_excluded(void)
{
	struct strvec v = STRVEC_INIT;

	strvec_push(&v, "/up");
	strvec_push(&v, "/metrics/");
	CHECK(steer_path_excluded(SLICE_LIT("/up"), &v));
	CHECK(steer_path_excluded(SLICE_LIT("/up/x"), &v));
	CHECK(!steer_path_excluded(SLICE_LIT("/upx"), &v));
	CHECK(steer_path_excluded(SLICE_LIT("/metrics"), &v));
	CHECK(!steer_path_excluded(SLICE_LIT("/"), &v));
	strvec_push(&v, "/");
	CHECK(steer_path_excluded(SLICE_LIT("/anything"), &v));
	strvec_clear(&v);
}

static void test_buffers_response(void)
{
	CHECK(steer_buffers_response(SLICE_LIT("text/html; charset=utf-8")));
	CHECK(steer_buffers_response(SLICE_LIT("")));
	CHECK(steer_buffers_response(SLICE_LIT("text/event-streams")));
	CHECK(!steer_buffers_response(SLICE_LIT("text/event-stream")));
	CHECK(!steer_buffers_response(SLICE_LIT("Text/Event-Stream ; charset=utf-8")));
}

int main(void)
{
	UNIT_RUN(test_redirect);
	UNIT_RUN(test_read_split);
	UNIT_RUN(test_cookie);
	UNIT_RUN(test_scope_cookie);
	UNIT_RUN(test_excluded);
	UNIT_RUN(test_buffers_response);
	return unit_done();
}
