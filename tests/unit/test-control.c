#include "proxy/control.h"

#include <stdlib.h>

#include "unit.h"

/* The check's message, or "" when the value passes. */
static const char *msg(int rc, struct err *e)
{
	static char buf[512];

	buf[0] = '\0';
	if (rc < 0) {
		CHECK(err_isset(e));
		snprintf(buf, sizeof(buf), "%s", err_str(e));
	} else {
		CHECK_INT(rc, 0);
	}
	err_release(e);
	return buf;
}

static void test_service_name(void)
{
	static const char *const good[] = {"web", "app-web-production", "a.b_c-1", "A"};
	static const char *const bad[] = {"", "a b", "a/b", "a\r\nb", "caf\xc3\xa9", "a:b", "*"};
	struct err e = ERR_INIT;
	char *long_name = malloc(130);
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_STR(msg(control_check_service_name(good[i], &e), &e), "");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(*msg(control_check_service_name(bad[i], &e), &e));
	}
	CHECK_STR(msg(control_check_service_name("", &e), &e),
		  "the service name expects 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and "
		  "'-', got ''");
	memset(long_name, 'a', 129);
	long_name[129] = '\0';
	CHECK(*msg(control_check_service_name(long_name, &e), &e));
	long_name[128] = '\0';
	CHECK_STR(msg(control_check_service_name(long_name, &e), &e), "");
	free(long_name);
}

static void test_host(void)
{
	static const char *const good[] = {
	    "example.com", "a.example.com", "*.example.com",  "localhost",	  "127.0.0.1",
	    "x-y.z_w",	   "[::1]",	    "[fe80::1%eth0]", "[::ffff:1.2.3.4]", "EXAMPLE.COM"};
	static const char *const bad[] = {"",
					  "a b",
					  "a\r\nb",
					  "example.com:8080",
					  "example.com.",
					  ".example.com",
					  "a..b",
					  "-a.com",
					  "a-.com",
					  "*",
					  "*.",
					  "**.a",
					  "a.*.b",
					  "*example.com",
					  "http://a",
					  "a/b",
					  "[::1",
					  "[]",
					  "[1.2.3.4]",
					  "[::1]:80",
					  "caf\xc3\xa9.fr"};
	struct err e = ERR_INIT;
	char label[80];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_STR(msg(control_check_host(good[i], &e), &e), "");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!*msg(control_check_host(bad[i], &e), &e)) {
			printf("#   \"%s\" passed\n", bad[i]);
			CHECK(0);
		}
	}
	/* a label is at most 63 bytes */
	memset(label, 'a', 64);
	memcpy(label + 64, ".com", 5);
	CHECK(*msg(control_check_host(label, &e), &e));
	CHECK_STR(msg(control_check_host(label + 1, &e), &e), "");
	/* the message names the option and shows a control byte escaped */
	CHECK_STR(msg(control_check_host("a\nb", &e), &e),
		  "option '--host' expects a host name (\"app.example.com\", no port), \"*.\" and "
		  "one, or an IPv6 address in brackets, got 'a\\nb'");
}

static void test_path_prefix(void)
{
	static const struct {
		const char *in, *want;
	} good[] = {{"/", "/"},
		    {"/app", "/app"},
		    {"/app/", "/app/"},
		    {"/a//b", "/a/b"},
		    {"/a/./b/../c", "/a/c"},
		    {"/%61pp", "/app"},
		    {"/caf%c3%a9", "/caf%C3%A9"},
		    /* as kamal-proxy takes them */
		    {"app", "/app"},
		    {"", "/"}};
	static const char *const bad[] = {"a b", "/a b",     "/a\r\nb", "/a?b",	       "/a#b",
					  "/..", "/a/../..", "/a%zz",	"/caf\xc3\xa9"};
	struct err e = ERR_INIT;
	char *norm;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_STR(msg(control_check_path_prefix(good[i].in, &norm, &e), &e), "");
		CHECK_STR(norm, good[i].want);
		free(norm);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!*msg(control_check_path_prefix(bad[i], &norm, &e), &e)) {
			printf("#   \"%s\" passed\n", bad[i]);
			CHECK(0);
		}
		CHECK(!norm);
	}
	CHECK_STR(msg(control_check_path_prefix("/../x", &norm, &e), &e),
		  "option '--path-prefix' expects a path whose '%' escapes have two hex digits "
		  "and whose \"..\" stay below '/', got '/../x'");
}

