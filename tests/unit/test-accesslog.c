#include "proxy/accesslog.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/http1.h"
#include "proxy/metrics.h"
#include "proxy/route.h"
#include "unit.h"

static const char *const req_headers[] = {"User-Agent", "X-Custom-ID", NULL};
static const char *const resp_headers[] = {"content-type", NULL};

/* What the pipe holds, as a string (the test's lines are small). */
static char *drain(int fd)
{
	static char buf[1 << 16];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_line(void)
{
	static const char req[] = "GET /a%22b?q=1 HTTP/1.1\r\nHost: app.test\r\n"
				  "User-Agent: t\"ool\xff\tx\r\nX-Custom-ID: 7\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				   "Content-Length: 0\r\n\r\n";
	atomic_uint_fast64_t dropped = 0;
	struct service *svc = service_new("web");
	struct err e = ERR_INIT;
	struct target *t = target_new("127.0.0.1:9", &e);
	struct http1_msg m;
	struct accesslog lg;
	struct sbuf fields = SBUF_INIT;
	int p[2];

	CHECK(!pipe(p));
	accesslog_setup(p[1], req_headers, resp_headers);
	CHECK(fcntl(p[1], F_GETFL) & O_NONBLOCK);
	accesslog_init(&lg, p[1], &dropped);
	CHECK(http1_parse_request(req, sizeof(req) - 1, NULL, &m) > 0);
	accesslog_request(&fields, &m, svc, SLICE_LIT("rid-1"), "192.0.2.1", true);
	CHECK(http1_parse_response(resp, sizeof(resp) - 1, NULL, SLICE_LIT("GET"), &m) > 0);
	accesslog_response(&fields, &m, NULL);
	/* 2026-01-02T03:04:05.678Z */
	accesslog_line(&lg, 1767323045678ULL, &fields, t, 200, 120, 34, 5);
	accesslog_flush(&lg);
	CHECK_INT(lg.buf.len, 0);
	CHECK_STR(drain(p[0]),
		  "{\"time\":\"2026-01-02T03:04:05.678Z\",\"request_id\":\"rid-1\","
		  "\"service\":\"web\",\"method\":\"GET\",\"host\":\"app.test\","
		  "\"path\":\"/a%22b\",\"query\":\"q=1\",\"client_addr\":\"192.0.2.1\","
		  "\"scheme\":\"https\","
		  "\"req_user_agent\":\"t\\\"ool\\u00ff\\u0009x\",\"req_x_custom_id\":\"7\","
		  "\"resp_content_type\":\"text/plain\",\"target\":\"127.0.0.1:9\",\"status\":200,"
		  "\"bytes_in\":120,\"bytes_out\":34,\"duration_ms\":5}\n");
	CHECK_INT(dropped, 0);
	close(p[0]);
	close(p[1]);
	accesslog_release(&lg);
	sbuf_release(&fields);
	target_unref(t);
	service_free(svc);
	err_release(&e);
}

/* A reader that does not keep up: the pipe takes what it can, lines past 4 MiB are counted. */
static void test_lagging_reader(void)
{
	atomic_uint_fast64_t dropped = 0;
	struct accesslog lg;
	struct sbuf fields = SBUF_INIT;
	size_t before;
	int p[2], i;

	CHECK(!pipe(p));
	CHECK(!fcntl(p[1], F_SETFL, O_NONBLOCK));
	accesslog_init(&lg, p[1], &dropped);
	sbuf_addstr(&fields, "\"request_id\":\"");
	for (i = 0; i < 1000; i++) {
		sbuf_addch(&fields, 'x');
	}
	sbuf_addch(&fields, '"');
	for (i = 0; i < 5000; i++) {
		accesslog_line(&lg, 0, &fields, NULL, 200, 0, 0, 0);
	}
	CHECK(dropped > 0);
	CHECK(lg.buf.len <= (4 << 20) + 2048);
	before = lg.buf.len;
	accesslog_flush(&lg); /* the pipe takes its 64 KiB, the rest waits */
	CHECK(lg.buf.len > 0 && lg.buf.len < before);
	CHECK(!strncmp(lg.buf.buf + lg.buf.len - 2, "}\n", 2));
	close(p[0]);
	close(p[1]);
	accesslog_release(&lg);
	sbuf_release(&fields);
}

/* A service's own headers join the run's, keyed the same way, and none is logged twice. */
static void test_service_headers(void)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: u\r\n"
				  "X-Trace: t1\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				   "X-App-Version: v7\r\nContent-Length: 0\r\n\r\n";
	struct service *svc = service_new("web");
	struct sbuf fields = SBUF_INIT, names = SBUF_INIT;
	struct http1_msg m;

	accesslog_setup(-1, req_headers, resp_headers);
	strvec_push(&svc->o.log_req_headers, "X-Trace");
	strvec_push(&svc->o.log_req_headers, "user-agent");
	strvec_push(&svc->o.log_resp_headers, "X-App-Version");
	strvec_push(&svc->o.log_resp_headers, "Content-Type");
	CHECK(http1_parse_request(req, sizeof(req) - 1, NULL, &m) > 0);
	accesslog_request(&fields, &m, svc, SLICE_LIT("r"), "192.0.2.1", false);
	accesslog_response_names(&names, svc);
	CHECK_INT(names.len, strlen("X-App-Version") + 1);
	CHECK(http1_parse_response(resp, sizeof(resp) - 1, NULL, SLICE_LIT("GET"), &m) > 0);
	accesslog_response(&fields, &m, &names);
	CHECK_STR(fields.buf, "\"request_id\":\"r\",\"service\":\"web\",\"method\":\"GET\","
			      "\"host\":\"a\",\"path\":\"/\",\"query\":\"\","
			      "\"client_addr\":\"192.0.2.1\",\"scheme\":\"http\","
			      "\"req_user_agent\":\"u\","
			      "\"req_x_trace\":\"t1\",\"resp_content_type\":\"text/plain\","
			      "\"resp_x_app_version\":\"v7\"");
	sbuf_release(&fields);
	sbuf_release(&names);
	service_free(svc);
}

int main(void)
{
	UNIT_RUN(test_line);
	UNIT_RUN(test_lagging_reader);
	UNIT_RUN(test_service_headers);
	return unit_done();
}