static void test_health_path(void)
{
	static const char *const good[] = {"/up", "/health?full=1", "/", "/a/%20b", "/~x"};
	static const char *const bad[] = {
	    "",	     "up",    "/up\r\nX-Injected: 1", "/up HTTP/1.0", "/up\n",
	    "/up#x", "/\x7f", "/caf\xc3\xa9",	      "/a\tb"};
	struct err e = ERR_INIT;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_STR(msg(control_check_health_path(good[i], &e), &e), "");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(*msg(control_check_health_path(bad[i], &e), &e));
	}
	CHECK_STR(msg(control_check_health_path("/up\r\nX: 1", &e), &e),
		  "option '--health-check-path' expects a path from '/' of visible ASCII "
		  "characters but '#' (\"/up\"), got '/up\\r\\nX: 1'");
}

static void test_target(void)
{
	static const char *const good[] = {
	    "127.0.0.1:80", "app-web-1:3000",  "localhost:65535",    "[::1]:8080",
	    "a.b.c:1",	    "[fe80::1%lo]:80", "my_app.internal:443"};
	static const char *const bad[] = {
	    "",	       "127.0.0.1", "127.0.0.1:", ":80",    "a:0",	"a:65536", "a:99999999999",
	    "a:8o",    "a:+80",	    "a:-1",	  "a b:80", "a\r\n:80", "::1:80",  "[::1:80",
	    "[::1]80", "*.a:80",    "a/b:80",	  "a:80 "};
	struct err e = ERR_INIT;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_STR(msg(control_check_target("target", good[i], &e), &e), "");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!*msg(control_check_target("target", bad[i], &e), &e)) {
			printf("#   \"%s\" passed\n", bad[i]);
			CHECK(0);
		}
	}
	CHECK_STR(msg(control_check_target("target", "a:0", &e), &e),
		  "option '--target' expects HOST:PORT or [IPv6]:PORT, with a port from 1 to "
		  "65535, got 'a:0'");
}

static void test_duration(void)
{
	struct err e = ERR_INIT;
	uint64_t ms = 7;

	CHECK_STR(msg(control_check_duration("drain-timeout", NULL, 0, &ms, &e), &e), "");
	CHECK_INT(ms, 7);
	CHECK_STR(msg(control_check_duration("drain-timeout", "0", 0, &ms, &e), &e), "");
	CHECK_INT(ms, 0);
	CHECK_STR(msg(control_check_duration("drain-timeout", "1m30s", 0, &ms, &e), &e), "");
	CHECK_INT(ms, 90000);
	CHECK_STR(msg(control_check_duration("health-check-interval", "0s", 1, &ms, &e), &e),
		  "option '--health-check-interval' expects a duration like \"30s\" of at least "
		  "1ms, got '0s'");
	CHECK_INT(ms, 90000);
	CHECK_STR(msg(control_check_duration("drain-timeout", "soon", 0, &ms, &e), &e),
		  "option '--drain-timeout' expects a duration like \"30s\", got 'soon'");
	CHECK(*msg(control_check_duration("drain-timeout", "", 0, &ms, &e), &e));
	CHECK(*msg(control_check_duration("drain-timeout", "2d", 0, &ms, &e), &e));
}

static void test_rollout_value(void)
{
	static const char *const good[] = {"42", "acct-7", "a.b_c~d", "x=y", "!#$%&'()*+-./:<=>?@"};
	static const char *const bad[] = {"",	  "a b",  "a,b",    "a;b",
					  "a\"b", "a\\b", "a\r\nb", "caf\xc3\xa9"};
	struct err e = ERR_INIT;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_STR(msg(control_check_rollout_value(good[i], &e), &e), "");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(*msg(control_check_rollout_value(bad[i], &e), &e));
	}
}

static void test_error_pages(void)
{
	struct err e = ERR_INIT;

	CHECK_STR(msg(control_check_error_pages("/srv/pages", &e), &e), "");
	CHECK_STR(msg(control_check_error_pages("/srv/my pages/caf\xc3\xa9", &e), &e), "");
	CHECK_STR(msg(control_check_error_pages("pages", &e), &e),
		  "option '--error-pages' expects an absolute path with no control characters, "
		  "got 'pages'");
	CHECK(*msg(control_check_error_pages("", &e), &e));
	CHECK(*msg(control_check_error_pages("/a\nb", &e), &e));
}

int main(void)
{
	UNIT_RUN(test_service_name);
	UNIT_RUN(test_host);
	UNIT_RUN(test_path_prefix);
	UNIT_RUN(test_health_path);
	UNIT_RUN(test_target);
	UNIT_RUN(test_duration);
	UNIT_RUN(test_rollout_value);
	UNIT_RUN(test_error_pages);
	return unit_done();
}
